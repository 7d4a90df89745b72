//! Migrations as a deploy step: `mcp-auth migrate` applies what a database lacks, `--check` and
//! `serve --no-migrate` refuse a database that lacks any, and every command refuses a database a
//! newer build migrated. On the backend `MCP_AUTH_TEST_DATABASE_URL` names (SQLite when unset).

use std::process::{Command, Output};

use mcp_auth::config::Settings;
use mcp_auth::startup::Application;
use mcp_auth::store::Migrations;
use mcp_auth::store::testing::EmptyTestDatabase;

fn mcp_auth(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-auth"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("mcp-auth runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn settings(database_url: &str, migrations: Migrations) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        migrations,
        ..Settings::for_tests("http://127.0.0.1:9090")
    }
}

#[tokio::test]
async fn migrate_applies_what_is_missing_once_and_check_then_passes() {
    let database = EmptyTestDatabase::create().await.expect("a test database");
    let url = database.url();

    let check = mcp_auth(&["migrate", "--check"], url);
    assert!(!check.status.success(), "a database without the schema fails the check");
    assert!(text(&check.stderr).contains("run `mcp-auth migrate` first"), "{}", text(&check.stderr));

    let refused = Application::build(settings(url, Migrations::Check)).await;
    let error =
        format!("{:#}", refused.err().expect("serve --no-migrate refuses a database lacking migrations"));
    assert!(error.contains("lacks migrations"), "{error}");

    let first = mcp_auth(&["migrate"], url);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(stdout.contains("applied migration 1 ("), "{stdout}");
    assert!(stdout.contains("up to date"), "{stdout}");

    let again = mcp_auth(&["migrate"], url);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(!text(&again.stdout).contains("applied migration"), "nothing is applied twice");
    assert!(mcp_auth(&["migrate", "--check"], url).status.success());

    let app = Application::build(settings(url, Migrations::Check)).await.expect("a migrated database serves");
    drop(app);
}

#[tokio::test]
async fn serve_migrates_a_new_database_itself_unless_told_not_to() {
    let database = EmptyTestDatabase::create().await.expect("a test database");
    let app = Application::build(settings(database.url(), Migrations::Apply)).await.expect("serve migrates");
    drop(app);
    assert!(mcp_auth(&["migrate", "--check"], database.url()).status.success());
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_is_refused_by_every_command() {
    let database = EmptyTestDatabase::create().await.expect("a test database");
    let url = database.url();
    assert!(mcp_auth(&["migrate"], url).status.success());
    record_migration_from_the_future(url, 999_999).await;

    for args in [&["migrate"][..], &["migrate", "--check"], &["users", "list"]] {
        let output = mcp_auth(args, url);
        assert!(!output.status.success(), "mcp-auth {args:?} refuses");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("migration 999999, newer than this build knows"), "{args:?}: {stderr}");
    }
    for migrations in [Migrations::Apply, Migrations::Check] {
        let refused = Application::build(settings(url, migrations)).await;
        let error = format!("{:#}", refused.err().expect("serve refuses a newer schema"));
        assert!(error.contains("newer than this build knows"), "{error}");
    }
}

#[tokio::test]
async fn a_gateway_registered_before_exchange_targets_keeps_any_target_and_is_listed_as_such() {
    let database = EmptyTestDatabase::create().await.expect("a test database");
    let url = database.url();
    assert!(mcp_auth(&["migrate"], url).status.success());
    let gateway = ["--confidential", "--name", "Gateway", "--acts-for", "http://localhost:9100"];
    let app = ["--name", "App", "--redirect-uri", "http://127.0.0.1:8080/callback"];
    for (id, args) in [("old-gateway", &gateway[..]), ("app", &app)] {
        let added = mcp_auth(&[&["clients", "add", "--client-id", id][..], args].concat(), url);
        assert!(added.status.success(), "{}", text(&added.stderr));
    }
    // The database as the release before exchange targets left it, then migrated by this one.
    undo_migration(url, "exchange targets", "ALTER TABLE clients DROP COLUMN exchange_to").await;
    let migrated = mcp_auth(&["migrate"], url);
    assert!(text(&migrated.stdout).contains("(exchange targets)"), "{}", text(&migrated.stderr));
    let targets = ["--exchange-to", "http://localhost:9090"];
    let added =
        mcp_auth(&[&["clients", "add", "--client-id", "new-gateway"][..], &gateway, &targets].concat(), url);
    assert!(added.status.success(), "{}", text(&added.stderr));

    let listed = || text(&mcp_auth(&["clients", "list"], url).stdout);
    let line =
        |listed: &str, id: &str| listed.lines().find(|l| l.starts_with(id)).unwrap_or_default().to_owned();
    let before = listed();
    let old = line(&before, "old-gateway");
    assert!(old.ends_with("exchanges to ANY RESOURCE (registered before --exchange-to; mcp-auth clients exchange-to old-gateway <resource>…)"), "{before}");
    assert!(line(&before, "new-gateway").ends_with("exchanges to http://localhost:9090"), "{before}");
    assert!(!line(&before, "app").is_empty() && !line(&before, "app").contains("exchanges"), "{before}");

    // The operator names its resources, keeping the client (and its users' grants).
    let set = mcp_auth(&["clients", "exchange-to", "old-gateway", "http://localhost:9091"], url);
    assert!(
        text(&set.stdout).contains("old-gateway exchanges to http://localhost:9091"),
        "{}",
        text(&set.stderr)
    );
    assert!(line(&listed(), "old-gateway").ends_with("exchanges to http://localhost:9091"), "{}", listed());
    let refused = mcp_auth(&["clients", "exchange-to", "app", "http://localhost:9091"], url);
    assert!(
        !refused.status.success() && text(&refused.stderr).contains("acts for a resource"),
        "{}",
        text(&refused.stderr)
    );
}

/// Reverts the migration `description` with `sql` and forgets it was applied, as though the
/// database had been migrated by the release before it.
async fn undo_migration(url: &str, description: &str, sql: &str) {
    let forget = "DELETE FROM _sqlx_migrations WHERE description = $1";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("the database opens");
        sqlx::query(sql).execute(&pool).await.expect("reverted");
        let forgotten = sqlx::query(forget).bind(description).execute(&pool).await.expect("forgotten");
        assert_eq!(forgotten.rows_affected(), 1, "migration {description:?}");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("the database opens");
        sqlx::query(sql).execute(&pool).await.expect("reverted");
        let forgotten = sqlx::query(forget).bind(description).execute(&pool).await.expect("forgotten");
        assert_eq!(forgotten.rows_affected(), 1, "migration {description:?}");
        pool.close().await;
    }
}

/// Records `version` as applied, as a later release of mcp-auth would have.
async fn record_migration_from_the_future(url: &str, version: i64) {
    let insert = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                  VALUES ($1, 'from a later release', TRUE, $2, 0)";
    let checksum = vec![0u8; 48];
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("the database opens");
        sqlx::query(insert).bind(version).bind(checksum).execute(&pool).await.expect("recorded");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("the database opens");
        sqlx::query(insert).bind(version).bind(checksum).execute(&pool).await.expect("recorded");
        pool.close().await;
    }
}
