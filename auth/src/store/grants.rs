//! Grants and the tokens issued under them.
//!
//! A grant is born when an authorization code is redeemed and dies when it expires or is revoked.
//! Refresh tokens rotate within it (each used once); access tokens are recorded by `jti` so that
//! introspection and revocation can find them. Revoking a grant is one UPDATE, and every check of
//! a token looks at its grant, so nothing issued under a revoked grant keeps working.

use sqlx::{Executor, Sqlite};

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub resource: String,
    pub auth_time: i64,
    /// Absolute end of the grant: no refresh token outlives it.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Grant {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// An access token as recorded at issue.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IssuedAccessToken {
    pub jti: String,
    pub grant_id: String,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A refresh token about to be stored (its hash).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: i64,
}

/// A stored refresh token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRefreshToken {
    pub grant_id: String,
    pub expires_at: i64,
    /// When it was rotated; a used token presented again is reuse.
    pub used_at: Option<i64>,
}

const GRANT_COLUMNS: &str = "id, client_id, user_id, scope, resource, auth_time, expires_at, revoked_at";

async fn insert_access_token<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    token: &IssuedAccessToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_tokens (jti, grant_id, scope, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&token.jti)
    .bind(&token.grant_id)
    .bind(&token.scope)
    .bind(token.issued_at)
    .bind(token.expires_at)
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

impl Store {
    /// Creates the grant a code was redeemed into, links the code to it (so a replay can revoke
    /// it), and records the first tokens, all in one transaction.
    pub async fn create_grant(
        &self,
        grant: &Grant,
        code_hash: &str,
        access: &IssuedAccessToken,
        refresh: Option<&NewRefreshToken>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE authorization_codes SET grant_id = ? WHERE code_hash = ?")
            .bind(&grant.id)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
        insert_access_token(&mut *tx, access).await?;
        if let Some(refresh) = refresh {
            insert_refresh_token(&mut *tx, &grant.id, refresh, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(sqlx::query_as::<_, Grant>(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The refresh token with this hash and its grant.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(StoredRefreshToken, Grant)>, StoreError> {
        let Some(token) = sqlx::query_as::<_, StoredRefreshToken>(
            "SELECT grant_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let grant = self.find_grant(&token.grant_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("refresh token of missing grant {}", token.grant_id))
        })?;
        Ok(Some((token, grant)))
    }

    /// Spends `old_hash` and records its successor and a new access token, atomically. Returns
    /// `false` if the old token was already spent (a concurrent refresh won): the caller treats
    /// that as reuse.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        grant_id: &str,
        next: &NewRefreshToken,
        access: &IssuedAccessToken,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let spent =
            sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL")
                .bind(now)
                .bind(old_hash)
                .execute(&mut *tx)
                .await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refresh_token(&mut *tx, grant_id, next, now).await?;
        insert_access_token(&mut *tx, access).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes a grant and so every token under it. Idempotent; the first reason is kept.
    pub async fn revoke_grant(&self, grant_id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(grant_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The access token recorded under `jti`, and its grant.
    pub async fn find_access_token(
        &self,
        jti: &str,
    ) -> Result<Option<(IssuedAccessToken, Grant)>, StoreError> {
        let Some(token) = sqlx::query_as::<_, IssuedAccessToken>(
            "SELECT jti, grant_id, scope, issued_at, expires_at, revoked_at FROM access_tokens WHERE jti = ?",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let grant = self.find_grant(&token.grant_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("access token of missing grant {}", token.grant_id))
        })?;
        Ok(Some((token, grant)))
    }

    pub async fn revoke_access_token(&self, jti: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(jti)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
