//! The seam between the [`Store`](super::Store) facade and a database: what a backend implements.
//!
//! One trait per kind of record, so a backend keeps each table's SQL in its own file; [`Backend`]
//! gathers them. Every method returns a boxed future ([`StoreFuture`]) because the facade holds
//! the backend as `Arc<dyn Backend>` and `async fn` in a trait cannot be called through `dyn`.
//! The contract of each method (what must be atomic, what a concurrent caller sees) is written on
//! the facade method of the same name and proven for every backend by the store contract suite
//! (`auth/tests/store/`).

use std::future::Future;
use std::pin::Pin;

use super::{StoreError, TableCounts};
use crate::model::{
    ApprovalDecision, ApprovalRequest, AuditEvent, BrowserSession, Client, CodeBinding, Consent, Decided,
    Grant, IssuedAccessToken, NewRefreshToken, Opening, PendingAuthorization, Poll, Redemption,
    StandingApproval, StoredAuditEvent, StoredKey, StoredRefreshToken, User,
};

/// What every backend method returns: a sendable future borrowing its arguments.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A database the authorization server can run on.
pub trait Backend:
    UserStore
    + ClientStore
    + SessionStore
    + RequestStore
    + CodeStore
    + GrantStore
    + ConsentStore
    + ApprovalStore
    + KeyStore
    + AuditStore
    + SweepStore
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Called once the server has stopped: leave a complete database behind and close.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Users.
pub trait UserStore {
    fn find_user_by_username<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<User>>;
    fn find_user_by_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>>;
    fn insert_user_if_absent<'a>(&'a self, user: &'a User, now: i64) -> StoreFuture<'a, bool>;
    fn list_users(&self) -> StoreFuture<'_, Vec<User>>;
    fn delete_user<'a>(&'a self, username: &'a str) -> StoreFuture<'a, bool>;
    fn change_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, ()>;
    fn groups_of_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<String>>;
    fn change_user_groups<'a>(
        &'a self,
        user_id: &'a str,
        add: &'a [String],
        remove: &'a [String],
    ) -> StoreFuture<'a, Vec<String>>;
}

/// Clients.
pub trait ClientStore {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<Client>>;
    fn insert_client<'a>(
        &'a self,
        client: &'a Client,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, ()>;
    fn client_metadata_expiry<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<i64>>;
    fn upsert_fetched_client<'a>(
        &'a self,
        client: &'a Client,
        expires_at: i64,
        now: i64,
    ) -> StoreFuture<'a, ()>;
    fn list_clients(&self) -> StoreFuture<'_, Vec<Client>>;
    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool>;
    fn set_exchange_targets<'a>(&'a self, client_id: &'a str, targets: &'a [String])
    -> StoreFuture<'a, bool>;
    fn record_client_assertion<'a>(
        &'a self,
        client_id: &'a str,
        jti: &'a str,
        expires_at: i64,
    ) -> StoreFuture<'a, bool>;
}

/// Browser sessions.
pub trait SessionStore {
    fn insert_session<'a>(&'a self, session: &'a BrowserSession, now: i64) -> StoreFuture<'a, ()>;
    fn find_session<'a>(&'a self, id_hash: &'a str, now: i64) -> StoreFuture<'a, Option<BrowserSession>>;
    fn replace_session_on_login<'a>(
        &'a self,
        old_id_hash: &'a str,
        new_session: &'a BrowserSession,
        now: i64,
    ) -> StoreFuture<'a, ()>;
    fn delete_session<'a>(&'a self, id_hash: &'a str) -> StoreFuture<'a, ()>;
}

/// Pending authorization requests.
pub trait RequestStore {
    fn insert_authorization_request<'a>(
        &'a self,
        request: &'a PendingAuthorization,
        now: i64,
    ) -> StoreFuture<'a, ()>;
    fn find_authorization_request<'a>(
        &'a self,
        id: &'a str,
        session_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<PendingAuthorization>>;
    fn take_authorization_request<'a>(
        &'a self,
        id: &'a str,
        session_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<PendingAuthorization>>;
}

/// Authorization codes.
pub trait CodeStore {
    fn spend_code<'a>(
        &'a self,
        code_hash: &'a str,
        code: &'a CodeBinding,
        now: i64,
    ) -> StoreFuture<'a, Redemption>;
}

/// Grants, refresh tokens and access-token records.
pub trait GrantStore {
    #[allow(clippy::too_many_arguments)]
    fn redeem_code_into_grant<'a>(
        &'a self,
        code_hash: &'a str,
        code: &'a CodeBinding,
        grant: &'a Grant,
        access: &'a IssuedAccessToken,
        refresh: Option<&'a NewRefreshToken>,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, bool>;
    fn find_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>>;
    fn find_refresh_token<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> StoreFuture<'a, Option<(StoredRefreshToken, Grant)>>;
    fn rotate_refresh_token<'a>(
        &'a self,
        old_hash: &'a str,
        grant_id: &'a str,
        next: &'a NewRefreshToken,
        access: &'a IssuedAccessToken,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, bool>;
    fn revoke_grant<'a>(&'a self, grant_id: &'a str, reason: &'a str, now: i64) -> StoreFuture<'a, ()>;
    fn find_access_token<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, Option<(IssuedAccessToken, Grant)>>;
    fn revoke_access_token<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, ()>;
    fn record_access_token<'a>(&'a self, token: &'a IssuedAccessToken) -> StoreFuture<'a, ()>;
}

/// Remembered consents.
pub trait ConsentStore {
    fn save_consent<'a>(&'a self, consent: &'a Consent, event: &'a AuditEvent) -> StoreFuture<'a, Consent>;
    fn find_consent<'a>(
        &'a self,
        user_id: &'a str,
        client_id: &'a str,
        resource: &'a str,
    ) -> StoreFuture<'a, Option<Consent>>;
    fn consents_of_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<Consent>>;
    fn revoke_consent<'a>(&'a self, user_id: &'a str, client_id: &'a str, now: i64) -> StoreFuture<'a, bool>;
}

/// Out-of-band approvals and standing approvals.
pub trait ApprovalStore {
    fn insert_approval<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()>;
    fn find_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApprovalRequest>>;
    fn pending_approvals_of_user<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Vec<ApprovalRequest>>;
    /// See [`crate::store::Store::open_approval`]: the look and the insert in one step.
    fn open_approval<'a>(
        &'a self,
        request: &'a ApprovalRequest,
        max_pending: i64,
        now: i64,
    ) -> StoreFuture<'a, Opening>;
    fn count_pending_approvals<'a>(
        &'a self,
        user_id: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, i64>;
    fn decide_approval<'a>(
        &'a self,
        id: &'a str,
        user_id: &'a str,
        decision: &'a ApprovalDecision,
        now: i64,
    ) -> StoreFuture<'a, Decided>;
    fn poll_approval<'a>(
        &'a self,
        auth_req_hash: &'a str,
        client_id: &'a str,
        spacing: i64,
        now: i64,
    ) -> StoreFuture<'a, Poll>;
    fn collect_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
    fn withdraw_approval<'a>(
        &'a self,
        auth_req_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<ApprovalRequest>>;
    fn find_standing_approval<'a>(
        &'a self,
        key: StandingKey<'a>,
        now: i64,
    ) -> StoreFuture<'a, Option<StandingApproval>>;
    fn standing_approvals_of_user<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Vec<StandingApproval>>;
    fn withdraw_standing_approval<'a>(&'a self, id: &'a str, user_id: &'a str) -> StoreFuture<'a, bool>;
}

/// What a standing approval is looked up by: the user, the client, the upstream, the tool and
/// the call's arguments (a standing approval without an argument constraint covers any).
#[derive(Debug, Clone, Copy)]
pub struct StandingKey<'a> {
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub subject_client_id: &'a str,
    pub resource: &'a str,
    pub tool: &'a str,
    pub arguments_sha256: &'a str,
    /// Only approvals given at or after this time (Unix seconds) count: a client's bound on how
    /// old a remembered approval may be (`approval_max_age`). `i64::MIN` for any.
    pub approved_since: i64,
}

/// Signing keys.
pub trait KeyStore {
    fn signing_keys(&self) -> StoreFuture<'_, Vec<StoredKey>>;
    fn insert_first_signing_key<'a>(&'a self, key: &'a StoredKey) -> StoreFuture<'a, bool>;
    fn rotate_signing_key<'a>(&'a self, next: &'a StoredKey, retire_at: i64) -> StoreFuture<'a, ()>;
    fn sealing_secret<'a>(
        &'a self,
        purpose: &'a str,
        candidate: &'a [u8],
        now: i64,
    ) -> StoreFuture<'a, Vec<u8>>;
}

/// The audit trail.
pub trait AuditStore {
    fn record_audit<'a>(&'a self, event: &'a AuditEvent, now: i64) -> StoreFuture<'a, ()>;
    fn failed_logins_for_username<'a>(
        &'a self,
        username_key: &'a str,
        since: i64,
    ) -> StoreFuture<'a, (i64, Option<i64>)>;
    fn failed_logins_from_ip<'a>(&'a self, ip: &'a str, since: i64) -> StoreFuture<'a, (i64, Option<i64>)>;
    fn audit_events(&self, limit: i64) -> StoreFuture<'_, Vec<StoredAuditEvent>>;
}

/// Removing what has expired.
pub trait SweepStore {
    fn sweep(&self, now: i64, audit_before: i64, rows_per_table: u32) -> StoreFuture<'_, TableCounts>;
    fn row_counts(&self) -> StoreFuture<'_, TableCounts>;
}
