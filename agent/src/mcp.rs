//! An MCP client over Streamable HTTP: `initialize`, `tools/list`, `tools/call`.
//!
//! Two forms, as the server speaks them:
//! * session-based (2025-03-26 to 2025-11-25): `initialize` first, then `Mcp-Session-Id` and
//!   `MCP-Protocol-Version` on every request; a `404` means the session is gone and a new one is
//!   opened once;
//! * stateless (2026-07-28): every request carries its version in a header and in `_meta`, and
//!   names itself in `Mcp-Method` / `Mcp-Name`.
//!
//! Every request goes through [`Access::send`], so a `401` or `403` at any point leads to a login
//! or a step-up and a retry. Answers may be JSON or an event stream; the stream is read until the
//! response to the request arrives, then dropped.

use protocol::mcp::{
    self, CallToolParams, Implementation, ListToolsResult, META_CLIENT_CAPABILITIES, META_CLIENT_INFO,
    META_PROTOCOL_VERSION, RequestId, STATELESS_VERSION, Tool, error_code,
};
use serde_json::{Map, Value, json};

use crate::access::Access;
use crate::error::{AgentError, Result};
use crate::http::{MCP_BODY_LIMIT, snippet};

/// Most pages of `tools/list` followed; a server that keeps sending cursors is broken.
const MAX_PAGES: usize = 100;

/// A connection to one MCP endpoint.
pub struct McpClient {
    url: String,
    version: String,
    session: Option<String>,
    /// The version the server chose in `initialize` (session form).
    negotiated: Option<String>,
    /// Whether a refused protocol version was already replaced by one the server named.
    version_retried: bool,
    next_id: i64,
}

impl McpClient {
    /// A client for `url` that will speak `version` (a session revision, or 2026-07-28).
    pub fn new(url: &str, version: &str) -> Result<Self> {
        let parsed =
            url::Url::parse(url).map_err(|e| AgentError::Usage(format!("{url} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AgentError::Usage(format!("{url} is not an http(s) URL")));
        }
        if !mcp::is_supported_version(version) {
            return Err(AgentError::Usage(format!(
                "protocol version {version} is not one this agent speaks"
            )));
        }
        Ok(Self {
            url: url.to_owned(),
            version: version.to_owned(),
            session: None,
            negotiated: None,
            version_retried: false,
            next_id: 1,
        })
    }

    fn stateless(&self) -> bool {
        self.version == STATELESS_VERSION
    }

    /// Opens the session (session form; nothing to do in the stateless one).
    pub async fn connect(&mut self, access: &mut Access) -> Result<()> {
        if self.stateless() || self.negotiated.is_some() {
            return Ok(());
        }
        let params = json!({
            "protocolVersion": self.version,
            "capabilities": {},
            "clientInfo": client_info(),
        });
        let result = self.exchange(access, "initialize", Some(params), true).await?;
        let version = result.get("protocolVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
        if !mcp::SESSION_VERSIONS.contains(&version.as_str()) {
            return Err(AgentError::Protocol(format!(
                "the server chose protocol version {version:?}, which this agent does not speak"
            )));
        }
        access.progress.detail(format!("MCP session open, protocol {version}"));
        self.negotiated = Some(version);
        self.notify(access, "notifications/initialized").await
    }

    /// `tools/list`, every page.
    pub async fn list_tools(&mut self, access: &mut Access) -> Result<Vec<Tool>> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = cursor.as_ref().map(|c| json!({ "cursor": c }));
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

    /// `tools/call`; the raw result (content, structuredContent, isError).
    pub async fn call_tool(
        &mut self,
        access: &mut Access,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<Value> {
        let params = CallToolParams { name: name.to_owned(), arguments: Some(arguments) };
        let params = serde_json::to_value(params).map_err(|e| AgentError::Protocol(e.to_string()))?;
        self.request(access, "tools/call", Some(params)).await
    }

    /// Ends the session (best effort: a server may not support `DELETE`).
    pub async fn close(&mut self, access: &mut Access) {
        let Some(session) = self.session.take() else { return };
        let mut request = access.http.client().delete(&self.url).header("mcp-session-id", &session);
        if let Some(version) = &self.negotiated {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some(grant) = access.store.grant_for(&self.url).ok().flatten() {
            request = request.bearer_auth(grant.access_token.secret());
        }
        let _ = request.send().await;
    }

    /// A request; if the server refuses the protocol version and names the ones it speaks,
    /// switches to the best of those this agent also speaks and retries, once per client.
    async fn request(&mut self, access: &mut Access, method: &str, params: Option<Value>) -> Result<Value> {
        match self.request_in_version(access, method, params.clone()).await {
            Err(AgentError::UnsupportedVersion { requested, supported }) if !self.version_retried => {
                self.version_retried = true;
                let Some(version) = choose_version(&supported) else {
                    return Err(AgentError::UnsupportedVersion { requested, supported });
                };
                access
                    .progress
                    .step(format!("the server does not speak protocol {requested}; retrying with {version}"));
                self.version = version.to_owned();
                self.session = None;
                self.negotiated = None;
                self.request_in_version(access, method, params).await
            }
            other => other,
        }
    }

    /// A request in the current version; on `404` for the session, reopens it once and retries.
    async fn request_in_version(
        &mut self,
        access: &mut Access,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value> {
        self.connect(access).await?;
        match self.exchange(access, method, params.clone(), false).await {
            Err(AgentError::Protocol(message)) if message == SESSION_GONE && self.session.is_some() => {
                access.progress.step("the MCP session expired; opening a new one");
                self.session = None;
                self.negotiated = None;
                self.connect(access).await?;
                self.exchange(access, method, params, false).await
            }
            other => other,
        }
    }

    async fn notify(&mut self, access: &mut Access, method: &str) -> Result<()> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        let response = self.post(access, method, None, &body).await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            let answer = crate::http::read(&self.url, response, MCP_BODY_LIMIT).await?;
            Err(AgentError::Protocol(format!("{method} answered {status}: {}", snippet(&answer.body))))
        }
    }

    /// Sends one request and returns its result (or its JSON-RPC error as an error).
    async fn exchange(
        &mut self,
        access: &mut Access,
        method: &str,
        params: Option<Value>,
        opening: bool,
    ) -> Result<Value> {
        let id = RequestId::Number(self.next_id);
        self.next_id += 1;
        let params = self.with_meta(params);
        let name = params.as_ref().and_then(|p| p.get("name")).and_then(Value::as_str).map(str::to_owned);
        let body = serde_json::to_value(mcp::Request::new(id.clone(), method, params))
            .map_err(|e| AgentError::Protocol(e.to_string()))?;
        let response = self.post(access, method, name.as_deref(), &body).await?;
        let status = response.status().as_u16();
        if status == 404 && self.session.is_some() && !opening {
            return Err(AgentError::Protocol(SESSION_GONE.into()));
        }
        if opening
            && let Some(session) = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok())
        {
            // Visible ASCII only (MCP transport spec); anything else is not a session id.
            if session.is_empty() || !session.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(AgentError::Protocol("the server sent an invalid Mcp-Session-Id".into()));
            }
            self.session = Some(session.to_owned());
        }
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let message = if is_stream && (200..300).contains(&status) {
            read_stream_until(&self.url, response, &id).await?
        } else {
            let answer = crate::http::read(&self.url, response, MCP_BODY_LIMIT).await?;
            match serde_json::from_str::<Value>(&answer.body) {
                Ok(value) if value.get("id") == Some(&json!(id)) => value,
                _ if !(200..300).contains(&status) => {
                    return Err(AgentError::Protocol(format!(
                        "{} answered {method} with HTTP {status}: {}",
                        self.url,
                        snippet(&answer.body)
                    )));
                }
                _ => {
                    return Err(AgentError::Protocol(format!(
                        "the answer to {method} is not its JSON-RPC response: {}",
                        snippet(&answer.body)
                    )));
                }
            }
        };
        let response: mcp::Response = serde_json::from_value(message)
            .map_err(|e| AgentError::Protocol(format!("the response to {method} is malformed: {e}")))?;
        match (response.result, response.error) {
            (_, Some(error)) if error.code == error_code::UNSUPPORTED_VERSION => {
                let supported = error
                    .data
                    .as_ref()
                    .and_then(|d| d.get("supported"))
                    .and_then(Value::as_array)
                    .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                Err(AgentError::UnsupportedVersion { requested: self.version.clone(), supported })
            }
            (_, Some(error)) => {
                Err(AgentError::Rpc { method: method.into(), code: error.code, message: error.message })
            }
            (Some(result), None) => Ok(result),
            (None, None) => {
                Err(AgentError::Protocol(format!("the response to {method} has neither result nor error")))
            }
        }
    }

    /// In the stateless form, `params._meta` says which revision this is and what the client can do.
    fn with_meta(&self, params: Option<Value>) -> Option<Value> {
        if !self.stateless() {
            return params;
        }
        let mut params = match params {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let meta = params.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(META_PROTOCOL_VERSION.into(), json!(self.version));
            meta.insert(META_CLIENT_CAPABILITIES.into(), json!({}));
            meta.insert(META_CLIENT_INFO.into(), json!(client_info()));
        }
        Some(Value::Object(params))
    }

    async fn post(
        &self,
        access: &mut Access,
        method: &str,
        name: Option<&str>,
        body: &Value,
    ) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(body).map_err(|e| AgentError::Protocol(e.to_string()))?;
        let client = access.http.client().clone();
        let url = self.url.clone();
        let version = if self.stateless() { Some(self.version.clone()) } else { self.negotiated.clone() };
        let session = self.session.clone();
        let stateless = self.stateless();
        access
            .send(&self.url, move |token| {
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body.clone());
                if let Some(version) = &version {
                    request = request.header("mcp-protocol-version", version);
                }
                if let Some(session) = &session {
                    request = request.header("mcp-session-id", session);
                }
                if stateless {
                    request = request.header("mcp-method", method);
                    if let Some(name) = name {
                        request = request.header("mcp-name", mcp::encode_header_value(name));
                    }
                }
                if let Some(token) = token {
                    request = request.bearer_auth(token.secret());
                }
                request
            })
            .await
    }
}

const SESSION_GONE: &str = "the MCP session is gone (404)";

/// The version to retry with, from those a server says it speaks: the stateless revision if it
/// is one of them, else the newest session revision both sides speak.
fn choose_version(supported: &[String]) -> Option<&'static str> {
    std::iter::once(STATELESS_VERSION)
        .chain(mcp::SESSION_VERSIONS.iter().copied())
        .find(|ours| supported.iter().any(|theirs| theirs == ours))
}

fn client_info() -> Implementation {
    Implementation { name: "mcp-agent".into(), version: env!("CARGO_PKG_VERSION").into(), title: None }
}

/// Reads an event stream until the JSON-RPC response with `id` arrives. Notifications and other
/// messages on the way are skipped.
async fn read_stream_until(url: &str, mut response: reqwest::Response, id: &RequestId) -> Result<Value> {
    let wanted = json!(id);
    let is_wanted = |m: &Value| m.get("id") == Some(&wanted) && m.get("method").is_none();
    let mut pending: Vec<u8> = Vec::new();
    let mut total = 0usize;
    loop {
        let chunk = response.chunk().await.map_err(|e| AgentError::unreachable(url, &e))?;
        let ended = chunk.is_none();
        if let Some(chunk) = chunk {
            total += chunk.len();
            if total > MCP_BODY_LIMIT {
                return Err(AgentError::Protocol(format!(
                    "{url} sent more than {MCP_BODY_LIMIT} bytes of events"
                )));
            }
            pending.extend_from_slice(&chunk);
        } else {
            // A last event may lack its blank line.
            pending.extend_from_slice(b"\n\n");
        }
        // Events end with a blank line. CR and LF never occur inside a multi-byte UTF-8
        // sequence, so cutting at one never splits a character. A CR at the very end waits for
        // the next chunk: it may be the first half of a CRLF.
        let held_back = !ended && pending.last() == Some(&b'\r');
        let mut normalized = normalize_newlines(&pending[..pending.len() - usize::from(held_back)]);
        if let Some(end) = normalized.windows(2).rposition(|w| w == b"\n\n") {
            let complete = std::str::from_utf8(&normalized[..end + 2])
                .map_err(|_| AgentError::Protocol(format!("the event stream from {url} is not UTF-8")))?;
            if let Some(message) = mcp::sse_messages(complete).into_iter().find(is_wanted) {
                return Ok(message);
            }
            normalized.drain(..end + 2);
        }
        pending = normalized;
        if held_back {
            pending.push(b'\r');
        }
        if ended {
            return Err(AgentError::Protocol(format!(
                "the event stream from {url} ended without the response"
            )));
        }
    }
}

/// CRLF and lone CR as LF (the three line endings of `text/event-stream`).
fn normalize_newlines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                out.push(b'\n');
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_retry_version_is_the_best_both_sides_speak() {
        assert_eq!(choose_version(&owned(&["2026-07-28", "2025-11-25"])), Some(STATELESS_VERSION));
        assert_eq!(choose_version(&owned(&["2025-03-26", "2025-06-18"])), Some("2025-06-18"));
        assert_eq!(choose_version(&owned(&["2099-01-01"])), None);
        assert_eq!(choose_version(&[]), None);
    }
}
