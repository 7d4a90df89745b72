//! The `signing_keys` and `sealing_secrets` tables.
//!
//! Keys are listed in the order they were added, newest first (`rowid` grows with every insert and
//! keys are never deleted). Ordering by activation time instead let a key that a concurrent
//! rotation had already retired sort first and sign until its retirement, when its last tokens were
//! still valid: two rotations whose clocks differ by a second were enough.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use crate::model::StoredKey;
use crate::store::{KeyStore, StoreFuture};

impl FromRow<'_, SqliteRow> for StoredKey {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(StoredKey {
            kid: row.try_get("kid")?,
            algorithm: row.try_get("algorithm")?,
            private_key_der: row.try_get("private_key_der")?,
            public_jwk: row.try_get("public_jwk")?,
            created_at: row.try_get("created_at")?,
            activates_at: row.try_get("activates_at")?,
            retires_at: row.try_get("retires_at")?,
        })
    }
}

impl KeyStore for SqliteBackend {
    fn signing_keys(&self) -> StoreFuture<'_, Vec<StoredKey>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, StoredKey>(
                "SELECT kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at
                 FROM signing_keys ORDER BY rowid DESC",
            )
            .fetch_all(&self.pool)
            .await?)
        })
    }

    /// One statement: the check for an existing key and the insert cannot be split by another.
    fn insert_first_signing_key<'a>(&'a self, key: &'a StoredKey) -> StoreFuture<'a, bool> {
        let key = key.clone();
        self.writer.write(move |c| {
            Box::pin(async move {
                let inserted = sqlx::query(
                    "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at)
                     SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
                )
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.private_key_der)
                .bind(&key.public_jwk)
                .bind(key.created_at)
                .bind(key.activates_at)
                .bind(key.retires_at)
                .execute(&mut *c)
                .await?;
                Ok(inserted.rows_affected() == 1)
            })
        })
    }

    /// Under the write lock from the start (`BEGIN IMMEDIATE`): a concurrent rotation waits, then
    /// retires the key this one added.
    fn rotate_signing_key<'a>(&'a self, next: &'a StoredKey, retire_at: i64) -> StoreFuture<'a, ()> {
        let next = next.clone();
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query("UPDATE signing_keys SET retires_at = ? WHERE retires_at IS NULL")
                    .bind(retire_at)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at)
                     VALUES (?, ?, ?, ?, ?, ?, NULL)",
                )
                .bind(&next.kid)
                .bind(&next.algorithm)
                .bind(&next.private_key_der)
                .bind(&next.public_jwk)
                .bind(next.created_at)
                .bind(next.activates_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
    }

    /// One job: the insert (if there is no secret yet) and the read back cannot be split.
    fn sealing_secret<'a>(
        &'a self,
        purpose: &'a str,
        candidate: &'a [u8],
        now: i64,
    ) -> StoreFuture<'a, Vec<u8>> {
        let (purpose, candidate) = (purpose.to_owned(), candidate.to_vec());
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO sealing_secrets (purpose, secret, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .bind(&purpose)
                    .bind(&candidate)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                Ok(sqlx::query_scalar("SELECT secret FROM sealing_secrets WHERE purpose = ?")
                    .bind(&purpose)
                    .fetch_one(&mut *c)
                    .await?)
            })
        })
    }
}
