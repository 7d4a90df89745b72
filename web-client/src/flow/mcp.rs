//! The MCP client over Streamable HTTP, driving `protocol::mcp_client` (the same core as the
//! agent): it says what to POST with which headers and what each answer means; this module sends
//! through `fetch`, records every exchange in the timeline, and hands `401`/`403` back to the
//! flow, as it does a gateway's answer that the call waits for a person's approval.

use protocol::mcp::{Approval, CallToolParams, CallToolResult, Implementation, ListToolsResult, header};
use protocol::mcp_client::{Answer, Body, Connection, Outgoing as Message, Purpose, Restart, Step as Next};
use serde_json::{Map, Value};

use super::attempt::{Attempt, refused_or_error, with_or_without};
use super::{Boxed, FlowResult, approval};
use crate::http::{Exchange, Outgoing};
use crate::state::{AppState, CallResult, TokenSet};
use crate::timeline::{Outcome, Step};

/// The revision this client asks for; the server may answer an older one.
const CLIENT_PROTOCOL_VERSION: &str = "2025-11-25";
const RULE_TRANSPORT: &str = "MCP Streamable HTTP (2025-11-25)";

pub async fn list_tools(app: AppState, url: &str, tokens: Option<&TokenSet>) -> FlowResult<Attempt> {
    match request(app, url, tokens, "tools/list", None, "List the tools").await? {
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
    let params = CallToolParams { name: tool.to_owned(), arguments: Some(arguments.clone()) };
    let params = serde_json::to_value(params).map_err(|e| e.to_string())?;
    match request(app, url, tokens, "tools/call", Some(params), &format!("Call the tool {tool}")).await? {
        Ok(result) => {
            // A tool that ran and failed is a result with `isError`, shown as such; only a call
            // that could not be made is an error.
            let result: CallToolResult = serde_json::from_value(result)
                .map_err(|e| format!("tools/call answered something else: {e}"))?;
            Ok(Attempt::Done(CallResult::ToolResult { tool: tool.to_owned(), result }))
        }
        Err(refused) => Ok(refused),
    }
}

/// Runs `method` through the protocol core on this tab's connection to `url` (opening or
/// reopening the session as it says). Boxed: two callers, one copy of the state machine.
fn request<'a>(
    app: AppState,
    url: &'a str,
    tokens: Option<&'a TokenSet>,
    method: &'a str,
    params: Option<Value>,
    what: &'a str,
) -> Boxed<'a, FlowResult<Result<Value, Attempt>>> {
    Box::pin(async move {
        let mut connection = match app.connection_for(url) {
            Some(connection) => connection,
            None => Connection::new(CLIENT_PROTOCOL_VERSION, client_info()).map_err(|e| e.to_string())?,
        };
        let outcome = drive(app, url, tokens, &mut connection, method, params, what).await;
        // The session survives a refusal: the call is sent again on it once a token is in hand.
        // Not after *Log out / forget*, which cleared the sessions: this one was opened with the
        // forgotten user's token, and the next user's calls must not ride on it.
        if app.still_running().is_ok() {
            app.set_connection(url, connection);
        }
        outcome
    })
}

async fn drive(
    app: AppState,
    url: &str,
    tokens: Option<&TokenSet>,
    connection: &mut Connection,
    method: &str,
    params: Option<Value>,
    what: &str,
) -> FlowResult<Result<Value, Attempt>> {
    let mut next = connection.begin(method, params);
    loop {
        let message = match next {
            Next::Done(result) => return Ok(Ok(result)),
            Next::Failed(error) => {
                // A call waiting for a person's approval is not over: the flow waits and calls again.
                if let Some(approval) = approval::approval_in(&error) {
                    let message = approval::message_in(&error);
                    return Ok(Err(Attempt::Approval { approval, message }));
                }
                return Err(format!("The MCP server's answer cannot be used: {error}."));
            }
            Next::Send(message) => message,
        };
        match &message.restart {
            Some(Restart::SessionExpired) => app.push(
                Step::new("The session is gone", RULE_TRANSPORT, Outcome::Info)
                    .detail("404 for the session id: the server ended or forgot it. Initializing again."),
            ),
            Some(Restart::VersionFallback { from, to }) => app.push(
                Step::new("Switch the protocol version", "MCP 2026-07-28 (-32022)", Outcome::Info).detail(
                    format!("The server does not speak {from}; it speaks {to}, which this client does too."),
                ),
            ),
            None => {}
        }
        let title = match message.purpose {
            Purpose::Initialize => with_or_without(tokens, "Initialize the MCP session"),
            Purpose::Initialized => "Tell the server initialization is done".to_owned(),
            Purpose::Request => with_or_without(tokens, what),
        };
        let response = send(app, url, tokens, &message, &title).await?;
        if matches!(response.status, 401 | 403) {
            return refused_or_error(app, &response, &title).map(Err);
        }
        next = connection.on_answer(Answer {
            status: response.status,
            content_type: response.header("content-type"),
            session_id: response.header(header::SESSION_ID),
            body: Body::Text(&response.body),
        });
        record(app, connection, &message, &response, &title, &next);
    }
}

/// The exchange in the timeline: an error if the call failed on it, information if it starts the
/// call over, else done; the answer to `initialize` with what it negotiated.
fn record(
    app: AppState,
    connection: &Connection,
    message: &Message,
    response: &Exchange,
    title: &str,
    next: &Next,
) {
    let outcome = match next {
        Next::Failed(error) if matches!(approval::approval_in(error), Some(Approval::Pending { .. })) => {
            Outcome::Info
        }
        Next::Failed(_) => Outcome::Error,
        Next::Send(following) if following.restart.is_some() => Outcome::Info,
        _ => Outcome::Ok,
    };
    let step = response.step(title, RULE_TRANSPORT, outcome);
    let step = match (message.purpose, outcome) {
        (Purpose::Initialized, Outcome::Ok) => step,
        (Purpose::Initialize, Outcome::Ok) => step.detail(format!(
            "negotiated protocol version {}\nsession id: {}\n{}",
            connection.version(),
            connection
                .session_id()
                .map_or("(none: a stateless server)", |_| "(received; sent back on every request)"),
            response.pretty_body()
        )),
        _ => step.detail(response.pretty_body()),
    };
    app.push(step);
}

async fn send(
    app: AppState,
    url: &str,
    tokens: Option<&TokenSet>,
    message: &Message,
    title: &str,
) -> FlowResult<Exchange> {
    let sent = |name: &str| message.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let carried = match (sent(header::SESSION_ID), sent(header::PROTOCOL_VERSION)) {
        (Some(_), Some(version)) => format!(", Mcp-Session-Id and MCP-Protocol-Version: {version}"),
        (None, Some(version)) => format!(", MCP-Protocol-Version: {version}"),
        _ => String::new(),
    };
    app.gate(title, &format!("POST {url} with the JSON-RPC message {}{carried}.", message.method)).await?;
    let mut request =
        Outgoing::post(url, "application/json", message.body.clone()).bearer(tokens.map(|t| &t.access_token));
    for (name, value) in &message.headers {
        request = request.header(name, value.clone());
    }
    request.send().await.map_err(|e| {
        app.push(e.step(title, RULE_TRANSPORT));
        format!("The MCP server at {url} could not be reached (see the timeline).")
    })
}

fn client_info() -> Implementation {
    Implementation {
        name: "mcp-oauth-web-client".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        title: None,
    }
}
