use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_server::config::Settings;
use mcp_server::startup::Application;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use protocol::jwt::{AccessTokenClaims, Audience, Jwk, JwkSet};
use serde_json::json;
use tokio::sync::oneshot;

pub const SPA_ORIGIN: &str = "http://localhost:8080";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A stand-in authorization server: metadata and a JWKS for a key the test holds.
pub struct TestIssuer {
    pub issuer: String,
    pub kid: String,
    pub public_key_sec1: Vec<u8>,
    key: EncodingKey,
    pub jwks_fetches: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestIssuer {
    pub async fn start() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        let secret = p256::SecretKey::from_slice(&bytes).unwrap();
        let point = secret.public_key().to_encoded_point(false);
        let kid = "test-key-1".to_owned();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some(kid.clone()),
            use_: Some("sig".into()),
            alg: Some("ES256".into()),
            crv: Some("P-256".into()),
            x: Some(b64(point.x().unwrap())),
            y: Some(b64(point.y().unwrap())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let metadata = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks.json"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        });
        let jwks = JwkSet { keys: vec![jwk] };
        let counter = jwks_fetches.clone();
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move { axum::Json(metadata) }),
            )
            .route(
                "/jwks.json",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            issuer,
            kid,
            public_key_sec1: point.as_bytes().to_vec(),
            key: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
            jwks_fetches,
            stop: Some(stop),
        }
    }

    /// Takes the issuer offline (its listener closes).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Claims a valid token for `resource` would carry.
    pub fn claims(&self, resource: &str, scope: &str) -> AccessTokenClaims {
        let now = now();
        AccessTokenClaims {
            iss: self.issuer.clone(),
            aud: Audience::One(resource.to_owned()),
            sub: "user-1".into(),
            client_id: "client-1".into(),
            iat: now,
            exp: now + 300,
            nbf: None,
            jti: "jti-1".into(),
            scope: Some(scope.to_owned()),
            auth_time: None,
        }
    }

    /// The standard header: ES256, typ at+jwt, this issuer's kid.
    pub fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        header
    }

    pub fn sign(&self, header: &Header, claims: &AccessTokenClaims) -> String {
        jsonwebtoken::encode(header, claims, &self.key).unwrap()
    }

    pub fn token(&self, resource: &str, scope: &str) -> String {
        self.sign(&self.header(), &self.claims(resource, scope))
    }
}

/// A running resource server trusting `issuer`.
pub struct TestServer {
    pub address: String,
    pub resource: String,
    pub http: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

pub async fn spawn_server(issuer: &str) -> TestServer {
    spawn_server_with(Settings::for_tests(issuer, SPA_ORIGIN)).await
}

/// A running resource server with these settings.
pub async fn spawn_server_with(settings: Settings) -> TestServer {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    let app = Application::build(settings).await.unwrap();
    let address = format!("http://{}", app.local_addr());
    let resource = app.resource().to_owned();
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestServer { address, resource, http: reqwest::Client::new(), _shutdown: shutdown }
}

impl TestServer {
    pub async fn echo_with(&self, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/echo", self.address))
            .query(&[("text", "hello")])
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// The `WWW-Authenticate` of a response, parsed.
pub fn challenge(response: &reqwest::Response) -> protocol::challenge::BearerChallenge {
    let values = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>();
    protocol::challenge::BearerChallenge::from_header_values(values).unwrap().expect("a Bearer challenge")
}
