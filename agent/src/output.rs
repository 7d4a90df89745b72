//! What the agent tells the person running it: the command's result on stdout (JSON with
//! `--json`), progress and errors on stderr. Tokens, codes, verifiers and secrets are never
//! printed: grants are printed field by field, never as a whole.

use protocol::mcp::{CallToolResult, Content, Tool};
use serde_json::{Value, json};

use crate::commands::Outcome;
use crate::commands::login::LoginReport;
use crate::commands::logout::LogoutReport;
use crate::commands::status::StatusReport;
use crate::error::{AgentError, Result};
use crate::store::Grant;

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Nothing but errors.
    Quiet,
    /// What the agent does on the user's behalf: discovery, registration, login, refresh.
    Normal,
    /// Also every request it makes for that (URLs and statuses, never secrets).
    Verbose,
}

/// Progress messages on stderr.
#[derive(Debug, Clone)]
pub struct Progress {
    verbosity: Verbosity,
}

impl Progress {
    pub fn new(verbosity: Verbosity) -> Self {
        Self { verbosity }
    }

    /// A step the user should know happened.
    pub fn step(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            eprintln!("mcp-agent: {}", message.as_ref());
        }
    }

    /// Detail for `--verbose`.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("mcp-agent:   {}", message.as_ref());
        }
    }

    /// Something the user must see even with `--quiet` (where to log in).
    pub fn always(&self, message: impl AsRef<str>) {
        eprintln!("{}", message.as_ref());
    }
}

/// Prints a command's outcome: its result on stdout, or its error (on stderr, and as
/// `{"error": …}` on stdout with `--json`).
pub fn print(outcome: &Result<Outcome>, json: bool) {
    match outcome {
        Ok(Outcome::ToolResult(result)) => tool_result(result, json),
        Ok(Outcome::Tools(tools)) => tool_list(tools, json),
        Ok(Outcome::Login(report)) => login(report, json),
        Ok(Outcome::Logout(report)) => logout(report, json),
        Ok(Outcome::Status(report)) => status(report, json),
        Ok(Outcome::Transcript(transcript)) => answer(transcript, json),
        Ok(Outcome::Chatted) => {}
        Err(error) => failure(error, json),
    }
}

fn failure(error: &AgentError, json: bool) {
    if json {
        println!("{}", json!({"error": {"kind": error.kind(), "message": error.to_string()}}));
    }
    eprintln!("mcp-agent: error: {error}");
}

/// The tool's content: text as text, other blocks as JSON; the structured content when there is
/// no content. A tool error is said on stderr too (and gives exit status 4).
fn tool_result(result: &CallToolResult, json: bool) {
    if json {
        println!("{}", serde_json::to_value(result).unwrap_or_default());
    } else {
        for item in &result.content {
            match item {
                Content::Text { text } => println!("{text}"),
                Content::Other(other) => println!("{other}"),
            }
        }
        if result.content.is_empty()
            && let Some(structured) = &result.structured_content
        {
            println!("{structured}");
        }
    }
    if result.is_error {
        eprintln!("mcp-agent: the tool reported an error");
    }
}

fn answer(transcript: &crate::conversation::Transcript, json: bool) {
    use crate::conversation::StopReason;
    if json {
        println!("{}", crate::conversation::transcript_json(transcript));
        return;
    }
    match (&transcript.answer, &transcript.stop) {
        (Some(answer), _) => println!("{answer}"),
        (None, StopReason::Declined) => {
            eprintln!("mcp-agent: the model declined: {}", transcript.declined.as_deref().unwrap_or(""))
        }
        (None, _) => eprintln!("mcp-agent: no answer within --max-steps ({} turns)", transcript.steps.len()),
    }
}

fn tool_list(tools: &[Tool], json: bool) {
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

fn login(report: &LoginReport, json: bool) {
    if json {
        println!(
            "{}",
            json!({"logged_in": report.grant.as_ref().map(describe_grant), "logins": report.logins})
        );
        return;
    }
    match (&report.grant, report.logins) {
        (None, _) => println!("{} answered without authorization; no login is needed.", report.url),
        (Some(grant), 0) => println!(
            "Already logged in for {} at {} (scope: {}). Use --force to log in again.",
            grant.resource, grant.issuer, grant.scope
        ),
        (Some(grant), _) => {
            println!("Logged in for {} at {} (scope: {}).", grant.resource, grant.issuer, grant.scope)
        }
    }
}

fn logout(report: &LogoutReport, json: bool) {
    if json {
        println!("{}", json!({"forgotten": report.forgotten}));
    } else if report.forgotten.is_empty() {
        println!(
            "No tokens were stored{}.",
            report.url.as_ref().map(|u| format!(" for {u}")).unwrap_or_default()
        );
    } else {
        for resource in &report.forgotten {
            println!("Logged out of {resource}.");
        }
    }
}

fn status(report: &StatusReport, json: bool) {
    if json {
        let registrations: Vec<Value> = report
            .registrations
            .iter()
            .map(|(issuer, client_id)| json!({"issuer": issuer, "client_id": client_id}))
            .collect();
        println!(
            "{}",
            json!({"home": report.home, "grants": report.grants.iter().map(describe_grant).collect::<Vec<_>>(), "registrations": registrations})
        );
        return;
    }
    println!("Token store: {}", report.home.display());
    if report.grants.is_empty() {
        println!("No tokens stored.");
    }
    let now = report.now;
    for grant in &report.grants {
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
}

/// A grant for `--json`, without its tokens.
fn describe_grant(grant: &Grant) -> Value {
    json!({
        "issuer": grant.issuer,
        "resource": grant.resource,
        "scope": grant.scope,
        "expires_at": grant.expires_at,
        "refreshable": grant.refresh_token.is_some(),
    })
}
