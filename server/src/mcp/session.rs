//! The session-based form (MCP 2025-03-26 … 2025-11-25).

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::mcp::{
    self, InitializeResult, ListToolsResult, Message, Request, SESSION_VERSIONS, error_code,
};
use serde_json::{Value, json};

use super::sessions::Owner;
use super::tools::{self, CallContext, CallError, INSTRUCTIONS};
use super::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID, accepted, header_str, rejection, rpc_error, rpc_response};
use crate::state::AppState;
use mcp_bearer::BearerError;
use mcp_bearer::VerifiedToken;

fn owner(token: &VerifiedToken) -> Owner<'_> {
    Owner { subject: &token.claims.sub, client_id: &token.claims.client_id }
}

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    message: Message,
    token: &VerifiedToken,
) -> Response {
    // A version header, when sent, must name a revision we speak (2025-06-18 transport spec).
    let version = header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim);
    if let Some(version) = version
        && !SESSION_VERSIONS.contains(&version)
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            error_code::SERVER_ERROR,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {version:?}; supported: {}",
                SESSION_VERSIONS.join(", ")
            ),
        );
    }

    if let Message::Request(request) = &message
        && request.method == "initialize"
    {
        return initialize(state, request, token);
    }

    let Some(session_id) = header_str(headers, &MCP_SESSION_ID) else {
        return missing_session();
    };
    // A request without the version header is assumed to speak 2025-03-26; nothing this server
    // does differs between the session revisions, so the session's version is not needed here.
    if state.mcp.sessions.touch(session_id, &owner(token)).is_none() {
        // Unknown, expired, closed, or someone else's: all look the same from outside.
        return rpc_error(StatusCode::NOT_FOUND, None, error_code::SERVER_ERROR, "Session not found");
    }

    match message {
        Message::Request(request) => dispatch(state, &request, token).await,
        Message::Notification(_) | Message::Response(_) => accepted(),
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

fn initialize(state: &AppState, request: &Request, token: &VerifiedToken) -> Response {
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
    let session_id = state.mcp.sessions.open(&owner(token), version);
    let result = InitializeResult {
        protocol_version: version.to_owned(),
        capabilities: state.mcp.capabilities(),
        server_info: state.mcp.server_info.clone(),
        instructions: Some(INSTRUCTIONS.into()),
    };
    let mut response = success(request, serde_json::to_value(result).unwrap_or_default());
    if let Ok(value) = HeaderValue::from_str(&session_id) {
        response.headers_mut().insert(MCP_SESSION_ID, value);
    }
    response
}

fn success(request: &Request, result: Value) -> Response {
    rpc_response(StatusCode::OK, &mcp::Response::success(request.id.clone(), result))
}

async fn dispatch(state: &AppState, request: &Request, token: &VerifiedToken) -> Response {
    let error = |code, message: String| rpc_error(StatusCode::OK, Some(request.id.clone()), code, message);
    match request.method.as_str() {
        "ping" => success(request, json!({})),
        "tools/list" => {
            let tools = state.mcp.tools.iter().map(|t| t.tool.clone()).collect();
            success(
                request,
                serde_json::to_value(ListToolsResult { tools, next_cursor: None }).unwrap_or_default(),
            )
        }
        "prompts/list" => success(request, json!({"prompts": []})),
        "resources/list" => success(request, json!({"resources": []})),
        "resources/templates/list" => success(request, json!({"resourceTemplates": []})),
        "tools/call" => {
            let (name, arguments) = match tools::parse_call(request.params.as_ref()) {
                Ok(call) => call,
                Err(why) => return error(error_code::INVALID_PARAMS, why.into()),
            };
            let context = CallContext::new(token, None, &state.mcp.notes);
            match tools::call(&state.mcp.tools, name, &arguments, &context).await {
                Ok(result) => success(request, serde_json::to_value(result).unwrap_or_default()),
                Err(CallError::UnknownTool(name)) => {
                    error(error_code::INVALID_PARAMS, format!("Unknown tool: {name}"))
                }
                Err(CallError::InsufficientScope(needed)) => {
                    rejection(state, state.guard.validator().refused(BearerError::InsufficientScope(needed)))
                }
                Err(CallError::MissingClientCapability(capability)) => success(
                    request,
                    serde_json::to_value(mcp::CallToolResult::error(format!(
                        "this tool needs the client's {capability} capability"
                    )))
                    .unwrap_or_default(),
                ),
            }
        }
        other => error(error_code::METHOD_NOT_FOUND, format!("Method not found: {other}")),
    }
}

/// `DELETE /mcp` with a session id.
pub fn close(state: &AppState, headers: &HeaderMap, token: &VerifiedToken) -> Response {
    let Some(session_id) = header_str(headers, &MCP_SESSION_ID) else {
        return missing_session();
    };
    if state.mcp.sessions.close(session_id, &owner(token)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        rpc_error(StatusCode::NOT_FOUND, None, error_code::SERVER_ERROR, "Session not found")
    }
}
