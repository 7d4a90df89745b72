//! OAuth error codes and the JSON error body (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7591 §3.2.2;
//! RFC 8707 §2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every error code this project sends or understands. Codes from other servers that are not in the
/// list are kept verbatim in [`ErrorCode::Other`] so a client can still show them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    /// RFC 8707: the `resource` parameter names something this AS does not issue tokens for.
    InvalidTarget,
    /// RFC 6750: the access token is expired, revoked, malformed or for someone else.
    InvalidToken,
    /// RFC 6750: the token is fine but lacks a scope the request needs.
    InsufficientScope,
    /// RFC 7591
    InvalidRedirectUri,
    /// RFC 7591
    InvalidClientMetadata,
    /// RFC 8628 §3.5, OpenID CIBA §11: the person has not answered yet; poll again later.
    AuthorizationPending,
    /// RFC 8628 §3.5, OpenID CIBA §11: polling faster than `interval`; wait longer (5 s more).
    SlowDown,
    /// RFC 8628 §3.5, OpenID CIBA §11: the request expired before anyone answered it.
    ExpiredToken,
    /// RFC 9396 §5: `authorization_details` malformed, or of a type this server does not know.
    InvalidAuthorizationDetails,
    /// OpenID Connect Core §3.1.2.6: answering would need the person, and the client asked not to
    /// prompt.
    ConsentRequired,
    /// OpenID CIBA §13: the hint names no user this server knows.
    UnknownUserId,
    /// OpenID CIBA §13: the binding message is too long or has characters it cannot show.
    InvalidBindingMessage,
    Other(String),
}

impl ErrorCode {
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::ConsentRequired => "consent_required",
            Self::UnknownUserId => "unknown_user_id",
            Self::InvalidBindingMessage => "invalid_binding_message",
            Self::Other(code) => code,
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "invalid_request" => Self::InvalidRequest,
            "unauthorized_client" => Self::UnauthorizedClient,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "invalid_scope" => Self::InvalidScope,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_target" => Self::InvalidTarget,
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            "invalid_redirect_uri" => Self::InvalidRedirectUri,
            "invalid_client_metadata" => Self::InvalidClientMetadata,
            "authorization_pending" => Self::AuthorizationPending,
            "slow_down" => Self::SlowDown,
            "expired_token" => Self::ExpiredToken,
            "invalid_authorization_details" => Self::InvalidAuthorizationDetails,
            "consent_required" => Self::ConsentRequired,
            "unknown_user_id" => Self::UnknownUserId,
            "invalid_binding_message" => Self::InvalidBindingMessage,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(Self::parse(&value))
    }
}

/// The JSON body of an OAuth error response (token, registration, revocation endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl ErrorResponse {
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self { error, error_description: Some(description.into()), error_uri: None }
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_description {
            Some(description) => write!(f, "{}: {description}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_rfc_6749_section_5_2_example() {
        let body = r#"{"error":"invalid_request"}"#;
        let parsed: ErrorResponse = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error, ErrorCode::InvalidRequest);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), body);
    }

    #[test]
    fn unknown_codes_are_kept_verbatim() {
        let parsed: ErrorResponse =
            serde_json::from_str(r#"{"error":"temporarily_overloaded","error_description":"wait"}"#).unwrap();
        assert_eq!(parsed.error, ErrorCode::Other("temporarily_overloaded".into()));
        assert_eq!(parsed.to_string(), "temporarily_overloaded: wait");
    }

    #[test]
    fn every_known_code_parses_back_to_itself() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::UnauthorizedClient,
            ErrorCode::AccessDenied,
            ErrorCode::UnsupportedResponseType,
            ErrorCode::InvalidScope,
            ErrorCode::ServerError,
            ErrorCode::TemporarilyUnavailable,
            ErrorCode::InvalidClient,
            ErrorCode::InvalidGrant,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidTarget,
            ErrorCode::InvalidToken,
            ErrorCode::InsufficientScope,
            ErrorCode::InvalidRedirectUri,
            ErrorCode::InvalidClientMetadata,
            ErrorCode::AuthorizationPending,
            ErrorCode::SlowDown,
            ErrorCode::ExpiredToken,
            ErrorCode::InvalidAuthorizationDetails,
            ErrorCode::ConsentRequired,
            ErrorCode::UnknownUserId,
            ErrorCode::InvalidBindingMessage,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
    }
}
