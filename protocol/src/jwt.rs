//! JWT access tokens (RFC 9068) and the JSON Web Keys that verify them (RFC 7517, RFC 7518 §6.2).
//!
//! Signing and verification need a crypto library and live in the servers; this module holds what
//! both sides must agree on: the claims, the header type and the key format. The checks a token
//! must pass around its signature (header, issuer, audience, time window, actor chain) are pure and
//! live in [`validation`], so they can be tested and fuzzed without any crypto.

pub mod validation;

use serde::{Deserialize, Serialize};

/// RFC 9068 §2.1: the `typ` header of a JWT access token. Checking it keeps an ID token or any
/// other JWT signed by the same key from being replayed as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The one signature algorithm this project issues (ECDSA P-256 SHA-256).
pub const ES256: &str = "ES256";

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(one) => one == value,
            Audience::Many(many) => many.iter().any(|a| a == value),
        }
    }
}

/// The claims of an RFC 9068 access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The resource the token is for (RFC 8707); the resource server refuses any other.
    pub aud: Audience,
    pub sub: String,
    pub client_id: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
    /// Space-delimited, as in the token response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// RFC 8693 §4.1: the party acting for `sub`, when this token came from a token exchange (a
    /// gateway calling an upstream for a user). `None` for a token the user's own client holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The groups the user belongs to, in tokens for resources configured to receive them, so a
    /// policy downstream can say "members of `admins` may delete".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// RFC 9396 §9.1: what a person approved this token for (one tool call), on tokens issued
    /// after an out-of-band approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<crate::authorization_details::AuthorizationDetail>>,
    /// How the client named by `client_id` came to be registered at the authorization server, one
    /// of [`client_registration`]'s values, so a policy downstream can treat an operator's client
    /// apart from one anyone registered. A token obtained by exchange or after an approval carries
    /// its subject token's (its `client_id` is the subject's). Absent from tokens issued before
    /// the claim existed; kept as a string so a value added later does not make a token unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_registration: Option<String>,
}

/// The values of [`AccessTokenClaims::client_registration`].
pub mod client_registration {
    /// Registered by the authorization server's operator (`mcp-auth clients add`).
    pub const PREREGISTERED: &str = "preregistered";
    /// Registered by anyone through dynamic client registration (RFC 7591).
    pub const DYNAMIC: &str = "dynamic";
    /// Identified by the URL of a Client ID Metadata Document the authorization server fetched.
    pub const METADATA_DOCUMENT: &str = "metadata_document";
}

impl AccessTokenClaims {
    /// The actor chain, current actor first, then each earlier one (RFC 8693 §4.1: "the
    /// outermost act claim represents the current actor while nested act claims represent prior
    /// actors"). Empty for a token used by the client it was issued to.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(self.act.as_ref(), |actor| actor.act.as_deref())
    }
}

/// An actor (RFC 8693 §4.1): who is using a token on behalf of its subject. Only identity claims
/// are meaningful inside `act`; others (`exp`, `aud`, …) are ignored, as the RFC says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    /// The OAuth client acting, when the authorization server names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The actor before this one, for a token exchanged more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// A public JSON Web Key; the fields of an EC P-256 key plus the common ones.
/// Private members (`d`) are deliberately absent, so a private key can never be serialized here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// RFC 7517 §5.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

/// A JWT's header and claims, decoded **without verifying anything**: for showing a token to a
/// person (the SPA's timeline), never for deciding whether to trust it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedJwt {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
}

/// Why a string could not be shown as a JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a compact JWT: {0}")]
pub struct NotAJwt(&'static str);

/// Splits a compact JWS and decodes its first two parts. See [`UnverifiedJwt`].
pub fn decode_unverified(token: &str) -> Result<UnverifiedJwt, NotAJwt> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(NotAJwt("expected three dot-separated parts"));
    };
    let decode = |part: &str| -> Result<serde_json::Value, NotAJwt> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| NotAJwt("a part is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| NotAJwt("a part is not JSON"))
    };
    Ok(UnverifiedJwt { header: decode(header)?, claims: decode(claims)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_header_and_claims_for_display() {
        let token = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1In0.c2ln";
        let decoded = decode_unverified(token).unwrap();
        assert_eq!(decoded.header["typ"], "at+jwt");
        assert_eq!(decoded.claims["sub"], "u");
        assert!(decode_unverified("a.b").is_err());
        assert!(decode_unverified("a.b.c.d").is_err());
        assert!(decode_unverified("!!.e30.c2ln").is_err());
    }

    #[test]
    fn audience_accepts_a_string_or_an_array() {
        let one: Audience = serde_json::from_str(r#""https://rs.example.com""#).unwrap();
        let many: Audience = serde_json::from_str(r#"["a","https://rs.example.com"]"#).unwrap();
        assert!(one.contains("https://rs.example.com"));
        assert!(many.contains("https://rs.example.com"));
        assert!(!many.contains("b"));
    }

    #[test]
    fn parses_the_rfc_9068_example_claims() {
        let body = r#"{"iss": "https://authorization-server.example.com/",
          "sub": "5ba552d67", "aud": "https://rs.example.com/", "exp": 1639528912,
          "iat": 1618354090, "jti": "dbe39bf3a3ba4238a513f51d6e1691c4",
          "client_id": "s6BhdRkqt3", "scope": "openid profile reademail"}"#;
        let claims: AccessTokenClaims = serde_json::from_str(body).unwrap();
        assert_eq!(claims.client_id, "s6BhdRkqt3");
        assert!(claims.aud.contains("https://rs.example.com/"));
        assert_eq!(claims.actors().count(), 0);
        assert_eq!(claims.client_registration, None, "a token without the claim still reads");
    }

    #[test]
    fn the_client_registration_claim_round_trips_and_is_left_out_when_unknown() {
        let body = r#"{"iss": "i", "sub": "u", "aud": "a", "exp": 2, "iat": 1, "jti": "j",
          "client_id": "c", "client_registration": "dynamic"}"#;
        let claims: AccessTokenClaims = serde_json::from_str(body).unwrap();
        assert_eq!(claims.client_registration.as_deref(), Some(client_registration::DYNAMIC));
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["client_registration"], "dynamic");
        let unknown = AccessTokenClaims { client_registration: None, ..claims };
        assert!(serde_json::to_value(&unknown).unwrap().get("client_registration").is_none());
    }

    #[test]
    fn the_actor_chain_of_the_rfc_8693_example_reads_current_actor_first() {
        // RFC 8693 §4.1, the nested example, with the claims a JWT access token needs around it.
        let body = r#"{"iss": "https://issuer.example.com", "aud": "https://consumer.example.com",
          "iat": 1443904100, "exp": 1443904177, "jti": "j", "client_id": "c",
          "sub": "user@example.com",
          "act": {"sub": "consumer.example.com-web-application", "exp": 1,
                  "act": {"sub": "admin@example.com"}}}"#;
        let claims: AccessTokenClaims = serde_json::from_str(body).unwrap();
        let chain: Vec<&str> = claims.actors().map(|a| a.sub.as_str()).collect();
        assert_eq!(chain, ["consumer.example.com-web-application", "admin@example.com"]);
        let written = serde_json::to_value(&claims).unwrap();
        assert_eq!(written["act"]["act"]["sub"], "admin@example.com");
        assert!(written["act"].get("exp").is_none(), "non-identity claims inside act are not kept");
    }

    #[test]
    fn private_key_members_are_dropped() {
        let body = r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"SECRET","kid":"k1"}"#;
        let jwk: Jwk = serde_json::from_str(body).unwrap();
        assert!(!serde_json::to_string(&jwk).unwrap().contains("SECRET"));
        let set = JwkSet { keys: vec![jwk] };
        assert!(set.find("k1").is_some() && set.find("k2").is_none());
    }
}
