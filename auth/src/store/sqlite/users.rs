//! The `users` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use crate::model::User;
use crate::store::{StoreFuture, UserStore};

impl FromRow<'_, SqliteRow> for User {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
        })
    }
}

impl UserStore for SqliteBackend {
    fn find_user_by_username<'a>(&'a self, username: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn find_user_by_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, User>("SELECT id, username, password_hash FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn insert_user_if_absent<'a>(&'a self, user: &'a User, now: i64) -> StoreFuture<'a, bool> {
        let user = user.clone();
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query(
                    "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT(username) DO NOTHING",
                )
                .bind(&user.id)
                .bind(&user.username)
                .bind(&user.password_hash)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(result.rows_affected() == 1)
            })
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
        let username = username.to_owned();
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query("DELETE FROM users WHERE username = ?")
                    .bind(username)
                    .execute(&mut *c)
                    .await?;
                Ok(result.rows_affected() == 1)
            })
        })
    }

    fn change_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: &'a str,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        let (user_id, password_hash) = (user_id.to_owned(), password_hash.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
                    .bind(&password_hash)
                    .bind(&user_id)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(
                    "UPDATE grants SET revoked_at = ?, revoked_reason = 'password changed' WHERE user_id = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&user_id)
                .execute(&mut *c)
                .await?;
                sqlx::query("DELETE FROM browser_sessions WHERE user_id = ?")
                    .bind(&user_id)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("DELETE FROM standing_approvals WHERE user_id = ?")
                    .bind(&user_id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
    }

    fn groups_of_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT group_name FROM user_groups WHERE user_id = ? ORDER BY group_name")
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
        let (user_id, add, remove) = (user_id.to_owned(), add.to_vec(), remove.to_vec());
        self.writer.write(move |c| {
            Box::pin(async move {
                for group in &add {
                    sqlx::query("INSERT OR IGNORE INTO user_groups (user_id, group_name) VALUES (?, ?)")
                        .bind(&user_id)
                        .bind(group)
                        .execute(&mut *c)
                        .await?;
                }
                for group in &remove {
                    sqlx::query("DELETE FROM user_groups WHERE user_id = ? AND group_name = ?")
                        .bind(&user_id)
                        .bind(group)
                        .execute(&mut *c)
                        .await?;
                }
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT group_name FROM user_groups WHERE user_id = ? ORDER BY group_name",
                )
                .bind(&user_id)
                .fetch_all(&mut *c)
                .await?;
                Ok(rows.into_iter().map(|(name,)| name).collect())
            })
        })
    }
}
