//! The gateway's rows: what `mcp-gateway` adds to a tool call, against calling its upstream
//! directly, in the same run.
//!
//! One authorization server (`mcp-auth`, SQLite in memory), one `mcp-server`, and one
//! `mcp-gateway` with the demo catalog and policy whose two upstreams are both that server: `demo`
//! spoken to in the stateless form (2026-07-28, one request per call) and `team` in the session
//! form (2025-11-25: the upstream session a call is made in, and what it costs to open, is the
//! gateway's upstream client's business). The same user signs in through the real flow for the
//! server and for the gateway before the clock starts, and every row sends one token, repeated,
//! as row (b) of the token checks does:
//!
//! | | row | path of a `tools/call` of echo |
//! |---|---|---|
//! | u | direct | client → `mcp-server` |
//! | h | a bare hop (yardstick) | client → [`crate::proxy`] (HTTP only, the client's token passed on) → `mcp-server` |
//! | g | gateway, stateless upstream | client → gateway (policy, audit, cached hop token) → `mcp-server` |
//! | s | gateway, session upstream | the same in the session form |
//!
//! Each at [`CONNECTIONS`] connections (throughput under load, and the goals) and at one (the
//! latency a lone call pays). Everything runs on the servers' runtime of two workers: through the
//! gateway, the gateway and the upstream share them, as they would share one small machine.
//! The hop token is cached as in production: reused until 10 s before it expires (it lives 60 s),
//! so a long run sees an exchange now and then.
//!
//! Row h is no gateway: it is what a second HTTP server in the path costs on this machine when it
//! does nothing else ([`crate::proxy`]), built from the gateway's parts. h/u bounds what g/u can
//! be here; g/h is what the gateway's own work (token check, policy, hop token, audit record, MCP
//! on both sides) leaves of that.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use mcp_auth::clock::{Clock as _, SystemClock};
use protocol::secret::{AccessToken, Password};
use test_support::headless::HeadlessUser;
use tokio::net::TcpListener;
use tokio::runtime::Handle;

use crate::load::{self, Endpoint, Tokens};
use crate::{CONNECTIONS, Row, Selection, measure};

/// The letters of this part's rows.
pub const ROWS: &str = "uhgs";
/// Goals (issue 13): through the gateway, at most this much more p50 latency than direct…
const GOAL_OVERHEAD_US: u64 = 2_000;
/// …and at least this fraction of the direct throughput.
const GOAL_RATIO: f64 = 0.50;

/// The user who signs in: in the group `team`, which the demo policy requires for the `team`
/// upstream.
const USER: &str = "bench";
const PASSWORD: &str = "bench-password-1";
const GATEWAY_CLIENT: &str = "mcp-gateway";

/// Where the programs listen.
struct System {
    server: String,
    gateway: String,
    /// Row h's bare hop in front of `server`.
    hop: String,
}

pub async fn run(servers: &Handle, selection: &Selection) -> anyhow::Result<()> {
    println!("\nstarting an authorization server, an MCP server and a gateway in front of it…");
    // Built and served on the servers' runtime: their connection tasks (the gateway's to its
    // upstream too) must not run on the load generator's.
    let system = servers.spawn(start()).await??;
    let direct: Arc<str> = sign_in(&system.server).await?.secret().into();
    let through: Arc<str> = sign_in(&system.gateway).await?.secret().into();

    let mut rows = Vec::new();
    for connections in [CONNECTIONS, 1] {
        let tokens = [Tokens::Same(direct.clone()), Tokens::Same(through.clone())];
        rows.push(Row::new("u  direct", Endpoint::ToolsCall, &system.server, tokens[0].clone(), connections));
        rows.push(Row::new(
            "h  bare hop, no gateway work",
            Endpoint::ToolsCall,
            &system.hop,
            tokens[0].clone(),
            connections,
        ));
        rows.push(Row::new(
            "g  gateway, stateless upstream",
            Endpoint::GatewayCall("demo__echo"),
            &system.gateway,
            tokens[1].clone(),
            connections,
        ));
        rows.push(Row::new(
            "s  gateway, session upstream",
            Endpoint::GatewayCall("team__echo"),
            &system.gateway,
            tokens[1].clone(),
            connections,
        ));
    }
    rows.retain(|row| selection.row(row.letter()));
    // Before the clock: each row gets the echoed text back (a denial or an unavailable upstream
    // would be a `200` too), and the gateway has its hop token.
    for row in &rows {
        let Tokens::Same(token) = &row.tokens else { continue };
        let (status, body) = load::check(row.base, row.endpoint, Some(token)).await?;
        ensure!(
            status == 200 && body.contains(r#""text":"hello""#) && !body.contains(r#""error":"#),
            "{}: the call did not echo: {status} {body}",
            row.name
        );
    }
    measure(&mut rows).await?;

    println!();
    println!(
        "{:<32} {:>5} {:>10} {:>9} {:>9} {:>10}  status",
        "gateway: tools/call of echo", "conns", "req/s", "p50 µs", "p99 µs", "vs direct"
    );
    let mut measured = std::collections::HashMap::new();
    for row in &mut rows {
        let (rate, p50) = (row.outcome.rate(), row.outcome.percentile(0.50));
        measured.insert((row.letter(), row.connections), (rate, p50));
        let versus = match measured.get(&('u', row.connections)) {
            Some((direct, _)) => format!("{:.0}%", 100.0 * rate / direct),
            None => "-".into(),
        };
        println!(
            "{:<32} {:>5} {:>10.0} {:>9} {:>9} {:>10}  {}",
            row.name,
            row.connections,
            rate,
            p50,
            row.outcome.percentile(0.99),
            versus,
            row.outcome.statuses()
        );
    }
    println!();
    for connections in [CONNECTIONS, 1] {
        let Some(&(direct_rate, direct_p50)) = measured.get(&('u', connections)) else { continue };
        for (letter, path) in
            [('h', "bare hop"), ('g', "gateway, stateless upstream"), ('s', "gateway, session upstream")]
        {
            let Some(&(rate, p50)) = measured.get(&(letter, connections)) else { continue };
            let overhead = i128::from(p50) - i128::from(direct_p50);
            let ratio = rate / direct_rate;
            // The goals are about the stateless form under load; the rest is for comparison.
            let goals = if letter == 'g' && connections == CONNECTIONS {
                format!(
                    " (goal <= {GOAL_OVERHEAD_US} µs: {}), throughput {letter}/u = {ratio:.2} (goal >= {GOAL_RATIO:.2}: {})",
                    verdict(overhead <= i128::from(GOAL_OVERHEAD_US)),
                    verdict(ratio >= GOAL_RATIO)
                )
            } else {
                format!(", throughput {letter}/u = {ratio:.2}")
            };
            // What the gateway's own work leaves of a bare hop's throughput.
            let of_hop = match measured.get(&('h', connections)) {
                Some(&(hop_rate, _)) if letter != 'h' => format!(", {letter}/h = {:.2}", rate / hop_rate),
                _ => String::new(),
            };
            println!(
                "{path}, {connections} connection{}: p50 overhead {letter} - u = {overhead} µs{goals}{of_hop}",
                if connections == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

async fn bind() -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

/// Starts the three programs, each knowing the others' URLs (every listener is bound first).
async fn start() -> anyhow::Result<System> {
    let (auth_listener, issuer) = bind().await?;
    let (server_listener, server) = bind().await?;
    let (gateway_listener, gateway) = bind().await?;
    let (hop_listener, hop) = bind().await?;

    let mut auth_settings = mcp_auth::config::Settings {
        issuer: Some(issuer.clone()),
        ..mcp_auth::config::Settings::for_tests(&server)
    };
    // The client's tokens outlive the whole run; hop tokens keep their production lifetime.
    auth_settings.access_token_ttl = Duration::from_secs(3600);
    let scopes = auth_settings.resources[0].scopes.clone();
    auth_settings.resources.push(mcp_auth::config::ResourceServer {
        resource: gateway.clone(),
        scopes,
        groups_claim: true,
    });
    let auth =
        mcp_auth::startup::Application::build_on(auth_listener, auth_settings, Arc::new(SystemClock)).await?;
    let store = auth.store();
    let now = SystemClock.now();
    mcp_auth::admin::add_user(&store, USER, &Password::new(PASSWORD), &["team".to_owned()], now).await?;
    let client = mcp_auth::admin::NewConfidentialClient {
        client_id: Some(GATEWAY_CLIENT.to_owned()),
        name: "MCP gateway (bench)".into(),
        auth: mcp_auth::admin::ConfidentialAuth::Secret,
        acts_for: vec![gateway.clone()],
        // Both of the catalog's upstreams are this one server.
        exchange_to: vec![server.clone()],
        grant_types: None,
        redirect_uris: Vec::new(),
    };
    let (_, secret) = mcp_auth::admin::add_confidential_client(&store, client, now).await?;
    let secret = secret.context("a client_secret_basic client has a secret")?;
    tokio::spawn(auth.run_until(std::future::pending()));

    let server_settings = mcp_server::config::Settings {
        resource: Some(server.clone()),
        ..mcp_server::config::Settings::for_tests(&issuer, "http://localhost:8080")
    };
    let app = mcp_server::startup::Application::build_on(server_listener, server_settings).await?;
    tokio::spawn(app.run_until(std::future::pending()));
    crate::proxy::start(hop_listener, &format!("{server}/mcp"))?;

    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/demo");
    let upstream = |name: &str, version: &str| mcp_gateway::upstream::Upstream {
        name: name.to_owned(),
        url: format!("{server}/mcp"),
        resource: server.clone(),
        version: version.to_owned(),
    };
    let settings = mcp_gateway::config::Settings {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        resource: Some(gateway.clone()),
        authorization_server: issuer,
        allowed_origins: Vec::new(),
        upstreams: vec![
            upstream("demo", protocol::mcp::STATELESS_VERSION),
            upstream("team", protocol::mcp::LATEST_SESSION_VERSION),
        ],
        catalog: demo.join("catalog.json"),
        policy: demo.join("policy.cedar"),
        credentials: mcp_gateway::hop::ClientCredentials::Secret {
            client_id: GATEWAY_CLIENT.to_owned(),
            secret,
        },
        // As the tests run it; a file would add its commits (batched, off the request path).
        audit_database_url: "sqlite::memory:".into(),
        approval_expiry: Duration::from_secs(300),
        upstream_sessions: mcp_gateway::upstream::SessionLimits::default(),
        sessions_per_user: mcp_endpoint::sessions::MAX_SESSIONS_PER_USER,
    };
    let app = mcp_gateway::startup::Application::build_on(gateway_listener, settings).await?;
    tokio::spawn(app.run_until(std::future::pending()));
    Ok(System { server, gateway, hop })
}

/// A token for `base`'s `/mcp`, through the real flow from its `401`, as [`USER`].
async fn sign_in(base: &str) -> anyhow::Result<AccessToken> {
    let url = format!("{base}/mcp");
    let unauthorized = reqwest::Client::new().post(&url).json(&serde_json::json!({})).send().await?;
    ensure!(unauthorized.status() == 401, "{url} answered {} without a token", unauthorized.status());
    let challenge = test_support::stack::challenge_of(&unauthorized);
    HeadlessUser::as_user(USER, PASSWORD).authorize_from_challenge(&url, &challenge).await
}
