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
//! instead of four. An owner's calls that run at once each need a session, and as many are kept
//! afterwards (an agent that makes eight calls in parallel keeps eight sessions for its next
//! eight), up to [`SessionLimits::per_owner`]; each upstream holds at most
//! [`SessionLimits::per_upstream`] of the gateway's idle sessions in all, as each is held open
//! there. Sessions idle for [`SESSION_IDLE`] are dropped, a session that failed is never reused,
//! a session that finds no room is ended at the upstream, and the protocol core opens a new one
//! when the upstream has forgotten it (`404`). Calls without an owner open and end a session of
//! their own.

mod transport;

use axum::http::Method;
use protocol::challenge::BearerChallenge;
use protocol::mcp::{
    CallToolParams, Implementation, ListToolsResult, META_SERVER_INFO, RequestId, RpcError, Tool,
};
use protocol::mcp_client::{self, Answer, Body, Connection, EventStream, McpError, Outgoing, Step};
use protocol::scope::Scopes;
use protocol::secret::AccessToken;
use serde_json::{Map, Value};

pub use transport::{MAX_ANSWER, plain_client};
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

/// A `tools/call` result as the upstream sent it, checked to be one and passed on whole: content
/// blocks with their annotations, `structuredContent`, `_meta`, and whatever a later revision
/// adds. A gateway that rebuilt results from the fields it knows would silently drop the rest.
/// Only what describes the hop rather than the tool is left out: the stateless form's
/// `resultType` and the upstream's `serverInfo` (the client's answer says who answered it).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult(Map<String, Value>);

impl ToolResult {
    /// Checks `result` against the shape of `CallToolResult` (MCP 2025-11-25, server/tools): an
    /// object with a `content` array, and `isError` a boolean, `structuredContent` and `_meta`
    /// objects where present.
    pub fn from_upstream(result: Value) -> Result<Self, &'static str> {
        let Value::Object(mut result) = result else { return Err("not an object") };
        // 2026-07-28: anything but a complete result (`input_required`: the upstream wants the
        // client to answer something first) is not a result, and the gateway relays no such asks.
        if result.get("resultType").is_some_and(|t| t != "complete") {
            return Err("the upstream asked for more input (resultType), which the gateway does not relay");
        }
        if !result.get("content").is_some_and(Value::is_array) {
            return Err("content is not an array");
        }
        let is = |key: &str, kind: fn(&Value) -> bool| result.get(key).is_none_or(kind);
        if !is("isError", Value::is_boolean) {
            return Err("isError is not a boolean");
        }
        if !is("structuredContent", Value::is_object) || !is("_meta", Value::is_object) {
            return Err("structuredContent or _meta is not an object");
        }
        result.remove("resultType");
        if let Some(Value::Object(meta)) = result.get_mut("_meta") {
            meta.remove(META_SERVER_INFO);
            if meta.is_empty() {
                result.remove("_meta");
            }
        }
        Ok(Self(result))
    }

    /// Did the tool run and fail (`isError`)?
    pub fn is_error(&self) -> bool {
        self.0.get("isError").and_then(Value::as_bool).unwrap_or(false)
    }

    /// A field of the result.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// How long an upstream session may sit unused before the gateway forgets it.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(300);
/// How often, at most, a full pool looks for sessions idle past [`SESSION_IDLE`] to forget.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How many upstream sessions the gateway keeps open between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Most owners with sessions kept.
    pub owners: usize,
    /// Most idle sessions kept for one owner: as many as their calls ran at once, up to this.
    pub per_owner: usize,
    /// Most idle sessions kept at one upstream, all owners together.
    pub per_upstream: usize,
}

impl Default for SessionLimits {
    /// Measured with the bench's row s (32 calls at once of one owner): with 8 sessions per owner
    /// most calls opened a session and ended one, 9,000–10,100 calls/s against 11,800–15,000 with
    /// these limits, level with the stateless form (README, "The gateway"). 64 covers an agent's
    /// parallel tool calls; 1,000 per upstream is a tenth of what `mcp-server` keeps for
    /// everybody (10,000 sessions).
    fn default() -> Self {
        Self { owners: 10_000, per_owner: 64, per_upstream: 1_000 }
    }
}

/// Whose session: an upstream session serves one user through one client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    upstream: String,
    owner: String,
}

/// The gateway's MCP client.
pub struct UpstreamClient {
    transport: Transport,
    limits: SessionLimits,
    idle: std::sync::Mutex<IdleSessions>,
    /// Each upstream's URL, parsed once.
    targets: std::sync::RwLock<std::collections::HashMap<String, Target>>,
}

/// The sessions kept open.
#[derive(Default)]
struct IdleSessions {
    /// Per owner, each with when it was last used (most recent last).
    by_owner: std::collections::HashMap<SessionKey, Vec<(std::time::Instant, Connection)>>,
    /// How many of them each upstream holds.
    per_upstream: std::collections::HashMap<String, usize>,
    /// When sessions idle too long were last looked for.
    purged: Option<std::time::Instant>,
}

impl IdleSessions {
    fn count(&self, upstream: &str) -> usize {
        self.per_upstream.get(upstream).copied().unwrap_or(0)
    }

    fn add(&mut self, upstream: &str, change: isize) {
        match self.per_upstream.get_mut(upstream) {
            Some(count) => *count = count.saturating_add_signed(change),
            None if change > 0 => {
                self.per_upstream.insert(upstream.to_owned(), change.unsigned_abs());
            }
            None => {}
        }
    }

    /// Forgets the sessions idle past [`SESSION_IDLE`], at most once per [`PURGE_EVERY`] (a full
    /// pool is looked through once, not on every call). Their tokens may not be the caller's to
    /// end them with; the upstream expires them.
    fn forget_expired(&mut self) {
        if self.purged.is_some_and(|purged| purged.elapsed() < PURGE_EVERY) {
            return;
        }
        self.purged = Some(std::time::Instant::now());
        let mut forgotten: Vec<(String, usize)> = Vec::new();
        self.by_owner.retain(|key, sessions| {
            let before = sessions.len();
            sessions.retain(|(used, _)| used.elapsed() < SESSION_IDLE);
            if sessions.len() < before {
                forgotten.push((key.upstream.clone(), before - sessions.len()));
            }
            !sessions.is_empty()
        });
        for (upstream, count) in forgotten {
            self.add(&upstream, -isize::try_from(count).unwrap_or(isize::MAX));
        }
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

impl UpstreamClient {
    pub fn new() -> Self {
        Self::with_limits(SessionLimits::default())
    }

    /// A client that keeps at most `limits` of sessions open between calls.
    pub fn with_limits(limits: SessionLimits) -> Self {
        Self {
            transport: Transport::new(),
            limits,
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
        self.lock().per_upstream.values().sum()
    }

    /// A connection for `owner` at `upstream`: an idle session of theirs, or a new connection.
    fn checkout(&self, upstream: &Upstream, owner: Option<&str>) -> Result<Connection, UpstreamError> {
        if let Some(owner) = owner {
            let key = SessionKey { upstream: upstream.name.clone(), owner: owner.to_owned() };
            let mut idle = self.lock();
            let mut taken = 0;
            let mut found = None;
            if let Some(sessions) = idle.by_owner.get_mut(&key) {
                // The most recently used first: the likeliest to be alive at the upstream.
                while let Some((last_used, connection)) = sessions.pop() {
                    taken += 1;
                    if last_used.elapsed() < SESSION_IDLE {
                        found = Some(connection);
                        break;
                    }
                }
                if sessions.is_empty() {
                    idle.by_owner.remove(&key);
                }
            }
            idle.add(&upstream.name, -taken);
            if let Some(connection) = found {
                return Ok(connection);
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
        let limits = self.limits;
        let displaced = {
            let mut idle = self.lock();
            let new_owner = !idle.by_owner.contains_key(&key);
            let full = |idle: &IdleSessions| {
                (new_owner && idle.by_owner.len() >= limits.owners)
                    || idle.count(&upstream.name) >= limits.per_upstream
            };
            if full(&idle) {
                idle.forget_expired();
            }
            if full(&idle) || limits.per_owner == 0 {
                Some(connection)
            } else {
                let sessions = idle.by_owner.entry(key).or_default();
                sessions.push((std::time::Instant::now(), connection));
                let oldest = (sessions.len() > limits.per_owner).then(|| sessions.remove(0).1);
                if oldest.is_none() {
                    idle.add(&upstream.name, 1);
                }
                oldest
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
    ) -> Result<ToolResult, UpstreamError> {
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
    ) -> Result<ToolResult, UpstreamError> {
        let mut connection = self.checkout(upstream, owner)?;
        let params = CallToolParams { name: name.to_owned(), arguments: Some(arguments) };
        let params = serde_json::to_value(params).map_err(|e| UpstreamError::Failed(e.to_string()))?;
        let outcome = self.request(&mut connection, upstream, token, "tools/call", Some(params)).await;
        self.check_in(connection, upstream, token, owner, outcome.is_ok()).await;
        ToolResult::from_upstream(outcome?)
            .map_err(|why| UpstreamError::Failed(format!("malformed tools/call result: {why}")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A result using what MCP 2025-11-25 allows beyond plain text: annotated and non-text
    /// content blocks, `structuredContent`, `_meta`, and a field of some later revision.
    fn rich_result() -> Value {
        json!({
            "content": [
                {"type": "text", "text": "hi", "annotations": {"audience": ["user"], "priority": 0.9}},
                {"type": "image", "data": "aGk=", "mimeType": "image/png"},
                {"type": "resource_link", "uri": "file:///notes/1", "name": "note 1", "_meta": {"k": 1}},
            ],
            "structuredContent": {"text": "hi"},
            "isError": false,
            "_meta": {"example.com/trace": "abc"},
            "laterField": [1, 2],
        })
    }

    #[test]
    fn a_result_is_passed_on_whole_less_what_described_the_hop() {
        let mut sent = rich_result();
        assert_eq!(ToolResult::from_upstream(sent.clone()).unwrap().into_value(), sent, "nothing lost");

        // The stateless form's envelope describes the hop, not the tool.
        sent["resultType"] = json!("complete");
        sent["_meta"][META_SERVER_INFO] = json!({"name": "upstream", "version": "1"});
        assert_eq!(ToolResult::from_upstream(sent).unwrap().into_value(), rich_result());
        let only_hop = json!({"content": [], "resultType": "complete", "_meta": {META_SERVER_INFO: {}}});
        assert_eq!(ToolResult::from_upstream(only_hop).unwrap().into_value(), json!({"content": []}));

        let failed = ToolResult::from_upstream(json!({"content": [], "isError": true})).unwrap();
        assert!(failed.is_error());
        assert!(!ToolResult::from_upstream(json!({"content": []})).unwrap().is_error());
    }

    #[test]
    fn what_is_not_a_tool_result_is_refused() {
        for bad in [
            json!(null),
            json!([]),
            json!("text"),
            json!({}),
            json!({"content": "text"}),
            json!({"content": [], "isError": "false"}),
            json!({"content": [], "structuredContent": [1]}),
            json!({"content": [], "_meta": "x"}),
            json!({"content": [], "resultType": "input_required", "inputRequests": {}}),
        ] {
            assert!(ToolResult::from_upstream(bad.clone()).is_err(), "{bad}");
        }
    }

    /// An upstream in the stateless form whose `tools/call` answers `result`.
    async fn answering(result: Value) -> Upstream {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/mcp",
            post(move |axum::Json(request): axum::Json<Value>| {
                let result = result.clone();
                async move { axum::Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result})) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Upstream {
            name: "other".into(),
            url: format!("http://{address}/mcp"),
            resource: format!("http://{address}"),
            version: "2026-07-28".into(),
        }
    }

    #[tokio::test]
    async fn an_upstreams_result_reaches_the_caller_as_it_was_sent_and_a_malformed_one_does_not() {
        let client = UpstreamClient::new();
        let token = AccessToken::new("hop");
        let mut sent = rich_result();
        sent["resultType"] = json!("complete");
        let upstream = answering(sent).await;
        let result = client.call_tool(&upstream, &token, "echo", Map::new()).await.unwrap();
        assert_eq!(result.into_value(), rich_result());

        let upstream = answering(json!({"content": {"type": "text", "text": "not a list"}})).await;
        let Err(UpstreamError::Failed(why)) = client.call_tool(&upstream, &token, "echo", Map::new()).await
        else {
            panic!("a malformed result was taken");
        };
        assert!(why.contains("malformed tools/call result"), "{why}");
    }
}
