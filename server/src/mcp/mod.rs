//! `/mcp`: the MCP Streamable HTTP endpoint.
//!
//! Every request is authenticated first (401/403 challenges as for any protected resource); then
//! the body is read as one JSON-RPC message and handled in one of the two forms the spec has had:
//!
//! * [`session`]: revisions 2025-03-26 to 2025-11-25. `initialize` opens a session
//!   (`Mcp-Session-Id`), later requests carry it and `MCP-Protocol-Version`.
//! * [`stateless`]: revision 2026-07-28. No handshake, no session; each request carries its
//!   version in a header and in `params._meta`, and names itself in `Mcp-Method` / `Mcp-Name`.
//!
//! A request is the stateless kind when its `MCP-Protocol-Version` header says 2026-07-28 or its
//! `_meta` names a protocol version; everything else is the session kind.
//!
//! Answers are always `application/json` (a server may choose JSON over SSE for any request) and
//! compact: some clients read a body line by line.

mod notes_tools;
mod session;
pub mod sessions;
mod stateless;
pub mod tools;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::mcp::{self, Implementation, Message, RequestId, RpcError, STATELESS_VERSION, error_code};
use protocol::scope::Scopes;
use serde_json::Value;

use crate::state::AppState;
use mcp_bearer::BearerError;
use mcp_bearer::VerifiedToken;
use sessions::Sessions;
use tools::ToolSpec;

// The transport's header names, spelt once in `protocol` for the server and both clients.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static(mcp::header::SESSION_ID);
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static(mcp::header::PROTOCOL_VERSION);
pub const MCP_METHOD: HeaderName = HeaderName::from_static(mcp::header::METHOD);
pub const MCP_NAME: HeaderName = HeaderName::from_static(mcp::header::NAME);

pub use protocol::mcp::META_PROTOCOL_VERSION;

/// What the MCP endpoint needs: its tools, its sessions, who it is.
pub struct McpService {
    pub tools: Vec<ToolSpec>,
    pub sessions: Sessions,
    pub server_info: Implementation,
    /// What the notes tools read and write.
    pub notes: crate::notes::Notes,
}

impl McpService {
    pub fn new(conformance_tools: bool, notes: crate::notes::Notes) -> Self {
        Self {
            notes,
            tools: tools::catalog(conformance_tools),
            sessions: Sessions::new(10_000, std::time::Duration::from_secs(30 * 60)),
            server_info: Implementation {
                name: "mcp-oauth-reference-server".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                title: Some("MCP OAuth reference server".into()),
            },
        }
    }

    /// The capabilities this server declares: tools, plus empty prompts and resources (stateless
    /// clients list them, and an unknown method would be an error rather than an empty list).
    pub fn capabilities(&self) -> Value {
        serde_json::json!({"tools": {"listChanged": false}, "prompts": {"listChanged": false}, "resources": {}})
    }
}

/// An HTTP answer carrying a JSON-RPC message.
pub fn rpc_response(status: StatusCode, message: &mcp::Response) -> Response {
    let body = serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// A JSON-RPC error at the given HTTP status.
pub fn rpc_error(
    status: StatusCode,
    id: Option<RequestId>,
    code: i64,
    message: impl Into<String>,
) -> Response {
    rpc_response(status, &mcp::Response::failure(id, RpcError::new(code, message)))
}

/// `202 Accepted`, no body: a notification or a response was received.
fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// The challenge for `/mcp`: the scope a client needs to do anything useful here.
fn rejection(state: &AppState, error: BearerError) -> Response {
    state.guard.rejection(error, Scopes::from_tokens(["echo"]).unwrap_or_default()).into_response()
}

/// The token of an MCP request (refusals are counted and logged by the validator).
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Arc<VerifiedToken>, Response> {
    state.guard.validator().verify_request(headers, None).await.map_err(|e| rejection(state, e))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The largest JSON-RPC message `POST /mcp` reads. The tools take short arguments; a larger body
/// is refused with `413` rather than buffered.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// `POST /mcp`
pub async fn post(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // Authenticate before reading the body: a stranger without a token never makes this server
    // buffer anything.
    let token = match authenticate(&state, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let content_type = header_str(&headers, &header::CONTENT_TYPE).unwrap_or_default();
    if !content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            error_code::SERVER_ERROR,
            "Content-Type must be application/json",
        );
    }
    // Clients must accept JSON and SSE; this server only ever answers JSON, so it refuses only a
    // client that explicitly cannot take JSON.
    if let Some(accept) = header_str(&headers, &header::ACCEPT)
        && !accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).any(|t| {
            t.eq_ignore_ascii_case("application/json")
                || t == "*/*"
                || t.eq_ignore_ascii_case("application/*")
        })
    {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            error_code::SERVER_ERROR,
            "Accept must allow application/json",
        );
    }
    let body = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            let (status, message) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the message is larger than {MAX_MESSAGE_BYTES} bytes"),
                )
            } else {
                (StatusCode::BAD_REQUEST, "the body could not be read".to_owned())
            };
            return rpc_error(status, None, error_code::INVALID_REQUEST, message);
        }
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                error_code::PARSE_ERROR,
                format!("Parse error: {e}"),
            );
        }
    };
    let message = match mcp::classify(value) {
        Ok(message) => message,
        Err((id, error)) => return rpc_response(StatusCode::BAD_REQUEST, &mcp::Response::failure(id, error)),
    };
    if is_stateless(&headers, &message) {
        stateless::handle(&state, &headers, message, &token).await
    } else {
        session::handle(&state, &headers, message, &token).await
    }
}

/// Stateless if the version header says so or the request's `_meta` carries a version.
fn is_stateless(headers: &HeaderMap, message: &Message) -> bool {
    if header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim) == Some(STATELESS_VERSION) {
        return true;
    }
    let params = match message {
        Message::Request(request) => request.params.as_ref(),
        Message::Notification(notification) => notification.params.as_ref(),
        Message::Response(_) => None,
    };
    params.and_then(|p| p.get("_meta")).and_then(|m| m.get(META_PROTOCOL_VERSION)).is_some()
}

/// `GET /mcp`: this server offers no server-to-client stream.
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = authenticate(&state, &headers).await {
        return response;
    }
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
}

/// `DELETE /mcp`: ends a session.
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = match authenticate(&state, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    session::close(&state, &headers, &token)
}
