//! The checks an RFC 9068 access token must pass once its signature is verified (pure).

use protocol::jwt::{ACCESS_TOKEN_TYP, AccessTokenClaims};

/// How far clocks may disagree, in seconds.
pub const LEEWAY: u64 = 30;

/// What this resource server expects of a token.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// RFC 9068 §4 / RFC 8725 §3.11: `typ` must say this is an access token. Compared
/// case-insensitively and with the optional `application/` prefix (RFC 7515 §4.1.9).
pub fn is_access_token_typ(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.to_ascii_lowercase();
    typ == ACCESS_TOKEN_TYP || typ.strip_prefix("application/") == Some(ACCESS_TOKEN_TYP)
}

/// Checks issuer, audience and the time window. Returns a description of the first failure.
pub fn check(claims: &AccessTokenClaims, expected: &Expectations<'_>, now: u64) -> Result<(), String> {
    if claims.iss != expected.issuer {
        return Err("the token was issued by another authorization server".into());
    }
    // No token passthrough: a token for any other audience is refused, even from our own AS.
    if !claims.aud.contains(expected.audience) {
        return Err("the token is not intended for this resource".into());
    }
    if claims.exp.saturating_add(LEEWAY) <= now {
        return Err("the token has expired".into());
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(LEEWAY)
    {
        return Err("the token is not valid yet".into());
    }
    if claims.iat > now.saturating_add(LEEWAY) {
        return Err("the token was issued in the future".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::jwt::Audience;

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
        }
    }

    fn expected() -> Expectations<'static> {
        Expectations { issuer: "http://as", audience: "http://rs" }
    }

    #[test]
    fn accepts_a_fresh_token_for_this_resource() {
        assert_eq!(check(&claims(), &expected(), NOW), Ok(()));
        let many =
            AccessTokenClaims { aud: Audience::Many(vec!["x".into(), "http://rs".into()]), ..claims() };
        assert_eq!(check(&many, &expected(), NOW), Ok(()));
    }

    #[test]
    fn refuses_other_issuers_and_audiences() {
        let other_iss = AccessTokenClaims { iss: "http://evil".into(), ..claims() };
        assert!(check(&other_iss, &expected(), NOW).is_err());
        let other_aud = AccessTokenClaims { aud: Audience::One("http://rs/".into()), ..claims() };
        assert!(check(&other_aud, &expected(), NOW).is_err());
    }

    #[test]
    fn expiry_and_not_before_allow_only_the_leeway() {
        let expired = AccessTokenClaims { exp: NOW - LEEWAY, ..claims() };
        assert!(check(&expired, &expected(), NOW).is_err());
        let barely = AccessTokenClaims { exp: NOW - LEEWAY + 1, ..claims() };
        assert!(check(&barely, &expected(), NOW).is_ok());
        let future = AccessTokenClaims { nbf: Some(NOW + LEEWAY + 1), ..claims() };
        assert!(check(&future, &expected(), NOW).is_err());
        let future_iat = AccessTokenClaims { iat: NOW + 3600, ..claims() };
        assert!(check(&future_iat, &expected(), NOW).is_err());
    }

    #[test]
    fn typ_must_name_an_access_token() {
        assert!(is_access_token_typ(Some("at+jwt")));
        assert!(is_access_token_typ(Some("application/AT+JWT")));
        assert!(!is_access_token_typ(Some("JWT")));
        assert!(!is_access_token_typ(None));
    }
}
