//! What each command does, one module per command. A command returns its [`Outcome`] as data;
//! [`crate::output`] prints it and [`crate::error`] decides the exit status, so the work can be
//! tested (and later driven by other programs) without parsing stdout.

pub mod call;
pub mod login;
pub mod logout;
pub mod status;
pub mod tools;

use std::process::ExitCode;
use std::time::Duration;

use protocol::mcp::{CallToolResult, Tool};
use protocol::secret::ClientSecret;

use crate::access::{Access, AccessOptions};
use crate::cli::{Cli, Command, Global};
use crate::error::{AgentError, Result};
use crate::http::Http;
use crate::identity::{ClientIssuer, IdentityOptions};
use crate::output::{self, Progress};
use crate::store::Store;

/// What a command produced.
#[derive(Debug)]
pub enum Outcome {
    /// `call` (and `conformance`, when there is a tool to call).
    ToolResult(CallToolResult),
    /// `tools` (and `conformance`, when there is none).
    Tools(Vec<Tool>),
    Login(login::LoginReport),
    Logout(logout::LogoutReport),
    Status(status::StatusReport),
    /// `run`: what the loop did.
    Transcript(Box<crate::conversation::Transcript>),
    /// `chat`: the conversation ended (answers were printed as they came).
    Chatted,
}

/// Runs the parsed command line: the command, then its output and its exit status.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    let progress = Progress::new(cli.global.verbosity());
    let outcome = execute(cli, &progress).await;
    output::print(&outcome, json);
    ExitCode::from(crate::error::exit_status(&outcome))
}

/// Runs one command.
pub async fn execute(cli: Cli, progress: &Progress) -> Result<Outcome> {
    let Cli { global, command } = cli;
    if let Command::Conformance { url } = &command {
        return crate::conformance::run(&global, progress, url).await;
    }
    let home = match &global.home {
        Some(home) => home.clone(),
        None => Store::default_dir()?,
    };
    let mut access = access(&global, progress, Store::open(home)?, !global.no_login)?;
    match command {
        Command::Call { url, tool, args, json_args, approval_timeout } => {
            let arguments = crate::cli::arguments(&args, &json_args)?;
            let wait = if global.no_login { Duration::ZERO } else { Duration::from_secs(approval_timeout) };
            call::run(&mut access, &url, &global.protocol_version, &tool, arguments, wait)
                .await
                .map(Outcome::ToolResult)
        }
        Command::Run { mut urls_and_goal, model } => {
            let goal = urls_and_goal.pop().unwrap_or_default();
            let (brain, options) = model_and_options(&global, &model)?;
            let servers =
                crate::conversation::servers(&mut access, &urls_and_goal, &global.protocol_version).await?;
            crate::conversation::run(&mut access, brain.as_ref(), &servers, &goal, &options)
                .await
                .map(|t| Outcome::Transcript(Box::new(t)))
        }
        Command::Chat { urls, model } => {
            let (brain, options) = model_and_options(&global, &model)?;
            let servers = crate::conversation::servers(&mut access, &urls, &global.protocol_version).await?;
            chat(&mut access, brain.as_ref(), &servers, &options, progress).await.map(|()| Outcome::Chatted)
        }
        Command::Tools { url } => {
            tools::run(&mut access, &url, &global.protocol_version).await.map(Outcome::Tools)
        }
        Command::Login { url, force } => {
            login::run(&mut access, &url, &global.protocol_version, force).await.map(Outcome::Login)
        }
        Command::Logout { url } => logout::run(&access, url).await.map(Outcome::Logout),
        Command::Status => status::run(&access.store, crate::now()).map(Outcome::Status),
        Command::Conformance { .. } => unreachable!("handled above"),
    }
}

/// The model and the loop's options the flags describe.
fn model_and_options(
    global: &Global,
    args: &crate::cli::ModelArgs,
) -> Result<(Box<dyn crate::llm::Model>, crate::conversation::Options)> {
    let model = crate::llm::from_flags(
        &args.llm,
        &args.model,
        Duration::from_secs(args.llm_timeout),
        args.needle_threshold,
    )
    .map_err(|e| AgentError::Usage(e.to_string()))?;
    let options = crate::conversation::Options {
        max_steps: args.max_steps,
        yes: args.yes,
        interactive: !global.no_login,
        approval_wait: Duration::from_secs(args.approval_timeout),
        protocol_version: global.protocol_version.clone(),
    };
    Ok((model, options))
}

/// `chat`: one goal per line of standard input, the conversation carried from line to line.
async fn chat(
    access: &mut Access,
    model: &dyn crate::llm::Model,
    servers: &[crate::conversation::Server],
    options: &crate::conversation::Options,
    progress: &Progress,
) -> Result<()> {
    use tokio::io::AsyncBufReadExt as _;
    let mut messages = vec![crate::llm::Message::System(crate::conversation::SYSTEM_PROMPT.into())];
    // Confirmations read the terminal too: with a chat on standard input, only `--yes` allows
    // destructive tools.
    let confirm =
        if options.yes { crate::conversation::Confirm::Always } else { crate::conversation::Confirm::Never };
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    progress.always(format!("chatting with {} (one goal per line; end of input ends)", model.describe()));
    while let Some(line) =
        lines.next_line().await.map_err(|e| AgentError::Usage(format!("standard input: {e}")))?
    {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        messages.push(crate::llm::Message::User(line.to_owned()));
        let (_, answer, stop, declined) =
            crate::conversation::pursue(access, model, servers, &mut messages, options, &confirm).await?;
        match (answer, stop) {
            (Some(answer), _) => println!("{answer}"),
            (None, crate::conversation::StopReason::Declined) => {
                println!("(the model declined: {})", declined.unwrap_or_default())
            }
            (None, _) => println!("(no answer within --max-steps {})", options.max_steps),
        }
    }
    Ok(())
}

/// The request-sending context the flags describe.
pub fn access(global: &Global, progress: &Progress, store: Store, interactive: bool) -> Result<Access> {
    access_as(global, identity(global), progress, store, interactive)
}

/// The client identity the flags describe.
pub fn identity(global: &Global) -> IdentityOptions {
    IdentityOptions {
        client_id: global.client_id.clone(),
        client_secret: global.client_secret.clone().map(ClientSecret::new),
        client_issuer: global.client_issuer.clone().map_or(ClientIssuer::Unnamed, ClientIssuer::Named),
        client_metadata_url: global.client_metadata_url.clone(),
    }
}

/// The request-sending context the flags describe, with `identity` (checked here) as the client.
pub fn access_as(
    global: &Global,
    identity: IdentityOptions,
    progress: &Progress,
    store: Store,
    interactive: bool,
) -> Result<Access> {
    identity.check()?;
    let http = Http::new(Duration::from_secs(global.timeout))?;
    let options = AccessOptions {
        browser: global.browser,
        identity,
        login_timeout: Duration::from_secs(global.login_timeout),
        interactive,
    };
    Ok(Access::new(http, store, progress.clone(), options))
}
