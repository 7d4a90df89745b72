//! The authorization server part (`MCP_BENCH_PART=as`): `mcp-auth` on SQLite, `mcp-auth` on
//! PostgreSQL and node-oidc-provider, side by side in one run, each a child process on loopback
//! measured from outside over HTTP, configured for the same flow: the authorization code grant
//! with PKCE (S256) for one public client, ES256 JWT access tokens for one resource (RFC 8707),
//! refresh tokens rotated on every use, introspection by a confidential client, open dynamic
//! registration.
//!
//! | | row | one operation |
//! |---|---|---|
//! | r | refresh rotation | a refresh token grant; 32 independent chains |
//! | x | code exchange | `GET /authorize` with a session that already consented, through whatever redirects the server sends (ours: `/consent`, which answers from the remembered consent), then the code redeemed |
//! | i | introspection | a valid access token, asked about by the confidential client |
//! | e | registration | an RFC 7591 registration of a public client |
//! | m | mix | 70 % r, 20 % i, 9 % x, 1 % e, evenly interleaved |
//!
//! Each row runs [`CONCURRENCY`] virtual users, each one person's session on its own keep-alive
//! connection, signed in (login and consent) before the clock starts, in a closed loop. The servers
//! take turns, [`ROUNDS`] slices of [`SLICE`] each after [`WARMUP`], as the other parts' rows do.
//! Reported: operations per second, p50 and p99 of an operation (all its requests), requests per
//! operation, errors (each one printed), and CPU seconds per 1,000 operations: the server's process
//! from `/proc`, plus PostgreSQL's processes (SQLite is in-process). The mix also shows each kind of
//! operation within it (count, p50, p99), since its one p99 is mostly its slowest kind's tail.
//!
//! Differences that are the servers', not the harness's: node-oidc-provider refuses to introspect
//! JWTs (`unsupported_token_type`), so it introspects opaque access tokens of a second resource (no
//! signature to check), where ours verifies its JWT and reads the token's record; it does not
//! store JWT access tokens, ours records each one (for introspection and revocation); ours writes
//! an audit event for each token issued and each registration, and commits before it answers;
//! node-oidc-provider's default adapter keeps everything in the process's memory (an LRU of 1,000
//! entries per generation), and it ships no persistent one.
//!
//! `MCP_BENCH_AS=sqlite,postgres,oidc-provider` picks servers, `MCP_BENCH_ROWS=rxiem` rows.

mod flows;
mod http;
mod servers;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use flows::{Op, VirtualUser};
use servers::{CpuTime, Kind, Server, random_u64};

use crate::Selection;

/// The letters of this part's rows.
pub const ROWS: &str = "rxiem";
/// Concurrent virtual users (sessions, refresh chains, connections) of every row.
const CONCURRENCY: usize = 32;
/// Each row is measured for [`ROUNDS`] slices of [`SLICE`] on each server, each after a warm-up.
const ROUNDS: u32 = 2;
const SLICE: Duration = Duration::from_millis(2500);
const WARMUP: Duration = Duration::from_millis(1000);

/// What a row's virtual users do.
#[derive(Clone, Copy)]
enum Workload {
    Only(Op),
    Mix,
}

struct Row {
    letter: char,
    name: &'static str,
    workload: Workload,
}

const ROW_LIST: [Row; 5] = [
    Row { letter: 'r', name: "refresh rotation", workload: Workload::Only(Op::Refresh) },
    Row { letter: 'x', name: "code exchange", workload: Workload::Only(Op::CodeExchange) },
    Row { letter: 'i', name: "introspection", workload: Workload::Only(Op::Introspection) },
    Row { letter: 'e', name: "registration", workload: Workload::Only(Op::Registration) },
    Row { letter: 'm', name: "mix 70/20/9/1", workload: Workload::Mix },
];

/// What one row measured on one server, summed over its slices.
#[derive(Default)]
struct Measured {
    latencies_us: Vec<u64>,
    /// The same latencies by operation, for the mix, whose one p99 does not say which
    /// operations make its tail.
    by_op: BTreeMap<&'static str, Vec<u64>>,
    seconds: f64,
    requests: u64,
    errors: BTreeMap<String, usize>,
    cpu: CpuTime,
}

impl Measured {
    fn add(&mut self, other: Measured) {
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
        for (op, latencies) in other.by_op {
            let mine = self.by_op.entry(op).or_default();
            mine.extend(latencies);
            mine.sort_unstable();
        }
        self.seconds += other.seconds;
        self.requests += other.requests;
        for (error, count) in other.errors {
            *self.errors.entry(error).or_default() += count;
        }
        self.cpu = self.cpu + other.cpu;
    }

    fn ops(&self) -> usize {
        self.latencies_us.len()
    }

    fn rate(&self) -> f64 {
        self.ops() as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// The `p` quantile (0..1), in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        quantile_ms(&self.latencies_us, p)
    }

    /// CPU seconds (server + database) per 1,000 operations.
    fn cpu_per_thousand(&self) -> f64 {
        (self.cpu.server + self.cpu.database) * 1000.0 / self.ops().max(1) as f64
    }

    fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

/// The `p` quantile (0..1) of sorted latencies in microseconds, in milliseconds.
fn quantile_ms(sorted_us: &[u64], p: f64) -> f64 {
    let n = sorted_us.len();
    let index = ((n as f64 * p) as usize).min(n.saturating_sub(1));
    sorted_us.get(index).map_or(0.0, |&us| us as f64 / 1000.0)
}

pub async fn run(selection: &Selection) -> anyhow::Result<()> {
    let rows: Vec<&Row> = ROW_LIST.iter().filter(|row| selection.row(row.letter)).collect();
    let chosen = std::env::var("MCP_BENCH_AS").ok().filter(|v| !v.is_empty());
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|kind| chosen.as_ref().is_none_or(|c| c.split(',').any(|k| k.trim() == kind.key())))
        .collect();
    let scratch = std::env::temp_dir().join(format!("mcp-bench-as-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nauthorization servers (load average before: {}): starting…",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let mut servers: Vec<(Kind, Result<Server, String>)> = Vec::new();
    for kind in kinds {
        let started = Server::start(kind, &scratch).await.map_err(|e| format!("{e:#}"));
        match &started {
            Ok(server) => println!("  {:<24} {} at {}", kind.label(), server.description, server.target.base),
            Err(reason) => println!("  {:<24} not measured: {reason}", kind.label()),
        }
        servers.push((kind, started));
    }

    let mut results: HashMap<(char, Kind), Result<Measured, String>> = HashMap::new();
    for row in &rows {
        print!("  {:<18} signing in {CONCURRENCY} users on each server…", row.name);
        std::io::Write::flush(&mut std::io::stdout())?;
        // Every server's users sign in first; then the servers take turns, a slice each per round,
        // so that a burst of noise from the rest of the machine lands on all of them.
        let mut cells = Vec::new();
        for (kind, server) in &servers {
            let Ok(server) = server else { continue };
            let users = sign_in(server).await.map_err(|e| format!("{e:#}"));
            cells.push((*kind, server, users.map(|users| (users, Measured::default()))));
        }
        for round in 0..ROUNDS {
            print!(" round {}/{ROUNDS}", round + 1);
            std::io::Write::flush(&mut std::io::stdout())?;
            for (_, server, cell) in &mut cells {
                let Ok((users, measured)) = cell else { continue };
                match run_slice(server, std::mem::take(users), row.workload).await {
                    Ok((back, slice)) => {
                        *users = back;
                        measured.add(slice);
                    }
                    Err(e) => *cell = Err(format!("{e:#}")),
                }
            }
        }
        println!();
        for (kind, _, cell) in cells {
            results.insert((row.letter, kind), cell.map(|(_, measured)| measured));
        }
    }

    print_table(&rows, &servers, &results);
    drop(servers);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Signs in [`CONCURRENCY`] virtual users, concurrently; each with its position in the mix.
async fn sign_in(server: &Server) -> anyhow::Result<Vec<(VirtualUser, u64)>> {
    let mut signing_in = Vec::new();
    for _ in 0..CONCURRENCY {
        let target = server.target.clone();
        let seed: Vec<u8> = (0..4).flat_map(|_| random_u64().to_le_bytes()).collect();
        let seed: [u8; 32] = seed.try_into().expect("four u64s are 32 bytes");
        signing_in.push(tokio::spawn(async move { VirtualUser::sign_in(&target, seed).await }));
    }
    let mut users = Vec::new();
    for task in signing_in {
        users.push((task.await??, 0));
    }
    Ok(users)
}

/// One slice of a row on one server: the users run for [`WARMUP`], then [`SLICE`] is measured:
/// the time and outcome of each operation sent in it, and the CPU the server used meanwhile.
async fn run_slice(
    server: &Server,
    users: Vec<(VirtualUser, u64)>,
    workload: Workload,
) -> anyhow::Result<(Vec<(VirtualUser, u64)>, Measured)> {
    let measure_from = Instant::now() + WARMUP;
    let end = measure_from + SLICE;
    let probe = server.cpu.clone();
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = probe.read();
        tokio::time::sleep_until(end.into()).await;
        probe.read() - before
    });
    let mut tasks = Vec::new();
    for (index, (mut user, mut position)) in users.into_iter().enumerate() {
        let target = server.target.clone();
        tasks.push(tokio::spawn(async move {
            let mut measured = Measured::default();
            loop {
                let (sent, requests) = (Instant::now(), user.requests());
                if sent >= end {
                    break;
                }
                let op = match workload {
                    Workload::Only(op) => op,
                    Workload::Mix => Op::of_mix(index, position),
                };
                position += 1;
                let outcome = user.perform(&target, op).await;
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        let latency = sent.elapsed().as_micros() as u64;
                        measured.latencies_us.push(latency);
                        if matches!(workload, Workload::Mix) {
                            measured.by_op.entry(op.label()).or_default().push(latency);
                        }
                        measured.requests += user.requests() - requests;
                    }
                    Err(error) => *measured.errors.entry(error).or_default() += 1,
                }
            }
            ((user, position), measured)
        }));
    }
    let mut users = Vec::new();
    let mut total = Measured::default();
    for task in tasks {
        let (user, measured) = task.await?;
        users.push(user);
        total.add(measured);
    }
    total.seconds = SLICE.as_secs_f64();
    total.cpu = cpu.await?;
    Ok((users, total))
}

fn print_table(
    rows: &[&Row],
    servers: &[(Kind, Result<Server, String>)],
    results: &HashMap<(char, Kind), Result<Measured, String>>,
) {
    println!();
    println!(
        "authorization server: {CONCURRENCY} concurrent, {ROUNDS} slices of {:.1} s each after {:.1} s of warm-up; CPU: seconds per 1,000 operations, server (+ database)",
        SLICE.as_secs_f64(),
        WARMUP.as_secs_f64()
    );
    println!(
        "{:<20} {:<24} {:>7} {:>8} {:>8} {:>7} {:>18}  errors",
        "operation", "server", "ops/s", "p50 ms", "p99 ms", "req/op", "CPU s/1k ops"
    );
    for row in rows {
        for (kind, _) in servers {
            let head = format!("{:<20} {:<24}", format!("{}  {}", row.letter, row.name), kind.label());
            match results.get(&(row.letter, *kind)) {
                None => println!("{head} not measured"),
                Some(Err(reason)) => println!("{head} failed: {reason}"),
                Some(Ok(m)) => {
                    let cpu = if *kind == Kind::Postgres {
                        format!(
                            "{:.2} ({:.2} + {:.2})",
                            m.cpu_per_thousand(),
                            m.cpu.server * 1000.0 / m.ops().max(1) as f64,
                            m.cpu.database * 1000.0 / m.ops().max(1) as f64
                        )
                    } else {
                        format!("{:.2}", m.cpu_per_thousand())
                    };
                    println!(
                        "{head} {:>7.0} {:>8.1} {:>8.1} {:>7.1} {:>18}  {}",
                        m.rate(),
                        m.percentile_ms(0.50),
                        m.percentile_ms(0.99),
                        m.requests as f64 / m.ops().max(1) as f64,
                        cpu,
                        m.error_count()
                    );
                    for (op, latencies) in &m.by_op {
                        println!(
                            "{:<46} of which {op}: {} ops, p50 {:.1} ms, p99 {:.1} ms",
                            "",
                            latencies.len(),
                            quantile_ms(latencies, 0.50),
                            quantile_ms(latencies, 0.99)
                        );
                    }
                    for (error, count) in m.errors.iter().take(5) {
                        println!("{:<46} {count} × {error}", "");
                    }
                    if m.errors.len() > 5 {
                        println!("{:<46} and {} more kinds of error", "", m.errors.len() - 5);
                    }
                }
            }
        }
    }
    for (kind, server) in servers {
        if let Err(reason) = server {
            println!("{}: not measured: {reason}", kind.label());
        }
    }
    println!(
        "oidc-provider, persistent adapter: not measured: node-oidc-provider ships only its in-memory adapter (persistent ones are examples in its repository, not part of the package)"
    );

    if !rows.iter().any(|row| matches!(results.get(&(row.letter, Kind::OidcProvider)), Some(Ok(_)))) {
        return;
    }
    println!();
    println!(
        "ours ÷ oidc-provider (memory): ops/s (> 1: ours does more), p99 and CPU per operation (< 1: ours is quicker, cheaper)"
    );
    println!("{:<20} {:<24} {:>7} {:>8} {:>8}  verdict", "operation", "ours on", "ops/s", "p99", "CPU");
    let mut verdicts: BTreeMap<Kind, (usize, usize)> = BTreeMap::new();
    for row in rows {
        let Some(Ok(theirs)) = results.get(&(row.letter, Kind::OidcProvider)) else { continue };
        for kind in [Kind::Sqlite, Kind::Postgres] {
            let head = format!("{:<20} {:<24}", format!("{}  {}", row.letter, row.name), kind.label());
            let Some(Ok(ours)) = results.get(&(row.letter, kind)) else {
                println!("{head} {:>7} {:>8} {:>8}  not measured", "-", "-", "-");
                continue;
            };
            let rate = ours.rate() / theirs.rate().max(f64::MIN_POSITIVE);
            let p99 = ours.percentile_ms(0.99) / theirs.percentile_ms(0.99).max(f64::MIN_POSITIVE);
            let cpu = ours.cpu_per_thousand() / theirs.cpu_per_thousand().max(f64::MIN_POSITIVE);
            let ahead = rate > 1.0 && p99 < 1.0 && ours.error_count() == 0;
            let tally = verdicts.entry(kind).or_default();
            tally.0 += usize::from(ahead);
            tally.1 += 1;
            println!("{head} {rate:>7.2} {p99:>8.2} {cpu:>8.2}  {}", if ahead { "ahead" } else { "BEHIND" });
        }
    }
    for (kind, (ahead, of)) in verdicts {
        println!(
            "goal (ours ahead of node-oidc-provider in memory on every row: more ops/s, lower p99, no errors): {}: ahead on {ahead} of {of} rows: {}",
            kind.label(),
            if ahead == of { "met" } else { "MISSED" }
        );
    }
}
