//! `mcp-auth`: command-line entry point. Parses, dispatches and prints; the work is in the library.
//!
//! ```text
//! mcp-auth [serve] [--bind …] [--issuer …] …      run the authorization server (the default)
//! mcp-auth users add|list|remove|passwd …          manage users
//! mcp-auth clients add|list|remove …               manage pre-registered clients
//! mcp-auth keys list|rotate …                      manage signing keys
//! mcp-auth audit [--limit N]                       show the newest audit events
//! ```

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use mcp_auth::admin;
use mcp_auth::config::{IntrospectionCredential, ResourceServer, SeedUser, Settings};
use mcp_auth::startup::Application;
use mcp_auth::store::Store;
use mcp_auth::tokens;
use protocol::secret::Password;
use tracing_subscriber::EnvFilter;

/// OAuth 2.1 authorization server for MCP.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authorization server (what `mcp-auth` does without a command).
    Serve(ServeArgs),
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
        #[command(flatten)]
        database: DatabaseArgs,
        /// How many events.
        #[arg(long, env = "MCP_AUTH_AUDIT_LIMIT", default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// SQLite database (created and migrated if missing).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mcp-auth.db")]
    database_url: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,

    /// Address to listen on.
    #[arg(long, env = "MCP_AUTH_BIND", default_value = "127.0.0.1:9000")]
    bind: SocketAddr,

    /// Issuer identifier: exactly what appears in `iss` and in the metadata. No trailing slash.
    #[arg(long, env = "MCP_AUTH_ISSUER", default_value = "http://localhost:9000")]
    issuer: String,

    /// A resource server this AS issues tokens for: "<resource-url> <scope> <scope>…". Repeatable;
    /// separate several with ';'.
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

    /// Development only: accept `http://localhost…` client ids (Client ID Metadata Documents) and
    /// fetch them from loopback. Without it, metadata documents must be https on public addresses.
    #[arg(long, env = "MCP_AUTH_DEV_ALLOW_LOOPBACK_CLIENT_METADATA")]
    dev_allow_loopback_client_metadata: bool,

    /// Create the demo user `demo` with this password if it does not exist. For demos only: the
    /// password is visible in the process list.
    #[arg(long, env = "MCP_AUTH_DEMO_PASSWORD")]
    demo_password: Option<String>,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user. The password is read from the first line of standard input.
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        username: String,
    },
    /// List users.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Remove a user, with their consents and grants.
    Remove {
        #[command(flatten)]
        database: DatabaseArgs,
        username: String,
    },
    /// Set a new password (read from standard input); revokes the user's tokens and sessions.
    Passwd {
        #[command(flatten)]
        database: DatabaseArgs,
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Pre-register a public client (PKCE, no secret).
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Name shown on the consent page.
        #[arg(long)]
        name: String,
        /// A redirect URI (https, or http on a loopback host). Repeatable.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// The client id to use; a random one by default.
        #[arg(long)]
        client_id: Option<String>,
        /// Do not issue refresh tokens to this client.
        #[arg(long)]
        no_refresh_tokens: bool,
    },
    /// List clients.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Remove a client, with its grants and consents.
    Remove {
        #[command(flatten)]
        database: DatabaseArgs,
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys and their state.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Add a new signing key. It is published at once and signs after --publish-delay; the
    /// current keys stay published until their last tokens have expired.
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Seconds between publishing the new key and signing with it (at least the time
        /// resource servers may cache the JWKS).
        #[arg(long, env = "MCP_AUTH_KEY_PUBLISH_DELAY", default_value_t = 300)]
        publish_delay: u64,
        /// The server's access token lifetime in seconds: old keys stay published this long (plus
        /// a minute) after the new key takes over.
        #[arg(long, env = "MCP_AUTH_ACCESS_TOKEN_TTL", default_value_t = 300)]
        access_token_ttl: u64,
    },
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(Password::new(line.trim_end_matches(['\r', '\n'])))
}

fn date(timestamp: i64) -> String {
    let seconds_ago = now() - timestamp;
    match seconds_ago {
        s if s >= 0 => format!("{timestamp} ({s} s ago)"),
        s => format!("{timestamp} (in {} s)", -s),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Users(command)) => users(command).await,
        Some(Command::Clients(command)) => clients(command).await,
        Some(Command::Keys(command)) => keys(command).await,
        Some(Command::Audit { database, limit }) => {
            let store = Store::connect(&database.database_url).await?;
            for event in store.audit_events(limit).await? {
                println!(
                    "{}  {:<24} request={} client={} user={} grant={} ip={} {}",
                    event.at,
                    event.kind,
                    event.request_id.as_deref().unwrap_or("-"),
                    event.client_id.as_deref().unwrap_or("-"),
                    event.user_id.as_deref().unwrap_or("-"),
                    event.grant_id.as_deref().unwrap_or("-"),
                    event.ip.as_deref().unwrap_or("-"),
                    event.detail.as_deref().unwrap_or(""),
                );
            }
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings {
        bind: args.bind,
        issuer: Some(args.issuer),
        database_url: args.database.database_url,
        resources: args.resources,
        access_token_ttl: Duration::from_secs(args.access_token_ttl),
        authorization_code_ttl: Duration::from_secs(60),
        refresh_token_idle_ttl: Duration::from_secs(args.refresh_token_idle_ttl),
        grant_ttl: Duration::from_secs(args.grant_ttl),
        login_session_ttl: Duration::from_secs(600),
        introspection_credentials: args.introspection_credentials,
        client_metadata: mcp_auth::cimd::FetchPolicy {
            allow_loopback: args.dev_allow_loopback_client_metadata,
            ..Default::default()
        },
        seed_user: args
            .demo_password
            .map(|p| SeedUser { username: "demo".into(), password: Password::new(p) }),
        sweep: Default::default(),
    };
    let app = Application::build(settings).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn users(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add { database, username } => {
            let store = Store::connect(&database.database_url).await?;
            let user = admin::add_user(&store, &username, &read_password()?, now()).await?;
            println!("added user {} (sub {})", user.username, user.id);
        }
        UsersCommand::List { database } => {
            let store = Store::connect(&database.database_url).await?;
            for user in store.list_users().await? {
                println!("{}\t{}", user.username, user.id);
            }
        }
        UsersCommand::Remove { database, username } => {
            let store = Store::connect(&database.database_url).await?;
            anyhow::ensure!(store.delete_user(&username).await?, "no user {username:?}");
            println!("removed user {username}");
        }
        UsersCommand::Passwd { database, username } => {
            let store = Store::connect(&database.database_url).await?;
            admin::change_password(&store, &username, &read_password()?, now()).await?;
            println!("changed the password of {username}; their tokens and sessions are revoked");
        }
    }
    Ok(())
}

async fn clients(command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Add { database, name, redirect_uris, client_id, no_refresh_tokens } => {
            let store = Store::connect(&database.database_url).await?;
            let client = admin::add_client(
                &store,
                client_id.as_deref(),
                &name,
                redirect_uris,
                !no_refresh_tokens,
                now(),
            )
            .await?;
            println!("{}", client.client_id);
        }
        ClientsCommand::List { database } => {
            let store = Store::connect(&database.database_url).await?;
            for client in store.list_clients().await? {
                println!(
                    "{}\t{:?}\t{}\t{}",
                    client.client_id,
                    client.registration,
                    client.display_name(),
                    client.redirect_uris.join(" ")
                );
            }
        }
        ClientsCommand::Remove { database, client_id } => {
            let store = Store::connect(&database.database_url).await?;
            anyhow::ensure!(store.delete_client(&client_id).await?, "no client {client_id:?}");
            println!("removed client {client_id}");
        }
    }
    Ok(())
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { database } => {
            let store = Store::connect(&database.database_url).await?;
            let now = now();
            let keys = store.signing_keys().await?;
            if keys.is_empty() {
                println!("no keys yet: the server creates one when it first starts");
            }
            let signing = keys.iter().find(|k| k.activates_at <= now && k.retires_at.is_none_or(|r| r > now));
            for key in &keys {
                let status = match key.retires_at {
                    Some(at) if at <= now => "retired",
                    _ if signing.is_some_and(|s| s.kid == key.kid) => "signing",
                    _ if key.activates_at > now => "published, signs later",
                    Some(_) => "published until its tokens expire",
                    None => "published",
                };
                println!(
                    "{}  {}  {status}\n    created {}; signs from {}; retires {}",
                    key.kid,
                    key.algorithm,
                    date(key.created_at),
                    date(key.activates_at),
                    key.retires_at.map_or("-".into(), date)
                );
            }
        }
        KeysCommand::Rotate { database, publish_delay, access_token_ttl } => {
            let store = Store::connect(&database.database_url).await?;
            let keep_old_for = Duration::from_secs(access_token_ttl + 60);
            let key = tokens::rotate(&store, now(), Duration::from_secs(publish_delay), keep_old_for).await?;
            println!(
                "added key {}: published now, signing from {}; running servers pick it up within {} s",
                key.kid,
                date(key.activates_at),
                tokens::RELOAD_INTERVAL.as_secs()
            );
        }
    }
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
