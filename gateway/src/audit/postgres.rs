//! The audit log in PostgreSQL: one database several gateway replicas write to, migrations in
//! `gateway/migrations/postgres/`.
//!
//! The gateway's tables live in a schema of their own, [`SCHEMA`], which every connection puts
//! first (and alone) on its `search_path`: sqlx records migrations in a `_sqlx_migrations` table of
//! the first schema there, so the gateway's and mcp-auth's never meet when an operator gives both
//! the same database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::{Access, AuditError, Decision, Filter, Stored};

/// The migrations, embedded at build time. Released files never change: sqlx records each one's
/// checksum in the database and refuses a database whose applied migrations differ.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The schema holding the gateway's tables and its `_sqlx_migrations`.
pub const SCHEMA: &str = "mcp_gateway";

/// Connections one gateway keeps at most: the writer uses one at a time, the rest are for
/// `query` and a reconnect.
const MAX_CONNECTIONS: u32 = 4;

/// PostgreSQL's SQLSTATE for "database does not exist".
const INVALID_CATALOG_NAME: &str = "3D000";

/// Opens the database at `url` as `access` says (see [`Access`]). The database itself must exist
/// (an operator creates it, with its owner and grants); the schema is created when opened to write.
pub(super) async fn open(url: &str, access: Access) -> Result<PgPool, AuditError> {
    let options =
        PgConnectOptions::from_str(url)?.application_name("mcp-gateway").options([("search_path", SCHEMA)]);
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        // The writer waits this long for a connection, then fails the batch (and retries once)
        // rather than queueing without end behind a stuck database.
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Some(Duration::from_secs(600)))
        .max_lifetime(Some(Duration::from_secs(3600)))
        .connect_with(options)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(e) if e.code().as_deref() == Some(INVALID_CATALOG_NAME) => {
                AuditError::Missing(super::display_url(url))
            }
            _ => AuditError::Database(error),
        })?;
    match prepare(&pool, url, access).await {
        Ok(()) => Ok(pool),
        Err(error) => {
            pool.close().await;
            Err(error)
        }
    }
}

/// Brings the schema up to date (to write) or checks it is this build's (to read).
async fn prepare(pool: &PgPool, url: &str, access: Access) -> Result<(), AuditError> {
    match access {
        Access::Write => create_schema(pool).await?,
        Access::Read => {
            let (exists,): (bool,) =
                sqlx::query_as("SELECT to_regclass('decisions') IS NOT NULL").fetch_one(pool).await?;
            if !exists {
                return Err(AuditError::NotAnAuditDatabase(super::display_url(url)));
            }
        }
    }
    let applied = applied_versions(pool).await?;
    if super::check_schema(&MIGRATOR, &applied, access)? {
        // sqlx holds an advisory lock while it migrates, so replicas starting together apply each
        // migration once.
        MIGRATOR.run(pool).await?;
    }
    Ok(())
}

/// Creates [`SCHEMA`] unless it exists. Looked up first because `CREATE SCHEMA IF NOT EXISTS`
/// needs the right to create schemas even when there is nothing to create, and an operator may
/// have made the schema and granted the gateway only that; under an advisory lock, so that
/// replicas starting together do not both create it.
async fn create_schema(pool: &PgPool) -> Result<(), AuditError> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('mcp-gateway audit schema', 0))")
        .execute(&mut *transaction)
        .await?;
    let (exists,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(SCHEMA)
        .fetch_one(&mut *transaction)
        .await?;
    if !exists {
        sqlx::query(&format!("CREATE SCHEMA {SCHEMA}")).execute(&mut *transaction).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// The versions recorded as applied in the schema's `_sqlx_migrations`; none on a new database.
async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, AuditError> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await?)
}

/// The whole batch in one statement, all or nothing: each column travels as one array and
/// `UNNEST` turns the arrays back into rows. One statement whatever the batch's size, so it is
/// prepared once per connection, and one round trip per batch.
pub(super) async fn insert(pool: &PgPool, batch: &[Decision]) -> Result<(), sqlx::Error> {
    let number = |value: fn(&Decision) -> i64| batch.iter().map(value).collect::<Vec<_>>();
    let text = |value: fn(&Decision) -> &str| batch.iter().map(value).collect::<Vec<_>>();
    let optional = |value: fn(&Decision) -> Option<&str>| batch.iter().map(value).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO decisions (at_ms, request_id, user_id, client_id, client_address, upstream, tool, \
         arguments_sha256, decision, reason, policy_ids, policy_hash, approval_id, latency_us) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], \
         $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::BIGINT[])",
    )
    .bind(number(|d| d.at_ms))
    .bind(text(|d| &d.request_id))
    .bind(text(|d| &d.user))
    .bind(text(|d| &d.client_id))
    .bind(optional(|d| d.client_address.as_deref()))
    .bind(optional(|d| d.upstream.as_deref()))
    .bind(text(|d| &d.tool))
    .bind(optional(|d| d.arguments_sha256.as_deref()))
    .bind(text(|d| d.outcome.as_str()))
    .bind(optional(|d| d.reason.as_deref()))
    .bind(batch.iter().map(super::policy_ids_json).collect::<Vec<_>>())
    .bind(text(|d| &d.policy_hash))
    .bind(optional(|d| d.approval_id.as_deref()))
    .bind(number(|d| d.latency_us))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn query(pool: &PgPool, filter: &Filter) -> Result<Vec<Stored>, sqlx::Error> {
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT id, at_ms, request_id, user_id AS \"user\", client_id, client_address, upstream, tool, \
         arguments_sha256, decision, reason, policy_ids, policy_hash, approval_id, latency_us \
         FROM decisions WHERE 1 = 1",
    );
    super::push_filter(&mut sql, filter, "user_id");
    sql.build_query_as().fetch_all(pool).await
}
