//! The demo's per-user notes, in SQLite: tools that read, change and delete something, so that
//! scopes (and a gateway's policies) decide something real.
//!
//! Every operation is scoped to the owner, the token's `sub`: a user can neither see nor change
//! another user's notes, whoever's client or gateway asks, and an id that is someone else's reads
//! exactly like one that does not exist. Notes are added or deleted, never edited, so that adding
//! is additive and deleting is the one destructive act (what a gateway's policy tells apart). Each
//! note records who wrote it: the client and, for a token obtained by exchange, the actors between
//! (RFC 8693 `act`).

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{FromRow, SqlitePool};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY: usize = 10_000;
/// Most notes one user may keep: a bound on what one token can make the server store.
pub const MAX_NOTES_PER_USER: i64 = 1_000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Note {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Who wrote it: the client, then each actor that passed the call on (a gateway), separated
    /// by " via ".
    pub updated_by: String,
}

/// A note in a listing: no body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct NoteSummary {
    pub id: i64,
    pub title: String,
    pub updated_at: i64,
}

/// The notes database.
#[derive(Debug, Clone)]
pub struct Notes {
    pool: SqlitePool,
}

impl Notes {
    /// Opens (creating if needed) and migrates the database at `url` (`sqlite://file.db` or
    /// `sqlite::memory:`).
    pub async fn open(url: &str) -> Result<Self, NotesError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if in_memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives as long as its one connection.
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Folds the write-ahead log into the file and closes: called once the server has stopped.
    pub async fn close(&self) {
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
            tracing::warn!(%error, "could not checkpoint the notes database at shutdown");
        }
        self.pool.close().await;
    }

    /// The owner's notes, oldest first.
    pub async fn list(&self, owner: &str) -> Result<Vec<NoteSummary>, NotesError> {
        Ok(sqlx::query_as("SELECT id, title, updated_at FROM notes WHERE owner = ? ORDER BY id")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The owner's note `id`, if it is theirs.
    pub async fn read(&self, owner: &str, id: i64) -> Result<Option<Note>, NotesError> {
        Ok(sqlx::query_as(
            "SELECT id, title, body, created_at, updated_at, updated_by FROM notes WHERE owner = ? AND id = ?",
        )
        .bind(owner)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Adds a note for the owner, unless they keep [`MAX_NOTES_PER_USER`] already (`None`). The
    /// limit is checked in the same statement as the insert, so concurrent adds cannot pass it
    /// together.
    pub async fn add(
        &self,
        owner: &str,
        title: &str,
        body: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<Note>, NotesError> {
        Ok(sqlx::query_as(
            "INSERT INTO notes (owner, title, body, created_at, updated_at, updated_by)
             SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM notes WHERE owner = ?) < ?
             RETURNING id, title, body, created_at, updated_at, updated_by",
        )
        .bind(owner)
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(now)
        .bind(by)
        .bind(owner)
        .bind(MAX_NOTES_PER_USER)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Deletes the owner's note `id`; `false` if they have no such note.
    pub async fn delete(&self, owner: &str, id: i64) -> Result<bool, NotesError> {
        let result = sqlx::query("DELETE FROM notes WHERE owner = ? AND id = ?")
            .bind(owner)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_belong_to_their_owner_and_record_who_wrote_them() {
        let notes = Notes::open("sqlite::memory:").await.unwrap();
        let first = notes.add("alice", "Groceries", "milk", "agent via gateway", 10).await.unwrap().unwrap();
        let second = notes.add("alice", "Todo", "write tests", "spa", 11).await.unwrap().unwrap();
        let ids: Vec<i64> = notes.list("alice").await.unwrap().iter().map(|n| n.id).collect();
        assert_eq!(ids, [first.id, second.id]);
        assert_eq!((first.created_at, first.updated_by.as_str()), (10, "agent via gateway"));
        assert!(notes.list("bob").await.unwrap().is_empty());
        assert_eq!(notes.read("bob", first.id).await.unwrap(), None, "another user's note reads as missing");
        assert!(!notes.delete("bob", first.id).await.unwrap());
        assert_eq!(notes.read("alice", first.id).await.unwrap(), Some(first.clone()));
        assert!(notes.delete("alice", first.id).await.unwrap());
        assert!(!notes.delete("alice", first.id).await.unwrap());
        assert_eq!(notes.list("alice").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_user_keeps_at_most_the_limit_of_notes() {
        let notes = Notes::open("sqlite::memory:").await.unwrap();
        for i in 0..MAX_NOTES_PER_USER {
            notes.add("alice", &format!("n{i}"), "", "spa", i).await.unwrap().unwrap();
        }
        assert_eq!(notes.add("alice", "one more", "", "spa", 0).await.unwrap(), None);
        assert!(notes.add("bob", "bob's first", "", "spa", 0).await.unwrap().is_some(), "per user");
    }
}
