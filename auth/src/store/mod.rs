//! The authorization server's state in SQLite, via sqlx.
//!
//! Handlers see only the methods on [`Store`], never SQL: the store is where a PostgreSQL backend
//! plugs in later without a handler changing. Each submodule owns one table and its invariants.
//! Single-use values (codes, pending requests) are consumed with one atomic statement
//! (`UPDATE … RETURNING` / `DELETE … RETURNING`), so two concurrent redemptions cannot both win.

mod audit;
mod clients;
mod codes;
mod consents;
mod grants;
mod keys;
mod requests;
mod sessions;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

pub use audit::{AuditEvent, AuditKind, StoredAuditEvent};
pub use clients::{Client, Registration};
pub use codes::{CodeGrant, NewCode, Redemption};
pub use consents::Consent;
pub use grants::{Grant, IssuedAccessToken, NewRefreshToken, StoredRefreshToken};
pub use keys::StoredKey;
pub use requests::PendingAuthorization;
pub use sessions::BrowserSession;
pub use users::User;

/// A storage failure. Handlers turn it into `server_error` without showing the details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            // WAL lets readers proceed while one writer commits; the busy timeout makes a second
            // writer wait for the lock instead of failing with "database is locked".
            .journal_mode(if in_memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives as long as its one connection: never close or add one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
            .max_lifetime(if in_memory { None } else { Some(Duration::from_secs(3600)) })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Folds the write-ahead log into the database file and closes every connection: called once
    /// the server has stopped, so what it leaves on disk is one complete file. Waits for
    /// connections still in use to be returned. Failures are logged, not returned: SQLite replays
    /// a leftover WAL at the next start, so nothing is lost either way.
    pub async fn close(&self) {
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
            tracing::warn!(%error, "could not checkpoint the write-ahead log at shutdown");
        }
        self.pool.close().await;
    }
}
