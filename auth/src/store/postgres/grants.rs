//! The `grants`, `refresh_tokens` and `access_tokens` tables.
//!
//! Revoking a grant is one UPDATE of its row; every token lookup returns the token's grant, so
//! callers see the revocation for every token under it.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Executor, FromRow, Postgres, Row};

use super::PostgresBackend;
use super::audit::{EVENT_COLUMNS, bind_event};
use super::codes::{SPENT_COLUMNS, bind_spent, spent_values};
use crate::model::{AuditEvent, CodeBinding, Grant, IssuedAccessToken, NewRefreshToken, StoredRefreshToken};
use crate::store::{GrantStore, StoreError, StoreFuture};

/// How many exchanges deep a token's descendants go: one per actor of the longest chain.
const LINEAGE_DEPTH: i32 = protocol::jwt::validation::MAX_ACTOR_DEPTH as i32;

impl FromRow<'_, PgRow> for Grant {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(Grant {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            scope: row.try_get("scope")?,
            resource: row.try_get("resource")?,
            auth_time: row.try_get("auth_time")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

impl FromRow<'_, PgRow> for IssuedAccessToken {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(IssuedAccessToken {
            jti: row.try_get("jti")?,
            grant_id: row.try_get("grant_id")?,
            scope: row.try_get("scope")?,
            issued_at: row.try_get("issued_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            parent_jti: row.try_get("parent_jti")?,
        })
    }
}

impl FromRow<'_, PgRow> for StoredRefreshToken {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(StoredRefreshToken {
            grant_id: row.try_get("grant_id")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        })
    }
}

const GRANT_COLUMNS: &str = "id, client_id, user_id, scope, resource, auth_time, expires_at, revoked_at";

/// The grant's columns in a join with a token table (`g`), renamed so they cannot clash with the
/// token's own `expires_at` and `revoked_at`.
const GRANT_AS: &str = "g.id AS g_id, g.client_id AS g_client_id, g.user_id AS g_user_id, g.scope AS g_scope,
     g.resource AS g_resource, g.auth_time AS g_auth_time, g.expires_at AS g_expires_at,
     g.revoked_at AS g_revoked_at";

/// A token row joined with its grant's row.
struct WithGrant<T>(T, Grant);

impl<'r, T: FromRow<'r, PgRow>> FromRow<'r, PgRow> for WithGrant<T> {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let grant = Grant {
            id: row.try_get("g_id")?,
            client_id: row.try_get("g_client_id")?,
            user_id: row.try_get("g_user_id")?,
            scope: row.try_get("g_scope")?,
            resource: row.try_get("g_resource")?,
            auth_time: row.try_get("g_auth_time")?,
            expires_at: row.try_get("g_expires_at")?,
            revoked_at: row.try_get("g_revoked_at")?,
        };
        Ok(WithGrant(T::from_row(row)?, grant))
    }
}

async fn insert_access_token<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    token: &IssuedAccessToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_tokens (jti, grant_id, scope, issued_at, expires_at, parent_jti) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.jti)
    .bind(&token.grant_id)
    .bind(&token.scope)
    .bind(token.issued_at)
    .bind(token.expires_at)
    .bind(&token.parent_jti)
    .execute(executor)
    .await?;
    Ok(())
}

/// The parameters of the statement that redeems a code into a grant: $1–$8 the grant (`now`, its
/// creation time, as $7), $9–$14 the access token, $15–$22 the audit event, $23–$32 the spent
/// code ([`bind_spent`]), and $33–$34 the refresh token if there is one.
#[allow(clippy::too_many_arguments)]
fn bind_new_grant<'q>(
    query: &'q str,
    code_hash: &'q str,
    code: &'q CodeBinding,
    grant: &'q Grant,
    access: &'q IssuedAccessToken,
    refresh: Option<&'q NewRefreshToken>,
    event: &'q AuditEvent,
    now: i64,
) -> Query<'q, Postgres, PgArguments> {
    let statement = sqlx::query(query)
        .bind(&grant.id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(&grant.scope)
        .bind(&grant.resource)
        .bind(grant.auth_time)
        .bind(now)
        .bind(grant.expires_at)
        .bind(&access.jti)
        .bind(&access.grant_id)
        .bind(&access.scope)
        .bind(access.issued_at)
        .bind(access.expires_at)
        .bind(&access.parent_jti);
    let statement = bind_spent(bind_event(statement, event), code_hash, code, now);
    match refresh {
        Some(refresh) => statement.bind(&refresh.token_hash).bind(refresh.expires_at),
        None => statement,
    }
}

impl GrantStore for PostgresBackend {
    /// One statement: the code is spent by an `INSERT … ON CONFLICT DO NOTHING` of its row,
    /// linked to the grant, and the other inserts select from what it returned, so they happen
    /// only if it spent the code. A concurrent redemption's insert waits for this one to commit,
    /// then writes nothing; a replay after it finds the grant to revoke. The foreign keys between
    /// the parts are checked at the statement's end.
    fn redeem_code_into_grant<'a>(
        &'a self,
        code_hash: &'a str,
        code: &'a CodeBinding,
        grant: &'a Grant,
        access: &'a IssuedAccessToken,
        refresh: Option<&'a NewRefreshToken>,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let refresh_insert = if refresh.is_some() {
                ", refresh AS (INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at)
                               SELECT $33, $1, $7, $34 FROM code)"
            } else {
                ""
            };
            let query = format!(
                "WITH code AS (
                     INSERT INTO authorization_codes ({SPENT_COLUMNS}, grant_id)
                     SELECT spent.*, $1 FROM ({}) AS spent
                     ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash),
                 new_grant AS (
                     INSERT INTO grants (id, client_id, user_id, scope, resource, auth_time, created_at, expires_at)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM code),
                 access AS (
                     INSERT INTO access_tokens (jti, grant_id, scope, issued_at, expires_at, parent_jti)
                     SELECT $9, $10, $11, $12, $13, $14 FROM code),
                 audit AS (
                     INSERT INTO audit_events (at, {EVENT_COLUMNS})
                     SELECT $7, $15, $16, $17, $18, $19, $20, $21, $22 FROM code){refresh_insert}
                 SELECT COUNT(*) FROM code",
                spent_values(23)
            );
            let statement = bind_new_grant(&query, code_hash, code, grant, access, refresh, event, now);
            let spent: i64 = statement.fetch_one(&self.pool).await?.try_get(0)?;
            Ok(spent == 1)
        })
    }

    fn find_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, Grant>(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    /// One statement, so a sweep between two reads cannot leave a token without its grant.
    fn find_refresh_token<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> StoreFuture<'a, Option<(StoredRefreshToken, Grant)>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, WithGrant<StoredRefreshToken>>(&format!(
                "SELECT t.grant_id, t.expires_at, t.used_at, {GRANT_AS}
                 FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.token_hash = $1"
            ))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(|WithGrant(token, grant)| (token, grant)))
        })
    }

    /// One statement: the old token is spent by an `UPDATE … WHERE used_at IS NULL`, and the
    /// three inserts (successor, access token, audit event) select from what it returned, so they
    /// happen only if it spent the token. A concurrent rotation waits for the row lock, finds the
    /// token spent and inserts nothing.
    fn rotate_refresh_token<'a>(
        &'a self,
        old_hash: &'a str,
        grant_id: &'a str,
        next: &'a NewRefreshToken,
        access: &'a IssuedAccessToken,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let query = format!(
                "WITH spent AS (
                     UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL
                     RETURNING token_hash),
                 next AS (
                     INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at)
                     SELECT $3, $4, $1, $5 FROM spent),
                 access AS (
                     INSERT INTO access_tokens (jti, grant_id, scope, issued_at, expires_at, parent_jti)
                     SELECT $6, $7, $8, $9, $10, $11 FROM spent),
                 audit AS (
                     INSERT INTO audit_events (at, {EVENT_COLUMNS})
                     SELECT $1, $12, $13, $14, $15, $16, $17, $18, $19 FROM spent)
                 SELECT COUNT(*) FROM spent"
            );
            let statement = sqlx::query(&query)
                .bind(now)
                .bind(old_hash)
                .bind(&next.token_hash)
                .bind(grant_id)
                .bind(next.expires_at)
                .bind(&access.jti)
                .bind(&access.grant_id)
                .bind(&access.scope)
                .bind(access.issued_at)
                .bind(access.expires_at)
                .bind(&access.parent_jti);
            let spent: i64 = bind_event(statement, event).fetch_one(&self.pool).await?.try_get(0)?;
            Ok(spent == 1)
        })
    }

    fn revoke_grant<'a>(&'a self, grant_id: &'a str, reason: &'a str, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(reason)
            .bind(grant_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn find_access_token<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, Option<(IssuedAccessToken, Grant)>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, WithGrant<IssuedAccessToken>>(&format!(
                "SELECT t.jti, t.grant_id, t.scope, t.issued_at, t.expires_at, t.revoked_at, t.parent_jti, {GRANT_AS}
                 FROM access_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.jti = $1"
            ))
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?
            .map(|WithGrant(token, grant)| (token, grant)))
        })
    }

    fn revoke_access_token<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // One statement, so both happen or neither: approvals asked on this token, or on a
            // token exchanged from it, end with it (see the trait's doc). Exchanged tokens hang
            // under their subject's grant, so only that grant's tokens are searched (its index).
            sqlx::query(
                "WITH RECURSIVE revoked AS (
                     UPDATE access_tokens SET revoked_at = $1 WHERE jti = $2 AND revoked_at IS NULL
                 ), lineage(jti, depth) AS (
                     SELECT $2::text, 0
                     UNION ALL
                     SELECT t.jti, lineage.depth + 1
                     FROM lineage JOIN access_tokens t ON t.parent_jti = lineage.jti
                     WHERE t.grant_id = (SELECT grant_id FROM access_tokens WHERE jti = $2)
                       AND lineage.depth < $3
                 )
                 UPDATE approval_requests SET expires_at = $1
                 WHERE status IN ('pending', 'approved') AND expires_at > $1
                   AND (subject_claims::jsonb ->> 'jti') IN (SELECT jti FROM lineage)",
            )
            .bind(now)
            .bind(jti)
            .bind(LINEAGE_DEPTH)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn record_access_token<'a>(&'a self, token: &'a IssuedAccessToken) -> StoreFuture<'a, ()> {
        Box::pin(async move { insert_access_token(&self.pool, token).await })
    }
}
