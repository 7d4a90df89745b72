//! `cargo xtask fuzz [--seconds N] [target…]`: every fuzz target of `fuzz/` (one per parser that
//! reads bytes from the network) for a fixed time each, with a report per target; and the short
//! smoke run that `cargo xtask test` does (`cargo xtask fuzz --smoke`).
//!
//! Installs what is missing, saying so: the `nightly` toolchain (`rustup toolchain install nightly
//! --profile minimal`; libFuzzer's instrumentation needs `-Z` flags) and `cargo-fuzz`
//! [`CARGO_FUZZ_VERSION`] (`cargo install`). Each target starts from its committed seeds in
//! `fuzz/corpus/<target>` and from what earlier runs found in `fuzz/corpus-grown/<target>` (not
//! committed); new inputs go to the latter. A crash, a timeout or an oversized allocation fails the
//! command and names the input libFuzzer saved under `fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cmd::{self, Result, say};

pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Seconds per target for `cargo xtask fuzz` without `--seconds`.
pub const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target in `cargo xtask test`: eight targets stay near a minute.
pub const SMOKE_SECONDS: u64 = 8;

/// The limits every run gets. Inputs are bounded like the servers' bodies; one input may take at
/// most `timeout` seconds, the process `rss_limit_mb`, and a single allocation `malloc_limit_mb`,
/// so a hang or an unbounded allocation is reported as a failure, never waited out.
const LIBFUZZER_LIMITS: &[&str] =
    &["-max_len=65536", "-timeout=5", "-rss_limit_mb=1024", "-malloc_limit_mb=256"];

/// `cargo xtask fuzz` with its command-line arguments (after `fuzz`).
pub fn run(root: &Path, args: &[String]) -> Result {
    let mut seconds = DEFAULT_SECONDS;
    let mut wanted = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => return smoke(root),
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("--seconds needs a positive number")?;
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            target => wanted.push(target.to_owned()),
        }
    }
    let all = targets(root)?;
    if let Some(unknown) = wanted.iter().find(|t| !all.contains(t)) {
        return Err(format!("no fuzz target {unknown:?}; the targets are: {}", all.join(", ")));
    }
    let chosen = if wanted.is_empty() { all } else { wanted };
    ensure_tools()?;
    fuzz(root, &chosen, seconds)
}

/// `cargo xtask fuzz --smoke`, the stage of `cargo xtask test`: this same program, so that the
/// stage is a command like the others.
pub fn smoke_command() -> Result<Command> {
    let this = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let mut command = Command::new(this);
    command.args(["fuzz", "--smoke"]);
    Ok(command)
}

/// The smoke run: every target for [`SMOKE_SECONDS`]. When the tools cannot be installed it says
/// so loudly and passes, like the other optional stages of `cargo xtask test`.
fn smoke(root: &Path) -> Result {
    if let Err(e) = ensure_tools() {
        say(format!("cannot install the fuzzing tools: {e}"));
        println!();
        say("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        say("!! SKIPPED: the fuzz smoke run, because nightly or cargo-fuzz could not be     !!");
        say("!! installed. Everything else ran; see the message above, then try again.     !!");
        say("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!();
        return Ok(());
    }
    fuzz(root, &targets(root)?, SMOKE_SECONDS)
}

/// The targets: one file per target in `fuzz/fuzz_targets`.
fn targets(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

fn ensure_tools() -> Result {
    say("checking fuzzing tools");
    let has_nightly = cmd::output("rustup", &["run", "nightly", "rustc", "--version"]);
    match has_nightly {
        Some(version) => say(format!("  nightly toolchain: installed ({version})")),
        None => {
            say("  nightly toolchain: missing, installing it with rustup (minimal profile)");
            cmd::run(Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
            ]))?;
        }
    }
    let wanted = format!("cargo-fuzz {CARGO_FUZZ_VERSION}");
    if cmd::output("cargo-fuzz", &["--version"]).as_deref() == Some(wanted.as_str()) {
        say(format!("  cargo-fuzz {CARGO_FUZZ_VERSION}: installed"));
        return Ok(());
    }
    say(format!("  cargo-fuzz {CARGO_FUZZ_VERSION}: missing, building it (a minute or two, once)"));
    cmd::run(cmd::cargo().args(["install", "cargo-fuzz", "--version", &format!("={CARGO_FUZZ_VERSION}")]))?;
    match cmd::output("cargo-fuzz", &["--version"]) {
        Some(version) if version == wanted => Ok(()),
        other => Err(format!("installed cargo-fuzz reports {other:?}, expected {wanted:?}")),
    }
}

/// `cargo fuzz …` on the nightly toolchain, whatever toolchain runs this xtask.
fn cargo_fuzz(root: &Path) -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["run", "nightly", "cargo", "fuzz"])
        .current_dir(root.join("fuzz"))
        // Set by the stable cargo that runs xtask; they would make cargo-fuzz build with it.
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("CARGO_INCREMENTAL", "0");
    // Also set by `cargo run` for xtask itself. Build scripts that watch them (ring watches
    // CARGO_MANIFEST_DIR) would rerun, and rebuild half the graph, on every other invocation.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// Where `cargo fuzz build --release` puts the target binaries. They are run directly rather than
/// through `cargo fuzz run`, which adds `-Cdebug-assertions` to every crate whatever the profile
/// says, and so would rebuild everything and undo the exemption in `fuzz/Cargo.toml`.
fn binaries(root: &Path) -> Result<PathBuf> {
    let host = cmd::output("rustc", &["-vV"])
        .and_then(|v| v.lines().find_map(|l| l.strip_prefix("host: ").map(str::to_owned)))
        .ok_or("cannot ask rustc for the host triple")?;
    Ok(target_dir(root).join(host).join("release"))
}

/// Where the fuzz builds go: under the workspace's target directory (`$CARGO_TARGET_DIR` when
/// set), so that whatever keeps that directory warm keeps these builds warm too, and `cargo clean`
/// removes them.
fn target_dir(root: &Path) -> PathBuf {
    let workspace_target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    workspace_target.join("fuzz")
}

/// What one target's run did.
struct Report {
    target: String,
    runs: String,
    coverage: String,
    peak_rss_mb: String,
    failure: Option<String>,
}

fn fuzz(root: &Path, targets: &[String], seconds: u64) -> Result {
    say("== building the fuzz targets (nightly, sanitizer instrumentation)");
    // `--release`: the checks (debug assertions, overflow checks) come from the release profile
    // of `fuzz/Cargo.toml`, so that one dependency can be exempted.
    cmd::run(cargo_fuzz(root).args(["build", "--release", "--target-dir"]).arg(target_dir(root)))?;
    let binaries = binaries(root)?;
    let logs = root.join("target/fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let mut reports = Vec::new();
    for target in targets {
        say(format!("== fuzzing {target} for {seconds} s"));
        reports.push(fuzz_one(root, &binaries, &logs, target, seconds)?);
    }
    say(format!("fuzzing report ({seconds} s per target):"));
    say(format!("  {:<16} {:>10} {:>16} {:>8}  result", "target", "runs", "coverage (ft)", "rss MB"));
    for r in &reports {
        let result = r.failure.as_deref().map_or("ok".to_owned(), |f| format!("FAILED: {f}"));
        say(format!("  {:<16} {:>10} {:>16} {:>8}  {result}", r.target, r.runs, r.coverage, r.peak_rss_mb));
    }
    let failed: Vec<&str> =
        reports.iter().filter(|r| r.failure.is_some()).map(|r| r.target.as_str()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing found a problem in: {}. Replay an input with `target/fuzz/<host>/release/<target> <input>`; \
             full logs in target/fuzz-logs/",
            failed.join(", ")
        ))
    }
}

fn fuzz_one(root: &Path, binaries: &Path, logs: &Path, target: &str, seconds: u64) -> Result<Report> {
    let fuzz_dir = root.join("fuzz");
    let grown = fuzz_dir.join("corpus-grown").join(target);
    let seeds = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&grown).map_err(|e| format!("cannot create {}: {e}", grown.display()))?;
    let log_path = logs.join(format!("{target}.log"));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let artifacts = fuzz_dir.join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("cannot create {}: {e}", artifacts.display()))?;
    let mut command = Command::new(binaries.join(target));
    command
        .current_dir(&fuzz_dir)
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args(LIBFUZZER_LIMITS)
        .args([format!("-max_total_time={seconds}"), "-print_final_stats=1".to_owned()])
        // The first corpus directory receives new inputs; the seeds are only read.
        .arg(&grown)
        .arg(&seeds);
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", binaries.join(target).display()))?;
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let stat = |name: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".to_owned())
    };
    // The last status line (`#1234 pulse cov: 567 ft: 890 corp: …`) has the final coverage.
    let field = |line: &str, name: &str| -> Option<String> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name)?;
        words.next().map(str::to_owned)
    };
    let coverage = output
        .lines()
        .rev()
        .find_map(|l| Some(format!("{} ({})", field(l, "cov:")?, field(l, "ft:")?)))
        .unwrap_or_else(|| "?".to_owned());
    let failure = (!status.success()).then(|| {
        let artifact =
            output.lines().find_map(|l| l.split("Test unit written to ").nth(1).map(str::to_owned));
        let reason = output
            .lines()
            .find(|l| {
                l.contains("ERROR: libFuzzer")
                    || l.contains("ERROR: AddressSanitizer")
                    || l.contains("panicked at")
            })
            .map(str::trim)
            .unwrap_or("the run failed")
            .to_owned();
        match artifact {
            Some(artifact) => format!("{reason}; input saved as {artifact}"),
            None => format!("{reason} ({status}); see {}", log_path.display()),
        }
    });
    if let Some(failure) = &failure {
        say(format!("  {target}: {failure}"));
        let tail: Vec<&str> = output.lines().rev().take(30).collect();
        for line in tail.into_iter().rev() {
            println!("    {line}");
        }
    } else {
        say(format!(
            "  {target}: {} runs in {:.0} s, no failure",
            stat("number_of_executed_units"),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(Report {
        target: target.to_owned(),
        runs: stat("number_of_executed_units"),
        coverage,
        peak_rss_mb: stat("peak_rss_mb"),
        failure,
    })
}
