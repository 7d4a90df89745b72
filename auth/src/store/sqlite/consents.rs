//! The `consents` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use crate::model::Consent;
use crate::store::{ConsentStore, StoreFuture};

impl FromRow<'_, SqliteRow> for Consent {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(Consent {
            user_id: row.try_get("user_id")?,
            client_id: row.try_get("client_id")?,
            resource: row.try_get("resource")?,
            scope: row.try_get("scope")?,
            granted_at: row.try_get("granted_at")?,
        })
    }
}

impl ConsentStore for SqliteBackend {
    fn save_consent<'a>(&'a self, consent: &'a Consent) -> StoreFuture<'a, ()> {
        Box::pin(async move {
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
        })
    }

    fn find_consent<'a>(
        &'a self,
        user_id: &'a str,
        client_id: &'a str,
        resource: &'a str,
    ) -> StoreFuture<'a, Option<Consent>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, Consent>(
                "SELECT user_id, client_id, resource, scope, granted_at FROM consents
                 WHERE user_id = ? AND client_id = ? AND resource = ?",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(resource)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn consents_of_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<Consent>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, Consent>(
                "SELECT user_id, client_id, resource, scope, granted_at FROM consents WHERE user_id = ? ORDER BY granted_at DESC",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn revoke_consent<'a>(&'a self, user_id: &'a str, client_id: &'a str, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
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
        })
    }
}
