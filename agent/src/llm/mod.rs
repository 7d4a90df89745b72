//! The models that choose tool calls for `mcp-agent run` / `chat`: one interface, two backends.
//!
//! * [`openai`]: any OpenAI-compatible Chat Completions endpoint with `tools` / `tool_calls`
//!   (Ollama, llama.cpp's server, vLLM, OpenAI), through the agent's own HTTP client.
//! * [`needle`]: Cactus Compute's Needle 3, in-process and offline. Single-shot: a request and the
//!   tool list in, tool calls out (or a refusal below a confidence threshold); no prose, no
//!   multi-step planning.
//!
//! What a model is shown is exactly the [`Message`]s and [`ToolSpec`]s the loop gives it: the
//! user's goal, tool results as untrusted data, never a token, a code or a verifier (the loop's
//! tests search every request a model endpoint receives for the run's secrets).

pub mod needle;
pub mod openai;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;

/// A tool as the model sees it: its name (prefixed per server when there are several), what it
/// does, and its input schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
}

/// One call the model asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The model's id for the call, echoed in the tool message that answers it.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: usually a JSON object; anything else is passed to
    /// the tool as is and its error goes back to the model.
    pub arguments: Value,
}

/// A message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    System(String),
    User(String),
    /// What the model said: prose, tool calls, or both.
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    /// A tool's result (or the error of a call that could not be made), answering `call_id`.
    /// Untrusted data: it reaches the model as a tool message, never as instructions.
    Tool {
        call_id: String,
        content: String,
    },
}

/// What the model does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// It answers: the loop ends with this text.
    Answer(String),
    /// It asks for these calls (one turn; they may run concurrently).
    Calls { content: Option<String>, calls: Vec<ToolCall> },
    /// It will not choose (a single-shot model below its confidence threshold): why.
    Declined(String),
}

/// Why a model gave no reply.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint could not be reached or answered outside the protocol.
    #[error("the model endpoint {0}")]
    Endpoint(String),
    /// The model (or its weights) could not be loaded or run.
    #[error("the model: {0}")]
    Model(String),
}

pub type ModelFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, LlmError>> + Send + 'a>>;

/// A model that chooses tool calls.
pub trait Model: Send + Sync {
    /// The next step of the conversation `messages`, with `tools` available.
    fn next<'a>(&'a self, messages: &'a [Message], tools: &'a [ToolSpec]) -> ModelFuture<'a>;

    /// A short description for the transcript and `--help` (`openai:<url> model`, `needle:<path>`).
    fn describe(&self) -> String;
}

/// The model `run` and `chat` use without `--llm`: Needle, offline, from the default weights
/// (which `cargo xtask dev` fetches), so that `run` works on a machine with no model server.
pub const DEFAULT_LLM: &str = "needle:";
/// `--llm ollama`: a local Ollama's OpenAI-compatible endpoint.
pub const OLLAMA: &str = "http://localhost:11434/v1";
/// The model name without `--model` at an OpenAI-compatible server (one Ollama can pull, with
/// tool calls).
pub const DEFAULT_MODEL: &str = "qwen2.5:7b";
/// Where the API key of an OpenAI-compatible server comes from.
pub const API_KEY_VARIABLE: &str = "MCP_AGENT_LLM_API_KEY";

/// The model `--llm` names: `openai:<base URL>` (with `model`), or `needle:[<path>]`.
pub fn from_flags(
    llm: &str,
    model: &str,
    timeout: Duration,
    threshold: f32,
) -> Result<Box<dyn Model>, LlmError> {
    if let Some(base) = llm.strip_prefix("openai:") {
        let key =
            std::env::var(API_KEY_VARIABLE).ok().filter(|k| !k.is_empty()).map(protocol::secret::ApiKey::new);
        return Ok(Box::new(openai::OpenAi::new(base, model, key, timeout)?));
    }
    if let Some(path) = llm.strip_prefix("needle:").or_else(|| (llm == "needle").then_some("")) {
        let path =
            if path.is_empty() { needle::default_model_path() } else { std::path::PathBuf::from(path) };
        return Ok(Box::new(needle::Needle::load(&path, threshold)?));
    }
    Err(LlmError::Model(format!("--llm {llm:?}: expected needle:[<path>], ollama, or openai:<base URL>")))
}
