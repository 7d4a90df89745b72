//! The offline model, for real: Needle 3's weights, loaded and run in-process.
//!
//! The weights come from `cargo xtask test` (or `dev`), which fetches and verifies them and names
//! them in `MCP_AGENT_NEEDLE_MODEL`; without that variable the tests look in the workspace's
//! `target/models/needle3.cact`. When neither has them, the tests that need them say so loudly
//! and pass. Decoding is greedy, so what the model chooses here is the same on every run.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Instant;

use mcp_agent::llm::needle::{DEFAULT_THRESHOLD, MODEL_ENV, Needle, XTASK_MODEL_PATH};
use mcp_agent::llm::{LlmError, Message, Model, Reply, ToolCall, ToolSpec};
use serde_json::json;

/// The weights, loaded once for all the tests of this file; `None` (said loudly) without them.
static NEEDLE: LazyLock<Option<Needle>> = LazyLock::new(|| {
    let path = std::env::var_os(MODEL_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(XTASK_MODEL_PATH));
    if !path.is_file() {
        let lines = [
            format!("SKIPPED: the Needle 3 tests, because there are no weights at {}.", path.display()),
            format!(
                "`cargo xtask test` fetches them and sets {MODEL_ENV}; see its output for why it could not."
            ),
        ];
        let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or_default();
        let border = "!".repeat(width + 6);
        let boxed: String = lines.iter().map(|line| format!("!! {line:<width$} !!\n")).collect();
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and
        // this must be seen without `--nocapture`.
        let _ = write!(std::io::stderr(), "\n{border}\n{boxed}{border}\n\n");
        return None;
    }
    let started = Instant::now();
    let needle = Needle::load(&path, DEFAULT_THRESHOLD).expect("the verified weights load");
    eprintln!("Needle 3 loaded from {} in {:?}", path.display(), started.elapsed());
    Some(needle)
});

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "echo".into(),
            description: Some("Returns the text it is given".into()),
            input_schema: json!({
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"]
            }),
        },
        ToolSpec {
            name: "whoami".into(),
            description: Some("Describes the caller: subject, client and scopes".into()),
            input_schema: json!({"type": "object", "properties": {}}),
        },
    ]
}

/// What the model replies to `request` with [`tools`], timed.
async fn reply_to(needle: &Needle, request: &str) -> Reply {
    let messages = [Message::User(request.into())];
    let started = Instant::now();
    let reply = needle.next(&messages, &tools()).await.expect("Needle runs");
    eprintln!("Needle: {request:?} -> {reply:?} in {:?}", started.elapsed());
    reply
}

#[tokio::test]
async fn a_request_to_say_hi_with_echo_is_a_call_to_echo_with_hi() {
    let Some(needle) = NEEDLE.as_ref() else { return };
    let reply = reply_to(needle, "use the echo tool to say hi").await;
    let Reply::Calls { content: None, calls } = reply else { panic!("expected calls, got {reply:?}") };
    let call = ToolCall { id: "needle-1".into(), name: "echo".into(), arguments: json!({"text": "hi"}) };
    assert_eq!(calls, [call]);
}

#[tokio::test]
async fn a_request_no_tool_serves_is_declined() {
    let Some(needle) = NEEDLE.as_ref() else { return };
    let reply = reply_to(needle, "what is the capital of France").await;
    assert!(matches!(reply, Reply::Declined(_)), "expected a refusal, got {reply:?}");
}

/// "say hi with the echo tool" makes Needle call `echo` twice, once with "hi" and once with "echo
/// tool": its confidence head scores that about 0.1, and the call is not made.
#[tokio::test]
async fn a_call_the_model_is_unsure_of_is_declined() {
    let Some(needle) = NEEDLE.as_ref() else { return };
    let reply = reply_to(needle, "say hi with the echo tool").await;
    let Reply::Declined(why) = &reply else { panic!("expected a refusal, got {reply:?}") };
    assert!(why.contains("not confident enough"), "{why}");
}

#[tokio::test]
async fn after_the_calls_the_answer_is_their_results() {
    let Some(needle) = NEEDLE.as_ref() else { return };
    let call = ToolCall { id: "needle-1".into(), name: "echo".into(), arguments: json!({"text": "hi"}) };
    let messages = [
        Message::User("use the echo tool to say hi".into()),
        Message::Assistant { content: None, tool_calls: vec![call] },
        Message::Tool { call_id: "needle-1".into(), content: "hi".into() },
    ];
    let reply = needle.next(&messages, &tools()).await.expect("Needle answers");
    assert_eq!(reply, Reply::Answer("hi".into()));
}

#[test]
fn it_describes_itself_by_its_weights() {
    let Some(needle) = NEEDLE.as_ref() else { return };
    assert!(needle.describe().starts_with("needle:") && needle.describe().ends_with("needle3.cact"));
}

#[test]
fn missing_weights_are_an_error_that_says_how_to_get_them() {
    let Err(LlmError::Model(why)) = Needle::load("/nonexistent/needle3.cact".as_ref(), DEFAULT_THRESHOLD)
    else {
        panic!("loaded weights that do not exist")
    };
    assert!(why.contains("/nonexistent/needle3.cact") && why.contains("cargo xtask dev"), "{why}");
}
