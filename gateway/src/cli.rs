//! The `mcp-gateway` command line.
//!
//! ```text
//! mcp-gateway policy check POLICY --catalog CATALOG     validate a policy file offline (for CI)
//! mcp-gateway policy explain POLICY --catalog CATALOG --user … --tool … [--args JSON] …
//!                                                       the decision on one call, and why
//! ```
//!
//! `CATALOG` is a JSON object of the upstreams and the tools they list:
//! `{"notes": {"trust_annotations": false, "groups": {"list_notes": "read"}, "tools": [ … ]}}`,
//! the `tools` being exactly what the upstream's `tools/list` returned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, UpstreamTools};
use crate::policy::{CallFacts, Consent, Policies};

/// MCP gateway: per-tool and per-argument policy between MCP clients and servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-gateway", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with policy files offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file strictly against the tools of a catalog; print every problem with
    /// its file and line. Exit status 1 when the policy is refused.
    Check(Files),
    /// Print the decision on one call and the policies that made it.
    Explain {
        #[command(flatten)]
        files: Files,
        /// The user's `sub`.
        #[arg(long)]
        user: String,
        /// A group of the user. Repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The client calling.
        #[arg(long, default_value = "client")]
        client: String,
        /// The gateway's tool name (`<upstream>__<tool>`).
        #[arg(long)]
        tool: String,
        /// The call's arguments, a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// A scope of the token. Repeatable.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "127.0.0.1")]
        client_address: String,
        /// Unix seconds (default: now).
        #[arg(long)]
        time: Option<i64>,
        /// Unix seconds of the user's sign-in (default: 0, unknown).
        #[arg(long, default_value_t = 0)]
        auth_time: i64,
    },
}

#[derive(Debug, Args)]
pub struct Files {
    /// The Cedar policy file.
    pub policy: PathBuf,
    /// The upstreams and their tools (JSON; see `mcp-gateway --help`).
    #[arg(long)]
    pub catalog: PathBuf,
}

/// Runs a command; prints what it found, and returns the exit status.
pub fn run(cli: Cli) -> ExitCode {
    let Command::Policy(command) = cli.command;
    match policy(command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mcp-gateway: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn policy(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check(files) => {
            let (catalog, text) = read(&files)?;
            match Policies::load(&files.policy.display().to_string(), &text, &catalog) {
                Ok(policies) => {
                    println!(
                        "ok: {} policies over {} tools; sha256 {}",
                        policies.len(),
                        catalog.len(),
                        policies.hash()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(refused) => {
                    for problem in refused.0 {
                        eprintln!("{problem}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        PolicyCommand::Explain {
            files,
            user,
            groups,
            client,
            tool,
            args,
            scopes,
            client_address,
            time,
            auth_time,
        } => {
            let (catalog, text) = read(&files)?;
            let policies = Policies::load(&files.policy.display().to_string(), &text, &catalog)?;
            let arguments: Map<String, Value> =
                serde_json::from_str(&args).context("--args must be a JSON object")?;
            let time = time.unwrap_or_else(now);
            let facts = CallFacts {
                user: &user,
                groups: &groups,
                client_id: &client,
                tool: &tool,
                arguments: &arguments,
                time,
                client_address: &client_address,
                scopes: &scopes,
                auth_time,
            };
            let decision = policies.decide(&facts);
            println!("decision: {}", if decision.allowed { "allow" } else { "deny" });
            match decision.consent {
                Some(Consent::Once) => println!("consent: the person approves this call"),
                Some(Consent::For(duration)) => {
                    println!("consent: the person approves; remembered up to {} s", duration.as_secs())
                }
                None => {}
            }
            let determining = if decision.determining.is_empty() {
                "none".to_owned()
            } else {
                decision.determining.join(", ")
            };
            println!("determining policies: {determining}");
            for error in &decision.errors {
                println!("error (denies): {error}");
            }
            println!("listed in tools/list: {}", policies.listable(&facts));
            println!("policy sha256: {}", decision.policy_hash);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read(files: &Files) -> anyhow::Result<(Catalog, String)> {
    let catalog = read_catalog(&files.catalog)?;
    let text = std::fs::read_to_string(&files.policy)
        .with_context(|| format!("cannot read {}", files.policy.display()))?;
    Ok((catalog, text))
}

/// Reads a catalog file, reporting the tools it leaves out.
pub fn read_catalog(path: &Path) -> anyhow::Result<Catalog> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let upstreams: BTreeMap<String, UpstreamTools> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a catalog", path.display()))?;
    let (catalog, skipped) = Catalog::build(&upstreams);
    for skip in skipped {
        eprintln!(
            "{}: skipped {}{}: {}",
            path.display(),
            skip.upstream,
            skip.tool.map(|t| format!(" / {t}")).unwrap_or_default(),
            skip.reason
        );
    }
    Ok(catalog)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
