//! Rich authorization requests (RFC 9396) for one MCP tool call.
//!
//! When a gateway needs a person to approve a tool call, it describes the call as an
//! `authorization_details` entry of type [`MCP_TOOL_CALL`]: which upstream (`locations`), which
//! action (`tools/call`), which tool (`identifier`), and the call's arguments as a SHA-256 of
//! their canonical JSON plus a short human summary. The person approves exactly that; the token
//! that comes back carries the same entry, so the upstream (and the gateway, when it spends the
//! token) can check that the call it is about to make is the one that was approved.
//!
//! [`ToolCall::check`] is the one place that decides whether an entry is acceptable; it reads
//! hostile input and is pure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `type` of an approval of one MCP tool call.
pub const MCP_TOOL_CALL: &str = "mcp_tool_call";
/// The one action an [`MCP_TOOL_CALL`] entry names: the MCP method that calls a tool.
pub const TOOLS_CALL: &str = "tools/call";
/// Longest tool name accepted, in characters (MCP tool names are short identifiers).
pub const MAX_TOOL_NAME: usize = 128;
/// Longest argument summary accepted, in characters: enough to read, short enough for a page.
pub const MAX_ARGUMENTS_SUMMARY: usize = 500;

/// One entry of `authorization_details` (RFC 9396 §2), with the common fields and those of
/// [`MCP_TOOL_CALL`]. Fields of other types are ignored when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationDetail {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Lowercase hex SHA-256 of the call's `arguments` as canonical JSON (RFC 8785).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_sha256: Option<String>,
    /// What the person is shown about the arguments. Display text, never trusted as data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_summary: Option<String>,
}

/// A checked [`MCP_TOOL_CALL`] entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The upstream MCP server (its resource identifier).
    pub location: String,
    pub tool: String,
    pub arguments_sha256: String,
    pub arguments_summary: Option<String>,
}

impl ToolCall {
    /// Checks one entry: type [`MCP_TOOL_CALL`], exactly one location, the action `tools/call`, a
    /// tool name, a SHA-256 of the arguments, and a summary a page can show. The message says what
    /// is wrong (for `invalid_authorization_details`).
    pub fn check(detail: &AuthorizationDetail) -> Result<Self, String> {
        if detail.type_ != MCP_TOOL_CALL {
            return Err(format!("unsupported authorization_details type {:?}", detail.type_));
        }
        let [location] = detail.locations.as_slice() else {
            return Err("an mcp_tool_call names exactly one location (the upstream)".into());
        };
        if detail.actions.as_slice() != [TOOLS_CALL] {
            return Err(format!("an mcp_tool_call's actions are [\"{TOOLS_CALL}\"]"));
        }
        let tool = detail.identifier.as_deref().unwrap_or_default();
        if tool.is_empty() || tool.chars().count() > MAX_TOOL_NAME || tool.chars().any(char::is_control) {
            return Err(format!("identifier must name the tool (1 to {MAX_TOOL_NAME} printable characters)"));
        }
        let digest = detail.arguments_sha256.as_deref().unwrap_or_default();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err("arguments_sha256 must be 64 lowercase hex digits".into());
        }
        if let Some(summary) = &detail.arguments_summary
            && (summary.chars().count() > MAX_ARGUMENTS_SUMMARY
                || summary.chars().any(|c| c.is_control() && c != '\n'))
        {
            return Err(format!(
                "arguments_summary must be at most {MAX_ARGUMENTS_SUMMARY} characters without control characters"
            ));
        }
        Ok(Self {
            location: location.clone(),
            tool: tool.to_owned(),
            arguments_sha256: digest.to_owned(),
            arguments_summary: detail.arguments_summary.clone(),
        })
    }

    /// The entry again, as it goes into a token and its response.
    pub fn to_detail(&self) -> AuthorizationDetail {
        AuthorizationDetail {
            type_: MCP_TOOL_CALL.to_owned(),
            locations: vec![self.location.clone()],
            actions: vec![TOOLS_CALL.to_owned()],
            identifier: Some(self.tool.clone()),
            arguments_sha256: Some(self.arguments_sha256.clone()),
            arguments_summary: self.arguments_summary.clone(),
        }
    }
}

/// Lowercase hex SHA-256 of `arguments` as canonical JSON: what [`AuthorizationDetail`]'s
/// `arguments_sha256` and a gateway's audit record carry, so two spellings of the same arguments
/// (keys in another order, other whitespace) are one call, and different arguments are another.
pub fn arguments_sha256(arguments: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(arguments, &mut canonical);
    hex_sha256(&canonical)
}

/// [`arguments_sha256`] of `Value::Object(members)`, for a caller that holds the members (and
/// would otherwise copy them into a `Value` only to hash them).
pub fn object_sha256(members: &Map<String, Value>) -> String {
    let mut canonical = String::new();
    write_object(members, &mut canonical);
    hex_sha256(&canonical)
}

fn hex_sha256(text: &str) -> String {
    crate::hex(&Sha256::digest(text.as_bytes()))
}

/// RFC 8785 (JCS) for what MCP arguments hold: object members sorted by their UTF-16 code units,
/// no whitespace, strings escaped as JSON requires and no more. Numbers are written as serde_json
/// writes them, which is JCS for every integer and for the usual fractions (JCS's ECMAScript form
/// differs only for exponents such as `1e21`, which tool arguments do not use).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => write_object(members, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_object(members: &Map<String, Value>, out: &mut String) {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (key, member)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        write_canonical(member, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_digest_ignores_key_order_and_whitespace_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": true, "x": null}], "a": "é\n"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"é\n","b":[1,{"x":null,"y":true}]}"#).unwrap();
        assert_eq!(arguments_sha256(&a), arguments_sha256(&b));
        let mut canonical = String::new();
        write_canonical(&a, &mut canonical);
        assert_eq!(canonical, r#"{"a":"é\n","b":[1,{"x":null,"y":true}]}"#);
        let other: Value = serde_json::from_str(r#"{"a":"é\n","b":[1,{"x":null,"y":false}]}"#).unwrap();
        assert_ne!(arguments_sha256(&a), arguments_sha256(&other));
        // The empty object, as a call without arguments is hashed.
        assert_eq!(
            arguments_sha256(&serde_json::json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        // The members alone hash as their object does.
        for value in [&a, &b, &other] {
            assert_eq!(object_sha256(value.as_object().unwrap()), arguments_sha256(value));
        }
    }

    #[test]
    fn members_sort_by_utf16_code_units_as_jcs_says() {
        // By code point U+FB33 comes first; in UTF-16, U+1F600 (0xD83D 0xDE00) is below 0xFB33.
        let value = serde_json::json!({"\u{1F600}": 1, "\u{FB33}": 2});
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        assert_eq!(canonical, "{\"\u{1F600}\":1,\"\u{FB33}\":2}");
    }

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn detail() -> AuthorizationDetail {
        serde_json::from_value(serde_json::json!({
            "type": "mcp_tool_call",
            "locations": ["http://localhost:9090"],
            "actions": ["tools/call"],
            "identifier": "delete_note",
            "arguments_sha256": DIGEST,
            "arguments_summary": "id = 7",
            "something_else": true,
        }))
        .unwrap()
    }

    #[test]
    fn a_tool_call_entry_is_checked_and_round_trips() {
        let call = ToolCall::check(&detail()).unwrap();
        assert_eq!((call.location.as_str(), call.tool.as_str()), ("http://localhost:9090", "delete_note"));
        assert_eq!(ToolCall::check(&call.to_detail()), Ok(call));
    }

    #[test]
    fn malformed_entries_are_refused() {
        let refused = |change: fn(&mut AuthorizationDetail)| {
            let mut detail = detail();
            change(&mut detail);
            ToolCall::check(&detail).unwrap_err()
        };
        assert!(refused(|d| d.type_ = "payment_initiation".into()).contains("unsupported"));
        assert!(refused(|d| d.locations.clear()).contains("exactly one location"));
        assert!(refused(|d| d.locations.push("http://other".into())).contains("exactly one location"));
        assert!(refused(|d| d.actions = vec!["tools/list".into()]).contains("actions"));
        assert!(refused(|d| d.identifier = None).contains("identifier"));
        assert!(refused(|d| d.identifier = Some("a\u{7}b".into())).contains("identifier"));
        assert!(refused(|d| d.arguments_sha256 = Some(DIGEST.to_uppercase())).contains("hex"));
        assert!(refused(|d| d.arguments_sha256 = Some("abc".into())).contains("hex"));
        assert!(refused(|d| d.arguments_summary = Some("x".repeat(501))).contains("summary"));
        assert!(refused(|d| d.arguments_summary = Some("a\u{1b}[31m".into())).contains("summary"));
    }
}
