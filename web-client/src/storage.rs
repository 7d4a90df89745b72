//! What must survive the trip to the authorization server and back: `sessionStorage`, which is
//! per tab and cleared when the tab closes.
//!
//! Never tokens: the access token lives only in memory (see `state.rs`), so a script injected
//! later, or anyone reading the disk, finds nothing to steal here. What is stored is the
//! material of one pending authorization (deleted when its callback arrives), the client id the
//! authorization server gave this tab, and the timeline so far.

use protocol::pkce::CodeVerifier;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const PENDING_PREFIX: &str = "mcp-oauth:pending:";
const CLIENT_PREFIX: &str = "mcp-oauth:client:";
const TIMELINE: &str = "mcp-oauth:timeline";

/// Everything the callback needs to finish an authorization it did not start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub state: String,
    pub code_verifier: CodeVerifier,
    /// The issuer the browser was sent to; the callback's `iss` must equal it (RFC 9207).
    pub issuer: String,
    pub issuer_parameter_required: bool,
    pub token_endpoint: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource: String,
    /// The call to retry once a token is in hand.
    pub endpoint: String,
    pub text: String,
}

/// A client registration at one authorization server (RFC 7591), remembered per issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistration {
    pub client_id: String,
    pub redirect_uri: String,
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn read<T: DeserializeOwned>(key: &str) -> Option<T> {
    let raw = session_storage()?.get_item(key).ok()??;
    serde_json::from_str(&raw).ok()
}

fn write<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
    let storage = session_storage().ok_or("sessionStorage is not available in this browser")?;
    let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
    storage.set_item(key, &json).map_err(|_| "sessionStorage refused the write (full or disabled)".to_owned())
}

fn remove(key: &str) {
    if let Some(storage) = session_storage() {
        let _ = storage.remove_item(key);
    }
}

pub fn save_pending(pending: &PendingAuthorization) -> Result<(), String> {
    write(&format!("{PENDING_PREFIX}{}", pending.state), pending)
}

/// Removes and returns the pending authorization for `state`: a state can be used once only.
pub fn take_pending(state: &str) -> Option<PendingAuthorization> {
    let key = format!("{PENDING_PREFIX}{state}");
    let pending = read(&key);
    remove(&key);
    pending
}

pub fn client_for(issuer: &str) -> Option<ClientRegistration> {
    read(&format!("{CLIENT_PREFIX}{issuer}"))
}

pub fn save_client(issuer: &str, registration: &ClientRegistration) -> Result<(), String> {
    write(&format!("{CLIENT_PREFIX}{issuer}"), registration)
}

pub fn save_timeline<T: Serialize>(timeline: &T) -> Result<(), String> {
    write(TIMELINE, timeline)
}

/// The timeline saved before the redirect, removed once read.
pub fn take_timeline<T: DeserializeOwned>() -> Option<T> {
    let timeline = read(TIMELINE);
    remove(TIMELINE);
    timeline
}
