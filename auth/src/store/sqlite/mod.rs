//! The SQLite backend, via sqlx: one file (or `sqlite::memory:`), migrations in
//! `auth/migrations/sqlite/`.
//!
//! Each submodule owns one table's SQL and maps its rows to the records of [`crate::model`].
//! Reads use a pool of connections. Every write is a job for the [`writer`]: one connection that
//! runs the jobs one after another inside `BEGIN IMMEDIATE` transactions, each job in its own
//! savepoint, and lets the jobs that arrive together share one commit (group commit). So writes
//! never race each other: read-then-write work (key rotation, consent merging) acts on what it
//! read, and of two redemptions of one code or refresh token the second finds it spent.
//! Single-use values are still consumed with one atomic statement (`UPDATE … RETURNING` /
//! `DELETE … RETURNING`), which stays correct should anything else write to the file (another
//! `mcp-auth` process run by an operator, say).
//!
//! A job's statements cost a round trip each to the thread sqlx runs the connection on, and the
//! writer runs jobs one after another, so on a busy machine round trips, not SQL, bound how many
//! writes a second the server can do. The hot jobs (a refresh, a code and its redemption) therefore
//! send what follows their deciding statement as one multi-statement query ([`SqliteQuery`] values
//! bound in statement order): a refresh's four statements are two round trips.

/// Statements joined into one multi-statement query (a [`SqliteQuery`] whose values are bound in
/// statement order), the text built once.
macro_rules! statements {
    ($($statement:expr),+ $(,)?) => {{
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| [$($statement),+].join(";\n"));
        SQL.as_str()
    }};
}

mod approvals;
mod audit;
mod clients;
mod codes;
mod consents;
mod grants;
mod keys;
mod requests;
mod sessions;
mod sweep;
mod users;
mod writer;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

use self::writer::Writer;
use super::{Backend, Migrations, Schema, StoreError};

/// A query being bound. sqlx binds a multi-statement query's values to its statements' `?` in
/// order, so the `bind_*` helpers that fill one statement's values compose into one query.
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The migrations, embedded at build time. Their file names and contents must never change once
/// released: sqlx records each one's checksum in the database and refuses to open a database whose
/// applied migrations differ (see the test below).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// One SQLite database: a pool of connections for reads, one writer for every write.
#[derive(Debug)]
pub struct SqliteBackend {
    pool: SqlitePool,
    writer: Writer,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date or checks
    /// it, as `migrations` says.
    pub async fn connect(url: &str, migrations: Migrations) -> Result<(Self, Schema), StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            // WAL lets readers proceed while one writer commits; the busy timeout makes a second
            // writer wait for the lock instead of failing with "database is locked".
            .journal_mode(if in_memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .busy_timeout(Duration::from_secs(5))
            // An answered write survives a power cut: every commit waits for the disk. The writer
            // shares that wait among the writes that arrive together (see `writer`).
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives as long as its one connection: never close or add one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
            .max_lifetime(if in_memory { None } else { Some(Duration::from_secs(3600)) })
            // sqlx would otherwise "ping" each connection it hands out: a round trip to the
            // connection's thread in this process, which can only answer that the thread is
            // there, at the cost of two thread hand-offs on every read.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let applied = applied_versions(&pool).await?;
        let schema = super::check_schema(&MIGRATOR, &applied, migrations)?;
        if matches!(migrations, Migrations::Apply) && !schema.applied_now.is_empty() {
            MIGRATOR.run(&pool).await?;
        }
        let writer =
            if in_memory { Writer::Direct(pool.clone()) } else { Writer::spawn(options.connect().await?) };
        Ok((Self { pool, writer }, schema))
    }
}

/// The versions recorded as applied in `_sqlx_migrations`, oldest first; none on a new database.
async fn applied_versions(pool: &SqlitePool) -> Result<Vec<i64>, StoreError> {
    let (exists,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(version,)| version).collect())
}

impl Backend for SqliteBackend {
    /// Folds the write-ahead log into the database file and closes every connection, so what a
    /// stopped server leaves on disk is one complete file. SQLite replays a leftover WAL at the
    /// next start, so a failure loses nothing and is only logged.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.writer.close().await;
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
                tracing::warn!(%error, "could not checkpoint the write-ahead log at shutdown");
            }
            self.pool.close().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-384 of each migration file as released (`sha384sum auth/migrations/sqlite/*.sql`), which
    /// is what sqlx recorded in every existing database. Moving the files must not change them, or
    /// databases such as `target/dev/mcp-auth.db` stop opening.
    const RELEASED: [(i64, &str, &str); 12] = [
        (
            1,
            "initial",
            "605cb7689487755f65cfb958f4c1c79adfe9ccafb77c2794d8f6a1a2cc8ac442e6cb1dfa0d80bc2b37bbb0cdcc294ed4",
        ),
        (
            2,
            "grants",
            "e844e9ae7f0e100bd882cadc45bfa368b79ab57a248b95f0538b5e818bdba7c664e1ff330a078fefd0bd0e0b851f6814",
        ),
        (
            3,
            "audit consents",
            "051d07d2642b7bd32d972a320844cc0c4ebcf9459174494e650e90f07fd72631cca103ac7466df53409e82ec458307a7",
        ),
        (
            4,
            "key rotation",
            "70186374c60dd78fd9913ddbfd6c336501e8911082031b60f6d74eecf8422659a3f0ed27ae4adc4a3ac800d6e8a8c1b2",
        ),
        (
            5,
            "client metadata documents",
            "5e1b3f539176f4b1fdde3ad7eae5796ffa0c99f0d3cfce171c12145c143ac80c4280fa0ee0c62c4ab86cc68c4bf08918",
        ),
        (
            6,
            "exchange groups approvals",
            "53e0d4083e343bb4ff34499c1b54f01d391b3407796e22d39ce04088fc3cf53a3a3d7faed188ee0472c7eb885263e1ab",
        ),
        (
            7,
            "code replay",
            "b2a967676789ed4687f2568f00d026208eca1443a9ec658216e0de5475bf1343959202b7c212e3be0a1f9dff0ffee362",
        ),
        (
            8,
            "sealed codes",
            "8febc550c3b5cfa9454de850202ad65e2c345e9eb4b2d76aba9b01baf076acbe45cd01111bcac13a8a4c7b6163ca8e0f",
        ),
        (
            9,
            "standing approvals per app",
            "fe6ac5f77a98916a14d4a9e9fbbd5b2952bc6d77ac20edb098578a4c36759367a77947eeb956150e8d9e2e90987cd041",
        ),
        (
            10,
            "approval always ask",
            "c0cf259c4e16ad46af79d69f210ed9a8fbfe002c47e4a57d512c27f4a7cfd5feba6f03beb79b4a17cee7b6424dc677d6",
        ),
        (
            11,
            "exchange targets",
            "f281120a22badbf52835c0eab9676f258b4a557f9af869acedfec25dbf07287657bca7648638ebbd62992ec455ca5e9b",
        ),
        (
            12,
            "approval max age",
            "2bd6d29d79e61cb73419456e35650cb0c8eafd50b13a354d7cf88c4896f692656cdcce1d1bd0eb767dd980b84804008c",
        ),
    ];

    #[test]
    fn released_migrations_keep_their_versions_and_checksums() {
        let embedded: Vec<(i64, String, String)> = MIGRATOR
            .iter()
            .map(|m| (m.version, m.description.to_string(), protocol::hex(&m.checksum)))
            .collect();
        assert!(embedded.len() >= RELEASED.len(), "a released migration is missing");
        for ((version, description, checksum), released) in embedded.iter().zip(RELEASED) {
            assert_eq!((*version, description.as_str(), checksum.as_str()), released);
        }
    }

    /// What this build records in `_sqlx_migrations` is what released builds recorded, so a
    /// database they migrated opens here (sqlx compares the two) and is not migrated again.
    #[tokio::test]
    async fn migrating_records_the_released_checksums_and_reopening_works() {
        let path = std::env::temp_dir().join(format!("mcp-auth-released-{}.db", crate::random::short_id()));
        let url = format!("sqlite://{}", path.display());
        let (old, _) = SqliteBackend::connect(&url, Migrations::Apply).await.unwrap();
        let recorded: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&old.pool)
                .await
                .unwrap();
        let recorded: Vec<(i64, String)> =
            recorded.into_iter().map(|(v, c)| (v, protocol::hex(&c))).collect();
        let released: Vec<(i64, String)> = RELEASED.iter().map(|(v, _, c)| (*v, (*c).to_owned())).collect();
        assert_eq!(recorded, released);
        old.close().await;

        let (reopened, schema) =
            SqliteBackend::connect(&url, Migrations::Check).await.expect("the same database opens again");
        assert!(schema.applied_now.is_empty());
        reopened.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
