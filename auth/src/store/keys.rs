//! Token signing keys. Generated once and kept, so tokens survive a restart of the server.

use super::{Store, StoreError};

#[derive(Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER. Leaves the store only to build the signer.
    pub private_key_der: Vec<u8>,
    pub public_jwk: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey").field("kid", &self.kid).field("algorithm", &self.algorithm).finish()
    }
}

impl Store {
    /// All keys, newest first: the first signs, all are published.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(sqlx::query_as::<_, StoredKey>(
            "SELECT kid, algorithm, private_key_der, public_jwk FROM signing_keys ORDER BY created_at DESC, rowid DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_signing_key(&self, key: &StoredKey, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key_der, public_jwk, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.private_key_der)
        .bind(&key.public_jwk)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
