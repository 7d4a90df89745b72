//! The loopback redirect listener of a native app (RFC 8252 §7.3, §8.3).
//!
//! It listens on `127.0.0.1` only (not `localhost`, which may resolve elsewhere, and not every
//! interface), on an ephemeral port unless a remembered one is free, and answers exactly one
//! request: the redirect back from the authorization server carrying the expected `state`.
//! Anything else, including a redirect with another `state`, gets an error page and is otherwise
//! ignored, so a stray or hostile request cannot end the login.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol::authorization::CallbackParams;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::{AgentError, Result};

/// The path the authorization server redirects to.
pub const CALLBACK_PATH: &str = "/callback";

/// A bound listener, not yet serving.
pub struct Loopback {
    listener: TcpListener,
    port: u16,
}

impl Loopback {
    /// Binds `127.0.0.1:preferred` if given and free, else an ephemeral port.
    pub async fn bind(preferred: Option<u16>) -> Result<Self> {
        let attempt = |port| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        let listener = match preferred {
            Some(port) if port != 0 => match attempt(port).await {
                Ok(listener) => listener,
                Err(_) => attempt(0).await.map_err(bind_error)?,
            },
            _ => attempt(0).await.map_err(bind_error)?,
        };
        let port = listener.local_addr().map_err(bind_error)?.port();
        Ok(Self { listener, port })
    }

    /// `http://127.0.0.1:{port}/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Serves until the redirect carrying `state` arrives, or `timeout` passes.
    pub async fn wait_for(self, state: String, timeout: Duration) -> Result<CallbackParams> {
        let (tx, rx) = oneshot::channel();
        let waiting = Arc::new(Waiting { state, deliver: Mutex::new(Some(tx)) });
        let app = Router::new().route(CALLBACK_PATH, get(callback)).fallback(not_found).with_state(waiting);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let outcome = tokio::time::timeout(timeout, rx).await;
        // Let the browser receive the page before the listener goes away.
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        match outcome {
            Ok(Ok(params)) => Ok(params),
            Ok(Err(_)) => Err(AgentError::Authorization("the redirect listener stopped unexpectedly".into())),
            Err(_) => Err(AgentError::Authorization(format!(
                "no redirect came back within {} seconds; run the command again to retry the login",
                timeout.as_secs()
            ))),
        }
    }
}

fn bind_error(e: std::io::Error) -> AgentError {
    AgentError::Authorization(format!("cannot listen on 127.0.0.1 for the redirect: {e}"))
}

struct Waiting {
    state: String,
    deliver: Mutex<Option<oneshot::Sender<CallbackParams>>>,
}

async fn callback(State(waiting): State<Arc<Waiting>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    // Repeated parameters are refused (RFC 6749 §3.1): which `code` would be the real one?
    let params = match protocol::form::parse_unique(&query) {
        Ok(map) => serde_json::to_value(map).and_then(serde_json::from_value::<CallbackParams>),
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This is not a valid authorization response",
                &e.to_string(),
            );
        }
    };
    let Ok(params) = params else {
        return page(StatusCode::BAD_REQUEST, "This is not a valid authorization response", "");
    };
    if !params.state.as_deref().is_some_and(|s| bool::from(s.as_bytes().ct_eq(waiting.state.as_bytes()))) {
        return page(
            StatusCode::BAD_REQUEST,
            "This is not the login mcp-agent is waiting for",
            "The state parameter does not match. If you started a new login, finish that one instead.",
        );
    }
    let (status, title, detail) = match &params.error {
        None => {
            (StatusCode::OK, "Logged in", "You can close this tab and go back to the terminal.".to_owned())
        }
        Some(error) => (
            StatusCode::OK,
            "Authorization did not complete",
            format!(
                "The authorization server answered {}{}. Details are in the terminal.",
                error.as_str(),
                params.error_description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
            ),
        ),
    };
    let sender = waiting.deliver.lock().ok().and_then(|mut d| d.take());
    match sender {
        Some(sender) => {
            let _ = sender.send(params);
            page(status, title, &detail)
        }
        None => page(StatusCode::GONE, "This login is already complete", "You can close this tab."),
    }
}

async fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "Not found", "")
}

/// A minimal page; `detail` may carry text from the authorization server, so it is escaped.
fn page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>mcp-agent: {title}</title>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{}</p></body></html>",
        escape_html(detail)
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_only_the_redirect_with_the_expected_state() {
        let loopback = Loopback::bind(None).await.unwrap();
        let uri = loopback.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"));
        let waiting =
            tokio::spawn(async move { loopback.wait_for("s1".into(), Duration::from_secs(10)).await });
        let http = reqwest::Client::new();
        // Give the server a moment to start accepting.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other = http.get(format!("{uri}?code=x&state=other")).send().await.unwrap();
        assert_eq!(other.status(), 400);
        let repeated = http.get(format!("{uri}?code=x&code=y&state=s1")).send().await.unwrap();
        assert_eq!(repeated.status(), 400);
        let stray = http.get(uri.replace("/callback", "/favicon.ico")).send().await.unwrap();
        assert_eq!(stray.status(), 404);
        let good =
            http.get(format!("{uri}?code=c&state=s1&iss=https%3A%2F%2Fas.example")).send().await.unwrap();
        assert_eq!(good.status(), 200);
        assert_eq!(good.headers()["cache-control"], "no-store");
        let params = waiting.await.unwrap().unwrap();
        assert_eq!(params.code.unwrap().secret(), "c");
        assert_eq!(params.iss.as_deref(), Some("https://as.example"));
    }

    #[tokio::test]
    async fn times_out_with_a_clear_error() {
        let loopback = Loopback::bind(None).await.unwrap();
        let error = loopback.wait_for("s".into(), Duration::from_millis(100)).await.unwrap_err();
        assert!(error.to_string().contains("no redirect came back"), "{error}");
    }

    #[tokio::test]
    async fn falls_back_to_an_ephemeral_port_when_the_preferred_one_is_taken() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let loopback = Loopback::bind(Some(port)).await.unwrap();
        assert_ne!(loopback.port, port);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape_html("<script>\"x\"&'"), "&lt;script&gt;&quot;x&quot;&amp;&#39;");
    }
}
