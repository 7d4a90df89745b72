//! The `consents` table.

use protocol::scope::Scopes;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use super::audit::{INSERT_EVENT, bind_event};
use crate::model::{AuditEvent, Consent};
use crate::store::{ConsentStore, StoreError, StoreFuture};

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
    /// Read, merge and write under the write lock (`BEGIN IMMEDIATE`), so a concurrent consent
    /// cannot slip in between and be overwritten.
    fn save_consent<'a>(&'a self, consent: &'a Consent, event: &'a AuditEvent) -> StoreFuture<'a, Consent> {
        let (consent, event) = (consent.clone(), event.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                let adding = Scopes::parse(&consent.scope).map_err(|e| StoreError::Invalid(e.to_string()))?;
                let previous: Option<(String,)> = sqlx::query_as(
                    "SELECT scope FROM consents WHERE user_id = ? AND client_id = ? AND resource = ?",
                )
                .bind(&consent.user_id)
                .bind(&consent.client_id)
                .bind(&consent.resource)
                .fetch_optional(&mut *c)
                .await?;
                // A stored scope that no longer parses is forgotten rather than kept: the user has
                // just said what they allow.
                let previous = previous.and_then(|(scope,)| Scopes::parse(&scope).ok()).unwrap_or_default();
                let merged = Consent { scope: adding.union(&previous).to_string(), ..consent.clone() };
                sqlx::query(
                    "INSERT INTO consents (user_id, client_id, resource, scope, granted_at) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT(user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                )
                .bind(&merged.user_id)
                .bind(&merged.client_id)
                .bind(&merged.resource)
                .bind(&merged.scope)
                .bind(merged.granted_at)
                .execute(&mut *c)
                .await?;
                bind_event(sqlx::query(INSERT_EVENT), &event, merged.granted_at).execute(&mut *c).await?;
                Ok(merged)
            })
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
        let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                let removed = sqlx::query("DELETE FROM consents WHERE user_id = ? AND client_id = ?")
                    .bind(&user_id)
                    .bind(&client_id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                sqlx::query(
                    "UPDATE grants SET revoked_at = ?, revoked_reason = 'consent withdrawn'
                 WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&user_id)
                .bind(&client_id)
                .execute(&mut *c)
                .await?;
                Ok(removed > 0)
            })
        })
    }
}
