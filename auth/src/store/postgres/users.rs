//! The `users` table.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::PostgresBackend;
use crate::model::User;
use crate::store::{StoreFuture, UserStore};

impl FromRow<'_, PgRow> for User {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
        })
    }
}

impl UserStore for PostgresBackend {
    fn find_user_by_username<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn find_user_by_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn insert_user_if_absent<'a>(&'a self, user: &'a User, now: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let result = sqlx::query(
                "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(username) DO NOTHING",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    fn list_users(&self) -> StoreFuture<'_, Vec<User>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users ORDER BY username")
                .fetch_all(&self.pool)
                .await?)
        })
    }

    /// Sessions, consents, codes and grants go with the user (foreign keys).
    fn delete_user<'a>(&'a self, username: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let result = sqlx::query("DELETE FROM users WHERE username = $1")
                .bind(username)
                .execute(&self.pool)
                .await?;
            Ok(result.rows_affected() == 1)
        })
    }

    fn change_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE grants SET revoked_at = $1, revoked_reason = 'password changed' WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM standing_approvals WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn groups_of_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT group_name FROM user_groups WHERE user_id = $1 ORDER BY group_name")
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
            Ok(rows.into_iter().map(|(name,)| name).collect())
        })
    }

    fn change_user_groups<'a>(
        &'a self,
        user_id: &'a str,
        add: &'a [String],
        remove: &'a [String],
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            for group in add {
                sqlx::query(
                    "INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(group)
                .execute(&mut *tx)
                .await?;
            }
            for group in remove {
                sqlx::query("DELETE FROM user_groups WHERE user_id = $1 AND group_name = $2")
                    .bind(user_id)
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
            }
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT group_name FROM user_groups WHERE user_id = $1 ORDER BY group_name")
                    .bind(user_id)
                    .fetch_all(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(|(name,)| name).collect())
        })
    }
}
