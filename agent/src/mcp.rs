//! An MCP client over Streamable HTTP: `tools/list`, `tools/call`, and the session around them.
//!
//! What to send and what an answer means is `protocol::mcp_client`'s, the same core the SPA
//! drives: the session or stateless form, `initialize`, the session id and version headers,
//! JSON or event-stream answers, a new session after a `404`, and the switch of version after
//! `-32022`. This module does the I/O: every message goes through [`Access::send`], so a `401` or
//! `403` at any point leads to a login or a step-up and a retry, and an event stream is read
//! only until the response to the request arrives.

use protocol::mcp::{
    CallToolParams, CallToolResult, Implementation, ListToolsResult, RequestId, Tool, header,
};
use protocol::mcp_client::{self, Answer, Body, Connection, EventStream, McpError, Outgoing, Restart, Step};
use serde_json::{Map, Value};

use crate::access::Access;
use crate::error::{AgentError, Result};
use crate::http::MCP_BODY_LIMIT;

/// Most pages of `tools/list` followed; a server that keeps sending cursors is broken.
const MAX_PAGES: usize = 100;

/// A connection to one MCP endpoint.
pub struct McpClient {
    url: String,
    connection: Connection,
}

impl McpClient {
    /// A client for `url` that will speak `version` (a session revision, or 2026-07-28).
    pub fn new(url: &str, version: &str) -> Result<Self> {
        let parsed =
            url::Url::parse(url).map_err(|e| AgentError::Usage(format!("{url} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AgentError::Usage(format!("{url} is not an http(s) URL")));
        }
        let connection = Connection::new(version, client_info()).map_err(|_| {
            AgentError::Usage(format!("protocol version {version} is not one this agent speaks"))
        })?;
        Ok(Self { url: url.to_owned(), connection })
    }

    /// Declares URL-mode elicitation (stateless form), for a caller that shows an
    /// [`AgentError::Approval`]'s page and makes the same call again: a gateway then asks for its
    /// approval in an `input_required` result, which the call made again answers.
    pub fn with_url_elicitation(mut self) -> Self {
        self.connection = self.connection.with_url_elicitation();
        self
    }

    /// `tools/list`, every page.
    pub async fn list_tools(&mut self, access: &mut Access) -> Result<Vec<Tool>> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = cursor.as_ref().map(|c| serde_json::json!({ "cursor": c }));
            let result = self.request(access, "tools/list", params).await?;
            let page: ListToolsResult = serde_json::from_value(result)
                .map_err(|e| AgentError::Protocol(format!("the tools/list result is malformed: {e}")))?;
            tools.extend(page.tools);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tools),
            }
        }
        Err(AgentError::Protocol(format!("tools/list sent more than {MAX_PAGES} pages")))
    }

    /// `tools/call`. A tool that ran and failed is a result with `is_error` (the model sees what
    /// went wrong); only a failure to call it at all is an error.
    pub async fn call_tool(
        &mut self,
        access: &mut Access,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult> {
        let params = CallToolParams { name: name.to_owned(), arguments: Some(arguments) };
        let params = serde_json::to_value(params).map_err(|e| AgentError::Protocol(e.to_string()))?;
        let result = self.request(access, "tools/call", Some(params)).await?;
        serde_json::from_value(result)
            .map_err(|e| AgentError::Protocol(format!("the tools/call result is malformed: {e}")))
    }

    /// Ends the session (best effort: a server may not support `DELETE`).
    pub async fn close(&mut self, access: &mut Access) {
        let Some(headers) = self.connection.close() else { return };
        let mut request = access.http.client().delete(&self.url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(grant) = access.store.grant_for(&self.url).ok().flatten() {
            request = request.bearer_auth(grant.access_token.secret());
        }
        let _ = request.send().await;
    }

    /// Runs one call through the protocol core until it has a result.
    async fn request(&mut self, access: &mut Access, method: &str, params: Option<Value>) -> Result<Value> {
        let mut step = self.connection.begin(method, params);
        loop {
            match step {
                Step::Done(result) => return Ok(result),
                Step::Failed(error) => {
                    if matches!(error, McpError::InputRequired { .. }) {
                        access.progress.detail(
                            "the server asks for input first (input_required); the same call made again answers it",
                        );
                    }
                    return Err(self.error(error));
                }
                Step::Send(outgoing) => {
                    match &outgoing.restart {
                        Some(Restart::SessionExpired) => {
                            access.progress.step("the MCP session expired; opening a new one")
                        }
                        Some(Restart::VersionFallback { from, to }) => access
                            .progress
                            .step(format!("the server does not speak protocol {from}; retrying with {to}")),
                        None => {}
                    }
                    step = self.exchange(access, &outgoing).await?;
                    if outgoing.method == "initialize"
                        && let Some(version) = self.connection.negotiated()
                    {
                        access.progress.detail(format!("MCP session open, protocol {version}"));
                    }
                }
            }
        }
    }

    /// POSTs one message and reports the answer to the core.
    async fn exchange(&mut self, access: &mut Access, outgoing: &Outgoing) -> Result<Step> {
        let client = access.http.client().clone();
        let url = self.url.clone();
        let response = access
            .send(&self.url, |token| {
                let mut request = client.post(&url).body(outgoing.body.clone());
                for (name, value) in &outgoing.headers {
                    request = request.header(*name, value);
                }
                if let Some(token) = token {
                    request = request.bearer_auth(token.secret());
                }
                request
            })
            .await?;
        let status = response.status().as_u16();
        let head = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (content_type, session_id) = (head("content-type"), head(header::SESSION_ID));
        let text;
        let body = match &outgoing.id {
            Some(id) if mcp_client::is_event_stream(status, content_type.as_deref()) => {
                Body::Message(read_stream_until(&self.url, response, id).await?)
            }
            _ => {
                text = crate::http::read(&self.url, response, MCP_BODY_LIMIT).await?.body;
                Body::Text(&text)
            }
        };
        Ok(self.connection.on_answer(Answer {
            status,
            content_type: content_type.as_deref(),
            session_id: session_id.as_deref(),
            body,
        }))
    }

    fn error(&self, error: McpError) -> AgentError {
        match error {
            McpError::Rpc { method, error } => match protocol::mcp::approval_of(&error) {
                Some(approval) => AgentError::Approval(approval),
                None => AgentError::Rpc { method, code: error.code, message: error.message },
            },
            McpError::InputRequired { method, result } => match protocol::mcp::approval_of_input(&result) {
                Some(approval) => AgentError::Approval(approval),
                None => AgentError::Protocol(format!(
                    "{} needs input before it answers {method} that this agent cannot give: {}",
                    self.url,
                    result.get("inputRequests").map(Value::to_string).unwrap_or_default()
                )),
            },
            McpError::UnsupportedVersion { requested, supported } => {
                AgentError::UnsupportedVersion { requested, supported }
            }
            http @ McpError::Http { .. } => AgentError::Protocol(format!("{} {http}", self.url)),
            other => AgentError::Protocol(other.to_string()),
        }
    }
}

fn client_info() -> Implementation {
    Implementation { name: "mcp-agent".into(), version: env!("CARGO_PKG_VERSION").into(), title: None }
}

/// Reads an event stream until the JSON-RPC response to `id` arrives, then drops the rest.
/// Notifications and other messages on the way are skipped.
async fn read_stream_until(url: &str, mut response: reqwest::Response, id: &RequestId) -> Result<Value> {
    let mut stream = EventStream::new();
    let mut total = 0usize;
    let not_utf8 = |_| AgentError::Protocol(format!("the event stream from {url} is not UTF-8"));
    loop {
        let chunk = response.chunk().await.map_err(|e| AgentError::unreachable(url, &e))?;
        let messages = match &chunk {
            Some(chunk) => {
                total += chunk.len();
                if total > MCP_BODY_LIMIT {
                    return Err(AgentError::Protocol(format!(
                        "{url} sent more than {MCP_BODY_LIMIT} bytes of events"
                    )));
                }
                stream.push(chunk).map_err(not_utf8)?
            }
            None => stream.finish().map_err(not_utf8)?,
        };
        if let Some(message) = messages.into_iter().find(|m| mcp_client::is_response_to(m, id)) {
            return Ok(message);
        }
        if chunk.is_none() {
            return Err(AgentError::Protocol(format!(
                "the event stream from {url} ended without the response"
            )));
        }
    }
}
