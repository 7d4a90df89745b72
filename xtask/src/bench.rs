//! `cargo xtask bench`: builds the benchmark in release mode and runs it (see `bench/src/main.rs`
//! for what is measured). Performance targets live here, never in timed tests.

use std::path::Path;
use std::process::Command;

use crate::cmd::{self, Result, say};

pub fn run(root: &Path) -> Result {
    say("== building the benchmark (release)");
    cmd::run(cmd::cargo().current_dir(root).args(["build", "--release", "-p", "bench"]))?;
    say("== running it: a few seconds per row, side by side; compare rows, not runs");
    cmd::run(Command::new(root.join("target/release/mcp-bench")).current_dir(root))
}
