//! What the authorization server remembers, as plain records: users, clients, browser sessions,
//! pending authorization requests, codes, grants and their tokens, consents, out-of-band approvals,
//! signing keys and the audit trail.
//!
//! These types are the vocabulary of the [`crate::store::Store`] facade and of the domain code.
//! They know nothing about storage: each backend under `store/` maps them to its own rows, so a
//! second backend adds SQL, not types.

mod approvals;
mod audit;
mod clients;
mod codes;
mod consents;
mod grants;
mod keys;
mod requests;
mod sessions;
mod users;

pub use approvals::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, Decided, Opening, Poll, StandingApproval,
};
pub use audit::{AuditEvent, AuditKind, StoredAuditEvent};
pub use clients::{Client, ClientAuthMethod, ExchangeTargets, Registration};
pub use codes::{CodeBinding, Redemption};
pub use consents::Consent;
pub use grants::{Grant, IssuedAccessToken, NewRefreshToken, StoredRefreshToken};
pub use keys::StoredKey;
pub use requests::PendingAuthorization;
pub use sessions::BrowserSession;
pub use users::User;
