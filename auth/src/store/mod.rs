//! The authorization server's state: a facade over one database backend.
//!
//! Handlers and domain code call the methods of [`Store`] and see only the records of
//! [`crate::model`], never SQL. Which database sits behind is decided once, by the URL given to
//! [`Store::connect`]: SQLite (`store/sqlite/`, the embedded default) or PostgreSQL
//! (`store/postgres/`, for several replicas sharing one database).
//!
//! # The seam
//! The facade holds its backend as `Arc<dyn Backend>` (see [`backend`]): one trait per kind of
//! record, every method returning a boxed future. Each backend is an implementation of those
//! traits with its own SQL and migrations, and one arm in [`Store::open`]; no method of the
//! facade branches on the backend. The alternatives were
//! weighed: an `enum` of backends needs an arm in every one of the facade's forty methods;
//! sqlx's `Any` driver hides the differences that matter (placeholders, `RETURNING`, locking); a
//! generic `Store<B>` would leak the type parameter into `AppState` and every handler. One
//! allocation per call is nothing next to a database round trip.
//!
//! # The contract
//! Each facade method states what it guarantees, including under concurrency (single-use values
//! are consumed by one atomic statement, so of two concurrent redemptions exactly one wins).
//! `auth/tests/store/` proves every guarantee against whichever backend
//! `MCP_AUTH_TEST_DATABASE_URL` names (see [`testing`]).

mod backend;
mod postgres;
mod sqlite;
pub mod sweep;
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

pub use backend::{
    ApprovalStore, AuditStore, Backend, ClientStore, CodeStore, ConsentStore, GrantStore, KeyStore,
    RequestStore, SessionStore, StandingKey, StoreFuture, SweepStore, UserStore,
};
// The records in the facade's signatures, so callers name them where they name the store.
pub use crate::model::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, BrowserSession, Client,
    ClientAuthMethod, CodeBinding, Consent, Decided, ExchangeTargets, Grant, IssuedAccessToken,
    NewRefreshToken, Opening, PendingAuthorization, Poll, Redemption, Registration, StandingApproval,
    StoredAuditEvent, StoredKey, StoredRefreshToken, User,
};

/// A storage failure. Handlers turn it into `server_error` without showing the details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A write that did not reach the database: its transaction could not begin or commit, or
    /// the store is closed. Nothing of it was kept.
    #[error("not written: {0}")]
    NotWritten(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A record handed to the store breaks a rule it keeps (an invalid scope, say).
    #[error("refused to store: {0}")]
    Invalid(String),
    /// The database URL names no backend this build has. Only the scheme is shown: the rest of a
    /// URL may hold a password.
    #[error("no database backend for URLs starting with {0:?} (expected sqlite: or postgres:)")]
    UnsupportedUrl(String),
    /// The database was migrated by a newer build: this one does not know its schema and must not
    /// write to it.
    #[error(
        "the database has migration {version}, newer than this build knows (up to {known}): \
         run the mcp-auth that migrated it, or a newer one"
    )]
    SchemaNewer { version: i64, known: i64 },
    /// Opened without migrating (`serve --no-migrate`) and the schema is behind.
    #[error("the database lacks migrations {0}: run `mcp-auth migrate` first")]
    MigrationsPending(String),
}

/// What opening a database does about its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply the migrations the database lacks (concurrent openers apply each once).
    Apply,
    /// Apply nothing; refuse a database that lacks any.
    Check,
}

/// The schema of a database just opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The migrations this open applied (version and description), oldest first; with
    /// [`Migrations::Check`], always empty.
    pub applied_now: Vec<(i64, String)>,
    /// The newest migration this build knows, which the database is now at.
    pub version: i64,
}

/// Compares the versions a database has applied with the migrations this build carries: a
/// version this build does not know is [`StoreError::SchemaNewer`] whatever `mode` says; missing
/// ones are what [`Migrations::Apply`] will apply, and an error under [`Migrations::Check`].
fn check_schema(
    migrator: &sqlx::migrate::Migrator,
    applied: &[i64],
    mode: Migrations,
) -> Result<Schema, StoreError> {
    let known: Vec<(i64, String)> = migrator.iter().map(|m| (m.version, m.description.to_string())).collect();
    let newest = known.iter().map(|(version, _)| *version).max().unwrap_or(0);
    if let Some(unknown) = applied.iter().copied().find(|version| !known.iter().any(|(v, _)| v == version)) {
        return Err(StoreError::SchemaNewer { version: unknown, known: newest });
    }
    let pending: Vec<(i64, String)> =
        known.into_iter().filter(|(version, _)| !applied.contains(version)).collect();
    if mode == Migrations::Check && !pending.is_empty() {
        let list: Vec<String> = pending.iter().map(|(version, name)| format!("{version} ({name})")).collect();
        return Err(StoreError::MigrationsPending(list.join(", ")));
    }
    Ok(Schema { applied_now: pending, version: newest })
}

/// Rows per table: what a sweep removed, or what the tables hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub authorization_codes: u64,
    pub authorization_requests: u64,
    pub browser_sessions: u64,
    pub refresh_tokens: u64,
    pub access_tokens: u64,
    pub grants: u64,
    pub audit_events: u64,
    pub client_assertions: u64,
    pub approval_requests: u64,
    pub standing_approvals: u64,
}

impl TableCounts {
    /// All rows together.
    pub fn total(&self) -> u64 {
        self.authorization_codes
            + self.authorization_requests
            + self.browser_sessions
            + self.refresh_tokens
            + self.access_tokens
            + self.grants
            + self.audit_events
            + self.client_assertions
            + self.approval_requests
            + self.standing_approvals
    }
}

/// A database URL as it may be shown to a person or a log: a password in it becomes `***`
/// (`postgres://app:***@db/mcp`). Anything that does not parse as a URL is shown up to its `@`
/// only, since it might hold credentials in a shape the parser did not recognise.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => match url.split_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        },
    }
}

/// A JSON column's value, or `Corrupt` naming what could not be read (both backends keep JSON as
/// text).
fn from_json<T: serde::de::DeserializeOwned>(
    value: &str,
    what: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    serde_json::from_str(value).map_err(|_| StoreError::Corrupt(what()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `clients.exchange_to` as stored: a JSON list, or NULL for a client registered before the
/// column existed.
fn exchange_to_column(targets: &ExchangeTargets) -> Result<Option<String>, StoreError> {
    match targets {
        ExchangeTargets::Listed(listed) => Ok(Some(to_json(listed)?)),
        ExchangeTargets::Unrestricted => Ok(None),
    }
}

/// The [`ExchangeTargets`] of a stored `clients.exchange_to`.
fn exchange_targets(
    column: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<ExchangeTargets, StoreError> {
    match column {
        Some(listed) => Ok(ExchangeTargets::Listed(from_json(listed, what)?)),
        None => Ok(ExchangeTargets::Unrestricted),
    }
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Opens the database at `url` (a SQLite file is created if missing) and applies the
    /// migrations it lacks.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self::open(url, Migrations::Apply).await?.0)
    }

    /// Opens the database at `url` and applies or checks its migrations, as `migrations` says. A
    /// database migrated by a newer build is refused either way. The one place a URL picks a
    /// backend: `sqlite:` (a file, or `sqlite::memory:`) or `postgres:`/`postgresql:` (an
    /// existing database).
    pub async fn open(url: &str, migrations: Migrations) -> Result<(Self, Schema), StoreError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        let (backend, schema): (Arc<dyn Backend>, Schema) = match scheme {
            "sqlite" => {
                let (backend, schema) = sqlite::SqliteBackend::connect(url, migrations).await?;
                (Arc::new(backend), schema)
            }
            "postgres" | "postgresql" => {
                let (backend, schema) = postgres::PostgresBackend::connect(url, migrations).await?;
                (Arc::new(backend), schema)
            }
            _ => return Err(StoreError::UnsupportedUrl(format!("{scheme}:"))),
        };
        Ok((Self { backend }, schema))
    }

    /// Leaves a complete database behind and closes every connection: called once the server has
    /// stopped. Waits for connections still in use. Failures are logged, not returned: nothing
    /// committed is lost either way.
    pub async fn close(&self) {
        self.backend.close().await;
    }
}

/// Users.
impl Store {
    pub async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.backend.find_user_by_username(username).await
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.backend.find_user_by_id(id).await
    }

    /// Creates a user unless the username is taken; returns whether it was created.
    pub async fn insert_user_if_absent(&self, user: &User, now: i64) -> Result<bool, StoreError> {
        self.backend.insert_user_if_absent(user, now).await
    }

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.backend.list_users().await
    }

    /// Deletes the user; their sessions, consents, codes and grants go with them.
    pub async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        self.backend.delete_user(username).await
    }

    /// Sets a new password hash and, in the same transaction, revokes every grant, deletes every
    /// session and withdraws every standing approval of the user: whoever knew the old password
    /// must not keep access through tokens, a signed-in browser, or approvals they left behind.
    pub async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.backend.change_password(user_id, password_hash, now).await
    }

    /// The user's groups, sorted.
    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        self.backend.groups_of_user(user_id).await
    }

    /// Adds the user to `add` and removes them from `remove` (in that order, one transaction) and
    /// returns their groups as now stored, sorted. Adding a group twice is not an error.
    pub async fn change_user_groups(
        &self,
        user_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.backend.change_user_groups(user_id, add, remove).await
    }
}

/// Clients.
impl Store {
    pub async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.backend.find_client(client_id).await
    }

    /// Stores a new client and `event` (its registration) in one commit; fails, writing neither,
    /// if the id is taken.
    pub async fn insert_client(
        &self,
        client: &Client,
        event: &AuditEvent,
        now: i64,
    ) -> Result<(), StoreError> {
        self.backend.insert_client(client, event, now).await
    }

    /// When the fetched metadata document of a client stops being fresh (`None` for clients that
    /// were not fetched).
    pub async fn client_metadata_expiry(&self, client_id: &str) -> Result<Option<i64>, StoreError> {
        self.backend.client_metadata_expiry(client_id).await
    }

    /// Stores a client fetched from its metadata document, replacing the previous copy in one
    /// statement (its codes, grants and consents stay).
    pub async fn upsert_fetched_client(
        &self,
        client: &Client,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.backend.upsert_fetched_client(client, expires_at, now).await
    }

    /// Every client, oldest first.
    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.backend.list_clients().await
    }

    /// Sets the resources a client acting for others may obtain tokens for (`false`: no such
    /// client, or one that acts for nothing).
    pub async fn set_exchange_targets(
        &self,
        client_id: &str,
        targets: &[String],
    ) -> Result<bool, StoreError> {
        self.backend.set_exchange_targets(client_id, targets).await
    }

    /// Deletes the client; its codes, grants and consents go with it.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.backend.delete_client(client_id).await
    }

    /// Records that the client used an assertion with this `jti`, unless it used one before:
    /// returns `false` for a replay. One statement, so of two concurrent uses exactly one returns
    /// `true`. Kept until `expires_at` (the assertion's own expiry), then swept.
    pub async fn record_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.backend.record_client_assertion(client_id, jti, expires_at).await
    }
}

/// Browser sessions.
impl Store {
    pub async fn insert_session(&self, session: &BrowserSession, now: i64) -> Result<(), StoreError> {
        self.backend.insert_session(session, now).await
    }

    /// The session, unless it does not exist or has expired.
    pub async fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<BrowserSession>, StoreError> {
        self.backend.find_session(id_hash, now).await
    }

    /// Signs a user in by replacing the anonymous session with a new one (new id, new CSRF token),
    /// carrying its pending authorization requests over, in one transaction. A fresh id at login
    /// defeats session fixation: an id planted in the browser before login is worthless after it.
    pub async fn replace_session_on_login(
        &self,
        old_id_hash: &str,
        new_session: &BrowserSession,
        now: i64,
    ) -> Result<(), StoreError> {
        self.backend.replace_session_on_login(old_id_hash, new_session, now).await
    }

    /// Signs a browser out.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.backend.delete_session(id_hash).await
    }
}

/// Pending authorization requests.
impl Store {
    pub async fn insert_authorization_request(
        &self,
        request: &PendingAuthorization,
        now: i64,
    ) -> Result<(), StoreError> {
        self.backend.insert_authorization_request(request, now).await
    }

    /// The request `id` if it belongs to this browser session and has not expired.
    pub async fn find_authorization_request(
        &self,
        id: &str,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.backend.find_authorization_request(id, session_hash, now).await
    }

    /// Removes and returns the request, in one statement: a decision (allow or deny) is made
    /// exactly once, and of two concurrent takers exactly one gets it.
    pub async fn take_authorization_request(
        &self,
        id: &str,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.backend.take_authorization_request(id, session_hash, now).await
    }
}

/// Authorization codes (sealed: see `sealed_code`; the store records a code only when it is spent).
impl Store {
    /// Records the code with this hash spent without a grant (a request that did not match it:
    /// the code is burnt) and returns [`Redemption::Redeemed`]; or, if it was spent before, marks
    /// the replay and returns the grant the first redemption created. Of concurrent calls for one
    /// code (with [`Store::redeem_code_into_grant`]) exactly one spends it.
    pub async fn spend_code(
        &self,
        code_hash: &str,
        code: &CodeBinding,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        self.backend.spend_code(code_hash, code, now).await
    }
}

/// Grants and their tokens.
impl Store {
    /// Spends the code with this hash, if nobody has, and only then creates the grant it becomes,
    /// links the code to it (so a replay can revoke it) and records the first tokens and the
    /// audit `event`, all in one commit; `code` is what the caller opened from the code and
    /// checked the request against. `false`: nothing was written, because the code was spent
    /// before (the caller then spends it as a replay) or its client or user no longer exists. Of
    /// concurrent calls for one code exactly one returns `true`.
    #[allow(clippy::too_many_arguments)]
    pub async fn redeem_code_into_grant(
        &self,
        code_hash: &str,
        code: &CodeBinding,
        grant: &Grant,
        access: &IssuedAccessToken,
        refresh: Option<&NewRefreshToken>,
        event: &AuditEvent,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.backend.redeem_code_into_grant(code_hash, code, grant, access, refresh, event, now).await
    }

    pub async fn find_grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.backend.find_grant(id).await
    }

    /// The refresh token with this hash and its grant. A spent token is still found, with
    /// `used_at` set, for as long as its grant lives: presenting it again is reuse.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(StoredRefreshToken, Grant)>, StoreError> {
        self.backend.find_refresh_token(token_hash).await
    }

    /// Spends `old_hash` and records its successor, a new access token and the audit `event` of
    /// the rotation, atomically: one commit, and no rotation without its event. Returns `false`
    /// (and records nothing) if the old token was already spent (a concurrent refresh won): the
    /// caller treats that as reuse. Of two concurrent rotations of one token exactly one returns
    /// `true`.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        grant_id: &str,
        next: &NewRefreshToken,
        access: &IssuedAccessToken,
        event: &AuditEvent,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.backend.rotate_refresh_token(old_hash, grant_id, next, access, event, now).await
    }

    /// Revokes a grant and so every token under it: each lookup of one of its refresh or access
    /// tokens returns the grant revoked. Idempotent; the first revocation's time and reason stay.
    pub async fn revoke_grant(&self, grant_id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        self.backend.revoke_grant(grant_id, reason, now).await
    }

    /// The access token recorded under `jti`, and its grant.
    pub async fn find_access_token(
        &self,
        jti: &str,
    ) -> Result<Option<(IssuedAccessToken, Grant)>, StoreError> {
        self.backend.find_access_token(jti).await
    }

    /// Revokes one access token, and ends (expires now) the approval requests asked on it, or on
    /// a token exchanged from it (at any depth, recorded still), that are still pending or
    /// approved but not collected. Idempotent.
    ///
    /// Why the approvals too: collecting an approval checks that its subject token was not
    /// revoked, but that token's record is swept at its `exp` (minutes), while an approval may
    /// wait for the person for up to half an hour. Without this, a request asked on a revoked
    /// token became collectable again once the record was gone.
    pub async fn revoke_access_token(&self, jti: &str, now: i64) -> Result<(), StoreError> {
        self.backend.revoke_access_token(jti, now).await
    }

    /// Records an access token issued outside a code redemption or a rotation: by token exchange
    /// or after an approval, under the grant of the token it was exchanged from.
    pub async fn record_access_token(&self, token: &IssuedAccessToken) -> Result<(), StoreError> {
        self.backend.record_access_token(token).await
    }
}

/// Remembered consents.
impl Store {
    /// Remembers what the user allowed the client for the resource, adding these scopes to any
    /// allowed before, and records `event` (the person's decision), in one transaction (two
    /// concurrent consents both count). Returns the consent as now stored.
    pub async fn save_consent(&self, consent: &Consent, event: &AuditEvent) -> Result<Consent, StoreError> {
        self.backend.save_consent(consent, event).await
    }

    pub async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<Consent>, StoreError> {
        self.backend.find_consent(user_id, client_id, resource).await
    }

    /// The user's consents, newest first.
    pub async fn consents_of_user(&self, user_id: &str) -> Result<Vec<Consent>, StoreError> {
        self.backend.consents_of_user(user_id).await
    }

    /// Forgets the consent and revokes every live grant the user gave that client, in one
    /// transaction: withdrawing consent must stop the client, not only the next consent page.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str, now: i64) -> Result<bool, StoreError> {
        self.backend.revoke_consent(user_id, client_id, now).await
    }
}

/// Out-of-band approvals.
impl Store {
    pub async fn insert_approval(&self, request: &ApprovalRequest) -> Result<(), StoreError> {
        self.backend.insert_approval(request).await
    }

    /// The request with this public id, whatever its state.
    pub async fn find_approval(&self, id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
        self.backend.find_approval(id).await
    }

    /// The user's requests still waiting for an answer, oldest first.
    pub async fn pending_approvals_of_user(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        self.backend.pending_approvals_of_user(user_id, now).await
    }

    /// Stores `request` (pending), unless a request of its client for its user asks the same and
    /// waits (pending, or approved by the person and not collected, unexpired:
    /// [`ApprovalRequest::opening_among`]), which is given instead, or `max_pending` requests of the
    /// client wait for the user already. One step, so that two replicas of a client asking for
    /// the same call at once make one request: SQLite's one writer runs it alone, PostgreSQL
    /// under an advisory lock per user and client.
    pub async fn open_approval(
        &self,
        request: &ApprovalRequest,
        max_pending: i64,
        now: i64,
    ) -> Result<Opening, StoreError> {
        self.backend.open_approval(request, max_pending, now).await
    }

    /// How many of the client's requests wait for the user's answer (unexpired, pending).
    pub async fn count_pending_approvals(
        &self,
        user_id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        self.backend.count_pending_approvals(user_id, client_id, now).await
    }

    /// Records the user's answer to a pending, unexpired request of theirs, and the standing
    /// approval the decision carries, in one transaction. A request is decided exactly once: of
    /// two concurrent decisions one is [`Decided::Recorded`], the other [`Decided::Gone`]. Another
    /// user's request is [`Decided::NotYours`] and stays as it was.
    pub async fn decide_approval(
        &self,
        id: &str,
        user_id: &str,
        decision: &ApprovalDecision,
        now: i64,
    ) -> Result<Decided, StoreError> {
        self.backend.decide_approval(id, user_id, decision, now).await
    }

    /// A poll of the client's request with this handle. Records the poll unless it came sooner
    /// than `spacing` seconds (the configured interval) after the previous one; then the
    /// interval the client is told grows by 5 s ([`Poll::TooSoon`]). Judged by the configured
    /// interval, not the grown one: replicas of one client (a gateway's) polling one request each
    /// get `slow_down` now and then, and must not push each other's next poll out for good.
    /// Another client's handle is [`Poll::Unknown`].
    pub async fn poll_approval(
        &self,
        auth_req_hash: &str,
        client_id: &str,
        spacing: i64,
        now: i64,
    ) -> Result<Poll, StoreError> {
        self.backend.poll_approval(auth_req_hash, client_id, spacing, now).await
    }

    /// Marks an approved request's token as collected, in one statement: returns `true` exactly
    /// once per approved request, so its token is issued once.
    pub async fn collect_approval(&self, id: &str) -> Result<bool, StoreError> {
        self.backend.collect_approval(id).await
    }

    /// Withdraws the client's request with this handle while it is pending or approved and not
    /// collected, in one statement (the client no longer wants it: the person declined at the
    /// client). `withdrawn` is final: no answer or poll revives it. Returns the request, or `None`
    /// when there was nothing to withdraw (another client's handle, or a request already over).
    pub async fn withdraw_approval(
        &self,
        auth_req_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<ApprovalRequest>, StoreError> {
        self.backend.withdraw_approval(auth_req_hash, client_id, now).await
    }

    /// An unexpired standing approval covering the call, if the user left one for this client.
    pub async fn find_standing_approval(
        &self,
        key: StandingKey<'_>,
        now: i64,
    ) -> Result<Option<StandingApproval>, StoreError> {
        self.backend.find_standing_approval(key, now).await
    }

    /// The user's unexpired standing approvals, newest first.
    pub async fn standing_approvals_of_user(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<StandingApproval>, StoreError> {
        self.backend.standing_approvals_of_user(user_id, now).await
    }

    /// Withdraws the user's standing approval `id`; another user's is left alone (`false`).
    pub async fn withdraw_standing_approval(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        self.backend.withdraw_standing_approval(id, user_id).await
    }
}

/// The purpose under which the secret that seals authorization codes is stored.
pub const CODE_SEALING: &str = "authorization codes";

/// Signing keys and secrets.
impl Store {
    /// All keys, the most recently added first. The key ring signs with the first key that is
    /// active and published, so once a rotation's key is active it is the one that signs, whatever
    /// clocks the rotating processes had.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.backend.signing_keys().await
    }

    /// Stores the first signing key unless a key exists; returns whether it was stored. Atomic, so
    /// two servers starting on a fresh database end up with one key between them.
    pub async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        self.backend.insert_first_signing_key(key).await
    }

    /// Adds `next` and schedules every key still current to retire at `retire_at`, in one
    /// transaction that excludes other rotations: after any number of concurrent rotations exactly
    /// one key is current (unretired), and it is the last one added.
    pub async fn rotate_signing_key(&self, next: &StoredKey, retire_at: i64) -> Result<(), StoreError> {
        self.backend.rotate_signing_key(next, retire_at).await
    }

    /// The secret stored for `purpose` (today only [`CODE_SEALING`]), storing `candidate` first if
    /// there is none: of replicas starting together, the first to store one wins and every one
    /// gets that one.
    pub async fn sealing_secret(
        &self,
        purpose: &str,
        candidate: &[u8],
        now: i64,
    ) -> Result<Vec<u8>, StoreError> {
        self.backend.sealing_secret(purpose, candidate, now).await
    }
}

/// The audit trail.
impl Store {
    pub async fn record_audit(&self, event: &AuditEvent, now: i64) -> Result<(), StoreError> {
        self.backend.record_audit(event, now).await
    }

    /// Failed logins after `since` for a username key, and the oldest of them.
    pub async fn failed_logins_for_username(
        &self,
        username_key: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        self.backend.failed_logins_for_username(username_key, since).await
    }

    /// Failed logins after `since` from an address, and the oldest of them.
    pub async fn failed_logins_from_ip(
        &self,
        ip: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        self.backend.failed_logins_from_ip(ip, since).await
    }

    /// The newest events first.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.backend.audit_events(limit).await
    }
}

/// Removing what has expired.
impl Store {
    /// Deletes at most `rows_per_table` rows from each table of what nothing needs any more, each
    /// table in its own short statement, and returns how many went:
    /// - authorization codes that have expired, unless they are linked to a grant that is still
    ///   live (a replay must still find the code to revoke that grant);
    /// - pending authorization requests and browser sessions that have expired;
    /// - refresh tokens of grants that are revoked or expired, and unused refresh tokens that have
    ///   expired (a spent token stays while its grant lives: presenting it again is reuse);
    /// - access-token records that have expired, an exchanged token's only once its parent's
    ///   record is gone (a later run takes it): revoking a token reaches the tokens exchanged from
    ///   it, and the approval requests asked on them, through these records, and a gateway's
    ///   token (60 s) usually expires long before the user's it came from;
    /// - grants that are revoked or expired once no code, refresh token or access token refers to
    ///   them;
    /// - audit events older than `audit_retention`;
    /// - client assertion `jti`s, approval requests and standing approvals that have expired.
    pub async fn sweep(
        &self,
        now: i64,
        audit_retention: Duration,
        rows_per_table: u32,
    ) -> Result<TableCounts, StoreError> {
        let retention = i64::try_from(audit_retention.as_secs()).unwrap_or(i64::MAX);
        self.backend.sweep(now, now.saturating_sub(retention), rows_per_table).await
    }

    /// How many rows each table holds: for operators watching the sweep, and for tests.
    pub async fn row_counts(&self) -> Result<TableCounts, StoreError> {
        self.backend.row_counts().await
    }
}

#[cfg(test)]
mod tests {
    use super::display_url;

    #[test]
    fn a_password_in_a_database_url_is_never_shown() {
        assert_eq!(display_url("postgres://app:s3cret@db:5432/mcp"), "postgres://app:***@db:5432/mcp");
        assert_eq!(display_url("sqlite://mcp-auth.db"), "sqlite://mcp-auth.db");
        assert_eq!(display_url("sqlite::memory:"), "sqlite::memory:");
        assert!(!display_url("not a url:s3cret@db").contains("s3cret"));
    }
}
