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

/// The whole batch in one transaction: all or nothing, and one sync to disk. The rows go as
/// multi-row `INSERT … VALUES` statements of 32, 16, 8, 4, 2 or 1 rows (a batch of 45 is cut into
/// 32, 8, 4 and 1), so that there are six statement texts in all, each prepared once per
/// connection, and a batch takes a handful of round trips to sqlx's worker thread rather than one
/// per record (one per record had made the audit log a sixth of the gateway's CPU under load).
/// Until December 2026 the batch travelled as one JSON array read back by `json_each`: SQLite's
/// JSON functions then took two thirds of the audit log's time, parsing each row once per column.
pub(super) async fn insert(pool: &SqlitePool, batch: &[Decision]) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let mut rest = batch;
    while !rest.is_empty() {
        let rows = chunk_len(rest.len());
        let (chunk, later) = rest.split_at(rows);
        let mut query = sqlx::query(insert_sql(rows));
        for d in chunk {
            query = query
                .bind(d.at_ms)
                .bind(&d.request_id)
                .bind(&d.user)
                .bind(&d.client_id)
                .bind(&d.client_address)
                .bind(&d.upstream)
                .bind(&d.tool)
                .bind(&d.arguments_sha256)
                .bind(d.outcome.as_str())
                .bind(&d.reason)
                .bind(super::policy_ids_json(d))
                .bind(&d.policy_hash)
                .bind(&d.approval_id)
                .bind(d.latency_us);
        }
        query.execute(&mut *transaction).await?;
        rest = later;
    }
    transaction.commit().await
}

/// Most rows of one `INSERT` (14 parameters each: far below SQLite's limit of 32,766).
const CHUNK: usize = 32;

/// How many of `left` rows the next statement takes: the largest power of two up to [`CHUNK`].
fn chunk_len(left: usize) -> usize {
    if left >= CHUNK { CHUNK } else { 1 << left.ilog2() }
}

/// The `INSERT` of `rows` rows (a power of two up to [`CHUNK`]), built once per size.
fn insert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0..=CHUNK.ilog2())
            .map(|power| {
                let row = format!("({})", vec!["?"; 14].join(", "));
                format!(
                    "INSERT INTO decisions (at_ms, request_id, user, client_id, client_address, upstream, \
                     tool, arguments_sha256, decision, reason, policy_ids, policy_hash, approval_id, \
                     latency_us) VALUES {}",
                    vec![row; 1 << power].join(", ")
                )
            })
            .collect()
    });
    &SQL[rows.ilog2() as usize]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_into_powers_of_two_of_at_most_a_chunk() {
        let cut = |mut left: usize| {
            let mut sizes = Vec::new();
            while left > 0 {
                sizes.push(chunk_len(left));
                left -= chunk_len(left);
            }
            sizes
        };
        assert_eq!(cut(1), [1]);
        assert_eq!(cut(45), [32, 8, 4, 1]);
        assert_eq!(cut(64), [32, 32]);
        assert_eq!(cut(31), [16, 8, 4, 2, 1]);
        for size in [1, 2, 4, 8, 16, 32] {
            let sql = insert_sql(size);
            assert_eq!(sql.matches('?').count(), 14 * size, "{sql}");
        }
    }
}
