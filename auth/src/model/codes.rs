//! Authorization codes: sealed (`sealed_code`), valid once, for a minute. A code is written to the
//! store only when it is spent, by the hash of its text, with what it was bound to.

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

/// The outcome of spending a code without redeeming it ([`crate::store::Store::spend_code`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Redemption {
    /// First presentation: the code is now recorded as spent, so it can never be redeemed.
    Redeemed,
    /// The code was already spent: a replay (RFC 9700 §4.5). Carries the grant the first
    /// redemption created, if it created one, so the caller can revoke it.
    AlreadyRedeemed { grant_id: Option<String> },
    /// Its client or user no longer exists: nothing to record, and the code is worthless.
    Unknown,
}
