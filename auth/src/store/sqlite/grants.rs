//! The `grants`, `refresh_tokens` and `access_tokens` tables.
//!
//! Revoking a grant is one UPDATE of its row; every token lookup returns the token's grant, so
//! callers see the revocation for every token under it.

use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, FromRow, Row, Sqlite};

use super::audit::{INSERT_EVENT, bind_event};
use super::codes::record_spent;
use super::{SqliteBackend, SqliteQuery};
use crate::model::{AuditEvent, CodeBinding, Grant, IssuedAccessToken, NewRefreshToken, StoredRefreshToken};
use crate::store::{GrantStore, StoreError, StoreFuture};

/// The common table expression `lineage(jti, depth)`: the access token bound first and every
/// token exchanged from it, down to the longest actor chain (bound second, the token again, and
/// third, [`LINEAGE_DEPTH`]). Exchanged tokens hang under their subject's grant, so only that
/// grant's tokens are searched (its index), not the whole table.
const LINEAGE: &str = "lineage(jti, depth) AS (
        SELECT ?, 0
        UNION ALL
        SELECT t.jti, lineage.depth + 1 FROM lineage JOIN access_tokens t ON t.parent_jti = lineage.jti
        WHERE t.grant_id = (SELECT grant_id FROM access_tokens WHERE jti = ?) AND lineage.depth < ?
    )";
/// How many exchanges deep a token's descendants go: one per actor of the longest chain.
const LINEAGE_DEPTH: i64 = protocol::jwt::validation::MAX_ACTOR_DEPTH as i64;

impl FromRow<'_, SqliteRow> for Grant {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

impl FromRow<'_, SqliteRow> for IssuedAccessToken {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

impl FromRow<'_, SqliteRow> for StoredRefreshToken {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

impl<'r, T: FromRow<'r, SqliteRow>> FromRow<'r, SqliteRow> for WithGrant<T> {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
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

const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens (jti, grant_id, scope, issued_at, expires_at, parent_jti) VALUES (?, ?, ?, ?, ?, ?)";

fn bind_access_token<'q>(query: SqliteQuery<'q>, token: &'q IssuedAccessToken) -> SqliteQuery<'q> {
    query
        .bind(&token.jti)
        .bind(&token.grant_id)
        .bind(&token.scope)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(&token.parent_jti)
}

async fn insert_access_token<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    token: &IssuedAccessToken,
) -> Result<(), StoreError> {
    bind_access_token(sqlx::query(INSERT_ACCESS_TOKEN), token).execute(executor).await?;
    Ok(())
}

const INSERT_GRANT: &str =
    "INSERT INTO grants (id, client_id, user_id, scope, resource, auth_time, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

fn bind_grant<'q>(query: SqliteQuery<'q>, grant: &'q Grant, now: i64) -> SqliteQuery<'q> {
    query
        .bind(&grant.id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(&grant.scope)
        .bind(&grant.resource)
        .bind(grant.auth_time)
        .bind(now)
        .bind(grant.expires_at)
}

const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES (?, ?, ?, ?)";

fn bind_refresh_token<'q>(
    query: SqliteQuery<'q>,
    grant_id: &'q str,
    token: &'q NewRefreshToken,
    now: i64,
) -> SqliteQuery<'q> {
    query.bind(&token.token_hash).bind(grant_id).bind(now).bind(token.expires_at)
}

/// Binds the values of what a new grant starts with, in this order: its first access token
/// ([`INSERT_ACCESS_TOKEN`]), its refresh token if any ([`INSERT_REFRESH_TOKEN`]), and the event
/// of their issue ([`INSERT_EVENT`]).
fn bind_first_tokens<'q>(
    query: SqliteQuery<'q>,
    grant_id: &'q str,
    access: &'q IssuedAccessToken,
    refresh: Option<&'q NewRefreshToken>,
    event: &'q AuditEvent,
    now: i64,
) -> SqliteQuery<'q> {
    let query = bind_access_token(query, access);
    let query = match refresh {
        Some(refresh) => bind_refresh_token(query, grant_id, refresh, now),
        None => query,
    };
    bind_event(query, event, now)
}

/// Links a code to the grant it became, so that a replay finds the grant to revoke.
const LINK_CODE: &str = "UPDATE authorization_codes SET grant_id = ? WHERE code_hash = ?";

impl GrantStore for SqliteBackend {
    /// One job: the code is spent first, and nothing else is written unless that spent it (jobs
    /// run one at a time, so no other redemption comes between).
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
        let (code_hash, code, grant, access, refresh, event) = (
            code_hash.to_owned(),
            code.clone(),
            grant.clone(),
            access.clone(),
            refresh.cloned(),
            event.clone(),
        );
        self.writer.write(move |c| {
            Box::pin(async move {
                if !record_spent(&mut *c, &code_hash, &code, now).await? {
                    return Ok(false);
                }
                // The grant, the code linked to it (after the grant exists: SQLite checks the
                // foreign key at once) and its first tokens, in one round trip.
                let sql = match refresh {
                    Some(_) => statements!(
                        INSERT_GRANT,
                        LINK_CODE,
                        INSERT_ACCESS_TOKEN,
                        INSERT_REFRESH_TOKEN,
                        INSERT_EVENT
                    ),
                    None => statements!(INSERT_GRANT, LINK_CODE, INSERT_ACCESS_TOKEN, INSERT_EVENT),
                };
                let query = bind_grant(sqlx::query(sql), &grant, now).bind(&grant.id).bind(&code_hash);
                bind_first_tokens(query, &grant.id, &access, refresh.as_ref(), &event, now)
                    .execute(&mut *c)
                    .await?;
                Ok(true)
            })
        })
    }

    fn find_grant<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Grant>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, Grant>(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?"))
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
                 FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.token_hash = ?"
            ))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(|WithGrant(token, grant)| (token, grant)))
        })
    }

    fn rotate_refresh_token<'a>(
        &'a self,
        old_hash: &'a str,
        grant_id: &'a str,
        next: &'a NewRefreshToken,
        access: &'a IssuedAccessToken,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, bool> {
        let (old_hash, grant_id, next, access, event) =
            (old_hash.to_owned(), grant_id.to_owned(), next.clone(), access.clone(), event.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                let spent = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
                )
                .bind(now)
                .bind(&old_hash)
                .execute(&mut *c)
                .await?;
                if spent.rows_affected() != 1 {
                    return Ok(false);
                }
                // The successor, the access token and the event, in one round trip.
                let sql = statements!(INSERT_REFRESH_TOKEN, INSERT_ACCESS_TOKEN, INSERT_EVENT);
                let query = bind_refresh_token(sqlx::query(sql), &grant_id, &next, now);
                bind_event(bind_access_token(query, &access), &event, now).execute(&mut *c).await?;
                Ok(true)
            })
        })
    }

    fn revoke_grant<'a>(&'a self, grant_id: &'a str, reason: &'a str, now: i64) -> StoreFuture<'a, ()> {
        let (grant_id, reason) = (grant_id.to_owned(), reason.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(reason)
                .bind(grant_id)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
    }

    fn find_access_token<'a>(&'a self, jti: &'a str) -> StoreFuture<'a, Option<(IssuedAccessToken, Grant)>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, WithGrant<IssuedAccessToken>>(&format!(
                "SELECT t.jti, t.grant_id, t.scope, t.issued_at, t.expires_at, t.revoked_at, t.parent_jti, {GRANT_AS}
                 FROM access_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.jti = ?"
            ))
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?
            .map(|WithGrant(token, grant)| (token, grant)))
        })
    }

    fn revoke_access_token<'a>(&'a self, jti: &'a str, now: i64) -> StoreFuture<'a, ()> {
        let jti = jti.to_owned();
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query("UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL")
                    .bind(now)
                    .bind(&jti)
                    .execute(&mut *c)
                    .await?;
                // Approvals asked on this token, or on a token exchanged from it, end with it (see
                // the trait's doc).
                sqlx::query(&format!(
                    "WITH RECURSIVE {LINEAGE}
                     UPDATE approval_requests SET expires_at = ?
                     WHERE status IN ('pending', 'approved') AND expires_at > ?
                       AND json_extract(subject_claims, '$.jti') IN (SELECT jti FROM lineage)"
                ))
                .bind(&jti)
                .bind(&jti)
                .bind(LINEAGE_DEPTH)
                .bind(now)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
    }

    fn record_access_token<'a>(&'a self, token: &'a IssuedAccessToken) -> StoreFuture<'a, ()> {
        let token = token.clone();
        self.writer.write(move |c| Box::pin(async move { insert_access_token(&mut *c, &token).await }))
    }
}
