//! A fresh database for each test, on the backend the environment names.
//!
//! Set `MCP_AUTH_TEST_DATABASE_URL` to run every test that gets its store from here (the store
//! contract suite in `auth/tests/store/`, and the unit tests that need a store) against another
//! backend. Unset, or any `sqlite:` URL, each test gets its own SQLite file in the temporary
//! directory (a file, not `sqlite::memory:`, because an in-memory database has one connection and
//! would serialise the concurrency tests into proving nothing), deleted when the test ends.
//! A `postgres:` URL names a server and a database to connect to first
//! (`postgres://postgres@127.0.0.1:5432/test`): each test gets a database of its own, created
//! there, migrated, and dropped (with whatever connections are left) when the test ends.

use std::path::PathBuf;

use super::{Store, StoreError};

/// The environment variable naming the backend tests run on.
pub const TEST_DATABASE_URL: &str = "MCP_AUTH_TEST_DATABASE_URL";

/// A database that exists for one test, migrated and empty, removed when dropped.
pub struct TestDatabase {
    url: String,
    store: Store,
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
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                    runtime.block_on(postgres::drop_database(&admin_url, &database))
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop the test database {name}; drop it by hand");
                }
            }
        }
    }
}

/// A database that exists for one test with nothing in it, not even the schema: for tests of
/// migrating. Removed when dropped.
pub struct EmptyTestDatabase {
    url: String,
    _cleanup: Cleanup,
}

impl EmptyTestDatabase {
    /// A new, empty database on the backend `MCP_AUTH_TEST_DATABASE_URL` names.
    pub async fn create() -> Result<Self, StoreError> {
        let base = std::env::var(TEST_DATABASE_URL).unwrap_or_default();
        let scheme = base.split_once(':').map_or(base.as_str(), |(scheme, _)| scheme);
        let (url, cleanup) = match scheme {
            "" | "sqlite" => {
                let path =
                    std::env::temp_dir().join(format!("mcp-auth-test-{}.db", crate::random::short_id()));
                (format!("sqlite://{}", path.display()), Cleanup::SqliteFile(path))
            }
            "postgres" | "postgresql" => {
                let name =
                    format!("mcp_auth_test_{}", crate::random::short_id().to_lowercase().replace('-', "_"));
                let url = postgres::create_database(&base, &name).await?;
                (url, Cleanup::PostgresDatabase { admin_url: base, name })
            }
            other => return Err(StoreError::UnsupportedUrl(format!("{other}:"))),
        };
        Ok(Self { url, _cleanup: cleanup })
    }

    /// The URL, for the program under test.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl TestDatabase {
    /// A new database on the backend `MCP_AUTH_TEST_DATABASE_URL` names (SQLite when unset),
    /// migrated.
    pub async fn create() -> Result<Self, StoreError> {
        let EmptyTestDatabase { url, _cleanup } = EmptyTestDatabase::create().await?;
        let store = Store::connect(&url).await?;
        Ok(Self { url, store, _cleanup })
    }

    /// [`TestDatabase::create`] for tests, where a database that cannot be made is a broken setup.
    pub async fn fresh() -> Self {
        match Self::create().await {
            Ok(database) => database,
            Err(error) => panic!("cannot create a test database (check {TEST_DATABASE_URL}): {error}"),
        }
    }

    /// The URL, for a server under test to open the same database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store on it.
    pub fn store(&self) -> Store {
        self.store.clone()
    }
}

/// Lets a test pass `&database` wherever a `&Store` is wanted.
impl std::ops::Deref for TestDatabase {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// Making and dropping a database of one's own on a PostgreSQL server.
pub mod postgres {
    use sqlx::{Connection, PgConnection};

    use crate::store::StoreError;

    /// Creates the database `name` on the server `admin_url` connects to, and returns the URL of
    /// the new database (the same server, user and options).
    pub async fn create_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
        let mut url = url::Url::parse(admin_url)
            .map_err(|e| StoreError::Invalid(format!("not a database URL: {e}")))?;
        let mut admin = PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {}", quote(name))).execute(&mut admin).await?;
        admin.close().await?;
        url.set_path(name);
        Ok(url.to_string())
    }

    /// Drops the database `name`, ending the connections still open to it.
    pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
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
