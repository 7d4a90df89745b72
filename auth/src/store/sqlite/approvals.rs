//! The `approval_requests` and `standing_approvals` tables.
//!
//! Every change of state is one conditional statement (`UPDATE … WHERE status = 'pending'`), so a
//! request is decided once and its token collected once, however many browsers or pollers race.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use crate::model::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, Decided, Opening, Poll, StandingApproval,
};
use crate::store::{ApprovalStore, StandingKey, StoreFuture};

/// OpenID CIBA §11: each `slow_down` adds this many seconds to the interval.
const SLOW_DOWN_STEP: i64 = 5;

const REQUEST_COLUMNS: &str =
    "id, auth_req_hash, client_id, user_id, grant_id, subject_claims, resource, scope, tool,
     arguments_sha256, arguments_summary, binding_message, status, poll_interval, last_polled_at,
     created_at, expires_at, decided_at, always_ask, approval_max_age";

const STANDING_COLUMNS: &str =
    "id, user_id, client_id, subject_client_id, resource, tool, arguments_sha256, created_at, expires_at";

impl FromRow<'_, SqliteRow> for ApprovalRequest {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

impl FromRow<'_, SqliteRow> for StandingApproval {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

impl ApprovalStore for SqliteBackend {
    fn insert_approval<'a>(&'a self, request: &'a ApprovalRequest) -> StoreFuture<'a, ()> {
        let request = request.clone();
        self.writer.write(move |c| Box::pin(async move { insert(c, &request).await }))
    }

    fn open_approval<'a>(
        &'a self,
        request: &'a ApprovalRequest,
        max_pending: i64,
        now: i64,
    ) -> StoreFuture<'a, Opening> {
        let request = request.clone();
        // The one writer runs this job alone: no other request is stored between the look and
        // the insert.
        self.writer.write(move |c| {
            Box::pin(async move {
                let live: Vec<ApprovalRequest> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM approval_requests
                     WHERE user_id = ? AND client_id = ? AND status IN ('pending', 'approved')
                       AND expires_at > ?
                     ORDER BY created_at DESC, id"
                ))
                .bind(&request.user_id)
                .bind(&request.client_id)
                .bind(now)
                .fetch_all(&mut *c)
                .await?;
                if let Some(not_stored) = request.opening_among(live, max_pending) {
                    return Ok(not_stored);
                }
                insert(c, &request).await?;
                Ok(Opening::Inserted)
            })
        })
    }

    fn find_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApprovalRequest>> {
        Box::pin(async move {
            Ok(sqlx::query_as(&format!("SELECT {REQUEST_COLUMNS} FROM approval_requests WHERE id = ?"))
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
                 WHERE user_id = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at, id"
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
                 WHERE user_id = ? AND client_id = ? AND status = 'pending' AND expires_at > ?",
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
        let (id, user_id, decision) = (id.to_owned(), user_id.to_owned(), decision.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                let status = match decision {
                    ApprovalDecision::Approve { .. } => ApprovalStatus::Approved,
                    ApprovalDecision::Deny => ApprovalStatus::Denied,
                };
                let decided: Option<ApprovalRequest> = sqlx::query_as(&format!(
                    "UPDATE approval_requests SET status = ?, decided_at = ?
                     WHERE id = ? AND user_id = ? AND status = 'pending' AND expires_at > ?
                     RETURNING {REQUEST_COLUMNS}"
                ))
                .bind(status.as_str())
                .bind(now)
                .bind(&id)
                .bind(&user_id)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?;
                let Some(decided) = decided else {
                    let owner: Option<(String,)> =
                        sqlx::query_as("SELECT user_id FROM approval_requests WHERE id = ?")
                            .bind(&id)
                            .fetch_optional(&mut *c)
                            .await?;
                    return Ok(match owner {
                        Some((owner,)) if owner != user_id => Decided::NotYours,
                        _ => Decided::Gone,
                    });
                };
                if let ApprovalDecision::Approve { remember: Some(standing) } = &decision {
                    sqlx::query(&format!(
                        "INSERT INTO standing_approvals ({STANDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
                    .execute(&mut *c)
                    .await?;
                }
                Ok(Decided::Recorded(Box::new(decided)))
            })
        })
    }

    fn poll_approval<'a>(
        &'a self,
        auth_req_hash: &'a str,
        client_id: &'a str,
        spacing: i64,
        now: i64,
    ) -> StoreFuture<'a, Poll> {
        let (auth_req_hash, client_id) = (auth_req_hash.to_owned(), client_id.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                let polled: Option<ApprovalRequest> = sqlx::query_as(&format!(
                    "UPDATE approval_requests SET last_polled_at = ?
                 WHERE auth_req_hash = ? AND client_id = ?
                   AND (last_polled_at IS NULL OR last_polled_at + ? <= ?)
                 RETURNING {REQUEST_COLUMNS}"
                ))
                .bind(now)
                .bind(&auth_req_hash)
                .bind(&client_id)
                .bind(spacing)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(request) = polled {
                    return Ok(Poll::Polled(Box::new(request)));
                }
                let slowed: Option<(i64,)> = sqlx::query_as(
                    "UPDATE approval_requests SET poll_interval = poll_interval + ?, last_polled_at = ?
                 WHERE auth_req_hash = ? AND client_id = ? RETURNING poll_interval",
                )
                .bind(SLOW_DOWN_STEP)
                .bind(now)
                .bind(&auth_req_hash)
                .bind(&client_id)
                .fetch_optional(&mut *c)
                .await?;
                Ok(match slowed {
                    Some((interval,)) => Poll::TooSoon { interval },
                    None => Poll::Unknown,
                })
            })
        })
    }

    fn collect_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query(
                    "UPDATE approval_requests SET status = 'issued' WHERE id = ? AND status = 'approved'",
                )
                .bind(id)
                .execute(&mut *c)
                .await?;
                Ok(result.rows_affected() == 1)
            })
        })
    }

    fn withdraw_approval<'a>(
        &'a self,
        auth_req_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<ApprovalRequest>> {
        let (auth_req_hash, client_id) = (auth_req_hash.to_owned(), client_id.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                let withdrawn: Option<ApprovalRequest> = sqlx::query_as(&format!(
                    "UPDATE approval_requests SET status = 'withdrawn', decided_at = ?
                     WHERE auth_req_hash = ? AND client_id = ?
                       AND status IN ('pending', 'approved') AND expires_at > ?
                     RETURNING {REQUEST_COLUMNS}"
                ))
                .bind(now)
                .bind(&auth_req_hash)
                .bind(&client_id)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?;
                Ok(withdrawn)
            })
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
                 WHERE user_id = ? AND client_id = ? AND subject_client_id = ? AND resource = ?
                   AND tool = ? AND (arguments_sha256 IS NULL OR arguments_sha256 = ?)
                   AND expires_at > ? AND created_at >= ?
                 ORDER BY expires_at DESC LIMIT 1"
            ))
            .bind(key.user_id)
            .bind(key.client_id)
            .bind(key.subject_client_id)
            .bind(key.resource)
            .bind(key.tool)
            .bind(key.arguments_sha256)
            .bind(now)
            .bind(key.approved_since)
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
                 WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, id"
            ))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn withdraw_standing_approval<'a>(&'a self, id: &'a str, user_id: &'a str) -> StoreFuture<'a, bool> {
        let (id, user_id) = (id.to_owned(), user_id.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query("DELETE FROM standing_approvals WHERE id = ? AND user_id = ?")
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *c)
                    .await?;
                Ok(result.rows_affected() == 1)
            })
        })
    }
}

/// Stores `request` on the writer's connection.
async fn insert(
    c: &mut sqlx::SqliteConnection,
    request: &ApprovalRequest,
) -> Result<(), crate::store::StoreError> {
    sqlx::query(&format!(
        "INSERT INTO approval_requests ({REQUEST_COLUMNS})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
    .execute(&mut *c)
    .await?;
    Ok(())
}
