//! The stateless form (MCP 2026-07-28): what this server answers. The envelope (`_meta`, version,
//! routing headers) is checked by `mcp_endpoint::stateless::envelope` first; then the method must
//! exist here (else `-32601`, 404) and the client must have declared what a call needs (else
//! `-32021`, 400).

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcp_endpoint::reply::{accepted, failure, success};
use mcp_endpoint::stateless::{self as transport, cached, complete};
use protocol::mcp::{ListToolsResult, Message, Request, RpcError, error_code};
use serde_json::{Value, json};

use super::rejection;
use super::tools::{self, CallContext, CallError};
use crate::state::AppState;
use mcp_bearer::BearerError;
use mcp_bearer::VerifiedToken;

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    message: Message,
    token: &VerifiedToken,
) -> Response {
    let request = match message {
        Message::Request(request) => request,
        // Nothing to answer; and no notification changes anything on this server.
        Message::Notification(notification) => {
            return transport::check_notification(headers, &notification).map_or_else(|r| r, |()| accepted());
        }
        Message::Response(_) => return accepted(),
    };
    let envelope = match transport::envelope(headers, &request) {
        Ok(envelope) => envelope,
        Err(response) => return response,
    };
    if let Some(error) = mcp_endpoint::inbound::refusal(&request, true) {
        return failure(StatusCode::OK, Some(request.id.clone()), error);
    }
    let result = match request.method.as_str() {
        "server/discover" => {
            transport::discover(&state.mcp.capabilities(), &state.mcp.server_info, tools::INSTRUCTIONS)
        }
        "tools/list" => {
            let tools = state.mcp.tools.iter().map(|t| t.tool.clone()).collect();
            cached(serde_json::to_value(ListToolsResult { tools, next_cursor: None }).unwrap_or_default())
        }
        "prompts/list" => cached(json!({"prompts": []})),
        "resources/list" => cached(json!({"resources": []})),
        "resources/templates/list" => cached(json!({"resourceTemplates": []})),
        "tools/call" => return call_tool(state, &request, token, envelope.capabilities).await,
        other => {
            return failure(
                StatusCode::NOT_FOUND,
                Some(request.id.clone()),
                RpcError::new(error_code::METHOD_NOT_FOUND, format!("Method not found: {other}")),
            );
        }
    };
    success(request.id.clone(), complete(result, &state.mcp.server_info))
}

async fn call_tool(
    state: &AppState,
    request: &Request,
    token: &VerifiedToken,
    capabilities: &Value,
) -> Response {
    let fail = |status, error: RpcError| failure(status, Some(request.id.clone()), error);
    let (name, arguments) = match mcp_endpoint::inbound::tool_call(request.params.as_ref()) {
        Ok(call) => call,
        Err(why) => return fail(StatusCode::OK, RpcError::new(error_code::INVALID_PARAMS, why)),
    };
    let context = CallContext::new(token, Some(capabilities), &state.mcp.notes, &state.mcp.spent);
    match tools::call(&state.mcp.tools, name, &arguments, &context).await {
        Ok(result) => success(
            request.id.clone(),
            complete(serde_json::to_value(result).unwrap_or_default(), &state.mcp.server_info),
        ),
        Err(CallError::UnknownTool(name)) => {
            fail(StatusCode::OK, RpcError::new(error_code::INVALID_PARAMS, format!("Unknown tool: {name}")))
        }
        Err(CallError::InsufficientScope(needed)) => {
            rejection(state, state.guard.validator().refused(BearerError::InsufficientScope(needed)))
        }
        Err(CallError::NotTheApprovedCall) => {
            fail(StatusCode::OK, RpcError::new(error_code::INVALID_REQUEST, super::tools::NOT_APPROVED))
        }
        Err(CallError::MissingClientCapability(capability)) => {
            let mut error = RpcError::new(
                error_code::MISSING_CLIENT_CAPABILITY,
                format!("this tool needs the client's {capability} capability"),
            );
            error.data = Some(json!({"requiredCapabilities": {capability: {}}}));
            fail(StatusCode::BAD_REQUEST, error)
        }
    }
}
