//! Remembered consents.

/// What a user allowed a client for a resource, remembered so the consent page is not shown again
/// for the same (or a smaller) set of scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: String,
    pub client_id: String,
    pub resource: String,
    pub scope: String,
    pub granted_at: i64,
}
