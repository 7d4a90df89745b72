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
use crate::identity::IdentityOptions;
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

/// The request-sending context the flags describe.
pub fn access(global: &Global, progress: &Progress, store: Store, interactive: bool) -> Result<Access> {
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
