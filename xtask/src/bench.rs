//! `cargo xtask bench`: builds the benchmark and `mcp-auth` in release mode, installs
//! node-oidc-provider for the authorization server part, and runs the benchmark (see
//! `bench/src/main.rs` for what is measured). Performance targets live here, never in timed tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, Result, say};
use crate::tools::json_string_field;

/// Where `bench/oidc-provider` (its `package.json`, lock file and `server.mjs`) is copied and
/// installed: outside the source tree, like every other downloaded tool.
const OIDC_PROVIDER_DIR: &str = "target/bench/oidc-provider";

pub fn run(root: &Path) -> Result {
    say("== building the benchmark and mcp-auth (release)");
    cmd::run(cmd::cargo().current_dir(root).args(["build", "--release", "-p", "bench", "-p", "mcp-auth"]))?;
    let mut bench = Command::new(root.join("target/release/mcp-bench"));
    if part_selected("as") {
        // Without it, the benchmark says "not measured" for node-oidc-provider and goes on.
        if let Some(dir) = ensure_oidc_provider(root) {
            bench.env("MCP_BENCH_OIDC_PROVIDER_DIR", dir);
        }
    }
    say("== running it: a few seconds per row, side by side; compare rows, not runs");
    cmd::run(bench.current_dir(root))
}

/// Does `MCP_BENCH_PART` (all parts when unset) name `part`?
fn part_selected(part: &str) -> bool {
    match std::env::var("MCP_BENCH_PART") {
        Ok(parts) if !parts.trim().is_empty() => parts.split(',').any(|p| p.trim() == part),
        _ => true,
    }
}

/// node-oidc-provider at the version `bench/oidc-provider/package.json` pins, installed with `npm
/// ci` from the committed lock file into [`OIDC_PROVIDER_DIR`] when missing or another version,
/// with the current `server.mjs` beside it. `None` when npm cannot install it.
fn ensure_oidc_provider(root: &Path) -> Option<PathBuf> {
    let source = root.join("bench/oidc-provider");
    let dir = root.join(OIDC_PROVIDER_DIR);
    let copied = std::fs::create_dir_all(&dir).is_ok()
        && ["package.json", "package-lock.json", "server.mjs"]
            .iter()
            .all(|file| std::fs::copy(source.join(file), dir.join(file)).is_ok());
    if !copied {
        say(format!("  node-oidc-provider: cannot copy {} into {OIDC_PROVIDER_DIR}", source.display()));
        return None;
    }
    let manifest = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let wanted = json_string_field(&manifest, "oidc-provider")?;
    let installed = std::fs::read_to_string(dir.join("node_modules/oidc-provider/package.json"))
        .ok()
        .and_then(|m| json_string_field(&m, "version"));
    if installed.as_deref() == Some(wanted.as_str()) {
        say(format!("  node-oidc-provider {wanted} ({OIDC_PROVIDER_DIR}): installed"));
        return Some(dir);
    }
    say(format!(
        "  node-oidc-provider {wanted}: missing, installing it with `npm ci` into {OIDC_PROVIDER_DIR}"
    ));
    match cmd::run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&dir)) {
        Ok(()) => Some(dir),
        Err(e) => {
            say(format!(
                "  node-oidc-provider could not be installed ({e}); its rows will say \"not measured\""
            ));
            None
        }
    }
}
