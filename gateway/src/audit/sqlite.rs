//! The audit log in SQLite: one file (or `sqlite::memory:`) per gateway, migrations in
//! `gateway/migrations/` (its subdirectories, such as PostgreSQL's, are not read for SQLite).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::{Access, AuditError, Decision, Filter, Stored};

/// The migrations, embedded at build time. Released files never change: sqlx records each one's
/// checksum in the database and refuses a database whose applied migrations differ.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens the database at `url` as `access` says (see [`Access`]).
pub(super) async fn open(url: &str, access: Access) -> Result<SqlitePool, AuditError> {
    let pool = match access {
        Access::Write => open_to_write(url).await?,
        Access::Read => open_to_read(url).await?,
    };
    let applied = applied_versions(&pool).await?;
    let pending = match super::check_schema(&MIGRATOR, &applied, access) {
        Ok(pending) => pending,
        Err(error) => {
            pool.close().await;
            return Err(error);
        }
    };
    if pending {
        MIGRATOR.run(&pool).await?;
    }
    Ok(pool)
}

async fn open_to_write(url: &str) -> Result<SqlitePool, AuditError> {
    let in_memory = is_in_memory(url);
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(if in_memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
        // A record is durable once committed, even across a power cut; batching pays for the sync.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    Ok(SqlitePoolOptions::new()
        // An in-memory database lives as long as its one connection, and each connection would
        // otherwise see a database of its own.
        .max_connections(if in_memory { 1 } else { 4 })
        .min_connections(if in_memory { 1 } else { 0 })
        .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
        .max_lifetime(None)
        .connect_with(options)
        .await?)
}

/// Read-only, and never creating the file: reading the trail must not leave an empty database
/// where a mistyped path pointed.
async fn open_to_read(url: &str) -> Result<SqlitePool, AuditError> {
    let options = SqliteConnectOptions::from_str(url)?
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5));
    let path = options.get_filename().display().to_string();
    if !is_in_memory(url) && !options.get_filename().exists() {
        return Err(AuditError::Missing(path));
    }
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'decisions'")
            .fetch_one(&pool)
            .await?;
    if tables == 0 {
        pool.close().await;
        return Err(AuditError::NotAnAuditDatabase(path));
    }
    Ok(pool)
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The versions recorded as applied in `_sqlx_migrations`; none on a new database.
async fn applied_versions(pool: &SqlitePool) -> Result<Vec<i64>, AuditError> {
    let (exists,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await?)
}

/// The whole batch in one statement: all or nothing, one sync to disk, and one round trip to
/// sqlx's worker thread instead of one per record (which had made the audit log a sixth of the
/// gateway's CPU under load). The records travel as one JSON array of rows, read back by
/// `json_each` in their order, so the statement text never changes and is prepared once per
/// connection.
pub(super) async fn insert(pool: &SqlitePool, batch: &[Decision]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO decisions (at_ms, request_id, user, client_id, client_address, upstream, tool, \
         arguments_sha256, decision, reason, policy_ids, policy_hash, approval_id, latency_us) \
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
         json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
         json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), \
         json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]'), \
         json_extract(value, '$[12]'), json_extract(value, '$[13]') \
         FROM json_each(?) ORDER BY key",
    )
    .bind(rows_json(batch)?)
    .execute(pool)
    .await?;
    Ok(())
}

/// The batch as a JSON array with one array per record, its values in the column order of
/// [`insert`]. `policy_ids` travels as a string holding its JSON text, which is what the column
/// stores: `json_extract` would hand an array back re-serialised by SQLite.
fn rows_json(batch: &[Decision]) -> Result<String, sqlx::Error> {
    let rows: Vec<_> = batch
        .iter()
        .map(|d| {
            (
                d.at_ms,
                &d.request_id,
                &d.user,
                &d.client_id,
                &d.client_address,
                &d.upstream,
                &d.tool,
                &d.arguments_sha256,
                d.outcome.as_str(),
                &d.reason,
                super::policy_ids_json(d),
                &d.policy_hash,
                &d.approval_id,
                d.latency_us,
            )
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

pub(super) async fn query(pool: &SqlitePool, filter: &Filter) -> Result<Vec<Stored>, sqlx::Error> {
    let mut sql = QueryBuilder::<Sqlite>::new(
        "SELECT id, at_ms, request_id, user, client_id, client_address, upstream, tool, arguments_sha256, \
         decision, reason, policy_ids, policy_hash, approval_id, latency_us FROM decisions WHERE 1 = 1",
    );
    super::push_filter(&mut sql, filter, "user");
    sql.build_query_as().fetch_all(pool).await
}

/// Folds the write-ahead log into the file (when this process wrote), so that what a stopped
/// gateway leaves is one complete file, and closes the pool.
pub(super) async fn close(pool: &SqlitePool, wrote: bool) {
    if wrote && let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await {
        tracing::warn!(%error, "could not checkpoint the audit database at shutdown");
    }
    pool.close().await;
}
