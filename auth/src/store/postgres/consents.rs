//! The `consents` table.

use protocol::scope::Scopes;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::audit::{EVENT_COLUMNS, bind_event};
use super::{LockKey, PostgresBackend};
use crate::model::{AuditEvent, Consent};
use crate::store::{ConsentStore, StoreError, StoreFuture};

impl FromRow<'_, PgRow> for Consent {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(Consent {
            user_id: row.try_get("user_id")?,
            client_id: row.try_get("client_id")?,
            resource: row.try_get("resource")?,
            scope: row.try_get("scope")?,
            granted_at: row.try_get("granted_at")?,
        })
    }
}

impl ConsentStore for PostgresBackend {
    /// Read, merge and write under the advisory lock on this consent: a row lock (`FOR UPDATE`)
    /// would lock nothing the first time, when two concurrent consents both find no row and the
    /// second would overwrite the first's scopes.
    fn save_consent<'a>(&'a self, consent: &'a Consent, event: &'a AuditEvent) -> StoreFuture<'a, Consent> {
        Box::pin(async move {
            let adding = Scopes::parse(&consent.scope).map_err(|e| StoreError::Invalid(e.to_string()))?;
            let mut tx = self
                .begin_locked(LockKey::Consent(&consent.user_id, &consent.client_id, &consent.resource))
                .await?;
            let previous: Option<(String,)> = sqlx::query_as(
                "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 AND resource = $3",
            )
            .bind(&consent.user_id)
            .bind(&consent.client_id)
            .bind(&consent.resource)
            .fetch_optional(&mut *tx)
            .await?;
            // A stored scope that no longer parses is forgotten rather than kept: the user has just
            // said what they allow.
            let previous = previous.and_then(|(scope,)| Scopes::parse(&scope).ok()).unwrap_or_default();
            let merged = Consent { scope: adding.union(&previous).to_string(), ..consent.clone() };
            sqlx::query(
                "INSERT INTO consents (user_id, client_id, resource, scope, granted_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
            )
            .bind(&merged.user_id)
            .bind(&merged.client_id)
            .bind(&merged.resource)
            .bind(&merged.scope)
            .bind(merged.granted_at)
            .execute(&mut *tx)
            .await?;
            let insert_event = format!(
                "INSERT INTO audit_events (at, {EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            );
            bind_event(sqlx::query(&insert_event).bind(merged.granted_at), event).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(merged)
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
                 WHERE user_id = $1 AND client_id = $2 AND resource = $3",
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
                "SELECT user_id, client_id, resource, scope, granted_at FROM consents WHERE user_id = $1 ORDER BY granted_at DESC",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn revoke_consent<'a>(&'a self, user_id: &'a str, client_id: &'a str, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let removed = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE grants SET revoked_at = $1, revoked_reason = 'consent withdrawn'
                 WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL",
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
