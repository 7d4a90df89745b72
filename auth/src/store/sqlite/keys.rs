//! The `signing_keys` table.

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
                 FROM signing_keys ORDER BY activates_at DESC, created_at DESC, rowid DESC",
            )
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn insert_signing_key<'a>(&'a self, key: &'a StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key_der)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activates_at)
            .bind(key.retires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn rotate_signing_key<'a>(&'a self, next: &'a StoredKey, retire_at: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retires_at = ? WHERE retires_at IS NULL")
                .bind(retire_at)
                .execute(&mut *tx)
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
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
