//! The authorization request (RFC 6749 §4.1.1 with PKCE and RFC 8707) and the redirect that answers
//! it (RFC 6749 §4.1.2, RFC 9207); the server's checks of the request are in [`validation`].

pub mod validation;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;

use crate::error::ErrorCode;
use crate::pkce::{CodeChallenge, S256};
use crate::secret::AuthorizationCode;

/// The query of the authorization request a client sends the browser to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub response_type: String,
    pub client_id: String,
    pub redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub state: String,
    pub code_challenge: CodeChallenge,
    pub code_challenge_method: String,
    /// RFC 8707 resource indicator: the MCP server the token is for.
    pub resource: String,
}

impl AuthorizationRequest {
    /// A code-flow request with an S256 challenge.
    pub fn new(
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
        scope: Option<String>,
        state: impl Into<String>,
        code_challenge: CodeChallenge,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            response_type: "code".into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scope,
            state: state.into(),
            code_challenge,
            code_challenge_method: S256.into(),
            resource: resource.into(),
        }
    }

    /// The authorization endpoint URL with this request appended to any query it already has
    /// (RFC 6749 §3.1 allows the endpoint to carry its own query, which must be kept).
    pub fn to_url(&self, authorization_endpoint: &str) -> Result<String, url::ParseError> {
        let mut url = Url::parse(authorization_endpoint)?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("response_type", &self.response_type);
            query.append_pair("client_id", &self.client_id);
            query.append_pair("redirect_uri", &self.redirect_uri);
            if let Some(scope) = &self.scope {
                query.append_pair("scope", scope);
            }
            query.append_pair("state", &self.state);
            query.append_pair("code_challenge", self.code_challenge.as_str());
            query.append_pair("code_challenge_method", &self.code_challenge_method);
            query.append_pair("resource", &self.resource);
        }
        Ok(url.into())
    }
}

/// The query parameters the authorization server redirects back with, success or error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackParams {
    #[serde(default)]
    pub code: Option<AuthorizationCode>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorCode>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Why a redirect back to the client must not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the redirect carries no `state`")]
    MissingState,
    #[error("the `state` does not match the one this browser sent, or was already used")]
    StateMismatch,
    #[error("the redirect carries no `iss` although the authorization server promised one (RFC 9207)")]
    MissingIssuer,
    #[error("`iss` is {found:?} but the request went to {expected:?}: possible mix-up attack (RFC 9207)")]
    IssuerMismatch { expected: String, found: String },
    #[error("the authorization server answered {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    AuthorizationServer { error: ErrorCode, description: Option<String> },
    #[error("the redirect carries neither `code` nor `error`")]
    MissingCode,
}

/// What the client remembered when it sent the browser away.
pub struct ExpectedCallback<'a> {
    pub state: &'a str,
    pub issuer: &'a str,
    /// `authorization_response_iss_parameter_supported` from the AS metadata.
    pub issuer_parameter_required: bool,
}

impl CallbackParams {
    /// Applies the checks of RFC 6749 §10.12 (state) and RFC 9207 §2.4 (iss), in that order, then
    /// returns the code or the authorization server's error.
    ///
    /// `iss` is checked before `error` is reported: an error page from a mixed-up AS is itself
    /// something the user should not be shown as if it came from the right one.
    pub fn into_code(self, expected: &ExpectedCallback<'_>) -> Result<AuthorizationCode, CallbackError> {
        let state = self.state.ok_or(CallbackError::MissingState)?;
        if !bool::from(state.as_bytes().ct_eq(expected.state.as_bytes())) {
            return Err(CallbackError::StateMismatch);
        }
        match self.iss {
            Some(iss) if iss != expected.issuer => {
                return Err(CallbackError::IssuerMismatch {
                    expected: expected.issuer.to_owned(),
                    found: iss,
                });
            }
            None if expected.issuer_parameter_required => return Err(CallbackError::MissingIssuer),
            _ => {}
        }
        if let Some(error) = self.error {
            return Err(CallbackError::AuthorizationServer { error, description: self.error_description });
        }
        self.code.ok_or(CallbackError::MissingCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkce::CodeVerifier;

    fn expected() -> ExpectedCallback<'static> {
        ExpectedCallback { state: "xyz", issuer: "http://localhost:9000", issuer_parameter_required: true }
    }

    fn callback(query: &str) -> CallbackParams {
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn request_url_keeps_the_endpoint_query_and_encodes_every_parameter() {
        let challenge = CodeChallenge::s256(&CodeVerifier::from_random_bytes([1; 32]));
        let request = AuthorizationRequest::new(
            "client 1",
            "http://localhost:8080/callback",
            Some("echo profile".into()),
            "xyz",
            challenge.clone(),
            "http://localhost:9090",
        );
        let url = Url::parse(&request.to_url("https://as.example.com/authorize?tenant=a").unwrap()).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("tenant".into(), "a".into()));
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("client 1"));
        assert_eq!(get("scope"), Some("echo profile"));
        assert_eq!(get("code_challenge"), Some(challenge.as_str()));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("resource"), Some("http://localhost:9090"));
    }

    #[test]
    fn accepts_a_matching_state_and_issuer() {
        let code = callback("code=abc&state=xyz&iss=http%3A%2F%2Flocalhost%3A9000").into_code(&expected());
        assert_eq!(code.unwrap().secret(), "abc");
    }

    #[test]
    fn rejects_a_wrong_or_missing_state() {
        assert_eq!(
            callback("code=abc&state=other").into_code(&expected()),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(callback("code=abc").into_code(&expected()), Err(CallbackError::MissingState));
    }

    #[test]
    fn rejects_a_wrong_issuer_and_a_missing_one_when_promised() {
        let wrong = callback("code=abc&state=xyz&iss=https%3A%2F%2Fevil.example").into_code(&expected());
        assert!(matches!(wrong, Err(CallbackError::IssuerMismatch { .. })));
        let missing = callback("code=abc&state=xyz").into_code(&expected());
        assert_eq!(missing, Err(CallbackError::MissingIssuer));
        let not_promised = ExpectedCallback { issuer_parameter_required: false, ..expected() };
        assert!(callback("code=abc&state=xyz").into_code(&not_promised).is_ok());
    }

    #[test]
    fn reports_the_authorization_servers_error() {
        let denied = callback("error=access_denied&error_description=The+user+said+no&state=xyz&iss=http%3A%2F%2Flocalhost%3A9000")
            .into_code(&expected());
        assert_eq!(
            denied,
            Err(CallbackError::AuthorizationServer {
                error: ErrorCode::AccessDenied,
                description: Some("The user said no".into())
            })
        );
    }
}
