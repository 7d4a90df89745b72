//! A fresh audit database for each test, on the backend the environment names.
//!
//! Set `MCP_GATEWAY_TEST_DATABASE_URL` to run the audit tests (the unit tests of [`crate::audit`]
//! and `gateway/tests/audit_cli.rs`) against another backend. Unset, or any `sqlite:` URL, each
//! test gets a SQLite file of its own in the temporary directory, not yet created, deleted when
//! the test ends. A `postgres:` URL names a server and a database to connect to first
//! (`postgres://postgres@127.0.0.1:5432/test`): each test gets a new, empty database of its own
//! there, dropped (with whatever connections are left) when the test ends.

use std::path::PathBuf;

use super::AuditError;

/// The environment variable naming the backend the audit tests run on.
pub const TEST_DATABASE_URL: &str = "MCP_GATEWAY_TEST_DATABASE_URL";

/// A database that exists for one test with nothing in it (the gateway migrates it when it opens
/// it), removed when dropped.
pub struct TestDatabase {
    url: String,
    _cleanup: Cleanup,
}

/// What to remove when the test ends.
enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // Drop runs inside the test's runtime, which cannot be blocked on: the database is
                // dropped from a thread with a runtime of its own, waited for so none is left.
                let (admin_url, database) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    runtime
                        .block_on(postgres::drop_database(&admin_url, &database))
                        .map_err(std::io::Error::other)
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop the test database {name}; drop it by hand");
                }
            }
        }
    }
}

impl TestDatabase {
    /// A new, empty database on the backend `MCP_GATEWAY_TEST_DATABASE_URL` names (SQLite when
    /// unset).
    pub async fn create() -> Result<Self, AuditError> {
        let base = std::env::var(TEST_DATABASE_URL).unwrap_or_default();
        let scheme = base.split_once(':').map_or(base.as_str(), |(scheme, _)| scheme);
        let (url, cleanup) = match scheme {
            "" | "sqlite" => {
                let path = std::env::temp_dir().join(format!("mcp-gateway-test-{}.db", unique()));
                (format!("sqlite://{}", path.display()), Cleanup::SqliteFile(path))
            }
            "postgres" | "postgresql" => {
                let name = format!("mcp_gateway_test_{}", unique());
                let url = postgres::create_database(&base, &name).await?;
                (url, Cleanup::PostgresDatabase { admin_url: base, name })
            }
            other => return Err(AuditError::UnsupportedUrl(format!("{other}:"))),
        };
        Ok(Self { url, _cleanup: cleanup })
    }

    /// [`TestDatabase::create`] for tests, where a database that cannot be made is a broken setup.
    pub async fn fresh() -> Self {
        match Self::create().await {
            Ok(database) => database,
            Err(error) => panic!("cannot create a test database (check {TEST_DATABASE_URL}): {error}"),
        }
    }

    /// The URL, for the log or the program under test to open.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the database is a PostgreSQL one.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

/// 64 random bits in lowercase hex: a name no other test (or run) picks.
fn unique() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    protocol::hex(&bytes)
}

/// Making and dropping a database of one's own on a PostgreSQL server.
pub mod postgres {
    use sqlx::{Connection, PgConnection};

    use crate::audit::AuditError;

    /// Creates the database `name` on the server `admin_url` connects to, and returns the URL of
    /// the new database (the same server, user and options).
    pub async fn create_database(admin_url: &str, name: &str) -> Result<String, AuditError> {
        let mut url = url::Url::parse(admin_url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        let mut admin = PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {}", quote(name))).execute(&mut admin).await?;
        admin.close().await?;
        url.set_path(name);
        Ok(url.to_string())
    }

    /// Drops the database `name`, ending the connections still open to it.
    pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), AuditError> {
        let mut admin = PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(name)))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(())
    }

    /// An identifier as PostgreSQL reads it literally.
    fn quote(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}
