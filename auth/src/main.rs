//! `mcp-auth`: the binary. Sets up logging, then runs the command line ([`mcp_auth::cli`]).

use clap::Parser as _;
use mcp_auth::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    cli::run(Cli::parse()).await
}
