//! `mcp-server`: command-line entry point. Everything else is in the library.

use std::net::SocketAddr;

use axum::http::HeaderValue;
use clap::Parser;
use mcp_server::config::Settings;
use mcp_server::startup::Application;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system's allocator: measured in ARCHITECTURE.md ("The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// MCP resource server protected by OAuth 2.1.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MCP_SERVER_BIND", default_value = "127.0.0.1:9090")]
    bind: SocketAddr,

    /// This server's resource identifier: the audience its tokens must carry.
    #[arg(long, env = "MCP_SERVER_RESOURCE", default_value = "http://localhost:9090")]
    resource: String,

    /// Issuer of the authorization server whose tokens are accepted.
    #[arg(long, env = "MCP_SERVER_AUTHORIZATION_SERVER", default_value = "http://localhost:9000")]
    authorization_server: String,

    /// Browser origins allowed to call the API (comma-separated).
    #[arg(long = "allowed-origin", env = "MCP_SERVER_ALLOWED_ORIGINS", value_delimiter = ',',
          default_value = "http://localhost:8080,http://127.0.0.1:8080", value_parser = mcp_endpoint::cors::parse_origin)]
    allowed_origins: Vec<HeaderValue>,

    /// Also offer the diagnostic tools the MCP conformance suite calls (`test_simple_text`,
    /// `test_error_handling`, …). For running that suite, not for users.
    #[arg(long, env = "MCP_SERVER_CONFORMANCE_TOOLS")]
    conformance_tools: bool,

    /// Introspection mode (RFC 7662): the secret the AS was given for this resource with
    /// `mcp-auth --introspection-credential`. Opaque (non-JWT) tokens are then introspected.
    #[arg(long, env = "MCP_SERVER_INTROSPECTION_SECRET")]
    introspection_secret: Option<String>,

    /// With --introspection-secret: introspect every token, JWTs too, so that a revocation at the
    /// AS takes effect at once (one call to the AS per request).
    #[arg(long, env = "MCP_SERVER_INTROSPECT_EVERY_TOKEN", requires = "introspection_secret")]
    introspect_every_token: bool,

    /// Seconds between background refreshes of the authorization server's signing keys (0: only
    /// when a token names an unknown key). While the authorization server is unreachable, tokens
    /// keep being checked against the cached keys, and the log says so.
    #[arg(long, env = "MCP_SERVER_JWKS_REFRESH_INTERVAL", default_value_t = 300)]
    jwks_refresh_interval: u64,

    /// Behind a gateway: accept only tokens presented by this client on the user's behalf (the
    /// token's current `act`, as token exchange writes it; the demo's gateway is `mcp-gateway`).
    /// A token the user obtained for this server directly is refused, so the gateway's policy and
    /// approvals cannot be gone around. Off by default.
    #[arg(long, env = "MCP_SERVER_REQUIRE_ACTOR", value_name = "CLIENT_ID")]
    require_actor: Option<String>,

    /// Where the notes tools keep their notes (SQLite; created and migrated if missing).
    #[arg(long, env = "MCP_SERVER_DATABASE_URL", default_value = mcp_server::config::DEFAULT_DATABASE_URL)]
    database_url: String,

    /// MCP sessions one user may hold at once, all their clients together; opening one more ends
    /// their least recently used. A gateway in front holds its pooled sessions under the user's
    /// subject: keep this above its --upstream-sessions-per-owner.
    #[arg(long, env = "MCP_SERVER_SESSIONS_PER_USER",
          default_value_t = mcp_endpoint::sessions::MAX_SESSIONS_PER_USER,
          value_parser = mcp_endpoint::sessions::parse_per_user)]
    sessions_per_user: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let cli = Cli::parse();
    let settings = Settings {
        bind: cli.bind,
        resource: Some(cli.resource),
        authorization_server: cli.authorization_server,
        allowed_origins: cli.allowed_origins,
        conformance_tools: cli.conformance_tools,
        introspection: cli.introspection_secret.map(|secret| {
            mcp_bearer::introspection::IntrospectionSettings {
                secret: protocol::secret::ClientSecret::new(secret),
                every_token: cli.introspect_every_token,
            }
        }),
        jwks_refresh_interval: (cli.jwks_refresh_interval > 0)
            .then(|| std::time::Duration::from_secs(cli.jwks_refresh_interval)),
        database_url: cli.database_url,
        required_actor: cli.require_actor,
        sessions_per_user: cli.sessions_per_user,
    };
    Application::build(settings).await?.run_until(serve::shutdown_signal()).await?;
    Ok(())
}
