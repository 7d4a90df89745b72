//! The `mcp-gateway` command line.
//!
//! ```text
//! mcp-gateway serve --upstream NAME=URL… --catalog CATALOG --policy POLICY (--key-file F | secret)
//!                                                       the gateway itself (http://localhost:9100)
//! mcp-gateway key --key-file FILE                      the public JWK Set of its private_key_jwt key
//! mcp-gateway catalog update CATALOG --upstream NAME --tools FILE|-   refresh one upstream's tools
//! mcp-gateway policy check POLICY --catalog CATALOG     validate a policy file offline (for CI)
//! mcp-gateway policy explain POLICY --catalog CATALOG --user … --tool … [--args JSON] …
//!                                                       the decision on one call, and why
//! mcp-gateway audit [--database-url URL] [--user …] [--tool …] [--decision …] [--since SECS]
//!                   [--limit N] [--json]            the recorded decisions, newest first
//!                                                   (sqlite://FILE or postgres://…)
//! ```
//!
//! `CATALOG` is a JSON object of the upstreams and the tools they list:
//! `{"notes": {"trust_annotations": false, "groups": {"list_notes": "read"}, "tools": [ … ]}}`,
//! the `tools` being exactly what the upstream's `tools/list` returned.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use protocol::scope::Scopes;
use serde_json::{Map, Value};
use serve::client_addr::{Cidr, ForwardedHeader, TrustedProxies};

use crate::audit::{self, AuditError, AuditLog, Filter, Outcome};
use crate::catalog::{Catalog, UpstreamTools};
use crate::policy::{CallFacts, Consent, Policies, call_scopes};
use crate::upstream::SessionLimits;

/// MCP gateway: per-tool and per-argument policy between MCP clients and servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-gateway", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: an MCP server whose tools are the upstreams', decided by policy.
    Serve(Box<ServeArgs>),
    /// Print the public half of the gateway's `private_key_jwt` key as a JWK Set (for `mcp-auth
    /// clients add --confidential --jwks-file`), creating the key file first if it is missing.
    Key {
        #[arg(long, env = "MCP_GATEWAY_KEY_FILE")]
        key_file: PathBuf,
    },
    /// Work with policy files offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Work with the catalog (the upstreams' tools, their groups and scopes).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Show the decisions the gateway recorded, newest first. Exit status 1 when there is no
    /// audit database at the URL.
    Audit(AuditArgs),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Replace one upstream's tools in a catalog with its current `tools/list` (a JSON array of
    /// tools, as `mcp-agent --json tools URL` prints it; `-` reads standard input), keeping the
    /// groups and scopes of the tools that stay. New tools are `destructive` until classified.
    /// Prints what changed; check the policy against the result before deploying it.
    Update {
        /// The catalog file (created if missing).
        catalog: PathBuf,
        /// The upstream's name (its tools' prefix).
        #[arg(long)]
        upstream: String,
        /// The upstream's tools: a JSON array, or `-` for standard input.
        #[arg(long)]
        tools: PathBuf,
        /// Print what would change without writing the catalog.
        #[arg(long)]
        dry_run: bool,
    },
}

// Parsed once per run of the command: the size of a variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file strictly against the tools of a catalog; print every problem with
    /// its file and line. Exit status 1 when the policy is refused.
    Check(Files),
    /// Print the decision on one call and the policies that made it.
    Explain {
        #[command(flatten)]
        files: Files,
        /// The user's `sub`.
        #[arg(long)]
        user: String,
        /// A group of the user. Repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The client calling.
        #[arg(long, default_value = "client")]
        client: String,
        /// How that client was registered at the AS (`principal.client_registration`, from the
        /// token's `client_registration`; `unknown` stands for a token that does not say).
        #[arg(long, default_value = "dynamic",
              value_parser = ["preregistered", "dynamic", "metadata_document", "unknown"])]
        client_registration: String,
        /// The gateway's tool name (`<upstream>__<tool>`).
        #[arg(long)]
        tool: String,
        /// The call's arguments, a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// A scope of the token. Repeatable. The tool's own scopes are added, as when serving: a
        /// client lacking them steps up to them before the call goes through.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "127.0.0.1")]
        client_address: String,
        /// Unix seconds (default: now).
        #[arg(long)]
        time: Option<i64>,
        /// Unix seconds of the user's sign-in (default: 0, unknown).
        #[arg(long, default_value_t = 0)]
        auth_time: i64,
    },
}

#[derive(Debug, Args)]
pub struct Files {
    /// The Cedar policy file.
    pub policy: PathBuf,
    /// The upstreams and their tools (JSON; see `mcp-gateway --help`).
    #[arg(long)]
    pub catalog: PathBuf,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The gateway's decision log, as `serve --audit-database-url` names it: `sqlite://FILE` or
    /// `postgres://…`. It is only read: nothing missing is created, nothing is migrated.
    #[arg(long, env = "MCP_GATEWAY_AUDIT_DATABASE_URL", hide_env_values = true,
          default_value = audit::DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Only this user's decisions (the token's `sub`).
    #[arg(long)]
    pub user: Option<String>,
    /// Only calls of this tool (the name the client asked for, exactly).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only this decision: allow, deny, approval_required, approval_denied, approval_expired, error
    /// or interrupted.
    #[arg(long)]
    pub decision: Option<Outcome>,
    /// Only decisions at or after this time (Unix seconds).
    #[arg(long)]
    pub since: Option<i64>,
    /// At most this many decisions.
    #[arg(long, default_value_t = audit::DEFAULT_LIMIT,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(audit::MAX_LIMIT)))]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs a command; prints what it found, and returns the exit status.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Key { key_file } => key_from_file(&key_file).map(|key| {
            println!("{}", serde_json::json!({"keys": [key.public_jwk()]}));
            ExitCode::SUCCESS
        }),
        Command::Policy(command) => policy(command),
        Command::Catalog(CatalogCommand::Update { catalog, upstream, tools, dry_run }) => {
            catalog_update(&catalog, &upstream, &tools, dry_run)
        }
        Command::Audit(args) => audit(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mcp-gateway: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `mcp-gateway serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MCP_GATEWAY_BIND", default_value = "127.0.0.1:9100")]
    bind: std::net::SocketAddr,
    /// The gateway's resource identifier: the audience of the tokens clients bring.
    #[arg(long, env = "MCP_GATEWAY_RESOURCE", default_value = crate::config::DEFAULT_RESOURCE)]
    resource: String,
    /// Issuer of the authorization server: whose tokens are accepted, where hop tokens and
    /// approvals come from.
    #[arg(long, env = "MCP_GATEWAY_AUTHORIZATION_SERVER", default_value = "http://localhost:9000")]
    authorization_server: String,
    /// Browser origins allowed to call the gateway (comma-separated).
    #[arg(long = "allowed-origin", env = "MCP_GATEWAY_ALLOWED_ORIGINS", value_delimiter = ',',
          default_value = "http://localhost:8080,http://127.0.0.1:8080",
          value_parser = mcp_endpoint::cors::parse_origin)]
    allowed_origins: Vec<axum::http::HeaderValue>,
    /// An upstream MCP server: `NAME=URL[,resource=RESOURCE][,version=VERSION]`. Repeatable.
    /// Its tools are offered as `NAME__tool`; its resource (default: the URL's origin) is the
    /// audience of its hop tokens.
    #[arg(long = "upstream", required = true, value_parser = crate::config::parse_upstream)]
    upstreams: Vec<crate::upstream::Upstream>,
    /// The catalog: each upstream's tools, their groups and scopes (see `gateway/demo/catalog.json`).
    #[arg(long, env = "MCP_GATEWAY_CATALOG")]
    catalog: PathBuf,
    /// The Cedar policy file; reread when it changes and on SIGHUP.
    #[arg(long, env = "MCP_GATEWAY_POLICY")]
    policy: PathBuf,
    /// The gateway's client id at the AS (registered with `mcp-auth clients add --confidential
    /// --acts-for <the gateway's resource> --exchange-to <each upstream's resource>`).
    #[arg(long, env = "MCP_GATEWAY_CLIENT_ID", default_value = "mcp-gateway")]
    client_id: String,
    /// `private_key_jwt`: the gateway's P-256 key (PKCS#8 DER), created with a new key if the file
    /// does not exist. Its public half is served at /.well-known/jwks.json for the AS.
    #[arg(long, env = "MCP_GATEWAY_KEY_FILE", conflicts_with = "client_secret")]
    key_file: Option<PathBuf>,
    /// `client_secret_basic`: the secret `mcp-auth clients add --confidential` printed. From the
    /// environment rather than the command line, where other users of the machine can read it.
    #[arg(long, env = "MCP_GATEWAY_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The decision log: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DATABASE`
    /// (an existing database, shareable with mcp-auth: the gateway's tables go in the schema
    /// `mcp_gateway`). Migrated at start; one a newer gateway migrated is refused.
    #[arg(long, env = "MCP_GATEWAY_AUDIT_DATABASE_URL", hide_env_values = true,
          default_value = audit::DEFAULT_DATABASE_URL)]
    audit_database_url: String,
    /// Seconds an approval may wait for the person.
    #[arg(long, env = "MCP_GATEWAY_APPROVAL_EXPIRY", default_value_t = 300)]
    approval_expiry: u64,
    /// Sessions with a session-form upstream kept open between calls for one user through one
    /// client: as many as their calls ran at once, up to this. 0 keeps none (each call then opens
    /// and ends a session of its own).
    #[arg(long, env = "MCP_GATEWAY_UPSTREAM_SESSIONS_PER_OWNER",
          default_value_t = SessionLimits::default().per_owner)]
    upstream_sessions_per_owner: usize,
    /// Sessions kept open between calls at each upstream, all users together. Each is held open
    /// at the upstream: keep this well within the sessions it keeps for everybody.
    #[arg(long, env = "MCP_GATEWAY_UPSTREAM_SESSIONS_PER_UPSTREAM",
          default_value_t = SessionLimits::default().per_upstream)]
    upstream_sessions_per_upstream: usize,
    /// MCP sessions one user may hold with the gateway at once, all their clients together;
    /// opening one more ends their least recently used.
    #[arg(long, env = "MCP_GATEWAY_SESSIONS_PER_USER",
          default_value_t = mcp_endpoint::sessions::MAX_SESSIONS_PER_USER,
          value_parser = mcp_endpoint::sessions::parse_per_user)]
    sessions_per_user: usize,
    /// Log lines as text or as JSON objects (one per line, with the request id of the call they
    /// belong to), for a log pipeline.
    #[arg(long, env = "MCP_GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// A reverse proxy or load balancer in front of the gateway, as an address or CIDR block
    /// (10.0.0.0/8, ::1/128): for requests from it, the policy's `client_address` (and the audit
    /// record's) is read from the --forwarded-header. Repeatable; separate several with ','. None
    /// by default: anyone can send that header, so only these peers' is read.
    #[arg(long = "trusted-proxy", env = "MCP_GATEWAY_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = <Cidr as std::str::FromStr>::from_str)]
    trusted_proxies: Vec<Cidr>,
    /// The header the --trusted-proxy peers append the client's address to, and the only one read:
    /// x-forwarded-for or forwarded (RFC 7239). A proxy passes the other one on as the client
    /// wrote it.
    #[arg(long, env = "MCP_GATEWAY_FORWARDED_HEADER", default_value = ForwardedHeader::default().as_str(),
          value_parser = <ForwardedHeader as std::str::FromStr>::from_str)]
    forwarded_header: ForwardedHeader,
}

impl ServeArgs {
    fn upstream_sessions(&self) -> SessionLimits {
        SessionLimits {
            per_owner: self.upstream_sessions_per_owner,
            per_upstream: self.upstream_sessions_per_upstream,
            ..SessionLimits::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match args.log_format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().with_current_span(true).try_init(),
    };
    let credentials = match (&args.key_file, &args.client_secret) {
        (Some(path), _) => crate::hop::ClientCredentials::PrivateKey {
            client_id: args.client_id.clone(),
            key: key_from_file(path)?,
        },
        (None, Some(secret)) => crate::hop::ClientCredentials::Secret {
            client_id: args.client_id.clone(),
            secret: protocol::secret::ClientSecret::new(secret.clone()),
        },
        (None, None) => anyhow::bail!(
            "the gateway authenticates to the AS with --key-file (private_key_jwt) or MCP_GATEWAY_CLIENT_SECRET"
        ),
    };
    let upstream_sessions = args.upstream_sessions();
    let settings = crate::config::Settings {
        bind: args.bind,
        resource: Some(args.resource),
        authorization_server: args.authorization_server,
        allowed_origins: args.allowed_origins,
        upstreams: args.upstreams,
        catalog: args.catalog,
        policy: args.policy,
        credentials,
        audit_database_url: args.audit_database_url,
        approval_expiry: std::time::Duration::from_secs(args.approval_expiry),
        upstream_sessions,
        sessions_per_user: args.sessions_per_user,
    };
    let trusted_proxies =
        args.trusted_proxies.into_iter().collect::<TrustedProxies>().with_header(args.forwarded_header);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let app = crate::startup::Application::build(settings).await?.with_trusted_proxies(trusted_proxies);
        app.run_until(serve::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The signing key in `path`, or a new one written there (owner-only) if the file is missing.
fn key_from_file(path: &Path) -> anyhow::Result<crate::hop::SigningKey> {
    let kid = "mcp-gateway-1";
    match std::fs::read(path) {
        Ok(der) => crate::hop::SigningKey::from_pkcs8_der(kid, &der)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = crate::hop::SigningKey::generate(kid);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&key.pkcs8_der())?;
            eprintln!("mcp-gateway: created a new signing key for private_key_jwt in {}", path.display());
            Ok(key)
        }
        Err(error) => Err(anyhow::anyhow!("cannot read {}: {error}", path.display())),
    }
}

fn catalog_update(path: &Path, upstream: &str, tools: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    use std::io::Read as _;
    if !crate::catalog::is_upstream_name(upstream) {
        anyhow::bail!("upstream name {upstream:?}: 1 to 32 of a-z 0-9 -");
    }
    let mut listed = String::new();
    if tools == Path::new("-") {
        std::io::stdin().read_to_string(&mut listed)?;
    } else {
        listed =
            std::fs::read_to_string(tools).with_context(|| format!("cannot read {}", tools.display()))?;
    }
    let live: Vec<protocol::mcp::Tool> = serde_json::from_str(&listed)
        .with_context(|| format!("{} is not a JSON array of MCP tools", tools.display()))?;
    let mut catalog: BTreeMap<String, UpstreamTools> = match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("{} is not a catalog", path.display()))?
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let changes = crate::catalog::update(&mut catalog, upstream, live);
    for change in &changes {
        match change {
            crate::catalog::Change::Added(tool) => {
                println!(
                    "added    {upstream}__{tool}  (destructive until you give it a group, and no scopes)"
                )
            }
            crate::catalog::Change::Removed(tool) => println!("removed  {upstream}__{tool}"),
            crate::catalog::Change::Changed { tool, input_schema: true } => {
                println!("changed  {upstream}__{tool}  (its input schema: check the policy)")
            }
            crate::catalog::Change::Changed { tool, input_schema: false } => {
                println!("changed  {upstream}__{tool}")
            }
        }
    }
    if changes.is_empty() {
        println!("unchanged: {upstream}'s tools are as the catalog says");
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    // Written beside the file and renamed over it: a running gateway or a reader never sees half.
    let mut text = serde_json::to_string_pretty(&catalog)?;
    text.push('\n');
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))?;
    println!(
        "wrote {}; now run `mcp-gateway policy check POLICY --catalog {}`",
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn policy(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check(files) => {
            let (catalog, text) = read(&files)?;
            match Policies::load(&files.policy.display().to_string(), &text, &catalog) {
                Ok(policies) => {
                    println!(
                        "ok: {} policies over {} tools; sha256 {}",
                        policies.len(),
                        catalog.len(),
                        policies.hash()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(refused) => {
                    for problem in refused.0 {
                        eprintln!("{problem}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        PolicyCommand::Explain {
            files,
            user,
            groups,
            client,
            client_registration,
            tool,
            args,
            scopes,
            client_address,
            time,
            auth_time,
        } => {
            let (catalog, text) = read(&files)?;
            let policies = Policies::load(&files.policy.display().to_string(), &text, &catalog)?;
            let arguments: Map<String, Value> =
                serde_json::from_str(&args).context("--args must be a JSON object")?;
            let time = time.unwrap_or_else(now);
            // What the policy sees, as when serving: the token's scopes and the tool's own.
            let token_scopes = Scopes::parse(&scopes.join(" ")).context("--scope must be a scope token")?;
            let scopes = match catalog.get(&tool) {
                Some(entry) => call_scopes(&token_scopes, entry),
                None => token_scopes.iter().map(str::to_owned).collect(),
            };
            let facts = CallFacts {
                user: &user,
                groups: &groups,
                client_id: &client,
                client_registration: &client_registration,
                tool: &tool,
                arguments: &arguments,
                time,
                client_address: &client_address,
                scopes: &scopes,
                auth_time,
            };
            let decision = policies.decide(&facts);
            let mut lines = vec![format!("decision: {}", if decision.allowed { "allow" } else { "deny" })];
            match decision.consent {
                Some(Consent::Once) => lines.push("consent: the person approves this call".to_owned()),
                Some(Consent::For(duration)) => lines
                    .push(format!("consent: the person approves; remembered up to {} s", duration.as_secs())),
                None => {}
            }
            let determining = if decision.determining.is_empty() {
                "none".to_owned()
            } else {
                decision.determining.join(", ")
            };
            lines.push(format!("determining policies: {determining}"));
            lines.push(format!("scopes the policy saw (the token's and the tool's): {}", scopes.join(" ")));
            lines.extend(decision.errors.iter().map(|error| format!("error (denies): {error}")));
            lines.push(format!("listed in tools/list: {}", policies.listable(&facts)));
            lines.push(format!("policy sha256: {}", decision.policy_hash));
            print_out(&(lines.join("\n") + "\n"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `mcp-gateway audit`: reads the database without changing it, on a runtime of its own (the
/// command is otherwise synchronous).
fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let log = match AuditLog::open_read_only(&args.database_url).await {
            Ok(log) => log,
            Err(error @ (AuditError::Missing(_) | AuditError::NotAnAuditDatabase(_))) => {
                eprintln!("mcp-gateway: {error} (see --database-url)");
                return Ok(ExitCode::FAILURE);
            }
            Err(error) => {
                return Err(error).context(format!("cannot open {}", audit::display_url(&args.database_url)));
            }
        };
        let filter = Filter {
            user: args.user,
            tool: args.tool,
            outcome: args.decision,
            since_ms: args.since.map(|seconds| seconds.saturating_mul(1000)),
            limit: args.limit,
        };
        let records = log.query(&filter).await;
        log.close().await?;
        let records = records?;
        if records.is_empty() && !args.json {
            eprintln!("no decisions recorded that match");
            return Ok(ExitCode::SUCCESS);
        }
        let text = if args.json { audit::json_lines(&records) } else { audit::table(&records) };
        print_out(&text)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Writes to standard output; a reader that stops early (`| head`) is not an error.
fn print_out(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

fn read(files: &Files) -> anyhow::Result<(Catalog, String)> {
    let catalog = read_catalog(&files.catalog)?;
    let text = std::fs::read_to_string(&files.policy)
        .with_context(|| format!("cannot read {}", files.policy.display()))?;
    Ok((catalog, text))
}

/// Reads a catalog file, reporting the tools it leaves out.
pub fn read_catalog(path: &Path) -> anyhow::Result<Catalog> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let upstreams: BTreeMap<String, UpstreamTools> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a catalog", path.display()))?;
    let (catalog, skipped) = Catalog::build(&upstreams);
    for skip in skipped {
        eprintln!(
            "{}: skipped {}{}: {}",
            path.display(),
            skip.upstream,
            skip.tool.map(|t| format!(" / {t}")).unwrap_or_default(),
            skip.reason
        );
    }
    Ok(catalog)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    /// `mcp-gateway serve` with its required flags and `extra`.
    fn serve_args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let required = [
            "mcp-gateway",
            "serve",
            "--upstream",
            "a=http://localhost:9090/mcp",
            "--catalog",
            "c",
            "--policy",
            "p",
        ];
        match Cli::try_parse_from(required.iter().chain(extra))?.command {
            Command::Serve(args) => Ok(*args),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn trusted_proxies_are_repeatable_comma_separated_none_by_default_and_checked() {
        let args = serve_args(&[]).unwrap();
        assert!(args.trusted_proxies.is_empty());
        assert_eq!(args.forwarded_header, ForwardedHeader::XForwardedFor, "the default");
        let args =
            serve_args(&["--trusted-proxy", "10.0.0.0/8,::1", "--trusted-proxy", "192.168.0.0/16"]).unwrap();
        let proxies: TrustedProxies = args.trusted_proxies.into_iter().collect();
        assert_eq!(proxies.to_string(), "10.0.0.0/8, ::1/128, 192.168.0.0/16");
        for refused in ["10.0.0.1/8", "::/129", "lb.internal"] {
            let error = serve_args(&["--trusted-proxy", refused]).expect_err(refused).to_string();
            assert!(error.contains("CIDR"), "{error}");
        }
        let args = serve_args(&["--forwarded-header", "forwarded"]).unwrap();
        assert_eq!(args.forwarded_header, ForwardedHeader::Forwarded);
        let error = serve_args(&["--forwarded-header", "x-real-ip"]).expect_err("x-real-ip").to_string();
        assert!(error.contains("x-forwarded-for or forwarded"), "{error}");
    }

    #[test]
    fn upstream_session_limits_default_to_the_measured_ones_and_can_be_set() {
        let limits = |extra: &[&str]| serve_args(extra).map(|args| args.upstream_sessions());
        assert_eq!(limits(&[]).unwrap(), SessionLimits::default());
        let set = limits(&["--upstream-sessions-per-owner", "0", "--upstream-sessions-per-upstream", "50"]);
        assert_eq!(
            set.unwrap(),
            SessionLimits { per_owner: 0, per_upstream: 50, ..SessionLimits::default() }
        );
        assert!(limits(&["--upstream-sessions-per-owner", "-1"]).is_err());
        assert!(limits(&["--upstream-sessions-per-upstream", "many"]).is_err());
    }

    #[test]
    fn sessions_per_user_default_to_the_endpoint_s_and_are_at_least_one() {
        let per_user = |extra: &[&str]| serve_args(extra).map(|args| args.sessions_per_user);
        assert_eq!(per_user(&[]).unwrap(), mcp_endpoint::sessions::MAX_SESSIONS_PER_USER);
        assert_eq!(per_user(&["--sessions-per-user", "500"]).unwrap(), 500);
        assert!(per_user(&["--sessions-per-user", "0"]).is_err(), "no user could open a session");
        assert!(per_user(&["--sessions-per-user", "-3"]).is_err());
        assert!(per_user(&["--sessions-per-user", "1001"]).is_err(), "no limit near the table's size");
    }
}
