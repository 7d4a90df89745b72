//! The `mcp-auth` command line: the flags of each command, and what each command prints.
//!
//! ```text
//! mcp-auth [serve] [--bind …] [--issuer …] …      run the authorization server (the default)
//! mcp-auth users add|list|remove|passwd …          manage users
//! mcp-auth clients add|list|remove …               manage pre-registered clients
//! mcp-auth keys list|rotate …                      manage signing keys
//! mcp-auth audit [--limit N]                       show the newest audit events
//! mcp-auth migrate [--check]                       bring the database's schema up to date
//! ```
//!
//! `--database-url` (or `DATABASE_URL`) is global: defined once, every command and subcommand
//! takes it after its name (`mcp-auth users list --database-url …`), and [`run`] opens the
//! database in one place. Before a command's name, flags are the server's (`mcp-auth --bind …`
//! means `mcp-auth serve --bind …`), so they do not mix with a command. Defaults are
//! [`crate::config::defaults`], the same values [`Settings::default`] holds. The work of the
//! administration commands is in [`crate::admin`] and the key ring; this module parses and prints.

use std::io::BufRead;
use std::net::SocketAddr;
use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use protocol::secret::Password;
use serve::client_addr::{Cidr, ForwardedHeader, TrustedProxies};

use crate::config::{
    ApprovalSettings, IntrospectionCredential, ResourceServer, SeedUser, Settings, SweepSettings, defaults,
};
use crate::startup::Application;
use crate::store::{Client, ExchangeTargets, Migrations, Store, StoredAuditEvent, StoredKey};
use crate::{admin, cimd, keyring};

/// OAuth 2.1 authorization server for MCP.
#[derive(Debug, Parser)]
#[command(name = "mcp-auth", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The database: `sqlite://file.db` (created if missing) or `postgres://user@host/database`
    /// (an existing database; several servers may share it).
    #[arg(long, env = "DATABASE_URL", default_value = defaults::DATABASE_URL, global = true)]
    pub database_url: String,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// The server's flags, for `mcp-auth` without a command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The programs `mcp-auth` holds.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server (what `mcp-auth` does without a command).
    Serve(ServeArgs),
    /// Apply the database migrations this build has and the database lacks, and say which.
    Migrate {
        /// Apply nothing: list what is missing and fail if anything is.
        #[arg(long)]
        check: bool,
    },
    #[command(flatten)]
    Administration(Administration),
}

/// The commands that work on the database while the server runs, or without it.
#[derive(Debug, Subcommand)]
pub enum Administration {
    /// Manage the users who can sign in.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage pre-registered (public) clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show the newest audit events.
    Audit {
        /// How many events.
        #[arg(long, env = "MCP_AUTH_AUDIT_LIMIT", default_value_t = defaults::AUDIT_LIMIT)]
        limit: i64,
    },
}

/// The flags of `mcp-auth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MCP_AUTH_BIND", default_value_t = defaults::BIND)]
    pub bind: SocketAddr,

    /// Issuer identifier: exactly what appears in `iss` and in the metadata. No trailing slash.
    #[arg(long, env = "MCP_AUTH_ISSUER", default_value = defaults::ISSUER)]
    pub issuer: String,

    /// A resource server this AS issues tokens for: "<resource-url> <scope> <scope>…". Repeatable;
    /// separate several with ';'.
    #[arg(long = "resource", env = "MCP_AUTH_RESOURCES", value_delimiter = ';',
          default_value = defaults::RESOURCE, value_parser = ResourceServer::parse)]
    pub resources: Vec<ResourceServer>,

    /// Access token lifetime in seconds.
    #[arg(long, env = "MCP_AUTH_ACCESS_TOKEN_TTL", default_value_t = defaults::ACCESS_TOKEN_TTL.as_secs())]
    pub access_token_ttl: u64,

    /// Idle lifetime of refresh tokens in seconds: unused this long, a refresh token expires.
    #[arg(long, env = "MCP_AUTH_REFRESH_TOKEN_IDLE_TTL",
          default_value_t = defaults::REFRESH_TOKEN_IDLE_TTL.as_secs())]
    pub refresh_token_idle_ttl: u64,

    /// Absolute lifetime of a grant in seconds: after this, refreshing stops and the user must
    /// authorize again.
    #[arg(long, env = "MCP_AUTH_GRANT_TTL", default_value_t = defaults::GRANT_TTL.as_secs())]
    pub grant_ttl: u64,

    /// A resource server's credential for the introspection endpoint: "<resource-url> <secret>"
    /// (secret at least 16 characters). The resource server sends HTTP Basic with the
    /// form-urlencoded resource URL as user name. Repeatable; separate several with ';'.
    #[arg(long = "introspection-credential", env = "MCP_AUTH_INTROSPECTION_CREDENTIALS", value_delimiter = ';',
          value_parser = IntrospectionCredential::parse)]
    pub introspection_credentials: Vec<IntrospectionCredential>,

    /// Development only: accept `http://localhost…` client ids (Client ID Metadata Documents) and
    /// fetch them from loopback. Without it, metadata documents must be https on public addresses.
    #[arg(long, env = "MCP_AUTH_DEV_ALLOW_LOOPBACK_CLIENT_METADATA")]
    pub dev_allow_loopback_client_metadata: bool,

    /// Create the demo user `demo` with this password if it does not exist. For demos only: the
    /// password is visible in the process list.
    #[arg(long, env = "MCP_AUTH_DEMO_PASSWORD")]
    pub demo_password: Option<String>,

    /// Seconds between two sweeps of expired rows (codes, sessions, spent tokens, old audit).
    #[arg(long, env = "MCP_AUTH_SWEEP_INTERVAL", default_value_t = defaults::SWEEP_INTERVAL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sweep_interval: u64,

    /// Days audit events are kept; older ones are swept. At least one: the login throttle counts
    /// failed sign-ins from the audit trail.
    #[arg(long, env = "MCP_AUTH_AUDIT_RETENTION_DAYS",
          default_value_t = defaults::AUDIT_RETENTION.as_secs() / 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_retention_days: u64,

    /// A resource (one of --resource) whose tokens carry the user's groups in a `groups` claim.
    /// Repeatable; separate several with ';'.
    #[arg(long = "groups-claim", env = "MCP_AUTH_GROUPS_CLAIM", value_delimiter = ';')]
    pub groups_claim: Vec<String>,

    /// Longest life in seconds of a token obtained by token exchange or after an approval (never
    /// longer than the token it was exchanged from).
    #[arg(long, env = "MCP_AUTH_EXCHANGED_TOKEN_TTL", default_value_t = defaults::EXCHANGED_TOKEN_TTL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub exchanged_token_ttl: u64,

    /// Seconds an out-of-band approval request waits for the person unless the client asks for
    /// less or more (up to --approval-max-expiry).
    #[arg(long, env = "MCP_AUTH_APPROVAL_EXPIRY", default_value_t = defaults::APPROVAL_EXPIRY.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub approval_expiry: u64,

    /// The longest in seconds a client may make an approval request wait.
    #[arg(long, env = "MCP_AUTH_APPROVAL_MAX_EXPIRY", default_value_t = defaults::APPROVAL_MAX_EXPIRY.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub approval_max_expiry: u64,

    /// Seconds a client must wait between two polls of an approval request (`slow_down` adds 5).
    #[arg(long, env = "MCP_AUTH_APPROVAL_POLL_INTERVAL", default_value_t = defaults::APPROVAL_POLL_INTERVAL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub approval_poll_interval: u64,

    /// The choices of "Approve and remember for …" on the approval page, in seconds, separated by
    /// ','. Empty: no remembering, each call is approved once.
    #[arg(long, env = "MCP_AUTH_APPROVAL_REMEMBER", value_delimiter = ',',
          default_value = "3600,86400", value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub approval_remember: Vec<u64>,

    /// A reverse proxy or load balancer in front of this server, as an address or CIDR block
    /// (10.0.0.0/8, ::1/128): for requests from it, the client address of the audit trail and the
    /// login throttle is read from the --forwarded-header. Repeatable; separate several with ','.
    /// None by default: anyone can send that header, so only these peers' is read.
    #[arg(long = "trusted-proxy", env = "MCP_AUTH_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = Cidr::from_str)]
    pub trusted_proxies: Vec<Cidr>,

    /// The header the --trusted-proxy peers append the client's address to, and the only one read:
    /// x-forwarded-for or forwarded (RFC 7239). A proxy passes the other one on as the client
    /// wrote it.
    #[arg(long, env = "MCP_AUTH_FORWARDED_HEADER", default_value = ForwardedHeader::default().as_str(),
          value_parser = ForwardedHeader::from_str)]
    pub forwarded_header: ForwardedHeader,

    /// Do not migrate the database at start; refuse to start if it lacks migrations (apply them
    /// with `mcp-auth migrate` as a deploy step). Without it, the server applies them itself.
    #[arg(long, env = "MCP_AUTH_NO_MIGRATE")]
    pub no_migrate: bool,
}

impl ServeArgs {
    /// The server's settings: these flags over [`Settings::default`]. Fails when `--groups-claim`
    /// names a resource that is not one of `--resource`.
    pub fn into_settings(self, database_url: String) -> anyhow::Result<Settings> {
        let defaults = Settings::default();
        let mut resources = self.resources;
        for named in &self.groups_claim {
            let resource = resources
                .iter_mut()
                .find(|r| r.resource == *named)
                .with_context(|| format!("--groups-claim {named}: not one of the --resource values"))?;
            resource.groups_claim = true;
        }
        let mut remember: Vec<Duration> =
            self.approval_remember.iter().map(|s| Duration::from_secs(*s)).collect();
        remember.sort();
        remember.dedup();
        Ok(Settings {
            bind: self.bind,
            issuer: Some(self.issuer),
            database_url,
            resources,
            access_token_ttl: Duration::from_secs(self.access_token_ttl),
            refresh_token_idle_ttl: Duration::from_secs(self.refresh_token_idle_ttl),
            grant_ttl: Duration::from_secs(self.grant_ttl),
            introspection_credentials: self.introspection_credentials,
            client_metadata: cimd::FetchPolicy {
                allow_loopback: self.dev_allow_loopback_client_metadata,
                ..defaults.client_metadata
            },
            seed_user: self
                .demo_password
                .map(|p| SeedUser { username: "demo".into(), password: Password::new(p) }),
            sweep: SweepSettings {
                interval: Duration::from_secs(self.sweep_interval),
                audit_retention: Duration::from_secs(self.audit_retention_days.saturating_mul(86_400)),
                ..defaults.sweep
            },
            exchanged_token_ttl: Duration::from_secs(self.exchanged_token_ttl),
            approvals: ApprovalSettings {
                default_expiry: Duration::from_secs(self.approval_expiry.min(self.approval_max_expiry)),
                max_expiry: Duration::from_secs(self.approval_max_expiry),
                poll_interval: Duration::from_secs(self.approval_poll_interval),
                remember_choices: remember,
            },
            trusted_proxies: self
                .trusted_proxies
                .into_iter()
                .collect::<TrustedProxies>()
                .with_header(self.forwarded_header),
            migrations: if self.no_migrate { Migrations::Check } else { Migrations::Apply },
            ..defaults
        })
    }
}

/// `mcp-auth users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user. The password is read from the first line of standard input.
    Add {
        username: String,
        /// A group the user belongs to (tokens for resources named by --groups-claim carry them).
        /// Repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Show a user's groups, adding and removing some first.
    Groups {
        username: String,
        /// Add the user to this group. Repeatable.
        #[arg(long = "add")]
        add: Vec<String>,
        /// Remove the user from this group. Repeatable.
        #[arg(long = "remove")]
        remove: Vec<String>,
    },
    /// List users.
    List,
    /// Remove a user, with their consents and grants.
    Remove { username: String },
    /// Set a new password (read from standard input); revokes the user's tokens and sessions.
    Passwd { username: String },
}

/// `mcp-auth clients …`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Pre-register a public client (PKCE, no secret), or with --confidential a confidential one
    /// (a gateway: token exchange and out-of-band approvals).
    Add {
        /// Name shown on the consent and approval pages.
        #[arg(long)]
        name: String,
        /// A redirect URI (https, or http on a loopback host). Repeatable. Required for public
        /// clients.
        #[arg(long = "redirect-uri", required_unless_present = "confidential")]
        redirect_uris: Vec<String>,
        /// The client id to use; a random one by default.
        #[arg(long)]
        client_id: Option<String>,
        /// Do not issue refresh tokens to this (public) client.
        #[arg(long, conflicts_with = "confidential")]
        no_refresh_tokens: bool,
        /// A confidential client: authenticates with a secret (printed once) or, with --jwks-uri or
        /// --jwks-file, with private_key_jwt.
        #[arg(long)]
        confidential: bool,
        /// private_key_jwt: where the client publishes its public keys.
        #[arg(long, requires = "confidential", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// private_key_jwt: a file holding the client's public keys (a JWK Set).
        #[arg(long, requires = "confidential")]
        jwks_file: Option<std::path::PathBuf>,
        /// A resource the client acts for: it may exchange and introspect tokens issued for it.
        /// Repeatable.
        #[arg(long = "acts-for", requires = "confidential")]
        acts_for: Vec<String>,
        /// A resource the client may obtain tokens for, by token exchange or an approved call (a
        /// gateway's upstream). Repeatable; without it the client obtains tokens for nothing.
        #[arg(long = "exchange-to", requires = "acts_for")]
        exchange_to: Vec<String>,
        /// A grant type of the confidential client (default: token exchange and CIBA). Repeatable.
        #[arg(long = "grant-type", requires = "confidential")]
        grant_types: Vec<String>,
    },
    /// Set the resources a client acting for others may obtain tokens for, replacing its list
    /// (none: nothing). For a gateway registered before --exchange-to existed, instead of
    /// removing it, which would end its users' grants and standing approvals.
    ExchangeTo {
        client_id: String,
        /// The resources (a gateway's upstreams).
        resources: Vec<String>,
    },
    /// List clients.
    List,
    /// Remove a client, with its grants and consents.
    Remove { client_id: String },
}

/// `mcp-auth keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state.
    List,
    /// Add a new signing key. It is published at once and signs after --publish-delay; the
    /// current keys stay published until their last tokens have expired.
    Rotate {
        /// Seconds between publishing the new key and signing with it (at least the time
        /// resource servers may cache the JWKS).
        #[arg(long, env = "MCP_AUTH_KEY_PUBLISH_DELAY", default_value_t = defaults::KEY_PUBLISH_DELAY.as_secs())]
        publish_delay: u64,
        /// The server's access token lifetime in seconds: old keys stay published this long (plus
        /// a minute) after the new key takes over.
        #[arg(long, env = "MCP_AUTH_ACCESS_TOKEN_TTL", default_value_t = defaults::ACCESS_TOKEN_TTL.as_secs())]
        access_token_ttl: u64,
    },
}

/// Runs the parsed command line: the server until Ctrl-C or SIGTERM, or one administration
/// command against the database.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => {
            let app = Application::build(args.into_settings(cli.database_url)?).await?;
            app.run_until(serve::shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate { check } => migrate(&cli.database_url, check).await,
        Command::Administration(command) => {
            let store = Store::connect(&cli.database_url).await?;
            let done = administer(&store, command).await;
            // Lets the writer finish and folds the write-ahead log in, as `serve` does at its end.
            store.close().await;
            done
        }
    }
}

/// `mcp-auth migrate`: applies (or with `check`, lists) what the database lacks.
async fn migrate(database_url: &str, check: bool) -> anyhow::Result<()> {
    let shown = crate::store::display_url(database_url);
    let mode = if check { Migrations::Check } else { Migrations::Apply };
    let (store, schema) =
        Store::open(database_url, mode).await.with_context(|| format!("database {shown}"))?;
    store.close().await;
    for (version, description) in &schema.applied_now {
        println!("applied migration {version} ({description})");
    }
    println!("{shown}: schema at migration {}, up to date", schema.version);
    Ok(())
}

async fn administer(store: &Store, command: Administration) -> anyhow::Result<()> {
    match command {
        Administration::Users(command) => users(store, command).await,
        Administration::Clients(command) => clients(store, command).await,
        Administration::Keys(command) => keys(store, command).await,
        Administration::Audit { limit } => {
            for event in store.audit_events(limit).await? {
                println!("{}", audit_line(&event));
            }
            Ok(())
        }
    }
}

async fn users(store: &Store, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add { username, groups } => {
            let user = admin::add_user(store, &username, &read_password()?, &groups, now()).await?;
            println!("added user {} (sub {})", user.username, user.id);
        }
        UsersCommand::Groups { username, add, remove } => {
            let groups = admin::change_groups(store, &username, &add, &remove).await?;
            println!(
                "{username}: {}",
                if groups.is_empty() { "no groups".to_owned() } else { groups.join(" ") }
            );
        }
        UsersCommand::List => {
            for user in store.list_users().await? {
                println!("{}\t{}", user.username, user.id);
            }
        }
        UsersCommand::Remove { username } => {
            anyhow::ensure!(store.delete_user(&username).await?, "no user {username:?}");
            println!("removed user {username}");
        }
        UsersCommand::Passwd { username } => {
            admin::change_password(store, &username, &read_password()?, now()).await?;
            println!("changed the password of {username}; their tokens and sessions are revoked");
        }
    }
    Ok(())
}

/// What `clients list` says of a client that acts for resources: for which, and what it may
/// obtain tokens for (loudly, when that is anything).
fn acting(client: &Client) -> String {
    if client.acts_for.is_empty() {
        return String::new();
    }
    let targets = match &client.exchange_to {
        ExchangeTargets::Listed(listed) if listed.is_empty() => "nothing".to_owned(),
        ExchangeTargets::Listed(listed) => listed.join(" "),
        ExchangeTargets::Unrestricted => {
            format!(
                "ANY RESOURCE (registered before --exchange-to; mcp-auth clients exchange-to {} <resource>…)",
                client.client_id
            )
        }
    };
    format!("\tacts for {}; exchanges to {targets}", client.acts_for.join(" "))
}

async fn clients(store: &Store, command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Add {
            name,
            redirect_uris,
            client_id,
            no_refresh_tokens,
            confidential: true,
            jwks_uri,
            jwks_file,
            acts_for,
            exchange_to,
            grant_types,
        } => {
            let auth = match (jwks_uri, jwks_file) {
                (Some(uri), _) => admin::ConfidentialAuth::JwksUri(uri),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let jwks = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))?;
                    admin::ConfidentialAuth::Jwks(jwks)
                }
                (None, None) => admin::ConfidentialAuth::Secret,
            };
            let _ = no_refresh_tokens;
            let new = admin::NewConfidentialClient {
                client_id,
                name,
                auth,
                acts_for,
                exchange_to,
                grant_types: (!grant_types.is_empty()).then_some(grant_types),
                redirect_uris,
            };
            let (client, secret) = admin::add_confidential_client(store, new, now()).await?;
            println!("{}", client.client_id);
            if !client.acts_for.is_empty() && client.exchange_to == ExchangeTargets::none() {
                eprintln!(
                    "note: it obtains tokens for no resource (introspection only); a gateway needs \
                     --exchange-to for each upstream (or: mcp-auth clients exchange-to {} <resource>…)",
                    client.client_id
                );
            }
            if let Some(secret) = secret {
                // Shown once: the store keeps only its hash.
                println!("client secret (shown once, store it now): {}", secret.secret());
            }
        }
        ClientsCommand::Add { name, redirect_uris, client_id, no_refresh_tokens, .. } => {
            let client = admin::add_client(
                store,
                client_id.as_deref(),
                &name,
                redirect_uris,
                !no_refresh_tokens,
                now(),
            )
            .await?;
            println!("{}", client.client_id);
        }
        ClientsCommand::ExchangeTo { client_id, resources } => {
            admin::set_exchange_targets(store, &client_id, resources.clone(), now()).await?;
            let targets = if resources.is_empty() { "nothing".to_owned() } else { resources.join(" ") };
            println!("{client_id} exchanges to {targets}");
        }
        ClientsCommand::List => {
            for client in store.list_clients().await? {
                println!(
                    "{}\t{:?}\t{}\t{}\t{}{}",
                    client.client_id,
                    client.registration,
                    client.auth_method().as_str(),
                    client.display_name(),
                    client.redirect_uris.join(" "),
                    acting(&client)
                );
            }
        }
        ClientsCommand::Remove { client_id } => {
            anyhow::ensure!(store.delete_client(&client_id).await?, "no client {client_id:?}");
            println!("removed client {client_id}");
        }
    }
    Ok(())
}

async fn keys(store: &Store, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => {
            let now = now();
            let keys = store.signing_keys().await?;
            if keys.is_empty() {
                println!("no keys yet: the server creates one when it first starts");
            }
            for key in &keys {
                println!("{}", key_entry(key, &keys, now));
            }
        }
        KeysCommand::Rotate { publish_delay, access_token_ttl } => {
            let keep_old_for = Duration::from_secs(access_token_ttl + 60);
            let key = keyring::rotate(store, now(), Duration::from_secs(publish_delay), keep_old_for).await?;
            println!(
                "added key {}: published now, signing from {}; running servers pick it up within {} s",
                key.kid,
                date(key.activates_at, now()),
                keyring::RELOAD_INTERVAL.as_secs()
            );
        }
    }
    Ok(())
}

/// One key of `keys list`: two lines.
fn key_entry(key: &StoredKey, ring: &[StoredKey], now: i64) -> String {
    format!(
        "{}  {}  {}\n    created {}; signs from {}; retires {}",
        key.kid,
        key.algorithm,
        key.status(now, ring),
        date(key.created_at, now),
        date(key.activates_at, now),
        key.retires_at.map_or("-".into(), |at| date(at, now))
    )
}

/// One event of `audit`; `-` for what the event does not name.
fn audit_line(event: &StoredAuditEvent) -> String {
    format!(
        "{}  {:<24} request={} client={} user={} grant={} ip={} {}",
        event.at,
        event.kind,
        event.request_id.as_deref().unwrap_or("-"),
        event.client_id.as_deref().unwrap_or("-"),
        event.user_id.as_deref().unwrap_or("-"),
        event.grant_id.as_deref().unwrap_or("-"),
        event.ip.as_deref().unwrap_or("-"),
        event.detail.as_deref().unwrap_or(""),
    )
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(Password::new(line.trim_end_matches(['\r', '\n'])))
}

/// A timestamp and how far it is from `now`.
fn date(timestamp: i64, now: i64) -> String {
    match now - timestamp {
        s if s >= 0 => format!("{timestamp} ({s} s ago)"),
        s => format!("{timestamp} (in {} s)", -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("mcp-auth").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_command_tree_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn without_flags_the_server_runs_with_the_default_settings() {
        let cli = parse(&[]);
        assert!(cli.command.is_none());
        let settings = cli.serve.into_settings(cli.database_url).unwrap();
        let defaults = Settings::default();
        assert_eq!(settings.bind, defaults.bind);
        assert_eq!(settings.issuer, defaults.issuer);
        assert_eq!(settings.database_url, defaults.database_url);
        assert_eq!(settings.resources, defaults.resources);
        assert_eq!(settings.access_token_ttl, defaults.access_token_ttl);
        assert_eq!(settings.authorization_code_ttl, defaults.authorization_code_ttl);
        assert_eq!(settings.refresh_token_idle_ttl, defaults.refresh_token_idle_ttl);
        assert_eq!(settings.grant_ttl, defaults.grant_ttl);
        assert_eq!(settings.login_session_ttl, defaults.login_session_ttl);
        assert_eq!(settings.client_metadata.allow_loopback, defaults.client_metadata.allow_loopback);
        assert_eq!(settings.client_metadata.timeout, defaults.client_metadata.timeout);
        assert!(settings.introspection_credentials.is_empty() && settings.seed_user.is_none());
        assert!(settings.trusted_proxies.is_empty());
        assert_eq!(settings.trusted_proxies.header(), ForwardedHeader::XForwardedFor);
    }

    #[test]
    fn serve_flags_reach_the_settings() {
        let cli = parse(&[
            "serve",
            "--bind",
            "127.0.0.1:1",
            "--issuer",
            "https://as.example",
            "--resource",
            "https://mcp.example echo;https://other.example read",
            "--access-token-ttl",
            "10",
            "--refresh-token-idle-ttl",
            "20",
            "--grant-ttl",
            "30",
            "--introspection-credential",
            "https://mcp.example 0123456789abcdef",
            "--dev-allow-loopback-client-metadata",
            "--demo-password",
            "pw",
        ]);
        let Some(Command::Serve(args)) = cli.command else { panic!("serve") };
        let settings = args.into_settings(cli.database_url).unwrap();
        assert_eq!(settings.bind.port(), 1);
        assert_eq!(settings.issuer.as_deref(), Some("https://as.example"));
        assert_eq!(settings.resources.len(), 2);
        assert_eq!(
            (settings.access_token_ttl, settings.refresh_token_idle_ttl, settings.grant_ttl),
            (Duration::from_secs(10), Duration::from_secs(20), Duration::from_secs(30))
        );
        assert_eq!(settings.introspection_credentials[0].resource, "https://mcp.example");
        assert!(settings.client_metadata.allow_loopback);
        assert_eq!(settings.seed_user.map(|u| u.username).as_deref(), Some("demo"));
        // Not a flag: as by default.
        assert_eq!(settings.authorization_code_ttl, defaults::AUTHORIZATION_CODE_TTL);
    }

    #[test]
    fn exchange_groups_and_approval_flags_reach_the_settings() {
        let cli = parse(&[
            "--resource",
            "https://mcp.example echo;https://gateway.example echo",
            "--groups-claim",
            "https://mcp.example",
            "--exchanged-token-ttl",
            "30",
            "--approval-expiry",
            "120",
            "--approval-poll-interval",
            "2",
            "--approval-remember",
            "86400,3600,3600",
        ]);
        let settings = cli.serve.into_settings(cli.database_url).unwrap();
        let groups: Vec<bool> = settings.resources.iter().map(|r| r.groups_claim).collect();
        assert_eq!(groups, [true, false]);
        assert_eq!(settings.exchanged_token_ttl, Duration::from_secs(30));
        assert_eq!(settings.approvals.default_expiry, Duration::from_secs(120));
        assert_eq!(settings.approvals.poll_interval, Duration::from_secs(2));
        assert_eq!(
            settings.approvals.remember_choices,
            [Duration::from_secs(3600), Duration::from_secs(86_400)],
            "sorted, each once"
        );

        let defaults = parse(&[]).serve.into_settings(String::new()).unwrap();
        assert_eq!(defaults.exchanged_token_ttl, defaults::EXCHANGED_TOKEN_TTL);
        assert_eq!(defaults.approvals.remember_choices, defaults::APPROVAL_REMEMBER_CHOICES);

        let unknown = parse(&["--groups-claim", "https://elsewhere.example"]);
        assert!(unknown.serve.into_settings(String::new()).is_err(), "not one of --resource");
        for refused in [
            &["--exchanged-token-ttl", "0"][..],
            &["--exchanged-token-ttl", "86400"],
            &["--approval-remember", "5"],
        ] {
            let args = std::iter::once("mcp-auth").chain(refused.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn trusted_proxies_are_repeatable_comma_separated_and_refused_when_not_cidr_blocks() {
        let cli = parse(&["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1, 192.168.0.0/16"]);
        let settings = cli.serve.into_settings(cli.database_url).unwrap();
        assert_eq!(settings.trusted_proxies.to_string(), "10.0.0.0/8, ::1/128, 192.168.0.0/16");
        for refused in ["10.0.0.1/8", "10.0.0.0/33", "proxy.internal", "10.0.0.0/8;10.1.0.0/16"] {
            let args = ["mcp-auth", "--trusted-proxy", refused];
            let error = Cli::try_parse_from(args).expect_err(refused).to_string();
            assert!(error.contains("--trusted-proxy") && error.contains("CIDR"), "{error}");
        }
    }

    #[test]
    fn the_forwarded_header_is_x_forwarded_for_unless_forwarded_is_chosen() {
        let cli = parse(&["--trusted-proxy", "10.0.0.0/8", "--forwarded-header", "forwarded"]);
        let settings = cli.serve.into_settings(cli.database_url).unwrap();
        assert_eq!(settings.trusted_proxies.header(), ForwardedHeader::Forwarded);
        assert_eq!(settings.trusted_proxies.to_string(), "10.0.0.0/8");
        let error =
            Cli::try_parse_from(["mcp-auth", "--forwarded-header", "x-real-ip"]).unwrap_err().to_string();
        assert!(error.contains("x-forwarded-for or forwarded"), "{error}");
    }

    #[test]
    fn confidential_clients_and_groups_have_their_commands() {
        let Some(Command::Administration(Administration::Clients(ClientsCommand::Add {
            confidential,
            acts_for,
            exchange_to,
            jwks_uri,
            redirect_uris,
            ..
        }))) = parse(&[
            "clients",
            "add",
            "--confidential",
            "--name",
            "Gateway",
            "--acts-for",
            "http://localhost:9100",
            "--jwks-uri",
            "http://localhost:9100/jwks.json",
            "--exchange-to",
            "http://localhost:9090",
            "--exchange-to",
            "http://localhost:9091",
        ])
        .command
        else {
            panic!("clients add")
        };
        assert!(confidential && redirect_uris.is_empty());
        assert_eq!((acts_for.len(), jwks_uri.as_deref()), (1, Some("http://localhost:9100/jwks.json")));
        assert_eq!(exchange_to, ["http://localhost:9090", "http://localhost:9091"]);
        let targets_without_acting = [
            "mcp-auth",
            "clients",
            "add",
            "--confidential",
            "--name",
            "G",
            "--exchange-to",
            "http://localhost:9090",
        ];
        assert!(Cli::try_parse_from(targets_without_acting).is_err(), "--exchange-to needs --acts-for");
        let public_without_uri = ["mcp-auth", "clients", "add", "--name", "App"];
        assert!(Cli::try_parse_from(public_without_uri).is_err(), "a public client needs a redirect URI");
        let keys_for_public = [
            "mcp-auth",
            "clients",
            "add",
            "--name",
            "App",
            "--redirect-uri",
            "https://a.example/cb",
            "--jwks-uri",
            "https://a.example/jwks",
        ];
        assert!(Cli::try_parse_from(keys_for_public).is_err(), "keys are for confidential clients");

        let Some(Command::Administration(Administration::Users(UsersCommand::Groups {
            add, remove, ..
        }))) = parse(&["users", "groups", "alice", "--add", "admins", "--add", "ops", "--remove", "readers"])
            .command
        else {
            panic!("users groups")
        };
        assert_eq!((add.len(), remove.len()), (2, 1));
        let Some(Command::Administration(Administration::Users(UsersCommand::Add { groups, .. }))) =
            parse(&["users", "add", "bob", "--group", "admins"]).command
        else {
            panic!("users add")
        };
        assert_eq!(groups, ["admins"]);
    }

    #[test]
    fn the_database_url_is_global_and_defaults_like_the_settings() {
        assert_eq!(parse(&["users", "list"]).database_url, Settings::default().database_url);
        for args in [
            &["users", "--database-url", "sqlite::memory:", "list"][..],
            &["users", "list", "--database-url", "sqlite::memory:"],
            &["keys", "rotate", "--database-url", "sqlite::memory:"],
            &["audit", "--database-url", "sqlite::memory:"],
            &["serve", "--database-url", "sqlite::memory:"],
            &["--database-url", "sqlite::memory:"],
        ] {
            assert_eq!(parse(args).database_url, "sqlite::memory:", "{args:?}");
        }
    }

    #[test]
    fn administration_defaults_come_from_the_config() {
        let Some(Command::Administration(Administration::Keys(KeysCommand::Rotate {
            publish_delay,
            access_token_ttl,
        }))) = parse(&["keys", "rotate"]).command
        else {
            panic!("keys rotate")
        };
        assert_eq!(publish_delay, defaults::KEY_PUBLISH_DELAY.as_secs());
        assert_eq!(access_token_ttl, Settings::default().access_token_ttl.as_secs());
        let Some(Command::Administration(Administration::Audit { limit })) = parse(&["audit"]).command else {
            panic!("audit")
        };
        assert_eq!(limit, defaults::AUDIT_LIMIT);
    }

    #[test]
    fn server_flags_do_not_mix_with_a_command() {
        let mixed = ["mcp-auth", "--bind", "127.0.0.1:1", "users", "list"];
        assert!(Cli::try_parse_from(mixed).is_err());
        assert!(Cli::try_parse_from(["mcp-auth", "users", "list", "--bind", "127.0.0.1:1"]).is_err());
        // Before a command's name every flag is the server's, this one too (clap's
        // `args_conflicts_with_subcommands` makes no exception for global flags).
        assert!(Cli::try_parse_from(["mcp-auth", "--database-url", "x", "users", "list"]).is_err());
    }

    #[test]
    fn dates_say_how_far_they_are_from_now() {
        assert_eq!(date(90, 100), "90 (10 s ago)");
        assert_eq!(date(100, 100), "100 (0 s ago)");
        assert_eq!(date(130, 100), "130 (in 30 s)");
    }

    #[test]
    fn an_audit_line_names_what_is_missing_with_a_dash() {
        let event = StoredAuditEvent {
            at: 7,
            kind: "login_failed".into(),
            request_id: Some("r1".into()),
            client_id: None,
            user_id: None,
            grant_id: None,
            ip: Some("127.0.0.1".into()),
            detail: None,
        };
        assert_eq!(
            audit_line(&event),
            "7  login_failed             request=r1 client=- user=- grant=- ip=127.0.0.1 "
        );
    }
}
