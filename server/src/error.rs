//! How authorization failures reach the wire (RFC 6750 §3, RFC 9728 §5.1, MCP authorization).
//!
//! | failure | status | challenge |
//! |---|---|---|
//! | no token | 401 | `Bearer resource_metadata=…, scope=…` |
//! | token bad in any way | 401 | … `error="invalid_token"` |
//! | token lacks a scope | 403 | … `error="insufficient_scope", scope="<all needed>"` |
//! | malformed request (token in the query, two credentials) | 400 | … `error="invalid_request"` |
//! | keys unavailable, nothing cached | 503 | — |
//!
//! Every response carries the `resource_metadata` URL so a client can always start discovery.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::challenge::BearerChallenge;
use protocol::error::{ErrorCode, ErrorResponse};
use protocol::scope::Scopes;

/// Why a request was not allowed through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no access token")]
    Missing,
    #[error("malformed request: {0}")]
    InvalidRequest(String),
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("the token lacks scope; needs {0}")]
    InsufficientScope(Scopes),
    #[error("cannot verify tokens right now: {0}")]
    Unavailable(String),
}

/// An [`AuthError`] with what the challenge needs: where the metadata is, what scope to ask for.
#[derive(Debug)]
pub struct Rejection {
    pub error: AuthError,
    pub resource_metadata: String,
    pub scope: Scopes,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self.error {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, None, None),
            AuthError::InvalidRequest(d) => {
                (StatusCode::BAD_REQUEST, Some(ErrorCode::InvalidRequest), Some(d.clone()))
            }
            AuthError::InvalidToken(d) => {
                (StatusCode::UNAUTHORIZED, Some(ErrorCode::InvalidToken), Some(d.clone()))
            }
            AuthError::InsufficientScope(needed) => (
                StatusCode::FORBIDDEN,
                Some(ErrorCode::InsufficientScope),
                Some(format!("this request needs the scopes: {needed}")),
            ),
            AuthError::Unavailable(d) => {
                tracing::warn!(reason = %d, "token verification unavailable");
                let body =
                    ErrorResponse::new(ErrorCode::TemporarilyUnavailable, "cannot verify tokens right now");
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return response;
            }
        };
        // For step-up the error carries the union of granted and needed scopes; otherwise the
        // challenge names what the route needs, so the first authorization asks for enough.
        let scope = match &self.error {
            AuthError::InsufficientScope(union) => union,
            _ => &self.scope,
        };
        let challenge = BearerChallenge {
            resource_metadata: Some(self.resource_metadata),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            error: code.clone(),
            error_description: description.clone(),
            ..Default::default()
        };
        // RFC 6750 defines no body; this one repeats the challenge for people reading responses. A
        // request without credentials gets no OAuth error code, as in the challenge (§3.1).
        let body = ErrorResponse {
            error: code.unwrap_or_else(|| ErrorCode::Other("unauthorized".into())),
            error_description: Some(description.unwrap_or_else(|| "an access token is required".into())),
            error_uri: None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge.to_header_value()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
