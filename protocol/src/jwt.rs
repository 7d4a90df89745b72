//! JWT access tokens (RFC 9068) and the JSON Web Keys that verify them (RFC 7517, RFC 7518 §6.2).
//!
//! Signing and verification need a crypto library and live in the servers; this module holds what
//! both sides must agree on: the claims, the header type and the key format.

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

#[cfg(test)]
mod tests {
    use super::*;

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
