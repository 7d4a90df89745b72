//! Project automation, so that two commands are all a newcomer needs:
//!
//! * `cargo xtask dev`: install what is missing, build, run the authorization server, the MCP
//!   server and the SPA together, and print the URL to open. Ctrl-C stops all three.
//! * `cargo xtask test`: install what is missing, then formatting, lints, unit and HTTP
//!   integration tests, the MCP conformance suite, the release SPA build, and the browser
//!   end-to-end test.
//! * `cargo xtask bench`: the resource server's token checks, the gateway and the authorization
//!   server (against node-oidc-provider) under load (see `bench/`).
//! * `cargo xtask soak`: load and fault scenarios against the real binaries (see `soak/`).
//! * `cargo xtask fuzz [--seconds N] [target…]`: the fuzz targets of `fuzz/`, N seconds each.
//!
//! Only the standard library and `ctrlc`: this crate must build before anything else works.

mod bench;
mod cmd;
mod dev;
mod fuzz;
mod models;
mod soak;
mod test;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  dev     install missing tools, then run auth (:9000), server (:9090) and the SPA (:8080)
  test    install missing tools, then run every check and test, including the browser test
  bench   build in release mode and load-test the resource server's token checks, the gateway and
          the authorization server against node-oidc-provider (MCP_BENCH_PART=tokens|gateway|policy|as)
  soak    build in release mode and run the load and fault scenarios (concurrent flows on SQLite,
          kill -9 and SIGTERM mid-flow, auth down, slow hosts); arguments go to the driver, e.g.
          `cargo xtask soak --seconds 60 load`
  fuzz    [--seconds N] [target…]  run the fuzz targets (default: all, 60 s each; needs nightly)
";

fn main() -> ExitCode {
    let root = workspace_root();
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        Some("dev") => dev::run(&root),
        Some("test") => test::run(&root),
        Some("bench") => bench::run(&root),
        Some("soak") => soak::run(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        Some("fuzz") => fuzz::run(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}
