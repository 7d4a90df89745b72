//! The session-based form (MCP 2025-03-26 … 2025-11-25): what this server answers inside a
//! session. Opening, finding and closing sessions is `mcp_endpoint::session`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcp_endpoint::reply::{accepted, failure, rpc_error, success};
use mcp_endpoint::session::{self as transport, ServerInfo};
use protocol::mcp::{self, ListToolsResult, Message, Request, error_code};
use serde_json::json;

use super::tools::{self, CallContext, CallError, INSTRUCTIONS, NOT_APPROVED};
use super::{owner, rejection};
use crate::state::AppState;
use mcp_bearer::BearerError;
use mcp_bearer::VerifiedToken;

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    message: Message,
    token: &VerifiedToken,
) -> Response {
    if let Err(response) = transport::check_version(headers) {
        return response;
    }
    if let Message::Request(request) = &message
        && request.method == "initialize"
    {
        let server = ServerInfo {
            capabilities: state.mcp.capabilities(),
            implementation: &state.mcp.server_info,
            instructions: Some(INSTRUCTIONS),
        };
        return transport::initialize(&state.mcp.sessions, request, &owner(token), server);
    }
    // A request without the version header is assumed to speak 2025-03-26; nothing this server
    // does differs between the session revisions, so the session's version is not needed here.
    if let Err(response) = transport::require(&state.mcp.sessions, headers, &owner(token)) {
        return response;
    }
    match message {
        Message::Request(request) => dispatch(state, &request, token).await,
        Message::Notification(_) | Message::Response(_) => accepted(),
    }
}

async fn dispatch(state: &AppState, request: &Request, token: &VerifiedToken) -> Response {
    let error = |code, message: String| rpc_error(StatusCode::OK, Some(request.id.clone()), code, message);
    let ok = |result| success(request.id.clone(), result);
    if let Some(refused) = mcp_endpoint::inbound::refusal(request, false) {
        return failure(StatusCode::OK, Some(request.id.clone()), refused);
    }
    match request.method.as_str() {
        "ping" => ok(json!({})),
        "tools/list" => {
            let tools = state.mcp.tools.iter().map(|t| t.tool.clone()).collect();
            ok(serde_json::to_value(ListToolsResult { tools, next_cursor: None }).unwrap_or_default())
        }
        "prompts/list" => ok(json!({"prompts": []})),
        "resources/list" => ok(json!({"resources": []})),
        "resources/templates/list" => ok(json!({"resourceTemplates": []})),
        "tools/call" => {
            let (name, arguments) = match mcp_endpoint::inbound::tool_call(request.params.as_ref()) {
                Ok(call) => call,
                Err(why) => return error(error_code::INVALID_PARAMS, why.into()),
            };
            let context = CallContext::new(token, None, &state.mcp.notes, &state.mcp.spent);
            match tools::call(&state.mcp.tools, name, &arguments, &context).await {
                Ok(result) => ok(serde_json::to_value(result).unwrap_or_default()),
                Err(CallError::UnknownTool(name)) => {
                    error(error_code::INVALID_PARAMS, format!("Unknown tool: {name}"))
                }
                Err(CallError::InsufficientScope(needed)) => {
                    rejection(state, state.guard.validator().refused(BearerError::InsufficientScope(needed)))
                }
                Err(CallError::NotTheApprovedCall) => error(error_code::INVALID_REQUEST, NOT_APPROVED.into()),
                Err(CallError::MissingClientCapability(capability)) => {
                    ok(serde_json::to_value(mcp::CallToolResult::error(format!(
                        "this tool needs the client's {capability} capability"
                    )))
                    .unwrap_or_default())
                }
            }
        }
        other => error(error_code::METHOD_NOT_FOUND, format!("Method not found: {other}")),
    }
}
