//! Client authentication (RFC 6749 §2.3): who is calling the token, revocation, introspection and
//! backchannel authentication endpoints.
//!
//! Three ways, one per kind of client:
//! * `none`: a public client names itself with `client_id` (or HTTP Basic with an empty password);
//!   PKCE and refresh token rotation carry the proof. A `client_secret` it sends in the body is
//!   ignored, never taken as authentication; a Basic password it cannot have is refused.
//! * `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with the form-urlencoded client id and
//!   secret. The store keeps the secret's SHA-256 (a 256-bit random secret needs no slow hash),
//!   compared in constant time.
//! * `private_key_jwt` (RFC 7523 §2.2, §3): a JWT signed with one of the client's keys (inline
//!   `jwks`, or fetched from its `jwks_uri`): `iss` = `sub` = the client id, `aud` naming this
//!   server (its issuer, its token endpoint or the endpoint called), a short life (`exp` at most
//!   [`MAX_ASSERTION_LIFETIME`] ahead, [`LEEWAY`] of clock skew either way), and a `jti` used once:
//!   the store remembers every `jti` until its assertion expires, in the database, so a replay to
//!   another replica is refused too.
//!
//! A client may use one method only (RFC 6749 §2.3) and only the one it registered: a confidential
//! client that sends just its `client_id` is refused, so knowing a gateway's id is worth nothing.
//! Every failure is `invalid_client` (401; with `WWW-Authenticate: Basic` when Basic was tried,
//! RFC 6749 §5.2) and an audit event, and says no more than needed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use protocol::error::ErrorCode;
use protocol::jwt::Audience;
use protocol::secret::{ClientAssertion, ClientSecret};
use protocol::token::CLIENT_ASSERTION_TYPE_JWT_BEARER;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::audit::{self, RequestContext};
use crate::digest;
use crate::error::ApiError;
use crate::routes::Params;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind, Client, ClientAuthMethod};

/// Clock skew tolerated on an assertion's `exp`, `nbf` and `iat`.
pub const LEEWAY: i64 = 30;
/// The longest an assertion may live from now: it is a one-shot credential, not a session.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// The signature algorithms accepted on client assertions: asymmetric only (a shared-key HMAC
/// assertion would be `client_secret_jwt`, which this server does not offer).
pub const ASSERTION_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];
/// How long keys fetched from a `jwks_uri` are used before fetching again…
const JWKS_FRESH_FOR: Duration = Duration::from_secs(300);
/// …and how soon an unknown `kid` may trigger a fetch (a client rotating its keys).
const JWKS_REFETCH_AFTER: Duration = Duration::from_secs(10);
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
const JWKS_MAX_BYTES: usize = 64 * 1024;

/// What the request carried to say who is calling, before anything is checked.
#[derive(Debug)]
pub enum Credentials {
    /// Nothing: no header, no `client_id`, no assertion.
    Absent,
    /// A `client_id` parameter only: a public client.
    Id(String),
    /// HTTP Basic: a client id and secret (or, at `/introspect`, a resource server's credential).
    Basic { id: String, secret: ClientSecret },
    /// A `private_key_jwt` assertion, and the `client_id` parameter if one was sent.
    Assertion { id: Option<String>, assertion: ClientAssertion },
}

impl Credentials {
    /// Reads the credentials of a request: its `Authorization: Basic` header and its form
    /// parameters. More than one method at once is `invalid_request` (RFC 6749 §2.3).
    pub fn read(headers: &HeaderMap, params: &Params) -> Result<Self, ApiError> {
        let basic = basic_credentials(headers)?;
        let assertion = match (params.get("client_assertion_type"), params.get("client_assertion")) {
            (None, None) => None,
            (Some(CLIENT_ASSERTION_TYPE_JWT_BEARER), Some(assertion)) => {
                Some(ClientAssertion::new(assertion))
            }
            (Some(CLIENT_ASSERTION_TYPE_JWT_BEARER), None) => {
                return Err(ApiError::invalid_request("client_assertion is required"));
            }
            (None, Some(_)) => return Err(ApiError::invalid_request("client_assertion_type is required")),
            (Some(_), _) => {
                return Err(ApiError::invalid_request(format!(
                    "client_assertion_type must be {CLIENT_ASSERTION_TYPE_JWT_BEARER}"
                )));
            }
        };
        let client_id = params.get("client_id").map(str::to_owned);
        match (basic, assertion) {
            (Some(_), Some(_)) => {
                Err(ApiError::invalid_request("use one client authentication method, not several"))
            }
            (Some((id, secret)), None) => {
                if client_id.as_deref().is_some_and(|c| c != id) {
                    return Err(ApiError::invalid_request("client_id differs from the authenticated client"));
                }
                Ok(Credentials::Basic { id, secret })
            }
            (None, Some(assertion)) => Ok(Credentials::Assertion { id: client_id, assertion }),
            (None, None) => Ok(client_id.map_or(Credentials::Absent, Credentials::Id)),
        }
    }

    /// Did the client try HTTP Basic? Then a refusal carries `WWW-Authenticate` (RFC 6749 §5.2).
    pub fn used_basic(&self) -> bool {
        matches!(self, Credentials::Basic { .. })
    }
}

/// The client id and secret of an `Authorization: Basic` header, each form-urlencoded (RFC 6749
/// §2.3.1). `None` without such a header; a malformed one is `invalid_client`.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, ClientSecret)>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| refused(true, "malformed Authorization header"))?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(refused(true, "malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(refused(true, "clients authenticate with HTTP Basic or a client assertion"));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| refused(true, "malformed Basic credentials"))?;
    let (id, secret) = decoded.split_once(':').ok_or_else(|| refused(true, "malformed Basic credentials"))?;
    let decode = |value: &str| -> String {
        url::form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = decode(id);
    if id.is_empty() {
        return Err(refused(true, "malformed Basic credentials"));
    }
    Ok(Some((id, ClientSecret::new(decode(secret)))))
}

/// `invalid_client`, 401, with `WWW-Authenticate: Basic` when the client tried Basic.
pub fn refused(tried_basic: bool, description: &str) -> ApiError {
    let mut error = ApiError::new(ErrorCode::InvalidClient, description);
    error.status = StatusCode::UNAUTHORIZED;
    if tried_basic {
        error.www_authenticate =
            Some(HeaderValue::from_static("Basic realm=\"mcp-auth\", charset=\"UTF-8\""));
    }
    error
}

/// Who called, once the credentials are checked.
#[derive(Debug)]
pub enum Caller {
    /// No credentials at all.
    Anonymous,
    /// A public client, named by `client_id`.
    Public(Client),
    /// A confidential client that proved it holds its secret or key.
    Confidential(Client),
    /// A resource server with its introspection credential (`--introspection-credential`): HTTP
    /// Basic with its resource URL as user name. Good for `/introspect` only.
    ResourceServer(String),
}

impl Caller {
    /// The client of a request that needs one (code, refresh, revocation): a public client names
    /// itself, a confidential one has authenticated.
    pub fn client(&self) -> Result<&Client, ApiError> {
        match self {
            Caller::Public(client) | Caller::Confidential(client) => Ok(client),
            Caller::Anonymous => Err(ApiError::invalid_request("client_id is required")),
            Caller::ResourceServer(_) => {
                Err(refused(true, "a resource server's credential is for introspection only"))
            }
        }
    }

    /// The confidential client of a grant only confidential clients registered for it may use
    /// (token exchange, CIBA).
    pub fn confidential(&self, grant_type: &str) -> Result<&Client, ApiError> {
        match self {
            Caller::Confidential(client) if client.has_grant_type(grant_type) => Ok(client),
            Caller::Confidential(_) => Err(ApiError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client is not registered for {grant_type}"),
            )),
            Caller::Public(_) => Err(ApiError::new(
                ErrorCode::UnauthorizedClient,
                "this grant is for confidential clients; a public client cannot use it",
            )),
            Caller::Anonymous | Caller::ResourceServer(_) => {
                Err(refused(false, "this grant needs a confidential client's authentication"))
            }
        }
    }
}

/// Checks `credentials`. `endpoint` is the URL of the endpoint called, which an assertion's `aud`
/// may name (besides the issuer and the token endpoint). Failures are audited.
pub async fn authenticate(
    state: &AppState,
    context: &RequestContext,
    credentials: Credentials,
    endpoint: &str,
) -> Result<Caller, ApiError> {
    let tried_basic = credentials.used_basic();
    match check(state, credentials, endpoint).await {
        Ok(caller) => Ok(caller),
        Err(Failure::Refused { client_id, reason }) => {
            let mut event = AuditEvent::new(AuditKind::ClientAuthenticationFailed).detail(reason);
            if let Some(client_id) = &client_id {
                event = event.client(client_id);
            }
            audit::record(state, context, event).await;
            Err(refused(tried_basic, "client authentication failed"))
        }
        Err(Failure::Api(error)) => Err(error),
    }
}

/// Why [`check`] failed: a refusal (audited, answered with a bare `invalid_client`) or another
/// error to pass on as it is.
enum Failure {
    Refused { client_id: Option<String>, reason: String },
    Api(ApiError),
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        Failure::Api(error.into())
    }
}

fn refuse(client_id: Option<&str>, reason: impl Into<String>) -> Failure {
    Failure::Refused { client_id: client_id.map(str::to_owned), reason: reason.into() }
}

async fn check(state: &AppState, credentials: Credentials, endpoint: &str) -> Result<Caller, Failure> {
    match credentials {
        Credentials::Absent => Ok(Caller::Anonymous),
        Credentials::Id(id) => {
            let Some(client) = state.store.find_client(&id).await? else {
                // As before confidential clients existed: 400 naming the problem.
                return Err(Failure::Api(ApiError::new(ErrorCode::InvalidClient, "unknown client_id")));
            };
            if client.is_confidential() {
                return Err(refuse(
                    Some(&id),
                    format!(
                        "a confidential client sent no credentials (it uses {})",
                        client.auth_method().as_str()
                    ),
                ));
            }
            Ok(Caller::Public(client))
        }
        Credentials::Basic { id, secret } => {
            if resource_server_credential(state, &id, &secret) {
                return Ok(Caller::ResourceServer(id));
            }
            let client = state.store.find_client(&id).await?;
            // Compare against something even for an unknown client, so both take as long.
            let stored =
                client.as_ref().and_then(|c| c.secret_hash.clone()).unwrap_or_else(|| digest::sha256(""));
            let presented = digest::sha256(secret.secret());
            let matches: bool = presented.as_bytes().ct_eq(stored.as_bytes()).into();
            match client {
                Some(client) if client.auth_method() == ClientAuthMethod::ClientSecretBasic && matches => {
                    Ok(Caller::Confidential(client))
                }
                // Some libraries send a public client's id as Basic with an empty password: that
                // names the client, as `client_id` would, and proves nothing more.
                Some(client)
                    if client.auth_method() == ClientAuthMethod::None && secret.secret().is_empty() =>
                {
                    Ok(Caller::Public(client))
                }
                Some(client) if client.auth_method() != ClientAuthMethod::ClientSecretBasic => Err(refuse(
                    Some(&id),
                    format!(
                        "client_secret_basic from a client registered for {}",
                        client.auth_method().as_str()
                    ),
                )),
                Some(_) => Err(refuse(Some(&id), "wrong client secret")),
                None => Err(refuse(None, "client_secret_basic for an unknown client")),
            }
        }
        Credentials::Assertion { id, assertion } => check_assertion(state, id, &assertion, endpoint).await,
    }
}

/// Is this the introspection credential of resource `resource`? Compared as hashes, in constant
/// time whatever the lengths.
fn resource_server_credential(state: &AppState, resource: &str, secret: &ClientSecret) -> bool {
    let presented = digest::sha256(secret.secret());
    state.config.settings.introspection_credentials.iter().any(|c| {
        c.resource == resource
            && bool::from(digest::sha256(c.secret.secret()).as_bytes().ct_eq(presented.as_bytes()))
    })
}

/// The registered claims of a client assertion (RFC 7523 §3).
#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    jti: String,
}

async fn check_assertion(
    state: &AppState,
    id: Option<String>,
    assertion: &ClientAssertion,
    endpoint: &str,
) -> Result<Caller, Failure> {
    let token = assertion.secret();
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| refuse(id.as_deref(), "malformed client assertion"))?;
    if !ASSERTION_ALGORITHMS.contains(&header.alg) {
        return Err(refuse(id.as_deref(), format!("client assertion signed with {:?}", header.alg)));
    }
    // Which client: the assertion says (iss = sub), and `client_id`, if sent, must agree. Read
    // before the signature is checked only to find the keys to check it with.
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode(token)
        .map(|data| data.claims)
        .map_err(|_| refuse(id.as_deref(), "client assertion without the required claims"))?;
    if unverified.iss != unverified.sub || id.as_deref().is_some_and(|id| id != unverified.iss) {
        return Err(refuse(id.as_deref(), "client assertion iss, sub and client_id differ"));
    }
    let client_id = unverified.iss.as_str();
    let Some(client) = state.store.find_client(client_id).await? else {
        return Err(refuse(None, "client assertion for an unknown client"));
    };
    if client.auth_method() != ClientAuthMethod::PrivateKeyJwt {
        return Err(refuse(
            Some(client_id),
            "client assertion from a client not registered for private_key_jwt",
        ));
    }

    let key = state
        .client_keys
        .key_for(&client, header.kid.as_deref(), header.alg, state.now())
        .await
        .map_err(|reason| refuse(Some(client_id), reason))?;
    let mut validation = Validation::new(header.alg);
    // Times and audience are checked below against this server's clock and names.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims: AssertionClaims = jsonwebtoken::decode(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|_| refuse(Some(client_id), "client assertion signature does not verify"))?;

    let now = state.now();
    let audiences = [state.config.issuer.as_str(), &state.config.endpoint("/token"), endpoint];
    if !audiences.iter().any(|a| claims.aud.contains(a)) {
        return Err(refuse(Some(client_id), "client assertion aud does not name this server"));
    }
    check_times(&claims, now).map_err(|reason| refuse(Some(client_id), reason))?;
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(refuse(Some(client_id), "client assertion needs a jti"));
    }
    // Within MAX_ASSERTION_LIFETIME of now, checked above: the sum cannot overflow.
    if !state.store.record_client_assertion(client_id, &claims.jti, claims.exp.saturating_add(LEEWAY)).await?
    {
        return Err(refuse(Some(client_id), format!("client assertion replayed (jti {})", claims.jti)));
    }
    Ok(Caller::Confidential(client))
}

/// Is an assertion with these times good `now`: unexpired, not living longer than
/// [`MAX_ASSERTION_LIFETIME`], not issued or valid only in the future, each with [`LEEWAY`]? The
/// times are the caller's: saturating sums, so an `exp` at the end of time is refused, not a panic.
fn check_times(claims: &AssertionClaims, now: i64) -> Result<(), &'static str> {
    let leeway_ahead = now.saturating_add(LEEWAY);
    if claims.exp.saturating_add(LEEWAY) <= now {
        return Err("client assertion expired");
    }
    if claims.exp > leeway_ahead.saturating_add(MAX_ASSERTION_LIFETIME) {
        return Err("client assertion lives too long");
    }
    if claims.nbf.is_some_and(|nbf| nbf > leeway_ahead) || claims.iat.is_some_and(|iat| iat > leeway_ahead) {
        return Err("client assertion is not valid yet");
    }
    Ok(())
}

/// The public keys of `private_key_jwt` clients registered with a `jwks_uri`, fetched on demand and
/// kept for [`JWKS_FRESH_FOR`]; an unknown `kid` fetches again, at most every
/// [`JWKS_REFETCH_AFTER`]. Keys given inline live in the client's record and are not cached here.
///
/// A client id is no secret, so anyone can send assertions with made-up `kid`s: fetches take turns
/// per URI, and whoever waited for a turn looks at what the fetch before it found (or when it
/// failed) before fetching again, so a burst of such assertions costs one fetch.
#[derive(Default)]
pub struct ClientKeys {
    fetched: Mutex<HashMap<String, Fetched>>,
    turns: serve::turns::Turns<String>,
}

#[derive(Clone)]
struct Fetched {
    /// The JWK Set last fetched, and when.
    keys: Option<(JwkSet, i64)>,
    /// When a fetch was last tried, and why it failed if it did.
    tried: i64,
    failure: Option<String>,
}

impl Fetched {
    /// The answer without fetching, if there is one: a fresh key, or a refusal when a fetch was
    /// tried too recently to try again.
    fn answer(&self, kid: Option<&str>, alg: Algorithm, now: i64) -> Option<Result<DecodingKey, String>> {
        let recent = now.saturating_sub(self.tried) < JWKS_REFETCH_AFTER.as_secs() as i64;
        if let Some((keys, at)) = &self.keys {
            let fresh = now.saturating_sub(*at) < JWKS_FRESH_FOR.as_secs() as i64;
            match select(keys, kid, alg) {
                Ok(key) if fresh => return Some(Ok(key)),
                Err(reason) if recent => return Some(Err(reason)),
                _ => {}
            }
        }
        match &self.failure {
            Some(why) if recent => Some(Err(format!("{why} (a moment ago; not retried yet)"))),
            _ => None,
        }
    }
}

impl ClientKeys {
    /// The key of `client` that verifies a signature by `alg` with key id `kid`.
    async fn key_for(
        &self,
        client: &Client,
        kid: Option<&str>,
        alg: Algorithm,
        now: i64,
    ) -> Result<DecodingKey, String> {
        if let Some(inline) = &client.metadata.jwks {
            let keys: JwkSet = serde_json::from_value(inline.clone())
                .map_err(|_| "the client's jwks cannot be read".to_owned())?;
            return select(&keys, kid, alg);
        }
        let uri = client.metadata.jwks_uri.as_deref().ok_or("the client has no keys")?;
        if let Some(answer) = self.cached(uri).and_then(|fetched| fetched.answer(kid, alg, now)) {
            return answer;
        }
        let key = uri.to_owned();
        let turn = self.turns.join(&key);
        let _turn = turn.wait().await;
        // The fetch this one waited for may have answered it.
        let cached = self.cached(uri);
        if let Some(answer) = cached.as_ref().and_then(|fetched| fetched.answer(kid, alg, now)) {
            return answer;
        }
        let (fetched, answer) = match fetch(uri).await {
            Ok(keys) => {
                let answer = select(&keys, kid, alg);
                (Fetched { keys: Some((keys, now)), tried: now, failure: None }, answer)
            }
            // Keys fetched before stay, for the kids they have, while they are fresh.
            Err(why) => {
                let keys = cached.and_then(|fetched| fetched.keys);
                (Fetched { keys, tried: now, failure: Some(why.clone()) }, Err(why))
            }
        };
        self.fetched.lock().unwrap_or_else(|p| p.into_inner()).insert(uri.to_owned(), fetched);
        answer
    }

    fn cached(&self, uri: &str) -> Option<Fetched> {
        self.fetched.lock().unwrap_or_else(|p| p.into_inner()).get(uri).cloned()
    }
}

/// Fetches a client's JWK Set: no redirects, a timeout, a size limit. The URL was registered by an
/// operator (`clients add`), not by whoever calls, so it may be on loopback (a local gateway).
async fn fetch(uri: &str) -> Result<JwkSet, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(JWKS_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot fetch the client's jwks_uri: {e}"))?;
    let mut response =
        client.get(uri).send().await.map_err(|e| format!("cannot fetch the client's jwks_uri: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the client's jwks_uri answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| format!("cannot read the client's jwks_uri: {e}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > JWKS_MAX_BYTES {
            return Err("the client's JWK Set is too large".into());
        }
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "the client's jwks_uri is not a JWK Set".to_owned())?;
    protocol::registration::check_public_jwks(&value)?;
    serde_json::from_value(value).map_err(|_| "the client's jwks_uri is not a JWK Set".to_owned())
}

/// The key of `keys` for a signature by `alg`: the one named `kid`, or without a `kid` the only
/// key that fits `alg`. The key must fit the algorithm (family and curve) and, if it says which
/// algorithm it is for, be for this one.
fn select(keys: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, String> {
    let fitting: Vec<&Jwk> = match kid {
        Some(kid) => keys.keys.iter().filter(|k| k.common.key_id.as_deref() == Some(kid)).collect(),
        None => keys.keys.iter().filter(|k| fits(k, alg)).collect(),
    };
    let [key] = fitting.as_slice() else {
        return Err(match kid {
            Some(kid) => format!("no single key of the client has kid {kid:?}"),
            None => "the assertion has no kid and the client has no single key for its algorithm".into(),
        });
    };
    if !fits(key, alg) {
        return Err(format!("the client's key does not fit {alg:?}"));
    }
    DecodingKey::from_jwk(key).map_err(|_| "the client's key cannot be used".into())
}

/// Does `key` verify signatures by `alg`?
fn fits(key: &Jwk, alg: Algorithm) -> bool {
    if let Some(declared) = key.common.key_algorithm
        && format!("{declared:?}") != format!("{alg:?}")
    {
        return false;
    }
    match &key.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => matches!(
            (alg, &ec.curve),
            (Algorithm::ES256, EllipticCurve::P256) | (Algorithm::ES384, EllipticCurve::P384)
        ),
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::OctetKeyPair(okp) => {
            alg == Algorithm::EdDSA && okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<HashMap<_, _>>().into()
    }

    fn basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn encode(id: &str, secret: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn credentials_are_read_from_the_header_or_the_form() {
        let none = Credentials::read(&HeaderMap::new(), &params(&[])).unwrap();
        assert!(matches!(none, Credentials::Absent));
        let public = Credentials::read(&HeaderMap::new(), &params(&[("client_id", "spa")])).unwrap();
        assert!(matches!(public, Credentials::Id(id) if id == "spa"));

        // RFC 6749 §2.3.1: both halves are form-urlencoded before Base64.
        let Credentials::Basic { id, secret } =
            Credentials::read(&basic(&encode("gate%3Away", "s%2Bcret")), &params(&[])).unwrap()
        else {
            panic!("basic")
        };
        assert_eq!((id.as_str(), secret.secret()), ("gate:way", "s+cret"));

        let assertion = params(&[
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
            ("client_assertion", "a.b.c"),
        ]);
        assert!(matches!(
            Credentials::read(&HeaderMap::new(), &assertion).unwrap(),
            Credentials::Assertion { .. }
        ));
    }

    #[test]
    fn ambiguous_or_malformed_credentials_are_refused() {
        let code = |result: Result<Credentials, ApiError>| result.unwrap_err().body.error.as_str().to_owned();
        let both = params(&[
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
            ("client_assertion", "a.b.c"),
        ]);
        assert_eq!(code(Credentials::read(&basic(&encode("a", "b")), &both)), "invalid_request");
        let other_type = params(&[("client_assertion_type", "urn:x"), ("client_assertion", "a.b.c")]);
        assert_eq!(code(Credentials::read(&HeaderMap::new(), &other_type)), "invalid_request");
        let half = params(&[("client_assertion", "a.b.c")]);
        assert_eq!(code(Credentials::read(&HeaderMap::new(), &half)), "invalid_request");
        let mismatch = params(&[("client_id", "other")]);
        assert_eq!(code(Credentials::read(&basic(&encode("a", "b")), &mismatch)), "invalid_request");

        let malformed = Credentials::read(&basic("Basic !!!"), &params(&[])).unwrap_err();
        assert_eq!(
            (malformed.status, malformed.body.error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_client")
        );
        assert!(malformed.www_authenticate.is_some());
        assert!(Credentials::read(&basic("Bearer abc"), &params(&[])).is_err());
        assert!(Credentials::read(&basic(&encode("", "b")), &params(&[])).is_err());
    }

    #[test]
    fn assertion_times_at_the_ends_of_the_range_are_refused_without_overflow() {
        let now = 1_700_000_000;
        let times = |exp: i64, nbf: Option<i64>, iat: Option<i64>| AssertionClaims {
            iss: "c".into(),
            sub: "c".into(),
            aud: Audience::One("a".into()),
            exp,
            nbf,
            iat,
            jti: "j".into(),
        };
        assert_eq!(check_times(&times(now + 60, Some(now), Some(now)), now), Ok(()));
        assert_eq!(check_times(&times(i64::MAX, None, None), now), Err("client assertion lives too long"));
        assert_eq!(check_times(&times(i64::MIN, None, None), now), Err("client assertion expired"));
        let future = Err("client assertion is not valid yet");
        assert_eq!(check_times(&times(now + 60, Some(i64::MAX), None), now), future);
        assert_eq!(check_times(&times(now + 60, None, Some(i64::MAX)), now), future);
        assert_eq!(check_times(&times(now + 60, Some(i64::MIN), Some(i64::MIN)), now), Ok(()));
    }

    #[test]
    fn cached_keys_answer_while_fresh_and_a_refetch_waits_its_interval() {
        let keys: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}))
        .unwrap();
        let at = 1_000;
        let fetched = Fetched { keys: Some((keys.clone(), at)), tried: at, failure: None };
        let answer = |fetched: &Fetched, kid, now| fetched.answer(Some(kid), Algorithm::ES256, now);
        assert!(matches!(answer(&fetched, "ec", at + 299), Some(Ok(_))), "fresh");
        assert!(answer(&fetched, "ec", at + 300).is_none(), "stale: fetch again");
        assert!(matches!(answer(&fetched, "other", at + 9), Some(Err(_))), "unknown kid, fetched just now");
        assert!(answer(&fetched, "other", at + 10).is_none(), "unknown kid: fetch again after 10 s");

        let failed = Fetched { keys: Some((keys, at)), tried: at + 400, failure: Some("down".into()) };
        let Some(Err(why)) = answer(&failed, "ec", at + 405) else { panic!("a recent failure answers") };
        assert!(why.contains("not retried yet"), "{why}");
        assert!(answer(&failed, "ec", at + 410).is_none(), "and is tried again after 10 s");
    }

    #[test]
    fn a_key_is_chosen_by_kid_or_as_the_only_one_that_fits() {
        let keys: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}))
        .unwrap();
        assert!(select(&keys, Some("ec"), Algorithm::ES256).is_ok());
        assert!(select(&keys, None, Algorithm::ES256).is_ok(), "the only P-256 key");
        assert!(select(&keys, None, Algorithm::EdDSA).is_ok(), "the only Ed25519 key");
        assert!(select(&keys, Some("ec"), Algorithm::ES384).is_err(), "a P-256 key does not verify ES384");
        assert!(select(&keys, Some("ec"), Algorithm::RS256).is_err(), "an EC key does not verify RS256");
        assert!(select(&keys, Some("missing"), Algorithm::ES256).is_err());
        assert!(select(&keys, None, Algorithm::RS256).is_err());
    }
}
