//! The `authorization_codes` table.

use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use super::SqliteBackend;
use super::audit::{INSERT_EVENT, bind_event};
use crate::model::{AuditEvent, CodeBinding, NewCode, Redemption};
use crate::store::{CodeStore, StoreFuture};

impl FromRow<'_, SqliteRow> for CodeBinding {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(CodeBinding {
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            redirect_uri: row.try_get("redirect_uri")?,
            scope: row.try_get("scope")?,
            code_challenge: row.try_get("code_challenge")?,
            resource: row.try_get("resource")?,
            auth_time: row.try_get("auth_time")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

/// A code already redeemed, with the grant its first redemption created.
struct SpentCode {
    code: CodeBinding,
    grant_id: Option<String>,
}

impl FromRow<'_, SqliteRow> for SpentCode {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        Ok(SpentCode { code: CodeBinding::from_row(row)?, grant_id: row.try_get("grant_id")? })
    }
}

const BINDING: &str =
    "client_id, user_id, redirect_uri, scope, code_challenge, resource, auth_time, expires_at";

impl CodeStore for SqliteBackend {
    fn insert_code<'a>(&'a self, code: &'a NewCode, event: &'a AuditEvent, now: i64) -> StoreFuture<'a, ()> {
        let (code, event) = (code.clone(), event.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                let b = &code.binding;
                // The code and its event in one round trip.
                let sql = statements!(
                    "INSERT INTO authorization_codes
                     (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, resource, auth_time, created_at, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    INSERT_EVENT
                );
                let query = sqlx::query(sql)
                    .bind(&code.code_hash)
                    .bind(&b.client_id)
                    .bind(&b.user_id)
                    .bind(&b.redirect_uri)
                    .bind(&b.scope)
                    .bind(&b.code_challenge)
                    .bind(&b.resource)
                    .bind(b.auth_time)
                    .bind(now)
                    .bind(b.expires_at);
                bind_event(query, &event, now).execute(&mut *c).await?;
                Ok(())
            })
        })
    }

    fn redeem_code<'a>(&'a self, code_hash: &'a str, now: i64) -> StoreFuture<'a, Redemption> {
        let code_hash = code_hash.to_owned();
        self.writer.write(move |c| {
            Box::pin(async move {
                let redeemed = sqlx::query_as::<_, CodeBinding>(&format!(
                    "UPDATE authorization_codes SET redeemed_at = ? WHERE code_hash = ? AND redeemed_at IS NULL
                     RETURNING {BINDING}"
                ))
                .bind(now)
                .bind(&code_hash)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(binding) = redeemed {
                    return Ok(Redemption::Redeemed(binding));
                }
                // A replay. Marked on the code itself, so that a first redemption still on its
                // way to creating its grant creates it revoked: of two concurrent redemptions,
                // neither keeps anything, whichever finishes first.
                let spent = sqlx::query_as::<_, SpentCode>(&format!(
                    "UPDATE authorization_codes SET replayed_at = COALESCE(replayed_at, ?)
                     WHERE code_hash = ? RETURNING {BINDING}, grant_id"
                ))
                .bind(now)
                .bind(&code_hash)
                .fetch_optional(&mut *c)
                .await?;
                Ok(spent.map_or(Redemption::Unknown, |s| Redemption::AlreadyRedeemed {
                    code: s.code,
                    grant_id: s.grant_id,
                }))
            })
        })
    }

    fn find_unredeemed_code<'a>(&'a self, code_hash: &'a str) -> StoreFuture<'a, Option<CodeBinding>> {
        Box::pin(async move {
            Ok(sqlx::query_as::<_, CodeBinding>(&format!(
                "SELECT {BINDING} FROM authorization_codes WHERE code_hash = ? AND redeemed_at IS NULL"
            ))
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?)
        })
    }
}
