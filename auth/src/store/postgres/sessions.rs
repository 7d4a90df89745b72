//! The `browser_sessions` table.

use sqlx::postgres::PgRow;
use sqlx::{Executor, FromRow, Postgres, Row};

use super::PostgresBackend;
use crate::model::BrowserSession;
use crate::store::{SessionStore, StoreError, StoreFuture};

impl FromRow<'_, PgRow> for BrowserSession {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(BrowserSession {
            id_hash: row.try_get("id_hash")?,
            csrf_token: row.try_get("csrf_token")?,
            user_id: row.try_get("user_id")?,
            authenticated_at: row.try_get("authenticated_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

async fn insert<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    session: &BrowserSession,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO browser_sessions (id_hash, csrf_token, user_id, authenticated_at, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
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

impl SessionStore for PostgresBackend {
    fn insert_session<'a>(&'a self, session: &'a BrowserSession, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(insert(&self.pool, session, now))
    }

    fn find_session<'a>(&'a self, id_hash: &'a str, now: i64) -> StoreFuture<'a, Option<BrowserSession>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, BrowserSession>(
                "SELECT id_hash, csrf_token, user_id, authenticated_at, expires_at
                 FROM browser_sessions WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn replace_session_on_login<'a>(
        &'a self,
        old_id_hash: &'a str,
        new_session: &'a BrowserSession,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            insert(&mut *tx, new_session, now).await?;
            sqlx::query("UPDATE authorization_requests SET session_hash = $1 WHERE session_hash = $2")
                .bind(&new_session.id_hash)
                .bind(old_id_hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1")
                .bind(old_id_hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }
}
