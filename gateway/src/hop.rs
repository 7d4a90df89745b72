//! Hop tokens: for every upstream call, a token the authorization server issued for that upstream
//! alone, obtained by token exchange (RFC 8693) of the token the client sent the gateway. MCP
//! forbids passing the client's token through; this is how the gateway never does.
//!
//! The gateway authenticates to the AS as the confidential client registered with `--acts-for`
//! its own resource: with `private_key_jwt` (an ES256 key whose public half the AS knows; a fresh,
//! single-use assertion per exchange) or with `client_secret_basic`. A hop token is cached per (subject token,
//! upstream, scope) and reused until [`REUSE_MARGIN`] seconds before it expires, so a burst of
//! calls costs one exchange; the cache is bounded. What the AS refuses comes back as the AS's own
//! OAuth error, for the caller to map (an expired or revoked subject is `invalid_grant`, a scope
//! the subject lacks is `invalid_scope`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use protocol::error::ErrorResponse;
use protocol::scope::Scopes;
use protocol::secret::{AccessToken, ClientSecret};
use protocol::token::{CLIENT_ASSERTION_TYPE_JWT_BEARER, TokenExchangeRequest, TokenResponse};

/// A hop token is not reused in its last seconds: an upstream must not receive one that expires
/// on the way.
pub const REUSE_MARGIN: i64 = 10;
/// At most this many hop tokens are kept; past it, expired ones go first, then all.
pub const MAX_CACHED: usize = 10_000;
/// How long an exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest token response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// How the gateway authenticates to the authorization server.
#[derive(Clone)]
pub enum ClientCredentials {
    /// `client_secret_basic`.
    Secret { client_id: String, secret: ClientSecret },
    /// `private_key_jwt` (RFC 7523 §2.2).
    PrivateKey { client_id: String, key: SigningKey },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredentials::Secret { client_id, .. } => {
                write!(f, "Secret {{ client_id: {client_id:?}, .. }}")
            }
            ClientCredentials::PrivateKey { client_id, key } => {
                write!(f, "PrivateKey {{ client_id: {client_id:?}, kid: {:?} }}", key.kid)
            }
        }
    }
}

/// An ES256 key the gateway signs its client assertions with.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    public_jwk: serde_json::Value,
}

/// How long an assertion lives: one request, with room for clock skew.
const ASSERTION_LIFETIME: i64 = 60;

impl SigningKey {
    /// A new random key named `kid`.
    pub fn generate(kid: &str) -> Self {
        let secret = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
            // Fails only for the zero scalar or one above the group order: about 2^-128.
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        Self::from_secret(kid, &secret)
    }

    /// The key in a PKCS#8 DER document (what `openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256 -outform DER` writes).
    pub fn from_pkcs8_der(kid: &str, der: &[u8]) -> Result<Self, String> {
        use p256::pkcs8::DecodePrivateKey;
        let secret =
            p256::SecretKey::from_pkcs8_der(der).map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
        Ok(Self::from_secret(kid, &secret))
    }

    fn from_secret(kid: &str, secret: &p256::SecretKey) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let point = secret.public_key().to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| c.map(|c| protocol::base64url(c)).unwrap_or_default();
        let public_jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": coordinate(point.x()), "y": coordinate(point.y()),
        });
        let der = secret.to_pkcs8_der().expect("a valid P-256 key encodes");
        Self {
            kid: kid.to_owned(),
            encoding: jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
            public_jwk,
        }
    }

    /// The public half, as a JWK: what the AS is given (`clients add --jwks-file`) or fetches.
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }

    /// A single-use assertion for `client_id` addressed to `audience`.
    fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<String, String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let mut jti = [0u8; 24];
        getrandom::fill(&mut jti).map_err(|e| e.to_string())?;
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": audience,
            "iat": now, "exp": now + ASSERTION_LIFETIME, "jti": protocol::base64url(&jti),
        });
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

/// Why no hop token was had.
#[derive(Debug, thiserror::Error)]
pub enum HopError {
    /// The authorization server refused the exchange, with this OAuth error.
    #[error("the authorization server refused the token exchange: {0}")]
    Refused(ErrorResponse),
    /// The authorization server could not be asked, or answered nonsense.
    #[error("the authorization server is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    subject_jti: String,
    resource: String,
    scope: String,
}

struct Cached {
    token: AccessToken,
    expires_at: i64,
}

/// Exchanges and caches hop tokens.
pub struct HopTokens {
    http: reqwest::Client,
    token_endpoint: String,
    credentials: ClientCredentials,
    cache: Mutex<HashMap<Key, Cached>>,
}

impl HopTokens {
    pub fn new(token_endpoint: impl Into<String>, credentials: ClientCredentials) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { http, token_endpoint: token_endpoint.into(), credentials, cache: Mutex::default() }
    }

    /// A token for `resource` with `scope` (all the subject's scopes the resource knows, when
    /// `None`), on behalf of the subject token `subject` (whose `jti` keys the cache), at `now`
    /// (Unix seconds).
    pub async fn token_for(
        &self,
        subject: &AccessToken,
        subject_jti: &str,
        resource: &str,
        scope: Option<&Scopes>,
        now: i64,
    ) -> Result<AccessToken, HopError> {
        let key = Key {
            subject_jti: subject_jti.to_owned(),
            resource: resource.to_owned(),
            scope: scope.map(ToString::to_string).unwrap_or_default(),
        };
        if let Some(cached) = self.lock().get(&key)
            && cached.expires_at - REUSE_MARGIN > now
        {
            return Ok(cached.token.clone());
        }
        let response = self.exchange(subject, resource, scope, now).await?;
        let lifetime = response.expires_in.and_then(|s| i64::try_from(s).ok()).unwrap_or(0);
        let token = response.access_token;
        if lifetime > REUSE_MARGIN {
            let mut cache = self.lock();
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, c| c.expires_at - REUSE_MARGIN > now);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(key, Cached { token: token.clone(), expires_at: now + lifetime });
        }
        Ok(token)
    }

    /// Forgets every hop token of a subject token (its holder was refused upstream, say).
    pub fn forget(&self, subject_jti: &str) {
        self.lock().retain(|key, _| key.subject_jti != subject_jti);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Cached>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn exchange(
        &self,
        subject: &AccessToken,
        resource: &str,
        scope: Option<&Scopes>,
        now: i64,
    ) -> Result<TokenResponse, HopError> {
        let request = TokenExchangeRequest::new(subject.clone(), resource, scope.map(ToString::to_string));
        let unavailable =
            |e: &dyn std::fmt::Display| HopError::Unavailable(format!("{}: {e}", self.token_endpoint));
        let request = match &self.credentials {
            ClientCredentials::Secret { client_id, secret } => self
                .http
                .post(&self.token_endpoint)
                .basic_auth(form_encode(client_id), Some(form_encode(secret.secret())))
                .form(&request),
            ClientCredentials::PrivateKey { client_id, key } => {
                let assertion =
                    key.assertion(client_id, &self.token_endpoint, now).map_err(|e| unavailable(&e))?;
                let mut body = serde_urlencoded::to_string(&request).map_err(|e| unavailable(&e))?;
                body.push('&');
                body.push_str(
                    &serde_urlencoded::to_string([
                        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                        ("client_assertion", assertion.as_str()),
                    ])
                    .map_err(|e| unavailable(&e))?,
                );
                self.http
                    .post(&self.token_endpoint)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
        };
        let mut response = request.send().await.map_err(|e| unavailable(&e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE {
                return Err(unavailable(&"the token response is too large"));
            }
        }
        if status.is_success() {
            let answer: TokenResponse = serde_json::from_slice(&body)
                .map_err(|e| unavailable(&format!("malformed token response: {e}")))?;
            if !answer.is_bearer() {
                return Err(unavailable(&format!("token_type {:?} is not Bearer", answer.token_type)));
            }
            return Ok(answer);
        }
        match serde_json::from_slice::<ErrorResponse>(&body) {
            Ok(error) if status.is_client_error() => Err(HopError::Refused(error)),
            _ => Err(unavailable(&format!("answered {status}"))),
        }
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-urlencoded before Basic encoding.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
