//! The notes tools: each user's own notes, the scopes they need, what their annotations say, who
//! wrote a note, and that notes outlive a restart.

use protocol::jwt::AccessTokenClaims;
use serde_json::{Value, json};

use crate::helpers::{SPA_ORIGIN, TestIssuer, TestServer, challenge, spawn_server, spawn_server_with};

/// A stateless (2026-07-28) `tools/call` with `token`: the JSON-RPC answer, or the HTTP response
/// when it is not 200.
pub async fn call(
    server: &TestServer,
    token: &str,
    tool: &str,
    arguments: Value,
) -> Result<Value, reqwest::Response> {
    let response = server
        .http
        .post(format!("{}/mcp", server.address))
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", tool)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": tool, "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }}))
        .send()
        .await
        .unwrap();
    if response.status() != 200 {
        return Err(response);
    }
    Ok(response.json::<Value>().await.unwrap()["result"].clone())
}

/// A token of `sub` for the server with `scope`.
fn token_of(issuer: &TestIssuer, server: &TestServer, sub: &str, scope: &str) -> String {
    let claims = AccessTokenClaims { sub: sub.into(), ..issuer.claims(&server.resource, scope) };
    issuer.sign(&issuer.header(), &claims)
}

pub const BOTH: &str = "notes:read notes:write";

#[tokio::test]
async fn each_user_adds_lists_reads_and_deletes_only_their_own_notes() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let alice = token_of(&issuer, &server, "alice", BOTH);
    let bob = token_of(&issuer, &server, "bob", BOTH);

    let added =
        call(&server, &alice, "add_note", json!({"title": "Groceries", "body": "milk"})).await.unwrap();
    assert_eq!(added["isError"], Value::Null);
    let id = added["structuredContent"]["id"].as_i64().unwrap();
    assert_eq!(added["structuredContent"]["updated_by"], "client-1");

    let listed = call(&server, &alice, "list_notes", json!({})).await.unwrap();
    assert_eq!(listed["structuredContent"]["notes"][0]["title"], "Groceries");
    let read = call(&server, &alice, "read_note", json!({"id": id})).await.unwrap();
    assert_eq!(read["structuredContent"]["body"], "milk");

    // Bob sees nothing of it, and cannot delete it: his answers are those for a missing note.
    let bobs = call(&server, &bob, "list_notes", json!({})).await.unwrap();
    assert_eq!(bobs["structuredContent"]["notes"], json!([]));
    for tool in ["read_note", "delete_note"] {
        let refused = call(&server, &bob, tool, json!({"id": id})).await.unwrap();
        let missing = call(&server, &bob, tool, json!({"id": id + 1000})).await.unwrap();
        assert_eq!(refused["isError"], true, "{tool}");
        assert_eq!(
            refused["content"][0]["text"].as_str().unwrap().replace(&id.to_string(), "N"),
            missing["content"][0]["text"].as_str().unwrap().replace(&(id + 1000).to_string(), "N"),
            "no way to tell someone else's note from a missing one"
        );
    }

    let deleted = call(&server, &alice, "delete_note", json!({"id": id})).await.unwrap();
    assert_eq!(deleted["structuredContent"], json!({"deleted": id}));
    let again = call(&server, &alice, "delete_note", json!({"id": id})).await.unwrap();
    assert_eq!(again["isError"], true);
}

#[tokio::test]
async fn reading_needs_notes_read_and_changing_needs_notes_write() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let reader = token_of(&issuer, &server, "alice", "notes:read");
    assert!(call(&server, &reader, "list_notes", json!({})).await.is_ok());
    for (tool, arguments) in
        [("add_note", json!({"title": "t", "body": "b"})), ("delete_note", json!({"id": 1}))]
    {
        let refused = call(&server, &reader, tool, arguments).await.unwrap_err();
        assert_eq!(refused.status(), 403, "{tool}");
        let scope = challenge(&refused).scope.unwrap();
        assert!(scope.split(' ').any(|s| s == "notes:write"), "step up to notes:write: {scope}");
    }
    let writer = token_of(&issuer, &server, "alice", "notes:write");
    assert_eq!(call(&server, &writer, "read_note", json!({"id": 1})).await.unwrap_err().status(), 403);
}

#[tokio::test]
async fn bad_arguments_are_tool_errors() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = token_of(&issuer, &server, "alice", BOTH);
    for (tool, arguments) in [
        ("add_note", json!({"title": "", "body": "b"})),
        ("add_note", json!({"title": "x".repeat(201), "body": "b"})),
        ("add_note", json!({"title": "t", "body": "x".repeat(10_001)})),
        ("add_note", json!({"title": "t"})),
        ("add_note", json!({"title": "t", "body": "b", "owner": "bob"})),
        ("read_note", json!({"id": "1"})),
        ("delete_note", json!({})),
    ] {
        let result = call(&server, &token, tool, arguments.clone()).await.unwrap();
        assert_eq!(result["isError"], true, "{tool} {arguments}");
    }
}

#[tokio::test]
async fn the_tools_say_what_they_do_and_a_note_names_the_gateway_it_came_through() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let listed = server
        .http
        .post(format!("{}/mcp", server.address))
        .bearer_auth(token_of(&issuer, &server, "alice", BOTH))
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let annotations = |name: &str| {
        listed["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["annotations"].clone()
    };
    assert_eq!(annotations("list_notes")["readOnlyHint"], true);
    assert_eq!(annotations("read_note")["readOnlyHint"], true);
    assert_eq!(
        (annotations("add_note")["readOnlyHint"].clone(), annotations("add_note")["destructiveHint"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(annotations("delete_note")["destructiveHint"], true);

    let relayed = issuer.exchanged_token(&server.resource, BOTH, &["relay", "gateway"]);
    let added =
        call(&server, &relayed, "add_note", json!({"title": "From the agent", "body": ""})).await.unwrap();
    assert_eq!(added["structuredContent"]["updated_by"], "client-1 via gateway via relay");
}

#[tokio::test]
async fn notes_outlive_a_restart_of_the_server() {
    let issuer = TestIssuer::start().await;
    let path = std::env::temp_dir().join(format!("mcp-server-notes-{}.db", std::process::id()));
    let settings = || mcp_server::config::Settings {
        database_url: format!("sqlite://{}", path.display()),
        ..mcp_server::config::Settings::for_tests(&issuer.issuer, SPA_ORIGIN)
    };
    let server = spawn_server_with(settings()).await;
    let token = token_of(&issuer, &server, "alice", BOTH);
    let added =
        call(&server, &token, "add_note", json!({"title": "Keep me", "body": "please"})).await.unwrap();
    let id = added["structuredContent"]["id"].as_i64().unwrap();
    drop(server);

    let restarted = spawn_server_with(settings()).await;
    let token = token_of(&issuer, &restarted, "alice", BOTH);
    let read = call(&restarted, &token, "read_note", json!({"id": id})).await.unwrap();
    assert_eq!(read["structuredContent"]["title"], "Keep me");
    drop(restarted);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn a_token_bound_to_one_approved_call_is_good_for_that_call_only() {
    use protocol::authorization_details::{AuthorizationDetail, MCP_TOOL_CALL, TOOLS_CALL, arguments_sha256};
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let alice = token_of(&issuer, &server, "alice", BOTH);
    let first = call(&server, &alice, "add_note", json!({"title": "a", "body": ""})).await.unwrap();
    let second = call(&server, &alice, "add_note", json!({"title": "b", "body": ""})).await.unwrap();
    let (first, second) = (
        first["structuredContent"]["id"].as_i64().unwrap(),
        second["structuredContent"]["id"].as_i64().unwrap(),
    );

    // What a person approved: deleting the first note, at this server.
    let approved = json!({"id": first});
    let detail = AuthorizationDetail {
        type_: MCP_TOOL_CALL.into(),
        locations: vec![server.resource.clone()],
        actions: vec![TOOLS_CALL.into()],
        identifier: Some("delete_note".into()),
        arguments_sha256: Some(arguments_sha256(&approved)),
        arguments_summary: None,
    };
    let claims = AccessTokenClaims {
        sub: "alice".into(),
        authorization_details: Some(vec![detail]),
        ..issuer.claims(&server.resource, BOTH)
    };
    let bound = issuer.sign(&issuer.header(), &claims);
    let answer = |tool: &'static str, arguments: Value| {
        let (server, bound) = (&server, bound.clone());
        async move {
            let response = server
                .http
                .post(format!("{}/mcp", server.address))
                .bearer_auth(bound)
                .header("MCP-Protocol-Version", "2026-07-28")
                .header("Mcp-Method", "tools/call")
                .header("Mcp-Name", tool)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "name": tool, "arguments": arguments,
                    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                              "io.modelcontextprotocol/clientCapabilities": {}}}}))
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    for (tool, arguments) in [
        ("delete_note", json!({"id": second})),
        ("add_note", json!({"title": "c", "body": ""})),
        ("list_notes", json!({})),
    ] {
        let refused = answer(tool, arguments).await;
        assert_eq!(refused["error"]["code"], -32600, "{tool}: {refused}");
    }
    let done = answer("delete_note", approved.clone()).await;
    assert_eq!(done["result"]["structuredContent"]["deleted"], first, "{done}");
    // Once: a copy of the token cannot make the approved call again while it lives.
    let replayed = answer("delete_note", approved).await;
    assert_eq!(replayed["error"]["code"], -32600, "{replayed}");
}
