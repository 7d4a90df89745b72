//! Typed settings for the resource server.

use std::net::SocketAddr;

use axum::http::HeaderValue;

/// Everything `server` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// This server's resource identifier (RFC 8707, RFC 9728 `resource`): the audience its tokens
    /// must carry. `None` derives `http://<bound address>`.
    pub resource: Option<String>,
    /// The issuer of the authorization server whose tokens are accepted. Its metadata says where
    /// the signing keys are.
    pub authorization_server: String,
    /// Browser origins allowed to call the API (CORS and the `Origin` check). Every other origin is
    /// refused; requests without `Origin` (non-browser clients) are allowed.
    pub allowed_origins: Vec<HeaderValue>,
    /// Also offer the diagnostic tools the MCP conformance suite calls (`test_simple_text`, …).
    pub conformance_tools: bool,
    /// Introspection mode (RFC 7662): for opaque tokens, or for every token.
    pub introspection: Option<mcp_bearer::introspection::IntrospectionSettings>,
    /// Refetch the authorization server's keys this often, besides when a token names an unknown
    /// one. `None`: only then.
    pub jwks_refresh_interval: Option<std::time::Duration>,
    /// Where the notes tools keep their notes: `sqlite://file.db` (created if missing) or
    /// `sqlite::memory:`.
    pub database_url: String,
    /// For a server behind a gateway: accept only tokens whose current actor (`act`) is this
    /// client, so that nobody reaches the tools around the gateway's policy.
    pub required_actor: Option<String>,
    /// How many MCP sessions one user (token subject) may hold at once, all their clients
    /// together ([`mcp_endpoint::sessions::MAX_SESSIONS_PER_USER`] by default). A gateway in
    /// front of this server holds its pooled sessions under the user's subject: keep this above
    /// its `--upstream-sessions-per-owner` times the clients a user runs through it.
    pub sessions_per_user: usize,
}

/// The notes database of `mcp-server` without `--database-url`: a file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://mcp-server.db";

impl Settings {
    /// Port 0, trusting `authorization_server`, callable from `allowed_origin`.
    pub fn for_tests(authorization_server: &str, allowed_origin: &str) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            resource: None,
            authorization_server: authorization_server.to_owned(),
            allowed_origins: vec![HeaderValue::from_str(allowed_origin).expect("a valid origin")],
            conformance_tools: false,
            required_actor: None,
            introspection: None,
            jwks_refresh_interval: None,
            database_url: "sqlite::memory:".into(),
            sessions_per_user: mcp_endpoint::sessions::MAX_SESSIONS_PER_USER,
        }
    }
}
