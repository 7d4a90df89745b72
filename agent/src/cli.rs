//! The command line: parsing, the commands, and what they print.
//!
//! Results go to stdout (JSON with `--json`), progress and errors to stderr. Tokens, codes,
//! verifiers and secrets are never printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use protocol::mcp::{LATEST_SESSION_VERSION, Tool};
use protocol::secret::ClientSecret;
use serde_json::{Map, Value, json};

use crate::access::{Access, AccessOptions};
use crate::browser::BrowserMode;
use crate::error::{AgentError, Result};
use crate::http::Http;
use crate::identity::IdentityOptions;
use crate::mcp::McpClient;
use crate::output::{Progress, Verbosity};
use crate::store::{Grant, Store};

/// The Client ID Metadata Document URL the MCP conformance suite expects a client to present.
pub const CONFORMANCE_CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

#[derive(Debug, Parser)]
#[command(
    name = "mcp-agent",
    version,
    about = "A headless MCP client that authorizes with OAuth 2.1 like a native app",
    after_help = "Exit status: 0 success; 1 the call failed; 2 bad usage; 3 authorization could not be obtained; \
                  4 the tool ran and reported an error.\n\nTokens are kept in a file per authorization server \
                  under --home (mode 0600) and are never printed."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

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
    /// A client id registered beforehand with the authorization server.
    #[arg(long, global = true, env = "MCP_AGENT_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The secret of a confidential pre-registered client. Prefer the environment variable: a
    /// command line is visible to other users of the machine.
    #[arg(long, global = true, env = "MCP_AGENT_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
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

/// Runs the parsed command line and prints its outcome.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    let progress = Progress::new(if cli.global.quiet {
        Verbosity::Quiet
    } else if cli.global.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    });
    match execute(cli, &progress).await {
        Ok(outcome) => outcome,
        Err(error) => {
            if json {
                println!("{}", json!({"error": {"kind": error.kind(), "message": error.to_string()}}));
            }
            eprintln!("mcp-agent: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn execute(cli: Cli, progress: &Progress) -> Result<ExitCode> {
    let Cli { global, command } = cli;
    if let Command::Conformance { url } = &command {
        return conformance(&global, progress, url).await;
    }
    let home = match &global.home {
        Some(home) => home.clone(),
        None => Store::default_dir()?,
    };
    let mut access = access(&global, progress, Store::open(home)?, !global.no_login)?;
    match command {
        Command::Call { url, tool, args, json_args } => {
            let arguments = arguments(&args, &json_args)?;
            let mut client = McpClient::new(&url, &global.protocol_version)?;
            let result = client.call_tool(&mut access, &tool, arguments).await;
            client.close(&mut access).await;
            print_tool_result(&result?, global.json)
        }
        Command::Tools { url } => {
            let mut client = McpClient::new(&url, &global.protocol_version)?;
            let tools = client.list_tools(&mut access).await;
            client.close(&mut access).await;
            print_tools(&tools?, global.json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Login { url, force } => {
            if force {
                logout(&access, Some(&url), progress).await?;
            }
            login(&mut access, &url, &global).await
        }
        Command::Logout { url } => {
            let forgotten = logout(&access, url.as_deref(), progress).await?;
            if global.json {
                println!("{}", json!({"forgotten": forgotten}));
            } else if forgotten.is_empty() {
                println!("No tokens were stored{}.", url.map(|u| format!(" for {u}")).unwrap_or_default());
            } else {
                for resource in forgotten {
                    println!("Logged out of {resource}.");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            print_status(&access.store, global.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance { .. } => unreachable!("handled above"),
    }
}

fn access(global: &Global, progress: &Progress, store: Store, interactive: bool) -> Result<Access> {
    let http = Http::new(Duration::from_secs(global.timeout))?;
    let options = AccessOptions {
        browser: global.browser,
        identity: IdentityOptions {
            client_id: global.client_id.clone(),
            client_secret: global.client_secret.clone().map(ClientSecret::new),
            client_metadata_url: global.client_metadata_url.clone(),
        },
        login_timeout: Duration::from_secs(global.login_timeout),
        interactive,
    };
    if options.identity.client_secret.is_some() && options.identity.client_id.is_none() {
        return Err(AgentError::Usage("--client-secret needs --client-id".into()));
    }
    Ok(Access::new(http, store, progress.clone(), options))
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

fn print_tool_result(result: &Value, json: bool) -> Result<ExitCode> {
    let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
    if json {
        println!("{result}");
    } else {
        let content = result.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
        for item in &content {
            match (item.get("type").and_then(Value::as_str), item.get("text").and_then(Value::as_str)) {
                (Some("text"), Some(text)) => println!("{text}"),
                _ => println!("{item}"),
            }
        }
        if content.is_empty()
            && let Some(structured) = result.get("structuredContent")
        {
            println!("{structured}");
        }
    }
    if is_error {
        eprintln!("mcp-agent: the tool reported an error");
        return Ok(ExitCode::from(4));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_tools(tools: &[Tool], json: bool) {
    if json {
        println!("{}", serde_json::to_value(tools).unwrap_or_default());
        return;
    }
    let width = tools.iter().map(|t| t.name.chars().count()).max().unwrap_or(0);
    for tool in tools {
        let description = tool.description.as_deref().or(tool.title.as_deref()).unwrap_or("");
        let first_line = description.lines().next().unwrap_or("");
        println!("{:<width$}  {first_line}", tool.name);
    }
}

/// Makes sure a token is held for `url`: a request the server protects triggers the login.
async fn login(access: &mut Access, url: &str, global: &Global) -> Result<ExitCode> {
    let mut client = McpClient::new(url, &global.protocol_version)?;
    // `initialize` alone may be allowed without a token; listing tools is not, on a server that
    // protects its tools.
    let listed = client.list_tools(access).await;
    client.close(access).await;
    listed?;
    let grant = access.store.grant_for(url)?;
    if global.json {
        println!(
            "{}",
            json!({"logged_in": grant.as_ref().map(describe_grant), "logins": access.authorizations()})
        );
        return Ok(ExitCode::SUCCESS);
    }
    match (grant, access.authorizations()) {
        (None, _) => println!("{url} answered without authorization; no login is needed."),
        (Some(grant), 0) => println!(
            "Already logged in for {} at {} (scope: {}). Use --force to log in again.",
            grant.resource, grant.issuer, grant.scope
        ),
        (Some(grant), _) => {
            println!("Logged in for {} at {} (scope: {}).", grant.resource, grant.issuer, grant.scope)
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Forgets the grants for `url` (or all), revoking their refresh tokens first. Returns the
/// resources forgotten.
async fn logout(access: &Access, url: Option<&str>, progress: &Progress) -> Result<Vec<String>> {
    let grants: Vec<Grant> = match url {
        Some(url) => access.store.grant_for(url)?.into_iter().collect(),
        None => access.store.all()?.into_iter().flat_map(|f| f.grants.into_values()).collect(),
    };
    let mut forgotten = Vec::new();
    for grant in grants {
        if let (Some(endpoint), Some(refresh)) = (&grant.revocation_endpoint, &grant.refresh_token) {
            match crate::tokens::revoke(&access.http, endpoint, &grant.client, refresh).await {
                Ok(()) => progress.detail(format!("revoked the refresh token at {endpoint}")),
                Err(e) => progress
                    .step(format!("could not revoke at {endpoint} ({e}); forgetting the tokens anyway")),
            }
        }
        access.store.update(&grant.issuer, |file| file.grants.remove(&grant.resource))?;
        forgotten.push(grant.resource);
    }
    Ok(forgotten)
}

fn describe_grant(grant: &Grant) -> Value {
    json!({
        "issuer": grant.issuer,
        "resource": grant.resource,
        "scope": grant.scope,
        "expires_at": grant.expires_at,
        "refreshable": grant.refresh_token.is_some(),
    })
}

fn print_status(store: &Store, json: bool) -> Result<()> {
    let files = store.all()?;
    let grants: Vec<&Grant> = files.iter().flat_map(|f| f.grants.values()).collect();
    if json {
        let registrations: Vec<Value> = files
            .iter()
            .filter_map(|f| {
                f.registration.as_ref().map(|r| json!({"issuer": f.issuer, "client_id": r.client.client_id}))
            })
            .collect();
        println!(
            "{}",
            json!({"home": store.dir(), "grants": grants.iter().map(|g| describe_grant(g)).collect::<Vec<_>>(), "registrations": registrations})
        );
        return Ok(());
    }
    println!("Token store: {}", store.dir().display());
    if grants.is_empty() {
        println!("No tokens stored.");
    }
    let now = crate::now();
    for grant in grants {
        let expiry = match grant.expires_at {
            Some(at) if at > now => format!("expires in {}s", at - now),
            Some(_) => "expired".to_owned(),
            None => "no expiry given".to_owned(),
        };
        let refresh = if grant.refresh_token.is_some() { ", refreshable" } else { "" };
        println!(
            "{}\n  issuer {}\n  scope  {}\n  {expiry}{refresh}",
            grant.resource, grant.issuer, grant.scope
        );
    }
    Ok(())
}

/// The conformance suite's client: the same flow as `call`, configured from its environment.
async fn conformance(global: &Global, progress: &Progress, url: &str) -> Result<ExitCode> {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(raw) => serde_json::from_str(&raw)
            .map_err(|e| AgentError::Usage(format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}")))?,
        Err(_) => Value::Null,
    };
    let text = |key: &str| context.get(key).and_then(Value::as_str).map(str::to_owned);
    let version =
        std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").unwrap_or_else(|_| global.protocol_version.clone());
    progress.step(format!("conformance scenario {scenario:?} at {version}"));

    let home = ThrowawayHome::create()?;
    let mut global_for_run = Global {
        browser: BrowserMode::Fetch,
        client_id: text("client_id").or_else(|| global.client_id.clone()),
        client_secret: text("client_secret").or_else(|| global.client_secret.clone()),
        client_metadata_url: global
            .client_metadata_url
            .clone()
            .or_else(|| Some(CONFORMANCE_CLIENT_METADATA_URL.to_owned())),
        protocol_version: version,
        ..global.clone()
    };
    global_for_run.home = Some(home.path.clone());
    let mut access = access(&global_for_run, progress, Store::open(&home.path)?, true)?;
    let mut client = McpClient::new(url, &global_for_run.protocol_version)?;
    let outcome = async {
        let tools = client.list_tools(&mut access).await?;
        let tool = tools.iter().find(|t| t.name == "test-tool").or(tools.first()).map(|t| t.name.clone());
        match tool {
            Some(tool) => {
                let result = client.call_tool(&mut access, &tool, Map::new()).await?;
                print_tool_result(&result, global.json)
            }
            None => {
                print_tools(&tools, global.json);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    .await;
    client.close(&mut access).await;
    outcome
}

/// A private temporary token store, removed when dropped.
struct ThrowawayHome {
    path: PathBuf,
}

impl ThrowawayHome {
    fn create() -> Result<Self> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| AgentError::Store(e.to_string()))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("mcp-agent-conformance-{name}"));
        Ok(Self { path })
    }
}

impl Drop for ThrowawayHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
