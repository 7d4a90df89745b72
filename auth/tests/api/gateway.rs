//! What the exchange, approval and client authentication tests share: an authorization server for
//! a gateway and two upstreams, confidential clients with a secret or a key, and a user's token for
//! the gateway.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth::admin::{ConfidentialAuth, NewConfidentialClient, add_confidential_client};
use mcp_auth::clock::ManualClock;
use mcp_auth::config::{ResourceServer, Settings};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use protocol::scope::Scopes;
use protocol::secret::ClientSecret;
use protocol::token::{CLIENT_ASSERTION_TYPE_JWT_BEARER, TokenResponse};
use serde_json::{Value, json};

use crate::helpers::{REDIRECT_URI, RESOURCE, TestApp, pkce, spawn_app_with};

/// The gateway's own resource: the audience of the tokens clients send it.
pub const GATEWAY: &str = "http://127.0.0.1:9100";
/// The upstream MCP server (the helpers' `RESOURCE`); its tokens carry the user's groups.
pub const UPSTREAM: &str = RESOURCE;
/// A second upstream, for nesting and for a client that acts for something else.
pub const OTHER: &str = "http://127.0.0.1:9200";

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn resource(value: &str, groups_claim: bool) -> ResourceServer {
    ResourceServer { groups_claim, ..ResourceServer::parse(value).unwrap() }
}

/// An authorization server for the gateway (`echo profile notes:read notes:write`), the upstream
/// (the same scopes, with groups) and another upstream (`echo`).
pub async fn spawn_gateway_app() -> TestApp {
    let mut settings = Settings::for_tests(RESOURCE);
    settings.resources = vec![
        resource(&format!("{UPSTREAM} echo profile notes:read notes:write"), true),
        resource(&format!("{GATEWAY} echo profile notes:read notes:write"), false),
        resource(&format!("{OTHER} echo"), false),
    ];
    spawn_app_with(settings, ManualClock::starting_now()).await
}

/// How a test's confidential client authenticates.
pub enum Credential {
    Secret(ClientSecret),
    Key(ClientKey),
}

/// A confidential client of the test server.
pub struct Confidential {
    pub id: String,
    pub credential: Credential,
}

impl Confidential {
    /// The form of a request to `endpoint` (a path of the server) with this client's
    /// authentication added, and the request builder with its header if it uses one.
    pub fn authenticate(
        &self,
        app: &TestApp,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut form: Vec<(String, String)> =
            form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut request = app.browser.post(app.url(endpoint));
        match &self.credential {
            Credential::Secret(secret) => {
                request = request.header("Authorization", basic(&self.id, secret.secret()))
            }
            Credential::Key(key) => {
                form.push(("client_assertion_type".into(), CLIENT_ASSERTION_TYPE_JWT_BEARER.into()));
                form.push((
                    "client_assertion".into(),
                    key.assertion(&self.id, &app.url("/token"), app.clock_now()),
                ));
            }
        }
        request.form(&form)
    }

    /// `POST /token` with this client's authentication.
    pub async fn token(&self, app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
        self.authenticate(app, "/token", form).send().await.unwrap()
    }

    /// Exchanges `subject` for a token for `resource` (with `scope`, if given).
    pub async fn exchange(
        &self,
        app: &TestApp,
        subject: &str,
        resource: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("resource", resource),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token(app, &form).await
    }
}

/// `Authorization: Basic` for a client id and secret, each form-urlencoded (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    let encode = |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

/// Registers a confidential client with a secret that acts for `acts_for`.
pub async fn secret_client(app: &TestApp, id: &str, acts_for: &[&str]) -> Confidential {
    let (_, secret) = add_confidential_client(
        &app.store,
        new_client(id, ConfidentialAuth::Secret, acts_for),
        app.clock_now(),
    )
    .await
    .unwrap();
    Confidential { id: id.into(), credential: Credential::Secret(secret.unwrap()) }
}

/// Registers a confidential client with a secret that acts for `acts_for` and may obtain tokens
/// for `exchange_to` only.
pub async fn secret_client_to(
    app: &TestApp,
    id: &str,
    acts_for: &[&str],
    exchange_to: &[&str],
) -> Confidential {
    let mut new = new_client(id, ConfidentialAuth::Secret, acts_for);
    new.exchange_to = exchange_to.iter().map(|r| (*r).to_owned()).collect();
    let (_, secret) = add_confidential_client(&app.store, new, app.clock_now()).await.unwrap();
    Confidential { id: id.into(), credential: Credential::Secret(secret.unwrap()) }
}

/// Registers a `private_key_jwt` client with an inline JWK Set that acts for `acts_for`.
pub async fn key_client(app: &TestApp, id: &str, acts_for: &[&str]) -> Confidential {
    let key = ClientKey::new("key-1");
    let auth = ConfidentialAuth::Jwks(json!({"keys": [key.public_jwk()]}));
    add_confidential_client(&app.store, new_client(id, auth, acts_for), app.clock_now()).await.unwrap();
    Confidential { id: id.into(), credential: Credential::Key(key) }
}

pub fn new_client(id: &str, auth: ConfidentialAuth, acts_for: &[&str]) -> NewConfidentialClient {
    NewConfidentialClient {
        client_id: Some(id.into()),
        name: format!("{id} <b>"),
        auth,
        acts_for: acts_for.iter().map(|r| (*r).to_owned()).collect(),
        // Every resource of the test AS: tests of other rules reach any of them.
        exchange_to: [UPSTREAM, GATEWAY, OTHER].iter().map(|r| (*r).to_owned()).collect(),
        grant_types: None,
        redirect_uris: Vec::new(),
    }
}

/// An ES256 key pair of a `private_key_jwt` client.
pub struct ClientKey {
    pub kid: String,
    encoding: EncodingKey,
    x: String,
    y: String,
}

impl ClientKey {
    pub fn new(kid: &str) -> Self {
        let secret = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).unwrap();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let der = secret.to_pkcs8_der().unwrap();
        let point = secret.public_key().to_encoded_point(false);
        Self {
            kid: kid.into(),
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            x: protocol::base64url(point.x().unwrap()),
            y: protocol::base64url(point.y().unwrap()),
        }
    }

    pub fn public_jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig", "x": self.x, "y": self.y})
    }

    /// A fresh, valid assertion for `client_id` with audience `aud`.
    pub fn assertion(&self, client_id: &str, aud: &str, now: i64) -> String {
        self.sign(&json!({
            "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
            "jti": mcp_auth::random::token(),
        }))
    }

    /// Signs any claims with this key (kid in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

impl TestApp {
    /// The server's clock, in the `i64` seconds the store uses.
    pub fn clock_now(&self) -> i64 {
        use mcp_auth::clock::Clock as _;
        self.clock.now()
    }
}

/// A user's token for `resource` with `scope`, through a fresh public client: authorize, sign in
/// as `demo`, consent, redeem.
pub async fn user_token(app: &TestApp, resource: &str, scope: &str) -> TokenResponse {
    let client_id = app.register_refreshing_client().await;
    let (verifier, challenge) = pkce();
    let params = app
        .authorize_and_consent_with(
            &client_id,
            &challenge,
            &[("resource", Some(resource)), ("scope", Some(scope))],
        )
        .await;
    let response = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &client_id),
            ("code_verifier", verifier.secret()),
            ("resource", resource),
        ])
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The claims of a JWT, unverified (the tests check what the server put in).
pub fn claims(token: &str) -> Value {
    protocol::jwt::decode_unverified(token).unwrap().claims
}

/// The OAuth error code of an answer, and its status.
pub async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

/// Scopes of a claim set.
pub fn scope_of(claims: &Value) -> Scopes {
    Scopes::parse(claims["scope"].as_str().unwrap()).unwrap()
}
