//! Grants and the tokens issued under them.
//!
//! A grant is born when an authorization code is redeemed and dies when it expires or is revoked.
//! Refresh tokens rotate within it (each used once); access tokens are recorded by `jti` so that
//! introspection and revocation can find them. Every check of a token looks at its grant, so
//! revoking the grant stops everything issued under it.

/// What a user allowed a client, from the redemption of a code until it expires or is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub resource: String,
    pub auth_time: i64,
    /// Absolute end of the grant: no refresh token outlives it.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Grant {
    /// Neither revoked nor expired: its tokens may still be used.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// An access token as recorded at issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccessToken {
    pub jti: String,
    pub grant_id: String,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// For a token obtained by exchange (or after an approval): the access token it was exchanged
    /// from. Revoking that one ends this one too.
    pub parent_jti: Option<String>,
}

/// A refresh token about to be stored (its hash).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: i64,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct StoredRefreshToken {
    pub grant_id: String,
    pub expires_at: i64,
    /// When it was rotated; a used token presented again is reuse.
    pub used_at: Option<i64>,
}
