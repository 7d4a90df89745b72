//! The client side of MCP over Streamable HTTP, without I/O: which messages to POST with which
//! headers, and what each answer means (MCP transports, lifecycle; 2025-03-26 to 2026-07-28).
//!
//! A [`Connection`] is one client's view of one MCP endpoint. [`Connection::begin`] starts a call
//! (`tools/list`, `tools/call`, …) and says what to send ([`Step::Send`]); the client POSTs it,
//! with its bearer token, however it does I/O, and reports the answer with
//! [`Connection::on_answer`], until the call is [`Step::Done`] or [`Step::Failed`]. The rules both
//! clients follow through it:
//!
//! * **Session revisions** (2025-03-26 … 2025-11-25): `initialize` first, then
//!   `notifications/initialized`; the server's `Mcp-Session-Id` (visible ASCII only) and the
//!   negotiated `MCP-Protocol-Version` go on every later request. The server must choose a
//!   revision the client speaks (lifecycle, version negotiation).
//! * **Stateless revision** (2026-07-28): no handshake; every request carries its version in the
//!   header and in `params._meta`, with the client's capabilities and info, and names itself in
//!   `Mcp-Method` / `Mcp-Name` for routing.
//! * **Answers**: JSON or `text/event-stream`; the response is the message whose `id` is the
//!   request's. A non-2xx answer without that response is an HTTP error, a JSON-RPC `error` is the
//!   server's answer to the request, and `202` acknowledges a notification.
//! * **Expired session**: `404` to a request that carried a session id means the session is gone;
//!   the client opens a new one and sends the request again, once per call.
//! * **Unsupported version** (`-32022`, 2026-07-28): the error names the revisions the server
//!   speaks; the client switches to the best one both speak and starts the call over, once per
//!   connection.
//! * **Input required** (2026-07-28 multi round-trip requests): a result whose `resultType` is
//!   `input_required` is no result yet but [`McpError::InputRequired`]. A client that declared
//!   URL-mode elicitation ([`Connection::with_url_elicitation`]) shows the URL (a gateway's
//!   approval page, [`crate::mcp::approval_of_input`]) and makes the same call again; that call
//!   then carries `inputResponses` accepting each URL elicitation, and the server's
//!   `requestState` unchanged. It is declared in the stateless form only: in a session, a server
//!   may send `elicitation/create` requests on its streams, which this core does not answer.
//!
//! `401` and `403` are not the business of this module: the client meets them first, with
//! [`crate::challenge_reaction`], and sends the same message again.

use serde_json::{Map, Value, json};

use crate::mcp::{
    self, Implementation, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION, RequestId,
    RpcError, SESSION_VERSIONS, STATELESS_VERSION, error_code, header,
};

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `initialize`: opens the session (session revisions).
    Initialize,
    /// `notifications/initialized`: ends the handshake.
    Initialized,
    /// The call's own request.
    Request,
}

/// Why a call starts over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// The server answered `404` to the session id: a new session is opened.
    SessionExpired,
    /// The server does not speak `from` (`-32022`); the call is made again in `to`.
    VersionFallback { from: String, to: String },
}

/// A message to POST to the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub purpose: Purpose,
    /// Set on the first message of a call that starts over, saying why.
    pub restart: Option<Restart>,
    /// The JSON-RPC method.
    pub method: String,
    /// The request id; `None` for a notification. The answer is the message with this id.
    pub id: Option<RequestId>,
    /// Every header besides the bearer token: content type, accept, version, session, routing.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON-RPC message.
    pub body: String,
}

/// What the client does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Send(Outgoing),
    /// The call's result.
    Done(Value),
    Failed(McpError),
}

/// The body of an answer, as the client read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body<'a> {
    /// The whole body (JSON, or an event stream read to its end).
    Text(&'a str),
    /// The response message, already picked out of an event stream with [`EventStream`] and
    /// [`is_response_to`] (a client that reads the stream as it arrives stops there).
    Message(Value),
}

/// An HTTP answer to an [`Outgoing`] message (after the client has met any `401`/`403`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    /// The `Mcp-Session-Id` header, if any.
    pub session_id: Option<&'a str>,
    pub body: Body<'a>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpError {
    /// The server answered the request with a JSON-RPC error.
    #[error("the MCP server answered {method} with error {}: {}", error.code, error.message)]
    Rpc { method: String, error: RpcError },
    /// The server does not speak the protocol version asked for, nor one this client could switch to.
    #[error("the MCP server does not speak protocol version {requested}; it speaks {}", supported.join(", "))]
    UnsupportedVersion { requested: String, supported: Vec<String> },
    /// A non-2xx answer without the JSON-RPC response in it.
    #[error("answered {method} with HTTP {status}: {body}")]
    Http { method: String, status: u16, body: String },
    /// A 2xx answer without the JSON-RPC response to the request.
    #[error("the answer to {method} is not its JSON-RPC response: {body}")]
    NotAResponse { method: String, body: String },
    /// The response is there but is not a JSON-RPC response, or has neither result nor error.
    #[error("the response to {method} is malformed: {reason}")]
    Malformed { method: String, reason: String },
    /// The server chose a protocol version this client does not speak.
    #[error("the server chose protocol version {0:?}, which this client does not speak")]
    UnknownVersion(String),
    /// The `Mcp-Session-Id` is not visible ASCII.
    #[error("the server sent an invalid Mcp-Session-Id")]
    InvalidSessionId,
    /// A notification was not accepted.
    #[error("{method} answered {status}: {body}")]
    NotificationRefused { method: String, status: u16, body: String },
    /// The session expired again right after a new one was opened.
    #[error("the MCP session is gone (404)")]
    SessionLost,
    /// `begin` was not called, or the call is over.
    #[error("no MCP call is in progress")]
    NoCall,
    /// The server needs the client to answer something first (2026-07-28): `result` is its
    /// `input_required` result. See [`Connection::with_url_elicitation`].
    #[error("the MCP server needs input before it answers {method}")]
    InputRequired { method: String, result: Value },
}

/// The call in progress.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    method: String,
    /// The params as the caller gave them.
    asked: Option<Value>,
    /// The params as sent: with the answers to an earlier `input_required`, if any.
    params: Option<Value>,
    /// What the last message sent was for, and its id.
    sent: Purpose,
    id: Option<RequestId>,
    reopened: bool,
}

/// One client's state for one MCP endpoint. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The version to speak: the one asked for, or the one switched to after `-32022`.
    version: String,
    client_info: Implementation,
    session_id: Option<String>,
    /// The version the server chose in `initialize` (session revisions).
    negotiated: Option<String>,
    version_retried: bool,
    next_id: i64,
    call: Option<Call>,
    /// URL-mode elicitation declared (stateless form).
    url_elicitation: bool,
    /// What the same call, made again, answers to the `input_required` it met.
    answers: Option<Answers>,
}

/// The answers to an `input_required` result, for the call that met it.
#[derive(Debug, Clone, PartialEq)]
struct Answers {
    method: String,
    asked: Option<Value>,
    input_responses: Map<String, Value>,
    request_state: Option<Value>,
}

/// The version asked for is not one this project implements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol version {0} is not one this client speaks")]
pub struct UnknownVersion(pub String);

impl Connection {
    /// A connection that will speak `version` (a session revision, or 2026-07-28).
    pub fn new(version: &str, client_info: Implementation) -> Result<Self, UnknownVersion> {
        if !mcp::is_supported_version(version) {
            return Err(UnknownVersion(version.to_owned()));
        }
        Ok(Self {
            version: version.to_owned(),
            client_info,
            session_id: None,
            negotiated: None,
            version_retried: false,
            next_id: 1,
            call: None,
            url_elicitation: false,
            answers: None,
        })
    }

    /// Declares URL-mode elicitation in the stateless form: the client shows the URL of an
    /// `input_required` result's URL elicitation to its user and then makes the same call again,
    /// which answers it `accept` (see the module documentation).
    pub fn with_url_elicitation(mut self) -> Self {
        self.url_elicitation = true;
        self
    }

    /// The stateless revision: no handshake, no session.
    pub fn is_stateless(&self) -> bool {
        self.version == STATELESS_VERSION
    }

    /// The version requests are made in (before a session is negotiated, the one asked for).
    pub fn version(&self) -> &str {
        self.negotiated.as_deref().unwrap_or(&self.version)
    }

    /// The version the server chose in `initialize`, once the session is open.
    pub fn negotiated(&self) -> Option<&str> {
        self.negotiated.as_deref()
    }

    /// The session id the server assigned, if any (servers need not assign one).
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Starts a call of `method` (any call in progress is abandoned: the client gave up on it, or
    /// is sending it again after meeting a challenge).
    ///
    /// The same call again (method and params) after an `input_required` result carries the
    /// answers to it; any other call drops them.
    pub fn begin(&mut self, method: &str, params: Option<Value>) -> Step {
        let answers = self.answers.take().filter(|a| a.method == method && a.asked == params);
        let sent = match answers {
            Some(answers) => Some(with_answers(params.clone(), answers)),
            None => params.clone(),
        };
        let mut call = Call {
            method: method.to_owned(),
            asked: params,
            params: sent,
            sent: Purpose::Request,
            id: None,
            reopened: false,
        };
        let step = self.first_message(&mut call, None);
        self.call = Some(call);
        step
    }

    /// The headers of the `DELETE` that ends the session, if there is one; the session is
    /// forgotten either way (transport spec: a client that no longer needs it SHOULD end it).
    pub fn close(&mut self) -> Option<Vec<(&'static str, String)>> {
        let session = self.session_id.take()?;
        let mut headers = vec![(header::SESSION_ID, session)];
        if let Some(version) = self.negotiated.take() {
            headers.push((header::PROTOCOL_VERSION, version));
        }
        Some(headers)
    }

    /// The answer to the last [`Step::Send`].
    pub fn on_answer(&mut self, answer: Answer<'_>) -> Step {
        let Some(mut call) = self.call.take() else {
            return Step::Failed(McpError::NoCall);
        };
        let step = self.judge(&mut call, answer);
        if matches!(step, Step::Send(_)) {
            self.call = Some(call);
        }
        step
    }

    fn judge(&mut self, call: &mut Call, answer: Answer<'_>) -> Step {
        let method = match call.sent {
            Purpose::Initialize => "initialize",
            Purpose::Initialized => "notifications/initialized",
            Purpose::Request => call.method.as_str(),
        }
        .to_owned();
        let success = (200..300).contains(&answer.status);
        match call.sent {
            Purpose::Initialized => {
                if success {
                    return self.send(call, Purpose::Request, None);
                }
                let body = text_of(&answer.body);
                return Step::Failed(McpError::NotificationRefused { method, status: answer.status, body });
            }
            Purpose::Request if answer.status == 404 && self.session_id.is_some() => {
                // The session is gone (transport spec): start a new one, once per call.
                self.session_id = None;
                self.negotiated = None;
                if call.reopened {
                    return Step::Failed(McpError::SessionLost);
                }
                call.reopened = true;
                return self.first_message(call, Some(Restart::SessionExpired));
            }
            Purpose::Initialize if !self.take_session_id(answer.session_id) => {
                return Step::Failed(McpError::InvalidSessionId);
            }
            _ => {}
        }
        let Some(id) = &call.id else { return Step::Failed(McpError::NoCall) };
        let Some(message) = response_message(&answer, id) else {
            let body = text_of(&answer.body);
            return Step::Failed(if success {
                McpError::NotAResponse { method, body }
            } else {
                McpError::Http { method, status: answer.status, body }
            });
        };
        let response: mcp::Response = match serde_json::from_value(message) {
            Ok(response) => response,
            Err(e) => return Step::Failed(McpError::Malformed { method, reason: e.to_string() }),
        };
        let result = match (response.result, response.error) {
            (_, Some(error)) if error.code == error_code::UNSUPPORTED_VERSION => {
                return self.fall_back(call, &error);
            }
            (_, Some(error)) => return Step::Failed(McpError::Rpc { method, error }),
            (Some(result), None) => result,
            (None, None) => {
                return Step::Failed(McpError::Malformed {
                    method,
                    reason: "it has neither result nor error".into(),
                });
            }
        };
        if call.sent == Purpose::Request {
            if result.get("resultType").and_then(Value::as_str) == Some(INPUT_REQUIRED) {
                let declared = self.url_elicitation && self.is_stateless();
                self.answers =
                    declared.then(|| accept_url_elicitations(&result)).flatten().map(|input_responses| {
                        Answers {
                            method: call.method.clone(),
                            asked: call.asked.clone(),
                            input_responses,
                            request_state: result.get("requestState").cloned(),
                        }
                    });
                return Step::Failed(McpError::InputRequired { method, result });
            }
            return Step::Done(result);
        }
        // The answer to `initialize`: the server's choice must be a revision this client speaks
        // (lifecycle, version negotiation).
        let chosen = result.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
        if !SESSION_VERSIONS.contains(&chosen) {
            return Step::Failed(McpError::UnknownVersion(chosen.to_owned()));
        }
        self.negotiated = Some(chosen.to_owned());
        self.send(call, Purpose::Initialized, None)
    }

    /// Keeps the `Mcp-Session-Id` of the answer to `initialize`; `false` if it is not visible
    /// ASCII (transport spec), which is then no session id at all.
    fn take_session_id(&mut self, session_id: Option<&str>) -> bool {
        match session_id {
            None => true,
            Some(id) if !id.is_empty() && id.bytes().all(|b| (0x21..=0x7e).contains(&b)) => {
                self.session_id = Some(id.to_owned());
                true
            }
            Some(_) => false,
        }
    }

    /// `-32022`: switch to the best version both sides speak and start the call over, once.
    fn fall_back(&mut self, call: &mut Call, error: &RpcError) -> Step {
        let supported: Vec<String> = error
            .data
            .as_ref()
            .and_then(|d| d.get("supported"))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let requested = self.version.clone();
        match choose_version(&supported) {
            Some(version) if !self.version_retried => {
                self.version_retried = true;
                self.version = version.to_owned();
                self.session_id = None;
                self.negotiated = None;
                call.reopened = false;
                if !self.is_stateless() {
                    // Answers to an `input_required` are the stateless form's: a session has none.
                    call.params = call.asked.clone();
                }
                let restart = Restart::VersionFallback { from: requested, to: version.to_owned() };
                self.first_message(call, Some(restart))
            }
            _ => Step::Failed(McpError::UnsupportedVersion { requested, supported }),
        }
    }

    /// The call's first message: `initialize` when a session is needed and not open, else the
    /// request itself.
    fn first_message(&mut self, call: &mut Call, restart: Option<Restart>) -> Step {
        let purpose = if self.is_stateless() || self.negotiated.is_some() {
            Purpose::Request
        } else {
            Purpose::Initialize
        };
        self.send(call, purpose, restart)
    }

    fn send(&mut self, call: &mut Call, purpose: Purpose, restart: Option<Restart>) -> Step {
        let (method, id, params) = match purpose {
            Purpose::Initialize => {
                let params = json!({
                    "protocolVersion": self.version,
                    "capabilities": {},
                    "clientInfo": self.client_info,
                });
                ("initialize".to_owned(), Some(self.take_id()), Some(params))
            }
            Purpose::Initialized => ("notifications/initialized".to_owned(), None, None),
            Purpose::Request => {
                (call.method.clone(), Some(self.take_id()), self.with_meta(call.params.clone()))
            }
        };
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("accept", header::ACCEPT_JSON_OR_EVENT_STREAM.to_owned()),
        ];
        let version = if self.is_stateless() { Some(self.version.clone()) } else { self.negotiated.clone() };
        if let Some(version) = version {
            headers.push((header::PROTOCOL_VERSION, version));
        }
        if let Some(session) = &self.session_id {
            headers.push((header::SESSION_ID, session.clone()));
        }
        if self.is_stateless() {
            headers.push((header::METHOD, method.clone()));
            if let Some(name) = params.as_ref().and_then(|p| p.get("name")).and_then(Value::as_str) {
                headers.push((header::NAME, mcp::encode_header_value(name)));
            }
        }
        let mut message = Map::new();
        message.insert("jsonrpc".into(), json!("2.0"));
        if let Some(id) = &id {
            message.insert("id".into(), json!(id));
        }
        message.insert("method".into(), json!(method));
        if let Some(params) = params {
            message.insert("params".into(), params);
        }
        call.sent = purpose;
        call.id = id.clone();
        Step::Send(Outgoing {
            purpose,
            restart,
            method,
            id,
            headers,
            body: Value::Object(message).to_string(),
        })
    }

    fn take_id(&mut self) -> RequestId {
        let id = RequestId::Number(self.next_id);
        self.next_id += 1;
        id
    }

    /// In the stateless revision, `params._meta` says which revision this is, what the client
    /// can do and who it is.
    fn with_meta(&self, params: Option<Value>) -> Option<Value> {
        if !self.is_stateless() {
            return params;
        }
        let mut params = match params {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let meta = params.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(META_PROTOCOL_VERSION.into(), json!(self.version));
            let capabilities =
                if self.url_elicitation { json!({"elicitation": {"url": {}}}) } else { json!({}) };
            meta.insert(META_CLIENT_CAPABILITIES.into(), capabilities);
            meta.insert(META_CLIENT_INFO.into(), json!(self.client_info));
        }
        Some(Value::Object(params))
    }
}

/// The `resultType` of a result that is not one yet (2026-07-28 multi round-trip requests).
const INPUT_REQUIRED: &str = "input_required";

/// `accept` for each of an `input_required` result's input requests, if every one is a URL-mode
/// elicitation (the only kind this core declares); `None` if any is not.
fn accept_url_elicitations(result: &Value) -> Option<Map<String, Value>> {
    // A loop, not `collect`: collecting into a map sorts, and that sort's code cost the SPA's
    // wasm 2.4 KB gzipped (measured, 6 December 2026).
    let mut answers = Map::new();
    for (key, request) in result.get("inputRequests")?.as_object()? {
        if !mcp::is_url_elicitation(request) {
            return None;
        }
        answers.insert(key.clone(), json!({"action": "accept"}));
    }
    Some(answers)
}

/// `params` with the answers to the `input_required` the call met.
fn with_answers(params: Option<Value>, answers: Answers) -> Value {
    let mut params = match params {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    params.insert("inputResponses".into(), Value::Object(answers.input_responses));
    if let Some(state) = answers.request_state {
        params.insert("requestState".into(), state);
    }
    Value::Object(params)
}

/// The version to switch to, from those a server says it speaks: the stateless revision if it is
/// one of them, else the newest session revision both sides speak.
pub fn choose_version(supported: &[String]) -> Option<&'static str> {
    std::iter::once(STATELESS_VERSION)
        .chain(SESSION_VERSIONS.iter().copied())
        .find(|ours| supported.iter().any(|theirs| theirs == ours))
}

/// Should the body be read as an event stream? A successful answer whose content type says so.
pub fn is_event_stream(status: u16, content_type: Option<&str>) -> bool {
    (200..300).contains(&status)
        && content_type.is_some_and(|t| t.trim_start().starts_with(header::EVENT_STREAM))
}

/// Is `message` the response to the request with `id` (not a request or notification of the
/// server's that happens to reuse the id)?
pub fn is_response_to(message: &Value, id: &RequestId) -> bool {
    message.get("method").is_none() && message.get("id") == Some(&json!(id))
}

/// The response to `id` in an answer's body, JSON or event stream.
fn response_message(answer: &Answer<'_>, id: &RequestId) -> Option<Value> {
    match &answer.body {
        Body::Message(message) => is_response_to(message, id).then(|| message.clone()),
        Body::Text(text)
            if answer.content_type.is_some_and(|t| t.trim_start().starts_with(header::EVENT_STREAM)) =>
        {
            mcp::sse_messages(text).into_iter().find(|m| is_response_to(m, id))
        }
        Body::Text(text) => serde_json::from_str::<Value>(text).ok().filter(|m| is_response_to(m, id)),
    }
}

/// The start of a body, for an error message: its first line, at most 200 characters.
fn text_of(body: &Body<'_>) -> String {
    let text = match body {
        Body::Text(text) => (*text).to_owned(),
        Body::Message(message) => message.to_string(),
    };
    let line = text.lines().next().unwrap_or_default();
    let short: String = line.chars().take(200).collect();
    if short.len() < text.trim_end().len() { format!("{short}…") } else { short }
}

/// An event stream read as it arrives: bytes in, complete JSON messages out. Events end with a
/// blank line; the three line endings of `text/event-stream` (CRLF, LF, CR) are all understood.
///
/// Each byte is looked at a bounded number of times, however the stream is cut into chunks: line
/// endings are rewritten as each chunk arrives, and the search for a blank line starts where the
/// last one stopped. (Rescanning everything held on every chunk cost a server that sends 16 MiB
/// without a blank line, a few bytes at a time, quadratic time in the client.)
#[derive(Debug, Clone, Default)]
pub struct EventStream {
    /// What arrived after the last complete event, every line ending already an LF.
    pending: Vec<u8>,
    /// The last byte that arrived was a CR, already written as an LF: an LF right after it is
    /// the second half of a CRLF, not a line ending of its own.
    after_cr: bool,
    /// How much of `pending` has been searched for a blank line, without finding one.
    searched: usize,
    /// Bytes looked at in those searches, over the stream's life.
    #[cfg(test)]
    scanned: usize,
}

/// The event stream is not UTF-8, as `text/event-stream` must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event stream is not UTF-8")]
pub struct NotUtf8;

impl EventStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages completed by `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Value>, NotUtf8> {
        self.pending.reserve(chunk.len());
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => {}
                // A CR ends the line at once, whatever follows it.
                b'\r' => self.pending.push(b'\n'),
                other => self.pending.push(other),
            }
            self.after_cr = byte == b'\r';
        }
        self.complete()
    }

    /// The stream ended: the messages of a last event that lacked its blank line.
    pub fn finish(&mut self) -> Result<Vec<Value>, NotUtf8> {
        self.after_cr = false;
        self.push(b"\n\n")
    }

    fn complete(&mut self) -> Result<Vec<Value>, NotUtf8> {
        // A blank line may begin with the last byte searched before.
        let from = self.searched.saturating_sub(1);
        let fresh = self.pending.get(from..).unwrap_or_default();
        #[cfg(test)]
        {
            self.scanned += fresh.len();
        }
        let last_blank_line = fresh.windows(2).rposition(|w| w == b"\n\n");
        self.searched = self.pending.len();
        let Some(at) = last_blank_line else {
            return Ok(Vec::new());
        };
        // Within `pending`: `at` is a window's start, so `from + at + 2 <= pending.len()`.
        let complete: Vec<u8> = self.pending.drain(..from + at + 2).collect();
        self.searched = self.pending.len();
        // LF never occurs inside a multi-byte UTF-8 sequence, so cutting after a blank line never
        // splits a character.
        let complete = std::str::from_utf8(&complete).map_err(|_| NotUtf8)?;
        Ok(mcp::sse_messages(complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Implementation {
        Implementation { name: "test-client".into(), version: "1".into(), title: None }
    }

    fn sent(step: Step) -> Outgoing {
        match step {
            Step::Send(outgoing) => outgoing,
            other => panic!("expected a message to send, got {other:?}"),
        }
    }

    fn header<'a>(outgoing: &'a Outgoing, name: &str) -> Option<&'a str> {
        outgoing.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn body(outgoing: &Outgoing) -> Value {
        serde_json::from_str(&outgoing.body).unwrap()
    }

    fn json_answer(text: &str) -> Answer<'_> {
        Answer {
            status: 200,
            content_type: Some("application/json"),
            session_id: None,
            body: Body::Text(text),
        }
    }

    fn result_for(outgoing: &Outgoing, result: Value) -> String {
        json!({"jsonrpc": "2.0", "id": outgoing.id, "result": result}).to_string()
    }

    /// Opens a session-form connection: initialize (with `session`), initialized; returns the
    /// request message that follows.
    fn open(connection: &mut Connection, method: &str, session: Option<&str>) -> Outgoing {
        let initialize = sent(connection.begin(method, Some(json!({"name": "echo"}))));
        assert_eq!(initialize.purpose, Purpose::Initialize);
        let answer = result_for(
            &initialize,
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                                                    "serverInfo": {"name": "s", "version": "1"}}),
        );
        let initialized = sent(connection.on_answer(Answer { session_id: session, ..json_answer(&answer) }));
        assert_eq!(initialized.purpose, Purpose::Initialized);
        sent(connection.on_answer(Answer {
            status: 202,
            content_type: None,
            session_id: None,
            body: Body::Text(""),
        }))
    }

    #[test]
    fn a_session_opens_with_initialize_and_every_later_request_carries_its_id_and_version() {
        let mut connection = Connection::new("2025-11-25", info()).unwrap();
        let initialize = sent(connection.begin("tools/list", None));
        assert_eq!(body(&initialize)["params"]["protocolVersion"], "2025-11-25");
        assert_eq!(body(&initialize)["params"]["clientInfo"]["name"], "test-client");
        assert_eq!(header(&initialize, header::PROTOCOL_VERSION), None, "nothing negotiated yet");
        assert_eq!(header(&initialize, "accept"), Some("application/json, text/event-stream"));

        let answer = result_for(&initialize, json!({"protocolVersion": "2025-06-18"}));
        let initialized =
            sent(connection.on_answer(Answer { session_id: Some("s-1"), ..json_answer(&answer) }));
        assert_eq!(body(&initialized), json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(initialized.id, None);
        assert_eq!(header(&initialized, header::SESSION_ID), Some("s-1"));
        assert_eq!(header(&initialized, header::PROTOCOL_VERSION), Some("2025-06-18"), "the server's choice");

        let request = sent(connection.on_answer(Answer {
            status: 202,
            content_type: None,
            session_id: None,
            body: Body::Text(""),
        }));
        assert_eq!(request.purpose, Purpose::Request);
        assert_eq!(body(&request)["method"], "tools/list");
        assert_eq!(header(&request, header::SESSION_ID), Some("s-1"));
        assert_eq!(header(&request, header::METHOD), None, "routing headers are for 2026-07-28");
        let done = connection.on_answer(json_answer(&result_for(&request, json!({"tools": []}))));
        assert_eq!(done, Step::Done(json!({"tools": []})));

        // The session stays open for the next call.
        let next = sent(connection.begin("tools/call", Some(json!({"name": "echo"}))));
        assert_eq!(next.purpose, Purpose::Request);
        assert_ne!(next.id, request.id, "ids are not reused");
        assert_eq!(
            connection.close(),
            Some(vec![
                (header::SESSION_ID, "s-1".to_owned()),
                (header::PROTOCOL_VERSION, "2025-06-18".to_owned())
            ])
        );
        assert_eq!(connection.close(), None);
    }

    #[test]
    fn a_server_may_open_no_session_and_must_choose_a_version_the_client_speaks() {
        let mut connection = Connection::new("2025-11-25", info()).unwrap();
        let request = open(&mut connection, "tools/list", None);
        assert_eq!(header(&request, header::SESSION_ID), None);

        let mut odd = Connection::new("2025-11-25", info()).unwrap();
        let initialize = sent(odd.begin("tools/list", None));
        let answer = result_for(&initialize, json!({"protocolVersion": "2099-01-01"}));
        assert_eq!(
            odd.on_answer(json_answer(&answer)),
            Step::Failed(McpError::UnknownVersion("2099-01-01".into()))
        );

        let mut bad_id = Connection::new("2025-11-25", info()).unwrap();
        let initialize = sent(bad_id.begin("tools/list", None));
        let answer = result_for(&initialize, json!({"protocolVersion": "2025-11-25"}));
        let step = bad_id.on_answer(Answer { session_id: Some("bad id\n"), ..json_answer(&answer) });
        assert_eq!(step, Step::Failed(McpError::InvalidSessionId));
    }

    #[test]
    fn a_refused_initialized_notification_fails_the_call() {
        let mut connection = Connection::new("2025-11-25", info()).unwrap();
        let initialize = sent(connection.begin("tools/list", None));
        let answer = result_for(&initialize, json!({"protocolVersion": "2025-11-25"}));
        sent(connection.on_answer(json_answer(&answer)));
        let step = connection.on_answer(Answer {
            status: 400,
            content_type: None,
            session_id: None,
            body: Body::Text("no"),
        });
        assert!(matches!(step, Step::Failed(McpError::NotificationRefused { status: 400, .. })), "{step:?}");
    }

    #[test]
    fn the_stateless_revision_sends_meta_and_routing_headers_and_no_handshake() {
        let mut connection = Connection::new(STATELESS_VERSION, info()).unwrap();
        let request = sent(connection.begin("tools/call", Some(json!({"name": "é-tool", "arguments": {}}))));
        assert_eq!(request.purpose, Purpose::Request);
        assert_eq!(header(&request, header::PROTOCOL_VERSION), Some(STATELESS_VERSION));
        assert_eq!(header(&request, header::METHOD), Some("tools/call"));
        assert_eq!(header(&request, header::NAME), Some(mcp::encode_header_value("é-tool").as_str()));
        let meta = &body(&request)["params"]["_meta"];
        assert_eq!(meta[META_PROTOCOL_VERSION], STATELESS_VERSION);
        assert_eq!(meta[META_CLIENT_CAPABILITIES], json!({}));
        assert_eq!(meta[META_CLIENT_INFO]["name"], "test-client");
        let list = sent(connection.begin("tools/list", None));
        assert_eq!(header(&list, header::NAME), None, "tools/list names nothing");
        assert!(body(&list)["params"]["_meta"].is_object(), "params are created for _meta");
    }

    /// 2026-07-28 multi round-trip requests: a URL elicitation asked for in an `input_required`
    /// result is answered `accept` by the same call made again, with the server's state; any
    /// other call, and a client that did not declare URL elicitation, answer nothing.
    #[test]
    fn a_client_with_url_elicitation_answers_input_required_when_it_makes_the_call_again() {
        let mut connection = Connection::new(STATELESS_VERSION, info()).unwrap().with_url_elicitation();
        let params = json!({"name": "delete_note", "arguments": {"id": 7}});
        let first = sent(connection.begin("tools/call", Some(params.clone())));
        let meta = &body(&first)["params"]["_meta"];
        assert_eq!(meta[META_CLIENT_CAPABILITIES], json!({"elicitation": {"url": {}}}));
        let asking = json!({"resultType": "input_required", "requestState": "opaque",
            "inputRequests": {"a-1": {"method": "elicitation/create",
                "params": {"mode": "url", "url": "https://as.example/approvals", "message": "approve"}}}});
        let step = connection.on_answer(json_answer(&result_for(&first, asking.clone())));
        assert_eq!(
            step,
            Step::Failed(McpError::InputRequired { method: "tools/call".into(), result: asking.clone() })
        );

        // The same call again answers the elicitation; the answer is then spent.
        let again = body(&sent(connection.begin("tools/call", Some(params.clone()))));
        assert_eq!(again["params"]["inputResponses"], json!({"a-1": {"action": "accept"}}));
        assert_eq!(
            (&again["params"]["requestState"], &again["params"]["arguments"]),
            (&json!("opaque"), &json!({"id": 7}))
        );
        let done = json!({"resultType": "complete", "content": []});
        let request = sent(connection.begin("tools/call", Some(params.clone())));
        assert!(body(&request)["params"].get("inputResponses").is_none(), "no input_required since");
        assert_eq!(connection.on_answer(json_answer(&result_for(&request, done.clone()))), Step::Done(done));

        // Another call (other arguments) answers nothing.
        let first = sent(connection.begin("tools/call", Some(params.clone())));
        connection.on_answer(json_answer(&result_for(&first, asking.clone())));
        let other = sent(
            connection.begin("tools/call", Some(json!({"name": "delete_note", "arguments": {"id": 8}}))),
        );
        assert!(body(&other)["params"].get("inputResponses").is_none());

        // Input this core cannot give (a form), or a client without URL elicitation: no answers.
        let form = json!({"resultType": "input_required", "inputRequests": {"f": {"method": "elicitation/create",
            "params": {"mode": "form", "message": "?", "requestedSchema": {}}}}});
        let mut plain = Connection::new(STATELESS_VERSION, info()).unwrap();
        for (connection, asking) in [(&mut connection, form), (&mut plain, asking.clone())] {
            let first = sent(connection.begin("tools/call", Some(params.clone())));
            let meta = body(&first)["params"]["_meta"][META_CLIENT_CAPABILITIES].clone();
            let step = connection.on_answer(json_answer(&result_for(&first, asking)));
            assert!(matches!(step, Step::Failed(McpError::InputRequired { .. })), "{step:?}");
            let again = body(&sent(connection.begin("tools/call", Some(params.clone()))));
            assert!(again["params"].get("inputResponses").is_none(), "{meta}");
        }

        // The answers are the stateless form's: a call that falls back to a session revision
        // (-32022) sends the params it was given.
        let mut falling = Connection::new(STATELESS_VERSION, info()).unwrap().with_url_elicitation();
        let first = sent(falling.begin("tools/call", Some(params.clone())));
        falling.on_answer(json_answer(&result_for(&first, asking.clone())));
        let retry = sent(falling.begin("tools/call", Some(params.clone())));
        assert!(body(&retry)["params"].get("inputResponses").is_some());
        let refusal = json!({"jsonrpc": "2.0", "id": retry.id, "error": {"code": error_code::UNSUPPORTED_VERSION,
            "message": "unsupported", "data": {"supported": ["2025-11-25"]}}});
        let initialize = sent(falling.on_answer(Answer { status: 400, ..json_answer(&refusal.to_string()) }));
        assert_eq!(body(&initialize)["params"]["capabilities"], json!({}), "no elicitation in a session");
        let opened = result_for(&initialize, json!({"protocolVersion": "2025-11-25"}));
        sent(falling.on_answer(json_answer(&opened)));
        let accepted = Answer { status: 202, content_type: None, session_id: None, body: Body::Text("") };
        let resent = body(&sent(falling.on_answer(accepted)));
        assert_eq!(resent["params"], params, "{resent}");
    }

    #[test]
    fn an_expired_session_is_reopened_once_per_call() {
        let mut connection = Connection::new("2025-11-25", info()).unwrap();
        open(&mut connection, "tools/list", Some("s-1"));
        let gone = Answer { status: 404, content_type: None, session_id: None, body: Body::Text("") };
        let initialize = sent(connection.on_answer(gone.clone()));
        assert_eq!(
            (initialize.purpose, initialize.restart.clone()),
            (Purpose::Initialize, Some(Restart::SessionExpired))
        );
        assert_eq!(header(&initialize, header::SESSION_ID), None, "the old session is forgotten");
        let answer = result_for(&initialize, json!({"protocolVersion": "2025-11-25"}));
        sent(connection.on_answer(Answer { session_id: Some("s-2"), ..json_answer(&answer) }));
        let request = sent(connection.on_answer(Answer {
            status: 202,
            content_type: None,
            session_id: None,
            body: Body::Text(""),
        }));
        assert_eq!(header(&request, header::SESSION_ID), Some("s-2"));
        assert_eq!(connection.on_answer(gone), Step::Failed(McpError::SessionLost));
    }

    #[test]
    fn a_404_without_a_session_is_an_http_error() {
        let mut connection = Connection::new(STATELESS_VERSION, info()).unwrap();
        sent(connection.begin("tools/list", None));
        let step = connection.on_answer(Answer {
            status: 404,
            content_type: Some("text/plain"),
            session_id: None,
            body: Body::Text("not here\nat all"),
        });
        assert_eq!(
            step,
            Step::Failed(McpError::Http {
                method: "tools/list".into(),
                status: 404,
                body: "not here…".into()
            })
        );
    }

    #[test]
    fn an_unsupported_version_switches_once_to_the_best_both_speak() {
        let mut connection = Connection::new(STATELESS_VERSION, info()).unwrap();
        let request = sent(connection.begin("tools/list", None));
        let refusal = |outgoing: &Outgoing, supported: Value| {
            json!({"jsonrpc": "2.0", "id": outgoing.id, "error": {"code": error_code::UNSUPPORTED_VERSION,
                   "message": "unsupported", "data": {"supported": supported}}})
            .to_string()
        };
        let text = refusal(&request, json!(["2025-03-26", "2025-06-18"]));
        let answer = Answer { status: 400, ..json_answer(&text) };
        let initialize = sent(connection.on_answer(answer));
        assert_eq!(
            initialize.restart,
            Some(Restart::VersionFallback { from: STATELESS_VERSION.into(), to: "2025-06-18".into() })
        );
        assert_eq!(initialize.purpose, Purpose::Initialize, "a session revision opens a session first");
        assert_eq!(body(&initialize)["params"]["protocolVersion"], "2025-06-18");
        let answer = result_for(&initialize, json!({"protocolVersion": "2025-06-18"}));
        sent(connection.on_answer(json_answer(&answer)));
        let request = sent(connection.on_answer(Answer {
            status: 202,
            content_type: None,
            session_id: None,
            body: Body::Text(""),
        }));
        // Refused again: no second switch.
        let text = refusal(&request, json!(["2025-03-26"]));
        assert_eq!(
            connection.on_answer(json_answer(&text)),
            Step::Failed(McpError::UnsupportedVersion {
                requested: "2025-06-18".into(),
                supported: vec!["2025-03-26".into()]
            })
        );

        let mut stuck = Connection::new("2025-11-25", info()).unwrap();
        let initialize = sent(stuck.begin("tools/list", None));
        let text = refusal(&initialize, json!(["1999-01-01"]));
        assert!(matches!(
            stuck.on_answer(json_answer(&text)),
            Step::Failed(McpError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn the_version_to_switch_to_is_the_best_both_sides_speak() {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(choose_version(&owned(&["2026-07-28", "2025-11-25"])), Some(STATELESS_VERSION));
        assert_eq!(choose_version(&owned(&["2025-03-26", "2025-06-18"])), Some("2025-06-18"));
        assert_eq!(choose_version(&owned(&["2099-01-01"])), None);
        assert_eq!(choose_version(&[]), None);
        assert!(Connection::new("1.0", info()).is_err());
    }

    #[test]
    fn answers_are_told_apart_json_event_stream_rpc_error_and_http_error() {
        let mut connection = Connection::new(STATELESS_VERSION, info()).unwrap();
        let request = sent(connection.begin("tools/call", Some(json!({"name": "echo"}))));
        let id = request.id.clone().unwrap();
        // An event stream with a notification and a server request reusing the id first.
        let stream = format!(
            "data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}}\n\n\
             data: {{\"jsonrpc\":\"2.0\",\"id\":{0},\"method\":\"ping\"}}\n\n\
             data: {{\"jsonrpc\":\"2.0\",\"id\":{0},\"result\":{{\"content\":[]}}}}\n\n",
            json!(id)
        );
        let answer = Answer {
            status: 200,
            content_type: Some("text/event-stream"),
            session_id: None,
            body: Body::Text(&stream),
        };
        assert_eq!(connection.on_answer(answer), Step::Done(json!({"content": []})));

        let request = sent(connection.begin("tools/call", Some(json!({"name": "echo"}))));
        let error = json!({"jsonrpc": "2.0", "id": request.id, "error": {"code": -32602, "message": "bad"}})
            .to_string();
        assert_eq!(
            connection.on_answer(Answer { status: 200, ..json_answer(&error) }),
            Step::Failed(McpError::Rpc { method: "tools/call".into(), error: RpcError::new(-32602, "bad") })
        );

        // A JSON-RPC error in a 4xx is still the server's answer to the request.
        let request = sent(connection.begin("tools/list", None));
        let error = json!({"jsonrpc": "2.0", "id": request.id, "error": {"code": -32600, "message": "no"}})
            .to_string();
        assert!(matches!(
            connection.on_answer(Answer { status: 400, ..json_answer(&error) }),
            Step::Failed(McpError::Rpc { .. })
        ));

        sent(connection.begin("tools/list", None));
        assert!(matches!(
            connection.on_answer(Answer {
                status: 500,
                content_type: Some("text/html"),
                session_id: None,
                body: Body::Text("<h1>oops</h1>")
            }),
            Step::Failed(McpError::Http { status: 500, .. })
        ));

        let request = sent(connection.begin("tools/list", None));
        let other_id = json!({"jsonrpc": "2.0", "id": "someone-else", "result": {}}).to_string();
        assert!(matches!(
            connection.on_answer(json_answer(&other_id)),
            Step::Failed(McpError::NotAResponse { .. })
        ));
        let _ = request;

        let request = sent(connection.begin("tools/list", None));
        let neither = json!({"jsonrpc": "2.0", "id": request.id}).to_string();
        assert!(matches!(
            connection.on_answer(json_answer(&neither)),
            Step::Failed(McpError::Malformed { .. })
        ));
        assert_eq!(
            connection.on_answer(json_answer("{}")),
            Step::Failed(McpError::NoCall),
            "the call is over"
        );

        // A message the client picked out of a stream itself.
        let request = sent(connection.begin("tools/list", None));
        let picked = json!({"jsonrpc": "2.0", "id": request.id, "result": {"tools": []}});
        let answer = Answer {
            status: 200,
            content_type: Some("text/event-stream"),
            session_id: None,
            body: Body::Message(picked),
        };
        assert_eq!(connection.on_answer(answer), Step::Done(json!({"tools": []})));
    }

    #[test]
    fn only_successful_event_stream_answers_are_streamed() {
        assert!(is_event_stream(200, Some("text/event-stream; charset=utf-8")));
        assert!(!is_event_stream(400, Some("text/event-stream")));
        assert!(!is_event_stream(200, Some("application/json")));
        assert!(!is_event_stream(200, None));
    }

    #[test]
    fn an_event_stream_is_read_across_chunks_and_line_endings() {
        let mut stream = EventStream::new();
        assert_eq!(stream.push(b"data: {\"a\"").unwrap(), Vec::<Value>::new());
        assert_eq!(stream.push(b":1}\r").unwrap(), Vec::<Value>::new(), "a CR may be half of a CRLF");
        // The LF after it is the CRLF's second half, not a blank line; CR CR is one.
        assert_eq!(
            stream.push(b"\n\r\ndata: {\"b\":2}\r\r").unwrap(),
            vec![json!({"a": 1}), json!({"b": 2})]
        );
        assert_eq!(
            stream.push(b"\ndata: {\"c\":3}\r").unwrap(),
            Vec::<Value>::new(),
            "an LF after CR CR is a third line end"
        );
        assert_eq!(stream.push(b"\n").unwrap(), Vec::<Value>::new(), "the LF of a CRLF split across chunks");
        assert_eq!(stream.push(b"\n").unwrap(), vec![json!({"c": 3})], "a blank line split across chunks");
        assert_eq!(stream.push("data: {\"é\":3}".as_bytes()).unwrap(), Vec::<Value>::new());
        assert_eq!(stream.finish().unwrap(), vec![json!({"é": 3})], "a last event without its blank line");
        let mut broken = EventStream::new();
        assert_eq!(broken.push(b"data: \xff\n\n"), Err(NotUtf8));
    }

    #[test]
    fn every_way_of_cutting_a_stream_into_chunks_reads_the_same_messages() {
        let body = "data: {\"a\":1}\r\n\r\n: note\r\rdata: {\"b\":\r\ndata: 2}\n\ndata: {\"é\":3}\r\n\r\n";
        let expected = vec![json!({"a": 1}), json!({"b": 2}), json!({"é": 3})];
        let bytes = body.as_bytes();
        for cut in 0..=bytes.len() {
            for second in cut..=bytes.len() {
                let mut stream = EventStream::new();
                let mut read = Vec::new();
                for chunk in [&bytes[..cut], &bytes[cut..second], &bytes[second..]] {
                    read.extend(stream.push(chunk).unwrap());
                }
                read.extend(stream.finish().unwrap());
                assert_eq!(read, expected, "cut at {cut} and {second}");
            }
        }
        let mut stream = EventStream::new();
        let read: Vec<Value> = bytes.iter().flat_map(|b| stream.push(&[*b]).unwrap()).collect();
        assert_eq!(read, expected, "one byte at a time");
    }

    /// A long event arriving a byte at a time: each byte is searched a bounded number of times,
    /// not once per chunk that follows it.
    #[test]
    fn a_long_event_in_tiny_chunks_is_scanned_in_linear_time() {
        let mut stream = EventStream::new();
        let long = 64 * 1024;
        assert!(stream.push(b"data: \"").unwrap().is_empty());
        for _ in 0..long {
            assert!(stream.push(b"x").unwrap().is_empty());
        }
        assert_eq!(stream.push(b"\"\n\n").unwrap(), vec![json!("x".repeat(long))]);
        assert!(stream.scanned <= 3 * (long + 10), "{} bytes scanned for {long}", stream.scanned);
        assert!(stream.pending.is_empty());
    }

    #[test]
    fn is_response_to_ignores_server_requests_that_reuse_the_id() {
        let id = RequestId::Number(3);
        assert!(is_response_to(&json!({"jsonrpc": "2.0", "id": 3, "result": {}}), &id));
        assert!(!is_response_to(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}), &id));
        assert!(!is_response_to(&json!({"jsonrpc": "2.0", "id": "3", "result": {}}), &id));
    }
}
