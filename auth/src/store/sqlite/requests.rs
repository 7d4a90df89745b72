//! The `authorization_requests` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use crate::model::PendingAuthorization;
use crate::store::{RequestStore, StoreFuture};

impl FromRow<'_, SqliteRow> for PendingAuthorization {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(PendingAuthorization {
            id: row.try_get("id")?,
            session_hash: row.try_get("session_hash")?,
            client_id: row.try_get("client_id")?,
            redirect_uri: row.try_get("redirect_uri")?,
            scope: row.try_get("scope")?,
            state: row.try_get("state")?,
            code_challenge: row.try_get("code_challenge")?,
            resource: row.try_get("resource")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

const COLUMNS: &str =
    "id, session_hash, client_id, redirect_uri, scope, state, code_challenge, resource, expires_at";

impl RequestStore for SqliteBackend {
    fn insert_authorization_request<'a>(
        &'a self,
        request: &'a PendingAuthorization,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        let request = request.clone();
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO authorization_requests
                     (id, session_hash, client_id, redirect_uri, scope, state, code_challenge, resource, created_at, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&request.id)
                .bind(&request.session_hash)
                .bind(&request.client_id)
                .bind(&request.redirect_uri)
                .bind(&request.scope)
                .bind(&request.state)
                .bind(&request.code_challenge)
                .bind(&request.resource)
                .bind(now)
                .bind(request.expires_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
    }

    fn find_authorization_request<'a>(
        &'a self,
        id: &'a str,
        session_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<PendingAuthorization>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, PendingAuthorization>(&format!(
                "SELECT {COLUMNS} FROM authorization_requests WHERE id = ? AND session_hash = ? AND expires_at > ?"
            ))
            .bind(id)
            .bind(session_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn take_authorization_request<'a>(
        &'a self,
        id: &'a str,
        session_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, Option<PendingAuthorization>> {
        let (id, session_hash) = (id.to_owned(), session_hash.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                Ok(sqlx::query_as::<_, PendingAuthorization>(&format!(
                    "DELETE FROM authorization_requests WHERE id = ? AND session_hash = ? AND expires_at > ?
                 RETURNING {COLUMNS}"
                ))
                .bind(id)
                .bind(session_hash)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?)
            })
        })
    }
}
