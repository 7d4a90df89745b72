//! The PostgreSQL backend, via sqlx: a pool of connections to one database that several
//! `mcp-auth` processes may share, migrations in `auth/migrations/postgres/`.
//!
//! Each submodule owns one table's SQL and maps its rows to the records of [`crate::model`], as
//! the SQLite backend does. What differs is concurrency: PostgreSQL runs transactions at
//! READ COMMITTED, so two processes can read the same row and both write what they computed from
//! it. So:
//! - single-use values (codes, pending requests, refresh tokens, approvals) are consumed by one
//!   conditional statement (`UPDATE … WHERE used_at IS NULL RETURNING …`): a second updater waits
//!   for the first's row lock, re-checks the condition on the committed row and changes nothing;
//! - work that reads before it writes and may find no row to lock (the first signing key, a
//!   rotation, merging a consent, opening an approval request) takes a transaction-scoped
//!   advisory lock ([`PostgresBackend::begin_locked`]) on what it is about, so concurrent writers
//!   of the same thing take turns and each sees what the previous one committed.

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

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres, Transaction};

use super::{Backend, Migrations, Schema, StoreError};

/// The migrations, embedded at build time. Released files never change: sqlx records each one's
/// checksum in the database and refuses to open a database whose applied migrations differ.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections one process keeps at most. Three replicas and the sweep stay well under
/// PostgreSQL's default `max_connections` (100).
///
/// More is not faster: every connection is a PostgreSQL process, and past a few per core of the
/// database they only take turns on its CPUs and its WAL lock. Measured with the authorization
/// server benchmark (README) on this project's 2-core machine, database and load generator
/// included, two runs each, throughput as a ratio to node-oidc-provider's in the same run:
/// 16 connections: refresh 1.02, 0.85, code exchange 1.25, 1.45, mix 1.17, 1.09, CPU per refresh
/// (server + database) 0.80, 0.73 ms; 8: refresh 1.22, 1.06, code exchange 1.49, 1.37, mix 1.09,
/// 1.17, CPU per refresh 0.62, 0.69 ms; 4: refresh 0.91, 0.87 (requests queue for a connection).
const MAX_CONNECTIONS: u32 = 8;

/// A connection idle at least this long is checked (one round trip) before a request gets it.
///
/// sqlx checks every connection it hands out unless told otherwise, which doubled the round trips
/// of every request here: a refresh is three statements, each on a connection taken from the
/// pool, so it made six. Under load a connection goes back and out within milliseconds, and one
/// used that recently is as alive as the check would say (HikariCP skips its check for 500 ms,
/// PgBouncer's `server_check_delay` for 30 s). One that sat idle, across a database restart or a
/// firewall's idle cut, is still checked, and replaced with a new one if dead, before any request
/// sees it. What is left is the restart within the last second: a statement on a connection
/// ended since fails, that request gets `server_error`, and the pool drops the connection.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// What an advisory lock is taken on: one key per kind of thing, so unrelated work never waits.
#[derive(Debug, Clone, Copy)]
pub(super) enum LockKey<'a> {
    /// The set of signing keys (first key, rotation).
    SigningKeys,
    /// One consent (user, client, resource).
    Consent(&'a str, &'a str, &'a str),
    /// The approval requests of one client for one user (asking, or joining one that waits).
    Approvals(&'a str, &'a str),
}

impl LockKey<'_> {
    /// The text hashed into the lock's 64-bit key. A collision only makes two unrelated writers
    /// take turns.
    fn text(&self) -> String {
        match self {
            LockKey::SigningKeys => "mcp-auth signing keys".to_owned(),
            LockKey::Consent(user, client, resource) => {
                format!("mcp-auth consent\n{user}\n{client}\n{resource}")
            }
            LockKey::Approvals(user, client) => format!("mcp-auth approvals\n{user}\n{client}"),
        }
    }
}

/// A pool of connections to one PostgreSQL database.
#[derive(Debug)]
pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
    /// Opens the database at `url` and brings its schema up to date or checks it, as `migrations`
    /// says. The database itself must exist (an operator creates it, with its owner and grants).
    pub async fn connect(url: &str, migrations: Migrations) -> Result<(Self, Schema), StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("mcp-auth");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            // A request waits this long for a free connection, then fails with server_error
            // instead of queueing without end behind a stuck database.
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(3600)))
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= CHECK_IF_IDLE_FOR {
                        // An error closes this connection and the pool tries the next, or a new one.
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        let applied = applied_versions(&mut *pool.acquire().await?).await?;
        let mut schema = super::check_schema(&MIGRATOR, &applied, migrations)?;
        if matches!(migrations, Migrations::Apply) && !schema.applied_now.is_empty() {
            // Replicas starting together take turns: each reads what is applied only once it holds
            // the lock, so each migration is applied, and reported applied, by one of them.
            let mut connection = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(hashtextextended('mcp-auth migrations', 0))")
                .execute(&mut *connection)
                .await?;
            let migrated = migrate_under_lock(&pool, &mut connection, migrations).await;
            sqlx::query("SELECT pg_advisory_unlock(hashtextextended('mcp-auth migrations', 0))")
                .execute(&mut *connection)
                .await?;
            schema = migrated?;
        }
        Ok((Self { pool }, schema))
    }

    /// A transaction that first takes the advisory lock on `key`, held until it commits or rolls
    /// back: another transaction locking the same key waits here, then sees what this one wrote.
    pub(super) async fn begin_locked(
        &self,
        key: LockKey<'_>,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key.text())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Under the migration lock: rereads what is applied and applies what is missing. A plain function
/// rather than an async block: an async block holding the connection across sqlx's migrator made
/// `Application::build`'s future fail to be `Send` for callers that spawn it (rustc's
/// "implementation of `Send` is not general enough").
async fn migrate_under_lock(
    pool: &PgPool,
    connection: &mut sqlx::PgConnection,
    migrations: Migrations,
) -> Result<Schema, StoreError> {
    let applied = applied_versions(connection).await?;
    let schema = super::check_schema(&MIGRATOR, &applied, migrations)?;
    if !schema.applied_now.is_empty() {
        // sqlx takes a lock of its own (another key) on the pool's connection it migrates with.
        MIGRATOR.run(pool).await?;
    }
    Ok(schema)
}

/// The versions recorded as applied in `_sqlx_migrations`, oldest first; none on a new database.
async fn applied_versions(connection: &mut sqlx::PgConnection) -> Result<Vec<i64>, StoreError> {
    let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *connection)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *connection)
        .await?;
    Ok(rows.into_iter().map(|(version,)| version).collect())
}

impl Backend for PostgresBackend {
    /// PostgreSQL keeps what was committed; closing waits for connections in use and ends the
    /// others.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move { self.pool.close().await })
    }
}
