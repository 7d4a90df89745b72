//! The MCP authorization flow as a public client in the browser.
//!
//! [`run`] performs a [`Call`] (the echo API, or an MCP request). What a `401` or `403` calls
//! for is decided by `protocol::challenge_reaction`, the machine the agent drives too: refresh
//! ([`refresh`]), or discover the authorization server ([`discovery`]), find a client id
//! ([`identity`]) and send the browser to authorize with PKCE ([`authorize`]); on `/callback` the
//! code is exchanged and the call retried, with the machine's state carried across the redirect.
//! Tokens close to expiry are refreshed first. Every HTTP exchange and decision is recorded in
//! the timeline, and in step-by-step mode each request waits for *Next*. A call a person must
//! approve first (a gateway's policy) waits for them and is made again ([`approval`]).

mod approval;
mod attempt;
pub mod authorize;
mod discovery;
mod identity;
mod mcp;
mod refresh;

use leptos::prelude::*;
use protocol::challenge::BearerChallenge;
use protocol::challenge_reaction::{ChallengeReaction, Failure, Held, Reaction};
use protocol::error::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::{AppState, CallResult, TokenSet};
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

/// What a call has been through, carried from one try to the next (after a wait for a person's
/// approval, and across the redirect), so that its limits cover the whole call: a retry that
/// started afresh could authorize, come straight back, wait again, and so on without end.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The challenge machine's state: what the call refreshed, authorized and asked for.
    pub reaction: ChallengeReaction,
    /// `Date.now()` milliseconds at which waiting for a person's approval ends, once it began.
    pub approval_deadline_ms: Option<f64>,
}

/// What one pass through [`perform`] ended with.
pub enum Performed {
    Done(CallResult),
    /// The browser is on its way to the authorization server.
    Redirecting,
    /// A person must approve the call first (as `asked`); then `call`, made again, goes through.
    AwaitingApproval {
        call: Call,
        asked: approval::Asked,
        progress: Progress,
    },
}

/// Runs a call from the UI: the call, then whatever authorization it takes.
pub async fn run(app: AppState, call: Call) {
    app.start_flow();
    app.busy.set(true);
    app.error.set(None);
    app.result.set(None);
    app.timeline.set(Vec::new());
    settle_boxed(app, perform_boxed(app, &call, Progress::default()).await).await;
}

/// [`settle`] behind a box, for the same reason as [`perform_boxed`]: the button and the
/// callback both end there.
pub(crate) fn settle_boxed(app: AppState, performed: FlowResult<Performed>) -> Boxed<'static, ()> {
    Box::pin(settle(app, performed))
}

/// Shows what a call ended with, after waiting for a person's approval if it needs one: the same
/// call made again until it goes through, is denied, or the page stops waiting. A flow stopped by
/// *Log out / forget* shows nothing more: the page was cleared.
async fn settle(app: AppState, mut performed: FlowResult<Performed>) {
    let mut wait = approval::Wait::default();
    loop {
        if app.still_running().is_err() {
            break;
        }
        performed = match performed {
            Ok(Performed::Done(result)) => {
                wait.approved(app);
                show(app, result);
                break;
            }
            // Keep the buttons disabled: the page is about to be replaced.
            Ok(Performed::Redirecting) => return,
            Err(message) => {
                app.error.set(Some(message));
                break;
            }
            Ok(Performed::AwaitingApproval { call, asked, mut progress }) => {
                match wait.pause(app, call.url(), asked, progress.approval_deadline_ms).await {
                    Ok(deadline) => {
                        progress.approval_deadline_ms = Some(deadline);
                        perform_boxed(app, &call, progress).await
                    }
                    Err(message) => Err(message),
                }
            }
        };
    }
    app.waiting.set(None);
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
pub fn perform_boxed(app: AppState, call: &Call, progress: Progress) -> Boxed<'_, FlowResult<Performed>> {
    Box::pin(perform(app, call, progress))
}

/// Makes the call with the token held for its URL, refreshing it first if it is about to expire,
/// and meets each `401`/`403` as the challenge machine says. `progress` is the call's state: new
/// for a button press, carried across approval waits and the redirect for the tries after them,
/// so that a server that keeps refusing cannot send the user round in circles.
pub async fn perform(app: AppState, call: &Call, progress: Progress) -> FlowResult<Performed> {
    let Progress { mut reaction, approval_deadline_ms } = progress;
    app.still_running()?;
    // One refresh per call, by the challenge machine's rule; but a call waiting for a person may
    // outlast its token, and then each try may refresh ahead of expiry: the tries are spaced by
    // the gateway and end at the deadline, so these refreshes cannot loop.
    if let Some(tokens) = app.token_for(call.url())
        && tokens.needs_refresh(js_sys::Date::now())
        && (!reaction.refreshed() || approval_deadline_ms.is_some())
    {
        reaction.refreshed_ahead();
        refresh::refresh_or_forget(app, &tokens, "the access token is about to expire").await;
    }
    loop {
        app.still_running()?;
        let tokens = app.token_for(call.url());
        let (status, challenge) = match attempt::attempt(app, call, tokens.as_ref()).await? {
            Attempt::Done(result) => return Ok(Performed::Done(result)),
            Attempt::Approval { approval, message } => {
                let progress = Progress { reaction, approval_deadline_ms };
                return approval::outcome(app, call, approval, message, progress);
            }
            Attempt::Refused { status, challenge } => (status, challenge),
        };
        let mut next = reaction.on_response(status, Some(&challenge), &held(tokens.as_ref()));
        loop {
            next = match next {
                Reaction::Retry => break,
                Reaction::Proceed => {
                    return Err(format!(
                        "The server refused the request ({status}) for a reason other than missing scope."
                    ));
                }
                Reaction::Refresh => {
                    app.still_running()?;
                    let refreshed = match &tokens {
                        Some(tokens) => {
                            refresh::refresh_or_forget(app, tokens, "the server refused the access token")
                                .await
                        }
                        None => false,
                    };
                    reaction.on_refresh(refreshed)
                }
                Reaction::Authorize(authorize) => {
                    // A refresh that "failed" because the flow was stopped must not lead here.
                    app.still_running()?;
                    let progress = Progress { reaction, approval_deadline_ms };
                    authorize::redirect_to_authorization(app, call, &authorize, progress).await?;
                    return Ok(Performed::Redirecting);
                }
                Reaction::Fail(failure) => return Err(stop(app, status, &failure)),
            };
        }
    }
}

/// What the tab holds for the resource, as the challenge machine needs to know it.
fn held(tokens: Option<&TokenSet>) -> Held {
    match tokens {
        Some(tokens) => Held {
            access_token: true,
            refresh_token: tokens.refresh_token.is_some(),
            scopes: tokens.scopes.clone(),
        },
        None => Held::nothing(),
    }
}

/// Records why the call stops, and says it.
fn stop(app: AppState, status: u16, failure: &Failure) -> String {
    let what = match failure {
        Failure::StillUnauthorized | Failure::NoChallenge => "is still refused",
        Failure::ScopeNotGranted { .. } | Failure::TooManyAuthorizations => "still lacks scope",
    };
    app.push(
        Step::new("Stop", "MCP authorization: Step-Up Authorization Flow (retry limits)", Outcome::Error)
            .detail(format!("After a fresh authorization the call {what} ({failure}); not trying again.")),
    );
    format!("The call {what} after authorization (HTTP {status}).")
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
