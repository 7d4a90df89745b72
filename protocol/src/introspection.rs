//! Token introspection (RFC 7662) and revocation (RFC 7009) bodies.

use serde::{Deserialize, Serialize};

use crate::jwt::validation::{self, Expectations, Refusal};
use crate::jwt::{AccessTokenClaims, Audience};
use crate::secret::{AccessToken, RefreshToken, RevocableToken};

/// RFC 7662 §2.2. An inactive token is `{"active": false}` and nothing else, so that introspection
/// tells a caller nothing about tokens it may not know about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// A string or an array of strings (RFC 7662 §2.2 points to RFC 7519 §4.1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The claims of an RFC 9068 token a resource server may rely on, carried over as the token
    /// has them (RFC 7662 §2.2 allows any claim of the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<crate::jwt::Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<crate::authorization_details::AuthorizationDetail>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_registration: Option<String>,
}

impl IntrospectionResponse {
    pub fn inactive() -> Self {
        Self::default()
    }

    /// An answer about an access token, as the claims a resource server would have read from it,
    /// or why the token must be refused: not active, for another resource or issuer, expired or
    /// undated, without whom it speaks for, or failing any check a JWT's claims must pass (pure).
    /// A missing `iss` is the configured issuer's, since it was asked.
    ///
    /// RFC 7662 §2.2 makes every member but `active` optional, but a resource server keys what it
    /// keeps on `sub` (whose notes, whose sessions), names `client_id` in what it records, and
    /// spends a call-bound token by `jti`: an answer without one of them would read as the empty
    /// string, the same for every token, and so one user would get another's notes. Such an
    /// answer is refused like a JWT without these claims (RFC 9068 §2.2 requires all three), with
    /// [`Refusal::MalformedClaims`].
    pub fn into_claims(self, expected: &Expectations<'_>, now: u64) -> Result<AccessTokenClaims, Refusal> {
        if !self.active {
            return Err(Refusal::Inactive);
        }
        if !self.aud.as_ref().is_some_and(|aud| aud.contains(expected.audience)) {
            return Err(Refusal::OtherAudience);
        }
        if self.iss.as_deref().is_some_and(|iss| iss != expected.issuer) {
            return Err(Refusal::OtherIssuer);
        }
        let exp = self.exp.ok_or(Refusal::Undated)?;
        if exp <= now {
            return Err(Refusal::Expired);
        }
        let named = |member: Option<String>| member.filter(|m| !m.is_empty()).ok_or(Refusal::MalformedClaims);
        let claims = AccessTokenClaims {
            iss: expected.issuer.to_owned(),
            aud: Audience::One(expected.audience.to_owned()),
            sub: named(self.sub)?,
            client_id: named(self.client_id)?,
            iat: self.iat.unwrap_or(now),
            exp,
            nbf: None,
            jti: named(self.jti)?,
            scope: Some(self.scope.unwrap_or_default()),
            auth_time: self.auth_time,
            act: self.act,
            groups: self.groups,
            authorization_details: self.authorization_details,
            client_registration: self.client_registration,
        };
        // The rules a verified JWT's claims must pass (issued in the future, actor chain too
        // long, …), so that the two ways of accepting a token cannot drift apart.
        validation::check_claims(&claims, expected, now)?;
        Ok(claims)
    }
}

/// `token_type_hint` values of RFC 7009 §2.1 and RFC 7662 §2.1.
pub const HINT_ACCESS_TOKEN: &str = "access_token";
pub const HINT_REFRESH_TOKEN: &str = "refresh_token";

/// A revocation request (RFC 7009 §2.1). `token` may be an access or a refresh token, so it is
/// held as the generic [`RevocableToken`] secret; the hint only says which kind to try first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRequest {
    pub token: RevocableToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<String>,
    /// Required for public clients, which cannot authenticate (RFC 7009 §2.1, OAuth 2.1 §2.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl RevocationRequest {
    /// A public client's revocation of a refresh token (which ends its whole grant here).
    pub fn refresh_token(token: &RefreshToken, client_id: impl Into<String>) -> Self {
        Self {
            token: RevocableToken::new(token.secret()),
            token_type_hint: Some(HINT_REFRESH_TOKEN.to_owned()),
            client_id: Some(client_id.into()),
        }
    }

    /// A public client's revocation of an access token.
    pub fn access_token(token: &AccessToken, client_id: impl Into<String>) -> Self {
        Self {
            token: RevocableToken::new(token.secret()),
            token_type_hint: Some(HINT_ACCESS_TOKEN.to_owned()),
            client_id: Some(client_id.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECTED: Expectations<'static> = Expectations { issuer: "http://as", audience: "http://rs" };

    fn active() -> IntrospectionResponse {
        IntrospectionResponse {
            active: true,
            scope: Some("echo".into()),
            client_id: Some("c".into()),
            exp: Some(2000),
            sub: Some("u".into()),
            aud: Some(Audience::One("http://rs".into())),
            iss: Some("http://as".into()),
            jti: Some("j".into()),
            client_registration: Some("dynamic".into()),
            ..Default::default()
        }
    }

    #[test]
    fn an_active_answer_for_this_resource_reads_as_claims() {
        let claims = active().into_claims(&EXPECTED, 1000).unwrap();
        assert_eq!((claims.sub.as_str(), claims.scope.as_deref()), ("u", Some("echo")));
        assert!(claims.aud.contains("http://rs"));
        assert_eq!(claims.client_registration.as_deref(), Some("dynamic"));
        let no_iss = IntrospectionResponse { iss: None, ..active() }.into_claims(&EXPECTED, 1000).unwrap();
        assert_eq!(no_iss.iss, "http://as");
    }

    #[test]
    fn inactive_foreign_expired_or_undated_answers_are_refused() {
        let cases = [
            (IntrospectionResponse::inactive(), Refusal::Inactive),
            (
                IntrospectionResponse { aud: Some(Audience::One("http://other".into())), ..active() },
                Refusal::OtherAudience,
            ),
            (
                IntrospectionResponse { aud: Some(Audience::Many(vec!["http://other".into()])), ..active() },
                Refusal::OtherAudience,
            ),
            (IntrospectionResponse { aud: None, ..active() }, Refusal::OtherAudience),
            (IntrospectionResponse { iss: Some("http://evil".into()), ..active() }, Refusal::OtherIssuer),
            (IntrospectionResponse { exp: Some(1000), ..active() }, Refusal::Expired),
            (IntrospectionResponse { exp: None, ..active() }, Refusal::Undated),
        ];
        for (answer, refusal) in cases {
            assert_eq!(answer.clone().into_claims(&EXPECTED, 1000), Err(refusal), "{answer:?}");
        }
    }

    #[test]
    fn an_answer_that_does_not_say_whose_token_it_is_is_refused() {
        // RFC 7662 §2.2 allows leaving these out; read as "", every such token would be the same
        // user's, the same client's and the same token.
        let cases = [
            IntrospectionResponse { sub: None, ..active() },
            IntrospectionResponse { sub: Some(String::new()), ..active() },
            IntrospectionResponse { client_id: None, ..active() },
            IntrospectionResponse { client_id: Some(String::new()), ..active() },
            IntrospectionResponse { jti: None, ..active() },
            IntrospectionResponse { jti: Some(String::new()), ..active() },
        ];
        for answer in cases {
            assert_eq!(
                answer.clone().into_claims(&EXPECTED, 1000),
                Err(Refusal::MalformedClaims),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn an_answer_passes_the_same_claim_checks_as_a_jwt() {
        let future = IntrospectionResponse { iat: Some(1000 + validation::LEEWAY + 1), ..active() };
        assert_eq!(future.into_claims(&EXPECTED, 1000), Err(Refusal::IssuedInTheFuture));
        let chain = (0..=validation::MAX_ACTOR_DEPTH).fold(None, |prior, i| {
            Some(crate::jwt::Actor {
                sub: format!("a{i}"),
                client_id: None,
                iss: None,
                act: prior.map(Box::new),
            })
        });
        let too_long = IntrospectionResponse { act: chain, ..active() };
        assert_eq!(too_long.into_claims(&EXPECTED, 1000), Err(Refusal::ActorChainTooLong));
    }

    #[test]
    fn an_audience_array_naming_this_resource_is_accepted() {
        // RFC 7662 §2.2 allows an array; it used to fail to parse, which read as "AS unreachable".
        let body = r#"{"active": true, "aud": ["http://elsewhere", "http://rs"], "exp": 2000,
          "sub": "u", "client_id": "c", "jti": "j", "scope": "echo"}"#;
        let answer: IntrospectionResponse = serde_json::from_str(body).unwrap();
        let claims = answer.into_claims(&EXPECTED, 1000).unwrap();
        assert!(claims.aud.contains("http://rs"));
        // And a one-string audience still serialises as a string, as the AS sends it.
        let one = serde_json::to_value(active()).unwrap();
        assert_eq!(one["aud"], "http://rs");
    }

    #[test]
    fn inactive_is_only_the_active_flag() {
        assert_eq!(serde_json::to_string(&IntrospectionResponse::inactive()).unwrap(), r#"{"active":false}"#);
    }

    #[test]
    fn parses_the_rfc_7009_section_2_1_example_and_never_prints_the_token() {
        let body = "token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token";
        let request: RevocationRequest = serde_urlencoded::from_str(body).unwrap();
        assert_eq!(request.token.secret(), "45ghiukldjahdnhzdauz");
        assert_eq!(request.token_type_hint.as_deref(), Some(HINT_REFRESH_TOKEN));
        assert_eq!(request.client_id, None);
        assert!(!format!("{request:?}").contains("45ghiukldjahdnhzdauz"));
    }

    #[test]
    fn a_public_clients_revocation_encodes_as_a_form() {
        let request = RevocationRequest::refresh_token(&RefreshToken::new("rt"), "id");
        let form = serde_urlencoded::to_string(&request).unwrap();
        assert_eq!(form, "token=rt&token_type_hint=refresh_token&client_id=id");
        assert_eq!(serde_urlencoded::from_str::<RevocationRequest>(&form).unwrap(), request);
    }

    #[test]
    fn parses_the_rfc_7662_example() {
        let body = r#"{"active": true, "client_id": "l238j323ds-23ij4", "username": "jdoe",
          "scope": "read write dolphin", "sub": "Z5O3upPC88QrAjx00dis", "aud": "https://protected.example.net/resource",
          "iss": "https://server.example.com/", "exp": 1419356238, "iat": 1419350238,
          "extension_field": "twenty-seven"}"#;
        let parsed: IntrospectionResponse = serde_json::from_str(body).unwrap();
        assert!(parsed.active);
        assert_eq!(parsed.scope.as_deref(), Some("read write dolphin"));
    }
}
