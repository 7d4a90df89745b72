//! Calling an upstream MCP server with a hop token: `tools/list` and `tools/call` over Streamable
//! HTTP.
//!
//! What to send and what an answer means is `protocol::mcp_client`'s (the core the agent and the
//! SPA drive): the session or stateless form, the handshake, the headers, JSON or event-stream
//! answers, a new session after a `404`, the version fallback. This module does the I/O and meets
//! the answers the core leaves to its caller: `401` and `403` from the upstream, which the gateway
//! must turn into its own answer (a hop token is the gateway's business, a missing scope is the
//! client's).
//!
//! With the stateless form (2026-07-28) a call is one request. With a session form, a session is
//! opened per user: calls made for the same user through the same client reuse it (the upstream
//! binds a session to exactly that owner, as the gateway does), so a call costs one request
//! instead of four. Sessions idle for [`SESSION_IDLE`] are dropped, the pool is bounded, a session
//! that failed is never reused, and the protocol core opens a new one when the upstream has
//! forgotten it (`404`). Calls without an owner open and end a session of their own.

mod transport;

use axum::http::Method;
use protocol::challenge::BearerChallenge;
use protocol::mcp::{
    CallToolParams, CallToolResult, Implementation, ListToolsResult, RequestId, RpcError, Tool,
};
use protocol::mcp_client::{self, Answer, Body, Connection, EventStream, McpError, Outgoing, Step};
use protocol::scope::Scopes;
use protocol::secret::AccessToken;
use serde_json::{Map, Value};

pub use transport::MAX_ANSWER;
use transport::{Target, Transport};

/// Most pages of `tools/list` followed.
const MAX_PAGES: usize = 100;

/// An upstream MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The name its tools are prefixed with.
    pub name: String,
    /// Its MCP endpoint.
    pub url: String,
    /// Its resource identifier: the audience of its hop tokens.
    pub resource: String,
    /// The protocol version to speak first (a session revision, or 2026-07-28).
    pub version: String,
}

/// Why an upstream call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// `401`: the hop token was not accepted.
    #[error("the upstream refused the hop token")]
    Unauthorized,
    /// `403 insufficient_scope`, with the scopes the upstream asks for.
    #[error("the upstream needs more scope: {}", .0.as_ref().map(ToString::to_string).unwrap_or_default())]
    InsufficientScope(Option<Scopes>),
    /// The upstream answered with a JSON-RPC error.
    #[error("the upstream answered with error {}: {}", .0.code, .0.message)]
    Rpc(RpcError),
    /// The upstream could not be reached, or broke the protocol.
    #[error("the upstream failed: {0}")]
    Failed(String),
}

/// How long an upstream session may sit unused before the gateway forgets it.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(300);
/// Most owners with upstream sessions kept open.
const MAX_OWNERS: usize = 10_000;
/// Most idle sessions kept for one owner: as many as their calls ran at once, up to this.
const MAX_PER_OWNER: usize = 8;

/// Whose session: an upstream session serves one user through one client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    upstream: String,
    owner: String,
}

/// The gateway's MCP client.
pub struct UpstreamClient {
    transport: Transport,
    idle: std::sync::Mutex<IdleSessions>,
    /// Each upstream's URL, parsed once.
    targets: std::sync::RwLock<std::collections::HashMap<String, Target>>,
}

/// The sessions kept open, per owner, each with when it was last used (most recent last).
type IdleSessions = std::collections::HashMap<SessionKey, Vec<(std::time::Instant, Connection)>>;

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

impl UpstreamClient {
    pub fn new() -> Self {
        Self {
            transport: Transport::new(),
            idle: std::sync::Mutex::default(),
            targets: std::sync::RwLock::default(),
        }
    }

    /// `upstream`'s URL, parsed.
    fn target_of(&self, upstream: &Upstream) -> Result<Target, UpstreamError> {
        let targets = self.targets.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(target) = targets.get(&upstream.url) {
            return Ok(target.clone());
        }
        drop(targets);
        let target = Target::parse(&upstream.url).map_err(UpstreamError::Failed)?;
        let mut targets = self.targets.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The upstreams are the configuration's: a handful, never one per request.
        targets.insert(upstream.url.clone(), target.clone());
        Ok(target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleSessions> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many upstream sessions are kept open for later calls.
    pub fn idle_sessions(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// A connection for `owner` at `upstream`: an idle session of theirs, or a new connection.
    fn checkout(&self, upstream: &Upstream, owner: Option<&str>) -> Result<Connection, UpstreamError> {
        if let Some(owner) = owner {
            let key = SessionKey { upstream: upstream.name.clone(), owner: owner.to_owned() };
            let mut idle = self.lock();
            if let Some(sessions) = idle.get_mut(&key) {
                // The most recently used first: the likeliest to be alive at the upstream.
                while let Some((last_used, connection)) = sessions.pop() {
                    if last_used.elapsed() < SESSION_IDLE {
                        return Ok(connection);
                    }
                }
                idle.remove(&key);
            }
        }
        connect(upstream)
    }

    /// After a call: keeps the session for `owner`'s next call if the call went well, else ends
    /// it. A session that finds no room is ended too, never dropped while open at the upstream.
    async fn check_in(
        &self,
        mut connection: Connection,
        upstream: &Upstream,
        token: &AccessToken,
        owner: Option<&str>,
        succeeded: bool,
    ) {
        let keep = succeeded && !connection.is_stateless() && connection.session_id().is_some();
        let Some(owner) = owner.filter(|_| keep) else {
            self.close(&mut connection, upstream, token).await;
            return;
        };
        let key = SessionKey { upstream: upstream.name.clone(), owner: owner.to_owned() };
        let displaced = {
            let mut idle = self.lock();
            if idle.len() >= MAX_OWNERS && !idle.contains_key(&key) {
                // Other owners' stale sessions are forgotten (their tokens are not ours to end
                // them with; the upstream expires them).
                idle.retain(|_, sessions| sessions.iter().any(|(used, _)| used.elapsed() < SESSION_IDLE));
            }
            if idle.len() >= MAX_OWNERS && !idle.contains_key(&key) {
                Some(connection)
            } else {
                let sessions = idle.entry(key).or_default();
                sessions.push((std::time::Instant::now(), connection));
                (sessions.len() > MAX_PER_OWNER).then(|| sessions.remove(0).1)
            }
        };
        if let Some(mut displaced) = displaced {
            self.close(&mut displaced, upstream, token).await;
        }
    }

    /// The upstream's tools, every page.
    pub async fn list_tools(
        &self,
        upstream: &Upstream,
        token: &AccessToken,
    ) -> Result<Vec<Tool>, UpstreamError> {
        let mut connection = connect(upstream)?;
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let outcome = async {
            for _ in 0..MAX_PAGES {
                let params = cursor.as_ref().map(|c| serde_json::json!({ "cursor": c }));
                let result = self.request(&mut connection, upstream, token, "tools/list", params).await?;
                let page: ListToolsResult = serde_json::from_value(result)
                    .map_err(|e| UpstreamError::Failed(format!("malformed tools/list result: {e}")))?;
                tools.extend(page.tools);
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(()),
                }
            }
            Err(UpstreamError::Failed(format!("tools/list sent more than {MAX_PAGES} pages")))
        }
        .await;
        self.close(&mut connection, upstream, token).await;
        outcome.map(|()| tools)
    }

    /// Calls the upstream's tool `name` (its own, unprefixed name) in a session of its own. A tool
    /// that ran and failed is a result with `isError`.
    pub async fn call_tool(
        &self,
        upstream: &Upstream,
        token: &AccessToken,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, UpstreamError> {
        self.call_tool_for(upstream, token, None, name, arguments).await
    }

    /// [`UpstreamClient::call_tool`] for `owner` (the user and client the token speaks for, as one
    /// string), reusing their session with a session-form upstream.
    pub async fn call_tool_for(
        &self,
        upstream: &Upstream,
        token: &AccessToken,
        owner: Option<&str>,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, UpstreamError> {
        let mut connection = self.checkout(upstream, owner)?;
        let params = CallToolParams { name: name.to_owned(), arguments: Some(arguments) };
        let params = serde_json::to_value(params).map_err(|e| UpstreamError::Failed(e.to_string()))?;
        let outcome = self.request(&mut connection, upstream, token, "tools/call", Some(params)).await;
        self.check_in(connection, upstream, token, owner, outcome.is_ok()).await;
        serde_json::from_value(outcome?)
            .map_err(|e| UpstreamError::Failed(format!("malformed tools/call result: {e}")))
    }

    /// Runs one call through the protocol core until it has a result.
    async fn request(
        &self,
        connection: &mut Connection,
        upstream: &Upstream,
        token: &AccessToken,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, UpstreamError> {
        let mut step = connection.begin(method, params);
        loop {
            match step {
                Step::Done(result) => return Ok(result),
                Step::Failed(McpError::Rpc { error, .. }) => return Err(UpstreamError::Rpc(error)),
                Step::Failed(error) => return Err(UpstreamError::Failed(error.to_string())),
                Step::Send(outgoing) => step = self.send(connection, upstream, token, &outgoing).await?,
            }
        }
    }

    /// POSTs one message; a `401` or `403` ends the call here.
    async fn send(
        &self,
        connection: &mut Connection,
        upstream: &Upstream,
        token: &AccessToken,
        outgoing: &Outgoing,
    ) -> Result<Step, UpstreamError> {
        let mut headers: Vec<(&str, &str)> =
            outgoing.headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let traceparent = crate::trace::outgoing();
        if let Some(traceparent) = &traceparent {
            headers.push((protocol::trace::TRACEPARENT, traceparent));
        }
        let reply = self
            .transport
            .send(
                Method::POST,
                &self.target_of(upstream)?,
                token.secret(),
                &headers,
                outgoing.body.clone().into(),
            )
            .await
            .map_err(UpstreamError::Failed)?;
        let status = reply.status.as_u16();
        let head = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
        let (content_type, session_id) = (head("content-type"), head(protocol::mcp::header::SESSION_ID));
        if status == 401 || status == 403 {
            let challenge = BearerChallenge::from_header_values(
                reply.headers.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()),
            )
            .ok()
            .flatten();
            return Err(if status == 401 {
                UpstreamError::Unauthorized
            } else {
                UpstreamError::InsufficientScope(challenge.and_then(|c| c.scopes()))
            });
        }
        let text = std::str::from_utf8(&reply.body)
            .map_err(|_| UpstreamError::Failed("the answer is not UTF-8".into()))?;
        let body = match &outgoing.id {
            Some(id) if mcp_client::is_event_stream(status, content_type) => {
                Body::Message(response_in_stream(text, id)?)
            }
            _ => Body::Text(text),
        };
        Ok(connection.on_answer(Answer { status, content_type, session_id, body }))
    }

    /// Ends the session, if one was opened (best effort).
    async fn close(&self, connection: &mut Connection, upstream: &Upstream, token: &AccessToken) {
        let Some(headers) = connection.close() else { return };
        let Ok(target) = self.target_of(upstream) else { return };
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let _ =
            self.transport.send(Method::DELETE, &target, token.secret(), &headers, Default::default()).await;
    }
}

fn connect(upstream: &Upstream) -> Result<Connection, UpstreamError> {
    let info =
        Implementation { name: "mcp-gateway".into(), version: env!("CARGO_PKG_VERSION").into(), title: None };
    Connection::new(&upstream.version, info).map_err(|e| UpstreamError::Failed(e.to_string()))
}

/// The response to `id` in an event stream read whole.
fn response_in_stream(text: &str, id: &RequestId) -> Result<Value, UpstreamError> {
    let mut stream = EventStream::new();
    let not_utf8 = |_| UpstreamError::Failed("the event stream is not UTF-8".into());
    let mut messages = stream.push(text.as_bytes()).map_err(not_utf8)?;
    messages.extend(stream.finish().map_err(not_utf8)?);
    messages
        .into_iter()
        .find(|m| mcp_client::is_response_to(m, id))
        .ok_or_else(|| UpstreamError::Failed("the event stream ended without the response".into()))
}
