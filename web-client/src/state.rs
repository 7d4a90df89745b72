//! The app's reactive state, provided once at the root and shared by every component.

use leptos::prelude::*;
use protocol::echo::EchoResponse;
use protocol::scope::Scopes;
use protocol::secret::AccessToken;

use crate::timeline::Step;

/// The default call: the echo API of the local demo server.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:9090/echo";

/// An access token and what it is for. Kept in memory only: a reload forgets it, and the next
/// call simply runs the authorization again (the AS remembers the login for a while). That is
/// the browser-based-apps BCP trade-off: nothing at rest for an XSS payload to steal.
#[derive(Debug, Clone)]
pub struct TokenSession {
    pub access_token: AccessToken,
    /// The resource the token's audience names.
    pub resource: String,
    pub scopes: Scopes,
    /// `Date.now()` milliseconds at which the token expires, if the AS said.
    pub expires_at_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
pub struct AppState {
    pub endpoint: RwSignal<String>,
    pub text: RwSignal<String>,
    pub timeline: RwSignal<Vec<Step>>,
    pub result: RwSignal<Option<EchoResponse>>,
    pub error: RwSignal<Option<String>>,
    pub busy: RwSignal<bool>,
    pub session: RwSignal<Option<TokenSession>>,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            endpoint: RwSignal::new(DEFAULT_ENDPOINT.to_owned()),
            text: RwSignal::new("Hello, MCP!".to_owned()),
            timeline: RwSignal::new(Vec::new()),
            result: RwSignal::new(None),
            error: RwSignal::new(None),
            busy: RwSignal::new(false),
            session: RwSignal::new(None),
        }
    }

    pub fn push(&self, step: Step) {
        self.timeline.update(|steps| steps.push(step));
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}
