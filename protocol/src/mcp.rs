//! The Model Context Protocol messages this project speaks: JSON-RPC 2.0 envelopes, the
//! lifecycle (`initialize`, `server/discover`), and tools (`tools/list`, `tools/call`).
//!
//! Revisions: the session-based 2025-03-26 / 2025-06-18 / 2025-11-25 forms, and the stateless
//! 2026-07-28 form, where each request stands alone.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The newest session-based revision, answered when a client asks for one we do not know.
pub const LATEST_SESSION_VERSION: &str = "2025-11-25";
/// Session-based revisions, newest first.
pub const SESSION_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// The stateless revision: no `initialize`, no sessions; every request carries its version.
pub const STATELESS_VERSION: &str = "2026-07-28";
/// What a request without `MCP-Protocol-Version` is assumed to speak (2025-06-18 transport spec,
/// for backwards compatibility).
pub const DEFAULT_ASSUMED_VERSION: &str = "2025-03-26";

/// The version a server answers to `initialize`: the client's if supported, else our newest.
pub fn negotiate_version(requested: &str) -> &'static str {
    SESSION_VERSIONS.iter().find(|v| **v == requested).copied().unwrap_or(LATEST_SESSION_VERSION)
}

/// Is this a revision this project implements (either form)?
pub fn is_supported_version(version: &str) -> bool {
    SESSION_VERSIONS.contains(&version) || version == STATELESS_VERSION
}

/// The HTTP headers of the Streamable HTTP transport, lower case (header names are case-insensitive,
/// and lower case is what `http::HeaderName::from_static` accepts). The server and both clients use
/// these, so a name cannot be spelt two ways.
pub mod header {
    /// `Mcp-Session-Id`: the session a server assigns in its answer to `initialize`; the client
    /// sends it back on every later request (2025 revisions).
    pub const SESSION_ID: &str = "mcp-session-id";
    /// `MCP-Protocol-Version`: the revision a request speaks (the negotiated one in a session; the
    /// request's own in the stateless revision).
    pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
    /// `Mcp-Method`: the JSON-RPC method, for routing without reading the body (2026-07-28).
    pub const METHOD: &str = "mcp-method";
    /// `Mcp-Name`: the tool (or resource, prompt) a request names, encoded with
    /// [`super::encode_header_value`] (2026-07-28).
    pub const NAME: &str = "mcp-name";
    /// What a client accepts in answer to a POST: a JSON body or an event stream (transport spec).
    pub const ACCEPT_JSON_OR_EVENT_STREAM: &str = "application/json, text/event-stream";
    /// The media type of an event-stream answer.
    pub const EVENT_STREAM: &str = "text/event-stream";
}

/// `params._meta` keys of the stateless revision: the version a request speaks, what the client
/// can do, and (in results) who the server is.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// A value for the `Mcp-Name` header (2026-07-28): as it is when it is printable ASCII without
/// leading or trailing spaces, else `=?base64?…?=` so that any tool name survives HTTP.
pub fn encode_header_value(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?base64?");
    if plain {
        value.to_owned()
    } else {
        use base64::Engine as _;
        format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// The inverse of [`encode_header_value`]; a value that is not valid `=?base64?…?=` is taken as
/// it is.
pub fn decode_header_value(value: &str) -> String {
    try_decode_header_value(value).unwrap_or_else(|| value.to_owned())
}

/// What a header value sent by [`encode_header_value`]'s rules stands for: the decoded text of a
/// `=?base64?…?=` value, any other value as it is. `None` for a value in the sentinel's shape that
/// is not the Base64 of UTF-8: a conforming client encodes every value of that shape, so such a
/// value is malformed, and a server comparing it with the body must refuse it rather than guess
/// (another decoder, more lenient, could read it as something else). The markers are
/// case-sensitive (2026-07-28 transport, Value Encoding): `=?BASE64?…?=` is a plain value.
pub fn try_decode_header_value(value: &str) -> Option<String> {
    use base64::Engine as _;
    let Some(b64) = value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) else {
        return Some(value.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

/// JSON-RPC 2.0 error codes (and the MCP ones).
pub mod error_code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Transport-level problems reported in a JSON-RPC body (missing session and the like).
    pub const SERVER_ERROR: i64 = -32000;
    /// `resources/read` of a resource the server does not have (2025-11-25 and earlier; 2026-07-28
    /// withdrew it for `-32602` and forbids emitting it).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// The `MCP-Protocol-Version` header and `_meta` don't agree (2026-07-28).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// The request needs a client capability it did not declare (2026-07-28).
    pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// The protocol version is not supported; `data.supported` lists those that are (2026-07-28).
    pub const UNSUPPORTED_VERSION: i64 = -32022;
    /// The request needs the user to visit a URL first (2025-11-25 URL-mode elicitation);
    /// `data.elicitations` says where, for clients that declared `elicitation.url`.
    pub const URL_ELICITATION_REQUIRED: i64 = -32042;
    /// A person must approve this call out of band first; `data` carries `approvalUrl`,
    /// `approvalId` and `retryAfterSeconds`. Application codes of this project's gateway, outside
    /// the ranges JSON-RPC and MCP reserve, for clients without URL-mode elicitation.
    pub const APPROVAL_PENDING: i64 = -31042;
    /// The person denied the approval of this call.
    pub const APPROVAL_DENIED: i64 = -31043;
    /// Nobody answered the approval in time; calling again asks again.
    pub const APPROVAL_EXPIRED: i64 = -31044;
}

/// A request id: a string or a number, never null (JSON-RPC 2.0 §4, MCP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    String(String),
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }
}

/// Where a call that needs a person's approval stands, as a gateway's error says it (this
/// project's `-31042…-31044`, or a URL-mode elicitation `-32042`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// The person has not answered: they approve at `url`; the same call may be made again after
    /// `retry_after` seconds.
    Pending {
        url: String,
        id: String,
        retry_after: u64,
    },
    Denied {
        id: String,
    },
    Expired {
        id: String,
    },
}

/// The approval an error is about, if it is about one. The URL is something a client will show a
/// person or open in a browser, and it comes from a server: only `http(s)` URLs without
/// credentials are accepted, anything else is not an approval, and the URL is given as the parser
/// writes it back (see [`web_url`]).
pub fn approval_of(error: &RpcError) -> Option<Approval> {
    let data = error.data.as_ref();
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let retry_after = data.and_then(|d| d.get("retryAfterSeconds")).and_then(Value::as_u64).unwrap_or(5);
    let approval_id = text(data.and_then(|d| d.get("approvalId")));
    match error.code {
        error_code::APPROVAL_PENDING => Some(Approval::Pending {
            url: web_url(data?.get("approvalUrl")?.as_str()?)?,
            id: approval_id.unwrap_or_default(),
            retry_after,
        }),
        error_code::URL_ELICITATION_REQUIRED => {
            let elicitation = data?.get("elicitations")?.as_array()?.first()?;
            (elicitation.get("mode").and_then(Value::as_str) == Some("url")).then_some(())?;
            Some(Approval::Pending {
                url: web_url(elicitation.get("url")?.as_str()?)?,
                id: text(elicitation.get("elicitationId")).unwrap_or_default(),
                retry_after,
            })
        }
        error_code::APPROVAL_DENIED => Some(Approval::Denied { id: approval_id.unwrap_or_default() }),
        error_code::APPROVAL_EXPIRED => Some(Approval::Expired { id: approval_id.unwrap_or_default() }),
        _ => None,
    }
}

/// The approval an `input_required` result (2026-07-28) asks for: its one input request, a
/// URL-mode elicitation (what a gateway sends), keyed by the request's key (a gateway's approval
/// id), with an `http(s)` URL as [`approval_of`] accepts. Anything more is input a client that
/// shows one link cannot give. Retried every 5 seconds: the result says nothing of when.
pub fn approval_of_input(result: &Value) -> Option<Approval> {
    let requests = result.get("inputRequests")?.as_object()?;
    let (key, request) = requests.iter().next().filter(|_| requests.len() == 1)?;
    is_url_elicitation(request).then_some(())?;
    let url = web_url(request.get("params")?.get("url")?.as_str()?)?;
    Some(Approval::Pending { url, id: key.clone(), retry_after: 5 })
}

/// Is this input request (an `input_required` result's) a URL-mode `elicitation/create`?
pub fn is_url_elicitation(request: &Value) -> bool {
    request.get("method").and_then(Value::as_str) == Some("elicitation/create")
        && request.get("params").and_then(|p| p.get("mode")).and_then(Value::as_str) == Some("url")
}

/// An `http`/`https` URL with a host and no user name or password, as `url::Url` serializes
/// it: the parser accepts ESC, other controls and line breaks in a path or query (dropping some,
/// keeping others), and a client prints this URL on a terminal next to its own words. Written
/// back, controls and spaces are percent-encoded, so a server cannot slip escape sequences or
/// fake lines into what the person reads, and what is shown is what a browser would open.
fn web_url(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    let web = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none();
    web.then(|| url.as_str().to_owned())
}

/// A request as sent by a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    pub id: RequestId,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    pub fn new(id: RequestId, method: impl Into<String>, params: Option<Value>) -> Self {
        Self { jsonrpc: "2.0".into(), id, method: method.into(), params }
    }
}

/// A notification: a request without an id, which gets no response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub jsonrpc: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// A response: exactly one of `result` and `error`. `id` is null only when the request's id
/// could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    pub id: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl Response {
    pub fn success(id: RequestId, result: Value) -> Self {
        Self { jsonrpc: "2.0".into(), id: Some(id), result: Some(result), error: None }
    }

    pub fn failure(id: Option<RequestId>, error: RpcError) -> Self {
        Self { jsonrpc: "2.0".into(), id, result: None, error: Some(error) }
    }
}

/// What one POSTed JSON value is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    /// A response to a request the server sent; this server sends none, so it only acknowledges.
    Response(Value),
}

/// Classifies a JSON value as a JSON-RPC message, or says why it is not one (the error to send,
/// with whatever id could be salvaged).
// The error is built once per malformed message and sent at once; it is large only because
// `serde_json`'s `preserve_order` (which Cedar, in the gateway, turns on workspace-wide) makes
// `Value` larger. Boxing it would buy nothing.
#[allow(clippy::result_large_err)]
pub fn classify(value: Value) -> Result<Message, (Option<RequestId>, RpcError)> {
    let invalid = |id, why: &str| Err((id, RpcError::new(error_code::INVALID_REQUEST, why)));
    let Value::Object(object) = &value else {
        return invalid(None, "a JSON-RPC message must be an object");
    };
    let id = match object.get("id") {
        None => None,
        Some(raw) => match serde_json::from_value::<RequestId>(raw.clone()) {
            Ok(id) => Some(id),
            Err(_) => return invalid(None, "id must be a string or a number"),
        },
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id, "jsonrpc must be \"2.0\"");
    }
    match (object.get("method"), id) {
        (Some(Value::String(_)), Some(_)) => serde_json::from_value(value)
            .map(Message::Request)
            .map_err(|e| (None, RpcError::new(error_code::INVALID_REQUEST, e.to_string()))),
        (Some(Value::String(_)), None) => serde_json::from_value(value)
            .map(Message::Notification)
            .map_err(|e| (None, RpcError::new(error_code::INVALID_REQUEST, e.to_string()))),
        (Some(_), id) => invalid(id, "method must be a string"),
        (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => {
            Ok(Message::Response(value))
        }
        (None, id) => invalid(id, "a request needs a method"),
    }
}

/// `serverInfo` / `clientInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Implementation {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `initialize` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    pub protocol_version: String,
    pub capabilities: Value,
    pub server_info: Implementation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// A tool as listed by `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema object for the arguments.
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Hints about what the tool does. Hints only: a client (or a gateway) must never let a
    /// server's hints loosen its own rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Images a client may show for the tool (2025-11-25): `Icon` objects (`src`, an `http(s)`
    /// URL or a `data:` URI; `mimeType`, `sizes`, `theme`), kept as sent. Untyped on purpose: an
    /// icon is decoration that nobody here reads but the gateway, which keeps only what is safe
    /// to show (`mcp_gateway::catalog::safe_icons`), and typing it cost the SPA's wasm 2.9 KB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Value>,
}

/// `ToolAnnotations` (MCP 2025-11-25 tools): what a tool says about its effects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// May destroy or overwrite something (meaningful when not read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling it again with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// Reaches outside the server (the web, other systems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

/// `tools/list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListToolsResult {
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `tools/call` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallToolParams {
    pub name: String,
    #[serde(default)]
    pub arguments: Option<Map<String, Value>>,
}

/// One content block of a tool result. This project produces text only; blocks of other types
/// from other servers (images, audio, resources) are kept as they came, so a client can still
/// show them.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `{"type": "text", "text": …}`
    Text { text: String },
    /// Any other block, as it came.
    Other(Value),
}

// By hand rather than `#[serde(tag = "type")]` with an untagged fallback: through `Value`, which
// the SPA has anyway, this is a few hundred bytes of wasm instead of serde's buffering machinery.
impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text { text } => {
                use serde::ser::SerializeMap as _;
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "text")?;
                map.serialize_entry("text", text)?;
                map.end()
            }
            Content::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let is_text = value.get("type").and_then(Value::as_str) == Some("text");
        Ok(match value.get("text").and_then(Value::as_str) {
            Some(text) if is_text => Content::Text { text: text.to_owned() },
            _ => Content::Other(value),
        })
    }
}

/// `tools/call` result. A tool that ran but failed says so with `isError: true`, not with a
/// JSON-RPC error, so the model can see what went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    pub content: Vec<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl CallToolResult {
    pub fn text(text: impl Into<String>) -> Self {
        Self { content: vec![Content::Text { text: text.into() }], structured_content: None, is_error: false }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self { is_error: true, ..Self::text(text) }
    }
}

/// The JSON messages of a `text/event-stream` body (a server may answer a POST that way): the
/// `data:` lines of each event, joined, parsed; events that are not JSON are skipped.
pub fn sse_messages(body: &str) -> Vec<Value> {
    // The event stream's decoding drops one leading byte order mark (HTML, "Parsing an event
    // stream"); left in, it made the first line no `data:` line, and the first event was lost.
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() { None } else { serde_json::from_str(&data.join("\n")).ok() }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_required_result_asks_for_approval_with_its_url_elicitation_and_a_web_url_only() {
        let asking = |params: Value| {
            serde_json::json!({"resultType": "input_required", "inputRequests": {
                "a-1": {"method": "elicitation/create", "params": params}}})
        };
        assert_eq!(
            approval_of_input(&asking(
                serde_json::json!({"mode": "url", "url": "https://as.example/approvals"})
            )),
            Some(Approval::Pending {
                url: "https://as.example/approvals".into(),
                id: "a-1".into(),
                retry_after: 5
            })
        );
        for bad in [
            serde_json::json!({"mode": "url", "url": "javascript:alert(1)"}),
            serde_json::json!({"mode": "url"}),
            serde_json::json!({"mode": "form", "url": "https://as.example/approvals"}),
        ] {
            assert_eq!(approval_of_input(&asking(bad.clone())), None, "{bad}");
        }
        assert_eq!(approval_of_input(&serde_json::json!({"content": []})), None);
        // More than the one link a client shows: not an approval it can wait for.
        let mut two = asking(serde_json::json!({"mode": "url", "url": "https://as.example/approvals"}));
        two["inputRequests"]["sampling"] =
            serde_json::json!({"method": "sampling/createMessage", "params": {}});
        assert_eq!(approval_of_input(&two), None);
    }

    #[test]
    fn an_approval_error_says_where_to_approve_and_only_with_a_web_url() {
        let pending = |data: Value| RpcError {
            code: error_code::APPROVAL_PENDING,
            message: "m".into(),
            data: Some(data),
        };
        assert_eq!(
            approval_of(&pending(serde_json::json!({"approvalUrl": "https://as.example/approvals",
                "approvalId": "a1", "retryAfterSeconds": 7}))),
            Some(Approval::Pending {
                url: "https://as.example/approvals".into(),
                id: "a1".into(),
                retry_after: 7
            })
        );
        for bad in ["javascript:alert(1)", "file:///etc/passwd", "https://user:pw@as.example/", "/approvals"]
        {
            assert_eq!(approval_of(&pending(serde_json::json!({"approvalUrl": bad}))), None, "{bad}");
        }
        let elicitation = RpcError {
            code: error_code::URL_ELICITATION_REQUIRED,
            message: "m".into(),
            data: Some(serde_json::json!({"elicitations": [{"mode": "url", "elicitationId": "e1",
                "url": "http://localhost:9000/approvals", "message": "approve"}]})),
        };
        assert_eq!(
            approval_of(&elicitation),
            Some(Approval::Pending {
                url: "http://localhost:9000/approvals".into(),
                id: "e1".into(),
                retry_after: 5
            })
        );
        // What a client prints is the URL written back: no terminal escape or line break of the
        // server's gets through next to the client's own words.
        for sly in [
            "https://a/\u{1b}[2J",
            "https://a/x?q=\u{1b}]8;;https://evil/\u{7}",
            "https://a/\u{1b}[1A\rApproved",
        ] {
            let Some(Approval::Pending { url, .. }) =
                approval_of(&pending(serde_json::json!({"approvalUrl": sly})))
            else {
                panic!("{sly:?} is still a web URL");
            };
            assert!(!url.chars().any(char::is_control), "{url:?}");
            assert!(url.starts_with("https://a/"), "{url:?}");
        }
        let input =
            approval_of_input(&serde_json::json!({"inputRequests": {"k": {"method": "elicitation/create",
            "params": {"mode": "url", "url": "https://a/\u{1b}[2J"}}}}));
        assert_eq!(
            input,
            Some(Approval::Pending { url: "https://a/%1B[2J".into(), id: "k".into(), retry_after: 5 })
        );
        let denied = RpcError { code: error_code::APPROVAL_DENIED, message: "m".into(), data: None };
        assert_eq!(approval_of(&denied), Some(Approval::Denied { id: String::new() }));
        assert_eq!(approval_of(&RpcError::new(error_code::INVALID_PARAMS, "Unknown tool: x")), None);
    }
    use serde_json::json;

    #[test]
    fn reads_json_rpc_messages_from_an_event_stream() {
        let body = "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\r\ndata: \"result\":{}}\r\n\r\n: comment\n\ndata: not json\n\n";
        assert_eq!(sse_messages(body), vec![json!({"jsonrpc": "2.0", "id": 1, "result": {}})]);
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped() {
        let body = "\u{feff}data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        assert_eq!(sse_messages(body), vec![json!({"jsonrpc": "2.0", "id": 1, "result": {}})]);
        let mut stream = crate::mcp_client::EventStream::new();
        let first = stream.push(&body.as_bytes()[..2]).unwrap();
        let rest = stream.push(&body.as_bytes()[2..]).unwrap();
        assert_eq!([first, rest].concat(), vec![json!({"jsonrpc": "2.0", "id": 1, "result": {}})]);
    }

    #[test]
    fn header_values_round_trip_and_plain_ascii_stays_readable() {
        assert_eq!(encode_header_value("echo"), "echo");
        for name in ["é-tool", " padded ", "line\nbreak", "=?base64?trick?="] {
            let encoded = encode_header_value(name);
            assert!(encoded.starts_with("=?base64?"), "{name:?} -> {encoded}");
            assert_eq!(decode_header_value(&encoded), name);
        }
        assert_eq!(decode_header_value("=?base64?ZWNobw==?="), "echo");
        assert_eq!(decode_header_value("=?base64?!!!?="), "=?base64?!!!?=");
    }

    #[test]
    fn a_value_in_the_base64_shape_that_does_not_decode_is_malformed_and_the_markers_are_lowercase() {
        assert_eq!(try_decode_header_value("=?base64?ZWNobw==?=").as_deref(), Some("echo"));
        assert_eq!(try_decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(try_decode_header_value("=?base64?!!!?="), None, "not Base64");
        assert_eq!(try_decode_header_value("=?base64?ZWNobw?="), None, "padding is required");
        assert_eq!(try_decode_header_value("=?base64?/w==?="), None, "not UTF-8");
        // Only the exact lowercase markers encode; anything else is a plain value.
        assert_eq!(try_decode_header_value("=?BASE64?ZWNobw==?=").as_deref(), Some("=?BASE64?ZWNobw==?="));
        assert_eq!(try_decode_header_value("=?base64?ZWNobw==").as_deref(), Some("=?base64?ZWNobw=="));
    }

    #[test]
    fn negotiates_the_clients_version_or_our_newest() {
        assert_eq!(negotiate_version("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate_version("2024-01-01"), LATEST_SESSION_VERSION);
        assert!(is_supported_version(STATELESS_VERSION));
        assert!(!is_supported_version("1.0"));
    }

    #[test]
    fn classifies_requests_notifications_and_responses() {
        let request = classify(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).unwrap();
        assert!(matches!(request, Message::Request(Request { id: RequestId::Number(1), .. })));
        let notification =
            classify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();
        assert!(matches!(notification, Message::Notification(_)));
        let response = classify(json!({"jsonrpc": "2.0", "id": "a", "result": {}})).unwrap();
        assert!(matches!(response, Message::Response(_)));
    }

    #[test]
    fn refuses_batches_bad_ids_and_missing_methods_with_invalid_request() {
        for bad in [
            json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
            json!({"jsonrpc": "2.0", "id": null, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}),
            json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": 1}),
            json!({"jsonrpc": "2.0", "id": 1, "method": 7}),
        ] {
            let (_, error) = classify(bad.clone()).unwrap_err();
            assert_eq!(error.code, error_code::INVALID_REQUEST, "{bad}");
        }
    }

    #[test]
    fn content_blocks_of_other_types_are_kept_as_they_came() {
        let body = json!({"content": [{"type": "text", "text": "hi"},
                                      {"type": "image", "data": "AAAA", "mimeType": "image/png"}],
                          "isError": true});
        let result: CallToolResult = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(result.content[0], Content::Text { text: "hi".into() });
        assert_eq!(result.content[1], Content::Other(body["content"][1].clone()));
        assert!(result.is_error);
        assert_eq!(serde_json::to_value(&result).unwrap(), body);
    }

    #[test]
    fn tool_results_serialize_in_the_spec_shape() {
        let result = serde_json::to_value(CallToolResult::text("hi")).unwrap();
        assert_eq!(result, json!({"content": [{"type": "text", "text": "hi"}]}));
        let error = serde_json::to_value(CallToolResult::error("no")).unwrap();
        assert_eq!(error["isError"], true);
    }
}
