//! `mcp-gateway`: command-line entry point. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's allocator: measured in ARCHITECTURE.md ("The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mcp_gateway::cli::run(mcp_gateway::cli::Cli::parse())
}
