//! `cargo xtask soak`: builds `mcp-auth`, `mcp-server` and the soak driver in release mode and runs
//! the load and fault scenarios (see `soak/src/main.rs`) against the real binaries on loopback.
//! Arguments after `soak` go to the driver: `--seconds N`, `--workers N`, `--crash-rounds N`,
//! `--postgres-url URL`, `--keep-db`, and scenario names (`load`, `crash`, `sigterm`, `auth-down`,
//! `slow-hosts`, `replicas`; all by default).

use std::path::Path;
use std::process::Command;

use crate::cmd::{self, Result, say};

pub fn run(root: &Path, args: &[String]) -> Result {
    say("== building mcp-auth, mcp-server and the soak driver (release)");
    cmd::run(cmd::cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "mcp-auth",
        "-p",
        "mcp-server",
        "-p",
        "soak",
    ]))?;
    say("== running the scenarios: loopback only, each bounded in time");
    let bin_dir = root.join("target/release");
    cmd::run(
        Command::new(bin_dir.join("mcp-soak")).current_dir(root).arg("--bin-dir").arg(&bin_dir).args(args),
    )
}
