//! Browser sessions of the login and consent pages.
//!
//! The cookie holds a random id; the table holds its hash, the CSRF token for the session's forms,
//! and, once the user has signed in, who they are.

use sqlx::{Executor, Sqlite};

use super::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BrowserSession {
    pub id_hash: String,
    pub csrf_token: String,
    pub user_id: Option<String>,
    pub authenticated_at: Option<i64>,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_session(&self, session: &BrowserSession, now: i64) -> Result<(), StoreError> {
        insert(&self.pool, session, now).await
    }

    /// The session, unless it does not exist or has expired.
    pub async fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<BrowserSession>, StoreError> {
        Ok(sqlx::query_as::<_, BrowserSession>(
            "SELECT id_hash, csrf_token, user_id, authenticated_at, expires_at
             FROM browser_sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Signs a user in by replacing the anonymous session with a new one (new id, new CSRF token),
    /// carrying its pending authorization requests over. A fresh id at login defeats session
    /// fixation: an id planted in the browser before login is worthless after it.
    pub async fn replace_session_on_login(
        &self,
        old_id_hash: &str,
        new_session: &BrowserSession,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert(&mut *tx, new_session, now).await?;
        sqlx::query("UPDATE authorization_requests SET session_hash = ? WHERE session_hash = ?")
            .bind(&new_session.id_hash)
            .bind(old_id_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM browser_sessions WHERE id_hash = ?")
            .bind(old_id_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert<'e>(
    executor: impl Executor<'e, Database = Sqlite>,
    session: &BrowserSession,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO browser_sessions (id_hash, csrf_token, user_id, authenticated_at, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&session.id_hash)
    .bind(&session.csrf_token)
    .bind(&session.user_id)
    .bind(session.authenticated_at)
    .bind(now)
    .bind(session.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

impl Store {
    /// Signs a browser out.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM browser_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
