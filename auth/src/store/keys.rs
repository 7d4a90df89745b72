//! Token signing keys. Generated once and kept, so tokens survive a restart of the server.

use super::{Store, StoreError};

#[derive(Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER. Leaves the store only to build the signer.
    pub private_key_der: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    /// Signs from this time on; published from creation.
    pub activates_at: i64,
    /// Unpublished from this time on; `None` while it is the current key.
    pub retires_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish()
    }
}

impl Store {
    /// All keys, newest first: the first signs, all are published.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(sqlx::query_as::<_, StoredKey>(
            "SELECT kid, algorithm, private_key_der, public_jwk, created_at, activates_at, retires_at
             FROM signing_keys ORDER BY activates_at DESC, created_at DESC, rowid DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
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
    }

    /// Adds `next` and schedules every key still current to retire at `retire_at`, atomically.
    pub async fn rotate_signing_key(&self, next: &StoredKey, retire_at: i64) -> Result<(), StoreError> {
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
    }
}
