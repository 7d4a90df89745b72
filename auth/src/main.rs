//! `mcp-auth`: command-line entry point. Everything else is in the library.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use mcp_auth::config::{IntrospectionCredential, ResourceServer, SeedUser, Settings};
use mcp_auth::startup::Application;
use protocol::secret::Password;
use tracing_subscriber::EnvFilter;

/// OAuth 2.1 authorization server for MCP.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MCP_AUTH_BIND", default_value = "127.0.0.1:9000")]
    bind: SocketAddr,

    /// Issuer identifier: exactly what appears in `iss` and in the metadata. No trailing slash.
    #[arg(long, env = "MCP_AUTH_ISSUER", default_value = "http://localhost:9000")]
    issuer: String,

    /// SQLite database (created and migrated on start).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mcp-auth.db")]
    database_url: String,

    /// A resource server this AS issues tokens for: "<resource-url> <scope> <scope>…". Repeatable.
    #[arg(long = "resource", env = "MCP_AUTH_RESOURCES", value_delimiter = ';',
          default_value = "http://localhost:9090 echo profile", value_parser = ResourceServer::parse)]
    resources: Vec<ResourceServer>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "MCP_AUTH_ACCESS_TOKEN_TTL", default_value_t = 300)]
    access_token_ttl: u64,

    /// Idle lifetime of refresh tokens in seconds: unused this long, a refresh token expires.
    #[arg(long, env = "MCP_AUTH_REFRESH_TOKEN_IDLE_TTL", default_value_t = 7 * 24 * 3600)]
    refresh_token_idle_ttl: u64,

    /// Absolute lifetime of a grant in seconds: after this, refreshing stops and the user must
    /// authorize again.
    #[arg(long, env = "MCP_AUTH_GRANT_TTL", default_value_t = 30 * 24 * 3600)]
    grant_ttl: u64,

    /// A resource server's credential for the introspection endpoint: "<resource-url> <secret>"
    /// (secret at least 16 characters). The resource server sends HTTP Basic with the
    /// form-urlencoded resource URL as user name. Repeatable; separate several with ';'.
    #[arg(long = "introspection-credential", env = "MCP_AUTH_INTROSPECTION_CREDENTIALS", value_delimiter = ';',
          value_parser = IntrospectionCredential::parse)]
    introspection_credentials: Vec<IntrospectionCredential>,

    /// Create the demo user `demo` with this password if it does not exist. For demos only: the
    /// password is visible in the process list.
    #[arg(long, env = "MCP_AUTH_DEMO_PASSWORD")]
    demo_password: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let cli = Cli::parse();
    let settings = Settings {
        bind: cli.bind,
        issuer: Some(cli.issuer),
        database_url: cli.database_url,
        resources: cli.resources,
        access_token_ttl: Duration::from_secs(cli.access_token_ttl),
        authorization_code_ttl: Duration::from_secs(60),
        refresh_token_idle_ttl: Duration::from_secs(cli.refresh_token_idle_ttl),
        grant_ttl: Duration::from_secs(cli.grant_ttl),
        login_session_ttl: Duration::from_secs(600),
        introspection_credentials: cli.introspection_credentials,
        seed_user: cli
            .demo_password
            .map(|p| SeedUser { username: "demo".into(), password: Password::new(p) }),
    };
    let app = Application::build(settings).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
