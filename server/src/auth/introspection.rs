//! Introspection mode (RFC 7662): ask the authorization server whether a token is active.
//!
//! Used for tokens that are not JWTs (opaque tokens from another AS), and, when configured, for
//! every token: then a revocation at the AS takes effect at once instead of at the token's `exp`,
//! at the price of one call to the AS per request. The resource server authenticates with HTTP
//! Basic: the form-urlencoded resource identifier and the introspection secret the AS was given
//! for it (`mcp-auth --introspection-credential "<resource> <secret>"`).

use base64::Engine as _;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::{AccessTokenClaims, Audience};
use protocol::scope::Scopes;

use super::VerifiedToken;
use super::keys::{KeySource, read_json};
use crate::error::AuthError;

/// How the resource server introspects.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    pub secret: String,
    /// Introspect JWTs too (after checking them locally), so that revocation is immediate.
    pub every_token: bool,
}

pub struct Introspector {
    settings: IntrospectionSettings,
    authorization: String,
}

impl Introspector {
    pub fn new(settings: IntrospectionSettings, resource: &str) -> Self {
        let user: String = url::form_urlencoded::byte_serialize(resource.as_bytes()).collect();
        let secret: String = url::form_urlencoded::byte_serialize(settings.secret.as_bytes()).collect();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        Self { settings, authorization: format!("Basic {credentials}") }
    }

    pub fn every_token(&self) -> bool {
        self.settings.every_token
    }

    /// The AS's answer for `token`, checked for this resource.
    pub async fn introspect(
        &self,
        keys: &KeySource,
        token: &str,
        issuer: &str,
        resource: &str,
        now: u64,
    ) -> Result<VerifiedToken, AuthError> {
        let endpoint =
            keys.introspection_endpoint().await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let response = keys
            .http()
            .post(&endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(format!("introspection failed: {e}")))?;
        let answer: IntrospectionResponse =
            read_json(response, &endpoint).await.map_err(AuthError::Unavailable)?;
        check(answer, issuer, resource, now)
    }
}

/// An introspection answer as a verified token, or why not (pure).
pub fn check(
    answer: IntrospectionResponse,
    issuer: &str,
    resource: &str,
    now: u64,
) -> Result<VerifiedToken, AuthError> {
    let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
    if !answer.active {
        return Err(invalid("the authorization server says the token is not active"));
    }
    if answer.aud.as_deref() != Some(resource) {
        return Err(invalid("the token is not intended for this resource"));
    }
    if answer.iss.as_deref().is_some_and(|iss| iss != issuer) {
        return Err(invalid("the token was issued by another authorization server"));
    }
    let exp = answer.exp.ok_or_else(|| invalid("the introspection answer has no expiry"))?;
    if exp <= now {
        return Err(invalid("the token has expired"));
    }
    let scope = answer.scope.unwrap_or_default();
    let scopes = Scopes::parse(&scope).map_err(|_| invalid("the token's scope is malformed"))?;
    Ok(VerifiedToken {
        claims: AccessTokenClaims {
            iss: answer.iss.unwrap_or_else(|| issuer.to_owned()),
            aud: Audience::One(resource.to_owned()),
            sub: answer.sub.unwrap_or_default(),
            client_id: answer.client_id.unwrap_or_default(),
            iat: answer.iat.unwrap_or(now),
            exp,
            nbf: None,
            jti: answer.jti.unwrap_or_default(),
            scope: Some(scope),
            auth_time: None,
        },
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> IntrospectionResponse {
        IntrospectionResponse {
            active: true,
            scope: Some("echo".into()),
            client_id: Some("c".into()),
            exp: Some(2000),
            sub: Some("u".into()),
            aud: Some("http://rs".into()),
            iss: Some("http://as".into()),
            ..Default::default()
        }
    }

    #[test]
    fn an_active_answer_for_this_resource_is_a_verified_token() {
        let token = check(active(), "http://as", "http://rs", 1000).unwrap();
        assert_eq!(token.claims.sub, "u");
        assert!(token.scopes.contains("echo"));
    }

    #[test]
    fn inactive_foreign_expired_or_undated_answers_are_invalid_tokens() {
        let cases = [
            IntrospectionResponse::inactive(),
            IntrospectionResponse { aud: Some("http://other".into()), ..active() },
            IntrospectionResponse { aud: None, ..active() },
            IntrospectionResponse { iss: Some("http://evil".into()), ..active() },
            IntrospectionResponse { exp: Some(999), ..active() },
            IntrospectionResponse { exp: None, ..active() },
        ];
        for answer in cases {
            assert!(
                matches!(
                    check(answer.clone(), "http://as", "http://rs", 1000),
                    Err(AuthError::InvalidToken(_))
                ),
                "{answer:?}"
            );
        }
    }
}
