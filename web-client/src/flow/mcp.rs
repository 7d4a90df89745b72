//! The MCP client side of Streamable HTTP (session-based revisions): `initialize`, then requests
//! carrying `Mcp-Session-Id` and `MCP-Protocol-Version`. Answers may be JSON or an event stream.

use protocol::mcp::{self, ListToolsResult};
use serde_json::{Map, Value, json};

use super::attempt::{Attempt, refused_or_error, with_or_without};
use super::{Boxed, FlowResult};
use crate::http::{Exchange, Outgoing};
use crate::state::{AppState, CallResult, McpSession, TokenSet};
use crate::timeline::{Outcome, Step};

/// The revision this client asks for; the server may answer an older one.
const CLIENT_PROTOCOL_VERSION: &str = "2025-11-25";
const RULE_TRANSPORT: &str = "MCP Streamable HTTP (2025-11-25)";

/// A JSON-RPC exchange's outcome.
enum Rpc {
    Result(Value),
    Refused(Attempt),
    /// 404 with a session id: the session is gone; initialize again.
    SessionGone,
}

pub async fn list_tools(app: AppState, url: &str, tokens: Option<&TokenSet>) -> FlowResult<Attempt> {
    match request(app, url, tokens, "tools/list", json!({}), "List the tools").await? {
        Ok(result) => {
            let list: ListToolsResult = serde_json::from_value(result)
                .map_err(|e| format!("tools/list answered something else: {e}"))?;
            Ok(Attempt::Done(CallResult::Tools(list.tools)))
        }
        Err(refused) => Ok(refused),
    }
}

pub async fn call_tool(
    app: AppState,
    url: &str,
    tool: &str,
    arguments: &Map<String, Value>,
    tokens: Option<&TokenSet>,
) -> FlowResult<Attempt> {
    let params = json!({"name": tool, "arguments": arguments});
    match request(app, url, tokens, "tools/call", params, &format!("Call the tool {tool}")).await? {
        Ok(result) => Ok(Attempt::Done(CallResult::ToolResult { tool: tool.to_owned(), result })),
        Err(refused) => Ok(refused),
    }
}

/// Sends `method` within a session, opening (or reopening, once) the session as needed. Boxed:
/// two callers, one copy of the state machine.
fn request<'a>(
    app: AppState,
    url: &'a str,
    tokens: Option<&'a TokenSet>,
    method: &'a str,
    params: Value,
    what: &'a str,
) -> Boxed<'a, FlowResult<Result<Value, Attempt>>> {
    Box::pin(request_inner(app, url, tokens, method, params, what))
}

async fn request_inner(
    app: AppState,
    url: &str,
    tokens: Option<&TokenSet>,
    method: &str,
    params: Value,
    what: &str,
) -> FlowResult<Result<Value, Attempt>> {
    for _ in 0..2 {
        let session = match app.session_for(url) {
            Some(session) => session,
            None => match initialize(app, url, tokens).await? {
                Ok(session) => session,
                Err(refused) => return Ok(Err(refused)),
            },
        };
        let body = json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": params});
        match rpc(app, url, tokens, Some(&session), body, &with_or_without(tokens, what)).await? {
            Rpc::Result(result) => return Ok(Ok(result)),
            Rpc::Refused(refused) => return Ok(Err(refused)),
            Rpc::SessionGone => {
                app.set_session(None, url);
                app.push(
                    Step::new("The session is gone", RULE_TRANSPORT, Outcome::Info)
                        .detail("404 for the session id: the server ended or forgot it. Initializing again."),
                );
            }
        }
    }
    Err("The server keeps losing the session.".into())
}

/// `initialize` and `notifications/initialized`; the session (possibly without an id: sessions are
/// optional for servers).
async fn initialize(
    app: AppState,
    url: &str,
    tokens: Option<&TokenSet>,
) -> FlowResult<Result<McpSession, Attempt>> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": CLIENT_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-oauth-web-client", "version": env!("CARGO_PKG_VERSION")}
    }});
    let title = with_or_without(tokens, "Initialize the MCP session");
    let response = send(app, url, tokens, None, &body, &title).await?;
    if response.status != 200 {
        return refused_or_error(app, &response, &title).map(Err);
    }
    let result = result_of(app, &response, &title)?;
    let version =
        result.get("protocolVersion").and_then(Value::as_str).unwrap_or(CLIENT_PROTOCOL_VERSION).to_owned();
    let session = McpSession {
        url: url.to_owned(),
        session_id: response.header("mcp-session-id").map(str::to_owned),
        protocol_version: version,
    };
    app.push(response.step(&title, RULE_TRANSPORT, Outcome::Ok).detail(format!(
            "negotiated protocol version {}\nsession id: {}\n{}",
            session.protocol_version,
            session
                .session_id
                .as_deref()
                .map_or("(none: a stateless server)", |_| "(received; sent back on every request)"),
            response.pretty_body()
        )));

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let title = "Tell the server initialization is done";
    let response = send(app, url, tokens, Some(&session), &initialized, title).await?;
    let outcome = if response.status == 202 || response.status == 200 { Outcome::Ok } else { Outcome::Error };
    app.push(response.step(title, RULE_TRANSPORT, outcome));
    app.set_session(Some(session.clone()), url);
    Ok(Ok(session))
}

async fn rpc(
    app: AppState,
    url: &str,
    tokens: Option<&TokenSet>,
    session: Option<&McpSession>,
    body: Value,
    title: &str,
) -> FlowResult<Rpc> {
    let response = send(app, url, tokens, session, &body, title).await?;
    match response.status {
        200 => {
            let result = result_of(app, &response, title)?;
            app.push(response.step(title, RULE_TRANSPORT, Outcome::Ok).detail(response.pretty_body()));
            Ok(Rpc::Result(result))
        }
        404 if session.is_some_and(|s| s.session_id.is_some()) => {
            app.push(response.step(title, RULE_TRANSPORT, Outcome::Info));
            Ok(Rpc::SessionGone)
        }
        _ => refused_or_error(app, &response, title).map(Rpc::Refused),
    }
}

async fn send(
    app: AppState,
    url: &str,
    tokens: Option<&TokenSet>,
    session: Option<&McpSession>,
    body: &Value,
    title: &str,
) -> FlowResult<Exchange> {
    let method = body.get("method").and_then(Value::as_str).unwrap_or("?");
    app.gate(
        title,
        &format!(
            "POST {url} with the JSON-RPC message {method}{}.",
            match session {
                Some(s) => format!(", Mcp-Session-Id and MCP-Protocol-Version: {}", s.protocol_version),
                None => String::new(),
            }
        ),
    )
    .await;
    let mut request = Outgoing::post(url, "application/json", body.to_string())
        .header("Accept", "application/json, text/event-stream")
        .bearer(tokens.map(|t| &t.access_token));
    if let Some(session) = session {
        request = request.header("MCP-Protocol-Version", session.protocol_version.clone());
        if let Some(id) = &session.session_id {
            request = request.header("Mcp-Session-Id", id.clone());
        }
    }
    request.send().await.map_err(|e| {
        app.push(e.step(title, RULE_TRANSPORT));
        format!("The MCP server at {url} could not be reached (see the timeline).")
    })
}

/// The `result` of the JSON-RPC response in a 200 answer (JSON or event stream), or its error.
fn result_of(app: AppState, response: &Exchange, title: &str) -> FlowResult<Value> {
    let is_stream = response.header("content-type").is_some_and(|t| t.starts_with("text/event-stream"));
    let messages: Vec<Value> = if is_stream {
        mcp::sse_messages(&response.body)
    } else {
        serde_json::from_str(&response.body).into_iter().collect()
    };
    let answer = messages.into_iter().find(|m| m.get("result").is_some() || m.get("error").is_some());
    let Some(answer) = answer else {
        app.push(response.step(title, RULE_TRANSPORT, Outcome::Error).detail(response.pretty_body()));
        return Err("The MCP server's answer holds no JSON-RPC response.".into());
    };
    let parsed: mcp::Response =
        serde_json::from_value(answer).map_err(|e| format!("Not a JSON-RPC response: {e}"))?;
    if let Some(error) = parsed.error {
        app.push(response.step(title, RULE_TRANSPORT, Outcome::Error).detail(response.pretty_body()));
        return Err(format!("The MCP server answered with error {}: {}", error.code, error.message));
    }
    parsed.result.ok_or_else(|| "The JSON-RPC response has no result.".into())
}
