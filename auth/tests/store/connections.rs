//! The pool's connections: one the database ended while it sat idle (a restart, a failover, a
//! firewall's idle cut) is replaced before a request gets it, though the pool no longer checks
//! every connection it hands out (`CHECK_IF_IDLE_FOR` in the PostgreSQL backend).

use std::time::Duration;

use mcp_auth::store::testing::TestDatabase;
use sqlx::{Connection, PgConnection};

/// Longer than the PostgreSQL backend's `CHECK_IF_IDLE_FOR` (1 s).
const IDLE: Duration = Duration::from_millis(1_500);

#[tokio::test]
async fn a_connection_ended_while_idle_is_replaced_before_a_request_uses_it() {
    let database = TestDatabase::fresh().await;
    if !database.url().starts_with("postgres") {
        eprintln!("skipped: SQLite's connections are threads of this process, which no server ends");
        return;
    }
    // A statement, so the pool holds a connection that has been used.
    assert!(database.find_client("nobody").await.unwrap().is_none());
    tokio::time::sleep(IDLE).await;

    let mut admin = PgConnection::connect(database.url()).await.unwrap();
    let ended: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'mcp-auth' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    assert!(!ended.is_empty() && ended.iter().all(|(ended,)| *ended), "the pool's connections were ended");

    // Every idle connection is now dead; the request still gets its answer.
    assert!(database.find_client("nobody").await.unwrap().is_none());
    assert!(database.find_client("nobody").await.unwrap().is_none());
}
