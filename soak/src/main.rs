//! `mcp-soak`: load and fault scenarios against the real `mcp-auth` and `mcp-server` binaries, on
//! loopback, bounded in time. `cargo xtask soak` builds the binaries in release mode and runs it.
//!
//! ```text
//! mcp-soak --bin-dir target/release [--seconds 20] [--workers 8] [--crash-rounds 3]
//!          [--postgres-url postgres://postgres@127.0.0.1:5432/test] [--keep-db] [scenario…]
//! ```
//!
//! Scenarios: `load`, `crash`, `sigterm`, `auth-down`, `slow-hosts`, `replicas` (all by default;
//! `replicas` needs PostgreSQL). Each prints what it tried, what it measured and every promise it
//! checked; the exit status is 1 if any broke.

mod auth_down;
mod crash;
mod flows;
mod load;
mod procs;
mod proxy;
mod replicas;
mod report;
mod slow_hosts;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::procs::Binaries;
use crate::report::Report;

/// What every scenario gets.
pub struct Options {
    pub binaries: Binaries,
    /// How long the load scenario runs.
    pub seconds: u64,
    /// Concurrent clients in the load and crash scenarios.
    pub workers: usize,
    /// How many times the crash scenario kills and restarts the authorization server.
    pub crash_rounds: usize,
    /// A PostgreSQL server (and a database on it to connect to first) where the replicas scenario
    /// creates a database of its own.
    pub postgres_url: String,
    /// Leaves the replicas scenario's database in place, to look at afterwards.
    pub keep_db: bool,
}

/// Where the replicas scenario finds PostgreSQL unless told otherwise.
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

const SCENARIOS: &[&str] = &["load", "crash", "sigterm", "auth-down", "slow-hosts", "replicas"];

fn parse() -> anyhow::Result<(Options, Vec<String>)> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        binaries: Binaries { dir: PathBuf::from("target/release") },
        seconds: 20,
        workers: 8,
        crash_rounds: 3,
        postgres_url: POSTGRES_URL.to_owned(),
        keep_db: false,
    };
    let mut scenarios = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bin-dir" => options.binaries.dir = PathBuf::from(value("--bin-dir")?),
            "--seconds" => options.seconds = value("--seconds")?.parse()?,
            "--workers" => options.workers = value("--workers")?.parse()?,
            "--crash-rounds" => options.crash_rounds = value("--crash-rounds")?.parse()?,
            "--postgres-url" => options.postgres_url = value("--postgres-url")?,
            "--keep-db" => options.keep_db = true,
            name if SCENARIOS.contains(&name) => scenarios.push(name.to_owned()),
            other => bail!("unknown argument {other:?}; scenarios are {SCENARIOS:?}"),
        }
    }
    if scenarios.is_empty() {
        scenarios = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    }
    Ok((options, scenarios))
}

async fn run(options: &Options, scenario: &str) -> anyhow::Result<Report> {
    match scenario {
        "load" => load::run(options).await,
        "crash" => crash::run(options, crash::Stop::Kill).await,
        "sigterm" => crash::run(options, crash::Stop::Terminate).await,
        "auth-down" => auth_down::run(options).await,
        "slow-hosts" => slow_hosts::run(options).await,
        "replicas" => replicas::run(options).await,
        other => bail!("unknown scenario {other}"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let (options, scenarios) = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("mcp-soak: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut failed = Vec::new();
    for scenario in &scenarios {
        match run(&options, scenario).await {
            Ok(report) if report.passed() => {}
            Ok(report) => failed.push(format!("{}: {}", report.name, report.violations.join("; "))),
            Err(e) => {
                println!("   FAIL  the scenario could not run: {e:#}");
                failed.push(format!("{scenario}: {e:#}"));
            }
        }
    }
    println!();
    if failed.is_empty() {
        println!("soak: every scenario held ({}); nothing lost, nothing let in", scenarios.join(", "));
        ExitCode::SUCCESS
    } else {
        println!("soak: {} scenario(s) broke a promise:", failed.len());
        for failure in &failed {
            println!("  - {failure}");
        }
        ExitCode::FAILURE
    }
}
