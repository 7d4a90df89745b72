//! Browser sessions of the login and consent pages.
//!
//! The cookie holds a random id; the store holds its hash, the CSRF token for the session's forms,
//! and, once the user has signed in, who they are.

/// One browser's session.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub id_hash: String,
    pub csrf_token: String,
    pub user_id: Option<String>,
    pub authenticated_at: Option<i64>,
    pub expires_at: i64,
}
