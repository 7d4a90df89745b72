//! A scripted model server for the agent's loop tests: an OpenAI-compatible Chat Completions
//! endpoint on loopback (`{base_url}/chat/completions`) that answers from a queue and records
//! every request it receives, headers and body, so a test can check what reached the model (and
//! that no secret did).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

/// One request the model endpoint received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    /// Everything received, as one string to search.
    pub fn text(&self) -> String {
        let headers: Vec<String> = self.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        format!("{}\n{}", headers.join("\n"), self.body)
    }

    /// The tool messages of the conversation sent.
    pub fn tool_messages(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .map(|m| m.iter().filter(|m| m["role"] == "tool").cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Value>,
    requests: Vec<Recorded>,
}

/// The server, running until dropped with the test's runtime.
#[derive(Clone)]
pub struct ScriptedModel {
    /// The API root, as `--llm openai:<base_url>` takes it.
    pub base_url: String,
    script: Arc<Mutex<Script>>,
}

impl ScriptedModel {
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let app =
            axum::Router::new().route("/v1/chat/completions", post(complete)).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, script }
    }

    fn push(&self, message: Value) {
        self.script.lock().unwrap().answers.push_back(message);
    }

    /// Queues a final answer.
    pub fn answer(&self, text: &str) -> &Self {
        self.push(json!({"role": "assistant", "content": text}));
        self
    }

    /// Queues a turn of tool calls: `(id, tool, arguments)`.
    pub fn calls(&self, calls: &[(&str, &str, Value)]) -> &Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
            })
            .collect();
        self.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn complete(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut script = script.lock().unwrap();
    let headers = headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    script.requests.push(Recorded { headers, body });
    let message = script
        .answers
        .pop_front()
        .unwrap_or_else(|| json!({"role": "assistant", "content": "(the script has no more answers)"}));
    let finish = if message.get("tool_calls").is_some() { "tool_calls" } else { "stop" };
    Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}]
    }))
}
