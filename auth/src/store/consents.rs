//! Remembered consents.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Consent {
    pub user_id: String,
    pub client_id: String,
    pub resource: String,
    pub scope: String,
    pub granted_at: i64,
}

impl Store {
    /// Remembers (or widens) what the user allowed the client for the resource.
    pub async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, resource, scope, granted_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(&consent.user_id)
        .bind(&consent.client_id)
        .bind(&consent.resource)
        .bind(&consent.scope)
        .bind(consent.granted_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> Result<Option<Consent>, StoreError> {
        Ok(sqlx::query_as::<_, Consent>(
            "SELECT user_id, client_id, resource, scope, granted_at FROM consents
             WHERE user_id = ? AND client_id = ? AND resource = ?",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn consents_of_user(&self, user_id: &str) -> Result<Vec<Consent>, StoreError> {
        Ok(sqlx::query_as::<_, Consent>(
            "SELECT user_id, client_id, resource, scope, granted_at FROM consents WHERE user_id = ? ORDER BY granted_at DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Forgets the consent and revokes every live grant the user gave that client: withdrawing
    /// consent must stop the client, not only the next consent page.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM consents WHERE user_id = ? AND client_id = ?")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE grants SET revoked_at = ?, revoked_reason = 'consent withdrawn'
             WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }
}
