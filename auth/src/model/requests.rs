//! Authorization requests that passed validation and wait for the user.
//!
//! Keeping the request server-side (instead of round-tripping every parameter through hidden form
//! fields) means the login and consent pages cannot be used to smuggle in a different redirect URI
//! or scope: the forms carry only the request id, and the id is bound to the browser session.

/// A validated authorization request, bound to the browser session that started it.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub id: String,
    pub session_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    pub expires_at: i64,
}
