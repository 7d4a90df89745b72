//! The tools this server offers, each with the scope it needs.
//!
//! Two tools with different scopes make step-up real: a token for `echo` can call `echo`, and
//! `whoami` answers `403 insufficient_scope` until the client comes back with `profile` too. The
//! notes tools ([`super::notes_tools`]) read, add and delete per-user notes with `notes:read` and
//! `notes:write`, so that a gateway's policies have something real to decide.

use protocol::echo::MAX_ECHO_TEXT;
use protocol::mcp::{CallToolResult, Tool, ToolAnnotations};
use protocol::scope::Scopes;
use serde_json::{Map, Value, json};

use mcp_bearer::VerifiedToken;

/// A tool and what calling it requires.
pub struct ToolSpec {
    pub tool: Tool,
    pub scopes: Scopes,
}

/// Why a call did not produce a tool result.
#[derive(Debug, PartialEq)]
pub enum CallError {
    /// No such tool: a JSON-RPC `invalid params` error (MCP tools spec).
    UnknownTool(String),
    /// The token lacks scope: the HTTP layer answers `403` with the scopes to ask for.
    InsufficientScope(Scopes),
    /// The tool needs a client capability the request did not declare (2026-07-28).
    MissingClientCapability(&'static str),
    /// The token was issued for one approved call (RFC 9396 `authorization_details`), and this
    /// is another (another tool, other arguments), or that call was made with it already.
    NotTheApprovedCall,
}

/// The error for a call-bound token spent on another call, or spent already.
pub const NOT_APPROVED: &str =
    "this token was approved for another tool call, or its call was made already (authorization_details)";

/// What `initialize` tells a client about the tools.
pub const INSTRUCTIONS: &str = "Tools: `echo` (scope echo), `whoami` (scope profile), and per-user notes: \
     `list_notes` and `read_note` (scope notes:read), `add_note` and `delete_note` (scope notes:write).";

/// Who is calling, what their client said it can do, and what the tools work on.
pub struct CallContext<'a> {
    pub token: &'a VerifiedToken,
    /// `clientCapabilities` of the request (2026-07-28) or of `initialize`, if known.
    pub client_capabilities: Option<&'a Value>,
    pub notes: &'a crate::notes::Notes,
    /// Where a call-bound token is spent.
    pub spent: &'a super::spent::SpentCalls,
    /// Unix seconds, for what the tools record.
    pub now: i64,
}

impl<'a> CallContext<'a> {
    pub fn new(
        token: &'a VerifiedToken,
        client_capabilities: Option<&'a Value>,
        notes: &'a crate::notes::Notes,
        spent: &'a super::spent::SpentCalls,
    ) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self { token, client_capabilities, notes, spent, now }
    }
}

pub(super) fn scopes(s: &str) -> Scopes {
    Scopes::parse(s).expect("constant scopes are valid")
}

/// The annotations of a tool that changes nothing and reaches nothing outside this server.
pub(super) fn read_only() -> ToolAnnotations {
    ToolAnnotations { read_only_hint: Some(true), open_world_hint: Some(false), ..Default::default() }
}

/// Every tool, built once at startup. With `conformance_tools`, the diagnostic tools the MCP
/// conformance suite calls come first (see [`conformance_catalog`]).
pub fn catalog(conformance_tools: bool) -> Vec<ToolSpec> {
    let mut tools = if conformance_tools { conformance_catalog() } else { Vec::new() };
    tools.extend(product_catalog());
    tools.extend(super::notes_tools::catalog());
    tools
}

fn product_catalog() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            tool: Tool {
                name: "echo".into(),
                title: Some("Echo".into()),
                description: Some("Returns the text it is given. Needs the `echo` scope.".into()),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "description": "What to echo back", "maxLength": MAX_ECHO_TEXT}
                    },
                    "required": ["text"],
                    "additionalProperties": false
                }),
                output_schema: Some(json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"]
                })),
                annotations: Some(read_only()),
                icons: None,
            },
            scopes: scopes("echo"),
        },
        ToolSpec {
            tool: Tool {
                name: "whoami".into(),
                title: Some("Who am I".into()),
                description: Some(
                    "Describes the access token of this call: subject, client and scopes. Needs the `profile` scope."
                        .into(),
                ),
                input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
                output_schema: Some(json!({
                    "type": "object",
                    "properties": {
                        "subject": {"type": "string"},
                        "client_id": {"type": "string"},
                        "scopes": {"type": "array", "items": {"type": "string"}},
                        "expires_at": {"type": "integer"}
                    },
                    "required": ["subject", "client_id", "scopes", "expires_at"]
                })),
                annotations: Some(read_only()),
                icons: None,
            },
            scopes: scopes("profile"),
        },
    ]
}

/// The diagnostic tools of the MCP conformance suite (`@modelcontextprotocol/conformance`), offered
/// only with `--conformance-tools`: they exist so the suite can exercise the transport, not for
/// users.
fn conformance_catalog() -> Vec<ToolSpec> {
    let simple = |name: &str, description: &str| ToolSpec {
        tool: Tool {
            name: name.into(),
            title: None,
            description: Some(format!("Conformance suite diagnostic: {description}")),
            input_schema: json!({"type": "object", "additionalProperties": false}),
            output_schema: None,
            annotations: None,
            icons: None,
        },
        scopes: scopes("echo"),
    };
    vec![
        simple("test_simple_text", "returns a simple text result"),
        simple("test_error_handling", "always fails with a tool error"),
        simple("test_missing_capability", "needs the client's sampling capability"),
        simple("test_streaming_elicitation", "would elicit; answers without asking here"),
        simple("test_logging_tool", "would log; sends no log messages unless asked"),
    ]
}

/// What a batch of calls to `names` needs beyond the token: `None` if it has every scope they
/// need, else the scopes to ask for (the token's and all those), so that one step-up is enough
/// for the whole batch. Unknown names need nothing (their calls are errors).
pub fn missing_scopes<'a>(
    catalog: &[ToolSpec],
    token: &VerifiedToken,
    names: impl IntoIterator<Item = &'a str>,
) -> Option<Scopes> {
    let mut wanted: Option<Scopes> = None;
    for name in names {
        if let Some(spec) = catalog.iter().find(|s| s.tool.name == name)
            && !token.scopes.is_superset(&spec.scopes)
        {
            let base = wanted.as_ref().unwrap_or(&token.scopes);
            wanted = Some(base.union(&spec.scopes));
        }
    }
    wanted
}

/// Calls `name`. Argument problems are tool errors (`isError: true`) so that a model can read and
/// correct them (MCP 2025-11-25 tools: input validation errors are tool execution errors).
pub async fn call(
    catalog: &[ToolSpec],
    name: &str,
    arguments: &Map<String, Value>,
    context: &CallContext<'_>,
) -> Result<CallToolResult, CallError> {
    let spec = catalog
        .iter()
        .find(|s| s.tool.name == name)
        .ok_or_else(|| CallError::UnknownTool(name.to_owned()))?;
    let token = context.token;
    if !token.scopes.is_superset(&spec.scopes) {
        return Err(CallError::InsufficientScope(token.scopes.union(&spec.scopes)));
    }
    match approved_call(token, name, arguments) {
        Approved::NotBound => {}
        Approved::Other => return Err(CallError::NotTheApprovedCall),
        Approved::ThisCall => {
            // Spent before the tool runs: of two concurrent uses, one gets through.
            let until = token.claims.exp.saturating_add(protocol::jwt::validation::LEEWAY);
            let now = u64::try_from(context.now).unwrap_or_default();
            if !context.spent.spend(&token.claims.jti, until, now) {
                return Err(CallError::NotTheApprovedCall);
            }
        }
    }
    if let Some(result) = super::notes_tools::call(name, arguments, context).await {
        return Ok(result);
    }
    Ok(match name {
        "echo" => echo(arguments),
        "whoami" => whoami(arguments, token),
        "test_simple_text" => CallToolResult::text("This is a simple text response for testing."),
        "test_error_handling" => CallToolResult::error("This tool always fails, to test error reporting."),
        "test_missing_capability" => {
            let declared = context.client_capabilities.and_then(|c| c.get("sampling")).is_some();
            if !declared {
                return Err(CallError::MissingClientCapability("sampling"));
            }
            CallToolResult::text("The client declared sampling.")
        }
        "test_streaming_elicitation" => {
            CallToolResult::text("Nothing to elicit: this server sends no requests.")
        }
        "test_logging_tool" => CallToolResult::text("Done, without log notifications."),
        _ => CallToolResult::error(format!("tool {name} has no implementation")),
    })
}

/// What a token's `authorization_details` say about a call.
#[derive(Debug, PartialEq, Eq)]
enum Approved {
    /// No `mcp_tool_call` detail: the token is not bound to a call.
    NotBound,
    /// Bound to exactly this call (spent once, [`super::spent`]).
    ThisCall,
    /// Bound to another call.
    Other,
}

/// A token that carries `authorization_details` of type `mcp_tool_call` (issued after a person
/// approved one call) is good for that call only: this tool, these arguments (by their canonical
/// SHA-256), at this server, once. The gateway spends such a token on exactly that call; checking
/// here too means a token that leaked from the gateway buys nothing else.
fn approved_call(token: &VerifiedToken, tool: &str, arguments: &Map<String, Value>) -> Approved {
    use protocol::authorization_details::{MCP_TOOL_CALL, ToolCall, object_sha256};
    let Some(details) = &token.claims.authorization_details else {
        return Approved::NotBound;
    };
    let mut calls = details.iter().filter(|d| d.type_ == MCP_TOOL_CALL).peekable();
    if calls.peek().is_none() {
        return Approved::NotBound;
    }
    let digest = object_sha256(arguments);
    let this_call = calls.filter_map(|d| ToolCall::check(d).ok()).any(|call| {
        call.tool == tool && call.arguments_sha256 == digest && token.claims.aud.contains(&call.location)
    });
    if this_call { Approved::ThisCall } else { Approved::Other }
}

pub(super) fn unexpected(arguments: &Map<String, Value>, allowed: &[&str]) -> Option<CallToolResult> {
    arguments
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
        .map(|k| CallToolResult::error(format!("unexpected argument {k:?}")))
}

fn echo(arguments: &Map<String, Value>) -> CallToolResult {
    if let Some(error) = unexpected(arguments, &["text"]) {
        return error;
    }
    match arguments.get("text") {
        Some(Value::String(text)) if text.chars().count() <= MAX_ECHO_TEXT => {
            let mut result = CallToolResult::text(text.clone());
            result.structured_content = Some(json!({"text": text}));
            result
        }
        Some(Value::String(_)) => {
            CallToolResult::error(format!("text is longer than {MAX_ECHO_TEXT} characters"))
        }
        Some(_) => CallToolResult::error("text must be a string"),
        None => CallToolResult::error("the text argument is required"),
    }
}

fn whoami(arguments: &Map<String, Value>, token: &VerifiedToken) -> CallToolResult {
    if let Some(error) = unexpected(arguments, &[]) {
        return error;
    }
    // RFC 8693 actors: who presents this token for the user (a gateway, after a token exchange),
    // current actor first. Empty when the user's own client calls.
    let actors: Vec<&str> = token.actors().map(|actor| actor.sub.as_str()).collect();
    let about = json!({
        "subject": token.claims.sub,
        "client_id": token.claims.client_id,
        "actors": actors,
        "scopes": token.scopes.iter().collect::<Vec<_>>(),
        "expires_at": token.claims.exp,
    });
    let acting = match actors.as_slice() {
        [] => String::new(),
        chain => format!(" (presented by {})", chain.join(" for ")),
    };
    let mut result = CallToolResult::text(format!(
        "You are {} via client {}{acting}, with scopes: {}.",
        token.claims.sub, token.claims.client_id, token.scopes
    ));
    result.structured_content = Some(about);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::jwt::{AccessTokenClaims, Audience};

    /// A call-bound token names the arguments' digest as the gateway read them; read here one
    /// unit in the last place off (serde_json without `float_roundtrip`), a float argument would
    /// make the approved call "another call".
    #[test]
    fn float_arguments_are_read_exactly() {
        // Declared by this crate itself: in a workspace-wide build another crate's declaration
        // would switch it on for this one too, and the checks below would pass without it.
        assert!(include_str!("../../Cargo.toml").contains(r#"features = ["float_roundtrip"]"#));
        for number in ["6.934698245112694e+276", "8.383658838626809e-78", "-2.693554001703998e+265", "0.1"] {
            let read: Value = serde_json::from_str(number).unwrap();
            assert_eq!(read.as_f64(), number.parse::<f64>().ok(), "{number}");
        }
    }

    fn token(scope: &str) -> VerifiedToken {
        VerifiedToken {
            claims: AccessTokenClaims {
                iss: "i".into(),
                aud: Audience::One("a".into()),
                sub: "user-1".into(),
                client_id: "client-1".into(),
                iat: 0,
                exp: 100,
                nbf: None,
                jti: "j".into(),
                scope: Some(scope.into()),
                auth_time: None,
                act: None,
                groups: None,
                authorization_details: None,
                client_registration: None,
            },
            scopes: Scopes::parse(scope).unwrap(),
        }
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    async fn call_with(name: &str, arguments: Value, scope: &str) -> Result<CallToolResult, CallError> {
        let token = token(scope);
        let notes = crate::notes::Notes::open("sqlite::memory:").await.unwrap();
        let spent = crate::mcp::spent::SpentCalls::default();
        call(&catalog(false), name, &args(arguments), &CallContext::new(&token, None, &notes, &spent)).await
    }

    #[tokio::test]
    async fn echo_returns_its_text_as_content_and_structured_content() {
        let result = call_with("echo", json!({"text": "hi"}), "echo").await.unwrap();
        assert_eq!(
            result,
            CallToolResult { structured_content: Some(json!({"text": "hi"})), ..CallToolResult::text("hi") }
        );
    }

    #[tokio::test]
    async fn bad_arguments_are_tool_errors_not_protocol_errors() {
        for bad in [
            json!({}),
            json!({"text": 3}),
            json!({"text": "a", "extra": 1}),
            json!({"text": "x".repeat(1001)}),
        ] {
            let result = call_with("echo", bad.clone(), "echo").await.unwrap();
            assert!(result.is_error, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_tool_needing_another_scope_asks_for_the_union() {
        let error = call_with("whoami", json!({}), "echo").await.unwrap_err();
        assert_eq!(error, CallError::InsufficientScope(Scopes::parse("echo profile").unwrap()));
        let result = call_with("whoami", json!({}), "echo profile").await.unwrap();
        assert_eq!(result.structured_content.unwrap()["subject"], "user-1");
    }

    #[test]
    fn a_batch_needs_one_step_up_for_the_scopes_of_all_its_calls() {
        let catalog = catalog(false);
        let missing = |scope: &str, names: &[&str]| {
            missing_scopes(&catalog, &token(scope), names.iter().copied()).map(|s| s.to_string())
        };
        assert_eq!(missing("echo", &["echo", "nope", "echo"]), None);
        assert_eq!(missing("echo notes:write", &["add_note", "delete_note"]), None);
        assert_eq!(missing("echo", &["echo", "whoami"]).as_deref(), Some("echo profile"));
        let both = missing("echo", &["add_note", "echo", "whoami", "delete_note"]).unwrap();
        assert_eq!(Scopes::parse(&both).unwrap(), Scopes::parse("echo notes:write profile").unwrap());
    }

    #[tokio::test]
    async fn unknown_tools_are_reported_as_such() {
        assert_eq!(
            call_with("rm_rf", json!({}), "echo profile").await,
            Err(CallError::UnknownTool("rm_rf".into()))
        );
        assert_eq!(
            call_with("test_simple_text", json!({}), "echo").await,
            Err(CallError::UnknownTool("test_simple_text".into())),
            "diagnostic tools exist only in conformance mode"
        );
    }

    #[test]
    fn every_tool_has_a_description_and_an_object_schema() {
        for spec in catalog(true) {
            assert!(spec.tool.description.as_deref().is_some_and(|d| !d.is_empty()), "{}", spec.tool.name);
            assert_eq!(spec.tool.input_schema["type"], "object", "{}", spec.tool.name);
        }
    }
}
