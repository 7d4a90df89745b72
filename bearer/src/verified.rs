use protocol::jwt::{AccessTokenClaims, Actor};
use protocol::scope::Scopes;

use crate::error::BearerError;

/// A token that passed every check: what a handler may rely on.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessTokenClaims,
    pub scopes: Scopes,
}

impl VerifiedToken {
    /// `Ok` if the token carries every scope in `needed`.
    pub fn require(&self, needed: &Scopes) -> Result<(), BearerError> {
        if self.scopes.is_superset(needed) {
            Ok(())
        } else {
            // RFC 6750 §3.1 / MCP step-up: name everything needed, so the client's next
            // authorization asks for the union of what it has and this.
            Err(BearerError::InsufficientScope(self.scopes.union(needed)))
        }
    }

    /// Whether the token carries all of `scopes`, without building a [`Scopes`] (the per-request
    /// check of a route's constant scopes).
    pub fn has_all(&self, scopes: &[&str]) -> bool {
        scopes.iter().all(|scope| self.scopes.contains(scope))
    }

    /// The user the token speaks for (`sub`).
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// Who is presenting the token for the subject, current actor first (RFC 8693 §4.1); empty
    /// when the client the token was issued to presents it itself. A handler that records or
    /// authorizes an action names the whole chain, not only the subject.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> {
        self.claims.actors()
    }
}
