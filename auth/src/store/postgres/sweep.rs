//! Deleting what has expired, a bounded batch per table.
//!
//! PostgreSQL has no `DELETE … LIMIT`, so each statement deletes the keys that a limited `SELECT`
//! picks (`$1` is the time, `$2` the bound). Each table is one statement outside any transaction,
//! so a sweep holds row locks for one batch, never for the whole run. Replicas sweeping at the
//! same time may pick the same rows; the second delete of a row deletes nothing.

use super::PostgresBackend;
use crate::store::{StoreError, StoreFuture, SweepStore, TableCounts};

/// A grant nothing may use any more (alias `g`; `$1` is now).
const DEAD_GRANT: &str = "(g.revoked_at IS NOT NULL OR g.expires_at <= $1)";

impl PostgresBackend {
    /// Runs one bounded `DELETE`, binding the time as `$1` and the bound as `$2`.
    async fn delete_batch(&self, sql: &str, at: i64, limit: u32) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql).bind(at).bind(i64::from(limit)).execute(&self.pool).await?.rows_affected())
    }
}

impl SweepStore for PostgresBackend {
    fn sweep(&self, now: i64, audit_before: i64, rows_per_table: u32) -> StoreFuture<'_, TableCounts> {
        Box::pin(async move {
            let limit = rows_per_table;
            // Tokens and codes before grants, so a grant they kept can go in the same run. An
            // exchanged token's record stays while its parent's does (see `SweepStore::sweep`).
            let access_tokens = self
                .delete_batch(
                    "DELETE FROM access_tokens WHERE jti IN
                     (SELECT t.jti FROM access_tokens t WHERE t.expires_at <= $1
                      AND (t.parent_jti IS NULL
                           OR NOT EXISTS (SELECT 1 FROM access_tokens p WHERE p.jti = t.parent_jti))
                      LIMIT $2)",
                    now,
                    limit,
                )
                .await?;
            let refresh_tokens = self
                .delete_batch(
                    &format!(
                        "DELETE FROM refresh_tokens WHERE token_hash IN
                         (SELECT t.token_hash FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
                          WHERE {DEAD_GRANT} OR (t.used_at IS NULL AND t.expires_at <= $1) LIMIT $2)"
                    ),
                    now,
                    limit,
                )
                .await?;
            let authorization_codes = self
                .delete_batch(
                    &format!(
                        "DELETE FROM authorization_codes WHERE code_hash IN
                         (SELECT c.code_hash FROM authorization_codes c LEFT JOIN grants g ON g.id = c.grant_id
                          WHERE c.expires_at <= $1 AND (g.id IS NULL OR {DEAD_GRANT}) LIMIT $2)"
                    ),
                    now,
                    limit,
                )
                .await?;
            let grants = self
                .delete_batch(
                    &format!(
                        "DELETE FROM grants WHERE id IN
                         (SELECT g.id FROM grants g WHERE {DEAD_GRANT}
                          AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.grant_id = g.id)
                          AND NOT EXISTS (SELECT 1 FROM access_tokens t WHERE t.grant_id = g.id)
                          AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id)
                          LIMIT $2)"
                    ),
                    now,
                    limit,
                )
                .await?;
            let authorization_requests = self
                .delete_batch(
                    "DELETE FROM authorization_requests WHERE id IN
                     (SELECT id FROM authorization_requests WHERE expires_at <= $1 LIMIT $2)",
                    now,
                    limit,
                )
                .await?;
            let browser_sessions = self
                .delete_batch(
                    "DELETE FROM browser_sessions WHERE id_hash IN
                     (SELECT id_hash FROM browser_sessions WHERE expires_at <= $1 LIMIT $2)",
                    now,
                    limit,
                )
                .await?;
            let audit_events = self
                .delete_batch(
                    "DELETE FROM audit_events WHERE id IN
                     (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)",
                    audit_before,
                    limit,
                )
                .await?;
            let client_assertions = self
                .delete_batch(
                    "DELETE FROM client_assertions WHERE (client_id, jti) IN
                     (SELECT client_id, jti FROM client_assertions WHERE expires_at <= $1 LIMIT $2)",
                    now,
                    limit,
                )
                .await?;
            let approval_requests = self
                .delete_batch(
                    "DELETE FROM approval_requests WHERE id IN
                     (SELECT id FROM approval_requests WHERE expires_at <= $1 LIMIT $2)",
                    now,
                    limit,
                )
                .await?;
            let standing_approvals = self
                .delete_batch(
                    "DELETE FROM standing_approvals WHERE id IN
                     (SELECT id FROM standing_approvals WHERE expires_at <= $1 LIMIT $2)",
                    now,
                    limit,
                )
                .await?;
            Ok(TableCounts {
                authorization_codes,
                authorization_requests,
                browser_sessions,
                refresh_tokens,
                access_tokens,
                grants,
                audit_events,
                client_assertions,
                approval_requests,
                standing_approvals,
            })
        })
    }

    fn row_counts(&self) -> StoreFuture<'_, TableCounts> {
        Box::pin(async move {
            #[allow(clippy::type_complexity)]
            let (codes, requests, sessions, refresh, access, grants, audit, assertions, approvals, standing): (
                i64,
                i64,
                i64,
                i64,
                i64,
                i64,
                i64,
                i64,
                i64,
                i64,
            ) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM authorization_codes), (SELECT COUNT(*) FROM authorization_requests),
                        (SELECT COUNT(*) FROM browser_sessions), (SELECT COUNT(*) FROM refresh_tokens),
                        (SELECT COUNT(*) FROM access_tokens), (SELECT COUNT(*) FROM grants),
                        (SELECT COUNT(*) FROM audit_events), (SELECT COUNT(*) FROM client_assertions),
                        (SELECT COUNT(*) FROM approval_requests), (SELECT COUNT(*) FROM standing_approvals)",
            )
            .fetch_one(&self.pool)
            .await?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok(TableCounts {
                authorization_codes: count(codes),
                authorization_requests: count(requests),
                browser_sessions: count(sessions),
                refresh_tokens: count(refresh),
                access_tokens: count(access),
                grants: count(grants),
                audit_events: count(audit),
                client_assertions: count(assertions),
                approval_requests: count(approvals),
                standing_approvals: count(standing),
            })
        })
    }
}
