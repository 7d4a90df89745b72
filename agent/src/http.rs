//! The agent's HTTP client: one connection pool, no automatic redirects, bounded bodies.
//!
//! Redirects are never followed silently: a token endpoint that redirects a POST with a code, or a
//! metadata URL that bounces elsewhere, is something to refuse, not to obey (RFC 9700 §4.11). Only
//! the programmatic browser ([`crate::browser`]) follows redirects, one hop at a time.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

use crate::error::{AgentError, Result};

/// Largest body read from a metadata, registration or token endpoint.
pub const SMALL_BODY_LIMIT: usize = 1024 * 1024;
/// Largest body read from an MCP server (a tool result may carry a file).
pub const MCP_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// An answer, read completely (up to a limit).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header that may repeat (`WWW-Authenticate`).
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok())
    }

    /// `error: description` of an OAuth error body (RFC 6749 §5.2), else the status and the start
    /// of the body; never the body of a success (2xx), which a caller refuses only because it is
    /// not the success it expected (a token endpoint's `201`): such a body may hold tokens or a
    /// client secret, and messages are printed (on stdout with `--json`).
    pub fn oauth_error(&self) -> String {
        if (200..300).contains(&self.status) {
            return format!("HTTP {} (an unexpected success status; its body is not shown)", self.status);
        }
        match serde_json::from_str::<protocol::error::ErrorResponse>(&self.body) {
            Ok(error) => error.to_string(),
            Err(_) => format!("HTTP {} {}", self.status, snippet(&self.body)),
        }
    }
}

/// The first line of a body, shortened, for error messages.
pub fn snippet(body: &str) -> String {
    let line = body.lines().next().unwrap_or_default();
    let short: String = line.chars().take(200).collect();
    if short.len() < body.trim_end().len() { format!("{short}…") } else { short }
}

/// The shared client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mcp-agent/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|e| AgentError::Protocol(format!("cannot create an HTTP client: {e}")))?;
        Ok(Self { client })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GET `url` expecting JSON.
    pub async fn get_json(&self, url: &str) -> Result<Exchange> {
        let request = self.client.get(url).header(reqwest::header::ACCEPT, "application/json");
        self.send(url, request, SMALL_BODY_LIMIT).await
    }

    /// Sends `request` (built for `url`) and reads the whole answer, at most `limit` bytes.
    pub async fn send(&self, url: &str, request: reqwest::RequestBuilder, limit: usize) -> Result<Exchange> {
        let response = request.send().await.map_err(|e| AgentError::unreachable(url, &e))?;
        read(url, response, limit).await
    }
}

/// Reads a response to the end, refusing bodies over `limit` bytes rather than buffering them.
pub async fn read(url: &str, mut response: reqwest::Response, limit: usize) -> Result<Exchange> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| AgentError::unreachable(url, &e))? {
        if body.len() + chunk.len() > limit {
            return Err(AgentError::Protocol(format!("{url} sent a body larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body)
        .map_err(|_| AgentError::Protocol(format!("{url} sent a body that is not UTF-8")))?;
    Ok(Exchange { status, headers, body })
}
