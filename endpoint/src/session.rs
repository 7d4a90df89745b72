//! The session-based form (MCP 2025-03-26 … 2025-11-25): `initialize` opens a session whose id
//! (`Mcp-Session-Id`) every later request carries. What a server answers inside a session is its
//! own; these are the steps around it.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::mcp::{self, Implementation, InitializeResult, Request, SESSION_VERSIONS, error_code};
use serde_json::Value;

use crate::reply::{rpc_error, success};
use crate::sessions::{Owner, Sessions, Touched};
use crate::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID, header_str};

/// A version header, when sent, must name a revision spoken here (2025-06-18 transport spec).
pub fn check_version(headers: &HeaderMap) -> Result<(), Response> {
    match header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim) {
        Some(version) if !SESSION_VERSIONS.contains(&version) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            error_code::SERVER_ERROR,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {version:?}; supported: {}",
                SESSION_VERSIONS.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// Who a server is, as `initialize` tells it.
pub struct ServerInfo<'a> {
    pub capabilities: Value,
    pub implementation: &'a Implementation,
    pub instructions: Option<&'a str>,
}

/// Answers `initialize`: negotiates the version and opens a session owned by `owner`.
pub fn initialize(
    sessions: &Sessions,
    request: &Request,
    owner: &Owner<'_>,
    server: ServerInfo<'_>,
) -> Response {
    let requested = request.params.as_ref().and_then(|p| p.get("protocolVersion")).and_then(Value::as_str);
    let Some(requested) = requested else {
        return rpc_error(
            StatusCode::OK,
            Some(request.id.clone()),
            error_code::INVALID_PARAMS,
            "protocolVersion is required",
        );
    };
    let version = mcp::negotiate_version(requested);
    let capabilities =
        request.params.as_ref().and_then(|p| p.get("capabilities")).cloned().unwrap_or(Value::Null);
    let session_id = sessions.open_with(owner, version, capabilities);
    let result = InitializeResult {
        protocol_version: version.to_owned(),
        capabilities: server.capabilities,
        server_info: server.implementation.clone(),
        instructions: server.instructions.map(str::to_owned),
    };
    let mut response = success(request.id.clone(), serde_json::to_value(result).unwrap_or_default());
    if let Ok(value) = HeaderValue::from_str(&session_id) {
        response.headers_mut().insert(MCP_SESSION_ID, value);
    }
    response
}

/// The live session a request names, owned by `owner`.
pub fn require(sessions: &Sessions, headers: &HeaderMap, owner: &Owner<'_>) -> Result<Touched, Response> {
    let Some(session_id) = header_str(headers, &MCP_SESSION_ID) else {
        return Err(missing_session());
    };
    // Unknown, expired, closed, or someone else's: all look the same from outside.
    sessions.find(session_id, owner).ok_or_else(session_not_found)
}

/// `DELETE` with a session id: ends the session.
pub fn close(sessions: &Sessions, headers: &HeaderMap, owner: &Owner<'_>) -> Response {
    let Some(session_id) = header_str(headers, &MCP_SESSION_ID) else {
        return missing_session();
    };
    if sessions.close(session_id, owner) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        session_not_found()
    }
}

fn missing_session() -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        error_code::SERVER_ERROR,
        "Bad Request: Mcp-Session-Id header is required",
    )
}

fn session_not_found() -> Response {
    rpc_error(StatusCode::NOT_FOUND, None, error_code::SERVER_ERROR, "Session not found")
}
