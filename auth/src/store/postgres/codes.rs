//! The `authorization_codes` table: a row per code spent (codes are sealed, see `sealed_code`).

use super::PostgresBackend;
use crate::model::{CodeBinding, Redemption};
use crate::store::{CodeStore, StoreFuture};

/// The columns of a spent code's row, in the order [`spent_values`] selects them.
pub(super) const SPENT_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scope, code_challenge, resource, auth_time, created_at, expires_at, redeemed_at";

/// `SELECT` of a spent code's row from `$first` on: hash, the binding's eight fields, and `now`
/// (as its creation and its spending time), guarded by its client and user still existing (the
/// foreign keys would refuse the row otherwise). Bind with [`bind_spent`].
pub(super) fn spent_values(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
         WHERE EXISTS (SELECT 1 FROM clients WHERE client_id = {}) AND EXISTS (SELECT 1 FROM users WHERE id = {})",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(9),
        p(8),
        p(9),
        p(1),
        p(2)
    )
}

/// Binds what [`spent_values`] selects: ten parameters.
pub(super) fn bind_spent<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    code_hash: &'q str,
    code: &'q CodeBinding,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(code_hash)
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.code_challenge)
        .bind(&code.resource)
        .bind(code.auth_time)
        .bind(code.expires_at)
        .bind(now)
}

impl CodeStore for PostgresBackend {
    /// The insert of the spent code; when the code is already there (the insert waits for a
    /// concurrent redemption of it to commit, then does nothing), the mark of the replay on its
    /// row, which returns the grant to revoke.
    fn spend_code<'a>(
        &'a self,
        code_hash: &'a str,
        code: &'a CodeBinding,
        now: i64,
    ) -> StoreFuture<'a, Redemption> {
        Box::pin(async move {
            let query = format!(
                "INSERT INTO authorization_codes ({SPENT_COLUMNS}) {} ON CONFLICT (code_hash) DO NOTHING",
                spent_values(1)
            );
            let inserted = bind_spent(sqlx::query(&query), code_hash, code, now).execute(&self.pool).await?;
            if inserted.rows_affected() == 1 {
                return Ok(Redemption::Redeemed);
            }
            let spent: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE authorization_codes SET replayed_at = COALESCE(replayed_at, $1)
                 WHERE code_hash = $2 RETURNING grant_id",
            )
            .bind(now)
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
            Ok(spent.map_or(Redemption::Unknown, |grant_id| Redemption::AlreadyRedeemed { grant_id }))
        })
    }
}
