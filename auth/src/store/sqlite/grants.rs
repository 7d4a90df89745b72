//! The `grants`, `refresh_tokens` and `access_tokens` tables.
//!
//! Revoking a grant is one UPDATE of its row; every token lookup returns the token's grant, so
//! callers see the revocation for every token under it.

use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, FromRow, Row, Sqlite, SqliteConnection};

use super::SqliteBackend;
use super::audit::insert_audit_event;
use crate::model::{AuditEvent, Grant, IssuedAccessToken, NewRefreshToken, StoredRefreshToken};
use crate::store::{GrantStore, StoreError, StoreFuture};

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

async fn insert_access_token<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    token: &IssuedAccessToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_tokens (jti, grant_id, scope, issued_at, expires_at, parent_jti) VALUES (?, ?, ?, ?, ?, ?)",
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

async fn insert_grant<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    grant: &Grant,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO grants (id, client_id, user_id, scope, resource, auth_time, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&grant.id)
    .bind(&grant.client_id)
    .bind(&grant.user_id)
    .bind(&grant.scope)
    .bind(&grant.resource)
    .bind(grant.auth_time)
    .bind(now)
    .bind(grant.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

async fn insert_refresh_token<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    grant_id: &str,
    token: &NewRefreshToken,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&token.token_hash)
    .bind(grant_id)
    .bind(now)
    .bind(token.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// What a new grant starts with: its first access token, its refresh token if any, and the event
/// of their issue.
async fn insert_first_tokens(
    c: &mut SqliteConnection,
    grant_id: &str,
    access: &IssuedAccessToken,
    refresh: Option<&NewRefreshToken>,
    event: &AuditEvent,
    now: i64,
) -> Result<(), StoreError> {
    insert_access_token(&mut *c, access).await?;
    if let Some(refresh) = refresh {
        insert_refresh_token(&mut *c, grant_id, refresh, now).await?;
    }
    insert_audit_event(&mut *c, event, now).await?;
    Ok(())
}

impl GrantStore for SqliteBackend {
    fn create_grant<'a>(
        &'a self,
        grant: &'a Grant,
        code_hash: &'a str,
        access: &'a IssuedAccessToken,
        refresh: Option<&'a NewRefreshToken>,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        let (grant, code_hash, access, refresh, event) =
            (grant.clone(), code_hash.to_owned(), access.clone(), refresh.cloned(), event.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                insert_grant(&mut *c, &grant, now).await?;
                // A replay marked on the code before is seen here; one marked after finds the
                // grant to revoke (writes run one at a time, see `writer`).
                let replayed: Option<i64> = sqlx::query_scalar(
                    "UPDATE authorization_codes SET grant_id = ? WHERE code_hash = ? RETURNING replayed_at",
                )
                .bind(&grant.id)
                .bind(&code_hash)
                .fetch_optional(&mut *c)
                .await?
                .flatten();
                if replayed.is_some() {
                    sqlx::query(
                        "UPDATE grants SET revoked_at = ?, revoked_reason = 'authorization code replay' WHERE id = ?",
                    )
                    .bind(now)
                    .bind(&grant.id)
                    .execute(&mut *c)
                    .await?;
                }
                insert_first_tokens(&mut *c, &grant.id, &access, refresh.as_ref(), &event, now).await?;
                Ok(())
            })
        })
    }

    /// One job: the code is spent first, and nothing else is written unless that spent it (jobs
    /// run one at a time, so no other redemption comes between).
    fn redeem_code_into_grant<'a>(
        &'a self,
        code_hash: &'a str,
        grant: &'a Grant,
        access: &'a IssuedAccessToken,
        refresh: Option<&'a NewRefreshToken>,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, bool> {
        let (code_hash, grant, access, refresh, event) =
            (code_hash.to_owned(), grant.clone(), access.clone(), refresh.cloned(), event.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                let spent = sqlx::query(
                    "UPDATE authorization_codes SET redeemed_at = ? WHERE code_hash = ? AND redeemed_at IS NULL",
                )
                .bind(now)
                .bind(&code_hash)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if spent != 1 {
                    return Ok(false);
                }
                insert_grant(&mut *c, &grant, now).await?;
                // Linked after the grant exists (SQLite checks the foreign key at once), so that
                // a replay finds the grant to revoke.
                sqlx::query("UPDATE authorization_codes SET grant_id = ? WHERE code_hash = ?")
                    .bind(&grant.id)
                    .bind(&code_hash)
                    .execute(&mut *c)
                    .await?;
                insert_first_tokens(&mut *c, &grant.id, &access, refresh.as_ref(), &event, now).await?;
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
                insert_refresh_token(&mut *c, &grant_id, &next, now).await?;
                insert_access_token(&mut *c, &access).await?;
                insert_audit_event(&mut *c, &event, now).await?;
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
                    .bind(jti)
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
