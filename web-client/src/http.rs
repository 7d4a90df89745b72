//! HTTP through `gloo-net` (the browser's `fetch`), with the details the timeline shows, and
//! errors that say what probably went wrong.

use gloo_net::http::Request;
use protocol::secret::AccessToken;

use crate::timeline::{Outcome, Step};

/// Headers worth showing: the ones OAuth and MCP decisions depend on. A browser lets the page read
/// only CORS-safelisted headers and those the server lists in `Access-Control-Expose-Headers`.
const INTERESTING_HEADERS: &[&str] =
    &["www-authenticate", "cache-control", "content-type", "mcp-session-id", "retry-after"];

/// One request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: &'static str,
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A timeline step describing this exchange.
    pub fn step(&self, title: &str, rule: &str, outcome: Outcome) -> Step {
        Step {
            request: Some(format!("{} {}", self.method, self.url)),
            status: Some(self.status),
            headers: self.headers.clone(),
            ..Step::new(title, rule, outcome)
        }
    }

    /// The body as pretty JSON when it is JSON, else as text.
    pub fn pretty_body(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| self.body.clone())
    }
}

/// A request that produced no readable response.
#[derive(Debug, Clone)]
pub struct NetworkError {
    pub method: &'static str,
    pub url: String,
}

impl NetworkError {
    pub fn step(&self, title: &str, rule: &str) -> Step {
        let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
        Step {
            request: Some(format!("{} {}", self.method, self.url)),
            ..Step::new(title, rule, Outcome::Error).detail(format!(
                "No readable response. Either the server is unreachable, or it answered without CORS headers \
                 allowing this page's origin ({origin}). Check that it is running, and that it sends \
                 Access-Control-Allow-Origin for {origin} (and, for a 401, Access-Control-Expose-Headers: \
                 WWW-Authenticate)."
            ))
        }
    }
}

/// A request to make: what, where, with which headers and body.
pub struct Outgoing<'a> {
    pub method: &'static str,
    pub url: &'a str,
    pub token: Option<&'a AccessToken>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl<'a> Outgoing<'a> {
    pub fn get(url: &'a str) -> Self {
        Self {
            method: "GET",
            url,
            token: None,
            headers: vec![("Accept", "application/json".into())],
            body: None,
        }
    }

    pub fn post(url: &'a str, content_type: &'static str, body: String) -> Self {
        Self {
            method: "POST",
            url,
            token: None,
            headers: vec![("Content-Type", content_type.into()), ("Accept", "application/json".into())],
            body: Some(body),
        }
    }

    pub fn bearer(mut self, token: Option<&'a AccessToken>) -> Self {
        self.token = token;
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
        self
    }

    pub async fn send(self) -> Result<Exchange, NetworkError> {
        let failed = || NetworkError { method: self.method, url: self.url.to_owned() };
        self.fetch().await.map_err(|_| failed())
    }

    /// `fetch()`; any failure (network, CORS refusal, a bad header) is one error, as the browser
    /// tells the page no more than that.
    async fn fetch(&self) -> Result<Exchange, gloo_net::Error> {
        let mut request = match self.method {
            "POST" => Request::post(self.url),
            _ => Request::get(self.url),
        };
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(token) = self.token {
            // RFC 6750 §2.1: the header, never the query string.
            request = request.header("Authorization", &format!("Bearer {}", token.secret()));
        }
        let response = match &self.body {
            Some(body) => request.body(body.clone())?.send().await?,
            None => request.send().await?,
        };
        let headers = INTERESTING_HEADERS
            .iter()
            .filter_map(|name| response.headers().get(name).map(|v| ((*name).to_owned(), v)))
            .collect();
        let body = response.text().await?;
        Ok(Exchange {
            method: self.method,
            url: self.url.to_owned(),
            status: response.status(),
            headers,
            body,
        })
    }
}
