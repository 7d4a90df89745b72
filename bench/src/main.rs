//! `cargo xtask bench`: how much the resource server's token checks cost.
//!
//! In one run, side by side, on loopback: `GET /echo` and an MCP `tools/call` (stateless form),
//! each under four conditions:
//!
//! | | condition | what it measures |
//! |---|---|---|
//! | a | token validation disabled | the ceiling: routing, JSON, the tool, HTTP |
//! | b | one valid token, repeated | the verified-token cache |
//! | c | a fresh valid token per request | one ES256 signature check per request |
//! | d | a fresh invalid token per request (bad signature) | rejection must not cost more than (c) |
//!
//! Tokens come from an issuer started here (metadata + JWKS on loopback), signed with its own key,
//! minted before the clock starts. Requests/s and latency percentiles are printed per row, and
//! the ratios b/a and c/a. The machine is shared and noisy: compare rows of one run, not runs.

mod issuer;
mod load;

use std::sync::Arc;
use std::time::Duration;

use mcp_server::auth::{Validator, VerifiedToken};
use mcp_server::config::Settings;
use mcp_server::startup::Application;
use protocol::jwt::{AccessTokenClaims, Audience};
use protocol::scope::Scopes;
use tokio::net::TcpListener;

use load::{Endpoint, FreshPool, Outcome, Tokens};

/// How long each row is measured in all, in [`ROUNDS`] slices, each after a short warm-up.
const DURATION: Duration = Duration::from_secs(4);
const ROUNDS: u32 = 4;
const WARMUP: Duration = Duration::from_millis(200);
/// Concurrent keep-alive connections.
const CONNECTIONS: usize = 32;

async fn start(ceiling: bool, issuer: &str) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let settings =
        Settings { resource: Some(base.clone()), ..Settings::for_tests(issuer, "http://localhost:8080") };
    let app = if ceiling {
        let resource = base.clone();
        Application::build_on_with(listener, settings, move |_, _| {
            Validator::dangerously_disabled_for_benchmarks(VerifiedToken {
                claims: AccessTokenClaims {
                    iss: String::new(),
                    aud: Audience::One(resource),
                    sub: "bench-user".into(),
                    client_id: "bench-client".into(),
                    iat: 0,
                    exp: u64::MAX,
                    nbf: None,
                    jti: "bench".into(),
                    scope: Some("echo".into()),
                    auth_time: None,
                },
                scopes: Scopes::parse("echo").expect("constant scope"),
            })
        })
        .await?
    } else {
        Application::build_on(listener, settings).await?
    };
    tokio::spawn(app.run_until(std::future::pending()));
    Ok(base)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issuer = issuer::Issuer::start().await?;
    let ceiling = start(true, &issuer.url).await?;
    let real = start(false, &issuer.url).await?;
    let pool = load::estimate_pool(DURATION + WARMUP * ROUNDS);
    println!("minting {pool} valid and {pool} invalid tokens for each endpoint…");

    let mut rows: Vec<(&'static str, Endpoint, &str, Tokens, Outcome)> = Vec::new();
    for endpoint in [Endpoint::Echo, Endpoint::ToolsCall] {
        let fresh = FreshPool::new(issuer.mint(&real, pool));
        let invalid = FreshPool::new(issuer::corrupt(&issuer.mint(&real, pool)));
        let one: Arc<str> = issuer.mint(&real, 1).remove(0).into();
        rows.push(("a  no validation (ceiling)", endpoint, &ceiling, Tokens::None, Outcome::default()));
        rows.push(("b  one token, repeated", endpoint, &real, Tokens::Same(one), Outcome::default()));
        rows.push(("c  fresh valid token each", endpoint, &real, Tokens::Fresh(fresh), Outcome::default()));
        rows.push((
            "d  fresh invalid token each",
            endpoint,
            &real,
            Tokens::Fresh(invalid),
            Outcome::default(),
        ));
    }
    // Rows take turns, a slice each per round, so that a burst of noise from the rest of the
    // machine lands on all of them rather than on one.
    for round in 0..ROUNDS {
        print!("\rround {}/{ROUNDS}", round + 1);
        std::io::Write::flush(&mut std::io::stdout())?;
        for (_, endpoint, base, tokens, outcome) in &mut rows {
            outcome.add(
                load::run(base, *endpoint, tokens.clone(), CONNECTIONS, WARMUP, DURATION / ROUNDS).await?,
            );
        }
    }
    println!();

    println!();
    println!(
        "{:<30} {:<14} {:>10} {:>9} {:>9} {:>8}  status",
        "condition", "endpoint", "req/s", "p50 µs", "p99 µs", "vs (a)"
    );
    let mut rates = std::collections::HashMap::new();
    for (name, endpoint, _, _, outcome) in &mut rows {
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
        let (a, b, c, d) = (rate(b'a'), rate(b'b'), rate(b'c'), rate(b'd'));
        println!(
            "{}: b/a = {:.2} (target >= 0.70), c/a = {:.2}, d/c = {:.2} (target >= 1.0: rejecting costs no more than accepting)",
            endpoint.label(),
            b / a,
            c / a,
            d / c
        );
    }
    Ok(())
}
