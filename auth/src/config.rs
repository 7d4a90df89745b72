//! Typed settings for the authorization server, and their defaults. The command line
//! ([`crate::cli`]) fills them from flags and environment; tests build them directly with
//! [`Settings::for_tests`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::store::Migrations;
use protocol::resource::check_resource;
use protocol::scope::Scopes;
use protocol::secret::Password;
use serve::client_addr::TrustedProxies;

/// Everything `auth` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// The issuer identifier, exactly as it appears in tokens and metadata. `None` derives
    /// `http://<bound address>`, which is what tests on port 0 want.
    pub issuer: Option<String>,
    /// `sqlite://path/to/file.db` (created if missing), `sqlite::memory:`, or
    /// `postgres://user@host/database` (an existing database, shared by several replicas).
    pub database_url: String,
    /// Whether the server applies the migrations the database lacks at start (the default; the
    /// lock sqlx takes makes replicas starting together apply each once), or only checks and
    /// refuses to start when any are missing (`--no-migrate`: migrations are a deploy step,
    /// `mcp-auth migrate`). A database migrated by a newer build is refused either way.
    pub migrations: Migrations,
    /// The resource servers this AS issues tokens for (RFC 8707 `resource` values).
    pub resources: Vec<ResourceServer>,
    /// Lifetime of access tokens. Short: a leaked token is useful for minutes, not days.
    pub access_token_ttl: Duration,
    /// Lifetime of authorization codes. RFC 6749 §4.1.2 recommends at most 10 minutes; OAuth 2.1
    /// implementations use far less because a code only has to survive one redirect.
    pub authorization_code_ttl: Duration,
    /// A refresh token unused for this long expires (idle lifetime).
    pub refresh_token_idle_ttl: Duration,
    /// However often it is refreshed, a grant ends this long after the user consented (absolute
    /// lifetime); then the user must authorize again.
    pub grant_ttl: Duration,
    /// How long a browser may take between `/authorize` and pressing *Allow*.
    pub login_session_ttl: Duration,
    /// Credentials with which resource servers call the introspection endpoint, one per resource.
    /// Without any, introspection answers `invalid_client` to everyone.
    pub introspection_credentials: Vec<IntrospectionCredential>,
    /// How client ids that are metadata document URLs are fetched.
    pub client_metadata: crate::cimd::FetchPolicy,
    /// A user to create at startup if no user of that name exists (the demo's `demo` account).
    pub seed_user: Option<SeedUser>,
    /// How expired rows are removed while the server runs.
    pub sweep: SweepSettings,
    /// The longest life of a token obtained by token exchange or after an out-of-band approval
    /// (never longer than what it was exchanged from).
    pub exchanged_token_ttl: Duration,
    /// Out-of-band approvals of tool calls.
    pub approvals: ApprovalSettings,
    /// Reverse proxies whose forwarding header (`X-Forwarded-For` unless they say `Forwarded`)
    /// names the client, for the audit trail and the login throttle. Empty by default: a client
    /// could forge the header, so without a proxy to vouch for it it is never read.
    pub trusted_proxies: TrustedProxies,
}

/// Out-of-band approvals (`/bc-authorize`, `/approvals`).
#[derive(Debug, Clone)]
pub struct ApprovalSettings {
    /// How long a request waits for the person when the client asks for no particular expiry.
    pub default_expiry: Duration,
    /// The longest a client may make a request wait (`requested_expiry` is capped to this).
    pub max_expiry: Duration,
    /// The minimum time between two polls of one request, before any `slow_down`.
    pub poll_interval: Duration,
    /// The choices of *Approve and remember for …*, shortest first.
    pub remember_choices: Vec<Duration>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self {
            default_expiry: defaults::APPROVAL_EXPIRY,
            max_expiry: defaults::APPROVAL_MAX_EXPIRY,
            poll_interval: defaults::APPROVAL_POLL_INTERVAL,
            remember_choices: defaults::APPROVAL_REMEMBER_CHOICES.to_vec(),
        }
    }
}

/// The periodic sweep of expired rows (see [`crate::store::sweep`]).
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Time between two sweeps.
    pub interval: Duration,
    /// At most this many rows are deleted from each table per sweep, so that one sweep never holds
    /// the database for long; the rest waits for the next.
    pub rows_per_table: u32,
    /// How long audit events are kept. At least the login throttle's window, which counts failed
    /// sign-ins from the trail.
    pub audit_retention: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            interval: defaults::SWEEP_INTERVAL,
            rows_per_table: defaults::SWEEP_ROWS_PER_TABLE,
            audit_retention: defaults::AUDIT_RETENTION,
        }
    }
}

/// The default of every setting, written once: [`Settings::default`] is built from these, and the
/// command line shows and applies the same values.
pub mod defaults {
    use super::*;

    /// Loopback only: exposing the server is a decision, not a default.
    pub const BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9000);
    /// The issuer of the local demo.
    pub const ISSUER: &str = "http://localhost:9000";
    /// A file in the working directory, created on first start.
    pub const DATABASE_URL: &str = "sqlite://mcp-auth.db";
    /// The demo's MCP server and its scopes, in the form of the `--resource` flag.
    pub const RESOURCE: &str = "http://localhost:9090 echo profile notes:read notes:write";
    /// Five minutes: a leaked access token is useful briefly; refreshing is cheap.
    pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(300);
    /// A code only has to survive one redirect and one token request.
    pub const AUTHORIZATION_CODE_TTL: Duration = Duration::from_secs(60);
    /// A week unused and a refresh token expires.
    pub const REFRESH_TOKEN_IDLE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
    /// Thirty days after consenting, the user authorizes again.
    pub const GRANT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
    /// Ten minutes from `/authorize` to *Allow*.
    pub const LOGIN_SESSION_TTL: Duration = Duration::from_secs(600);
    /// `keys rotate`: between publishing a new key and signing with it; at least as long as
    /// resource servers cache the JWKS (`mcp-server` refreshes it every 300 s).
    pub const KEY_PUBLISH_DELAY: Duration = Duration::from_secs(300);
    /// `audit`: how many events are shown.
    pub const AUDIT_LIMIT: i64 = 50;
    /// The sweep of expired rows runs every minute…
    pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
    /// …and deletes at most 1,000 rows per table each time (up to 60,000 an hour each).
    pub const SWEEP_ROWS_PER_TABLE: u32 = 1000;
    /// Audit events are kept for 90 days.
    pub const AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
    /// A minute: a hop token is used for one upstream call, or a few in quick succession.
    pub const EXCHANGED_TOKEN_TTL: Duration = Duration::from_secs(60);
    /// Five minutes for the person to answer an approval request, unless the client asks…
    pub const APPROVAL_EXPIRY: Duration = Duration::from_secs(300);
    /// …for up to half an hour.
    pub const APPROVAL_MAX_EXPIRY: Duration = Duration::from_secs(1800);
    /// The client polls at most every 5 s (OpenID CIBA's default).
    pub const APPROVAL_POLL_INTERVAL: Duration = Duration::from_secs(5);
    /// *Approve and remember for* one hour or one day.
    pub const APPROVAL_REMEMBER_CHOICES: [Duration; 2] =
        [Duration::from_secs(3600), Duration::from_secs(86_400)];
}

/// A user created at startup for the demo. Never set in production.
#[derive(Debug, Clone)]
pub struct SeedUser {
    pub username: String,
    pub password: Password,
}

/// A resource server's credential for `POST /introspect`: it authenticates with HTTP Basic, user
/// name the (form-urlencoded) resource identifier, password this secret (RFC 6749 §2.3.1 style),
/// and learns about tokens for its own resource only.
#[derive(Debug, Clone)]
pub struct IntrospectionCredential {
    pub resource: String,
    pub secret: Password,
}

impl IntrospectionCredential {
    /// Parses `"<resource-url> <secret>"`, the form of the `--introspection-credential` flag.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (resource, secret) =
            value.trim().split_once(' ').ok_or("expected \"<resource-url> <secret>\"")?;
        let secret = secret.trim();
        if secret.len() < 16 {
            return Err("an introspection secret must be at least 16 characters".into());
        }
        check_resource(resource).map_err(|e| e.to_string())?;
        Ok(Self { resource: resource.to_owned(), secret: Password::new(secret) })
    }
}

/// A protected resource the AS knows: its identifier (the token audience), the scopes it
/// understands, and whether its tokens carry the user's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    pub resource: String,
    pub scopes: Scopes,
    /// Tokens for this resource carry a `groups` claim (`--groups-claim <resource-url>`).
    pub groups_claim: bool,
}

impl ResourceServer {
    /// Parses `"<resource-url> <scope> <scope> …"`, the form of the `--resource` flag.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut parts = value.split_whitespace();
        let resource = parts.next().ok_or("a resource needs a URL")?.to_owned();
        check_resource(&resource).map_err(|e| e.to_string())?;
        let scopes = Scopes::from_tokens(parts).map_err(|e| e.to_string())?;
        if scopes.is_empty() {
            return Err(format!("resource {resource} needs at least one scope"));
        }
        Ok(Self { resource, scopes, groups_claim: false })
    }
}

/// The introspection secret of the resource in [`Settings::for_tests`].
pub const TEST_INTROSPECTION_SECRET: &str = "test-introspection-secret";

/// What `mcp-auth serve` runs with when given no flags: the local demo's addresses.
impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: defaults::BIND,
            issuer: Some(defaults::ISSUER.to_owned()),
            database_url: defaults::DATABASE_URL.to_owned(),
            migrations: Migrations::Apply,
            resources: vec![
                ResourceServer::parse(defaults::RESOURCE).expect("the default resource is valid"),
            ],
            access_token_ttl: defaults::ACCESS_TOKEN_TTL,
            authorization_code_ttl: defaults::AUTHORIZATION_CODE_TTL,
            refresh_token_idle_ttl: defaults::REFRESH_TOKEN_IDLE_TTL,
            grant_ttl: defaults::GRANT_TTL,
            login_session_ttl: defaults::LOGIN_SESSION_TTL,
            introspection_credentials: Vec::new(),
            client_metadata: crate::cimd::FetchPolicy::default(),
            seed_user: None,
            sweep: SweepSettings::default(),
            exchanged_token_ttl: defaults::EXCHANGED_TOKEN_TTL,
            approvals: ApprovalSettings::default(),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl Settings {
    /// Settings for an in-process test server: port 0, in-memory database, the demo user, and one
    /// resource server; lifetimes as by default.
    pub fn for_tests(resource: &str) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer: None,
            database_url: "sqlite::memory:".into(),
            migrations: Migrations::Apply,
            resources: vec![ResourceServer {
                resource: resource.to_owned(),
                scopes: Scopes::parse("echo profile notes:read notes:write")
                    .expect("constant scopes are valid"),
                groups_claim: false,
            }],
            // Tests serve metadata documents from loopback.
            client_metadata: crate::cimd::FetchPolicy {
                allow_loopback: true,
                timeout: Duration::from_secs(2),
                ..Default::default()
            },
            introspection_credentials: vec![IntrospectionCredential {
                resource: resource.to_owned(),
                secret: Password::new(TEST_INTROSPECTION_SECRET),
            }],
            seed_user: Some(SeedUser { username: "demo".into(), password: Password::new("demo-password") }),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_resource_with_its_scopes() {
        let parsed = ResourceServer::parse("http://localhost:9090 echo profile").unwrap();
        assert_eq!(parsed.resource, "http://localhost:9090");
        assert_eq!(parsed.scopes.to_string(), "echo profile");
    }

    #[test]
    fn parses_an_introspection_credential_and_refuses_short_secrets() {
        let parsed = IntrospectionCredential::parse("http://localhost:9090 0123456789abcdef").unwrap();
        assert_eq!(parsed.resource, "http://localhost:9090");
        assert_eq!(parsed.secret.secret(), "0123456789abcdef");
        assert!(IntrospectionCredential::parse("http://localhost:9090 short").is_err());
        assert!(IntrospectionCredential::parse("http://localhost:9090").is_err());
    }

    #[test]
    fn the_defaults_are_the_local_demo() {
        let settings = Settings::default();
        assert_eq!(settings.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(settings.issuer.as_deref(), Some("http://localhost:9000"));
        assert_eq!(
            settings.resources,
            vec![ResourceServer::parse("http://localhost:9090 echo profile notes:read notes:write").unwrap()]
        );
        assert_eq!(settings.authorization_code_ttl, Duration::from_secs(60));
        assert!(!settings.client_metadata.allow_loopback, "loopback metadata documents only when asked");
        assert!(settings.seed_user.is_none() && settings.introspection_credentials.is_empty());
        assert!(settings.trusted_proxies.is_empty(), "forwarding headers are read only when asked");
    }

    #[test]
    fn refuses_resources_without_scopes_or_with_fragments() {
        assert!(ResourceServer::parse("http://localhost:9090").is_err());
        assert!(ResourceServer::parse("http://localhost:9090#x echo").is_err());
        assert!(ResourceServer::parse("http://remote.example echo").is_err());
        assert!(ResourceServer::parse("").is_err());
    }
}
