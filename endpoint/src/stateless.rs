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
    RpcError, SESSION_VERSIONS, STATELESS_VERSION, error_code, try_decode_header_value,
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
    // Only the stateless revision is served here: the session revisions are supported too, but
    // under their own rules (`initialize`, a session), never as a request standing alone
    // (`inbound` sends a request naming one to the session form).
    if version != STATELESS_VERSION {
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
        let sent = header_str(headers, &MCP_NAME).and_then(|v| try_decode_header_value(v.trim()));
        if sent.as_deref() != Some(expected) {
            return Err(format!("the Mcp-Name header must be {expected:?}"));
        }
    }
    Ok(())
}

/// The prefix of the headers that mirror tool arguments marked `x-mcp-header` (SEP-2243).
pub const MCP_PARAM_PREFIX: &str = "mcp-param-";

/// The largest magnitude of an integer a marked argument may have: JavaScript's safe range
/// (2026-07-28 transport, Schema Extension), where every integer has one exact decimal form.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// For a `tools/call` of a tool whose `inputSchema` marks properties with `x-mcp-header`: each
/// marked argument that is present must come with an `Mcp-Param-{name}` header carrying the same
/// value (strings as they are or `=?base64?…?=`, integers in decimal, booleans as `true` or
/// `false`), and an absent or null one must not. A gateway routes and decides on the body; an
/// intermediary before it may have routed on the headers, so the two must say the same.
/// A header that is not text, or not valid Base64 in the Base64 shape, is a mismatch whatever the
/// body says (the spec: "reject requests with a recognized `Mcp-Param-{Name}` header that
/// contains invalid characters").
pub fn check_param_headers(
    headers: &HeaderMap,
    input_schema: &Value,
    arguments: &Map<String, Value>,
) -> Result<(), String> {
    let mut marked = Vec::new();
    marked_properties(input_schema, Some(arguments), &mut marked);
    for (name, value) in marked {
        let mismatch = || format!("the Mcp-Param-{name} header must mirror the argument it is declared for");
        let header = format!("{MCP_PARAM_PREFIX}{}", name.to_ascii_lowercase());
        let mut sent = headers.get_all(header.as_str()).iter();
        let (first, second) = (sent.next(), sent.next());
        if second.is_some() {
            return Err(format!("the Mcp-Param-{name} header is sent more than once"));
        }
        let sent = match first {
            None => None,
            Some(raw) => {
                let text = raw.to_str().map_err(|_| mismatch())?;
                Some(try_decode_header_value(text.trim()).ok_or_else(mismatch)?)
            }
        };
        if !mirrors(value, sent.as_deref()) {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// Does a header (decoded; `None` when not sent) say what the argument says?
fn mirrors(argument: Option<&Value>, sent: Option<&str>) -> bool {
    match (argument, sent) {
        (None | Some(Value::Null), None) => true,
        (Some(Value::String(expected)), Some(sent)) => sent == expected,
        (Some(Value::Bool(expected)), Some(sent)) => sent == if *expected { "true" } else { "false" },
        (Some(Value::Number(expected)), Some(sent)) => {
            integer_argument(expected).is_some_and(|expected| integer_header(sent) == Some(expected))
        }
        // A header for an absent argument, none for a present one, or an object or array (which
        // no header mirrors).
        _ => false,
    }
}

/// An argument's integer, compared exactly: a JSON integer, or a number with no fraction such as
/// `42.0` (the spec: compare integers numerically), within [`MAX_SAFE_INTEGER`]. A number with a
/// fraction has no header form (the spec does not allow `x-mcp-header` on `number`), and an
/// integer beyond the safe range is one that a JavaScript intermediary would read as another.
fn integer_argument(number: &serde_json::Number) -> Option<i64> {
    let integer = match number.as_i64() {
        Some(integer) => integer,
        None if number.is_f64() => {
            let float = number.as_f64()?;
            // Inside the safe range every integral f64 is exact, so the cast cannot round.
            if float.fract() != 0.0 || float.abs() > MAX_SAFE_INTEGER as f64 {
                return None;
            }
            float as i64
        }
        None => return None,
    };
    (integer.unsigned_abs() <= MAX_SAFE_INTEGER.unsigned_abs()).then_some(integer)
}

/// A header's integer: the decimal form `-?[1-9][0-9]*` (or `0`), optionally with a fraction of
/// zeros (`42.0`, which the spec counts as 42). No `+`, no leading zeros, no exponent: a value an
/// intermediary could read in two ways is refused rather than compared.
fn integer_header(sent: &str) -> Option<i64> {
    let digits = match sent.split_once('.') {
        Some((integer, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => integer,
        Some(_) => return None,
        None => sent,
    };
    let integer: i64 = digits.parse().ok()?;
    (integer.to_string() == digits && integer.unsigned_abs() <= MAX_SAFE_INTEGER.unsigned_abs())
        .then_some(integer)
}

/// The `(header name, argument value)` of every property marked `x-mcp-header`, at any depth of
/// nested `properties` (the only place a mark is valid; [`check_header_marks`]).
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
        if let Some(name) = declared.get(X_MCP_HEADER).and_then(Value::as_str) {
            out.push((name, value));
        }
        if declared.get("properties").is_some() {
            marked_properties(declared, value.and_then(Value::as_object), out);
        }
    }
}

/// The schema keyword that marks a tool argument to be mirrored in a header.
pub const X_MCP_HEADER: &str = "x-mcp-header";

/// Whether a tool's `x-mcp-header` marks are valid (2026-07-28 transport, Schema Extension): each
/// a non-empty HTTP token (`1*tchar`), unique ignoring case, on an `integer`, `string` or
/// `boolean` property reached from the root through `properties` alone (not `items`, `oneOf`,
/// `$ref`, …). A client must leave out a tool that breaks these; a gateway that listed it would
/// offer a tool whose every stateless call is refused, or whose header means nothing.
pub fn check_header_marks(input_schema: &Value) -> Result<(), String> {
    let mut marked = Vec::new();
    reachable_marks(input_schema, &mut marked);
    if count_marks(input_schema) != marked.len() {
        return Err(format!(
            "an {X_MCP_HEADER} mark must be on a property reached through `properties` alone"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (property, declared) in marked {
        let name = declared.get(X_MCP_HEADER).and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("the {X_MCP_HEADER} of {property:?} is not an HTTP token: {name:?}"));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!("the {X_MCP_HEADER} {name:?} is declared twice (ignoring case)"));
        }
        if !is_primitive(declared.get("type")) {
            return Err(format!(
                "the {X_MCP_HEADER} of {property:?} is on a property that is not an integer, string or boolean"
            ));
        }
    }
    Ok(())
}

/// The marked `(property, schema)` pairs on the chain of `properties` from the root.
fn reachable_marks<'a>(schema: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (property, declared) in properties {
        if declared.get(X_MCP_HEADER).is_some() {
            out.push((property, declared));
        }
        reachable_marks(declared, out);
    }
}

/// Every `x-mcp-header` keyword anywhere in a schema. Inside `properties` the keys are property
/// names, not keywords, so a property named `x-mcp-header` is not one; `const`, `enum`, `default`
/// and `examples` hold instances, not schemas.
fn count_marks(schema: &Value) -> usize {
    match schema {
        Value::Object(members) => members
            .iter()
            .map(|(key, value)| match key.as_str() {
                X_MCP_HEADER => 1,
                "const" | "enum" | "default" | "examples" => 0,
                "properties" => value.as_object().map_or(0, |p| p.values().map(count_marks).sum()),
                _ => count_marks(value),
            })
            .sum(),
        Value::Array(items) => items.iter().map(count_marks).sum(),
        _ => 0,
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A `type` that names only `integer`, `string`, `boolean` (and `null`, which sends no header).
/// No `type` at all could be anything, so it is not primitive.
fn is_primitive(declared: Option<&Value>) -> bool {
    let primitive = |t: &str| matches!(t, "integer" | "string" | "boolean");
    match declared {
        Some(Value::String(t)) => primitive(t),
        Some(Value::Array(types)) => {
            let names: Option<Vec<&str>> = types.iter().map(Value::as_str).collect();
            names.is_some_and(|names| {
                names.iter().all(|t| primitive(t) || *t == "null") && names.iter().any(|t| primitive(t))
            })
        }
        _ => false,
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

    fn count_schema() -> Value {
        json!({"type": "object", "properties": {"count": {"type": "integer", "x-mcp-header": "Count"}}})
    }

    fn check_count(argument: Value, sent: &'static str) -> Result<(), String> {
        check_param_headers(
            &headers(&[("mcp-param-count", sent)]),
            &count_schema(),
            &object(json!({"count": argument})),
        )
    }

    #[test]
    fn integers_are_compared_exactly_and_only_in_their_decimal_form() {
        // Past 2^53 an f64 holds neither value: a router reading the header would act on one
        // number and the upstream on another.
        assert!(check_count(json!(9_007_199_254_740_993_u64), "9007199254740992").is_err());
        assert!(
            check_count(json!(9_007_199_254_740_993_u64), "9007199254740993").is_err(),
            "beyond the safe range"
        );
        assert_eq!(check_count(json!(MAX_SAFE_INTEGER), "9007199254740991"), Ok(()));
        assert_eq!(check_count(json!(-MAX_SAFE_INTEGER), "-9007199254740991"), Ok(()));
        assert_eq!(check_count(json!(3), "3"), Ok(()));
        assert_eq!(check_count(json!(-7), "-7"), Ok(()));
        assert_eq!(check_count(json!(0), "0"), Ok(()));
        // The spec counts 42.0 and 42 as one integer, either side.
        assert_eq!(check_count(json!(3), "3.0"), Ok(()));
        assert_eq!(check_count(json!(3.0), "3"), Ok(()));
        for other_form in ["+3", "3e0", "03", "3.", "3.5", "0x3", "3 4"] {
            assert!(check_count(json!(3), other_form).is_err(), "{other_form}");
        }
        assert!(check_count(json!(0), "-0").is_err());
        assert!(check_count(json!(4), "3").is_err());
        // A number with a fraction has no header form at all.
        assert!(check_count(json!(3.5), "3.5").is_err());
        // i64::MIN, whose absolute value an i64 cannot hold: refused, never an overflow.
        assert!(check_count(json!(i64::MIN), "-9223372036854775808").is_err());
        assert!(check_count(json!(-3), "-9223372036854775808").is_err());
        assert!(check_count(json!(true), "true").is_ok() && check_count(json!(false), "true").is_err());
    }

    #[test]
    fn a_header_that_is_not_text_or_not_valid_base64_is_a_mismatch_even_for_an_absent_argument() {
        let mut not_text = HeaderMap::new();
        not_text.insert("mcp-param-count", HeaderValue::from_bytes(b"3\xff").unwrap());
        assert!(check_param_headers(&not_text, &count_schema(), &Map::new()).is_err(), "no argument");
        assert!(check_param_headers(&not_text, &count_schema(), &object(json!({"count": 3}))).is_err());
        let schema =
            json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}});
        let malformed = headers(&[("mcp-param-region", "=?base64?!!!?=")]);
        assert!(check_param_headers(&malformed, &schema, &Map::new()).is_err(), "no argument");
        let literal = object(json!({"region": "=?base64?!!!?="}));
        assert!(check_param_headers(&malformed, &schema, &literal).is_err(), "a sentinel is never plain");
        // Mcp-Name by the same rule.
        let name = headers(&[("mcp-method", "tools/call"), ("mcp-name", "=?base64?!!!?=")]);
        assert!(check_routing(&name, "tools/call", Some(&json!({"name": "=?base64?!!!?="}))).is_err());
    }

    #[test]
    fn header_marks_must_be_tokens_unique_ignoring_case_on_primitives_reached_through_properties() {
        let marked = |name: Value, schema: Value| {
            let mut property = schema;
            property[X_MCP_HEADER] = name;
            json!({"type": "object", "properties": {"region": property, "text": {"type": "string"}}})
        };
        let string = || json!({"type": "string"});
        assert_eq!(check_header_marks(&marked(json!("Region"), string())), Ok(()));
        assert_eq!(
            check_header_marks(&marked(json!("X_Region-1.~"), json!({"type": ["integer", "null"]}))),
            Ok(())
        );
        for name in [json!("My Region"), json!("a:b"), json!("Régión"), json!(""), json!("a\r\nb"), json!(7)]
        {
            assert!(check_header_marks(&marked(name.clone(), string())).is_err(), "{name}");
        }
        for declared in
            [json!({"type": "object"}), json!({"type": "array"}), json!({"type": "number"}), json!({})]
        {
            assert!(check_header_marks(&marked(json!("Region"), declared.clone())).is_err(), "{declared}");
        }
        let twice = json!({"type": "object", "properties": {
            "a": {"type": "string", "x-mcp-header": "Region"},
            "b": {"type": "string", "x-mcp-header": "region"}}});
        assert!(check_header_marks(&twice).unwrap_err().contains("twice"));
        // Nested objects are fine through `properties`; not through `items`, `oneOf`, the root.
        let nested = json!({"type": "object", "properties": {"inner": {"type": "object", "properties": {
            "flag": {"type": "boolean", "x-mcp-header": "Flag"}}}}});
        assert_eq!(check_header_marks(&nested), Ok(()));
        let unreachable = [
            json!({"type": "object", "properties": {"list": {"type": "array", "items": {"type": "object",
                "properties": {"a": {"type": "string", "x-mcp-header": "A"}}}}}}),
            json!({"type": "object", "oneOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
            json!({"type": "object", "x-mcp-header": "Root"}),
        ];
        for schema in unreachable {
            assert!(check_header_marks(&schema).is_err(), "{schema}");
        }
        // A property *named* x-mcp-header is no mark.
        let named = json!({"type": "object", "properties": {"x-mcp-header": {"type": "string"}}});
        assert_eq!(check_header_marks(&named), Ok(()));
    }

    #[tokio::test]
    async fn a_session_revision_is_not_served_in_the_stateless_envelope() {
        let request: Request =
            serde_json::from_value(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": {"_meta": {META_PROTOCOL_VERSION: "2025-11-25", META_CLIENT_CAPABILITIES: {}}}}))
            .unwrap();
        let sent = headers(&[("mcp-protocol-version", "2025-11-25"), ("mcp-method", "tools/list")]);
        let refused = envelope(&sent, &request).unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(refused.into_body(), 4096).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], error_code::UNSUPPORTED_VERSION, "{body}");
    }

    #[test]
    fn a_tool_without_marks_needs_no_param_headers() {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
        assert_eq!(check_param_headers(&HeaderMap::new(), &schema, &object(json!({"text": "hi"}))), Ok(()));
    }
}
