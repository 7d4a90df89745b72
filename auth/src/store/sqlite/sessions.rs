//! The `browser_sessions` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, FromRow, Row, Sqlite};

use super::SqliteBackend;
use crate::model::BrowserSession;
use crate::store::{SessionStore, StoreError, StoreFuture};

impl FromRow<'_, SqliteRow> for BrowserSession {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
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

impl SessionStore for SqliteBackend {
    fn insert_session<'a>(&'a self, session: &'a BrowserSession, now: i64) -> StoreFuture<'a, ()> {
        let session = session.clone();
        self.writer.write(move |c| Box::pin(async move { insert(&mut *c, &session, now).await }))
    }

    fn find_session<'a>(&'a self, id_hash: &'a str, now: i64) -> StoreFuture<'a, Option<BrowserSession>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, BrowserSession>(
                "SELECT id_hash, csrf_token, user_id, authenticated_at, expires_at
                 FROM browser_sessions WHERE id_hash = ? AND expires_at > ?",
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
        let (old_id_hash, new_session) = (old_id_hash.to_owned(), new_session.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                insert(&mut *c, &new_session, now).await?;
                sqlx::query("UPDATE authorization_requests SET session_hash = ? WHERE session_hash = ?")
                    .bind(&new_session.id_hash)
                    .bind(&old_id_hash)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("DELETE FROM browser_sessions WHERE id_hash = ?")
                    .bind(&old_id_hash)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> StoreFuture<'a, ()> {
        let id_hash = id_hash.to_owned();
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM browser_sessions WHERE id_hash = ?")
                    .bind(id_hash)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
    }
}
