//! The app's reactive state, provided once at the root and shared by every component.

use std::time::Duration;

use futures_channel::oneshot;
use leptos::prelude::*;
use protocol::echo::EchoResponse;
use protocol::mcp::{CallToolResult, Tool};
use protocol::mcp_client::Connection;
use protocol::scope::Scopes;
use protocol::secret::{AccessToken, RefreshToken};

use crate::timeline::Step;

/// The defaults: the local demo server's MCP endpoint and its plain echo API.
pub const DEFAULT_MCP_URL: &str = "http://localhost:9090/mcp";
pub const DEFAULT_ECHO_URL: &str = "http://localhost:9090/echo";
/// The demo's gateway (`mcp-gateway`), offered next to the server in the MCP endpoint field.
pub const DEMO_GATEWAY_URL: &str = "http://localhost:9100/mcp";

/// The tokens for one resource, and what is needed to refresh them. Kept in memory only: a reload
/// forgets them, and the next call authorizes again (the authorization server usually remembers
/// the login and the consent, so that is one quick round trip). That is the trade-off the OAuth
/// browser-based apps BCP recommends for a public client: nothing at rest for an XSS payload.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: AccessToken,
    /// Rotated on every use; replaced together with the access token, in one update.
    pub refresh_token: Option<RefreshToken>,
    /// The resource the token's audience names.
    pub resource: String,
    pub scopes: Scopes,
    pub issued_at_ms: f64,
    /// `Date.now()` milliseconds at which the access token expires, if the AS said.
    pub expires_at_ms: Option<f64>,
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub client_id: String,
}

impl TokenSet {
    /// Expired, or close enough that a call could fail on the way: within a tenth of its lifetime
    /// (at least five seconds) of the end.
    pub fn needs_refresh(&self, now_ms: f64) -> bool {
        match self.expires_at_ms {
            Some(expires) => {
                let margin = ((expires - self.issued_at_ms) / 10.0).max(5_000.0);
                now_ms + margin >= expires
            }
            None => false,
        }
    }
}

/// This tab's MCP connection to one endpoint (`protocol::mcp_client`): the session opened with
/// `initialize`, the negotiated version.
#[derive(Debug, Clone, PartialEq)]
pub struct McpSession {
    pub url: String,
    pub connection: Connection,
}

/// What the last call produced.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    Echo(EchoResponse),
    Tools(Vec<Tool>),
    /// A tool's result; `is_error` when the tool ran and failed (not a transport error).
    ToolResult {
        tool: String,
        result: CallToolResult,
    },
}

/// A call waiting for a person's approval (a gateway's policy asked for it): where they give it,
/// who asks, and when the same call is made again.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// The approval page at the authorization server (an `http(s)` URL, checked by
    /// `protocol::mcp::approval_of`).
    pub url: String,
    /// The page's host (and port), shown prominently: where the person is sent.
    pub site: String,
    /// The MCP endpoint that asks for the approval.
    pub server: String,
    /// What the server says about it, if anything.
    pub message: Option<String>,
    /// `Date.now()` milliseconds of the next try.
    pub next_try_ms: f64,
    /// How many times the call was made and found waiting.
    pub tries: u32,
}

/// A pause in step-by-step mode: what is about to happen and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    pub title: String,
    pub explanation: String,
}

#[derive(Clone, Copy)]
pub struct AppState {
    pub mcp_url: RwSignal<String>,
    pub echo_url: RwSignal<String>,
    pub echo_text: RwSignal<String>,
    pub step_mode: RwSignal<bool>,
    pub timeline: RwSignal<Vec<Step>>,
    pub result: RwSignal<Option<CallResult>>,
    /// The tools last listed, kept while calling them.
    pub tools: RwSignal<Vec<Tool>>,
    pub error: RwSignal<Option<String>>,
    pub busy: RwSignal<bool>,
    pub tokens: RwSignal<Vec<TokenSet>>,
    pub mcp_sessions: RwSignal<Vec<McpSession>>,
    pub pause: RwSignal<Option<Pause>>,
    resume: StoredValue<Option<oneshot::Sender<()>>>,
    /// The call waiting for a person's approval, if one is.
    pub waiting: RwSignal<Option<Waiting>>,
    /// Wakes the wait between two tries: `true` from *Stop waiting*, `false` from the timer.
    wake: StoredValue<Option<oneshot::Sender<bool>>>,
    /// `Date.now()`, ticking once a second, for expiry countdowns.
    pub now_ms: RwSignal<f64>,
    /// How many times *Log out / forget* was pressed. A flow notes it when it starts
    /// ([`AppState::start_flow`]) and stops at its next step once it changed.
    generation: StoredValue<u64>,
    /// The generation the running flow started in. Flows do not overlap: every button that starts
    /// one is disabled while `busy`, and the callback runs on a fresh page.
    flow_generation: StoredValue<u64>,
}

/// Why a flow ended when *Log out / forget* was pressed during it.
pub const STOPPED: &str = "Logged out: the call in progress was stopped.";

impl AppState {
    pub fn new() -> Self {
        Self {
            mcp_url: RwSignal::new(DEFAULT_MCP_URL.to_owned()),
            echo_url: RwSignal::new(DEFAULT_ECHO_URL.to_owned()),
            echo_text: RwSignal::new("Hello, MCP!".to_owned()),
            step_mode: RwSignal::new(crate::storage::step_mode()),
            timeline: RwSignal::new(Vec::new()),
            result: RwSignal::new(None),
            tools: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            busy: RwSignal::new(false),
            tokens: RwSignal::new(Vec::new()),
            mcp_sessions: RwSignal::new(Vec::new()),
            pause: RwSignal::new(None),
            resume: StoredValue::new(None),
            waiting: RwSignal::new(None),
            wake: StoredValue::new(None),
            now_ms: RwSignal::new(js_sys::Date::now()),
            generation: StoredValue::new(0),
            flow_generation: StoredValue::new(0),
        }
    }

    /// A flow (a call and whatever authorization it takes) starts.
    pub fn start_flow(&self) {
        self.flow_generation.set_value(self.generation.get_value());
    }

    /// `Err` once *Log out / forget* was pressed since the running flow started: from then on it
    /// sends no request, stores no token and does not leave for the authorization server.
    pub fn still_running(&self) -> Result<(), String> {
        if self.flow_generation.get_value() == self.generation.get_value() {
            Ok(())
        } else {
            Err(STOPPED.to_owned())
        }
    }

    /// *Log out / forget*: the running flow stops at its next step; a pause before a request or
    /// a wait for a person's approval ends at once. Without this a call waiting for approval went
    /// on trying after the logout, and could authorize again (the AS remembering the user) and
    /// be made; a refresh under way put its tokens back.
    pub fn stop_flow(&self) {
        self.generation.update_value(|generation| *generation = generation.wrapping_add(1));
        // Dropping the sender ends the pause: `gate` returns, and says the flow stopped.
        self.resume.set_value(None);
        self.pause.set(None);
        self.stop_waiting();
        self.waiting.set(None);
    }

    pub fn push(&self, step: Step) {
        self.timeline.update(|steps| steps.push(step));
    }

    /// Before every request: in step-by-step mode, waits until the user presses *Next*; in quick
    /// mode, returns at once. `Err` if the flow was stopped ([`AppState::still_running`]).
    pub async fn gate(&self, title: &str, explanation: &str) -> Result<(), String> {
        // A stopped flow must not open a new pause: some callers read a failed step as "go on
        // another way" (a refresh that failed leads to authorizing), whose gate comes next.
        self.still_running()?;
        if self.step_mode.get_untracked() {
            let (sender, receiver) = oneshot::channel();
            self.resume.set_value(Some(sender));
            self.pause.set(Some(Pause { title: title.to_owned(), explanation: explanation.to_owned() }));
            let _ = receiver.await;
            self.pause.set(None);
        }
        self.still_running()
    }

    /// The *Next* button.
    pub fn next(&self) {
        if let Some(sender) = self.resume.try_update_value(Option::take).flatten() {
            let _ = sender.send(());
        }
    }

    /// *Run to the end*: leave step-by-step mode and continue.
    pub fn run_through(&self) {
        self.step_mode.set(false);
        crate::storage::save_step_mode(false);
        self.next();
    }

    /// Waits `seconds` before the next try of a call waiting for approval; `true` if the person
    /// pressed *Stop waiting* instead (or the browser refused the timer, which would never fire).
    pub async fn wait_or_stop(&self, seconds: u64) -> bool {
        let (sender, receiver) = oneshot::channel();
        self.wake.set_value(Some(sender));
        let app = *self;
        let timer = set_timeout_with_handle(move || app.wake(false), Duration::from_secs(seconds));
        let stopped = timer.is_err() || receiver.await.unwrap_or(true);
        if let Ok(timer) = timer {
            timer.clear();
        }
        stopped
    }

    /// *Stop waiting*.
    pub fn stop_waiting(&self) {
        self.wake(true);
    }

    fn wake(&self, stopped: bool) {
        if let Some(sender) = self.wake.try_update_value(Option::take).flatten() {
            let _ = sender.send(stopped);
        }
    }

    /// The token set for `url`: see [`most_specific`].
    pub fn token_for(&self, url: &str) -> Option<TokenSet> {
        self.tokens.with_untracked(|all| most_specific(all, url).cloned())
    }

    /// Stores `tokens`, replacing any set for the same resource: the rotated refresh token and the
    /// new access token arrive together and replace the old pair together. Refused if the flow
    /// that obtained them was stopped by *Log out / forget* while they were on their way.
    pub fn store_tokens(&self, tokens: TokenSet) -> Result<(), String> {
        self.still_running()?;
        self.tokens.update(|all| {
            all.retain(|t| t.resource != tokens.resource);
            all.push(tokens);
        });
        Ok(())
    }

    pub fn drop_tokens(&self, resource: &str) {
        self.tokens.update(|all| all.retain(|t| t.resource != resource));
    }

    pub fn connection_for(&self, url: &str) -> Option<Connection> {
        self.mcp_sessions.get_untracked().into_iter().find(|s| s.url == url).map(|s| s.connection)
    }

    pub fn set_connection(&self, url: &str, connection: Connection) {
        self.mcp_sessions.update(|all| {
            all.retain(|s| s.url != url);
            all.push(McpSession { url: url.to_owned(), connection });
        });
    }
}

/// Of the token sets whose resource covers `url`, the one for the most specific resource (the
/// longest path). One origin may be several resources (`https://h` for an API, `https://h/mcp`
/// for MCP): a token for `https://h` covers `/mcp` too, but its audience is the other resource,
/// and once a token for `/mcp` is held it is the one to send.
pub fn most_specific<'a>(tokens: &'a [TokenSet], url: &str) -> Option<&'a TokenSet> {
    let path_length =
        |resource: &str| url::Url::parse(resource).map_or(0, |r| r.path().trim_end_matches('/').len());
    tokens
        .iter()
        .filter(|t| protocol::resource::resource_covers(&t.resource, url))
        .max_by_key(|t| path_length(&t.resource))
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn tokens_for(resource: &str) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new(format!("token for {resource}")),
            refresh_token: None,
            resource: resource.to_owned(),
            scopes: Scopes::default(),
            issued_at_ms: 0.0,
            expires_at_ms: None,
            issuer: "https://as.example".into(),
            token_endpoint: "https://as.example/token".into(),
            revocation_endpoint: None,
            client_id: "c".into(),
        }
    }

    /// A flow under way when the user logs out used to go on: a refresh's answer put the tokens
    /// back, a call waiting for approval kept trying.
    #[wasm_bindgen_test]
    async fn log_out_stops_the_running_flow_at_its_next_step() {
        let app = AppState::new();
        app.start_flow();
        assert_eq!(app.gate("t", "e").await, Ok(()));
        assert_eq!(app.store_tokens(tokens_for("https://h")), Ok(()));
        app.stop_flow();
        assert_eq!(app.gate("t", "e").await, Err(STOPPED.to_owned()), "no further request");
        assert!(app.store_tokens(tokens_for("https://h/mcp")).is_err(), "an answer on its way is dropped");
        assert!(app.token_for("https://h/mcp").is_some_and(|t| t.resource == "https://h"));
        app.start_flow();
        assert_eq!(app.gate("t", "e").await, Ok(()), "the next call runs");
    }

    #[wasm_bindgen_test]
    async fn log_out_ends_a_wait_for_approval_and_a_pause_at_once() {
        let app = AppState::new();
        app.start_flow();
        let waiting = app.wait_or_stop(60);
        wasm_bindgen_futures::spawn_local(async move { app.stop_flow() });
        assert!(waiting.await, "stopped, well before the minute");
        app.step_mode.set(true);
        app.start_flow();
        let paused = app.gate("t", "e");
        wasm_bindgen_futures::spawn_local(async move { app.stop_flow() });
        assert_eq!(paused.await, Err(STOPPED.to_owned()));
        assert_eq!(app.pause.get_untracked(), None);
        // A step the stopped flow reaches afterwards (a failed refresh leads to authorizing)
        // opens no new pause: it used to, and kept the page busy until *Next*.
        assert_eq!(app.gate("t", "e").await, Err(STOPPED.to_owned()));
        assert_eq!(app.pause.get_untracked(), None, "no pause after the logout");
    }

    /// A token for the origin used to be sent to `/mcp` (the wrong audience), even after one for
    /// `/mcp` itself was obtained, so the call stayed refused.
    #[wasm_bindgen_test]
    fn the_token_for_the_most_specific_resource_is_the_one_sent() {
        let resource = |all: &[TokenSet], url: &str| most_specific(all, url).map(|t| t.resource.clone());
        let all = [tokens_for("https://h"), tokens_for("https://h/mcp")];
        assert_eq!(resource(&all, "https://h/mcp").as_deref(), Some("https://h/mcp"));
        assert_eq!(resource(&all, "https://h/mcp/x").as_deref(), Some("https://h/mcp"));
        assert_eq!(resource(&all, "https://h/echo").as_deref(), Some("https://h"));
        let reversed = [tokens_for("https://h/mcp"), tokens_for("https://h/")];
        assert_eq!(resource(&reversed, "https://h/mcp").as_deref(), Some("https://h/mcp"));
        assert_eq!(resource(&reversed, "https://h/echo").as_deref(), Some("https://h/"));
        assert_eq!(resource(&all, "https://other/mcp"), None);
    }
}
