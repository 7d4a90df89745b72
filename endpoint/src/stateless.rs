//! The stateless form (MCP 2026-07-28): every request stands alone.
//!
//! [`envelope`] checks, in the order the revision gives, each with its own error:
//! 1. `params._meta` carries `protocolVersion` and `clientCapabilities` (else `-32602`, 400);
//! 2. the `MCP-Protocol-Version` header equals `_meta`'s version (else `-32020`, 400);
//! 3. the version is one this server speaks (else `-32022`, 400, with the supported list);
//! 4. `Mcp-Method` (and `Mcp-Name` where the method has a name) match the body (else `-32020`).
//!
//! What comes after (whether the method exists, `-32601`; whether the client declared what a call
//! needs, `-32021`) is the server's. Results say `resultType: "complete"`; list results also say
//! how long they may be cached.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use protocol::mcp::{
    Implementation, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, META_SERVER_INFO, Notification, Request,
    RpcError, SESSION_VERSIONS, STATELESS_VERSION, decode_header_value, error_code,
};
use serde_json::{Map, Value, json};

use crate::reply::failure;
use crate::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, header_str};

/// Cache hint for list results: the lists are answers to authenticated requests, so only the
/// requesting client may keep them, and for a minute at most.
pub const LIST_TTL_MS: u64 = 60_000;

/// Every version `server/discover` names and a `-32022` lists: the same list in both places.
pub fn supported_versions() -> Vec<&'static str> {
    std::iter::once(STATELESS_VERSION).chain(SESSION_VERSIONS.iter().copied()).collect()
}

/// What a stateless request declares about itself.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'r> {
    pub version: &'r str,
    /// `_meta.clientCapabilities`, an object.
    pub capabilities: &'r Value,
}

/// Checks 1 to 4 of the module's list; the error response names the first that failed.
pub fn envelope<'r>(headers: &HeaderMap, request: &'r Request) -> Result<Envelope<'r>, Response> {
    let fail = |error: RpcError| failure(StatusCode::BAD_REQUEST, Some(request.id.clone()), error);
    let meta = request.params.as_ref().and_then(|p| p.get("_meta")).and_then(Value::as_object);
    let version = meta.and_then(|m| m.get(META_PROTOCOL_VERSION)).and_then(Value::as_str);
    let capabilities = meta.and_then(|m| m.get(META_CLIENT_CAPABILITIES)).filter(|c| c.is_object());
    let (Some(version), Some(capabilities)) = (version, capabilities) else {
        return Err(fail(RpcError::new(
            error_code::INVALID_PARAMS,
            format!("params._meta must carry {META_PROTOCOL_VERSION} and {META_CLIENT_CAPABILITIES}"),
        )));
    };
    if header_str(headers, &MCP_PROTOCOL_VERSION).map(str::trim) != Some(version) {
        return Err(fail(RpcError::new(
            error_code::HEADER_MISMATCH,
            "the MCP-Protocol-Version header must equal the _meta protocol version",
        )));
    }
    if !supported_versions().contains(&version) {
        let mut error = RpcError::new(error_code::UNSUPPORTED_VERSION, "Unsupported protocol version");
        error.data = Some(json!({"supported": supported_versions(), "requested": version}));
        return Err(fail(error));
    }
    check_routing_headers(headers, request)
        .map_err(|why| fail(RpcError::new(error_code::HEADER_MISMATCH, why)))?;
    Ok(Envelope { version, capabilities })
}

/// `Mcp-Method` must equal the body's method, and `Mcp-Name` its tool name (or resource URI), after
/// trimming surrounding whitespace; names may be sent as `=?base64?…?=`. A proxy (a gateway, a
/// load balancer) routes on these headers, so a request whose headers say one thing and whose body
/// another is refused before anything acts on either.
pub fn check_routing_headers(headers: &HeaderMap, request: &Request) -> Result<(), String> {
    check_routing(headers, &request.method, request.params.as_ref())
}

/// A 2026-07-28 notification is accepted (`202`) only with the routing headers a request must
/// carry: nothing here acts on one, but a proxy may have routed it by them, and the transport asks
/// every request and notification to name its method in `Mcp-Method`. Otherwise `400` with
/// `-32020`, and no id to answer.
pub fn check_notification(headers: &HeaderMap, notification: &Notification) -> Result<(), Response> {
    check_routing(headers, &notification.method, notification.params.as_ref()).map_err(|why| {
        failure(StatusCode::BAD_REQUEST, None, RpcError::new(error_code::HEADER_MISMATCH, why))
    })
}

fn check_routing(headers: &HeaderMap, method: &str, params: Option<&Value>) -> Result<(), String> {
    // Routing headers appear once: with two, a proxy and this server could each read another.
    for name in [&MCP_METHOD, &MCP_NAME, &MCP_PROTOCOL_VERSION] {
        if headers.get_all(name).iter().count() > 1 {
            return Err(format!("the {name} header is sent more than once"));
        }
    }
    let sent = header_str(headers, &MCP_METHOD).map(str::trim);
    if sent != Some(method) {
        return Err(format!("the Mcp-Method header must be {method:?}"));
    }
    let name_key = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(key) = name_key {
        let expected = params.and_then(|p| p.get(key)).and_then(Value::as_str).unwrap_or_default();
        let sent = header_str(headers, &MCP_NAME).map(|v| decode_header_value(v.trim()));
        if sent.as_deref() != Some(expected) {
            return Err(format!("the Mcp-Name header must be {expected:?}"));
        }
    }
    Ok(())
}

/// The prefix of the headers that mirror tool arguments marked `x-mcp-header` (SEP-2243).
pub const MCP_PARAM_PREFIX: &str = "mcp-param-";

/// For a `tools/call` of a tool whose `inputSchema` marks properties with `x-mcp-header`: each
/// marked argument that is present must come with an `Mcp-Param-{name}` header carrying the same
/// value (strings as they are or `=?base64?…?=`, integers and booleans as JSON writes them), and
/// an absent one must not. A gateway routes and decides on the body; an intermediary before it may
/// have routed on the headers, so the two must say the same.
pub fn check_param_headers(
    headers: &HeaderMap,
    input_schema: &Value,
    arguments: &Map<String, Value>,
) -> Result<(), String> {
    let mut marked = Vec::new();
    marked_properties(input_schema, Some(arguments), &mut marked);
    for (name, value) in marked {
        let header = format!("{MCP_PARAM_PREFIX}{}", name.to_ascii_lowercase());
        let mut sent = headers.get_all(header.as_str()).iter();
        let (first, second) = (sent.next(), sent.next());
        if second.is_some() {
            return Err(format!("the Mcp-Param-{name} header is sent more than once"));
        }
        let sent = first.and_then(|v| v.to_str().ok()).map(|v| decode_header_value(v.trim()));
        let matches = match (value, sent.as_deref()) {
            (None | Some(Value::Null), None) => true,
            (Some(Value::String(expected)), Some(sent)) => sent == expected,
            (Some(Value::Bool(expected)), Some(sent)) => sent == expected.to_string(),
            (Some(Value::Number(expected)), Some(sent)) => {
                sent.parse::<f64>().ok().zip(expected.as_f64()).is_some_and(|(a, b)| a == b)
            }
            _ => false,
        };
        if !matches {
            return Err(format!("the Mcp-Param-{name} header must mirror the argument it is declared for"));
        }
    }
    Ok(())
}

/// The `(header name, argument value)` of every property marked `x-mcp-header`, at any depth of
/// nested objects.
fn marked_properties<'a>(
    schema: &'a Value,
    arguments: Option<&'a Map<String, Value>>,
    out: &mut Vec<(&'a str, Option<&'a Value>)>,
) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (property, declared) in properties {
        let value = arguments.and_then(|arguments| arguments.get(property));
        if let Some(name) = declared.get("x-mcp-header").and_then(Value::as_str) {
            out.push((name, value));
        }
        if declared.get("properties").is_some() {
            marked_properties(declared, value.and_then(Value::as_object), out);
        }
    }
}

/// The result of `server/discover`.
pub fn discover(capabilities: &Value, server_info: &Implementation, instructions: &str) -> Value {
    cached(json!({
        "supportedVersions": supported_versions(),
        "capabilities": capabilities,
        "serverInfo": server_info,
        "instructions": instructions,
    }))
}

/// Adds the cache hints list results carry.
pub fn cached(mut result: Value) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.insert("ttlMs".into(), json!(LIST_TTL_MS));
        object.insert("cacheScope".into(), json!("private"));
    }
    result
}

/// Marks a result complete and says who answered.
pub fn complete(mut result: Value, server_info: &Implementation) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.insert("resultType".into(), json!("complete"));
        let meta = object.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(META_SERVER_INFO.into(), json!(server_info));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn object(value: Value) -> Map<String, Value> {
        let Value::Object(members) = value else { panic!("not an object: {value}") };
        members
    }

    #[test]
    fn marked_arguments_must_be_mirrored_exactly_and_absent_ones_must_not_be() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "inner": {"type": "object", "properties": {"flag": {"type": "boolean", "x-mcp-header": "Flag"}}},
            "text": {"type": "string"}
        }});
        let arguments =
            object(json!({"region": "eu-west", "count": 3, "inner": {"flag": true}, "text": "x"}));
        let all = [("mcp-param-region", " eu-west "), ("mcp-param-count", "3"), ("mcp-param-flag", "true")];
        assert_eq!(check_param_headers(&headers(&all), &schema, &arguments), Ok(()));
        // Base64 form of "eu-west".
        let encoded = [("mcp-param-region", "=?base64?ZXUtd2VzdA==?="), all[1], all[2]];
        assert_eq!(check_param_headers(&headers(&encoded), &schema, &arguments), Ok(()));

        let wrong = [("mcp-param-region", "us-east"), all[1], all[2]];
        assert!(check_param_headers(&headers(&wrong), &schema, &arguments).unwrap_err().contains("Region"));
        let missing = [all[1], all[2]];
        assert!(check_param_headers(&headers(&missing), &schema, &arguments).is_err());
        let twice = [all[0], all[0], all[1], all[2]];
        assert!(check_param_headers(&headers(&twice), &schema, &arguments).unwrap_err().contains("once"));
        // An absent argument must not come with a header.
        let without_count = object(json!({"region": "eu-west", "inner": {"flag": true}}));
        assert!(check_param_headers(&headers(&all), &schema, &without_count).is_err());
        assert_eq!(check_param_headers(&headers(&[all[0], all[2]]), &schema, &without_count), Ok(()));
    }

    #[test]
    fn a_tool_without_marks_needs_no_param_headers() {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
        assert_eq!(check_param_headers(&HeaderMap::new(), &schema, &object(json!({"text": "hi"}))), Ok(()));
    }
}
