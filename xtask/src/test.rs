//! `cargo xtask test`: every check and test the project has, in order of cost, stopping at the
//! first failure.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cmd::{self, Result, say};
use crate::tools::{self, Needs, WASM_TARGET};

pub fn run(root: &Path) -> Result {
    let started = Instant::now();
    let mut stages = Stages::default();
    let result = run_stages(root, &mut stages);
    stages.print(started, result.as_ref().err());
    result
}

/// The time each stage took, printed at the end whether the run passed or not: CI starts from an
/// empty `target/`, and the README quotes these numbers cold and warm.
#[derive(Default)]
struct Stages {
    timings: Vec<(String, Duration)>,
}

impl Stages {
    /// Runs `command` as the stage `name`, timing it.
    fn run(&mut self, name: &str, command: &mut Command, root: &Path) -> Result {
        self.time(name, || cmd::run(command.current_dir(root)))
    }

    /// Runs `work` as the stage `name`, timing it (also when it fails).
    fn time<T>(&mut self, name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        say(format!("== {name}"));
        let begun = Instant::now();
        let result = work();
        self.timings.push((name.to_owned(), begun.elapsed()));
        result
    }

    fn print(&self, started: Instant, failure: Option<&String>) {
        match failure {
            None => say("all checks passed:"),
            Some(_) => say("FAILED; the stages that ran (the last one failed):"),
        }
        for (name, took) in &self.timings {
            say(format!("  {:>6.1}s  {name}", took.as_secs_f64()));
        }
        say(format!("  {:>6.1}s  in total", started.elapsed().as_secs_f64()));
        if let Some(free) = free_gib(Path::new(".")) {
            say(format!("disk: {free:.1} GiB free at the end of the run"));
        }
    }
}

/// A full run writes several GB into `target/`; when the disk fills, the linker dies of SIGBUS
/// with a message that names neither the disk nor the cause, so say it up front.
fn warn_if_low_on_disk(root: &Path) {
    const NEEDED_GIB: f64 = 12.0;
    match free_gib(root) {
        Some(free) if free < NEEDED_GIB => say(format!(
            "WARNING: only {free:.1} GiB free on the disk of {}; a cold run needs about {NEEDED_GIB} GiB \
             (`cargo clean` frees what earlier builds left)",
            root.display()
        )),
        Some(free) => say(format!("disk: {free:.1} GiB free")),
        None => {}
    }
}

/// Free space on the file system holding `path`, from POSIX `df -P` (in 1024-byte blocks).
fn free_gib(path: &Path) -> Option<f64> {
    let table = cmd::output("df", &[std::ffi::OsStr::new("-Pk"), path.as_os_str()])?;
    let available: f64 = table.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(available / (1024.0 * 1024.0))
}

fn run_stages(root: &Path, stages: &mut Stages) -> Result {
    warn_if_low_on_disk(root);
    let tools =
        stages.time("tools (installed if missing)", || tools::ensure(root, Needs { browser: true }))?;
    let mut stage = |name: &str, command: &mut Command| stages.run(name, command, root);

    stage("formatting", cmd::cargo().args(["fmt", "--all", "--", "--check"]))?;
    stage("lints (native crates)", cmd::cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    stage(
        "lints (the SPA, wasm32)",
        cmd::cargo().args([
            "clippy",
            "-p",
            "web-client",
            "--target",
            WASM_TARGET,
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let mut tests = cmd::cargo();
    tests.arg("test");
    if let Some(model) = &tools.needle_model {
        tests.env(crate::models::NEEDLE_MODEL_ENV, model);
    }
    stage("unit and HTTP integration tests", &mut tests)?;
    let postgres = postgres_url()?;
    let mut on_postgres = cmd::cargo();
    // Of the gateway's tests only the audit log's use the database; the others are quick, and one
    // cargo run keeps this one stage.
    on_postgres
        // Six at a time on two cores: these tests mostly wait for PostgreSQL to commit (the API
        // suite took 39 s here, against 87 s at the default two).
        .args(["test", "-p", "mcp-auth", "-p", "mcp-gateway", "--", "--test-threads=6"])
        .env(AUTH_TEST_DATABASE_URL, &postgres)
        .env(GATEWAY_TEST_DATABASE_URL, &postgres);
    stage(
        &format!(
            "the authorization server and the gateway's audit log on PostgreSQL ({}:{})",
            server_of(&postgres).0,
            server_of(&postgres).1
        ),
        &mut on_postgres,
    )?;
    let mut spa_tests = cmd::cargo();
    spa_tests
        .args(["test", "-p", "web-client", "--target", WASM_TARGET])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &tools.wasm_bindgen_test_runner)
        .env("PATH", &tools.path);
    if let Some(driver) = &tools.chromedriver {
        spa_tests.env("CHROMEDRIVER", driver);
    }
    stage("the SPA's browser-only parts (wasm-bindgen-test in headless Chromium)", &mut spa_tests)?;
    // Clients and test suites we did not write, against our servers. They run on the Node 22 that
    // comes with the conformance suite.
    let conformance = tools::ensure_conformance(root);
    let ts_sdk = conformance.as_ref().and_then(|_| tools::ensure_ts_sdk(root));
    match &conformance {
        Some(dir) => {
            stage("MCP conformance suite (server scenarios)", &mut node_test("e2e", "conformance", dir))?;
            stage(
                "MCP conformance suite (authorization server scenarios)",
                &mut node_test("e2e", "conformance_authorization", dir),
            )?;
            stage(
                "MCP conformance suite (client authorization scenarios, mcp-agent as the client)",
                &mut node_test("mcp-agent", "conformance", dir),
            )?;
        }
        None => skipped("the MCP conformance suite", "npm"),
    }
    match (&conformance, &ts_sdk) {
        (Some(dir), Some(_)) => {
            stage("MCP TypeScript SDK client against our servers", &mut node_test("e2e", "ts_sdk", dir))?
        }
        _ => skipped("the MCP TypeScript SDK client test", "npm"),
    }
    match tools::ensure_python_agent(root) {
        Some(python) => {
            let mut test = cmd::cargo();
            test.args(["test", "-p", "e2e", "--test", "python_agent", "--", "--ignored", "--nocapture"])
                .env("PYTHON_AGENT_PYTHON", python);
            stage("Python agent example (official MCP Python SDK)", &mut test)?
        }
        None => skipped("the Python agent example test (official MCP Python SDK)", "pip"),
    }
    // Skips loudly, and passes, when nightly or cargo-fuzz cannot be installed.
    stage("fuzz smoke run (every target, a few seconds each)", &mut crate::fuzz::smoke_command()?)?;
    stage(
        "release build of the SPA (trunk)",
        Command::new(&tools.trunk).args(["build", "--release"]).env("PATH", &tools.path),
    )?;
    stages.time("SPA bundle size (gzip -9)", || bundle_size(root))?;
    let mut browser_test = cmd::cargo();
    browser_test
        // One browser at a time: two Chromiums on two cores make every test slower and flakier.
        .args(["test", "-p", "e2e", "--test", "browser", "--", "--ignored", "--test-threads=1"])
        .env("E2E_DIST", root.join("dist"));
    if let Some(driver) = &tools.chromedriver {
        browser_test.env("CHROMEDRIVER", driver);
    }
    if let Some(chromium) = &tools.chromium {
        browser_test.env("CHROME_BIN", chromium);
    }
    stages.run("browser end-to-end tests (headless Chromium)", &mut browser_test, root)
}

/// Where the authorization server's tests find a PostgreSQL server: each test creates a database
/// of its own there and drops it (see `auth/src/store/testing.rs`).
const AUTH_TEST_DATABASE_URL: &str = "MCP_AUTH_TEST_DATABASE_URL";
/// The same for the gateway's audit log tests (see `gateway/src/audit/testing.rs`), given the same
/// server.
const GATEWAY_TEST_DATABASE_URL: &str = "MCP_GATEWAY_TEST_DATABASE_URL";
/// The PostgreSQL that development machines and CI have.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL URL the PostgreSQL stage runs against (`MCP_AUTH_TEST_DATABASE_URL` if it names
/// one, else the local default), once something answers there. Nothing answering is a failure,
/// not a skip: every machine this project is tested on has PostgreSQL, and a stage that quietly
/// did not run would let a broken backend land.
fn postgres_url() -> Result<String> {
    let url = std::env::var(AUTH_TEST_DATABASE_URL)
        .ok()
        .filter(|url| url.starts_with("postgres:") || url.starts_with("postgresql:"))
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
    let (host, port) = server_of(&url);
    let answers =
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).ok().is_some_and(|mut addrs| {
            addrs.any(|addr| {
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)).is_ok()
            })
        });
    if answers {
        return Ok(url);
    }
    let lines = [
        format!("NO POSTGRESQL at {host}:{port}: the PostgreSQL tests (AS, gateway audit) cannot run."),
        "Start PostgreSQL 15 there (trust authentication, database `test`), or point".to_owned(),
        format!("{AUTH_TEST_DATABASE_URL} at one (postgres://user@host:port/database)."),
    ];
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or_default();
    let border = "!".repeat(width + 6);
    say(&border);
    for line in &lines {
        say(format!("!! {line:<width$} !!"));
    }
    say(&border);
    Err(format!("no PostgreSQL answers at {host}:{port}"))
}

/// The host and port of a `postgres://[user[:password]@]host[:port][/database][?…]` URL.
fn server_of(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let server = authority.rsplit_once('@').map_or(authority, |(_, server)| server);
    let (host, port) = match server.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().unwrap_or(5432)),
        _ => (server, 5432),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (if host.is_empty() { "127.0.0.1" } else { host }.to_owned(), port)
}

/// `cargo test` of an integration test of `package` that runs Node programs: ignored by plain `cargo test`, because
/// it needs what `tools` installs.
fn node_test(package: &str, test: &str, conformance_dir: &Path) -> Command {
    let mut command = cmd::cargo();
    command
        .args(["test", "-p", package, "--test", test, "--", "--ignored", "--nocapture"])
        .env("CONFORMANCE_DIR", conformance_dir);
    command
}

/// Says, so that nobody can miss it, that `what` did not run because `installer` (npm, pip) could
/// not install it.
fn skipped(what: &str, installer: &str) {
    let lines = [
        format!("SKIPPED: {what}, because {installer} could not install it."),
        format!("Everything else ran; run `cargo xtask test` again with the {installer} registry."),
    ];
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or_default();
    let border = "!".repeat(width + 6);
    println!();
    say(&border);
    for line in &lines {
        say(format!("!! {line:<width$} !!"));
    }
    say(&border);
    println!();
}

/// The SPA's size budget: what a first visit downloads (wasm, JS glue, CSS), gzip -9.
pub const BUNDLE_BUDGET_BYTES: u64 = 280_000;

/// Prints the gzip size of each file of the release SPA and fails above the budget.
fn bundle_size(root: &Path) -> Result {
    let dist = root.join("dist");
    let mut entries: Vec<_> = std::fs::read_dir(&dist)
        .map_err(|e| format!("cannot read {}: {e}", dist.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm" || x == "js" || x == "css"))
        .collect();
    entries.sort();
    let mut total = 0;
    for path in entries {
        let output = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run gzip: {e}"))?;
        let size = output.stdout.len() as u64;
        total += size;
        say(format!("  {:>8} bytes  {}", size, path.file_name().unwrap_or_default().to_string_lossy()));
    }
    say(format!("  {:>8} bytes  in total (budget {} bytes)", total, BUNDLE_BUDGET_BYTES));
    if total > BUNDLE_BUDGET_BYTES {
        return Err(format!("the SPA is {total} bytes gzip, over its {BUNDLE_BUDGET_BYTES}-byte budget"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::server_of;

    #[test]
    fn the_postgres_server_is_read_from_the_url() {
        assert_eq!(server_of("postgres://postgres@127.0.0.1:5432/test"), ("127.0.0.1".into(), 5432));
        assert_eq!(
            server_of("postgresql://app:s3cret@db.internal/mcp?sslmode=require"),
            ("db.internal".into(), 5432)
        );
        assert_eq!(server_of("postgres://[::1]:6543/test"), ("::1".into(), 6543));
        assert_eq!(server_of("postgres:///test"), ("127.0.0.1".into(), 5432));
    }
}
