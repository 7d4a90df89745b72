//! The token endpoint's request and response (RFC 6749 §4.1.3, §5.1; RFC 8707 §2.2).

use serde::{Deserialize, Serialize};

use crate::authorization_details::AuthorizationDetail;
use crate::pkce::CodeVerifier;
use crate::secret::{AccessToken, AuthReqId, AuthorizationCode, RefreshToken};

/// `grant_type` values this project supports.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// RFC 8693 §2.1: token exchange.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// OpenID CIBA Core §10.1: collecting the token of an out-of-band approval.
pub const GRANT_CIBA: &str = "urn:openid:params:grant-type:ciba";

/// RFC 8693 §3: the token type of an OAuth access token, in `subject_token_type`,
/// `requested_token_type` and `issued_token_type`.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 7523 §2.2: `client_assertion_type` of `private_key_jwt` client authentication.
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
    /// RFC 8693 §2.2.1: what was issued, in a token exchange response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    /// RFC 9396 §7: what the token was approved for, when the request described it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<AuthorizationDetail>>,
}

/// A token exchange request (RFC 8693 §2.1) of a confidential client, which authenticates on its
/// own (not in this body). This project exchanges access tokens it issued for tokens of another
/// of its resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExchangeRequest {
    pub grant_type: String,
    pub subject_token: AccessToken,
    pub subject_token_type: String,
    /// RFC 8707: the resource the new token is for.
    pub resource: String,
    /// At most the subject token's scopes that the resource knows; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_token_type: Option<String>,
}

impl TokenExchangeRequest {
    /// Exchange `subject_token` for a token for `resource` with `scope` (all the subject's
    /// scopes the resource knows, when `None`).
    pub fn new(subject_token: AccessToken, resource: impl Into<String>, scope: Option<String>) -> Self {
        Self {
            grant_type: GRANT_TOKEN_EXCHANGE.to_owned(),
            subject_token,
            subject_token_type: TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
            resource: resource.into(),
            scope,
            requested_token_type: None,
        }
    }
}

/// A request to the backchannel authentication endpoint (OpenID CIBA Core §7.1, adapted): a
/// confidential client (a gateway) asks the person `login_hint` to approve one tool call,
/// described in `authorization_details` (RFC 9396, a JSON array of one `mcp_tool_call`), acting on
/// `subject_token`. The client authenticates on its own (not in this body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackchannelAuthenticationRequest {
    pub login_hint: String,
    pub subject_token: AccessToken,
    pub authorization_details: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_expiry: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `none`: only a standing approval may answer; `consent`: ask the person whatever stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Seconds: only a standing approval the person gave at most this long ago may answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_max_age: Option<u64>,
}

/// The answer of the backchannel authentication endpoint (OpenID CIBA Core §7.3): the handle to
/// poll with, how long it lives and how often polling is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackchannelAuthenticationResponse {
    pub auth_req_id: AuthReqId,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
}

/// Polling the token endpoint for the answer to an out-of-band approval (OpenID CIBA Core §10.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CibaTokenRequest {
    pub grant_type: String,
    pub auth_req_id: AuthReqId,
}

impl CibaTokenRequest {
    pub fn new(auth_req_id: AuthReqId) -> Self {
        Self { grant_type: GRANT_CIBA.to_owned(), auth_req_id }
    }
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
