//! `mcp-gateway catalog update`: an upstream's current `tools/list` into the catalog, keeping the
//! operator's groups and scopes, saying what changed; the policy is then checked against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn demo(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo").join(file)
}

fn gateway(args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_upstreams_new_tool_list_is_merged_and_the_policy_checked_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    std::fs::copy(demo("catalog.json"), &catalog).unwrap();
    let path = catalog.to_str().unwrap();
    let current: Value = serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
    let tools = current["demo"]["tools"].clone();

    let (ok, stdout, stderr) =
        gateway(&["catalog", "update", path, "--upstream", "demo", "--tools", "-"], &tools.to_string());
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("unchanged"), "{stdout}");

    // The upstream dropped `whoami` and grew `format_disk`.
    let mut listed: Vec<Value> =
        tools.as_array().unwrap().iter().filter(|t| t["name"] != "whoami").cloned().collect();
    listed.push(json!({"name": "format_disk", "inputSchema": {"type": "object"}}));
    let listed = Value::Array(listed).to_string();
    let dry =
        gateway(&["catalog", "update", path, "--upstream", "demo", "--tools", "-", "--dry-run"], &listed);
    assert!(
        dry.0 && dry.1.contains("added    demo__format_disk") && dry.1.contains("removed  demo__whoami"),
        "{}",
        dry.1
    );
    let untouched = std::fs::read_to_string(demo("catalog.json")).unwrap();
    assert_eq!(std::fs::read_to_string(&catalog).unwrap(), untouched, "a dry run writes nothing");

    let (ok, stdout, stderr) =
        gateway(&["catalog", "update", path, "--upstream", "demo", "--tools", "-"], &listed);
    assert!(ok && stdout.contains("wrote"), "{stdout}{stderr}");
    let updated: Value = serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
    assert!(
        updated["demo"]["groups"].get("whoami").is_none()
            && updated["demo"]["scopes"].get("whoami").is_none()
    );
    assert_eq!(updated["demo"]["groups"]["delete_note"], "destructive", "the operator's groups stay");
    assert_eq!(updated["team"], current["team"], "other upstreams are untouched");

    let policy = demo("policy.cedar");
    let (ok, stdout, stderr) = gateway(&["policy", "check", policy.to_str().unwrap(), "--catalog", path], "");
    assert!(ok, "the demo policy names no removed tool: {stdout}{stderr}");
    assert!(stdout.contains("over 12 tools"), "{stdout}");

    let (ok, _, stderr) = gateway(&["catalog", "update", path, "--upstream", "demo", "--tools", "-"], "{}");
    assert!(!ok && stderr.contains("not a JSON array of MCP tools"), "{stderr}");
}
