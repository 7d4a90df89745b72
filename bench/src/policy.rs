//! Policy evaluation: how long the gateway's decision on one tool call takes
//! ([`Policies::decide`]: the request and entities built from the call, Cedar's evaluation, the
//! obligations read), with a large policy set and with the demo's.
//!
//! The large set is the demo's policies followed by generated ones, validated strictly against the
//! demo catalog like any policy file. The generated ones are of the kinds an operator writes
//! (argument patterns, groups, clients, upstreams, addresses), and most of them apply to the timed
//! call's tool, so that their conditions are evaluated rather than skipped by the action alone.
//! The timed call (`demo__echo`) is allowed, as most calls are. It is timed twice: made by a new
//! user each time, and by the same user over and over, whose entities and chosen policies a
//! decision keeps from the call before (`gateway/src/policy/memo.rs`); the goal is judged on new
//! users.
//! One thread, nothing else running: the servers of the other parts are idle by now.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mcp_gateway::catalog::{Catalog, UpstreamTools};
use mcp_gateway::policy::{CallFacts, Policies};
use serde_json::{Map, Value, json};

/// The letter of this part's rows.
pub const ROWS: &str = "p";
/// How many policies the large set has, the demo's included.
const LARGE: usize = 1_000;
const WARMUP: usize = 2_000;
const ITERATIONS: usize = 20_000;
/// Goal (issue 13): the p99 of one decision with [`LARGE`] policies.
const GOAL_P99: Duration = Duration::from_micros(50);

pub fn run() -> anyhow::Result<()> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/demo");
    let catalog_text = std::fs::read_to_string(demo.join("catalog.json"))?;
    let upstreams: BTreeMap<String, UpstreamTools> = serde_json::from_str(&catalog_text)?;
    let (catalog, skipped) = Catalog::build(&upstreams);
    ensure!(skipped.is_empty(), "the demo catalog left tools out: {skipped:?}");
    let demo_text = std::fs::read_to_string(demo.join("policy.cedar"))?;
    let demo_count = Policies::load("policy.cedar", &demo_text, &catalog)?.len();
    let large_text = format!("{demo_text}\n{}", generated(LARGE - demo_count));

    let started = Instant::now();
    let large = Policies::load("generated.cedar", &large_text, &catalog).context("the generated policies")?;
    let load_time = started.elapsed();
    ensure!(large.len() == LARGE, "{} policies loaded, not {LARGE}", large.len());
    let small = Policies::load("policy.cedar", &demo_text, &catalog)?;

    let arguments: Map<String, Value> =
        json!({"text": "hello from the benchmark, about the topic of the week"})
            .as_object()
            .cloned()
            .unwrap_or_default();
    let groups = ["team".to_owned(), "staff".to_owned()];
    let scopes = ["echo".to_owned(), "notes:read".to_owned(), "profile".to_owned()];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let facts = CallFacts {
        user: "user-0001",
        groups: &groups,
        client_id: "bench-client",
        client_registration: "dynamic",
        tool: "demo__echo",
        arguments: &arguments,
        time: now,
        client_address: "127.0.0.1",
        scopes: &scopes,
        auth_time: now - 60,
    };

    println!("\ntiming {ITERATIONS} decisions of each policy set, one thread…");
    let mut rows = Vec::new();
    // A decision keeps what it built from the caller for the caller's next call
    // (`gateway/src/policy/memo.rs`): a caller seen before pays less than a new one, and the goal
    // is judged on the new one.
    for (name, policies, callers) in [
        ("p  1,000 policies, a new caller each", &large, Callers::New),
        ("p  1,000 policies, the same caller", &large, Callers::Same),
        ("p  the demo's policies, the same caller", &small, Callers::Same),
    ] {
        let decision = policies.decide(&facts);
        ensure!(
            decision.allowed && decision.errors.is_empty(),
            "{name}: the timed call is not allowed: {decision:?}"
        );
        rows.push((name, policies.len(), time(policies, &facts, callers)));
    }

    println!();
    println!(
        "{:<40} {:>8} {:>9} {:>9} {:>9}",
        "policy evaluation: decide()", "policies", "p50 µs", "p99 µs", "max µs"
    );
    for (name, count, timings) in &rows {
        let [p50, p99, max] = [0.50, 0.99, 1.0].map(|p| micros(quantile(timings, p)));
        println!("{name:<40} {count:>8} {p50:>9.1} {p99:>9.1} {max:>9.1}");
    }
    println!();
    let p99 = quantile(&rows[0].2, 0.99);
    println!(
        "policy, {LARGE} policies, a new caller each call: p99 = {:.1} µs (goal <= {} µs: {}); loading and validating them took {} ms",
        micros(p99),
        GOAL_P99.as_micros(),
        if p99 <= GOAL_P99 { "met" } else { "MISSED" },
        load_time.as_millis()
    );
    Ok(())
}

/// `count` policies of seven kinds, in turn. Every kind but two applies to the timed call's tool
/// (`demo__echo`, in the `read` group of upstream `demo`), and none of them changes its outcome:
/// the conditions are evaluated and come out false, or the scope names a group the caller is not
/// in.
fn generated(count: usize) -> String {
    let mut text = String::new();
    for i in 0..count {
        let policy = match i % 7 {
            // Argument patterns on the timed tool: evaluated, no match.
            0 => format!(
                r#"@id("echo-secret-{i}")
forbid(principal, action == Gateway::Action::"demo__echo", resource)
when {{ context.arguments.text like "*secret-{i}*" }};"#
            ),
            // A group's permission on one topic: the caller is not in the group.
            1 => format!(
                r#"@id("echo-project-{i}")
permit(principal in Gateway::Group::"project-{i}", action == Gateway::Action::"demo__echo", resource)
when {{ context.arguments.text like "*topic-{i}*" }};"#
            ),
            // Per-client rules over a whole group of actions and an upstream: attribute lookups.
            2 => format!(
                r#"@id("read-client-{i}")
permit(principal, action in Gateway::Action::"read", resource in Gateway::Upstream::"demo")
when {{ principal.client_id == "client-{i}" && context.scopes.contains("echo") }};"#
            ),
            // A blocked group, for everything.
            3 => format!(
                r#"@id("blocked-{i}")
forbid(principal in Gateway::Group::"blocked-{i}", action, resource);"#
            ),
            // Network rules: a string comparison and a number.
            4 => format!(
                r#"@id("network-{i}")
forbid(principal, action in Gateway::Action::"read", resource)
when {{ context.client_address == "10.{}.{}.1" && context.auth_time > 0 }};"#,
                i / 256,
                i % 256
            ),
            // Another tool's arguments: does not apply to the timed call.
            5 => format!(
                r#"@id("notes-title-{i}")
permit(principal, action == Gateway::Action::"demo__add_note", resource)
when {{ context.arguments.title like "project-{i}-*" }};"#
            ),
            // Another upstream's tool, for a group the caller is in.
            _ => format!(
                r#"@id("team-echo-{i}")
forbid(principal in Gateway::Group::"team", action == Gateway::Action::"team__echo", resource)
when {{ context.arguments.text like "*{i}-forbidden*" }};"#
            ),
        };
        text.push_str(&policy);
        text.push_str("\n\n");
    }
    text
}

/// How long each of [`ITERATIONS`] decisions took, after [`WARMUP`] untimed ones, sorted.
/// Who makes the timed calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Callers {
    /// The same user every time.
    Same,
    /// A user not seen before every time (their names made before the clock runs).
    New,
}

fn time(policies: &Policies, facts: &CallFacts<'_>, callers: Callers) -> Vec<Duration> {
    let users: Vec<String> = match callers {
        Callers::Same => Vec::new(),
        Callers::New => (0..WARMUP + ITERATIONS).map(|i| format!("new-user-{i}")).collect(),
    };
    let facts_of =
        |i: usize| CallFacts { user: users.get(i).map_or(facts.user, String::as_str), ..facts.clone() };
    for i in 0..WARMUP {
        black_box(policies.decide(black_box(&facts_of(i))));
    }
    let mut timings: Vec<Duration> = (WARMUP..WARMUP + ITERATIONS)
        .map(|i| {
            let facts = facts_of(i);
            let started = Instant::now();
            black_box(policies.decide(black_box(&facts)));
            started.elapsed()
        })
        .collect();
    timings.sort_unstable();
    timings
}

/// The `p` quantile (0..=1) of sorted `timings`.
fn quantile(timings: &[Duration], p: f64) -> Duration {
    let n = timings.len();
    timings.get(((n as f64 * p) as usize).min(n.saturating_sub(1))).copied().unwrap_or_default()
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
