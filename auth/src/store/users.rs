//! Users who can sign in.

use super::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// Stable subject identifier; the `sub` of every token issued for this user.
    pub id: String,
    pub username: String,
    /// argon2id PHC string. Never leaves the store except to be verified.
    pub password_hash: String,
}

impl Store {
    pub async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Creates a user unless the username is taken; returns whether it was created.
    pub async fn insert_user_if_absent(&self, user: &User, now: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(username) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

impl Store {
    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }
}

impl Store {
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Deletes the user; their sessions, consents, codes and grants go with them (foreign keys).
    pub async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("DELETE FROM users WHERE username = ?").bind(username).execute(&self.pool).await?;
        Ok(result.rows_affected() == 1)
    }

    /// Sets a new password hash and revokes every grant and session of the user: whoever knew the
    /// old password must not keep access through tokens or a signed-in browser.
    pub async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE grants SET revoked_at = ?, revoked_reason = 'password changed' WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM browser_sessions WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
