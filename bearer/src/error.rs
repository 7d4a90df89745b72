//! How authorization failures reach the wire (RFC 6750 §3, RFC 9728 §5.1, MCP authorization).
//!
//! | failure | status | challenge |
//! |---|---|---|
//! | no token | 401 | `Bearer resource_metadata=…, scope=…` |
//! | token bad in any way | 401 | … `error="invalid_token"` |
//! | token lacks a scope | 403 | … `error="insufficient_scope", scope="<all needed>"` |
//! | malformed request (token in the query, two credentials) | 400 | … `error="invalid_request"` |
//! | keys unavailable: nothing cached, or the token's `kid` not cached and the JWKS not fetchable | 503 | — (`Retry-After`) |
//!
//! Every challenge carries the `resource_metadata` URL so a client can always start discovery.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::challenge::BearerChallenge;
use protocol::error::{ErrorCode, ErrorResponse};
use protocol::jwt::validation::Refusal;
use protocol::scope::Scopes;

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no access token")]
    Missing,
    #[error("malformed request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid token: {0}")]
    InvalidToken(Refusal),
    #[error("the token lacks scope; needs {0}")]
    InsufficientScope(Scopes),
    /// The keys (or the introspection endpoint) could not be reached and nothing cached can
    /// decide: the server's problem, not the client's.
    #[error("cannot verify tokens right now: {0}")]
    Unavailable(String),
}

impl From<Refusal> for BearerError {
    fn from(refusal: Refusal) -> Self {
        Self::InvalidToken(refusal)
    }
}

impl BearerError {
    /// A short stable label for counting refusals by kind (the OAuth error code where there is one).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// A [`BearerError`] with what the challenge needs: where the metadata is, what scope to ask for.
#[derive(Debug)]
pub struct Rejection {
    pub error: BearerError,
    pub resource_metadata: String,
    /// What the route needs: the `scope` of a challenge that is not a step-up.
    pub scope: Scopes,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self.error {
            BearerError::Missing => (StatusCode::UNAUTHORIZED, None, None),
            BearerError::InvalidRequest(d) => {
                (StatusCode::BAD_REQUEST, Some(ErrorCode::InvalidRequest), Some((*d).to_owned()))
            }
            BearerError::InvalidToken(refusal) => {
                (StatusCode::UNAUTHORIZED, Some(ErrorCode::InvalidToken), Some(refusal.to_string()))
            }
            BearerError::InsufficientScope(needed) => (
                StatusCode::FORBIDDEN,
                Some(ErrorCode::InsufficientScope),
                Some(format!("this request needs the scopes: {needed}")),
            ),
            BearerError::Unavailable(_) => {
                // The reason stays in the server's log (see `refusals`); the client learns only
                // that it should come back.
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
            BearerError::InsufficientScope(union) => union,
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
