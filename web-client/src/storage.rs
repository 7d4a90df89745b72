//! What the app keeps in the browser, and where.
//!
//! * `sessionStorage` (this tab, until it closes): the material of one pending authorization
//!   (deleted when its callback arrives), the timeline across the redirect, the step mode.
//! * `localStorage` (this origin, until *Forget*): client ids, which are not secrets: the ones the
//!   user entered for pre-registered clients and the ones authorization servers gave this app.
//!
//! Never tokens: access and refresh tokens live only in memory (see `state.rs`), so neither a
//! script injected later nor anyone reading the disk finds one here.

use protocol::challenge_reaction::ChallengeReaction;
use protocol::pkce::CodeVerifier;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::flow::Call;

const PENDING_PREFIX: &str = "mcp-oauth:pending:";
const REGISTERED_PREFIX: &str = "mcp-oauth:registered:";
const PREREGISTERED_PREFIX: &str = "mcp-oauth:preregistered:";
const TIMELINE: &str = "mcp-oauth:timeline";
const STEP_MODE: &str = "mcp-oauth:step-mode";
const TOOLS: &str = "mcp-oauth:tools";

/// Everything the callback needs to finish an authorization it did not start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub state: String,
    pub code_verifier: CodeVerifier,
    /// The issuer the browser was sent to; the callback's `iss` must equal it (RFC 9207).
    pub issuer: String,
    pub issuer_parameter_required: bool,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource: String,
    /// The `scope` the request asked for (`None` if it sent none): what the token was granted when
    /// the token response names no scope (RFC 6749 §5.1, OAuth 2.1 §3.2.3: left out when equal to
    /// the request's).
    #[serde(default)]
    pub requested_scope: Option<String>,
    /// The call to retry once a token is in hand.
    pub call: Call,
    /// The call's challenge state (what it refreshed, authorized and asked for), so the retry
    /// after the callback follows the same limits as a call that never left the page.
    #[serde(default)]
    pub reaction: ChallengeReaction,
    /// When the call stops waiting for a person's approval, if it waited before the redirect: the
    /// wait goes on after the callback, it does not start again.
    #[serde(default)]
    pub approval_deadline_ms: Option<f64>,
}

/// A client id an authorization server issued to this app (RFC 7591), per issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistration {
    pub client_id: String,
    pub redirect_uri: String,
}

#[derive(Clone, Copy)]
enum Area {
    Session,
    Local,
}

fn storage(area: Area) -> Option<web_sys::Storage> {
    let window = web_sys::window()?;
    match area {
        Area::Session => window.session_storage().ok()?,
        Area::Local => window.local_storage().ok()?,
    }
}

fn read<T: DeserializeOwned>(area: Area, key: &str) -> Option<T> {
    let raw = storage(area)?.get_item(key).ok()??;
    serde_json::from_str(&raw).ok()
}

fn write<T: Serialize>(area: Area, key: &str, value: &T) -> Result<(), String> {
    let storage = storage(area).ok_or("browser storage is not available")?;
    let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
    storage
        .set_item(key, &json)
        .map_err(|_| "browser storage refused the write (full or disabled)".to_owned())
}

fn remove(area: Area, key: &str) {
    if let Some(storage) = storage(area) {
        let _ = storage.remove_item(key);
    }
}

/// Every key of `area` starting with `prefix`.
fn keys_with_prefix(area: Area, prefix: &str) -> Vec<String> {
    let Some(storage) = storage(area) else { return Vec::new() };
    let count = storage.length().unwrap_or(0);
    (0..count).filter_map(|i| storage.key(i).ok().flatten()).filter(|k| k.starts_with(prefix)).collect()
}

pub fn save_pending(pending: &PendingAuthorization) -> Result<(), String> {
    write(Area::Session, &format!("{PENDING_PREFIX}{}", pending.state), pending)
}

/// Removes and returns the pending authorization for `state`: a state can be used once only.
pub fn take_pending(state: &str) -> Option<PendingAuthorization> {
    let key = format!("{PENDING_PREFIX}{state}");
    let pending = read(Area::Session, &key);
    remove(Area::Session, &key);
    pending
}

pub fn registered_client(issuer: &str) -> Option<ClientRegistration> {
    read(Area::Local, &format!("{REGISTERED_PREFIX}{issuer}"))
}

pub fn save_registered_client(issuer: &str, registration: &ClientRegistration) -> Result<(), String> {
    write(Area::Local, &format!("{REGISTERED_PREFIX}{issuer}"), registration)
}

/// The client id the user entered for `issuer`, if any.
pub fn preregistered_client(issuer: &str) -> Option<String> {
    read(Area::Local, &format!("{PREREGISTERED_PREFIX}{issuer}"))
}

pub fn save_preregistered_client(issuer: &str, client_id: &str) -> Result<(), String> {
    write(Area::Local, &format!("{PREREGISTERED_PREFIX}{issuer}"), &client_id)
}

/// `(issuer, client id)` for every pre-registered client the user entered.
pub fn preregistered_clients() -> Vec<(String, String)> {
    keys_with_prefix(Area::Local, PREREGISTERED_PREFIX)
        .into_iter()
        .filter_map(|key| {
            let client_id: String = read(Area::Local, &key)?;
            Some((key.trim_start_matches(PREREGISTERED_PREFIX).to_owned(), client_id))
        })
        .collect()
}

pub fn save_timeline<T: Serialize>(timeline: &T) -> Result<(), String> {
    write(Area::Session, TIMELINE, timeline)
}

/// The timeline saved before the redirect, removed once read.
pub fn take_timeline<T: DeserializeOwned>() -> Option<T> {
    let timeline = read(Area::Session, TIMELINE);
    remove(Area::Session, TIMELINE);
    timeline
}

/// The tools listed before the redirect, so their forms are still there afterwards.
pub fn save_tools(tools: &[protocol::mcp::Tool]) {
    let _ = write(Area::Session, TOOLS, &tools);
}

pub fn take_tools() -> Vec<protocol::mcp::Tool> {
    let tools = read(Area::Session, TOOLS).unwrap_or_default();
    remove(Area::Session, TOOLS);
    tools
}

pub fn step_mode() -> bool {
    read(Area::Session, STEP_MODE).unwrap_or(false)
}

pub fn save_step_mode(on: bool) {
    let _ = write(Area::Session, STEP_MODE, &on);
}

/// *Forget*: every client id and pending authorization this app stored.
pub fn forget_everything() {
    for prefix in [REGISTERED_PREFIX, PREREGISTERED_PREFIX] {
        for key in keys_with_prefix(Area::Local, prefix) {
            remove(Area::Local, &key);
        }
    }
    for key in keys_with_prefix(Area::Session, PENDING_PREFIX) {
        remove(Area::Session, &key);
    }
    remove(Area::Session, TIMELINE);
    remove(Area::Session, TOOLS);
}
