//! The token endpoint's request and response (RFC 6749 §4.1.3, §5.1; RFC 8707 §2.2).

use serde::{Deserialize, Serialize};

use crate::pkce::CodeVerifier;
use crate::secret::{AccessToken, AuthorizationCode, RefreshToken};

/// `grant_type` values this project supports.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// The form a client posts to exchange an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCodeRequest {
    pub grant_type: String,
    pub code: AuthorizationCode,
    pub redirect_uri: String,
    /// Required for public clients (RFC 6749 §4.1.3: "if the client is not authenticating"),
    /// absent when the client authenticates with `Authorization: Basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub code_verifier: CodeVerifier,
    /// RFC 8707: the same resource as in the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl AuthorizationCodeRequest {
    /// A public client's redemption of `code` for `resource`.
    pub fn new(
        code: AuthorizationCode,
        redirect_uri: impl Into<String>,
        client_id: impl Into<String>,
        code_verifier: CodeVerifier,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            grant_type: GRANT_AUTHORIZATION_CODE.to_owned(),
            code,
            redirect_uri: redirect_uri.into(),
            client_id: Some(client_id.into()),
            code_verifier,
            resource: Some(resource.into()),
        }
    }
}

/// The form a client posts to refresh (RFC 6749 §6; OAuth 2.1 §4.3). A public client names itself
/// with `client_id`; the server rotates the refresh token on every use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRequest {
    pub grant_type: String,
    pub refresh_token: RefreshToken,
    /// Required for public clients (OAuth 2.1 §3.2.1), absent when the client authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A subset of the grant's scope; absent means all of it (RFC 6749 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 8707 §2.2: must be a resource of the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl RefreshTokenRequest {
    /// A public client's refresh of `refresh_token`, for the whole grant.
    pub fn new(refresh_token: RefreshToken, client_id: impl Into<String>) -> Self {
        Self {
            grant_type: GRANT_REFRESH_TOKEN.to_owned(),
            refresh_token,
            client_id: Some(client_id.into()),
            scope: None,
            resource: None,
        }
    }
}

/// A successful token response (RFC 6749 §5.1). Sent with `Cache-Control: no-store`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// `token_type` is case-insensitive (RFC 6749 §7.1); this project only uses Bearer.
    pub fn is_bearer(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("bearer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_6749_section_5_1_example() {
        let body = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600,
                       "refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","example_parameter":"example_value"}"#;
        let response: TokenResponse = serde_json::from_str(body).unwrap();
        assert!(response.is_bearer());
        assert_eq!(response.expires_in, Some(3600));
        assert_eq!(response.access_token.secret(), "2YotnFZFEjr1zCsicMWpAA");
        assert!(!format!("{response:?}").contains("2YotnFZFEjr1zCsicMWpAA"));
    }

    #[test]
    fn parses_the_rfc_6749_section_6_refresh_example() {
        let body = "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA";
        let request: RefreshTokenRequest = serde_urlencoded::from_str(body).unwrap();
        assert_eq!(request.grant_type, GRANT_REFRESH_TOKEN);
        assert_eq!(request.refresh_token.secret(), "tGzv3JOkF0XG5Qx2TlKWIA");
        assert_eq!((&request.client_id, &request.scope, &request.resource), (&None, &None, &None));
        assert!(!format!("{request:?}").contains("tGzv3JOkF0XG5Qx2TlKWIA"));
    }

    #[test]
    fn a_public_clients_refresh_round_trips_as_a_form() {
        let mut request = RefreshTokenRequest::new(RefreshToken::new("r t"), "id");
        request.scope = Some("echo".into());
        let form = serde_urlencoded::to_string(&request).unwrap();
        assert_eq!(form, "grant_type=refresh_token&refresh_token=r+t&client_id=id&scope=echo");
        assert_eq!(serde_urlencoded::from_str::<RefreshTokenRequest>(&form).unwrap(), request);
    }

    #[test]
    fn code_request_encodes_as_a_form() {
        let request = AuthorizationCodeRequest::new(
            AuthorizationCode::new("c"),
            "http://localhost:8080/callback",
            "id",
            CodeVerifier::from_random_bytes([0; 32]),
            "http://localhost:9090",
        );
        let form = serde_urlencoded::to_string(&request).unwrap();
        assert_eq!(
            form,
            "grant_type=authorization_code&code=c&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback\
             &client_id=id&code_verifier=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&resource=http%3A%2F%2Flocalhost%3A9090"
        );
        assert_eq!(serde_urlencoded::from_str::<AuthorizationCodeRequest>(&form).unwrap(), request);
        assert!(!format!("{request:?}").contains("AAAAAAAA"), "the verifier is never printed");
    }

    #[test]
    fn a_client_authenticating_with_basic_sends_no_client_id_in_the_body() {
        // RFC 6749 §4.1.3's example, with the PKCE verifier of RFC 7636 Appendix B.
        let body = "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA\
                    &redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb\
                    &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let request: AuthorizationCodeRequest = serde_urlencoded::from_str(body).unwrap();
        assert_eq!(request.client_id, None);
        assert_eq!(request.redirect_uri, "https://client.example.com/cb");
        assert_eq!(request.code.secret(), "SplxlOBeZQQYbYS6WxSbIA");
        assert!(!serde_urlencoded::to_string(&request).unwrap().contains("client_id"));
    }
}
