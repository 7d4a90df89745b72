//! The `signing_keys` and `sealing_secrets` tables.
//!
//! Keys are listed in the order they were added, newest first (`seq` is an identity column and keys
//! are never deleted). Ordering by activation time instead let a key that a concurrent rotation had
//! already retired sort first and sign until its retirement, when its last tokens were still valid:
//! two rotations whose clocks differ by a second were enough.
//!
//! Adding the first key and rotating both read the set of keys before they write, so both hold the
//! advisory lock on the set: replicas starting together on a new database end up with one key, and
//! concurrent rotations leave exactly one key current.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::{LockKey, PostgresBackend};
use crate::model::StoredKey;
use crate::store::{KeyStore, StoreFuture};

impl FromRow<'_, PgRow> for StoredKey {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
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

impl KeyStore for PostgresBackend {
    fn signing_keys(&self) -> StoreFuture<'_, Vec<StoredKey>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, StoredKey>(
                "SELECT kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at
                 FROM signing_keys ORDER BY seq DESC",
            )
            .fetch_all(&self.pool)
            .await?)
        })
    }

    /// Under the lock on the key set: at READ COMMITTED, `WHERE NOT EXISTS` alone would let two
    /// starting servers both see an empty table and both insert.
    fn insert_first_signing_key<'a>(&'a self, key: &'a StoredKey) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.begin_locked(LockKey::SigningKeys).await?;
            let inserted = sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key_der)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activates_at)
            .bind(key.retires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(inserted.rows_affected() == 1)
        })
    }

    /// Under the lock on the key set: a concurrent rotation waits, then retires the key this one
    /// added.
    fn rotate_signing_key<'a>(&'a self, next: &'a StoredKey, retire_at: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin_locked(LockKey::SigningKeys).await?;
            sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE retires_at IS NULL")
                .bind(retire_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            )
            .bind(&next.kid)
            .bind(&next.algorithm)
            .bind(&next.private_key_der)
            .bind(&next.public_jwk)
            .bind(next.created_at)
            .bind(next.activates_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Two statements, each its own commit: the insert waits for a concurrent one of the same
    /// purpose and then does nothing, and the read after it (a new snapshot under READ
    /// COMMITTED) sees whichever was stored first.
    fn sealing_secret<'a>(
        &'a self,
        purpose: &'a str,
        candidate: &'a [u8],
        now: i64,
    ) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO sealing_secrets (purpose, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(purpose)
            .bind(candidate)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(sqlx::query_scalar("SELECT secret FROM sealing_secrets WHERE purpose = $1")
                .bind(purpose)
                .fetch_one(&self.pool)
                .await?)
        })
    }
}
