//! The stateless form (MCP 2026-07-28): every request stands alone.
//!
//! Checked in the order the revision gives, each with its own error:
//! 1. `params._meta` carries `protocolVersion` and `clientCapabilities` (else `-32602`, 400);
//! 2. the `MCP-Protocol-Version` header equals `_meta`'s version (else `-32020`, 400);
//! 3. the version is one this server speaks (else `-32022`, 400, with the supported list);
//! 4. `Mcp-Method` (and `Mcp-Name` where the method has a name) match the body (else `-32020`);
//! 5. the method exists in this revision (else `-32601`, 404);
//! 6. the client declared what the call needs (else `-32021`, 400).
//!
//! Results say `resultType: "complete"`; list results also say how long they may be cached.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use protocol::mcp::{
    self, ListToolsResult, META_CLIENT_CAPABILITIES, META_SERVER_INFO, Message, Request, RpcError,
    SESSION_VERSIONS, STATELESS_VERSION, decode_header_value, error_code,
};
use serde_json::{Map, Value, json};

use super::tools::{self, CallContext, CallError};
use super::{
    MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, META_PROTOCOL_VERSION, accepted, header_str, rejection,
    rpc_response,
};
use crate::state::AppState;
use mcp_bearer::BearerError;
use mcp_bearer::VerifiedToken;

/// Seconds-free cache hint for list results: the lists depend on nothing but the deployment, but
/// they are answers to authenticated requests, so only the requesting client may keep them.
const LIST_TTL_MS: u64 = 60_000;

/// Every version `server/discover` names and a `-32022` lists: the same list in both places.
fn supported_versions() -> Vec<&'static str> {
    std::iter::once(STATELESS_VERSION).chain(SESSION_VERSIONS.iter().copied()).collect()
}

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    message: Message,
    token: &VerifiedToken,
) -> Response {
    let request = match message {
        Message::Request(request) => request,
        // Nothing to answer; and no notification changes anything on this server.
        Message::Notification(_) | Message::Response(_) => return accepted(),
    };
    let fail = |status: StatusCode, error: RpcError| {
        rpc_response(status, &mcp::Response::failure(Some(request.id.clone()), error))
    };

    let meta = request.params.as_ref().and_then(|p| p.get("_meta")).and_then(Value::as_object);
    let version = meta.and_then(|m| m.get(META_PROTOCOL_VERSION)).and_then(Value::as_str);
    let capabilities = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES)).filter(|c| c.is_object());
    let (Some(version), Some(capabilities)) = (version, capabilities) else {
        return fail(
            StatusCode::BAD_REQUEST,
            RpcError::new(
                error_code::INVALID_PARAMS,
                format!("params._meta must carry {META_PROTOCOL_VERSION} and {META_CLIENT_CAPABILITIES}"),
            ),
        );
    };
    if header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim) != Some(version) {
        return fail(
            StatusCode::BAD_REQUEST,
            RpcError::new(
                error_code::HEADER_MISMATCH,
                "the MCP-Protocol-Version header must equal the _meta protocol version",
            ),
        );
    }
    if !supported_versions().contains(&version) {
        let mut error = RpcError::new(error_code::UNSUPPORTED_VERSION, "Unsupported protocol version");
        error.data = Some(json!({"supported": supported_versions(), "requested": version}));
        return fail(StatusCode::BAD_REQUEST, error);
    }
    if let Err(why) = check_routing_headers(headers, &request) {
        return fail(StatusCode::BAD_REQUEST, RpcError::new(error_code::HEADER_MISMATCH, why));
    }

    let result = match request.method.as_str() {
        "server/discover" => discover(state),
        "tools/list" => {
            let tools = state.mcp.tools.iter().map(|t| t.tool.clone()).collect();
            cached(serde_json::to_value(ListToolsResult { tools, next_cursor: None }).unwrap_or_default())
        }
        "prompts/list" => cached(json!({"prompts": []})),
        "resources/list" => cached(json!({"resources": []})),
        "resources/templates/list" => cached(json!({"resourceTemplates": []})),
        "tools/call" => return call_tool(state, &request, token, capabilities).await,
        other => {
            return fail(
                StatusCode::NOT_FOUND,
                RpcError::new(error_code::METHOD_NOT_FOUND, format!("Method not found: {other}")),
            );
        }
    };
    rpc_response(StatusCode::OK, &mcp::Response::success(request.id.clone(), complete(state, result)))
}

/// `Mcp-Method` must equal the body's method, and `Mcp-Name` its tool name (or resource URI), after
/// trimming surrounding whitespace; names may be sent as `=?base64?…?=`.
fn check_routing_headers(headers: &HeaderMap, request: &Request) -> Result<(), String> {
    // Routing headers appear once: with two, a proxy and this server could each read another.
    for name in [&MCP_METHOD, &MCP_NAME, &MCP_PROTOCOL_VERSION] {
        if headers.get_all(name).iter().count() > 1 {
            return Err(format!("the {name} header is sent more than once"));
        }
    }
    let method = header_str(headers, &MCP_METHOD).map(str::trim);
    if method != Some(request.method.as_str()) {
        return Err(format!("the Mcp-Method header must be {:?}", request.method));
    }
    let name_key = match request.method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(key) = name_key {
        let expected =
            request.params.as_ref().and_then(|p| p.get(key)).and_then(Value::as_str).unwrap_or_default();
        let sent = header_str(headers, &MCP_NAME).map(|v| decode_header_value(v.trim()));
        if sent.as_deref() != Some(expected) {
            return Err(format!("the Mcp-Name header must be {expected:?}"));
        }
    }
    Ok(())
}

fn discover(state: &AppState) -> Value {
    cached(json!({
        "supportedVersions": supported_versions(),
        "capabilities": state.mcp.capabilities(),
        "serverInfo": state.mcp.server_info,
        "instructions": tools::INSTRUCTIONS,
    }))
}

/// Adds the cache hints list results carry.
fn cached(mut result: Value) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.insert("ttlMs".into(), json!(LIST_TTL_MS));
        object.insert("cacheScope".into(), json!("private"));
    }
    result
}

/// Marks a result complete and says who answered.
fn complete(state: &AppState, mut result: Value) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.insert("resultType".into(), json!("complete"));
        let meta = object.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(META_SERVER_INFO.into(), json!(state.mcp.server_info));
        }
    }
    result
}

async fn call_tool(
    state: &AppState,
    request: &Request,
    token: &VerifiedToken,
    capabilities: &Value,
) -> Response {
    let fail = |status, error: RpcError| {
        rpc_response(status, &mcp::Response::failure(Some(request.id.clone()), error))
    };
    let (name, arguments) = match tools::parse_call(request.params.as_ref()) {
        Ok(call) => call,
        Err(why) => return fail(StatusCode::OK, RpcError::new(error_code::INVALID_PARAMS, why)),
    };
    let context = CallContext::new(token, Some(capabilities), &state.mcp.notes);
    match tools::call(&state.mcp.tools, name, &arguments, &context).await {
        Ok(result) => {
            let result = complete(state, serde_json::to_value(result).unwrap_or_default());
            rpc_response(StatusCode::OK, &mcp::Response::success(request.id.clone(), result))
        }
        Err(CallError::UnknownTool(name)) => {
            fail(StatusCode::OK, RpcError::new(error_code::INVALID_PARAMS, format!("Unknown tool: {name}")))
        }
        Err(CallError::InsufficientScope(needed)) => {
            rejection(state, state.guard.validator().refused(BearerError::InsufficientScope(needed)))
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
