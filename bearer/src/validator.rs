//! [`Validator`]: finds the bearer token in a request and decides whether to trust it.
//!
//! Order of the checks for a JWT (cheapest and most common first):
//! 1. the verified-token cache (a client reuses its token until it expires): a hash lookup and the
//!    time window, no signature;
//! 2. the JOSE header (`typ`, `alg`, `kid`, `crit`), pure, in `protocol::jwt::validation`;
//! 3. the key for `kid` from the authorization server's JWKS ([`KeySource`], rate-limited);
//! 4. the ES256 signature (`jsonwebtoken`);
//! 5. the claims (issuer, audience, time window, actor chain), pure again.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, Validation};
use protocol::jwt::AccessTokenClaims;
use protocol::jwt::validation::{self, Expectations, Refusal};
use protocol::scope::Scopes;

use crate::cache::TokenCache;
use crate::clock::{Clock, SystemClock};
use crate::error::BearerError;
use crate::introspection::{IntrospectionSettings, Introspector};
use crate::keys::{KeyError, KeySource};
use crate::refusals::RefusalLog;
use crate::verified::VerifiedToken;

/// How many verified tokens the cache keeps (each a few hundred bytes).
pub const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// Checks bearer tokens for one resource, issued by one authorization server.
pub struct Validator {
    issuer: String,
    resource: String,
    keys: KeySource,
    cache: TokenCache,
    clock: Arc<dyn Clock>,
    refusals: Arc<RefusalLog>,
    /// What the signature check asks of `jsonwebtoken`, built once.
    signature: Validation,
    /// Set in introspection mode.
    introspector: Option<Introspector>,
    /// Benchmarks only: every request counts as carrying this token. See
    /// [`Validator::dangerously_disabled_for_benchmarks`].
    disabled: Option<Arc<VerifiedToken>>,
    /// Set for a resource behind a gateway: the client every token's current actor must be.
    required_actor: Option<String>,
}

impl Validator {
    /// Trusts tokens from `issuer` (found through its RFC 8414 metadata) for `resource`, on the
    /// wall clock.
    pub fn new(issuer: String, resource: String) -> Self {
        // The library checks the signature and the algorithm; the claims are checked by
        // `validation::check_claims` with our own rules, so they are decided in one place.
        let mut signature = Validation::new(Algorithm::ES256);
        signature.validate_exp = false;
        signature.validate_nbf = false;
        signature.validate_aud = false;
        signature.required_spec_claims.clear();
        Self {
            keys: KeySource::new(issuer.clone()),
            issuer,
            resource,
            cache: TokenCache::new(TOKEN_CACHE_CAPACITY),
            clock: Arc::new(SystemClock),
            refusals: Arc::new(RefusalLog::default()),
            signature,
            introspector: None,
            disabled: None,
            required_actor: None,
        }
    }

    /// Accepts only tokens whose current actor (RFC 8693 `act`, the outermost) is the client
    /// `client_id`: for a resource that must be reached through a gateway, so that the gateway's
    /// policy and approvals cannot be skipped with a token the user obtained for it directly.
    pub fn with_required_actor(mut self, client_id: String) -> Self {
        self.required_actor = Some(client_id);
        self
    }

    /// Reads time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adds introspection: opaque tokens are introspected, and with `every_token` JWTs too.
    pub fn with_introspection(mut self, settings: IntrospectionSettings) -> Self {
        self.introspector = Some(Introspector::new(settings, &self.resource));
        self
    }

    /// A validator that checks nothing and treats every request as carrying `token`. It exists for
    /// one purpose: measuring what the real checks cost in `cargo xtask bench`. No flag or setting
    /// of any server reaches it.
    pub fn dangerously_disabled_for_benchmarks(token: VerifiedToken) -> Self {
        tracing::warn!("TOKEN VALIDATION IS DISABLED: every request is accepted (benchmark only)");
        Self { disabled: Some(Arc::new(token)), ..Self::new(String::new(), String::new()) }
    }

    /// The resource (audience) this validator accepts tokens for.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Refetches the signing keys every `every` for as long as `validator` is in use: a rotated
    /// key is known before the first token signed with it arrives, and an unreachable
    /// authorization server shows in the logs while tokens keep being checked against the cached
    /// keys.
    pub async fn refresh_keys_every(validator: std::sync::Weak<Validator>, every: std::time::Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut failing = false;
        loop {
            ticks.tick().await;
            let Some(validator) = validator.upgrade() else { return };
            let keys = &validator.keys;
            match keys.refresh_now().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!(issuer = %validator.issuer, "the authorization server answers again");
                }
                Ok(_) => {}
                Err(_) => {
                    failing = true;
                    let cached_keys = keys.cached_keys().await;
                    if cached_keys > 0 {
                        tracing::warn!(issuer = %validator.issuer, cached_keys,
                            "authorization server unreachable; still validating tokens with the cached keys");
                    }
                }
            }
        }
    }

    /// Counts a refusal decided outside the validator (a handler's `insufficient_scope`), so that
    /// every refusal is logged the same way. Returns `error`.
    pub fn refused(&self, error: BearerError) -> BearerError {
        self.refusals.record(&error, &self.clock);
        error
    }

    /// Finds the bearer token in the request (RFC 6750 §2.1, header only) and verifies it. Every
    /// refusal is counted (see [`crate::refusals`]).
    pub async fn verify_request(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Arc<VerifiedToken>, BearerError> {
        if let Some(token) = &self.disabled {
            return Ok(token.clone());
        }
        let verified = match bearer_token(headers, query) {
            Ok(token) => self.verify(token).await,
            Err(error) => Err(error),
        };
        verified.map_err(|error| self.refused(error))
    }

    /// Verifies a compact JWS access token, from the cache when this exact token was verified
    /// before and is still within its validity window.
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, BearerError> {
        if let Some(token) = &self.disabled {
            return Ok(token.clone());
        }
        let verified = self.verify_token(token).await?;
        if let Some(required) = &self.required_actor {
            let actor = verified.claims.act.as_ref();
            let acting = actor.map(|a| a.client_id.as_deref().unwrap_or(a.sub.as_str()));
            if acting != Some(required.as_str()) {
                return Err(Refusal::NotThroughActor.into());
            }
        }
        Ok(verified)
    }

    async fn verify_token(&self, token: &str) -> Result<Arc<VerifiedToken>, BearerError> {
        let now = self.clock.now();
        let expected = Expectations { issuer: &self.issuer, audience: &self.resource };
        if let Some(introspector) = &self.introspector {
            let is_jwt = validation::parse_header(token).is_ok();
            if !is_jwt || introspector.every_token() {
                // Local checks first where there is something to check: a forged JWT never costs a
                // round trip to the AS. No cache: revocation must take effect.
                if is_jwt {
                    self.verify_uncached(token, &expected, now).await?;
                }
                return Ok(Arc::new(
                    introspector.introspect(&self.keys, token, is_jwt, &expected, now).await?,
                ));
            }
        }
        if let Some(hit) = self.cache.get(token, &expected, now) {
            return Ok(hit);
        }
        let verified = Arc::new(self.verify_uncached(token, &expected, now).await?);
        self.cache.insert(token, verified.clone());
        Ok(verified)
    }

    /// Header, key, signature, claims.
    async fn verify_uncached(
        &self,
        token: &str,
        expected: &Expectations<'_>,
        now: u64,
    ) -> Result<VerifiedToken, BearerError> {
        let header = validation::parse_header(token)?;
        let kid = validation::check_header(&header)?;
        let key = self.keys.key(kid).await.map_err(|e| match e {
            KeyError::UnknownKid(_) => BearerError::InvalidToken(Refusal::UnknownKey),
            KeyError::Unavailable(reason) => BearerError::Unavailable(reason),
        })?;
        let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key, &self.signature)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => Refusal::BadSignature,
                _ => Refusal::MalformedClaims,
            })?
            .claims;
        validation::check_claims(&claims, expected, now)?;
        let scopes = Scopes::parse(claims.scope.as_deref().unwrap_or_default())
            .map_err(|_| Refusal::MalformedScope)?;
        Ok(VerifiedToken { claims, scopes })
    }
}

/// The bearer token of a request: from the one `Authorization` header, never from the query.
/// Public for a gateway, which must present the very token it verified as a `subject_token`.
pub fn bearer_token<'a>(headers: &'a HeaderMap, query: Option<&str>) -> Result<&'a str, BearerError> {
    // RFC 6750 §2.3 allows a query parameter; OAuth 2.1 and the MCP spec forbid it, because
    // URLs end up in logs, history and Referer headers. Refuse loudly rather than ignore it.
    // Parsed only when it could name the parameter (every request has a query on some routes).
    let may_name_it = |q: &str| q.contains("access_token") || q.contains('%');
    if query.is_some_and(|q| {
        may_name_it(q) && url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
    }) {
        return Err(BearerError::InvalidRequest(
            "access tokens are accepted only in the Authorization header",
        ));
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::InvalidRequest("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| BearerError::InvalidToken(Refusal::Malformed))?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(BearerError::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme is "no bearer token" (RFC 6750 §3.1): a plain challenge.
        return Err(BearerError::Missing);
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_token_comes_from_exactly_one_bearer_authorization_header() {
        assert_eq!(bearer_token(&headers(&["Bearer abc"]), None), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["bearer  abc "]), None), Ok("abc"));
        assert_eq!(bearer_token(&headers(&[]), None), Err(BearerError::Missing));
        assert_eq!(bearer_token(&headers(&["Basic abc"]), None), Err(BearerError::Missing));
        assert_eq!(bearer_token(&headers(&["Bearer"]), None), Err(BearerError::Missing));
        assert!(matches!(
            bearer_token(&headers(&["Bearer a", "Bearer b"]), None),
            Err(BearerError::InvalidRequest(_))
        ));
        for query in ["x=1&access_token=a", "access%5Ftoken=a", "%61ccess_token=a"] {
            assert!(
                matches!(
                    bearer_token(&headers(&["Bearer a"]), Some(query)),
                    Err(BearerError::InvalidRequest(_))
                ),
                "{query}"
            );
        }
        assert_eq!(bearer_token(&headers(&["Bearer a"]), Some("text=access")), Ok("a"));
    }
}
