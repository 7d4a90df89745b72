//! `cargo xtask bench`: how much the resource server's token checks cost.
//!
//! In one run, side by side, on loopback: `GET /echo` and an MCP `tools/call` (stateless form),
//! each under five conditions:
//!
//! | | condition | what it measures |
//! |---|---|---|
//! | a | bare axum, the same answer, no layers | the ceiling: HTTP, routing, JSON |
//! | n | our server, token validation disabled | what our layers cost besides tokens |
//! | b | one valid token, repeated | the verified-token cache (goal: ≥ 0.70 × a) |
//! | c | a fresh valid token per request | one ES256 signature check per request |
//! | d | a fresh invalid token per request (bad signature) | rejection (goal: ≥ 1.0 × c) |
//!
//! The servers run on a runtime of their own (two workers, like the binary on this machine), the
//! load on another, and logging is on at INFO into a sink, as the binary's default: a log line per
//! request would show here. Tokens come from a stand-in issuer (`test-support`), minted before the
//! clock starts. The machine is shared and noisy: compare rows of one run, not runs.
//!
//! Then the gateway ([`gateway`]): a `tools/call` straight to an MCP server against the same call
//! through `mcp-gateway` in front of it (with a cached hop token) and through a bare HTTP hop
//! ([`proxy`], the yardstick), and [`policy`]: one Cedar decision with 1,000 policies and with the
//! demo's.
//!
//! Then the authorization server ([`authz`]): `mcp-auth` on SQLite and on PostgreSQL against
//! node-oidc-provider, each a child process, under refresh rotation, code exchange, introspection,
//! registration and a mix of them.
//!
//! `MCP_BENCH_PART=gateway` (or `tokens`, `policy`, `as`, comma-separated) runs only those parts;
//! `MCP_BENCH_ROWS=b` measures only the rows named by those letters (a part left without rows is
//! not started), and `MCP_BENCH_ENDPOINT=echo` (or `tools`) one endpoint of the token rows: to
//! profile one of them.

mod authz;
mod gateway;
mod load;
mod policy;
mod proxy;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::RawQuery;
use axum::routing::{get, post};
use mcp_bearer::{Validator, VerifiedToken};
use mcp_server::config::Settings;
use mcp_server::startup::Application;
use protocol::echo::EchoResponse;
use protocol::scope::Scopes;
use test_support::issuer::{TestIssuer, corrupt};
use tokio::net::TcpListener;
use tokio::runtime::Handle;

use load::{Endpoint, FreshPool, Outcome, Tokens};

/// How long each row is measured in all, in [`ROUNDS`] slices, each after a short warm-up.
const DURATION: Duration = Duration::from_secs(4);
const ROUNDS: u32 = 4;
const WARMUP: Duration = Duration::from_millis(200);
/// Concurrent keep-alive connections.
const CONNECTIONS: usize = 32;

/// What this run measures, from the environment (see the module's documentation).
struct Selection {
    parts: Option<String>,
    rows: Option<String>,
    endpoint: Option<String>,
}

impl Selection {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            parts: var("MCP_BENCH_PART"),
            rows: var("MCP_BENCH_ROWS"),
            endpoint: var("MCP_BENCH_ENDPOINT"),
        }
    }

    /// Is the part `name` (`tokens`, `gateway`, `policy`, `as`) to run?
    fn part(&self, name: &str) -> bool {
        self.parts.as_ref().is_none_or(|parts| parts.split(',').any(|part| part.trim() == name))
    }

    /// Is the row of this letter to be measured?
    fn row(&self, letter: char) -> bool {
        self.rows.as_ref().is_none_or(|rows| rows.contains(letter))
    }

    /// Is any of these rows to be measured?
    fn any_row(&self, letters: &str) -> bool {
        letters.chars().any(|letter| self.row(letter))
    }
}

/// One line of a table: what is sent where over how many connections, and what it measured. The
/// first letter of `name` is the row's letter.
struct Row<'a> {
    name: &'static str,
    endpoint: Endpoint,
    base: &'a str,
    tokens: Tokens,
    connections: usize,
    outcome: Outcome,
}

impl<'a> Row<'a> {
    fn new(
        name: &'static str,
        endpoint: Endpoint,
        base: &'a str,
        tokens: Tokens,
        connections: usize,
    ) -> Self {
        Self { name, endpoint, base, tokens, connections, outcome: Outcome::default() }
    }

    fn letter(&self) -> char {
        self.name.chars().next().unwrap_or(' ')
    }
}

/// Measures `rows` for [`DURATION`] each. Rows take turns, a slice each per round, so that a
/// burst of noise from the rest of the machine lands on all of them rather than on one.
async fn measure(rows: &mut [Row<'_>]) -> anyhow::Result<()> {
    for round in 0..ROUNDS {
        print!("\rround {}/{ROUNDS}", round + 1);
        std::io::Write::flush(&mut std::io::stdout())?;
        for row in rows.iter_mut() {
            let slice = DURATION / ROUNDS;
            row.outcome.add(
                load::run(row.base, row.endpoint, row.tokens.clone(), row.connections, WARMUP, slice).await?,
            );
        }
    }
    println!();
    // A row that measured nothing (its connections all failed) would print as zeros and look
    // like a number: it is an error of the benchmark, said as one.
    for row in rows.iter() {
        anyhow::ensure!(
            !row.outcome.latencies_us.is_empty(),
            "row \"{}\" ({}) got no answers: its connections failed",
            row.name,
            row.endpoint.label()
        );
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    BareAxum,
    ValidationOff,
    Ours,
}

/// Starts `kind` on the servers' runtime and returns its base URL.
async fn start(servers: &Handle, kind: Server, issuer: &TestIssuer) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let listener = listener.into_std()?;
    // What the "validation off" server treats every request as carrying.
    let token = VerifiedToken {
        claims: issuer.claims(&base, "echo"),
        scopes: Scopes::parse("echo").expect("constant scope"),
    };
    let (issuer, resource) = (issuer.issuer.clone(), base.clone());
    servers.spawn(async move {
        let listener = TcpListener::from_std(listener)?;
        if kind == Server::BareAxum {
            return serve::serve(listener, bare_axum(), std::future::pending())
                .await
                .map_err(anyhow::Error::from);
        }
        let settings =
            Settings { resource: Some(resource), ..Settings::for_tests(&issuer, "http://localhost:8080") };
        let app = if kind == Server::ValidationOff {
            Application::build_on_with(listener, settings, move |_, _| {
                Validator::dangerously_disabled_for_benchmarks(token)
            })
            .await?
        } else {
            Application::build_on(listener, settings).await?
        };
        app.run_until(std::future::pending()).await.map_err(anyhow::Error::from)
    });
    Ok(base)
}

/// The same answers as `mcp-server` for the two benchmarked requests, with nothing around them:
/// no token, no `Host`/`Origin`/CORS layers, no trace span, no MCP session or version checks.
fn bare_axum() -> axum::Router {
    axum::Router::new()
        .route(
            "/echo",
            get(|RawQuery(query): RawQuery| async move {
                let params =
                    protocol::form::parse_unique(query.as_deref().unwrap_or_default()).unwrap_or_default();
                Json(EchoResponse {
                    text: params.get("text").cloned().unwrap_or_default(),
                    subject: "user-1".into(),
                    client_id: "client-1".into(),
                })
            }),
        )
        .route(
            "/mcp",
            post(|Json(message): Json<serde_json::Value>| async move {
                let text = message["params"]["arguments"]["text"].as_str().unwrap_or_default().to_owned();
                Json(serde_json::json!({
                    "jsonrpc": "2.0", "id": message["id"],
                    "result": protocol::mcp::CallToolResult::text(text),
                }))
            }),
        )
}

/// The allocator the gateway and `mcp-server` binaries use (ARCHITECTURE.md, "The allocator"):
/// they run in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The binary's default: INFO and above, formatted; written nowhere, but paid for.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()?;
    let selection = Selection::from_env();
    if selection.part("tokens") && selection.any_row("anbcd") {
        token_checks(servers.handle(), &selection).await?;
    }
    if selection.part("gateway") && selection.any_row(gateway::ROWS) {
        gateway::run(servers.handle(), &selection).await?;
    }
    if selection.part("policy") && selection.any_row(policy::ROWS) {
        policy::run()?;
    }
    if selection.part("as") && selection.any_row(authz::ROWS) {
        authz::run(&selection).await?;
    }
    servers.shutdown_background();
    Ok(())
}

/// The token checks: `GET /echo` and `tools/call`, rows (a) to (d) and (n).
async fn token_checks(servers: &Handle, selection: &Selection) -> anyhow::Result<()> {
    let issuer = TestIssuer::start().await;
    let bare = start(servers, Server::BareAxum, &issuer).await?;
    let off = start(servers, Server::ValidationOff, &issuer).await?;
    let real = start(servers, Server::Ours, &issuer).await?;
    let pool = |letter: char| {
        if selection.row(letter) { load::estimate_pool(DURATION + WARMUP * ROUNDS) } else { 0 }
    };
    println!("minting {} valid and {} invalid tokens for each endpoint…", pool('c'), pool('d'));

    let mut rows: Vec<Row> = Vec::new();
    for endpoint in [Endpoint::Echo, Endpoint::ToolsCall] {
        let fresh = FreshPool::new(issuer.mint_many(&real, "echo", pool('c')));
        let invalid = FreshPool::new(corrupt(&issuer.mint_many(&real, "echo", pool('d'))));
        let one: Arc<str> = issuer.mint_many(&real, "echo", 1).remove(0).into();
        // Every row sends the same request bytes, token included (ignored where nothing checks it):
        // a 700-byte `Authorization` header costs the HTTP layer something too, and that is not
        // the token check's cost.
        let same = Tokens::Same(one);
        rows.push(Row::new("a  bare axum (ceiling)", endpoint, &bare, same.clone(), CONNECTIONS));
        rows.push(Row::new("n  ours, validation off", endpoint, &off, same.clone(), CONNECTIONS));
        rows.push(Row::new("b  one token, repeated", endpoint, &real, same, CONNECTIONS));
        rows.push(Row::new("c  fresh valid token each", endpoint, &real, Tokens::Fresh(fresh), CONNECTIONS));
        rows.push(Row::new(
            "d  fresh invalid token each",
            endpoint,
            &real,
            Tokens::Fresh(invalid),
            CONNECTIONS,
        ));
    }
    rows.retain(|row| selection.row(row.letter()));
    // `MCP_BENCH_ENDPOINT=echo` (or `tools`) measures one endpoint only.
    if let Some(endpoint) = &selection.endpoint {
        rows.retain(|row| row.endpoint.label().contains(endpoint.as_str()));
    }
    measure(&mut rows).await?;

    println!();
    println!(
        "{:<30} {:<14} {:>10} {:>9} {:>9} {:>8}  status",
        "condition", "endpoint", "req/s", "p50 µs", "p99 µs", "vs (a)"
    );
    let mut rates = std::collections::HashMap::new();
    for Row { name, endpoint, outcome, .. } in &mut rows {
        rates.insert((name.as_bytes()[0], *endpoint), outcome.rate());
        let ceiling = rates.get(&(b'a', *endpoint)).copied().unwrap_or(1.0);
        println!(
            "{:<30} {:<14} {:>10.0} {:>9} {:>9} {:>7.0}%  {}",
            name,
            endpoint.label(),
            outcome.rate(),
            outcome.percentile(0.50),
            outcome.percentile(0.99),
            100.0 * outcome.rate() / ceiling,
            outcome.statuses()
        );
    }
    println!();
    for endpoint in [Endpoint::Echo, Endpoint::ToolsCall] {
        let rate = |letter: u8| rates.get(&(letter, endpoint)).copied().unwrap_or(0.0);
        let (a, n, b, c, d) = (rate(b'a'), rate(b'n'), rate(b'b'), rate(b'c'), rate(b'd'));
        println!(
            "{}: n/a = {:.2}, b/a = {:.2} (goal >= 0.70), c/a = {:.2}, d/c = {:.2} (goal >= 1.0: refusing costs no more than accepting)",
            endpoint.label(),
            n / a,
            b / a,
            c / a,
            d / c
        );
    }
    Ok(())
}
