//! A small closed-loop load generator: N keep-alive HTTP/1.1 connections, each sending its next
//! request as soon as the previous answer is read, for a fixed time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Echo,
    /// A stateless `tools/call` of `echo`.
    ToolsCall,
    /// The same call of the gateway's tool of this name (`demo__echo`): the same bytes but for the
    /// name, so that direct and through-the-gateway rows differ only in where they go.
    GatewayCall(&'static str),
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Echo => "GET /echo",
            Endpoint::ToolsCall => "tools/call",
            Endpoint::GatewayCall(name) => name,
        }
    }

    fn tool(self) -> Option<&'static str> {
        match self {
            Endpoint::Echo => None,
            Endpoint::ToolsCall => Some("echo"),
            Endpoint::GatewayCall(name) => Some(name),
        }
    }

    /// The request body, built once per run.
    fn body(self) -> Bytes {
        match self.tool() {
            None => Bytes::new(),
            Some(tool) => Bytes::from(TOOLS_CALL.replace("{tool}", tool)),
        }
    }
}

/// Which token each request carries.
#[derive(Clone)]
pub enum Tokens {
    Same(Arc<str>),
    /// One per request, never reused, across all rounds; a round ends early if they run out.
    Fresh(Arc<FreshPool>),
}

pub struct FreshPool {
    tokens: Vec<String>,
    next: AtomicUsize,
}

impl FreshPool {
    pub fn new(tokens: Vec<String>) -> Arc<Self> {
        Arc::new(Self { tokens, next: AtomicUsize::new(0) })
    }

    fn take(&self) -> Option<&str> {
        self.tokens.get(self.next.fetch_add(1, Ordering::Relaxed)).map(String::as_str)
    }
}

/// What the rounds of one row measured, summed.
#[derive(Default)]
pub struct Outcome {
    pub latencies_us: Vec<u64>,
    pub measured_secs: f64,
    pub statuses: BTreeMap<u16, usize>,
    /// `200` answers to a `tools/call` that carried a JSON-RPC error or a tool error rather than
    /// the echoed text: a gateway says "unknown tool" or "unavailable" with a `200` too.
    pub failed_calls: usize,
    pub exhausted: bool,
}

impl Outcome {
    pub fn add(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.measured_secs += other.measured_secs;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.failed_calls += other.failed_calls;
        self.exhausted |= other.exhausted;
    }

    pub fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.measured_secs.max(0.001)
    }

    /// The `p` quantile (0..1) of the latencies, in microseconds.
    pub fn percentile(&mut self, p: f64) -> u64 {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        self.latencies_us.get(((n as f64 * p) as usize).min(n.saturating_sub(1))).copied().unwrap_or(0)
    }

    /// `200×N 401×M …`, and a note if the token pool ran out.
    pub fn statuses(&self) -> String {
        let mut text: Vec<String> = self.statuses.iter().map(|(s, c)| format!("{s}×{c}")).collect();
        if self.failed_calls > 0 {
            text.push(format!("(of which {} JSON-RPC or tool errors)", self.failed_calls));
        }
        if self.exhausted {
            text.push("(token pool used up)".into());
        }
        text.join(" ")
    }
}

/// Enough fresh tokens for the slowest row to run its whole time on this machine.
pub fn estimate_pool(time: Duration) -> usize {
    (time.as_secs_f64() * 25_000.0) as usize
}

const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"{tool}","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn request(
    base_authority: &str,
    endpoint: Endpoint,
    token: Option<&str>,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let builder = match endpoint.tool() {
        None => Request::builder().method(Method::GET).uri("/echo?text=hello"),
        Some(tool) => Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool),
    };
    let builder = builder.header("host", base_authority);
    let builder = match token {
        Some(token) => builder.header("authorization", format!("Bearer {token}")),
        None => builder,
    };
    builder.body(Full::new(body)).expect("a valid request")
}

/// Did a `200` answer to a `tools/call` carry an error instead of a result?
fn failed_call(endpoint: Endpoint, status: u16, body: &[u8]) -> bool {
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    endpoint.tool().is_some() && status == 200 && (contains(b"\"error\":") || contains(b"\"isError\":true"))
}

/// Sends one request as [`run`] would, on a connection of its own, and returns the answer's
/// status and body: to check, before the clock starts, that a row measures what it says.
pub async fn check(base: &str, endpoint: Endpoint, token: Option<&str>) -> anyhow::Result<(u16, String)> {
    let authority = base.trim_start_matches("http://");
    let mut sender = open(authority).await?;
    let response = sender.send_request(request(authority, endpoint, token, endpoint.body())).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A keep-alive connection to `authority`, its driver spawned on the current runtime.
async fn open(authority: &str) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

pub async fn run(
    base: &str,
    endpoint: Endpoint,
    tokens: Tokens,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let authority = base.trim_start_matches("http://").to_owned();
    let body = endpoint.body();
    let exhausted = Arc::new(AtomicBool::new(false));
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;

    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut sender = open(&authority).await?;
        let (tokens, exhausted, authority, body) =
            (tokens.clone(), exhausted.clone(), authority.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            let mut failed_calls = 0;
            let mut finished_at = end;
            loop {
                let now = Instant::now();
                if now >= end || exhausted.load(Ordering::Relaxed) {
                    finished_at = finished_at.min(now);
                    break;
                }
                let token = match &tokens {
                    Tokens::Same(token) => Some(&**token),
                    Tokens::Fresh(pool) => match pool.take() {
                        Some(token) => Some(token),
                        None => {
                            exhausted.store(true, Ordering::Relaxed);
                            continue;
                        }
                    },
                };
                let sent = Instant::now();
                let Ok(response) =
                    sender.send_request(request(&authority, endpoint, token, body.clone())).await
                else {
                    break;
                };
                let status = response.status().as_u16();
                // A server that refuses a request before reading its body closes the connection
                // (the unread body must not be taken for the next request): a client opens a new
                // one, and its time is part of this request's.
                let closing = response
                    .headers()
                    .get(hyper::header::CONNECTION)
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
                let Ok(answer) = response.into_body().collect().await else {
                    break;
                };
                if closing {
                    match open(&authority).await {
                        Ok(reopened) => sender = reopened,
                        Err(_) => break,
                    }
                }
                if sent >= measure_from {
                    latencies.push(sent.elapsed().as_micros() as u64);
                    *statuses.entry(status).or_default() += 1;
                    failed_calls += usize::from(failed_call(endpoint, status, &answer.to_bytes()));
                }
            }
            (latencies, statuses, failed_calls, finished_at)
        }));
    }

    let mut outcome = Outcome::default();
    let mut finished_at = end;
    for task in tasks {
        let (latencies, statuses, failed_calls, finished) = task.await?;
        outcome.add(Outcome { latencies_us: latencies, statuses, failed_calls, ..Default::default() });
        finished_at = finished_at.min(finished.max(measure_from));
    }
    outcome.measured_secs = finished_at.saturating_duration_since(measure_from).as_secs_f64();
    outcome.exhausted = exhausted.load(Ordering::Relaxed);
    Ok(outcome)
}
