//! A round-robin HTTP proxy: the one address clients know, in front of several replicas of a
//! server. Every request (not every connection) goes to the next replica, so the steps of one flow
//! land on different replicas even when the client keeps its connection open. A replica that
//! refuses the connection is skipped (the request was not sent, so trying the next is safe); one
//! that goes away after the request was sent is not retried (a token request is not idempotent):
//! the proxy drops the client's connection, which is what the client would have seen without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the proxy did, per replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests answered by each replica.
    pub served: Vec<usize>,
    /// Requests lost because the replica went away after the request was sent to it.
    pub cut: Vec<usize>,
    /// Connections a replica refused; the request went to the next one.
    pub failovers: usize,
}

struct Shared {
    backends: Vec<String>,
    next: AtomicUsize,
    served: Vec<AtomicUsize>,
    cut: Vec<AtomicUsize>,
    failovers: AtomicUsize,
    http: reqwest::Client,
}

/// A running proxy; stops when dropped.
pub struct RoundRobin {
    /// The proxy's base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// Why a request got no answer: the client's connection is dropped.
#[derive(Debug)]
struct Lost(String);

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Lost {}

impl RoundRobin {
    /// Listens on a free loopback port, spreading requests over `backends` (base URLs, which
    /// need not answer yet).
    pub async fn start(backends: Vec<String>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A new connection per request: a killed replica is noticed at connect time, and no
            // pooled connection pins requests to one replica.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()?;
        let n = backends.len();
        let shared = Arc::new(Shared {
            backends,
            next: AtomicUsize::new(0),
            served: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            cut: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            failovers: AtomicUsize::new(0),
            http,
        });
        let for_accept = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = for_accept.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { shared.forward(request).await }
                    });
                    // A service error (a lost request) ends the connection without an answer.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { url, shared, accept })
    }

    /// What the proxy did so far.
    pub fn counts(&self) -> Counts {
        let load = |counters: &[AtomicUsize]| counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        Counts {
            served: load(&self.shared.served),
            cut: load(&self.shared.cut),
            failovers: self.shared.failovers.load(Ordering::SeqCst),
        }
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and the length,
/// which the proxy sets itself.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::CONTENT_LENGTH,
        header::HOST,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

impl Shared {
    async fn forward(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Lost> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(|e| Lost(format!("reading the request: {e}")))?.to_bytes();
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let first = self.next.fetch_add(1, Ordering::SeqCst);
        for attempt in 0..self.backends.len() {
            let i = (first + attempt) % self.backends.len();
            let mut outbound =
                self.http.request(parts.method.clone(), format!("{}{target}", self.backends[i]));
            for (name, value) in &parts.headers {
                if !hop_by_hop(name) {
                    outbound = outbound.header(name, value);
                }
            }
            if !body.is_empty() {
                outbound = outbound.body(body.clone());
            }
            let answer = match outbound.send().await {
                Ok(answer) => answer,
                Err(e) if e.is_connect() => {
                    self.failovers.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                Err(e) => {
                    self.cut[i].fetch_add(1, Ordering::SeqCst);
                    return Err(Lost(format!("replica {i}: {e}")));
                }
            };
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes = match answer.bytes().await {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.cut[i].fetch_add(1, Ordering::SeqCst);
                    return Err(Lost(format!("replica {i}: {e}")));
                }
            };
            self.served[i].fetch_add(1, Ordering::SeqCst);
            let mut response = Response::new(Full::new(bytes));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if !hop_by_hop(name) {
                    response.headers_mut().append(name, value.clone());
                }
            }
            return Ok(response);
        }
        Ok(unavailable())
    }
}

/// Every replica refused the connection.
fn unavailable() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"no replica answers")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
