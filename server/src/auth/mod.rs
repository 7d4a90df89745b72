//! Access token validation, and the [`Authorized`] extractor that puts it in front of handlers:
//! a handler receives verified claims with the scopes it needs, or never runs.

pub mod cache;
pub mod claims;
pub mod introspection;
pub mod keys;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, Validation};
use protocol::jwt::AccessTokenClaims;
use protocol::scope::Scopes;

use crate::error::{AuthError, Rejection};
use crate::state::AppState;
use claims::Expectations;
use keys::{KeyError, KeySource};

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessTokenClaims,
    pub scopes: Scopes,
}

impl VerifiedToken {
    /// `Ok` if the token carries every scope in `needed`.
    pub fn require(&self, needed: &Scopes) -> Result<(), AuthError> {
        if self.scopes.is_superset(needed) {
            Ok(())
        } else {
            // RFC 6750 §3.1 / MCP step-up: name everything needed, so the client's next
            // authorization asks for the union of what it has and this.
            Err(AuthError::InsufficientScope(self.scopes.union(needed)))
        }
    }
}

/// How many verified tokens the cache keeps (each a few hundred bytes).
pub const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// Checks bearer tokens for this resource.
pub struct Validator {
    issuer: String,
    resource: String,
    keys: KeySource,
    cache: cache::TokenCache,
    /// Set in introspection mode.
    introspector: Option<introspection::Introspector>,
    /// Benchmarks only: every request counts as carrying this token. See
    /// [`Validator::dangerously_disabled_for_benchmarks`].
    disabled: Option<Arc<VerifiedToken>>,
}

impl Validator {
    pub fn new(issuer: String, resource: String) -> Self {
        Self {
            keys: KeySource::new(issuer.clone()),
            issuer,
            resource,
            cache: cache::TokenCache::new(TOKEN_CACHE_CAPACITY),
            introspector: None,
            disabled: None,
        }
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

    /// Adds introspection: opaque tokens are introspected, and with `every_token` JWTs too.
    pub fn with_introspection(mut self, settings: introspection::IntrospectionSettings) -> Self {
        self.introspector = Some(introspection::Introspector::new(settings, &self.resource));
        self
    }

    /// A validator that checks nothing and treats every request as carrying `token`. It exists for
    /// one purpose: measuring the ceiling the real checks are compared against in
    /// `cargo xtask bench`. No flag or setting of the server reaches it.
    pub fn dangerously_disabled_for_benchmarks(token: VerifiedToken) -> Self {
        tracing::warn!("TOKEN VALIDATION IS DISABLED: every request is accepted (benchmark ceiling)");
        Self { disabled: Some(Arc::new(token)), ..Self::new(String::new(), String::new()) }
    }

    /// Finds the bearer token in the request (RFC 6750 §2.1, header only) and verifies it.
    pub async fn verify_request(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Arc<VerifiedToken>, AuthError> {
        if let Some(token) = &self.disabled {
            return Ok(token.clone());
        }
        // RFC 6750 §2.3 allows a query parameter; OAuth 2.1 and the MCP spec forbid it, because
        // URLs end up in logs, history and Referer headers. Refuse loudly rather than ignore it.
        if query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token"))
        {
            return Err(AuthError::InvalidRequest(
                "access tokens are accepted only in the Authorization header".into(),
            ));
        }
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(AuthError::Missing);
        };
        if values.next().is_some() {
            return Err(AuthError::InvalidRequest("more than one Authorization header".into()));
        }
        let value = value
            .to_str()
            .map_err(|_| AuthError::InvalidToken("the Authorization header is not ASCII".into()))?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(AuthError::Missing);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Another scheme is "no bearer token" (RFC 6750 §3.1): a plain challenge.
            return Err(AuthError::Missing);
        }
        self.verify(token.trim()).await
    }

    /// Verifies a compact JWS access token, from the cache when this exact token was verified
    /// before and is still within its validity window.
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, AuthError> {
        if let Some(introspector) = &self.introspector {
            let is_jwt = jsonwebtoken::decode_header(token).is_ok();
            if !is_jwt || introspector.every_token() {
                // Local checks first where there is something to check: a forged JWT never costs a
                // round trip to the AS. No cache: revocation must take effect.
                if is_jwt {
                    self.verify_uncached(token).await?;
                }
                let answer =
                    introspector.introspect(&self.keys, token, &self.issuer, &self.resource, now()).await?;
                return Ok(Arc::new(answer));
            }
        }
        let expected = Expectations { issuer: &self.issuer, audience: &self.resource };
        if let Some(hit) = self.cache.get(token, &expected, now()) {
            return Ok(hit);
        }
        let verified = Arc::new(self.verify_uncached(token).await?);
        self.cache.insert(token, verified.clone());
        Ok(verified)
    }

    /// Header, signature, claims.
    async fn verify_uncached(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a well-formed JWT"))?;
        if !claims::is_access_token_typ(header.typ.as_deref()) {
            return Err(invalid("the token is not an access token (typ must be at+jwt)"));
        }
        // Allow-list, decided here and not by the token: `none` and HMAC can never get in.
        if header.alg != Algorithm::ES256 {
            return Err(invalid("the token's signature algorithm is not accepted"));
        }
        let kid = header.kid.ok_or_else(|| invalid("the token names no signing key (kid)"))?;
        let key = self.keys.key(&kid).await.map_err(|e| match e {
            KeyError::UnknownKid(_) => invalid("the token was signed with an unknown key"),
            KeyError::Unavailable(reason) => AuthError::Unavailable(reason),
        })?;

        // The library checks the signature and the algorithm; the claims are checked below with
        // our own rules, so they are decided in one place.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    invalid("the token's signature does not verify")
                }
                _ => invalid("the token's claims are malformed"),
            })?
            .claims;

        claims::check(&claims, &Expectations { issuer: &self.issuer, audience: &self.resource }, now())
            .map_err(AuthError::InvalidToken)?;
        let scopes = Scopes::parse(claims.scope.as_deref().unwrap_or_default())
            .map_err(|_| invalid("the token's scope claim is malformed"))?;
        Ok(VerifiedToken { claims, scopes })
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The scopes a route needs, as a type, so the extractor knows what to demand.
pub trait ScopeRequirement: Send + Sync + 'static {
    const SCOPES: &'static [&'static str];
}

/// Extracts a verified token carrying `S::SCOPES`, or rejects with the right challenge.
pub struct Authorized<S: ScopeRequirement>(pub Arc<VerifiedToken>, pub PhantomData<S>);

impl<S: ScopeRequirement> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let needed = Scopes::from_tokens(S::SCOPES).expect("route scopes are constants and valid");
        let rejection = |error| Rejection {
            error,
            resource_metadata: state.resource_metadata_url.clone(),
            scope: needed.clone(),
        };
        let token = state.validator.verify_request(&parts.headers, parts.uri.query()).await.map_err(|e| {
            tracing::info!(reason = %e, path = %parts.uri.path(), "request refused");
            rejection(e)
        })?;
        token.require(&needed).map_err(rejection)?;
        Ok(Self(token, PhantomData))
    }
}
