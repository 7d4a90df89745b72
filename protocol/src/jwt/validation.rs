//! The checks an RFC 9068 access token must pass besides its signature, as pure functions: what a
//! resource server reads from the JOSE header before it looks for a key, and what it requires of the
//! claims once the signature verifies. The bearer crate runs them on every fresh token, and the fuzz
//! target runs them on anything, with no crypto library involved.

use serde::Deserialize;

use super::{ACCESS_TOKEN_TYP, AccessTokenClaims, ES256};

/// How far clocks may disagree, in seconds.
pub const LEEWAY: u64 = 30;

/// The longest actor chain (RFC 8693 `act`, nested) a token may carry: one per token exchange, and
/// a real deployment has one or two hops. A longer chain is refused rather than walked.
pub const MAX_ACTOR_DEPTH: usize = 8;

/// What a resource server expects of a token.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// Why a token was refused, before, at or after its signature check. Each names one rule, and its
/// text is safe to send back in `error_description` (it never repeats anything from the token).
/// The signature itself is checked by the bearer crate with a crypto library; its two outcomes
/// ([`Refusal::UnknownKey`], [`Refusal::BadSignature`]) are named here so one type says every way
/// a token can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not an access token (typ must be at+jwt)")]
    NotAnAccessToken,
    #[error("the token's signature algorithm is not accepted")]
    AlgorithmNotAccepted,
    #[error("the token names no signing key (kid)")]
    NoKeyId,
    #[error("the token has critical header parameters this server does not understand")]
    UnknownCriticalHeader,
    #[error("the token was issued by another authorization server")]
    OtherIssuer,
    #[error("the token is not intended for this resource")]
    OtherAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInTheFuture,
    #[error("the token's actor chain is too long")]
    ActorChainTooLong,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's claims are malformed")]
    MalformedClaims,
    #[error("the token's scope claim is malformed")]
    MalformedScope,
    /// Introspection (RFC 7662) answered `active: false`.
    #[error("the authorization server says the token is not active")]
    Inactive,
    /// An introspection answer without `exp`: nothing would bound how long it is trusted.
    #[error("the introspection answer has no expiry")]
    Undated,
    /// The resource accepts only tokens presented by one client acting for the user (a gateway in
    /// front of it), and this token's current actor (`act`) is not that client.
    #[error("this resource accepts only tokens presented through its gateway")]
    NotThroughActor,
}

/// The JOSE header members a resource server decides on (RFC 7515 §4.1). Others (`jku`, `x5u`,
/// `jwk`, …) are ignored: keys come only from the authorization server's JWKS, by `kid`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JoseHeader {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    /// RFC 7515 §4.1.11: extensions the recipient must understand or refuse the token.
    #[serde(default)]
    pub crit: Option<Vec<String>>,
}

/// Decodes the header of a compact JWS (`header.payload.signature`) without verifying anything.
pub fn parse_header(token: &str) -> Result<JoseHeader, Refusal> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

/// The header rules, decided by this server and not by the token: `typ` says access token (RFC 9068
/// §4, RFC 8725 §3.11), the algorithm is on the allow-list (`none` and HMAC can never get in, RFC
/// 8725 §3.1), a `kid` names the key, and no critical extension is asked for. Returns the `kid`.
pub fn check_header(header: &JoseHeader) -> Result<&str, Refusal> {
    if !is_access_token_typ(header.typ.as_deref()) {
        return Err(Refusal::NotAnAccessToken);
    }
    if header.alg != ES256 {
        return Err(Refusal::AlgorithmNotAccepted);
    }
    // We understand no extension, so any `crit` (even an empty one, which RFC 7515 forbids) refuses.
    if header.crit.is_some() {
        return Err(Refusal::UnknownCriticalHeader);
    }
    header.kid.as_deref().ok_or(Refusal::NoKeyId)
}

/// RFC 9068 §4 / RFC 8725 §3.11: `typ` must say this is an access token. Compared
/// case-insensitively and with the optional `application/` prefix (RFC 7515 §4.1.9).
pub fn is_access_token_typ(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.to_ascii_lowercase();
    typ == ACCESS_TOKEN_TYP || typ.strip_prefix("application/") == Some(ACCESS_TOKEN_TYP)
}

/// Checks issuer, audience, the time window and the actor chain of verified claims.
pub fn check_claims(
    claims: &AccessTokenClaims,
    expected: &Expectations<'_>,
    now: u64,
) -> Result<(), Refusal> {
    if claims.iss != expected.issuer {
        return Err(Refusal::OtherIssuer);
    }
    // No token passthrough: a token for any other audience is refused, even from our own AS.
    if !claims.aud.contains(expected.audience) {
        return Err(Refusal::OtherAudience);
    }
    if claims.exp.saturating_add(LEEWAY) <= now {
        return Err(Refusal::Expired);
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(LEEWAY)
    {
        return Err(Refusal::NotYetValid);
    }
    if claims.iat > now.saturating_add(LEEWAY) {
        return Err(Refusal::IssuedInTheFuture);
    }
    if claims.actors().nth(MAX_ACTOR_DEPTH).is_some() {
        return Err(Refusal::ActorChainTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Actor, Audience};
    use base64::Engine as _;

    const NOW: u64 = 1_800_000_000;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "http://as".into(),
            aud: Audience::One("http://rs".into()),
            sub: "u".into(),
            client_id: "c".into(),
            iat: NOW - 10,
            exp: NOW + 300,
            nbf: None,
            jti: "j".into(),
            scope: Some("echo".into()),
            auth_time: None,
            act: None,
            groups: None,
            authorization_details: None,
            client_registration: None,
        }
    }

    fn expected() -> Expectations<'static> {
        Expectations { issuer: "http://as", audience: "http://rs" }
    }

    fn chain(depth: usize) -> Option<Actor> {
        (0..depth).fold(None, |prior, i| {
            Some(Actor { sub: format!("actor-{i}"), client_id: None, iss: None, act: prior.map(Box::new) })
        })
    }

    fn token_with_header(header: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", b64(header), b64("{}"))
    }

    #[test]
    fn accepts_a_fresh_token_for_this_resource() {
        assert_eq!(check_claims(&claims(), &expected(), NOW), Ok(()));
        let many =
            AccessTokenClaims { aud: Audience::Many(vec!["x".into(), "http://rs".into()]), ..claims() };
        assert_eq!(check_claims(&many, &expected(), NOW), Ok(()));
    }

    #[test]
    fn refuses_other_issuers_and_audiences() {
        let other_iss = AccessTokenClaims { iss: "http://evil".into(), ..claims() };
        assert_eq!(check_claims(&other_iss, &expected(), NOW), Err(Refusal::OtherIssuer));
        let other_aud = AccessTokenClaims { aud: Audience::One("http://rs/".into()), ..claims() };
        assert_eq!(check_claims(&other_aud, &expected(), NOW), Err(Refusal::OtherAudience));
    }

    #[test]
    fn expiry_and_not_before_allow_only_the_leeway() {
        let expired = AccessTokenClaims { exp: NOW - LEEWAY, ..claims() };
        assert_eq!(check_claims(&expired, &expected(), NOW), Err(Refusal::Expired));
        let barely = AccessTokenClaims { exp: NOW - LEEWAY + 1, ..claims() };
        assert!(check_claims(&barely, &expected(), NOW).is_ok());
        let future = AccessTokenClaims { nbf: Some(NOW + LEEWAY + 1), ..claims() };
        assert_eq!(check_claims(&future, &expected(), NOW), Err(Refusal::NotYetValid));
        let future_iat = AccessTokenClaims { iat: NOW + 3600, ..claims() };
        assert_eq!(check_claims(&future_iat, &expected(), NOW), Err(Refusal::IssuedInTheFuture));
        // No overflow at the ends of the clock.
        let forever = AccessTokenClaims { exp: u64::MAX, ..claims() };
        assert!(check_claims(&forever, &expected(), NOW).is_ok());
        assert_eq!(check_claims(&forever, &expected(), u64::MAX), Err(Refusal::Expired));
        assert_eq!(check_claims(&claims(), &expected(), 0), Err(Refusal::IssuedInTheFuture));
    }

    #[test]
    fn an_actor_chain_is_accepted_up_to_its_limit() {
        let exchanged = AccessTokenClaims { act: chain(MAX_ACTOR_DEPTH), ..claims() };
        assert_eq!(check_claims(&exchanged, &expected(), NOW), Ok(()));
        let too_long = AccessTokenClaims { act: chain(MAX_ACTOR_DEPTH + 1), ..claims() };
        assert_eq!(check_claims(&too_long, &expected(), NOW), Err(Refusal::ActorChainTooLong));
    }

    #[test]
    fn typ_must_name_an_access_token() {
        assert!(is_access_token_typ(Some("at+jwt")));
        assert!(is_access_token_typ(Some("application/AT+JWT")));
        assert!(!is_access_token_typ(Some("JWT")));
        assert!(!is_access_token_typ(Some("application/jwt")));
        assert!(!is_access_token_typ(None));
    }

    #[test]
    fn the_header_decides_typ_alg_kid_and_crit() {
        let header = |json: &str| parse_header(&token_with_header(json));
        let good = header(r#"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#).unwrap();
        assert_eq!(check_header(&good), Ok("k1"));
        let cases = [
            (r#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#, Refusal::NotAnAccessToken),
            (r#"{"alg":"ES256","kid":"k1"}"#, Refusal::NotAnAccessToken),
            (r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#, Refusal::AlgorithmNotAccepted),
            (r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#, Refusal::AlgorithmNotAccepted),
            (r#"{"alg":"es256","typ":"at+jwt","kid":"k1"}"#, Refusal::AlgorithmNotAccepted),
            (r#"{"alg":"ES256","typ":"at+jwt"}"#, Refusal::NoKeyId),
            (r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#, Refusal::UnknownCriticalHeader),
        ];
        for (json, refusal) in cases {
            assert_eq!(check_header(&header(json).unwrap()), Err(refusal), "{json}");
        }
    }

    #[test]
    fn only_a_compact_jws_with_a_json_header_parses() {
        assert_eq!(parse_header("a.b"), Err(Refusal::Malformed));
        assert_eq!(parse_header("a.b.c.d"), Err(Refusal::Malformed));
        assert_eq!(parse_header("!!.e30.c2ln"), Err(Refusal::Malformed));
        assert_eq!(parse_header(&token_with_header("[1]")), Err(Refusal::Malformed));
        assert_eq!(parse_header(&token_with_header(r#"{"typ":"at+jwt"}"#)), Err(Refusal::Malformed));
    }
}
