//! `cargo xtask test`: every check and test the project has, in order of cost, stopping at the
//! first failure.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::cmd::{self, Result, say};
use crate::tools::{self, Needs, WASM_TARGET};

pub fn run(root: &Path) -> Result {
    let started = Instant::now();
    let tools = tools::ensure(root, Needs { browser: true })?;
    let mut timings = Vec::new();
    let mut stage = |name: &str, command: &mut Command| -> Result {
        say(format!("== {name}"));
        let begun = Instant::now();
        cmd::run(command.current_dir(root))?;
        timings.push((name.to_owned(), begun.elapsed()));
        Ok(())
    };

    stage("formatting", cmd::cargo().args(["fmt", "--all", "--", "--check"]))?;
    stage("lints (native crates)", cmd::cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    stage(
        "lints (the SPA, wasm32)",
        cmd::cargo().args(["clippy", "-p", "web-client", "--target", WASM_TARGET, "--", "-D", "warnings"]),
    )?;
    stage("unit and HTTP integration tests", cmd::cargo().args(["test"]))?;
    match tools::ensure_conformance(root) {
        Some(dir) => stage(
            "MCP conformance suite (server scenarios)",
            cmd::cargo()
                .args(["test", "-p", "e2e", "--test", "conformance", "--", "--ignored", "--nocapture"])
                .env("CONFORMANCE_DIR", dir),
        )?,
        None => {
            println!();
            say("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            say("!! SKIPPED: the MCP conformance suite, because npm could not install it.     !!");
            say("!! Everything else ran; run `cargo xtask test` again with the npm registry.   !!");
            say("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            println!();
        }
    }
    stage(
        "release build of the SPA (trunk)",
        Command::new(&tools.trunk).args(["build", "--release"]).env("PATH", &tools.path),
    )?;
    let mut browser_test = cmd::cargo();
    browser_test
        .args(["test", "-p", "e2e", "--test", "browser", "--", "--ignored"])
        .env("E2E_DIST", root.join("dist"));
    if let Some(driver) = &tools.chromedriver {
        browser_test.env("CHROMEDRIVER", driver);
    }
    if let Some(chromium) = &tools.chromium {
        browser_test.env("CHROME_BIN", chromium);
    }
    stage("browser end-to-end test (headless Chromium)", &mut browser_test)?;

    say("all checks passed:");
    for (name, took) in &timings {
        say(format!("  {:>6.1}s  {name}", took.as_secs_f64()));
    }
    say(format!("  {:>6.1}s  in total", started.elapsed().as_secs_f64()));
    Ok(())
}
