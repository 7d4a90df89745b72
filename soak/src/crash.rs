//! `kill -9` of the authorization server in the middle of flows, then a restart on the same
//! database: everything it had confirmed is still there, and nothing is usable twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row as _;

use crate::Options;
use crate::flows::{self, TokenOutcome, Tokens, User, kid_of, published_kids};
use crate::procs::Site;
use crate::report::Report;

/// What a worker knew when the server died.
#[derive(Debug, Default, Clone)]
struct Held {
    /// A refresh token from a response the worker received, not yet sent again.
    confirmed: Option<String>,
    /// A refresh token sent in a request that had not been answered: it may or may not have been
    /// spent.
    in_flight: Option<String>,
}

/// How the authorization server is stopped mid-flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `kill -9`: a crash.
    Kill,
    /// `SIGTERM`: a graceful shutdown, which must finish in-flight requests and exit 0.
    Terminate,
}

pub async fn run(options: &Options, stop: Stop) -> anyhow::Result<Report> {
    let (title, rounds) = match stop {
        Stop::Kill => ("crash: kill -9 of mcp-auth mid-flow, then restart", options.crash_rounds),
        Stop::Terminate => ("sigterm: graceful shutdown of mcp-auth mid-flow, then restart", 1),
    };
    let mut report = Report::new(title);
    let site = Site::new()?;
    let (db, auth_port, server_port, resource) = (&site.db, site.auth_port, site.server_port, &site.resource);
    let mut auth = options.binaries.auth(db, auth_port, resource, &[]).await?;
    let client = flows::register(&auth.issuer).await?;

    // Before the crash: a user with a consent and a grant, a token, the published keys.
    let user = User::new(client.clone(), &auth.issuer, resource);
    let Ok(TokenOutcome::Issued(mut first, _)) = user.authorize().await else {
        anyhow::bail!("the first flow failed");
    };
    let kids_before = published_kids(&auth.issuer).await?;

    for round in 1..=rounds {
        report.say(format!(
            "round {round}: {} workers run flows and refreshes; {} after {} ms",
            options.workers,
            if stop == Stop::Kill { "kill -9" } else { "SIGTERM" },
            700 * round
        ));
        let held: Vec<Arc<Mutex<Held>>> = (0..options.workers).map(|_| Arc::default()).collect();
        let workers: Vec<_> = held
            .iter()
            .map(|slot| {
                let user = User::new(client.clone(), &auth.issuer, resource);
                let slot = slot.clone();
                tokio::spawn(async move { worker(user, slot).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700 * round as u64)).await;

        // A rotation completed just before the crash: its old token must stay spent.
        let Some(Tokens { refresh: rotated_away, .. }) = rotate(&user, &first.refresh).await else {
            anyhow::bail!("a refresh before the crash failed");
        };
        let TokenOutcome::Issued(latest, _) = user.refresh(&rotated_away).await else {
            anyhow::bail!("the refresh just before the crash failed");
        };
        match stop {
            Stop::Kill => auth.proc.kill9().await?,
            Stop::Terminate => {
                let status = auth.proc.terminate(Duration::from_secs(40)).await?;
                report.check(
                    status.success(),
                    format!("mcp-auth finishes its requests and exits 0 ({status})"),
                );
                let wal = db.with_extension("db-wal");
                let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                report.check(
                    left == 0,
                    format!("nothing half-written: the WAL was checkpointed ({left} bytes left)"),
                );
            }
        }
        let mut broken = Vec::new();
        for worker in workers {
            broken.extend(worker.await?);
        }
        report.check(broken.is_empty(), format!("before the kill: no 5xx or malformed answer ({broken:?})"));

        let restarted = options.binaries.auth(db, auth_port, resource, &[]).await?;
        auth = restarted;
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await?;
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await?;
        report.check(
            integrity == "ok",
            format!("the database is intact (PRAGMA integrity_check: {integrity})"),
        );
        let consents = sqlx::query("SELECT COUNT(*) FROM consents WHERE client_id = ?")
            .bind(&client.id)
            .fetch_one(&pool)
            .await?
            .get::<i64, _>(0);
        report
            .check(consents >= 1, format!("the user's consent to the client is still recorded ({consents})"));
        pool.close().await;

        // Users, the client and its registration: a new person signs in and gets tokens.
        let newcomer = User::new(client.clone(), &auth.issuer, resource);
        let after = newcomer.authorize().await;
        report.check(
            matches!(after, Ok(TokenOutcome::Issued(..))),
            format!("the user can sign in and the client is still registered ({after:?})"),
        );
        // Signing keys: the same ones are published; a token from before validates at a freshly
        // started resource server, which knows nothing but what the restarted AS publishes.
        let kids_after = published_kids(&auth.issuer).await?;
        report.check(
            kids_before.iter().all(|k| kids_after.contains(k)),
            format!("the signing keys survived ({kids_before:?} ⊆ {kids_after:?})"),
        );
        let mut server = options.binaries.server(server_port, &auth.issuer, &[]).await?;
        let status = user.echo(&server.resource, &first.access).await?;
        report.check(
            status == 200,
            format!(
                "a token issued before the crash (kid {:?}) validates after it ({status})",
                kid_of(&first.access)
            ),
        );
        server.proc.terminate(Duration::from_secs(10)).await?;

        // Refresh tokens: the latest works once; the one rotated away just before the crash does
        // not work at all (and, being reuse, ends the grant).
        let latest_works = user.refresh(&latest.refresh).await;
        report.check(
            matches!(latest_works, TokenOutcome::Issued(..)),
            format!("the refresh token issued just before the crash works ({latest_works:?})"),
        );
        let replay = user.refresh(&rotated_away).await;
        report.check(
            replay.is_invalid_grant(),
            format!("the refresh token rotated just before the crash is not usable twice ({replay:?})"),
        );

        // The workers' tokens: every confirmed one works; an in-flight one either was spent or not,
        // but never breaks the server.
        let (mut confirmed_ok, mut confirmed_bad, mut in_flight) = (0, Vec::new(), 0);
        for slot in &held {
            let state = slot.lock().map(|s| s.clone()).unwrap_or_default();
            if let Some(token) = state.confirmed {
                match newcomer.refresh(&token).await {
                    TokenOutcome::Issued(..) => confirmed_ok += 1,
                    other => confirmed_bad.push(format!("{other:?}")),
                }
            }
            if let Some(token) = state.in_flight {
                in_flight += 1;
                let outcome = newcomer.refresh(&token).await;
                if !matches!(&outcome, TokenOutcome::Issued(..)) && !outcome.is_invalid_grant() {
                    confirmed_bad.push(format!("in flight at the kill: {outcome:?}"));
                }
            }
        }
        report.check(
            confirmed_bad.is_empty(),
            format!(
                "{confirmed_ok} refresh tokens confirmed before the kill work after it; {in_flight} in flight \
                 at the kill answer cleanly ({confirmed_bad:?})"
            ),
        );
        // The next round starts from a fresh grant.
        let Ok(TokenOutcome::Issued(fresh, _)) = user.authorize().await else {
            anyhow::bail!("a flow after the restart failed");
        };
        first = fresh;
    }
    auth.proc.terminate(Duration::from_secs(10)).await?;
    Ok(report)
}

/// One refresh; the new tokens.
async fn rotate(user: &User, refresh: &str) -> Option<Tokens> {
    match user.refresh(refresh).await {
        TokenOutcome::Issued(tokens, _) => Some(tokens),
        _ => None,
    }
}

/// Flows and refreshes until the server goes away; records what it holds at every step and
/// returns what was broken (5xx, malformed answers) before that.
async fn worker(user: User, held: Arc<Mutex<Held>>) -> Vec<String> {
    let set = |confirmed: Option<String>, in_flight: Option<String>| {
        if let Ok(mut h) = held.lock() {
            *h = Held { confirmed, in_flight };
        }
    };
    let mut broken = Vec::new();
    loop {
        let mut refresh = match user.authorize().await {
            Ok(TokenOutcome::Issued(tokens, _)) => tokens.refresh,
            Ok(TokenOutcome::Broken(why)) => {
                broken.push(why);
                return broken;
            }
            // The server is gone (or went away mid-flow): this worker is done.
            _ => return broken,
        };
        for _ in 0..5 {
            set(None, Some(refresh.clone()));
            match user.refresh(&refresh).await {
                TokenOutcome::Issued(tokens, _) => {
                    refresh = tokens.refresh;
                    set(Some(refresh.clone()), None);
                }
                TokenOutcome::Broken(why) => {
                    broken.push(why);
                    return broken;
                }
                TokenOutcome::Unreachable(_) => return broken,
                TokenOutcome::Refused { error, .. } => {
                    broken.push(format!("a fresh refresh token was refused: {error}"));
                    return broken;
                }
            }
        }
    }
}
