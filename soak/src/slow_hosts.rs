//! Slow and hanging hosts on the other end of the servers' outbound fetches (the resource
//! server's JWKS, the authorization server's client metadata documents): requests fail fast with
//! a clear error, connections are let go, and nothing piles up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Options;
use crate::procs::{Proc, free_port};
use crate::report::Report;

/// How the tarpit treats a connection.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Accepts and never answers.
    Hang,
    /// Answers `200` with a large Content-Length and then one byte every half second.
    Drip,
}

/// A host that misbehaves, counting connections made and still open.
struct Tarpit {
    url: String,
    made: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
}

impl Tarpit {
    async fn start(how: Misbehaviour) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (made, open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (made_, open_) = (made.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                made_.fetch_add(1, Ordering::SeqCst);
                open_.fetch_add(1, Ordering::SeqCst);
                let open = open_.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    if let Misbehaviour::Drip = how {
                        let _ = socket.read(&mut buffer).await;
                        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{";
                        let _ = socket.write_all(head.as_bytes()).await;
                        loop {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            if socket.write_all(b" ").await.is_err() {
                                break;
                            }
                        }
                    } else {
                        // Read until the peer gives up (EOF or error).
                        while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Self { url, made, open })
    }

    /// Waits up to `within` for every connection to be closed by the other side.
    async fn all_released(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while self.open.load(Ordering::SeqCst) > 0 {
            if Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

/// Fires `n` concurrent GETs made by `request`; their statuses and how long the slowest took.
async fn wave(n: usize, request: impl Fn() -> reqwest::RequestBuilder) -> (Vec<u16>, Duration) {
    let started = Instant::now();
    let calls: Vec<_> =
        (0..n).map(|_| tokio::spawn(request().timeout(Duration::from_secs(60)).send())).collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(match call.await {
            Ok(Ok(response)) => response.status().as_u16(),
            _ => 0,
        });
    }
    (statuses, started.elapsed())
}

fn summary(statuses: &[u16]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_insert(0) += 1;
    }
    counts.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(" ")
}

fn threads(proc: &Proc) -> usize {
    proc.threads().unwrap_or(0)
}

/// Requests wait at most this long for a hanging host, plus scheduling slack.
const BUDGET: Duration = Duration::from_secs(8);
const CONCURRENT: usize = 50;
/// The authorization server's SQLite pool size (auth/src/store/mod.rs): one thread per connection.
const DATABASE_POOL_THREADS: usize = 8;

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::new("slow hosts: hanging and dripping JWKS and client metadata servers");
    for how in [Misbehaviour::Hang, Misbehaviour::Drip] {
        jwks(options, how, &mut report).await?;
        client_metadata(options, how, &mut report).await?;
    }
    Ok(report)
}

/// The resource server's authorization server hangs or drips: token checks fail fast (503).
async fn jwks(options: &Options, how: Misbehaviour, report: &mut Report) -> anyhow::Result<()> {
    let tarpit = Tarpit::start(how).await?;
    let port = free_port()?;
    let mut server = options.binaries.server(port, &tarpit.url, &["--jwks-refresh-interval", "0"]).await?;
    let token = unverifiable_token(&tarpit.url, &server.resource);
    let threads_before = threads(&server.proc);
    let echo = format!("{}/echo?text=x", server.resource);
    let http = reqwest::Client::new();
    let (statuses, took) = wave(CONCURRENT, || http.get(&echo).bearer_auth(&token)).await;
    report.say(format!(
        "{CONCURRENT} token checks against a {how:?} authorization server: {} in {:.1} s; {} connection(s) to it",
        summary(&statuses),
        took.as_secs_f64(),
        tarpit.made.load(Ordering::SeqCst)
    ));
    report.check(
        statuses.iter().all(|s| *s == 503),
        "every check ends in 503 (keys unavailable), none hangs or 500s",
    );
    report.check(
        took < BUDGET,
        format!("within the key refresh deadline ({:.1} s < {} s)", took.as_secs_f64(), BUDGET.as_secs()),
    );
    report
        .check(tarpit.made.load(Ordering::SeqCst) <= 2, "one refresh at a time, not one per waiting request");
    let (again, quick) = wave(CONCURRENT, || http.get(&echo).bearer_auth(&token)).await;
    report.check(
        quick < Duration::from_secs(1) && again.iter().all(|s| *s == 503),
        format!("right after, the rate limit answers at once ({:.2} s)", quick.as_secs_f64()),
    );
    report.check(
        tarpit.all_released(Duration::from_secs(3)).await,
        "the connections to the slow host are closed",
    );
    let threads_after = threads(&server.proc);
    report.check(
        threads_after <= threads_before + 2,
        format!("no thread pile-up ({threads_before} → {threads_after} threads)"),
    );
    server.proc.terminate(Duration::from_secs(10)).await?;
    Ok(())
}

/// A client id URL on a host that hangs or drips: `/authorize` fails fast with an error page.
async fn client_metadata(options: &Options, how: Misbehaviour, report: &mut Report) -> anyhow::Result<()> {
    let tarpit = Tarpit::start(how).await?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let resource = "http://127.0.0.1:1";
    let mut auth = options
        .binaries
        .auth(&dir.path().join("auth.db"), port, resource, &["--dev-allow-loopback-client-metadata"])
        .await?;
    let client_id = format!("{}/client.json", tarpit.url);
    let mut authorize = url::Url::parse(&format!("{}/authorize", auth.issuer))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:1/callback")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "soak")
        .append_pair("resource", resource);
    let threads_before = threads(&auth.proc);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (statuses, took) = wave(CONCURRENT, || http.get(authorize.as_str())).await;
    report.say(format!(
        "{CONCURRENT} authorization requests naming a client id on a {how:?} host: {} in {:.1} s; {} connection(s) to it",
        summary(&statuses),
        took.as_secs_f64(),
        tarpit.made.load(Ordering::SeqCst)
    ));
    report.check(
        statuses.iter().all(|s| (400..500).contains(s)),
        "every request gets an error page (4xx), none hangs or 500s, none redirects to the unverified client",
    );
    report.check(
        took < BUDGET,
        format!("within the fetch timeout ({:.1} s < {} s)", took.as_secs_f64(), BUDGET.as_secs()),
    );
    report.check(
        tarpit.made.load(Ordering::SeqCst) <= 2,
        "one fetch per client id at a time, not one per waiting request",
    );
    report.check(
        tarpit.all_released(Duration::from_secs(3)).await,
        "the connections to the slow host are closed",
    );
    // Threads may grow by the database pool's connections (sqlx gives each SQLite connection a
    // thread; at most 8), never with the number of waiting requests: two waves of 50 stay within
    // that bound.
    let _ = wave(CONCURRENT, || http.get(authorize.as_str())).await;
    let threads_after = threads(&auth.proc);
    report.check(
        threads_after <= threads_before + DATABASE_POOL_THREADS,
        format!(
            "no thread pile-up over two waves of {CONCURRENT} ({threads_before} → {threads_after} threads, \
             at most {DATABASE_POOL_THREADS} more for the database pool)"
        ),
    );
    auth.proc.terminate(Duration::from_secs(10)).await?;
    Ok(())
}

/// A well-formed JWT the server must fetch keys to judge: its `kid` is not known yet.
fn unverifiable_token(issuer: &str, audience: &str) -> String {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let header = b64(json!({"alg": "ES256", "typ": "at+jwt", "kid": "soak-unknown"}));
    let claims = b64(json!({"iss": issuer, "aud": audience, "sub": "s", "client_id": "c", "iat": now,
        "exp": now + 300, "jti": "j", "scope": "echo"}));
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 64]);
    format!("{header}.{claims}.{signature}")
}
