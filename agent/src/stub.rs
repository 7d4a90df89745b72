//! A stand-in MCP server and authorization server on one loopback listener, for the unit tests
//! of concurrent calls and of which server is sent which client credentials. It records what its
//! token endpoint receives and counts authorization requests; its authorization endpoint
//! approves at once (for `BrowserMode::Fetch`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::access::{Access, AccessOptions};
use crate::browser::BrowserMode;
use crate::http::Http;
use crate::identity::IdentityOptions;
use crate::output::{Progress, Verbosity};
use crate::store::Store;

/// What the token endpoint received in one request.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub body: String,
}

/// The stub's record, shared with its handlers.
#[derive(Default)]
pub struct Seen {
    pub authorizations: AtomicUsize,
    pub token_requests: Mutex<Vec<TokenRequest>>,
    issued: Mutex<HashSet<String>>,
    /// How long the token endpoint takes to answer.
    token_delay: Mutex<Duration>,
    /// The status the token endpoint answers with (200 unless a test says otherwise).
    token_status: Mutex<Option<StatusCode>>,
    base: Mutex<String>,
}

/// The running stub.
pub struct Stub {
    /// `http://127.0.0.1:port`: the authorization server's issuer, and the origin of `/mcp`.
    pub base: String,
    pub seen: Arc<Seen>,
}

impl Stub {
    pub async fn start() -> Stub {
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route("/mcp", get(mcp))
            .route("/.well-known/oauth-protected-resource/mcp", get(resource_metadata))
            .route("/.well-known/oauth-authorization-server", get(server_metadata))
            .route("/authorize", get(authorize))
            .route("/register", post(register))
            .route("/token", post(token))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        *seen.base.lock().unwrap() = base.clone();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { base, seen }
    }

    pub fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }

    pub fn delay_tokens(&self, delay: Duration) {
        *self.seen.token_delay.lock().unwrap() = delay;
    }

    pub fn answer_tokens_with(&self, status: StatusCode) {
        *self.seen.token_status.lock().unwrap() = Some(status);
    }

    pub fn authorizations(&self) -> usize {
        self.seen.authorizations.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.seen.token_requests.lock().unwrap().clone()
    }
}

/// An `Access` that logs in with the programmatic browser, with `identity`.
/// A grant of the stub's for its MCP endpoint, as a public client, with a refresh token.
pub fn grant(stub: &Stub, expires_at: Option<u64>) -> crate::store::Grant {
    use protocol::secret::{AccessToken, RefreshToken};
    crate::store::Grant {
        issuer: stub.base.clone(),
        resource: stub.mcp(),
        client: crate::store::Client {
            client_id: "c".into(),
            client_secret: None,
            auth: crate::store::TokenEndpointAuth::None,
        },
        token_endpoint: format!("{}/token", stub.base),
        revocation_endpoint: None,
        access_token: AccessToken::new("held-access-token"),
        refresh_token: Some(RefreshToken::new("held-refresh-token")),
        scope: "echo".into(),
        expires_at,
    }
}

pub fn access(store: Store, identity: IdentityOptions) -> Access {
    let options = AccessOptions {
        browser: BrowserMode::Fetch,
        identity,
        login_timeout: Duration::from_secs(10),
        interactive: true,
    };
    let http = Http::new(Duration::from_secs(10)).unwrap();
    Access::new(http, store, Progress::new(Verbosity::Quiet), options)
}

/// GETs `url` through `access`: the status it finally answered.
pub async fn call(access: &mut Access, url: &str) -> crate::error::Result<u16> {
    let http = access.http.clone();
    let response = access
        .send(url, |token| {
            let request = http.client().get(url);
            match token {
                Some(token) => request.bearer_auth(token.secret()),
                None => request,
            }
        })
        .await?;
    Ok(response.status().as_u16())
}

fn base(seen: &Seen) -> String {
    seen.base.lock().unwrap().clone()
}

async fn mcp(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if token.is_some_and(|t| seen.issued.lock().unwrap().contains(&t)) {
        return (StatusCode::OK, "ok").into_response();
    }
    let challenge =
        format!(r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#, base(&seen));
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)]).into_response()
}

async fn resource_metadata(State(seen): State<Arc<Seen>>) -> axum::Json<Value> {
    let base = base(&seen);
    axum::Json(json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [base],
        "scopes_supported": ["echo"],
    }))
}

async fn server_metadata(State(seen): State<Arc<Seen>>) -> axum::Json<Value> {
    let base = base(&seen);
    axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// Approves at once: back to the redirect URI with a code, the state and `iss`.
async fn authorize(State(seen): State<Arc<Seen>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let n = seen.authorizations.fetch_add(1, Ordering::SeqCst);
    let mut back = url::Url::parse(&query["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &format!("code-{n}"))
        .append_pair("state", &query["state"])
        .append_pair("iss", &base(&seen));
    Redirect::to(back.as_str()).into_response()
}

async fn register(axum::Json(metadata): axum::Json<Value>) -> Response {
    let mut info = metadata;
    info["client_id"] = json!("registered-client");
    info["token_endpoint_auth_method"] = json!("none");
    (StatusCode::CREATED, axum::Json(info)).into_response()
}

async fn token(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: String) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let n = {
        let mut requests = seen.token_requests.lock().unwrap();
        requests.push(TokenRequest { authorization, body });
        requests.len()
    };
    let delay = *seen.token_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let access_token = format!("issued-access-token-{n}");
    seen.issued.lock().unwrap().insert(access_token.clone());
    let status = seen.token_status.lock().unwrap().unwrap_or(StatusCode::OK);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("issued-refresh-token-{n}"),
        "scope": "echo",
    });
    (status, axum::Json(body)).into_response()
}
