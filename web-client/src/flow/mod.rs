//! The MCP authorization flow as a public client in the browser.
//!
//! [`run`] performs a [`Call`] (the echo API, or an MCP request). When the server answers `401`
//! or `403 insufficient_scope`, the flow discovers the authorization server ([`discovery`]),
//! finds a client id ([`identity`]), sends the browser to authorize with PKCE ([`authorize`]),
//! and on `/callback` exchanges the code and retries the call. Tokens close to expiry, or refused
//! as `invalid_token`, are refreshed first ([`refresh`]). Every HTTP exchange and decision is
//! recorded in the timeline, and in step-by-step mode each request waits for *Next*.

mod attempt;
pub mod authorize;
mod discovery;
mod identity;
mod mcp;
mod refresh;

use leptos::prelude::*;
use protocol::challenge::BearerChallenge;
use protocol::error::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::{AppState, CallResult};
use crate::timeline::{Outcome, Step};
use attempt::Attempt;

/// A human-readable reason the flow stopped. The timeline holds the details.
pub type FlowResult<T> = Result<T, String>;

/// A boxed future: for async functions awaited from several places, so the wasm holds one copy of
/// their state machine instead of one per caller.
pub type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// What the user asked for; kept across the redirect so it can be retried afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Call {
    /// `GET <url>?text=…` on the demo server's plain API.
    Echo { url: String, text: String },
    /// MCP `tools/list`.
    ListTools { url: String },
    /// MCP `tools/call`.
    CallTool { url: String, tool: String, arguments: Map<String, Value> },
}

impl Call {
    pub fn url(&self) -> &str {
        match self {
            Call::Echo { url, .. } | Call::ListTools { url } | Call::CallTool { url, .. } => url,
        }
    }
}

/// What one pass through [`perform`] ended with.
pub enum Performed {
    Done(CallResult),
    /// The browser is on its way to the authorization server.
    Redirecting,
}

/// Runs a call from the UI: the call, then whatever authorization it takes.
pub async fn run(app: AppState, call: Call) {
    app.busy.set(true);
    app.error.set(None);
    app.result.set(None);
    app.timeline.set(Vec::new());
    match perform_boxed(app, &call, true).await {
        Ok(Performed::Done(result)) => show(app, result),
        // Keep the buttons disabled: the page is about to be replaced.
        Ok(Performed::Redirecting) => return,
        Err(message) => app.error.set(Some(message)),
    }
    app.busy.set(false);
}

fn show(app: AppState, result: CallResult) {
    if let CallResult::Tools(tools) = &result {
        app.tools.set(tools.clone());
    }
    app.result.set(Some(result));
}

/// [`perform`] behind a box: it is awaited from two places (the button and the callback), and a
/// boxed future keeps one copy of its large state machine in the wasm instead of one per caller.
pub fn perform_boxed(app: AppState, call: &Call, may_authorize: bool) -> Boxed<'_, FlowResult<Performed>> {
    Box::pin(perform(app, call, may_authorize))
}

/// Makes the call with the token held for its URL, refreshing it first if it is about to expire.
/// On `401 invalid_token` it refreshes once and retries. With `may_authorize`, a `401` or a
/// `403 insufficient_scope` starts an authorization; without it (the retry after a fresh token),
/// they are errors, so that a misbehaving server cannot send the user round in circles.
pub async fn perform(app: AppState, call: &Call, may_authorize: bool) -> FlowResult<Performed> {
    let mut refreshed = false;
    if let Some(tokens) = app.token_for(call.url())
        && tokens.needs_refresh(js_sys::Date::now())
    {
        refreshed = true;
        refresh::refresh_or_forget(app, &tokens, "the access token is about to expire").await;
    }
    loop {
        let tokens = app.token_for(call.url());
        let (status, challenge) = match attempt::attempt(app, call, tokens.as_ref()).await? {
            Attempt::Done(result) => return Ok(Performed::Done(result)),
            Attempt::Refused { status, challenge } => (status, challenge),
        };
        let invalid_token = challenge.error == Some(ErrorCode::InvalidToken);
        if status == 401
            && invalid_token
            && !refreshed
            && let Some(tokens) = &tokens
        {
            refreshed = true;
            if refresh::refresh_or_forget(app, tokens, "the server refused the access token").await {
                continue;
            }
        }
        if status == 403 && challenge.error != Some(ErrorCode::InsufficientScope) {
            return Err("The server refused the request (403) for a reason other than missing scope.".into());
        }
        if !may_authorize {
            let what = if status == 403 { "still lacks scope" } else { "is still refused" };
            app.push(
                Step::new("Stop", "MCP authorization: retry at most once per call", Outcome::Error)
                    .detail(format!("After a fresh authorization the call {what}; not trying again.")),
            );
            return Err(format!("The call {what} after authorization (HTTP {status})."));
        }
        // Step-up keeps what the current token has: re-authorize with the union.
        let granted = tokens.filter(|_| status == 403).map(|t| t.scopes).unwrap_or_default();
        authorize::redirect_to_authorization(app, call, &challenge, &granted).await?;
        return Ok(Performed::Redirecting);
    }
}

/// The challenge of a 401/403, which a browser can read only if the server exposes it.
pub(crate) fn read_challenge(app: AppState, response: &crate::http::Exchange) -> FlowResult<BearerChallenge> {
    let Some(header) = response.header("www-authenticate") else {
        let message = "The response has no readable WWW-Authenticate header. The server must send one and, for \
                       a browser to see it, list it in Access-Control-Expose-Headers.";
        app.push(Step::new("Read the challenge", "RFC 9728 §5.1, CORS", Outcome::Error).detail(message));
        return Err(message.into());
    };
    let challenge = BearerChallenge::from_header_values([header])
        .map_err(|e| format!("The WWW-Authenticate header is malformed: {e}"))?
        .ok_or("The WWW-Authenticate header has no Bearer challenge.")?;
    app.push(Step::new("Read the Bearer challenge", "RFC 6750 §3, RFC 9728 §5.1", Outcome::Ok).detail(
        format!(
            "resource_metadata: {}\nscope: {}\nerror: {}{}",
            challenge.resource_metadata.as_deref().unwrap_or("(absent: fall back to the well-known URLs)"),
            challenge.scope.as_deref().unwrap_or("(absent)"),
            challenge.error.as_ref().map_or("(none: no token was sent)", ErrorCode::as_str),
            challenge.error_description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
        ),
    ));
    Ok(challenge)
}

/// 32 bytes from the browser's CSPRNG (`crypto.getRandomValues`).
pub(crate) fn random_bytes() -> FlowResult<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("the browser's random number generator failed: {e}"))?;
    Ok(bytes)
}

/// `error: description` of an OAuth error body, or the raw status.
pub(crate) fn oauth_error(response: &crate::http::Exchange) -> String {
    serde_json::from_str::<protocol::error::ErrorResponse>(&response.body)
        .map(|e| e.to_string())
        .unwrap_or_else(|_| format!("HTTP {}", response.status))
}
