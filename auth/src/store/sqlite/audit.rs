//! The `audit_events` table, and the counts the login throttle reads from it.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::{SqliteBackend, SqliteQuery};
use crate::model::{AuditEvent, StoredAuditEvent};
use crate::store::{AuditStore, StoreFuture};

impl FromRow<'_, SqliteRow> for StoredAuditEvent {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

/// The statement that writes an audit event; [`bind_event`] binds its values.
pub(super) const INSERT_EVENT: &str =
    "INSERT INTO audit_events (at, kind, request_id, client_id, user_id, grant_id, username_key, ip, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Binds [`INSERT_EVENT`]'s values, in its order, after whatever `query` has bound already.
pub(super) fn bind_event<'q>(query: SqliteQuery<'q>, event: &'q AuditEvent, now: i64) -> SqliteQuery<'q> {
    query
        .bind(now)
        .bind(event.kind.as_str())
        .bind(&event.request_id)
        .bind(&event.client_id)
        .bind(&event.user_id)
        .bind(&event.grant_id)
        .bind(&event.username_key)
        .bind(&event.ip)
        .bind(&event.detail)
}

/// Writes `event`, on its own or inside another write's transaction.
pub(super) async fn insert_audit_event<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    event: &AuditEvent,
    now: i64,
) -> Result<(), sqlx::Error> {
    bind_event(sqlx::query(INSERT_EVENT), event, now).execute(executor).await?;
    Ok(())
}

impl AuditStore for SqliteBackend {
    fn record_audit<'a>(&'a self, event: &'a AuditEvent, now: i64) -> StoreFuture<'a, ()> {
        let event = event.clone();
        self.writer
            .write(move |c| Box::pin(async move { Ok(insert_audit_event(&mut *c, &event, now).await?) }))
    }

    fn failed_logins_for_username<'a>(
        &'a self,
        username_key: &'a str,
        since: i64,
    ) -> StoreFuture<'a, (i64, Option<i64>)> {
        Box::pin(async move {
            Ok(sqlx::query_as(
                "SELECT COUNT(*), MIN(at) FROM audit_events WHERE kind = 'login_failed' AND username_key = ? AND at > ?",
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
                "SELECT COUNT(*), MIN(at) FROM audit_events WHERE kind = 'login_failed' AND ip = ? AND at > ?",
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
                 ORDER BY id DESC LIMIT ?",
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        })
    }
}
