//! An OpenAI-compatible Chat Completions client (`POST {base}/chat/completions` with `tools`),
//! small and on the agent's own HTTP stack: Ollama (`http://localhost:11434/v1`), llama.cpp's
//! `llama-server` (`--jinja`, for tool calls), vLLM (`--enable-auto-tool-choice
//! --tool-call-parser …`) and OpenAI all speak it.
//!
//! The API key, when there is one, goes in the `Authorization` header of requests to the model
//! endpoint and nowhere else; it is held in a redacting type and never printed.

use std::time::Duration;

use protocol::secret::ApiKey;
use serde_json::{Value, json};

use super::{LlmError, Message, Model, ModelFuture, Reply, ToolCall, ToolSpec};

/// The largest answer read from a model endpoint.
const MAX_ANSWER: usize = 8 * 1024 * 1024;

/// A model behind an OpenAI-compatible endpoint.
pub struct OpenAi {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<ApiKey>,
}

impl OpenAi {
    /// `base_url` is the API root (`…/v1`); requests go to `{base_url}/chat/completions`.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<ApiKey>,
        timeout: Duration,
    ) -> Result<Self, LlmError> {
        let base = url::Url::parse(base_url)
            .map_err(|e| LlmError::Endpoint(format!("{base_url:?} is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(LlmError::Endpoint(format!("{base_url:?} is not an http(s) URL")));
        }
        if api_key.is_some() && base.scheme() == "http" && !protocol::resource::is_loopback(&base) {
            return Err(LlmError::Endpoint(format!(
                "{base_url} is plain http on a network address: the API key would travel in clear; use https"
            )));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| LlmError::Endpoint(e.to_string()))?;
        let endpoint = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        Ok(Self { http, endpoint, model: model.to_owned(), api_key })
    }

    async fn complete(&self, messages: &[Message], tools: &[ToolSpec]) -> Result<Reply, LlmError> {
        let body = request_body(&self.model, messages, tools);
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.secret());
        }
        let fail = |why: String| LlmError::Endpoint(format!("{}: {why}", self.endpoint));
        let mut response = request.send().await.map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let mut text = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            if text.len() + chunk.len() > MAX_ANSWER {
                return Err(fail(format!("answered more than {MAX_ANSWER} bytes")));
            }
            text.extend_from_slice(&chunk);
        }
        let answer: Value = serde_json::from_slice(&text)
            .map_err(|e| fail(format!("answered {status} with no JSON: {e}")))?;
        if !status.is_success() {
            // OpenAI-style `{"error": {"message": …}}`; the message is the server's, not ours.
            let message = answer.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message");
            return Err(fail(format!("answered {status}: {message}")));
        }
        parse_reply(&answer).map_err(fail)
    }
}

impl Model for OpenAi {
    fn next<'a>(&'a self, messages: &'a [Message], tools: &'a [ToolSpec]) -> ModelFuture<'a> {
        Box::pin(self.complete(messages, tools))
    }

    fn describe(&self) -> String {
        format!("openai:{} {}", self.endpoint.trim_end_matches("/chat/completions"), self.model)
    }
}

/// The request body: the conversation and the tools as functions.
pub fn request_body(model: &str, messages: &[Message], tools: &[ToolSpec]) -> Value {
    let messages: Vec<Value> = messages.iter().map(message_json).collect();
    let mut body = json!({"model": model, "messages": messages, "stream": false});
    if !tools.is_empty() {
        let tools: Vec<Value> = tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {
                    "name": tool.name,
                    "description": tool.description.clone().unwrap_or_default(),
                    "parameters": tool.input_schema,
                }})
            })
            .collect();
        body["tools"] = Value::Array(tools);
        body["tool_choice"] = json!("auto");
    }
    body
}

fn message_json(message: &Message) -> Value {
    match message {
        Message::System(text) => json!({"role": "system", "content": text}),
        Message::User(text) => json!({"role": "user", "content": text}),
        Message::Assistant { content, tool_calls } => {
            let mut value = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|call| {
                        // The API carries arguments as a JSON string.
                        json!({"id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": call.arguments.to_string()}})
                    })
                    .collect();
                value["tool_calls"] = Value::Array(calls);
            }
            value
        }
        Message::Tool { call_id, content } => {
            json!({"role": "tool", "tool_call_id": call_id, "content": content})
        }
    }
}

/// The model's reply in a Chat Completions answer: tool calls if it made any, else its text.
pub fn parse_reply(answer: &Value) -> Result<Reply, String> {
    let message = answer.pointer("/choices/0/message").ok_or("the answer has no choices[0].message")?;
    let content =
        message.get("content").and_then(Value::as_str).map(str::to_owned).filter(|c| !c.trim().is_empty());
    let calls = message.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
    if calls.is_empty() {
        return Ok(Reply::Answer(content.unwrap_or_default()));
    }
    let calls = calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let function = call.get("function").ok_or("a tool call without a function")?;
            let name = function.get("name").and_then(Value::as_str).ok_or("a tool call without a name")?;
            let id =
                call.get("id").and_then(Value::as_str).map_or_else(|| format!("call-{i}"), str::to_owned);
            // Arguments come as a JSON string (OpenAI, vLLM, llama.cpp) or, from some servers
            // (Ollama's native shape), as an object. What does not parse is passed on as text, and
            // the tool's error about it goes back to the model.
            let arguments = match function.get("arguments") {
                Some(Value::String(text)) if text.trim().is_empty() => json!({}),
                Some(Value::String(text)) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
                Some(object @ Value::Object(_)) => object.clone(),
                None | Some(Value::Null) => json!({}),
                Some(other) => other.clone(),
            };
            Ok(ToolCall { id, name: name.to_owned(), arguments })
        })
        .collect::<Result<Vec<_>, &str>>()?;
    Ok(Reply::Calls { content, calls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conversation_and_tools_are_sent_as_chat_completions_expects() {
        let messages = vec![
            Message::System("be brief".into()),
            Message::User("say hi".into()),
            Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "echo".into(),
                    arguments: json!({"text": "hi"}),
                }],
            },
            Message::Tool { call_id: "c1".into(), content: "hi".into() },
        ];
        let tools = vec![ToolSpec {
            name: "echo".into(),
            description: Some("Echoes".into()),
            input_schema: json!({"type": "object"}),
        }];
        let body = request_body("m", &messages, &tools);
        assert_eq!(body["model"], "m");
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"text\":\"hi\"}");
        assert_eq!(body["messages"][3], json!({"role": "tool", "tool_call_id": "c1", "content": "hi"}));
        assert_eq!(body["tools"][0]["function"]["name"], "echo");
        assert_eq!(body["tool_choice"], "auto");
        assert!(request_body("m", &messages, &[]).get("tools").is_none());
    }

    #[test]
    fn replies_are_read_in_every_shape_servers_send() {
        let answer = json!({"choices": [{"message": {"role": "assistant", "content": "Done."}}]});
        assert_eq!(parse_reply(&answer), Ok(Reply::Answer("Done.".into())));
        let calls = json!({"choices": [{"message": {"content": null, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "echo", "arguments": "{\"text\":\"hi\"}"}},
            {"type": "function", "function": {"name": "whoami", "arguments": ""}},
            {"id": "c", "function": {"name": "echo", "arguments": {"text": "obj"}}},
            {"id": "d", "function": {"name": "echo", "arguments": "{not json"}}
        ]}}]});
        let Ok(Reply::Calls { content: None, calls }) = parse_reply(&calls) else { panic!() };
        assert_eq!(
            calls[0],
            ToolCall { id: "a".into(), name: "echo".into(), arguments: json!({"text": "hi"}) }
        );
        assert_eq!(calls[1], ToolCall { id: "call-1".into(), name: "whoami".into(), arguments: json!({}) });
        assert_eq!(calls[2].arguments, json!({"text": "obj"}));
        assert_eq!(calls[3].arguments, json!("{not json"));
        assert!(parse_reply(&json!({"choices": []})).is_err());
    }

    #[test]
    fn an_api_key_never_travels_in_clear_to_a_network_address() {
        let key = || Some(ApiKey::new("sk-test"));
        let timeout = Duration::from_secs(5);
        assert!(OpenAi::new("http://10.0.0.5:8000/v1", "m", key(), timeout).is_err());
        assert!(OpenAi::new("http://localhost:11434/v1", "m", key(), timeout).is_ok());
        assert!(OpenAi::new("https://api.openai.com/v1", "m", key(), timeout).is_ok());
        assert!(OpenAi::new("http://10.0.0.5:8000/v1", "m", None, timeout).is_ok());
        assert!(OpenAi::new("file:///etc", "m", None, timeout).is_err());
        assert_eq!(format!("{:?}", key()), "Some(ApiKey(***))");
    }
}
