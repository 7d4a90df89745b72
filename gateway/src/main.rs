//! `mcp-gateway`: command-line entry point. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mcp_gateway::cli::run(mcp_gateway::cli::Cli::parse())
}
