//! The gateway as a confidential client of the authorization server: one authenticated form POST
//! (`private_key_jwt` or `client_secret_basic`) and its OAuth JSON answer, shared by the token
//! exchanges of [`crate::hop`] and the out-of-band approvals of [`crate::approval`].

use std::time::Duration;

use protocol::error::ErrorResponse;
use protocol::secret::ClientSecret;
use protocol::token::CLIENT_ASSERTION_TYPE_JWT_BEARER;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long one request to the AS may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read.
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
    /// The private key as PKCS#8 DER, to write it to a key file.
    pkcs8: std::sync::Arc<Vec<u8>>,
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
            pkcs8: std::sync::Arc::new(der.as_bytes().to_vec()),
        }
    }

    /// The private key as PKCS#8 DER (what [`SigningKey::from_pkcs8_der`] reads).
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.pkcs8.as_ref().clone()
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

/// Why the authorization server gave no answer to use.
#[derive(Debug, thiserror::Error)]
pub enum AsError {
    /// The authorization server refused, with this OAuth error.
    #[error("the authorization server refused: {0}")]
    Refused(ErrorResponse),
    /// The authorization server could not be asked, or answered nonsense.
    #[error("the authorization server is unavailable: {0}")]
    Unavailable(String),
}

/// Sends authenticated requests to the authorization server.
pub struct AsClient {
    http: reqwest::Client,
    credentials: ClientCredentials,
}

impl AsClient {
    pub fn new(credentials: ClientCredentials) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { http, credentials }
    }

    /// The client id the gateway is registered under.
    pub fn client_id(&self) -> &str {
        match &self.credentials {
            ClientCredentials::Secret { client_id, .. } | ClientCredentials::PrivateKey { client_id, .. } => {
                client_id
            }
        }
    }

    /// POSTs `form` to `endpoint`, authenticated, at `now` (Unix seconds, for the assertion); the
    /// success answer as `R`, a `4xx` with an OAuth error as [`AsError::Refused`].
    pub async fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        form: &T,
        now: i64,
    ) -> Result<R, AsError> {
        let unavailable = |e: &dyn std::fmt::Display| AsError::Unavailable(format!("{endpoint}: {e}"));
        let mut body = serde_urlencoded::to_string(form).map_err(|e| unavailable(&e))?;
        let mut request = self
            .http
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        match &self.credentials {
            ClientCredentials::Secret { client_id, secret } => {
                request = request.basic_auth(form_encode(client_id), Some(form_encode(secret.secret())));
            }
            ClientCredentials::PrivateKey { client_id, key } => {
                let assertion = key.assertion(client_id, endpoint, now).map_err(|e| unavailable(&e))?;
                body.push('&');
                body.push_str(
                    &serde_urlencoded::to_string([
                        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                        ("client_assertion", assertion.as_str()),
                    ])
                    .map_err(|e| unavailable(&e))?,
                );
            }
        }
        if let Some(traceparent) = crate::trace::outgoing() {
            request = request.header(protocol::trace::TRACEPARENT, traceparent);
        }
        let mut response = request.body(body).send().await.map_err(|e| unavailable(&e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE {
                return Err(unavailable(&"the answer is too large"));
            }
        }
        if status.is_success() {
            // An empty answer (revocation's `200`) reads as `null`, which `()` is.
            let body = if body.is_empty() { &b"null"[..] } else { &body[..] };
            return serde_json::from_slice(body).map_err(|e| unavailable(&format!("malformed answer: {e}")));
        }
        match serde_json::from_slice::<ErrorResponse>(&body) {
            Ok(error) if status.is_client_error() => Err(AsError::Refused(error)),
            _ => Err(unavailable(&format!("answered {status}"))),
        }
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-urlencoded before Basic encoding.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
