//! Authorization codes: stored hashed, valid once, for a minute.

/// What an authorization code is bound to: the client, user, redirect URI, scope, PKCE challenge
/// and resource of the request it answers. Everything the token endpoint must check and put in the
/// grant it creates (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2).
#[derive(Debug, Clone)]
pub struct CodeBinding {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub resource: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// A code about to be stored: its hash, and what it is bound to.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub binding: CodeBinding,
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub enum Redemption {
    /// First presentation: the code is now spent. Expiry is checked by the caller.
    Redeemed(CodeBinding),
    /// The code was already spent: a replay (RFC 9700 §4.5). Carries the grant the first
    /// redemption created, if it got that far, so the caller can revoke it.
    AlreadyRedeemed {
        code: CodeBinding,
        grant_id: Option<String>,
    },
    Unknown,
}
