//! One OAuth client doing what real clients do: register, authorize through the real login and
//! consent pages (as [`HeadlessUser`]), redeem the code, refresh, call the resource server.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use protocol::authorization::{AuthorizationRequest, CallbackParams, ExpectedCallback};
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::secret::AuthorizationCode;
use serde_json::{Value, json};
use test_support::headless::{HeadlessUser, REDIRECT_URI};

/// A registered public client.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
}

/// Registers a public client (RFC 7591) at `issuer`.
pub async fn register(issuer: &str) -> anyhow::Result<Client> {
    let response = reqwest::Client::new()
        .post(format!("{issuer}/register"))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "client_name": "soak",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "application_type": "native",
        }))
        .send()
        .await?;
    if response.status() != 201 {
        bail!("registration answered {}: {}", response.status(), response.text().await?);
    }
    let body: Value = response.json().await?;
    Ok(Client { id: body["client_id"].as_str().context("no client_id")?.to_owned() })
}

/// Tokens from one token response.
#[derive(Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// Reports print outcomes; tokens never appear in them.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(***)")
    }
}

/// How a token request ended.
#[derive(Debug)]
pub enum TokenOutcome {
    Issued(Tokens, Duration),
    /// An OAuth error response (4xx with `error`).
    Refused {
        status: u16,
        error: String,
    },
    /// Anything else: a 5xx, a malformed answer. Never acceptable.
    Broken(String),
    /// No answer: the server is down or went away mid-request.
    Unreachable(#[expect(dead_code, reason = "shown through Debug in the reports")] String),
}

impl TokenOutcome {
    /// The refusal RFC 6749 §5.2 prescribes for a spent, revoked or unknown code or refresh token.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, TokenOutcome::Refused { status: 400, error } if error == "invalid_grant")
    }
}

fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    bytes
}

/// An authorization code received at the redirect URI, with the verifier that redeems it.
pub struct Code {
    code: AuthorizationCode,
    verifier: CodeVerifier,
}

/// A person with a browser (a cookie jar: signed in after the first flow) using `client`.
pub struct User {
    pub browser: HeadlessUser,
    pub client: Client,
    pub issuer: String,
    pub resource: String,
    http: reqwest::Client,
}

impl User {
    pub fn new(client: Client, issuer: &str, resource: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build()
            .expect("static client settings");
        Self {
            browser: HeadlessUser::new(),
            client,
            issuer: issuer.to_owned(),
            resource: resource.to_owned(),
            http,
        }
    }

    /// Authorization code flow with PKCE through the real pages, then the code redemption.
    /// `Err` when the pages failed (reported as a flow error by the caller).
    pub async fn authorize(&self) -> anyhow::Result<TokenOutcome> {
        let code = self.code().await?;
        Ok(self.redeem_at(&self.issuer, &code).await)
    }

    /// The authorization code flow up to the code: the authorization request, the login and
    /// consent pages, the callback checked (`state`, `iss`).
    pub async fn code(&self) -> anyhow::Result<Code> {
        let verifier = CodeVerifier::from_random_bytes(random32());
        let state = protocol::base64url(&random32());
        let request = AuthorizationRequest::new(
            &self.client.id,
            REDIRECT_URI,
            Some("echo".into()),
            &state,
            CodeChallenge::s256(&verifier),
            &self.resource,
        );
        let url = request.to_url(&format!("{}/authorize", self.issuer))?;
        let back = self.browser.log_in_and_consent(&self.issuer, &url).await?;
        let callback: CallbackParams = serde_json::from_value(serde_json::to_value(&back)?)?;
        let code = callback.into_code(&ExpectedCallback {
            state: &state,
            issuer: &self.issuer,
            issuer_parameter_required: true,
        })?;
        Ok(Code { code, verifier })
    }

    /// Redeems `code` at the token endpoint of `base` (the issuer, or one replica behind it).
    pub async fn redeem_at(&self, base: &str, code: &Code) -> TokenOutcome {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.code.secret()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &self.client.id),
            ("code_verifier", code.verifier.secret()),
            ("resource", &self.resource),
        ];
        self.token_request(base, &form).await
    }

    /// A refresh with rotation.
    pub async fn refresh(&self, refresh_token: &str) -> TokenOutcome {
        self.refresh_at(&self.issuer, refresh_token).await
    }

    /// A refresh with rotation at the token endpoint of `base`.
    pub async fn refresh_at(&self, base: &str, refresh_token: &str) -> TokenOutcome {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.client.id),
            ("resource", &self.resource),
        ];
        self.token_request(base, &form).await
    }

    async fn token_request(&self, base: &str, form: &[(&str, &str)]) -> TokenOutcome {
        let started = Instant::now();
        let response = match self.http.post(format!("{base}/token")).form(form).send().await {
            Ok(response) => response,
            Err(e) => return TokenOutcome::Unreachable(describe(&e)),
        };
        let status = response.status().as_u16();
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(e) if status >= 500 => return TokenOutcome::Broken(format!("{status}: {e}")),
            Err(e) => return TokenOutcome::Unreachable(describe(&e)),
        };
        let took = started.elapsed();
        match (status, body["access_token"].as_str(), body["refresh_token"].as_str(), body["error"].as_str())
        {
            (200, Some(access), Some(refresh), _) => {
                TokenOutcome::Issued(Tokens { access: access.to_owned(), refresh: refresh.to_owned() }, took)
            }
            (400..=499, _, _, Some(error)) => TokenOutcome::Refused { status, error: error.to_owned() },
            _ => TokenOutcome::Broken(format!("{status}: {body}")),
        }
    }

    /// `GET /echo` on the resource server with `access`; the status.
    pub async fn echo(&self, server: &str, access: &str) -> anyhow::Result<u16> {
        let response = self.http.get(format!("{server}/echo?text=soak")).bearer_auth(access).send().await?;
        Ok(response.status().as_u16())
    }
}

/// A reqwest error with its cause (reqwest's Display alone often says only "error sending request").
pub fn describe(error: &reqwest::Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// The `kid` in a JWT's header.
pub fn kid_of(jwt: &str) -> Option<String> {
    jwt_part(jwt, 0)?["kid"].as_str().map(str::to_owned)
}

/// The `jti` claim of a JWT (read, not verified: the record the AS keeps of a token is by `jti`).
pub fn jti_of(jwt: &str) -> Option<String> {
    jwt_part(jwt, 1)?["jti"].as_str().map(str::to_owned)
}

/// The `n`-th part of a JWT (0: the header, 1: the claims) as JSON.
fn jwt_part(jwt: &str, n: usize) -> Option<Value> {
    use base64::Engine as _;
    let part = jwt.split('.').nth(n)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `kid`s the authorization server publishes.
pub async fn published_kids(issuer: &str) -> anyhow::Result<Vec<String>> {
    let jwks: Value = reqwest::get(format!("{issuer}/jwks.json")).await?.json().await?;
    Ok(jwks["keys"]
        .as_array()
        .map(|keys| keys.iter().filter_map(|k| k["kid"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default())
}
