//! The token endpoint under concurrent code exchanges and refreshes, on SQLite.
//!
//! Workers run whole flows (login once, then authorize + consent + code exchange), three refreshes
//! each, and now and then spend one refresh token twice at the same moment. Afterwards the
//! database must account for every token handed out, exactly once.

use std::time::{Duration, Instant};

use sqlx::Row as _;

use crate::Options;
use crate::flows::{self, TokenOutcome, User};
use crate::procs::Site;
use crate::report::{Report, ms, percentile};

/// Refreshes after each code exchange.
const REFRESHES_PER_FLOW: usize = 3;
/// Every this many flows, a worker spends one refresh token twice concurrently.
const DOUBLE_SPEND_EVERY: usize = 4;

#[derive(Debug, Default)]
struct Stats {
    flows: usize,
    exchanges: usize,
    refreshes: usize,
    double_spends: usize,
    /// Double spends where other than exactly one of the two got tokens.
    double_spend_violations: Vec<String>,
    /// Anything that is not a clean success or a clean OAuth refusal.
    broken: Vec<String>,
    echo_failures: usize,
    token_latencies: Vec<Duration>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.flows += other.flows;
        self.exchanges += other.exchanges;
        self.refreshes += other.refreshes;
        self.double_spends += other.double_spends;
        self.double_spend_violations.extend(other.double_spend_violations);
        self.broken.extend(other.broken);
        self.echo_failures += other.echo_failures;
        self.token_latencies.extend(other.token_latencies);
    }
}

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::new("load: concurrent code exchanges and refreshes on SQLite");
    let site = Site::new()?;
    let (db, auth_port, server_port, resource) = (&site.db, site.auth_port, site.server_port, &site.resource);
    let mut auth = options.binaries.auth(db, auth_port, resource, &[]).await?;
    let mut server = options.binaries.server(server_port, &auth.issuer, &[]).await?;
    let client = flows::register(&auth.issuer).await?;

    report.say(format!(
        "{} workers for {} s: login once, then authorize + consent + code exchange, {REFRESHES_PER_FLOW} \
         refreshes, a call to /echo; every {DOUBLE_SPEND_EVERY}th flow spends a refresh token twice at once",
        options.workers, options.seconds
    ));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let workers: Vec<_> = (0..options.workers)
        .map(|_| {
            let user = User::new(client.clone(), &auth.issuer, resource);
            let server = server.resource.clone();
            tokio::spawn(async move { worker(user, &server, deadline).await })
        })
        .collect();
    let mut stats = Stats::default();
    for worker in workers {
        stats.merge(worker.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();

    let per_second = |n: usize| n as f64 / elapsed;
    report.say(format!(
        "{} flows ({:.1}/s), {} code exchanges ({:.1}/s), {} refreshes ({:.1}/s), {} double spends",
        stats.flows,
        per_second(stats.flows),
        stats.exchanges,
        per_second(stats.exchanges),
        stats.refreshes,
        per_second(stats.refreshes),
        stats.double_spends
    ));
    report.say(format!(
        "token endpoint latency: p50 {}, p99 {}",
        ms(percentile(&mut stats.token_latencies, 50)),
        ms(percentile(&mut stats.token_latencies, 99))
    ));
    report.check(stats.exchanges > 0 && stats.refreshes > 0, "the workers got tokens at all");
    report.check(
        stats.broken.is_empty(),
        format!(
            "no 5xx, malformed answer or dropped connection ({}: {:?})",
            stats.broken.len(),
            stats.broken.first()
        ),
    );
    report.check(
        stats.double_spend_violations.is_empty(),
        format!(
            "each double spend: exactly one of the two got tokens, and the grant was revoked ({} bad: {:?})",
            stats.double_spend_violations.len(),
            stats.double_spend_violations.first()
        ),
    );
    report.check(
        stats.echo_failures == 0,
        format!("every access token works at the resource server ({} did not)", stats.echo_failures),
    );

    server.proc.terminate(Duration::from_secs(10)).await?;
    let status = auth.proc.terminate(Duration::from_secs(10)).await?;
    report.check(status.success(), format!("mcp-auth exits cleanly on SIGTERM ({status})"));
    let log = auth.proc.log().to_lowercase();
    let locked =
        log.lines().filter(|l| l.contains("database is locked") || l.contains("sqlite_busy")).count();
    report.check(
        locked == 0,
        format!("zero \"database is locked\" in the authorization server's log ({locked})"),
    );

    // The books: every code exchange made one grant; every issued token pair is one row each.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await?;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        let client_id = client.id.clone();
        async move { sqlx::query(sql).bind(client_id).fetch_one(&pool).await.map(|r| r.get::<i64, _>(0) as usize) }
    };
    let grants = count("SELECT COUNT(*) FROM grants WHERE client_id = ?").await?;
    let refresh_rows = count(
        "SELECT COUNT(*) FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE g.client_id = ?",
    )
    .await?;
    let access_rows = count(
        "SELECT COUNT(*) FROM access_tokens a JOIN grants g ON g.id = a.grant_id WHERE g.client_id = ?",
    )
    .await?;
    let issued = stats.exchanges + stats.refreshes;
    report.check(
        grants == stats.exchanges,
        format!("grants in the database = code exchanges ({grants} = {})", stats.exchanges),
    );
    report.check(
        refresh_rows == issued,
        format!("refresh tokens stored = token responses ({refresh_rows} = {issued}): none lost, none extra"),
    );
    report.check(
        access_rows == issued,
        format!("access tokens recorded = token responses ({access_rows} = {issued})"),
    );
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await?;
    report.check(integrity == "ok", format!("PRAGMA integrity_check: {integrity}"));
    Ok(report)
}

async fn worker(user: User, server: &str, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        let tokens = match user.authorize().await {
            Ok(TokenOutcome::Issued(tokens, took)) => {
                stats.exchanges += 1;
                stats.token_latencies.push(took);
                tokens
            }
            Ok(other) => {
                stats.broken.push(format!("code exchange: {other:?}"));
                continue;
            }
            Err(e) => {
                stats.broken.push(format!("authorization pages: {e:#}"));
                continue;
            }
        };
        match user.echo(server, &tokens.access).await {
            Ok(200) => {}
            _ => stats.echo_failures += 1,
        }
        let mut refresh = tokens.refresh;
        for _ in 0..REFRESHES_PER_FLOW {
            match user.refresh(&refresh).await {
                TokenOutcome::Issued(next, took) => {
                    stats.refreshes += 1;
                    stats.token_latencies.push(took);
                    refresh = next.refresh;
                }
                other => {
                    stats.broken.push(format!("refresh: {other:?}"));
                    break;
                }
            }
        }
        stats.flows += 1;
        if stats.flows % DOUBLE_SPEND_EVERY == 0 {
            stats.double_spends += 1;
            double_spend(&user, &refresh, &mut stats).await;
        }
    }
    stats
}

/// Spends `refresh` twice at once. Exactly one may win; the other is reuse (RFC 9700 §4.14.2),
/// which revokes the grant, so the winner's new refresh token is dead too.
async fn double_spend(user: &User, refresh: &str, stats: &mut Stats) {
    let (a, b) = tokio::join!(user.refresh(refresh), user.refresh(refresh));
    let winner = match (&a, &b) {
        (TokenOutcome::Issued(tokens, _), loser) | (loser, TokenOutcome::Issued(tokens, _))
            if loser.is_invalid_grant() =>
        {
            tokens.refresh.clone()
        }
        _ => {
            stats.double_spend_violations.push(format!("{a:?} / {b:?}"));
            return;
        }
    };
    stats.refreshes += 1;
    match user.refresh(&winner).await {
        outcome if outcome.is_invalid_grant() => {}
        other => stats.double_spend_violations.push(format!("the grant survived reuse: {other:?}")),
    }
}
