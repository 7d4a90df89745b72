//! A `POST` to an MCP endpoint, read as one JSON-RPC message.
//!
//! Called only after the request is authenticated: a stranger without a token never makes a server
//! buffer anything.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use protocol::mcp::{self, META_PROTOCOL_VERSION, Message, SESSION_VERSIONS, STATELESS_VERSION, error_code};
use serde_json::{Map, Value};

use crate::reply::{rpc_error, rpc_response};
use crate::{MCP_PROTOCOL_VERSION, header_str};

/// The largest JSON-RPC message read. Tool arguments are short; a larger body is refused with
/// `413` rather than buffered.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The transport revision a message speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// 2025-03-26 … 2025-11-25: `initialize` opens a session (`Mcp-Session-Id`).
    Session,
    /// 2026-07-28: no handshake, no session; each request carries its version in a header and in
    /// `params._meta`, and names itself in `Mcp-Method` / `Mcp-Name`.
    Stateless,
}

/// A message as read.
#[derive(Debug)]
pub struct Inbound {
    pub message: Message,
    pub form: Form,
}

/// What a `POST` carried: one message, or a JSON-RPC batch (which only a 2025-03-26 session may
/// send; [`crate::batch`] decides and answers).
#[derive(Debug)]
pub enum Read {
    One(Inbound),
    Batch(crate::batch::Batch),
}

/// Reads the message of a `POST`: `Content-Type: application/json`, an `Accept` that allows JSON,
/// at most [`MAX_MESSAGE_BYTES`], valid JSON, one JSON-RPC message or a non-empty array of them.
/// Each failure is the JSON-RPC error and HTTP status the transport gives it.
pub async fn read(headers: &HeaderMap, body: Body) -> Result<Read, Response> {
    let content_type = header_str(headers, &header::CONTENT_TYPE).unwrap_or_default();
    if !content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        return Err(rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            error_code::SERVER_ERROR,
            "Content-Type must be application/json",
        ));
    }
    // Clients must accept JSON and SSE; these servers only ever answer JSON, so only a client that
    // explicitly cannot take JSON is refused.
    if let Some(accept) = header_str(headers, &header::ACCEPT)
        && !accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).any(|t| {
            t.eq_ignore_ascii_case("application/json")
                || t == "*/*"
                || t.eq_ignore_ascii_case("application/*")
        })
    {
        return Err(rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            error_code::SERVER_ERROR,
            "Accept must allow application/json",
        ));
    }
    let body = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            let (status, message) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the message is larger than {MAX_MESSAGE_BYTES} bytes"),
                )
            } else {
                (StatusCode::BAD_REQUEST, "the body could not be read".to_owned())
            };
            return Err(rpc_error(status, None, error_code::INVALID_REQUEST, message));
        }
    };
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        rpc_error(StatusCode::BAD_REQUEST, None, error_code::PARSE_ERROR, format!("Parse error: {e}"))
    })?;
    let value = match value {
        Value::Array(values) if values.is_empty() => return Err(crate::batch::empty()),
        Value::Array(values) => return Ok(Read::Batch(crate::batch::Batch::from_values(values))),
        value => value,
    };
    let message = mcp::classify(value)
        .map_err(|(id, error)| rpc_response(StatusCode::BAD_REQUEST, &mcp::Response::failure(id, error)))?;
    let form = if is_stateless(headers, &message) { Form::Stateless } else { Form::Session };
    Ok(Read::One(Inbound { message, form }))
}

/// What these servers refuse before dispatching a request, the same for all of them: a list
/// `cursor` they never issued ([`check_cursor`]) and reads of resources and prompts they do not
/// have ([`unknown_item`]). The error to answer at `200`, if any.
pub fn refusal(request: &mcp::Request, stateless: bool) -> Option<mcp::RpcError> {
    if let Err(why) = check_cursor(request) {
        return Some(mcp::RpcError::new(error_code::INVALID_PARAMS, why));
    }
    unknown_item(request, stateless)
}

/// A list request's `cursor` (MCP pagination): these servers answer every list in one page and
/// hand out no cursors, so any cursor is one they never issued, which the spec says to refuse
/// with `-32602` rather than answer as if it were the first page. Not a list: `Ok`.
fn check_cursor(request: &mcp::Request) -> Result<(), &'static str> {
    let cursor = request.params.as_ref().and_then(|p| p.get("cursor"));
    if request.method.ends_with("/list") && cursor.is_some_and(|c| !c.is_null()) {
        return Err("Invalid cursor: this server's lists have a single page");
    }
    Ok(())
}

/// `resources/read` and `prompts/get` on these servers, which declare both capabilities and list
/// no resources and no prompts: the spec's error for an unknown one, never "method not found" for
/// a method the capabilities promise. An unknown resource is `-32002` in the session revisions and
/// `-32602` in the 2026-07-28 form, which withdrew `-32002`; an unknown prompt is `-32602`.
fn unknown_item(request: &mcp::Request, stateless: bool) -> Option<mcp::RpcError> {
    let param = |key: &str| {
        request
            .params
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match request.method.as_str() {
        "resources/read" => {
            let code = if stateless { error_code::INVALID_PARAMS } else { error_code::RESOURCE_NOT_FOUND };
            let mut error = mcp::RpcError::new(code, "Resource not found");
            error.data = Some(serde_json::json!({"uri": param("uri")}));
            Some(error)
        }
        "prompts/get" => {
            Some(mcp::RpcError::new(error_code::INVALID_PARAMS, format!("Unknown prompt: {}", param("name"))))
        }
        _ => None,
    }
}

/// The tool name and arguments of a `tools/call`'s params (absent or null arguments are none).
pub fn tool_call(params: Option<&Value>) -> Result<(&str, Map<String, Value>), &'static str> {
    let name =
        params.and_then(|p| p.get("name")).and_then(Value::as_str).ok_or("tools/call needs a tool name")?;
    let arguments = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments.clone(),
        Some(_) => return Err("arguments must be an object"),
    };
    Ok((name, arguments))
}

/// Stateless if the version header says so, or if the request's `_meta` carries a version that is
/// not a session revision (the stateless one, or one unknown here, which the envelope answers with
/// `-32022`); everything else is the session kind. A `_meta` naming a session revision does not
/// make a request stateless: that revision has no such form, and a dual-era server serves
/// statelessly only "a request carrying modern per-request `_meta`" (2026-07-28 versioning), so
/// the request keeps its revision's rules (`initialize`, then `Mcp-Session-Id`).
fn is_stateless(headers: &HeaderMap, message: &Message) -> bool {
    if header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim) == Some(STATELESS_VERSION) {
        return true;
    }
    let params = match message {
        Message::Request(request) => request.params.as_ref(),
        Message::Notification(notification) => notification.params.as_ref(),
        Message::Response(_) => None,
    };
    let version = params.and_then(|p| p.get("_meta")).and_then(|m| m.get(META_PROTOCOL_VERSION));
    version.is_some_and(|v| !v.as_str().is_some_and(|v| SESSION_VERSIONS.contains(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(method: &str, params: Value) -> mcp::Request {
        serde_json::from_value(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .unwrap()
    }

    #[test]
    fn a_meta_version_of_a_session_revision_keeps_the_session_rules() {
        let message = |version: &str| {
            mcp::classify(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
                "params": {"_meta": {META_PROTOCOL_VERSION: version}}}))
            .unwrap()
        };
        let version_header = |version: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(MCP_PROTOCOL_VERSION, axum::http::HeaderValue::from_static(version));
            headers
        };
        assert!(!is_stateless(&version_header("2025-11-25"), &message("2025-11-25")));
        assert!(!is_stateless(&HeaderMap::new(), &message("2025-06-18")));
        assert!(is_stateless(&HeaderMap::new(), &message(STATELESS_VERSION)));
        // Unknown: the envelope's -32022 lists what is spoken here.
        assert!(is_stateless(&version_header("2099-01-01"), &message("2099-01-01")));
        // The header decides when it names the stateless revision (then _meta must agree).
        assert!(is_stateless(&version_header(STATELESS_VERSION), &message("2025-11-25")));
    }

    #[test]
    fn a_list_with_a_cursor_is_refused_since_none_was_ever_issued() {
        for method in ["tools/list", "prompts/list", "resources/list", "resources/templates/list"] {
            assert!(check_cursor(&request(method, json!({}))).is_ok(), "{method}");
            assert!(check_cursor(&request(method, json!({"cursor": null}))).is_ok(), "{method}");
            assert!(check_cursor(&request(method, json!({"cursor": "abc"}))).is_err(), "{method}");
            assert!(check_cursor(&request(method, json!({"cursor": 1}))).is_err(), "{method}");
        }
        assert!(check_cursor(&request("tools/call", json!({"cursor": "abc"}))).is_ok(), "not a list");
    }

    #[test]
    fn reading_a_resource_or_getting_a_prompt_is_the_error_for_an_unknown_one_by_revision() {
        let read = request("resources/read", json!({"uri": "file:///x"}));
        let session = unknown_item(&read, false).unwrap();
        assert_eq!((session.code, session.data), (-32002, Some(json!({"uri": "file:///x"}))));
        assert_eq!(unknown_item(&read, true).unwrap().code, -32602, "2026-07-28 must not emit -32002");
        let prompt = unknown_item(&request("prompts/get", json!({"name": "p"})), false).unwrap();
        assert_eq!((prompt.code, prompt.message.as_str()), (-32602, "Unknown prompt: p"));
        assert!(unknown_item(&request("tools/list", json!({})), false).is_none());
    }
}
