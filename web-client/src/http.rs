//! HTTP through `gloo-net` (the browser's `fetch`), with the details the timeline shows, and
//! errors that say what probably went wrong. Every request has [`REQUEST_TIMEOUT`] to be answered
//! and read.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use gloo_net::http::Request;
use leptos::prelude::{TimeoutHandle, set_timeout_with_handle};
use protocol::secret::AccessToken;
use web_sys::{AbortController, AbortSignal};

use crate::timeline::{Outcome, Step};

/// How long one request may take, from sending it to the end of what is read of its body. Without
/// a bound, a server that never answers, or that keeps an MCP answer's event stream open after the
/// response (the transport allows it), would leave the page busy for good. The servers this page
/// talks to answer in milliseconds; 30 s leaves room for a slow tool behind a gateway. (A server
/// that keeps the stream open after its response fails the call at the deadline: reading the
/// stream only up to the response, with `protocol::mcp_client::EventStream`, would cost about 3 KB
/// of the bundle's budget.)
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// No complete answer within [`REQUEST_TIMEOUT`] (else: unreachable, or refused by CORS).
    pub timed_out: bool,
}

impl NetworkError {
    pub fn step(&self, title: &str, rule: &str) -> Step {
        let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
        let detail = if self.timed_out {
            format!(
                "No complete answer within {} s: the server did not answer, or did not finish its answer \
                 (an event stream kept open without the response). The request was abandoned.",
                REQUEST_TIMEOUT.as_secs()
            )
        } else {
            format!(
                "No readable response. Either the server is unreachable, or it answered without CORS headers \
                 allowing this page's origin ({origin}). Check that it is running, and that it sends \
                 Access-Control-Allow-Origin for {origin} (and, for a 401, Access-Control-Expose-Headers: \
                 WWW-Authenticate)."
            )
        };
        Step {
            request: Some(format!("{} {}", self.method, self.url)),
            ..Step::new(title, rule, Outcome::Error).detail(detail)
        }
    }
}

/// A request's time limit: when it is up, the request is aborted, and with it the reading of its
/// body (the body stream of an aborted `fetch` fails).
pub struct Deadline {
    controller: Option<AbortController>,
    expired: Rc<Cell<bool>>,
    /// `None` if the browser refused the timer: the request is then as unbounded as before.
    timer: Option<TimeoutHandle>,
}

impl Deadline {
    /// `after` from now.
    pub fn after(after: Duration) -> Self {
        let controller = AbortController::new().ok();
        let expired = Rc::new(Cell::new(false));
        let (abort, flag) = (controller.clone(), expired.clone());
        let expire = move || {
            flag.set(true);
            if let Some(controller) = abort {
                controller.abort();
            }
        };
        Self { controller, expired, timer: set_timeout_with_handle(expire, after).ok() }
    }

    /// The signal to give the request.
    pub fn signal(&self) -> Option<AbortSignal> {
        self.controller.as_ref().map(AbortController::signal)
    }

    /// Has the time run out (and the request been aborted)?
    pub fn expired(&self) -> bool {
        self.expired.get()
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(timer) = &self.timer {
            timer.clear();
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
        let deadline = Deadline::after(REQUEST_TIMEOUT);
        let exchange = self.fetch(deadline.signal()).await;
        exchange.map_err(|_| NetworkError {
            method: self.method,
            url: self.url.to_owned(),
            timed_out: deadline.expired(),
        })
    }

    /// `fetch()`, aborted by `signal`; any failure (network, CORS refusal, a bad header, the
    /// abort) is one error, as the browser tells the page no more than that.
    async fn fetch(&self, signal: Option<AbortSignal>) -> Result<Exchange, ()> {
        let mut request = match self.method {
            "POST" => Request::post(self.url),
            _ => Request::get(self.url),
        }
        .abort_signal(signal.as_ref());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(token) = self.token {
            // RFC 6750 §2.1: the header, never the query string.
            request = request.header("Authorization", &format!("Bearer {}", token.secret()));
        }
        let response = match &self.body {
            Some(body) => request.body(body.clone()).map_err(drop)?.send().await,
            None => request.send().await,
        }
        .map_err(drop)?;
        let headers: Vec<(String, String)> = INTERESTING_HEADERS
            .iter()
            .filter_map(|name| response.headers().get(name).map(|v| ((*name).to_owned(), v)))
            .collect();
        let body = response.text().await.map_err(drop)?;
        Ok(Exchange {
            method: self.method,
            url: self.url.to_owned(),
            status: response.status(),
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A request used to have no time limit: a server that never answered, or kept its answer's
    /// event stream open, left the page busy for good. The deadline aborts the request (its
    /// `fetch` and the reading of the body fail then), and says it was the reason.
    #[wasm_bindgen_test]
    async fn the_deadline_aborts_the_request_and_says_so() {
        let deadline = Deadline::after(Duration::from_millis(50));
        let signal = deadline.signal().unwrap();
        assert!(!signal.aborted() && !deadline.expired());
        let aborted = js_sys::Promise::new(&mut |resolve, _| {
            let _ = signal.add_event_listener_with_callback("abort", &resolve);
        });
        wasm_bindgen_futures::JsFuture::from(aborted).await.unwrap();
        assert!(deadline.expired());
    }

    /// The whole path through `fetch`, with an answer the browser makes up (a `data:` URL).
    #[wasm_bindgen_test]
    async fn a_request_answered_in_time_is_read_whole() {
        let answer = Outgoing::get("data:application/json,{\"a\":1}").send().await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "{\"a\":1}"));
    }
}
