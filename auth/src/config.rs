//! Typed settings for the authorization server. `main.rs` fills them from flags and environment;
//! tests build them directly with [`Settings::for_tests`].

use std::net::SocketAddr;
use std::time::Duration;

use protocol::resource::check_resource;
use protocol::scope::Scopes;
use protocol::secret::Password;

/// Everything `auth` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// The issuer identifier, exactly as it appears in tokens and metadata. `None` derives
    /// `http://<bound address>`, which is what tests on port 0 want.
    pub issuer: Option<String>,
    /// `sqlite://path/to/file.db` (created if missing) or `sqlite::memory:`.
    pub database_url: String,
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
    /// Every minute, 1,000 rows per table (up to 60,000 an hour each), audit kept for 90 days.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            rows_per_table: 1000,
            audit_retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
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

/// A protected resource the AS knows: its identifier (the token audience) and the scopes it
/// understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    pub resource: String,
    pub scopes: Scopes,
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
        Ok(Self { resource, scopes })
    }
}

/// The introspection secret of the resource in [`Settings::for_tests`].
pub const TEST_INTROSPECTION_SECRET: &str = "test-introspection-secret";

impl Settings {
    /// Settings for an in-process test server: port 0, in-memory database, the demo user, and one
    /// resource server.
    pub fn for_tests(resource: &str) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer: None,
            database_url: "sqlite::memory:".into(),
            resources: vec![ResourceServer {
                resource: resource.to_owned(),
                scopes: Scopes::parse("echo profile").expect("constant scopes are valid"),
            }],
            access_token_ttl: Duration::from_secs(300),
            authorization_code_ttl: Duration::from_secs(60),
            refresh_token_idle_ttl: Duration::from_secs(7 * 24 * 3600),
            grant_ttl: Duration::from_secs(30 * 24 * 3600),
            login_session_ttl: Duration::from_secs(600),
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
            sweep: SweepSettings::default(),
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
    fn refuses_resources_without_scopes_or_with_fragments() {
        assert!(ResourceServer::parse("http://localhost:9090").is_err());
        assert!(ResourceServer::parse("http://localhost:9090#x echo").is_err());
        assert!(ResourceServer::parse("http://remote.example echo").is_err());
        assert!(ResourceServer::parse("").is_err());
    }
}
