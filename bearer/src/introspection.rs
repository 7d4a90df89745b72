//! Introspection mode (RFC 7662): ask the authorization server whether a token is active.
//!
//! Used for tokens that are not JWTs (opaque tokens from another AS), and, when configured, for
//! every token: then a revocation at the AS takes effect at once instead of at the token's `exp`,
//! at the price of one call to the AS per request. The resource server authenticates with HTTP
//! Basic: the form-urlencoded resource identifier and the introspection secret the AS was given
//! for it (`mcp-auth --introspection-credential "<resource> <secret>"`). What the answer must say
//! is decided by `IntrospectionResponse::into_claims` in `protocol`.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::validation::{Expectations, Refusal};
use protocol::scope::Scopes;
use protocol::secret::ClientSecret;

use crate::error::BearerError;
use crate::keys::{KeySource, read_json};
use crate::verified::VerifiedToken;

/// How the resource server introspects.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    /// The resource server's credential at the introspection endpoint (it authenticates there as a
    /// client, RFC 7662 §2.1). Prints as `***`.
    pub secret: ClientSecret,
    /// Introspect JWTs too (after checking them locally), so that revocation is immediate.
    pub every_token: bool,
}

pub struct Introspector {
    every_token: bool,
    /// The whole `Authorization: Basic …` value, built once. Never printed: `Introspector` has no
    /// `Debug`.
    authorization: String,
    /// When (epoch seconds) an unreadable answer may next be logged at WARN.
    next_bad_answer_warning: AtomicU64,
}

impl Introspector {
    pub fn new(settings: IntrospectionSettings, resource: &str) -> Self {
        let user: String = url::form_urlencoded::byte_serialize(resource.as_bytes()).collect();
        let secret: String =
            url::form_urlencoded::byte_serialize(settings.secret.secret().as_bytes()).collect();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        Self {
            every_token: settings.every_token,
            authorization: format!("Basic {credentials}"),
            next_bad_answer_warning: AtomicU64::new(0),
        }
    }

    pub fn every_token(&self) -> bool {
        self.every_token
    }

    /// The AS's answer for `token`, checked for this resource.
    pub async fn introspect(
        &self,
        keys: &KeySource,
        token: &str,
        expected: &Expectations<'_>,
        now: u64,
    ) -> Result<VerifiedToken, BearerError> {
        let endpoint =
            keys.introspection_endpoint().await.map_err(|e| BearerError::Unavailable(e.to_string()))?;
        let response = keys
            .http()
            .post(&endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| BearerError::Unavailable(format!("introspection failed: {e}")))?;
        let answer: serde_json::Value =
            read_json(response, &endpoint).await.map_err(BearerError::Unavailable)?;
        // JSON, but not an RFC 7662 answer (a member of the wrong type): the AS is reachable and
        // broken. An active token whose claims cannot be read is never accepted; it is not refused
        // either (401 would make its client throw away what is probably a good token, and nothing
        // the client does can fix the AS): 503, as when the AS cannot be reached, with the cause
        // at WARN, at most once per interval, so the operator is not left guessing "unreachable?".
        let answer: IntrospectionResponse = serde_json::from_value(answer).map_err(|e| {
            let reason = format!("{endpoint} answered with JSON that is not an introspection response: {e}");
            self.warn_of_bad_answer(&reason, now);
            BearerError::Unavailable(reason)
        })?;
        verified(answer, expected, now)
    }

    fn warn_of_bad_answer(&self, reason: &str, now: u64) {
        let next = self.next_bad_answer_warning.load(Ordering::Relaxed);
        let after = now.saturating_add(crate::refusals::INTERVAL_SECS);
        if now >= next
            && self
                .next_bad_answer_warning
                .compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%reason, "the authorization server's introspection answer is unusable; requests get 503");
        }
    }
}

/// An introspection answer as a verified token, or why not (pure).
pub fn verified(
    answer: IntrospectionResponse,
    expected: &Expectations<'_>,
    now: u64,
) -> Result<VerifiedToken, BearerError> {
    let claims = answer.into_claims(expected, now)?;
    let scopes =
        Scopes::parse(claims.scope.as_deref().unwrap_or_default()).map_err(|_| Refusal::MalformedScope)?;
    Ok(VerifiedToken { claims, scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_answer_becomes_a_verified_token_with_its_scopes() {
        let answer = IntrospectionResponse {
            active: true,
            scope: Some("echo profile".into()),
            exp: Some(2000),
            aud: Some(protocol::jwt::Audience::One("http://rs".into())),
            sub: Some("u".into()),
            client_id: Some("c".into()),
            jti: Some("j".into()),
            ..Default::default()
        };
        let expected = Expectations { issuer: "http://as", audience: "http://rs" };
        let token = verified(answer.clone(), &expected, 1000).unwrap();
        assert!(token.has_all(&["echo", "profile"]));
        let bad_scope = IntrospectionResponse { scope: Some("a\"b".into()), ..answer };
        assert_eq!(
            verified(bad_scope, &expected, 1000).unwrap_err(),
            BearerError::InvalidToken(Refusal::MalformedScope)
        );
    }

    #[test]
    fn the_secret_never_prints() {
        let settings = IntrospectionSettings { secret: ClientSecret::new("hunter2"), every_token: true };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
