//! `mcp-gateway audit`, the built binary, against a database the gateway's `AuditLog` filled, on
//! the backend `MCP_GATEWAY_TEST_DATABASE_URL` names (SQLite when unset; see
//! `mcp_gateway::audit::testing`).

use std::process::{Command, Output};

use mcp_gateway::audit::testing::TestDatabase;
use mcp_gateway::audit::{AuditLog, Decision, Outcome};
use serde_json::Value;

fn decision(user: &str, tool: &str, outcome: Outcome, at_ms: i64) -> Decision {
    Decision {
        at_ms,
        request_id: format!("request-{at_ms}"),
        user: user.to_owned(),
        client_id: "agent".to_owned(),
        client_address: Some(format!("203.0.113.{}", at_ms / 1000)),
        upstream: Some("notes".to_owned()),
        tool: tool.to_owned(),
        arguments_sha256: Some(protocol::authorization_details::arguments_sha256(&serde_json::json!({}))),
        outcome,
        reason: (outcome == Outcome::Deny).then(|| "no permit".to_owned()),
        policy_ids: vec!["readers-read".to_owned()],
        policy_hash: "ab".repeat(32),
        approval_id: None,
        latency_us: 2_500,
    }
}

/// A database with three decisions: alice's allow at 1 s, bob's deny at 2 s, alice's at 3 s, from
/// 203.0.113.1, .2 and .3.
async fn filled() -> TestDatabase {
    let database = TestDatabase::fresh().await;
    let log = AuditLog::open(database.url()).await.unwrap();
    log.record(decision("alice", "notes__list_notes", Outcome::Allow, 1_000)).await.unwrap();
    log.record(decision("bob", "notes__delete_note", Outcome::Deny, 2_000)).await.unwrap();
    log.record(decision("alice", "notes__add_note", Outcome::ApprovalRequired, 3_000)).await.unwrap();
    log.close().await.unwrap();
    database
}

fn audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .arg("audit")
        .args(args)
        // The URL comes from the arguments, never from the environment the tests run in.
        .env_remove("MCP_GATEWAY_AUDIT_DATABASE_URL")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn audit_prints_a_table_newest_first() {
    let database = filled().await;
    let url = database.url();
    let table = stdout(&audit(&["--database-url", url]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("DECISION"), "{table}");
    assert!(lines[1].starts_with("1970-01-01T00:00:03.000Z  approval_required  alice"), "{table}");
    assert!(lines[2].starts_with("1970-01-01T00:00:02.000Z  deny               bob"), "{table}");
    assert!(lines[2].ends_with("no permit"), "{table}");
    assert!(lines[0].contains("ADDRESS") && lines[2].contains("  203.0.113.2  "), "{table}");
    assert!(lines[3].contains("notes__list_notes") && lines[3].contains("2.500 ms"), "{table}");

    let alice = stdout(&audit(&["--database-url", url, "--user", "alice", "--limit", "1"]));
    assert_eq!(alice.lines().count(), 2, "{alice}");
    assert!(alice.contains("notes__add_note"), "{alice}");
}

#[tokio::test]
async fn audit_json_prints_one_object_per_line() {
    let database = filled().await;
    let url = database.url();
    let text = stdout(&audit(&["--database-url", url, "--json"]));
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let times: Vec<&Value> = lines.iter().map(|line| &line["at_ms"]).collect();
    assert_eq!(times, [3_000, 2_000, 1_000]);
    assert_eq!(lines[1]["decision"], "deny");
    assert_eq!(lines[1]["user"], "bob");
    assert_eq!(lines[1]["reason"], "no permit");
    assert_eq!(lines[1]["client_address"], "203.0.113.2");
    assert_eq!(lines[1]["policy_ids"], serde_json::json!(["readers-read"]));

    let denied = stdout(&audit(&["--database-url", url, "--json", "--decision", "deny"]));
    assert_eq!(denied.lines().count(), 1, "{denied}");
    let recent = stdout(&audit(&["--database-url", url, "--json", "--since", "2"]));
    assert_eq!(recent.lines().count(), 2, "{recent}");
}

#[tokio::test]
async fn audit_of_a_database_without_the_log_says_so() {
    // A SQLite file not yet created, or an empty PostgreSQL database.
    let database = TestDatabase::fresh().await;
    let output = audit(&["--database-url", database.url()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no audit database at") || stderr.contains("is not an audit database"),
        "{stderr}"
    );
}

#[test]
fn audit_of_a_missing_sqlite_file_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing-here.db");
    let output = audit(&["--database-url", &format!("sqlite://{}", path.display())]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no audit database at") && stderr.contains("nothing-here.db"), "{stderr}");
    assert!(!path.exists(), "reading the audit trail must not create a database");
}

#[test]
fn audit_refuses_an_unknown_decision() {
    let output = audit(&["--decision", "permit"]);
    assert_eq!(output.status.code(), Some(2), "clap's status for a bad argument");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown decision"));
}

#[test]
fn audit_shows_no_password_of_a_database_url() {
    // A URL that cannot be used (no such sslmode) fails at once, and the error names it without it.
    let output = audit(&["--database-url", "postgres://gateway:hunter2@127.0.0.1:1/audit?sslmode=bogus"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("postgres://gateway:***@127.0.0.1:1/audit"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
