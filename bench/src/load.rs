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
    ToolsCall,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Echo => "GET /echo",
            Endpoint::ToolsCall => "tools/call",
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
    pub exhausted: bool,
}

impl Outcome {
    pub fn add(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.measured_secs += other.measured_secs;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
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

const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn request(base_authority: &str, endpoint: Endpoint, token: Option<&str>) -> Request<Full<Bytes>> {
    let builder = match endpoint {
        Endpoint::Echo => Request::builder().method(Method::GET).uri("/echo?text=hello"),
        Endpoint::ToolsCall => Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo"),
    };
    let builder = builder.header("host", base_authority);
    let builder = match token {
        Some(token) => builder.header("authorization", format!("Bearer {token}")),
        None => builder,
    };
    let body = match endpoint {
        Endpoint::Echo => Bytes::new(),
        Endpoint::ToolsCall => Bytes::from_static(TOOLS_CALL.as_bytes()),
    };
    builder.body(Full::new(body)).expect("a valid request")
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
    let exhausted = Arc::new(AtomicBool::new(false));
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;

    let mut tasks = Vec::new();
    for _ in 0..connections {
        let stream = tokio::net::TcpStream::connect(&authority).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let (tokens, exhausted, authority) = (tokens.clone(), exhausted.clone(), authority.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
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
                let Ok(response) = sender.send_request(request(&authority, endpoint, token)).await else {
                    break;
                };
                let status = response.status().as_u16();
                if response.into_body().collect().await.is_err() {
                    break;
                }
                if sent >= measure_from {
                    latencies.push(sent.elapsed().as_micros() as u64);
                    *statuses.entry(status).or_default() += 1;
                }
            }
            (latencies, statuses, finished_at)
        }));
    }

    let mut outcome = Outcome::default();
    let mut finished_at = end;
    for task in tasks {
        let (latencies, statuses, finished) = task.await?;
        outcome.add(Outcome { latencies_us: latencies, statuses, ..Default::default() });
        finished_at = finished_at.min(finished.max(measure_from));
    }
    outcome.measured_secs = finished_at.saturating_duration_since(measure_from).as_secs_f64();
    outcome.exhausted = exhausted.load(Ordering::Relaxed);
    Ok(outcome)
}
