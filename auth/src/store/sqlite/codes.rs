//! The `authorization_codes` table: a row per code spent (codes are sealed, see `sealed_code`).

use sqlx::SqliteConnection;

use super::{SqliteBackend, SqliteQuery};
use crate::model::{CodeBinding, Redemption};
use crate::store::{CodeStore, StoreError, StoreFuture};

/// Records a code spent at `now`, unless it is already recorded or its client or user no longer
/// exists (the foreign keys would refuse it). Its parameters: [`bind_spent`].
const INSERT_SPENT: &str = "INSERT INTO authorization_codes
     (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, resource, auth_time, created_at, expires_at, redeemed_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9
     WHERE EXISTS (SELECT 1 FROM clients WHERE client_id = ?2) AND EXISTS (SELECT 1 FROM users WHERE id = ?3)
     ON CONFLICT (code_hash) DO NOTHING";

fn bind_spent<'q>(
    query: SqliteQuery<'q>,
    code_hash: &'q str,
    code: &'q CodeBinding,
    now: i64,
) -> SqliteQuery<'q> {
    query
        .bind(code_hash)
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.code_challenge)
        .bind(&code.resource)
        .bind(code.auth_time)
        .bind(now)
        .bind(code.expires_at)
}

/// [`INSERT_SPENT`]: did it record the code?
pub(super) async fn record_spent(
    c: &mut SqliteConnection,
    code_hash: &str,
    code: &CodeBinding,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = bind_spent(sqlx::query(INSERT_SPENT), code_hash, code, now).execute(&mut *c).await?;
    Ok(inserted.rows_affected() == 1)
}

impl CodeStore for SqliteBackend {
    /// One job, so no redemption of the same code comes between the insert and the replay's mark.
    fn spend_code<'a>(
        &'a self,
        code_hash: &'a str,
        code: &'a CodeBinding,
        now: i64,
    ) -> StoreFuture<'a, Redemption> {
        let (code_hash, code) = (code_hash.to_owned(), code.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                if record_spent(&mut *c, &code_hash, &code, now).await? {
                    return Ok(Redemption::Redeemed);
                }
                // Spent before: a replay, marked on the code.
                let spent: Option<Option<String>> = sqlx::query_scalar(
                    "UPDATE authorization_codes SET replayed_at = COALESCE(replayed_at, ?)
                     WHERE code_hash = ? RETURNING grant_id",
                )
                .bind(now)
                .bind(&code_hash)
                .fetch_optional(&mut *c)
                .await?;
                Ok(spent.map_or(Redemption::Unknown, |grant_id| Redemption::AlreadyRedeemed { grant_id }))
            })
        })
    }
}
