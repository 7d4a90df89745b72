//! Authorization requests that passed validation and wait for the user.
//!
//! Keeping the request server-side (instead of round-tripping every parameter through hidden form
//! fields) means the login and consent pages cannot be used to smuggle in a different redirect URI
//! or scope: the forms carry only the request id, and the id is bound to the browser session.

use super::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingAuthorization {
    pub id: String,
    pub session_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "id, session_hash, client_id, redirect_uri, scope, state, code_challenge, resource, expires_at";

impl Store {
    pub async fn insert_authorization_request(
        &self,
        request: &PendingAuthorization,
        now: i64,
    ) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The request `id` if it belongs to this browser session and has not expired.
    pub async fn find_authorization_request(
        &self,
        id: &str,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(sqlx::query_as::<_, PendingAuthorization>(&format!(
            "SELECT {COLUMNS} FROM authorization_requests WHERE id = ? AND session_hash = ? AND expires_at > ?"
        ))
        .bind(id)
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes and returns the request: a decision (allow or deny) is made exactly once.
    pub async fn take_authorization_request(
        &self,
        id: &str,
        session_hash: &str,
        now: i64,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(sqlx::query_as::<_, PendingAuthorization>(&format!(
            "DELETE FROM authorization_requests WHERE id = ? AND session_hash = ? AND expires_at > ?
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
