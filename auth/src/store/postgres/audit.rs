//! The `audit_events` table, and the counts the login throttle reads from it.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::PostgresBackend;
use crate::model::{AuditEvent, StoredAuditEvent};
use crate::store::{AuditStore, StoreFuture};

impl FromRow<'_, PgRow> for StoredAuditEvent {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(StoredAuditEvent {
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            request_id: row.try_get("request_id")?,
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            grant_id: row.try_get("grant_id")?,
            ip: row.try_get("ip")?,
            detail: row.try_get("detail")?,
        })
    }
}

/// The columns of an audit event after `at`, in this order, for statements that insert one.
pub(super) const EVENT_COLUMNS: &str =
    "kind, request_id, client_id, user_id, grant_id, username_key, ip, detail";

/// Binds `event`'s [`EVENT_COLUMNS`] as the next eight parameters of `query`.
pub(super) fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    event: &'q AuditEvent,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(event.kind.as_str())
        .bind(&event.request_id)
        .bind(&event.client_id)
        .bind(&event.user_id)
        .bind(&event.grant_id)
        .bind(&event.username_key)
        .bind(&event.ip)
        .bind(&event.detail)
}

impl AuditStore for PostgresBackend {
    fn record_audit<'a>(&'a self, event: &'a AuditEvent, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let insert = format!(
                "INSERT INTO audit_events (at, {EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            );
            bind_event(sqlx::query(&insert).bind(now), event).execute(&self.pool).await?;
            Ok(())
        })
    }

    fn failed_logins_for_username<'a>(
        &'a self,
        username_key: &'a str,
        since: i64,
    ) -> StoreFuture<'a, (i64, Option<i64>)> {
        Box::pin(async move {
            Ok(sqlx::query_as(
                "SELECT COUNT(*), MIN(at) FROM audit_events WHERE kind = 'login_failed' AND username_key = $1 AND at > $2",
            )
            .bind(username_key)
            .bind(since)
            .fetch_one(&self.pool)
            .await?)
        })
    }

    fn failed_logins_from_ip<'a>(&'a self, ip: &'a str, since: i64) -> StoreFuture<'a, (i64, Option<i64>)> {
        Box::pin(async move {
            Ok(sqlx::query_as(
                "SELECT COUNT(*), MIN(at) FROM audit_events WHERE kind = 'login_failed' AND ip = $1 AND at > $2",
            )
            .bind(ip)
            .bind(since)
            .fetch_one(&self.pool)
            .await?)
        })
    }

    fn audit_events(&self, limit: i64) -> StoreFuture<'_, Vec<StoredAuditEvent>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, StoredAuditEvent>(
                "SELECT at, kind, request_id, client_id, user_id, grant_id, ip, detail FROM audit_events
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        })
    }
}
