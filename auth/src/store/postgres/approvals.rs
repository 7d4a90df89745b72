//! The `approval_requests` and `standing_approvals` tables.
//!
//! Every change of state is one conditional statement (`UPDATE … WHERE status = 'pending'`), so a
//! request is decided once and its token collected once, however many browsers or pollers race.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::{LockKey, PostgresBackend};
use crate::model::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, Decided, Opening, Poll, StandingApproval,
};
use crate::store::{ApprovalStore, StandingKey, StoreError, StoreFuture};

/// OpenID CIBA §11: each `slow_down` adds this many seconds to the interval.
const SLOW_DOWN_STEP: i64 = 5;

const REQUEST_COLUMNS: &str =
    "id, auth_req_hash, client_id, user_id, grant_id, subject_claims, resource, scope, tool,
     arguments_sha256, arguments_summary, binding_message, status, poll_interval, last_polled_at,
     created_at, expires_at, decided_at, always_ask, approval_max_age";

const STANDING_COLUMNS: &str =
    "id, user_id, client_id, subject_client_id, resource, tool, arguments_sha256, created_at, expires_at";

impl FromRow<'_, PgRow> for ApprovalRequest {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        let status: String = row.try_get("status")?;
        Ok(ApprovalRequest {
            id: row.try_get("id")?,
            auth_req_hash: row.try_get("auth_req_hash")?,
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            grant_id: row.try_get("grant_id")?,
            subject: {
                let claims: String = row.try_get("subject_claims")?;
                serde_json::from_str(&claims).map_err(|e| sqlx::Error::ColumnDecode {
                    index: "subject_claims".into(),
                    source: Box::new(e),
                })?
            },
            resource: row.try_get("resource")?,
            scope: row.try_get("scope")?,
            tool: row.try_get("tool")?,
            arguments_sha256: row.try_get("arguments_sha256")?,
            arguments_summary: row.try_get("arguments_summary")?,
            binding_message: row.try_get("binding_message")?,
            status: ApprovalStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "status".into(),
                source: format!("unknown approval status {status:?}").into(),
            })?,
            poll_interval: row.try_get("poll_interval")?,
            last_polled_at: row.try_get("last_polled_at")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            decided_at: row.try_get("decided_at")?,
            always_ask: row.try_get("always_ask")?,
            approval_max_age: row.try_get("approval_max_age")?,
        })
    }
}

impl FromRow<'_, PgRow> for StandingApproval {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(StandingApproval {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            client_id: row.try_get("client_id")?,
            subject_client_id: row.try_get("subject_client_id")?,
            resource: row.try_get("resource")?,
            tool: row.try_get("tool")?,
            arguments_sha256: row.try_get("arguments_sha256")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

impl ApprovalStore for PostgresBackend {
    fn insert_approval<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            insert(&mut *self.pool.acquire().await?, request).await?;
            Ok(())
        })
    }

    fn open_approval<'a>(
        &'a self,
        request: &'a ApprovalRequest,
        max_pending: i64,
        now: i64,
    ) -> StoreFuture<'a, Opening> {
        Box::pin(async move {
            // Replicas asking for this client and user take turns here, each seeing what the one
            // before stored.
            let mut tx = self.begin_locked(LockKey::Approvals(&request.user_id, &request.client_id)).await?;
            let live: Vec<ApprovalRequest> = sqlx::query_as(&format!(
                "SELECT {REQUEST_COLUMNS} FROM approval_requests
                 WHERE user_id = $1 AND client_id = $2 AND status IN ('pending', 'approved')
                   AND expires_at > $3
                 ORDER BY created_at DESC, id"
            ))
            .bind(&request.user_id)
            .bind(&request.client_id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            if let Some(not_stored) = request.opening_among(live, max_pending) {
                tx.rollback().await?;
                return Ok(not_stored);
            }
            insert(&mut tx, request).await?;
            tx.commit().await?;
            Ok(Opening::Inserted)
        })
    }

    fn find_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApprovalRequest>> {
        Box::pin(async move {
            Ok(sqlx::query_as(&format!("SELECT {REQUEST_COLUMNS} FROM approval_requests WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn pending_approvals_of_user<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Vec<ApprovalRequest>> {
        Box::pin(async move {
            Ok(sqlx::query_as(&format!(
                "SELECT {REQUEST_COLUMNS} FROM approval_requests
                 WHERE user_id = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at, id"
            ))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn count_pending_approvals<'a>(
        &'a self,
        user_id: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM approval_requests
                 WHERE user_id = $1 AND client_id = $2 AND status = 'pending' AND expires_at > $3",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
            Ok(count)
        })
    }

    fn decide_approval<'a>(
        &'a self,
        id: &'a str,
        user_id: &'a str,
        decision: &'a ApprovalDecision,
        now: i64,
    ) -> StoreFuture<'a, Decided> {
        Box::pin(async move {
            let status = match decision {
                ApprovalDecision::Approve { .. } => ApprovalStatus::Approved,
                ApprovalDecision::Deny => ApprovalStatus::Denied,
            };
            let mut tx = self.pool.begin().await?;
            let decided: Option<ApprovalRequest> = sqlx::query_as(&format!(
                "UPDATE approval_requests SET status = $1, decided_at = $2
                 WHERE id = $3 AND user_id = $4 AND status = 'pending' AND expires_at > $5
                 RETURNING {REQUEST_COLUMNS}"
            ))
            .bind(status.as_str())
            .bind(now)
            .bind(id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(decided) = decided else {
                tx.rollback().await?;
                let owner: Option<(String,)> =
                    sqlx::query_as("SELECT user_id FROM approval_requests WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                return Ok(match owner {
                    Some((owner,)) if owner != user_id => Decided::NotYours,
                    _ => Decided::Gone,
                });
            };
            if let ApprovalDecision::Approve { remember: Some(standing) } = decision {
                sqlx::query(&format!(
                    "INSERT INTO standing_approvals ({STANDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(&standing.id)
                .bind(&standing.user_id)
                .bind(&standing.client_id)
                .bind(&standing.subject_client_id)
                .bind(&standing.resource)
                .bind(&standing.tool)
                .bind(&standing.arguments_sha256)
                .bind(standing.created_at)
                .bind(standing.expires_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Decided::Recorded(Box::new(decided)))
        })
    }

    fn poll_approval<'a>(
        &'a self,
        auth_req_hash: &'a str,
        client_id: &'a str,
        spacing: i64,
        now: i64,
    ) -> StoreFuture<'a, Poll> {
        Box::pin(async move {
            let polled: Option<ApprovalRequest> = sqlx::query_as(&format!(
                "UPDATE approval_requests SET last_polled_at = $1
                 WHERE auth_req_hash = $2 AND client_id = $3
                   AND (last_polled_at IS NULL OR last_polled_at + $4 <= $1)
                 RETURNING {REQUEST_COLUMNS}"
            ))
            .bind(now)
            .bind(auth_req_hash)
            .bind(client_id)
            .bind(spacing)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(request) = polled {
                return Ok(Poll::Polled(Box::new(request)));
            }
            let slowed: Option<(i64,)> = sqlx::query_as(
                "UPDATE approval_requests SET poll_interval = poll_interval + $1, last_polled_at = $2
                 WHERE auth_req_hash = $3 AND client_id = $4 RETURNING poll_interval",
            )
            .bind(SLOW_DOWN_STEP)
            .bind(now)
            .bind(auth_req_hash)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(match slowed {
                Some((interval,)) => Poll::TooSoon { interval },
                None => Poll::Unknown,
            })
        })
    }

    fn collect_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let result = sqlx::query(
                "UPDATE approval_requests SET status = 'issued' WHERE id = $1 AND status = 'approved'",
            )
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    fn withdraw_approval<'a>(
        &'a self,
        auth_req_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<ApprovalRequest>> {
        Box::pin(async move {
            let withdrawn: Option<ApprovalRequest> = sqlx::query_as(&format!(
                "UPDATE approval_requests SET status = 'withdrawn', decided_at = $1
                 WHERE auth_req_hash = $2 AND client_id = $3
                   AND status IN ('pending', 'approved') AND expires_at > $1
                 RETURNING {REQUEST_COLUMNS}"
            ))
            .bind(now)
            .bind(auth_req_hash)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(withdrawn)
        })
    }

    fn find_standing_approval<'a>(
        &'a self,
        key: StandingKey<'a>,
        now: i64,
    ) -> StoreFuture<'a, Option<StandingApproval>> {
        Box::pin(async move {
            Ok(sqlx::query_as(&format!(
                "SELECT {STANDING_COLUMNS} FROM standing_approvals
                 WHERE user_id = $1 AND client_id = $2 AND subject_client_id = $8 AND resource = $3
                   AND tool = $4 AND (arguments_sha256 IS NULL OR arguments_sha256 = $5)
                   AND expires_at > $6 AND created_at >= $7
                 ORDER BY expires_at DESC LIMIT 1"
            ))
            .bind(key.user_id)
            .bind(key.client_id)
            .bind(key.resource)
            .bind(key.tool)
            .bind(key.arguments_sha256)
            .bind(now)
            .bind(key.approved_since)
            .bind(key.subject_client_id)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn standing_approvals_of_user<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Vec<StandingApproval>> {
        Box::pin(async move {
            Ok(sqlx::query_as(&format!(
                "SELECT {STANDING_COLUMNS} FROM standing_approvals
                 WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id"
            ))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn withdraw_standing_approval<'a>(&'a self, id: &'a str, user_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let result = sqlx::query("DELETE FROM standing_approvals WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }
}

/// Stores `request` on `connection` (the pool's, or a transaction's).
async fn insert(connection: &mut sqlx::PgConnection, request: &ApprovalRequest) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO approval_requests ({REQUEST_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    ))
    .bind(&request.id)
    .bind(&request.auth_req_hash)
    .bind(&request.client_id)
    .bind(&request.user_id)
    .bind(&request.grant_id)
    .bind(crate::store::to_json(&request.subject)?)
    .bind(&request.resource)
    .bind(&request.scope)
    .bind(&request.tool)
    .bind(&request.arguments_sha256)
    .bind(&request.arguments_summary)
    .bind(&request.binding_message)
    .bind(request.status.as_str())
    .bind(request.poll_interval)
    .bind(request.last_polled_at)
    .bind(request.created_at)
    .bind(request.expires_at)
    .bind(request.decided_at)
    .bind(request.always_ask)
    .bind(request.approval_max_age)
    .execute(connection)
    .await?;
    Ok(())
}
