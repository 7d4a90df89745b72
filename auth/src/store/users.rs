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
