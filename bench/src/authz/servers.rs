//! The authorization servers under test, as child processes on loopback: the `mcp-auth` release
//! binary on a SQLite file or on a fresh PostgreSQL database, provisioned with its own command
//! line, and node-oidc-provider running `bench/oidc-provider/server.mjs`; and what CPU they (and
//! their database) spend, read from `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;

use super::flows::{CLIENT_ID, INTROSPECTOR_ID, PASSWORD, REDIRECT_URI, Target, USERNAME};
use super::http::Conn;

/// The resource every token is for, with `mcp-auth`'s default scopes.
const RESOURCE: &str = "http://localhost:9090";
const SCOPES: &str = "echo profile notes:read notes:write";
/// node-oidc-provider's second resource, whose access tokens are opaque (see [`Target`]).
const OPAQUE_RESOURCE: &str = "http://localhost:9091";
/// The PostgreSQL server (trust authentication) and the database to connect to when creating
/// and dropping the bench's own; `MCP_BENCH_POSTGRES` overrides the first.
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const POSTGRES_ADMIN_DATABASE: &str = "test";

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Sqlite,
    Postgres,
    OidcProvider,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sqlite, Kind::Postgres, Kind::OidcProvider];

    /// The name `MCP_BENCH_AS` selects it by.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::OidcProvider => "oidc-provider",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Sqlite => "ours, SQLite",
            Kind::Postgres => "ours, PostgreSQL",
            Kind::OidcProvider => "oidc-provider, memory",
        }
    }
}

/// A running server. Fields drop in order: the process ends before its database is dropped.
pub struct Server {
    pub target: Arc<Target>,
    pub cpu: CpuProbe,
    /// What runs, for the table's heading: versions, database.
    pub description: String,
    _process: Process,
    _database: Option<PostgresDatabase>,
}

impl Server {
    /// Starts `kind` with its files (database, log) in `scratch`.
    pub async fn start(kind: Kind, scratch: &Path) -> anyhow::Result<Server> {
        match kind {
            Kind::Sqlite => {
                let url = format!("sqlite://{}", scratch.join("mcp-auth.db").display());
                start_ours(kind, url, None, scratch).await
            }
            Kind::Postgres => {
                let database = PostgresDatabase::create()?;
                start_ours(kind, database.url(), Some(database), scratch).await
            }
            Kind::OidcProvider => start_oidc_provider(scratch).await,
        }
    }
}

/// `mcp-auth` on `database_url`: the user and the two clients added with `mcp-auth users add` and
/// `clients add` first, then `mcp-auth serve` with its defaults (logging at INFO included).
async fn start_ours(
    kind: Kind,
    database_url: String,
    database: Option<PostgresDatabase>,
    scratch: &Path,
) -> anyhow::Result<Server> {
    let binary = std::env::current_exe()?.with_file_name("mcp-auth");
    ensure!(
        binary.is_file(),
        "{} is missing: `cargo xtask bench` builds it (cargo build --release -p mcp-auth)",
        binary.display()
    );
    let admin = |args: &[&str], stdin: Option<&str>| administer(&binary, &database_url, args, stdin);
    admin(&["users", "add", USERNAME], Some(PASSWORD))?;
    admin(
        &["clients", "add", "--name", "bench", "--client-id", CLIENT_ID, "--redirect-uri", REDIRECT_URI],
        None,
    )?;
    let confidential = ["--confidential", "--name", "introspector", "--client-id", INTROSPECTOR_ID];
    let printed = admin(&[&["clients", "add"], &confidential[..], &["--acts-for", RESOURCE]].concat(), None)?;
    let secret = printed
        .lines()
        .find_map(|line| line.split_once("store it now): ").map(|(_, secret)| secret.trim().to_owned()))
        .context("`mcp-auth clients add --confidential` printed no secret")?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(&binary);
    command.args(["serve", "--database-url", &database_url, "--bind", &format!("127.0.0.1:{port}")]).args([
        "--issuer",
        &base,
        "--resource",
        &format!("{RESOURCE} {SCOPES}"),
    ]);
    let log = scratch.join(format!("mcp-auth-{}.log", kind.key()));
    let mut process = Process::spawn("mcp-auth", &mut command, &log)?;
    let metadata = format!("{base}/.well-known/oauth-authorization-server");
    process
        .wait_until(|| async {
            let mut conn = Conn::open(&base).await.ok()?;
            (conn.get(&metadata).await.ok()?.status == 200).then_some(())
        })
        .await?;
    let target = Target {
        base,
        authorize: "/authorize",
        token: "/token",
        introspect: "/introspect",
        register: "/register",
        resource: RESOURCE.to_owned(),
        introspected_resource: RESOURCE.to_owned(),
        introspector: basic(INTROSPECTOR_ID, &secret),
    };
    let version = Command::new(&binary).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    let version = String::from_utf8_lossy(&version);
    let description = match &database {
        Some(database) => format!("{} on PostgreSQL, database {}", version.trim(), database.name),
        None => format!("{} on SQLite (a file, WAL)", version.trim()),
    };
    let cpu = CpuProbe { pid: process.pid(), postgres_database: database.as_ref().map(|d| d.name.clone()) };
    Ok(Server { target: Arc::new(target), cpu, description, _process: process, _database: database })
}

/// Runs `mcp-auth <args> --database-url <url>` to its end and returns what it printed; fails with
/// the last line of its error output.
fn administer(
    binary: &Path,
    database_url: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    let mut child = Command::new(binary)
        .args(args)
        .args(["--database-url", database_url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::io::Write::write_all(&mut pipe, format!("{text}\n").as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(nothing on stderr)");
        bail!("`mcp-auth {}` failed: {}", args.join(" "), last.trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// node-oidc-provider, installed by `cargo xtask bench` (npm, the version pinned in
/// `bench/oidc-provider/package.json`) with `server.mjs` next to it, run by the machine's `node`
/// (`MCP_BENCH_NODE` names another).
async fn start_oidc_provider(scratch: &Path) -> anyhow::Result<Server> {
    let dir = std::env::var_os("MCP_BENCH_OIDC_PROVIDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/oidc-provider"));
    let manifest = dir.join("node_modules/oidc-provider/package.json");
    let version = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["version"].as_str().map(str::to_owned))
        .with_context(|| {
            format!(
                "node-oidc-provider is not installed in {}: `cargo xtask bench` installs it",
                dir.display()
            )
        })?;
    let node = std::env::var("MCP_BENCH_NODE").unwrap_or_else(|_| "node".into());
    let node_version = Command::new(&node)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .with_context(|| format!("cannot run {node}"))?;

    let secret = format!("{:016x}{:016x}", random_u64(), random_u64());
    let mut command = Command::new(&node);
    command
        .current_dir(&dir)
        .arg(dir.join("server.mjs"))
        .args([CLIENT_ID, REDIRECT_URI, RESOURCE, OPAQUE_RESOURCE, INTROSPECTOR_ID, &secret])
        .env("NODE_ENV", "production");
    let log = scratch.join("oidc-provider.log");
    let mut process = Process::spawn("node-oidc-provider", &mut command, &log)?;
    let issuer = process
        .wait_until(|| async {
            let text = std::fs::read_to_string(&log).ok()?;
            text.lines().find_map(|line| line.strip_prefix("listening ")).map(str::to_owned)
        })
        .await?;
    let target = Target {
        base: issuer,
        authorize: "/auth",
        token: "/token",
        introspect: "/token/introspection",
        register: "/reg",
        resource: RESOURCE.to_owned(),
        introspected_resource: OPAQUE_RESOURCE.to_owned(),
        introspector: basic(INTROSPECTOR_ID, &secret),
    };
    let description = format!("node-oidc-provider {version}, its in-memory adapter, on Node {node_version}");
    let cpu = CpuProbe { pid: process.pid(), postgres_database: None };
    Ok(Server { target: Arc::new(target), cpu, description, _process: process, _database: None })
}

/// `Basic …` for a client id and secret that need no form-encoding (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

/// A random number, from the standard library's randomly keyed hasher: names and secrets of one
/// run, nothing that needs to be unpredictable.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// A child process, its output in a log file; killed when dropped.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command, log: &Path) -> anyhow::Result<Self> {
        let file = File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self { name, child, log: log.to_owned() })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `ready` until it answers, for 30 s at most; fails at once if the process ends.
    async fn wait_until<T, F, Fut>(&mut self, mut ready: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}): {}", self.name, self.log_tail());
            }
            if let Some(answer) = ready().await {
                return Ok(answer);
            }
            if Instant::now() > deadline {
                bail!("{} did not come up within 30 s: {}", self.name, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of its own on the PostgreSQL server, created with `psql` and dropped (with its
/// connections) when this is dropped.
struct PostgresDatabase {
    server: String,
    name: String,
}

impl PostgresDatabase {
    fn create() -> anyhow::Result<Self> {
        let server = std::env::var("MCP_BENCH_POSTGRES").unwrap_or_else(|_| POSTGRES.to_owned());
        let name = format!("mcp_bench_{:012x}", random_u64() >> 16);
        psql(&server, &format!("CREATE DATABASE {name}"))?;
        Ok(Self { server, name })
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(&self.server, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop the bench's database {}: {e}", self.name);
        }
    }
}

fn psql(server: &str, sql: &str) -> anyhow::Result<()> {
    let output = Command::new("psql")
        .arg(format!("{server}/{POSTGRES_ADMIN_DATABASE}"))
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .stdin(Stdio::null())
        .output()
        .context("cannot run psql (PostgreSQL's client)")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "{}", stderr.lines().next().unwrap_or("psql failed").trim());
    Ok(())
}

/// CPU time a server has used: its process (and children it waited for), and for PostgreSQL
/// every `postgres` process except the connections to other databases (the postmaster, its
/// background writers, and this server's connections).
#[derive(Clone)]
pub struct CpuProbe {
    pid: u32,
    postgres_database: Option<String>,
}

/// Seconds of CPU, user and system.
#[derive(Clone, Copy, Default)]
pub struct CpuTime {
    pub server: f64,
    pub database: f64,
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, more: CpuTime) -> CpuTime {
        CpuTime { server: self.server + more.server, database: self.database + more.database }
    }
}

impl std::ops::Sub for CpuTime {
    type Output = CpuTime;
    fn sub(self, earlier: CpuTime) -> CpuTime {
        CpuTime { server: self.server - earlier.server, database: self.database - earlier.database }
    }
}

impl CpuProbe {
    pub fn read(&self) -> CpuTime {
        let server = process_ticks(self.pid, true).unwrap_or(0);
        let database = self.postgres_database.as_deref().map_or(0, postgres_ticks);
        let hz = clock_ticks_per_second();
        CpuTime { server: server as f64 / hz, database: database as f64 / hz }
    }
}

/// `utime + stime` of `/proc/<pid>/stat`, with `cutime + cstime` if `children`.
fn process_ticks(pid: u32, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold anything: field 3
    // (state) is the first; utime, stime, cutime, cstime are fields 14 to 17.
    let fields: Vec<u64> =
        stat.rsplit_once(')')?.1.split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect();
    let [utime, stime, cutime, cstime] = fields[..] else { return None };
    Some(utime + stime + if children { cutime + cstime } else { 0 })
}

/// The `postgres` processes' CPU, but for connections to databases other than `database`. Their
/// own time only: the postmaster's children's time would count other databases' connections
/// that ended; the bench's connections stay open through a measurement.
fn postgres_ticks(database: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "postgres" {
            continue;
        }
        // A connection shows as "postgres: 15/main: <user> <database> <peer>(<port>) <state>".
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let connection = cmdline.contains('(') || cmdline.contains("[local]");
        if !connection || cmdline.split_whitespace().any(|word| word == database) {
            total += process_ticks(pid, false).unwrap_or(0);
        }
    }
    total
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times (100 on every common Linux).
fn clock_ticks_per_second() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
