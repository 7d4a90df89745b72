//! Authorization codes: stored hashed, valid once, for a minute.

use super::{Store, StoreError};

/// What a code was issued for; everything the token endpoint must check and put in the token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeGrant {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub resource: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// A code about to be stored.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub grant: CodeGrant,
}

#[derive(sqlx::FromRow)]
struct SpentCode {
    #[sqlx(flatten)]
    code: CodeGrant,
    grant_id: Option<String>,
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub enum Redemption {
    /// First presentation: the code is now spent. Expiry is checked by the caller.
    Redeemed(CodeGrant),
    /// The code was already spent: a replay (RFC 9700 §4.5). Carries the grant the first
    /// redemption created, if it got that far, so the caller can revoke it.
    AlreadyRedeemed {
        code: CodeGrant,
        grant_id: Option<String>,
    },
    Unknown,
}

impl Store {
    pub async fn insert_code(&self, code: &NewCode, now: i64) -> Result<(), StoreError> {
        let g = &code.grant;
        sqlx::query(
            "INSERT INTO authorization_codes
             (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, resource, auth_time, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&code.code_hash)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.redirect_uri)
        .bind(&g.scope)
        .bind(&g.code_challenge)
        .bind(&g.resource)
        .bind(g.auth_time)
        .bind(now)
        .bind(g.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the code spent and returns its grant, in one statement: of two concurrent
    /// redemptions exactly one sees `Redeemed`.
    pub async fn redeem_code(&self, code_hash: &str, now: i64) -> Result<Redemption, StoreError> {
        const GRANT: &str =
            "client_id, user_id, redirect_uri, scope, code_challenge, resource, auth_time, expires_at";
        let redeemed = sqlx::query_as::<_, CodeGrant>(&format!(
            "UPDATE authorization_codes SET redeemed_at = ? WHERE code_hash = ? AND redeemed_at IS NULL
             RETURNING {GRANT}"
        ))
        .bind(now)
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(grant) = redeemed {
            return Ok(Redemption::Redeemed(grant));
        }
        let spent = sqlx::query_as::<_, SpentCode>(&format!(
            "SELECT {GRANT}, grant_id FROM authorization_codes WHERE code_hash = ?"
        ))
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(spent.map_or(Redemption::Unknown, |s| Redemption::AlreadyRedeemed {
            code: s.code,
            grant_id: s.grant_id,
        }))
    }
}
