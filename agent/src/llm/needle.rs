//! Cactus Compute's Needle 3, in-process and offline, through the pure-Rust `needle-infer`
//! runtime: a 121M-parameter model (one 35 MB `needle3.cact` file) trained to map a request and a
//! tool list to tool calls.
//!
//! **Single-shot, no prose.** Needle reads the last user message and the tools, reasons briefly,
//! and emits calls or an empty list; it cannot plan several steps or write an answer. So:
//!
//! * when the conversation ends with tool results, the calls were made and the reply is an
//!   [`Reply::Answer`] whose text *is* those results: there is no model-written summary;
//! * otherwise it runs the model on the last user message and answers [`Reply::Calls`], or
//!   [`Reply::Declined`] when it abstains (no tool fits), names no declared tool, or is less
//!   confident than the threshold.
//!
//! **Confidence.** Needle 3 has a learned confidence head that scores a finished completion (the
//! prompt plus the calls it chose, arguments included): its estimate, from 0 to 1, that the calls
//! are right for the request. Calls scoring below the threshold are declined rather than made;
//! see [`DEFAULT_THRESHOLD`] for what the scores look like.
//!
//! System messages are not shown to the model: it was trained on a request and tool schemas, not
//! on instructions. Decoding is greedy, so the same request and tools give the same reply.
//!
//! The weights are Apache-2.0 (Cactus Compute); `cargo xtask` fetches and verifies them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use needle_infer::tokenizer::to_snake_case;
use needle_infer::v3_engine::{V3Engine, V3Options, extract_tool_call};
use serde_json::{Value, json};

use super::{LlmError, Message, Model, ModelFuture, Reply, ToolCall, ToolSpec};

/// The confidence below which Needle declines, when `--needle-threshold` does not say.
///
/// Measured on the shipped weights with this project's MCP tools (`echo`, `whoami` and the four
/// notes tools): right calls scored 0.33 to 0.81 (`echo` with `hi`: 0.33 to 0.65 depending on the
/// wording and the tool list, "say hi with the echo tool" being the lowest), wrong ones 0.07 to
/// 0.15 (`add_note` for "write me a poem about the sea"; a second, invented `echo` for "say hi
/// with the echo tool"). 0.25 sits in that gap, closer to the wrong calls, so that a right call
/// is rarely refused; upstream's own test harness suggests gates around 0.4.
pub const DEFAULT_THRESHOLD: f32 = 0.25;

/// The environment variable naming the weights when `--llm needle:` gives no path; `cargo xtask
/// test` sets it for the tests.
pub const MODEL_ENV: &str = "MCP_AGENT_NEEDLE_MODEL";

/// Where `cargo xtask dev` and `cargo xtask test` put the verified weights, relative to the
/// workspace root.
pub const XTASK_MODEL_PATH: &str = "target/models/needle3.cact";

/// The weights `--llm needle:` loads when it names no file, first match wins:
///
/// 1. `$MCP_AGENT_NEEDLE_MODEL`, when set and not empty;
/// 2. `needle3.cact` in the user's cache directory (`~/.cache/mcp-agent/` on Linux,
///    `~/Library/Caches/mcp-agent/` on macOS), when it exists: where to put the file for an
///    installed `mcp-agent`;
/// 3. `target/models/needle3.cact` relative to the current directory: what `cargo xtask dev`
///    fills, for running from a checkout.
pub fn default_model_path() -> PathBuf {
    if let Some(path) = std::env::var_os(MODEL_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    dirs::cache_dir()
        .map(|cache| cache.join("mcp-agent").join("needle3.cact"))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(XTASK_MODEL_PATH))
}

/// Needle 3, loaded: the model behind `--llm needle:<path>`.
pub struct Needle {
    /// `V3Engine` is `Sync` and generates through `&self` (each generation has its own key/value
    /// cache), so one copy serves concurrent conversations without a lock.
    engine: Arc<V3Engine>,
    path: PathBuf,
    threshold: f32,
}

impl Needle {
    /// Loads the weights at `path` (about 50 ms: the file is read and its tokenizer built; the
    /// weights stay packed). `threshold` is the confidence, from 0 to 1, below which the model
    /// declines.
    pub fn load(path: &Path, threshold: f32) -> Result<Self, LlmError> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(LlmError::Model(format!(
                "the Needle threshold must be between 0 and 1, not {threshold}"
            )));
        }
        let engine = V3Engine::load(path).map_err(|e| {
            let hint = if path.is_file() {
                ""
            } else {
                " (`cargo xtask dev` fetches it into target/models; or give its path with \
                 --llm needle:<path> or MCP_AGENT_NEEDLE_MODEL)"
            };
            LlmError::Model(format!("cannot load Needle 3 from {}: {e}{hint}", path.display()))
        })?;
        Ok(Self { engine: Arc::new(engine), path: path.to_owned(), threshold })
    }

    /// The confidence below which this model declines.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }
}

impl Model for Needle {
    fn next<'a>(&'a self, messages: &'a [Message], tools: &'a [ToolSpec]) -> ModelFuture<'a> {
        Box::pin(async move {
            if let Some(answer) = answer_from_results(messages) {
                return Ok(Reply::Answer(answer));
            }
            let Some(query) = last_request(messages) else {
                return Ok(Reply::Declined("there is no request to act on".into()));
            };
            if tools.is_empty() {
                return Ok(Reply::Declined("there are no tools to choose from".into()));
            }
            let engine = self.engine.clone();
            let query = query.to_owned();
            let tools_json = tools_json(tools);
            // Seconds of CPU: off the async workers.
            let threshold = self.threshold;
            let inferred =
                tokio::task::spawn_blocking(move || infer(&engine, &query, &tools_json, threshold))
                    .await
                    .map_err(|e| LlmError::Model(format!("Needle's inference thread failed: {e}")))?;
            let Some((completion, confidence)) = inferred else {
                return Ok(Reply::Declined(
                    "the request and the tool list do not fit in the model's context".into(),
                ));
            };
            let first_id = calls_made(messages) + 1;
            Ok(decide(&completion, confidence, self.threshold, tools, first_id))
        })
    }

    fn describe(&self) -> String {
        format!("needle:{}", self.path.display())
    }
}

/// Needle's completion for `query` with `tools_json`, and its confidence when it chose calls;
/// `None` when the prompt does not fit in the context. Greedy, with decoding constrained to the
/// declared tool names and argument keys inside `<tool_call>`.
///
/// When several calls together score below `threshold`, each is scored on its own and only those
/// that reach it are kept: the model sometimes adds an invented second call to a right one, and
/// the bad call should not sink the good one when the good one is confident on its own.
fn infer(engine: &V3Engine, query: &str, tools_json: &str, threshold: f32) -> Option<(String, Option<f32>)> {
    let options = V3Options { constrain: true, ..V3Options::default() };
    let result = engine.generate(query, tools_json, &options);
    if result.prompt_truncated {
        return None;
    }
    let Some(payload) = extract_tool_call(&result.text).filter(|payload| payload != "[]") else {
        // Scoring runs the model over the whole prompt again: only worth it for calls.
        return Some((result.text, None));
    };
    let confidence = engine.confidence_for(query, tools_json, &result.text);
    let several = match serde_json::from_str::<Value>(&payload) {
        Ok(Value::Array(items)) if items.len() > 1 => items,
        _ => return Some((result.text, confidence)),
    };
    if confidence.is_none_or(|c| c >= threshold) {
        return Some((result.text, confidence));
    }
    let mut kept = Vec::new();
    let mut lowest_kept = f32::MAX;
    for call in several {
        let alone = result.text.replacen(&payload, &Value::Array(vec![call.clone()]).to_string(), 1);
        if let Some(score) = engine.confidence_for(query, tools_json, &alone)
            && score >= threshold
        {
            lowest_kept = lowest_kept.min(score);
            kept.push(call);
        }
    }
    if kept.is_empty() {
        return Some((result.text, confidence));
    }
    let text = result.text.replacen(&payload, &Value::Array(kept).to_string(), 1);
    Some((text, Some(lowest_kept)))
}

/// How many calls the conversation already holds, so that new ids do not repeat old ones.
fn calls_made(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| match m {
            Message::Assistant { tool_calls, .. } => tool_calls.len(),
            _ => 0,
        })
        .sum()
}

/// When the conversation ends with tool results, they are the answer: the text of each, in the
/// order of the calls, separated by blank lines.
fn answer_from_results(messages: &[Message]) -> Option<String> {
    let trailing = messages.iter().rev().take_while(|m| matches!(m, Message::Tool { .. })).count();
    let results: Vec<&str> = messages[messages.len() - trailing..]
        .iter()
        .filter_map(|m| match m {
            Message::Tool { content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    (!results.is_empty()).then(|| results.join("\n\n"))
}

/// The last thing the user asked.
fn last_request(messages: &[Message]) -> Option<&str> {
    messages.iter().rev().find_map(|m| match m {
        Message::User(text) => Some(text.as_str()),
        _ => None,
    })
}

/// The tool list in the form Needle was trained on: `[{"name", "description", "parameters"}]`,
/// `parameters` being the JSON Schema of the input. `needle-infer` compacts it into the prompt.
fn tools_json(tools: &[ToolSpec]) -> String {
    let tools: Vec<Value> = tools
        .iter()
        .map(|tool| {
            let mut entry = json!({"name": tool.name});
            if let Some(description) = &tool.description {
                entry["description"] = json!(description);
            }
            entry["parameters"] = tool.input_schema.clone();
            entry
        })
        .collect();
    Value::Array(tools).to_string()
}

/// The reply for Needle's `completion` (its `<think>` reasoning, then `<tool_call>[…]</tool_call>`)
/// scored `confidence`, with `tools` declared; call ids start at `needle-{first_id}`.
fn decide(
    completion: &str,
    confidence: Option<f32>,
    threshold: f32,
    tools: &[ToolSpec],
    first_id: usize,
) -> Reply {
    let Some(payload) = extract_tool_call(completion) else {
        return Reply::Declined("the model produced no tool call".into());
    };
    let calls = match parse_calls(&payload, tools, first_id) {
        Ok(calls) => calls,
        Err(why) => return Reply::Declined(why),
    };
    if calls.is_empty() {
        return Reply::Declined("the model found no tool that fits the request".into());
    }
    let chosen = calls.iter().map(|c| format!("{} {}", c.name, c.arguments)).collect::<Vec<_>>().join(", ");
    match confidence {
        Some(confidence) if confidence < threshold => Reply::Declined(format!(
            "not confident enough: {chosen} scored {confidence:.2}, below the threshold {threshold:.2}"
        )),
        None if threshold > 0.0 => Reply::Declined(format!(
            "these weights have no confidence head, so the threshold {threshold:.2} cannot be met (chosen: {chosen})"
        )),
        _ => Reply::Calls { content: None, calls },
    }
}

/// The calls of a `<tool_call>` payload: a JSON array of `{"name", "arguments"}`. A name must be
/// one of `tools`, as given or in the snake case constrained decoding writes (`a__echo` comes out
/// as `a_echo`); anything else is an error, never a guess.
fn parse_calls(payload: &str, tools: &[ToolSpec], first_id: usize) -> Result<Vec<ToolCall>, String> {
    let parsed: Value = serde_json::from_str(payload)
        .map_err(|e| format!("the model's tool call is not JSON ({e}): {payload}"))?;
    let items = match parsed {
        Value::Array(items) => items,
        single @ Value::Object(_) => vec![single],
        other => return Err(format!("the model's tool call is not a list of calls: {other}")),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the model wrote a call without a name: {item}"))?;
            let name = declared_name(name, tools)?;
            let arguments = item.get("arguments").cloned().unwrap_or_else(|| json!({}));
            Ok(ToolCall { id: format!("needle-{}", first_id + index), name, arguments })
        })
        .collect()
}

/// The declared tool the model means by `name`.
fn declared_name(name: &str, tools: &[ToolSpec]) -> Result<String, String> {
    if let Some(tool) = tools.iter().find(|t| t.name == name) {
        return Ok(tool.name.clone());
    }
    let mut matches = tools.iter().filter(|t| to_snake_case(&t.name) == name);
    match (matches.next(), matches.next()) {
        (Some(tool), None) => Ok(tool.name.clone()),
        (Some(_), Some(_)) => Err(format!("the model named {name:?}, which more than one tool could be")),
        (None, _) => Err(format!("the model named {name:?}, which is not one of the tools")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: Some(format!("the {name} tool")),
            input_schema: json!({"type": "object", "properties": {}}),
        }
    }

    const ECHO_HI: &str = "<think>\n'hi' -> text.\n</think>\n<tool_call>[{\"name\":\"echo\",\"arguments\":{\"text\":\"hi\"}}]</tool_call>";

    #[test]
    fn a_confident_call_to_a_declared_tool_is_made() {
        let reply = decide(ECHO_HI, Some(0.45), 0.3, &[tool("echo"), tool("whoami")], 1);
        let call = ToolCall { id: "needle-1".into(), name: "echo".into(), arguments: json!({"text": "hi"}) };
        assert_eq!(reply, Reply::Calls { content: None, calls: vec![call] });
    }

    #[test]
    fn a_call_below_the_threshold_is_declined_and_says_what_it_would_have_been() {
        let Reply::Declined(why) = decide(ECHO_HI, Some(0.1), 0.3, &[tool("echo")], 1) else { panic!() };
        assert!(why.contains("echo") && why.contains("0.10") && why.contains("0.30"), "{why}");
    }

    #[test]
    fn an_abstention_or_no_call_is_declined() {
        let abstained = "<think>\nNo tool fits.\n</think>\n<tool_call>[]</tool_call>";
        assert!(matches!(decide(abstained, None, 0.3, &[tool("echo")], 1), Reply::Declined(_)));
        assert!(matches!(decide("I cannot", None, 0.3, &[tool("echo")], 1), Reply::Declined(_)));
    }

    #[test]
    fn an_unknown_tool_is_declined_not_invented() {
        let other = "<tool_call>[{\"name\":\"rm_rf\",\"arguments\":{}}]</tool_call>";
        let Reply::Declined(why) = decide(other, Some(0.9), 0.3, &[tool("echo")], 1) else { panic!() };
        assert!(why.contains("rm_rf"), "{why}");
    }

    #[test]
    fn without_a_confidence_head_only_a_zero_threshold_lets_calls_through() {
        assert!(matches!(decide(ECHO_HI, None, 0.3, &[tool("echo")], 1), Reply::Declined(_)));
        assert!(matches!(decide(ECHO_HI, None, 0.0, &[tool("echo")], 1), Reply::Calls { .. }));
    }

    #[test]
    fn snake_cased_names_map_back_to_the_prefixed_tool() {
        let calls =
            parse_calls(r#"[{"name":"local_echo","arguments":{"text":"hi"}}]"#, &[tool("local__echo")], 3);
        assert_eq!(calls.unwrap()[0].name, "local__echo");
        let ambiguous = parse_calls(r#"[{"name":"a_echo"}]"#, &[tool("a__echo"), tool("a_echo_")], 1);
        assert!(ambiguous.is_err());
    }

    #[test]
    fn call_ids_continue_after_the_calls_already_made() {
        let payload = r#"[{"name":"echo","arguments":{"text":"a"}},{"name":"whoami"}]"#;
        let calls = parse_calls(payload, &[tool("echo"), tool("whoami")], 4).unwrap();
        assert_eq!(calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["needle-4", "needle-5"]);
        assert_eq!(calls[1].arguments, json!({}));
    }

    #[test]
    fn the_answer_is_the_results_that_end_the_conversation() {
        let call = ToolCall { id: "needle-1".into(), name: "echo".into(), arguments: json!({"text": "hi"}) };
        let mut messages = vec![
            Message::System("be useful".into()),
            Message::User("say hi".into()),
            Message::Assistant { content: None, tool_calls: vec![call] },
            Message::Tool { call_id: "needle-1".into(), content: "hi".into() },
        ];
        assert_eq!(answer_from_results(&messages).as_deref(), Some("hi"));
        messages.push(Message::Tool { call_id: "needle-2".into(), content: "there".into() });
        assert_eq!(answer_from_results(&messages).as_deref(), Some("hi\n\nthere"));
        // A chat's next turn is a new request, not the old results again.
        messages.push(Message::Assistant { content: Some("hi\n\nthere".into()), tool_calls: Vec::new() });
        messages.push(Message::User("who am I?".into()));
        assert_eq!(answer_from_results(&messages), None);
        assert_eq!(last_request(&messages), Some("who am I?"));
    }

    #[test]
    fn tools_are_shown_as_name_description_and_parameters() {
        let spec = ToolSpec {
            name: "echo".into(),
            description: Some("Returns the text it is given".into()),
            input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        };
        let shown: Value = serde_json::from_str(&tools_json(&[spec])).unwrap();
        assert_eq!(
            shown,
            json!([{"name": "echo", "description": "Returns the text it is given",
                    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}])
        );
    }
}
