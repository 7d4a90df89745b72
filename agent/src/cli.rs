//! The command line, parsed: the flags and commands (`mcp-agent --help`), and the tool arguments
//! given as flags. What each command does is in [`crate::commands`], what it prints in
//! [`crate::output`], its exit status in [`crate::error`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use protocol::mcp::LATEST_SESSION_VERSION;
use serde_json::{Map, Value};

use crate::browser::BrowserMode;
use crate::error::{AgentError, Result};
use crate::output::Verbosity;

/// `mcp-agent`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-agent",
    version,
    about = "A headless MCP client that authorizes with OAuth 2.1 like a native app",
    after_help = "Exit status: 0 success; 1 the call failed (or `run` got no answer); 2 bad usage; 3 authorization could not be obtained; \
                  4 the tool ran and reported an error; 5 the call waits for a person's approval.\n\nTokens are kept in a file per authorization server \
                  under --home (mode 0600) and are never printed."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print results as JSON on stdout (errors too, as {"error": …}).
    #[arg(long, global = true)]
    pub json: bool,
    /// How to show the login page: open a browser, print the URL, or fetch it without a person
    /// (only for authorization servers that approve without a login, such as test harnesses).
    #[arg(long, global = true, value_enum, default_value = "auto", env = "MCP_AGENT_BROWSER")]
    pub browser: BrowserMode,
    /// Never start a login: fail (exit 3) when a server needs one.
    #[arg(long, global = true)]
    pub no_login: bool,
    /// A client id registered beforehand with an authorization server. Used only at
    /// --client-issuer when that is given; without it (and without a secret), at any server.
    #[arg(long, global = true, env = "MCP_AGENT_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The secret of a confidential pre-registered client; needs --client-issuer. Prefer the
    /// environment variable: a command line is visible to other users of the machine.
    #[arg(long, global = true, env = "MCP_AGENT_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The issuer of the authorization server --client-id was registered with, exactly as its
    /// metadata says it. The pre-registered client (and its secret) is used there only; other
    /// servers get a metadata document or a registration of their own.
    #[arg(long, global = true, env = "MCP_AGENT_CLIENT_ISSUER")]
    pub client_issuer: Option<String>,
    /// The URL of this agent's Client ID Metadata Document, used as its client id where the
    /// authorization server supports them.
    #[arg(long, global = true, env = "MCP_AGENT_CLIENT_METADATA_URL")]
    pub client_metadata_url: Option<String>,
    /// Where the token store lives [default: $MCP_AGENT_HOME, else ~/.config/mcp-agent].
    #[arg(long, global = true)]
    pub home: Option<PathBuf>,
    /// MCP protocol version to speak (2026-07-28 is the stateless form).
    #[arg(long, global = true, default_value = LATEST_SESSION_VERSION)]
    pub protocol_version: String,
    /// Seconds to wait for the browser to come back from the login.
    #[arg(long, global = true, default_value_t = 300)]
    pub login_timeout: u64,
    /// Seconds a single HTTP request may take.
    #[arg(long, global = true, default_value_t = 120)]
    pub timeout: u64,
    /// Say every request made for authorization (never a secret).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Say nothing but errors (and where to log in).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a tool: `mcp-agent call http://localhost:9090/mcp echo --arg text=hi`.
    Call {
        /// The MCP endpoint.
        url: String,
        /// The tool's name.
        tool: String,
        /// A string argument, `name=value` (repeatable).
        #[arg(long = "arg", value_name = "NAME=VALUE")]
        args: Vec<String>,
        /// An argument given as JSON, `name=<json>`: numbers, booleans, objects (repeatable).
        #[arg(long = "arg-json", value_name = "NAME=JSON")]
        json_args: Vec<String>,
        /// Seconds to wait for a person's approval when a gateway asks for one (the URL is
        /// printed, and opened with --browser auto); the call is made again once approved. 0:
        /// do not wait (exit status 5). With --no-login the agent never waits.
        #[arg(long, default_value_t = 300)]
        approval_timeout: u64,
    },
    /// Reach a goal with a model choosing the tools of the given MCP servers:
    /// `mcp-agent run http://localhost:9090/mcp "say hi with the echo tool"`. Prints the answer
    /// (`--json`: the transcript). With `--llm needle:` the offline model is single-shot: it
    /// chooses the calls for the goal once (or declines below its confidence threshold) and the
    /// answer is the tools' output.
    Run {
        /// The MCP endpoints, then the goal (in quotes).
        #[arg(required = true, num_args = 2.., value_name = "URL… GOAL")]
        urls_and_goal: Vec<String>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Talk with a model that uses the tools of the given MCP servers: one goal per line on
    /// standard input, each answer on standard output, until end of input.
    Chat {
        /// The MCP endpoints.
        #[arg(required = true)]
        urls: Vec<String>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// List the tools an MCP server offers.
    Tools {
        /// The MCP endpoint.
        url: String,
    },
    /// Log in for an MCP server now, so later calls run without a browser.
    Login {
        /// The MCP endpoint.
        url: String,
        /// Forget (and revoke) the tokens held for it first.
        #[arg(long)]
        force: bool,
    },
    /// Forget the tokens for one MCP server, or all of them, revoking refresh tokens where the
    /// authorization server offers revocation.
    Logout {
        /// The MCP endpoint; all servers when absent.
        url: Option<String>,
    },
    /// Show what the token store holds (never the tokens).
    Status,
    /// Entry point for the MCP conformance suite's client runner (`conformance client --command
    /// "mcp-agent conformance"`): reads MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT and
    /// MCP_CONFORMANCE_PROTOCOL_VERSION, uses a throwaway token store and the programmatic browser,
    /// then lists the tools and calls `test-tool` (else the first tool).
    Conformance {
        /// The MCP endpoint (the runner appends it).
        url: String,
    },
}

/// How `run` and `chat` reach their model and how far they go.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The model: `needle:[<path>]` (the default: Needle 3, offline, in-process; single-shot: it
    /// chooses the calls for the goal once, declines below --needle-threshold, and its answer is
    /// the tools' output), `ollama` (a local Ollama), or `openai:<base URL>` (any OpenAI-compatible
    /// Chat Completions server with tool calls: llama.cpp's server with --jinja, vLLM with
    /// tool-choice enabled, OpenAI). An API key, if the server needs one, comes from
    /// MCP_AGENT_LLM_API_KEY and goes to that server only.
    #[arg(long, env = "MCP_AGENT_LLM", default_value = crate::llm::DEFAULT_LLM)]
    pub llm: String,
    /// The model's name at an OpenAI-compatible server.
    #[arg(long, env = "MCP_AGENT_MODEL", default_value = crate::llm::DEFAULT_MODEL)]
    pub model: String,
    /// Most model turns before giving up without an answer.
    #[arg(long, default_value_t = 8)]
    pub max_steps: usize,
    /// Run tools that say they are destructive without asking (otherwise the person confirms at
    /// the terminal; without one, and with --no-login, they are refused).
    #[arg(long)]
    pub yes: bool,
    /// Seconds one model request may take.
    #[arg(long, default_value_t = 300)]
    pub llm_timeout: u64,
    /// Needle's confidence (0 to 1) below which it declines to choose a call.
    #[arg(long, default_value_t = crate::llm::needle::DEFAULT_THRESHOLD)]
    pub needle_threshold: f32,
    /// Seconds a call may wait for a person's approval at a gateway.
    #[arg(long, default_value_t = 300)]
    pub approval_timeout: u64,
}

impl Global {
    /// How much progress to print on stderr.
    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// `--arg name=value` (strings) and `--arg-json name=<json>` into the arguments object.
pub fn arguments(strings: &[String], jsons: &[String]) -> Result<Map<String, Value>> {
    let mut arguments = Map::new();
    let split = |raw: &str, flag: &str| -> Result<(String, String)> {
        match raw.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => Err(AgentError::Usage(format!("{flag} {raw:?} must look like name=value"))),
        }
    };
    let mut insert = |name: String, value: Value| -> Result<()> {
        if arguments.insert(name.clone(), value).is_some() {
            return Err(AgentError::Usage(format!("argument {name:?} is given twice")));
        }
        Ok(())
    };
    for raw in strings {
        let (name, value) = split(raw, "--arg")?;
        insert(name, Value::String(value))?;
    }
    for raw in jsons {
        let (name, value) = split(raw, "--arg-json")?;
        let value = serde_json::from_str(&value)
            .map_err(|e| AgentError::Usage(format!("--arg-json {name}: {value:?} is not JSON ({e})")))?;
        insert(name, value)?;
    }
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_strings_unless_given_as_json() {
        let args = arguments(&["text=a=b".into(), "empty=".into()], &["n=3".into(), "o={\"k\":[1]}".into()])
            .unwrap();
        assert_eq!(Value::Object(args), json!({"text": "a=b", "empty": "", "n": 3, "o": {"k": [1]}}));
    }

    #[test]
    fn malformed_or_repeated_arguments_are_usage_errors() {
        for (strings, jsons) in [
            (vec!["novalue".to_owned()], vec![]),
            (vec!["=x".to_owned()], vec![]),
            (vec!["a=1".to_owned()], vec!["a=1".to_owned()]),
            (vec![], vec!["n={".to_owned()]),
        ] {
            let error = arguments(&strings, &jsons).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{error}");
        }
    }

    #[test]
    fn the_command_line_parses_as_documented() {
        let cli = Cli::try_parse_from([
            "mcp-agent",
            "call",
            "http://localhost:9090/mcp",
            "echo",
            "--arg",
            "text=hi",
            "--json",
            "--browser",
            "print",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.browser, BrowserMode::Print);
        assert!(
            matches!(cli.command, Command::Call { ref tool, ref args, .. } if tool == "echo" && args == &["text=hi"])
        );
        assert!(Cli::try_parse_from(["mcp-agent", "logout"]).is_ok());
        assert!(Cli::try_parse_from(["mcp-agent", "call", "http://x/mcp"]).is_err());
    }
}
