//! A fresh database for each test, on the backend the environment names.
//!
//! Set `MCP_AUTH_TEST_DATABASE_URL` to run every test that gets its store from here (the store
//! contract suite in `auth/tests/store/`, and the unit tests that need a store) against another
//! backend. Unset, or any `sqlite:` URL, each test gets its own SQLite file in the temporary
//! directory (a file, not `sqlite::memory:`, because an in-memory database has one connection and
//! would serialise the concurrency tests into proving nothing), deleted when the test ends.
//! A backend added later adds one arm to [`TestDatabase::create`]: make a database or schema of its
//! own for the test, and drop it in the guard.

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
        }
    }
}

impl TestDatabase {
    /// A new database on the backend `MCP_AUTH_TEST_DATABASE_URL` names (SQLite when unset).
    pub async fn create() -> Result<Self, StoreError> {
        let base = std::env::var(TEST_DATABASE_URL).unwrap_or_default();
        let scheme = base.split_once(':').map_or(base.as_str(), |(scheme, _)| scheme);
        match scheme {
            "" | "sqlite" => {
                let path =
                    std::env::temp_dir().join(format!("mcp-auth-test-{}.db", crate::random::short_id()));
                let url = format!("sqlite://{}", path.display());
                let cleanup = Cleanup::SqliteFile(path);
                let store = Store::connect(&url).await?;
                Ok(Self { url, store, _cleanup: cleanup })
            }
            other => Err(StoreError::UnsupportedUrl(format!("{other}:"))),
        }
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
