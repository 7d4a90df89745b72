//! Token introspection (RFC 7662) and revocation (RFC 7009) bodies.

use serde::{Deserialize, Serialize};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl IntrospectionResponse {
    pub fn inactive() -> Self {
        Self::default()
    }
}

/// `token_type_hint` values of RFC 7009 §2.1 and RFC 7662 §2.1.
pub const HINT_ACCESS_TOKEN: &str = "access_token";
pub const HINT_REFRESH_TOKEN: &str = "refresh_token";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_is_only_the_active_flag() {
        assert_eq!(serde_json::to_string(&IntrospectionResponse::inactive()).unwrap(), r#"{"active":false}"#);
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
