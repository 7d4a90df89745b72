//! Users who can sign in.

/// A user account.
#[derive(Debug, Clone)]
pub struct User {
    /// Stable subject identifier; the `sub` of every token issued for this user.
    pub id: String,
    pub username: String,
    /// argon2id PHC string. Never leaves the store except to be verified.
    pub password_hash: String,
}
