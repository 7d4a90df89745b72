//! `/mcp`: the Streamable HTTP transport in both forms, behind bearer authorization.

use protocol::error::ErrorCode;
use serde_json::{Value, json};

use crate::helpers::{TestIssuer, TestServer, challenge, spawn_server};

const SESSION: &str = "mcp-session-id";

struct Mcp {
    issuer: TestIssuer,
    server: TestServer,
    token: String,
}

async fn setup(scope: &str) -> Mcp {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = issuer.token(&server.resource, scope);
    Mcp { issuer, server, token }
}

impl Mcp {
    fn post(&self, body: Value) -> reqwest::RequestBuilder {
        self.server
            .http
            .post(format!("{}/mcp", self.server.address))
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .json(&body)
    }

    /// initialize + notifications/initialized; returns the session id.
    async fn open_session(&self) -> String {
        let response = self
            .post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()[SESSION].to_str().unwrap().to_owned();
        let initialized = self
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .header(SESSION, &session)
            .header("MCP-Protocol-Version", "2025-11-25")
            .send()
            .await
            .unwrap();
        assert_eq!(initialized.status(), 202);
        session
    }

    async fn call(&self, session: &str, body: Value) -> reqwest::Response {
        self.post(body)
            .header(SESSION, session)
            .header("MCP-Protocol-Version", "2025-11-25")
            .send()
            .await
            .unwrap()
    }

    /// A stateless (2026-07-28) request with correct headers and `_meta`.
    fn stateless(&self, method: &str, id: i64, mut params: Value) -> reqwest::RequestBuilder {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        });
        let name = params.get("name").and_then(Value::as_str).map(str::to_owned);
        let mut request = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", method);
        if let Some(name) = name {
            request = request.header("Mcp-Name", name);
        }
        request
    }
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn without_a_token_mcp_answers_401_with_the_challenge() {
    let mcp = setup("echo").await;
    let response = mcp
        .server
        .http
        .post(format!("{}/mcp", mcp.server.address))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = challenge(&response);
    assert_eq!(challenge.scope.as_deref(), Some("echo"));
    assert!(challenge.resource_metadata.is_some());
    let prm = mcp
        .server
        .http
        .get(format!("{}/.well-known/oauth-protected-resource/mcp", mcp.server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(prm.status(), 200, "the path-inserted metadata exists for /mcp");
}

/// MCP 2025-03-26 (transports): the body of a `POST` may be a JSON-RPC batch, which a server
/// MUST accept. Each element is answered as if alone; notifications get nothing; `initialize` in
/// a batch is refused; a batch of notifications alone is `202`; a step-up answers the batch.
#[tokio::test]
async fn a_2025_03_26_session_may_send_batches() {
    let mcp = setup("echo").await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let initialize_again = initialize.clone();
    let opened = mcp.post(initialize.clone()).send().await.unwrap();
    let session = opened.headers()[SESSION].to_str().unwrap().to_owned();
    assert_eq!(body(opened).await["result"]["protocolVersion"], "2025-03-26");
    // 2025-03-26 had no version header: a client of it sends none.
    let send = |batch: Value| mcp.post(batch).header(SESSION, &session).send();

    let initialized = send(json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}])).await.unwrap();
    assert_eq!(initialized.status(), 202);
    assert!(initialized.bytes().await.unwrap().is_empty());

    let answered = send(json!([
        {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "one"}}},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "x"}},
        {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "two"}}},
        {"jsonrpc": "2.0", "id": "c", "method": "nope"},
        initialize,
        {"id": "e", "method": "ping"},
    ]))
    .await
    .unwrap();
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.headers()["content-type"], "application/json");
    let answers = body(answered).await;
    let answers = answers.as_array().unwrap();
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!("a"), &json!("b"), &json!("c"), &json!(1), &json!("e")]);
    assert_eq!(answers[0]["result"]["content"][0]["text"], "one");
    assert_eq!(answers[1]["result"]["content"][0]["text"], "two");
    assert_eq!(answers[2]["error"]["code"], -32601);
    assert_eq!(answers[3]["error"]["code"], -32600, "initialize must not be batched");
    assert_eq!(answers[4]["error"]["code"], -32600, "not JSON-RPC 2.0");

    // whoami needs the profile scope this token lacks: the challenge is the whole answer.
    let step_up = send(json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
    ]))
    .await
    .unwrap();
    assert_eq!(step_up.status(), 403);
    assert_eq!(challenge(&step_up).scope.as_deref(), Some("echo profile"));

    // The batch names its session: without one, or with another's version, it is refused.
    let without = mcp.post(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])).send().await.unwrap();
    assert_eq!(without.status(), 400);
    let opening = mcp.post(json!([initialize_again])).send().await.unwrap();
    assert_eq!(opening.status(), 400);
    assert_eq!(body(opening).await["error"]["code"], -32600, "initialize is sent alone");
    let saying_newer = mcp
        .post(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]))
        .header(SESSION, &session)
        .header("MCP-Protocol-Version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(saying_newer.status(), 400);
    assert_eq!(body(saying_newer).await["error"]["code"], -32600);
}

/// A batch whose calls need more scope than the token has is answered with one step-up for all
/// of them before any runs: the note the batch adds before its `whoami` is not added, so a client
/// that steps up and sends the batch again adds it once.
#[tokio::test]
async fn a_step_up_in_a_2025_03_26_batch_is_found_before_any_call_runs() {
    let mcp = setup("notes:read notes:write").await;
    let opened = mcp
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    let session = opened.headers()[SESSION].to_str().unwrap().to_owned();
    let send = |batch: Value| mcp.post(batch).header(SESSION, &session).send();
    let call = |id: i64, name: &str, arguments: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}});

    let step_up = send(json!([
        call(1, "add_note", json!({"title": "once", "body": "only once"})),
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
        call(3, "whoami", json!({})),
        call(4, "echo", json!({"text": "and echo"})),
    ]))
    .await
    .unwrap();
    assert_eq!(step_up.status(), 403);
    let challenge = challenge(&step_up);
    assert_eq!(challenge.error, Some(ErrorCode::InsufficientScope));
    let asked = protocol::scope::Scopes::parse(challenge.scope.as_deref().unwrap()).unwrap();
    assert_eq!(asked, protocol::scope::Scopes::parse("notes:read notes:write profile echo").unwrap());

    let listed = send(json!([call(5, "list_notes", json!({}))])).await.unwrap();
    assert_eq!(listed.status(), 200);
    let listed = body(listed).await;
    assert_eq!(listed[0]["result"]["structuredContent"]["notes"], json!([]), "nothing ran: {listed}");
}

#[tokio::test]
async fn initialize_negotiates_the_version_and_opens_a_session() {
    let mcp = setup("echo").await;
    for (asked, answered) in [("2025-06-18", "2025-06-18"), ("1999-01-01", "2025-11-25")] {
        let response = mcp
            .post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
            .send()
            .await
            .unwrap();
        let session = response.headers()[SESSION].to_str().unwrap().to_owned();
        assert!(session.len() >= 32 && session.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        let body = body(response).await;
        assert_eq!(body["result"]["protocolVersion"], answered);
        assert_eq!(body["result"]["capabilities"]["tools"]["listChanged"], false);
        assert!(body["result"]["serverInfo"]["name"].is_string());
    }
}

#[tokio::test]
async fn tools_are_listed_and_called_within_a_session() {
    let mcp = setup("echo").await;
    let session = mcp.open_session().await;
    let ping = body(mcp.call(&session, json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).await).await;
    assert_eq!(ping["result"], json!({}));

    let list =
        body(mcp.call(&session, json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})).await).await;
    let names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "whoami", "list_notes", "read_note", "add_note", "delete_note"]);

    let call = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}});
    let result = body(mcp.call(&session, call).await).await;
    assert_eq!(result["id"], 4);
    assert_eq!(result["result"]["content"], json!([{"type": "text", "text": "hi"}]));

    let unknown = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "nope", "arguments": {}}});
    assert_eq!(body(mcp.call(&session, unknown).await).await["error"]["code"], -32602);
    let method = json!({"jsonrpc": "2.0", "id": 6, "method": "sampling/createMessage"});
    assert_eq!(body(mcp.call(&session, method).await).await["error"]["code"], -32601);

    // Lists have one page and no cursors: a cursor is one this server never issued.
    let paged = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"cursor": "2"}});
    assert_eq!(body(mcp.call(&session, paged).await).await["error"]["code"], -32602);
    // The capabilities promise resources and prompts (none listed): unknown ones, not unknown methods.
    let read = json!({"jsonrpc": "2.0", "id": 8, "method": "resources/read", "params": {"uri": "file:///x"}});
    assert_eq!(body(mcp.call(&session, read).await).await["error"]["code"], -32002);
    let prompt = json!({"jsonrpc": "2.0", "id": 9, "method": "prompts/get", "params": {"name": "p"}});
    assert_eq!(body(mcp.call(&session, prompt).await).await["error"]["code"], -32602);
}

#[tokio::test]
async fn a_tool_needing_more_scope_answers_403_naming_the_union_for_step_up() {
    let mcp = setup("echo").await;
    let session = mcp.open_session().await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}});
    let response = mcp.call(&session, call).await;
    assert_eq!(response.status(), 403);
    let challenge = challenge(&response);
    assert_eq!(challenge.error, Some(ErrorCode::InsufficientScope));
    assert_eq!(challenge.scope.as_deref(), Some("echo profile"));
}

#[tokio::test]
async fn sessions_are_required_bound_to_their_owner_and_end_with_delete() {
    let mcp = setup("echo").await;
    let session = mcp.open_session().await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});

    let missing = mcp.post(list.clone()).header("MCP-Protocol-Version", "2025-11-25").send().await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(mcp.call("no-such-session", list.clone()).await.status(), 404);

    // Another user's token cannot ride on this session.
    let mut other = mcp.issuer.claims(&mcp.server.resource, "echo");
    other.sub = "someone-else".into();
    let intruder = mcp.issuer.sign(&mcp.issuer.header(), &other);
    let stolen = mcp
        .server
        .http
        .post(format!("{}/mcp", mcp.server.address))
        .bearer_auth(intruder)
        .header(SESSION, &session)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 404);

    let delete = mcp
        .server
        .http
        .delete(format!("{}/mcp", mcp.server.address))
        .bearer_auth(&mcp.token)
        .header(SESSION, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(mcp.call(&session, list).await.status(), 404);
}

/// `--sessions-per-user`: the user's least recently used session gives way to their newest, and
/// another user's sessions are not touched.
#[tokio::test]
async fn a_user_holds_at_most_sessions_per_user_sessions() {
    let issuer = TestIssuer::start().await;
    let settings = mcp_server::config::Settings {
        sessions_per_user: 2,
        ..mcp_server::config::Settings::for_tests(&issuer.issuer, crate::helpers::SPA_ORIGIN)
    };
    let server = crate::helpers::spawn_server_with(settings).await;
    let alice = issuer.token(&server.resource, "echo");
    let mut bob = issuer.claims(&server.resource, "echo");
    bob.sub = "bob".into();
    let bob = issuer.sign(&issuer.header(), &bob);
    let mut mcp = Mcp { issuer, server, token: bob.clone() };
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});

    let bobs = mcp.open_session().await;
    mcp.token = alice;
    let first = mcp.open_session().await;
    let second = mcp.open_session().await;
    assert_eq!(mcp.call(&first, list.clone()).await.status(), 200);
    let third = mcp.open_session().await;
    assert_eq!(mcp.call(&second, list.clone()).await.status(), 404, "the least recently used gave way");
    for live in [&first, &third] {
        assert_eq!(mcp.call(live, list.clone()).await.status(), 200);
    }
    mcp.token = bob;
    assert_eq!(mcp.call(&bobs, list).await.status(), 200, "another user's session stays");
}

#[tokio::test]
async fn transport_errors_get_the_right_status_and_json_rpc_code() {
    let mcp = setup("echo").await;
    let session = mcp.open_session().await;
    let bad_version = mcp
        .post(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .header(SESSION, &session)
        .header("MCP-Protocol-Version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_version.status(), 400);

    let url = format!("{}/mcp", mcp.server.address);
    let parse = mcp
        .server
        .http
        .post(&url)
        .bearer_auth(&mcp.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(parse.status(), 400);
    assert_eq!(body(parse).await["error"]["code"], -32700);

    // Batches are 2025-03-26's alone (a 2025-03-26 session's are below).
    let session = mcp.open_session().await;
    let batch = mcp.call(&session, json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])).await;
    assert_eq!(batch.status(), 400);
    assert_eq!(body(batch).await["error"]["code"], -32600);
    let empty = mcp.call(&session, json!([])).await;
    assert_eq!(empty.status(), 400);
    assert_eq!(body(empty).await["error"]["code"], -32600, "an empty batch is one error, not an array");

    let text = mcp
        .server
        .http
        .post(&url)
        .bearer_auth(&mcp.token)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);

    let get = mcp.server.http.get(&url).bearer_auth(&mcp.token).send().await.unwrap();
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn a_foreign_host_or_origin_is_refused_before_anything_else() {
    let mcp = setup("echo").await;
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}});
    let host = mcp.post(request.clone()).header("Host", "evil.example.com").send().await.unwrap();
    assert_eq!(host.status(), 403);
    let origin = mcp.post(request).header("Origin", "http://evil.example.com").send().await.unwrap();
    assert_eq!(origin.status(), 403);
}

#[tokio::test]
async fn the_stateless_form_discovers_and_calls_without_a_session() {
    let mcp = setup("echo").await;
    let discover = mcp.stateless("server/discover", 1, json!({})).send().await.unwrap();
    assert_eq!(discover.status(), 200);
    assert!(discover.headers().get(SESSION).is_none());
    let discover = body(discover).await;
    assert_eq!(discover["result"]["resultType"], "complete");
    assert!(discover["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert!(discover["result"]["ttlMs"].is_u64() && discover["result"]["cacheScope"] == "private");

    let call = body(
        mcp.stateless("tools/call", 2, json!({"name": "echo", "arguments": {"text": "stateless"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(call["result"]["content"][0]["text"], "stateless");
    assert_eq!(call["result"]["resultType"], "complete");

    let paged = mcp.stateless("tools/list", 3, json!({"cursor": "2"})).send().await.unwrap();
    assert_eq!(paged.status(), 200);
    assert_eq!(body(paged).await["error"]["code"], -32602);
    // A notification names its method in Mcp-Method like a request, or is refused.
    let notification =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}});
    let send = |method: Option<&str>| {
        let mut request = mcp.post(notification.clone()).header("MCP-Protocol-Version", "2026-07-28");
        if let Some(method) = method {
            request = request.header("Mcp-Method", method);
        }
        request.send()
    };
    assert_eq!(send(Some("notifications/cancelled")).await.unwrap().status(), 202);
    for wrong in [None, Some("tools/call")] {
        let refused = send(wrong).await.unwrap();
        assert_eq!(refused.status(), 400, "{wrong:?}");
        assert_eq!(body(refused).await["error"]["code"], -32020, "{wrong:?}");
    }
    // 2026-07-28 withdrew -32002: an unknown resource is -32602.
    let read =
        mcp.stateless("resources/read", 4, json!({"uri": "file:///x"})).header("Mcp-Name", "file:///x");
    assert_eq!(body(read.send().await.unwrap()).await["error"]["code"], -32602);
}

#[tokio::test]
async fn the_stateless_form_checks_meta_headers_and_versions_in_order() {
    let mcp = setup("echo").await;
    let raw = |body: Value, headers: &[(&str, &str)]| {
        let mut request = mcp.post(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let meta = |version: &str| json!({"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}});
    let stateless_headers = [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/list")];

    let no_meta =
        raw(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}), &stateless_headers)
            .await
            .unwrap();
    assert_eq!(
        (no_meta.status().as_u16(), body(no_meta).await["error"]["code"].clone()),
        (400, json!(-32602))
    );

    let mismatch = raw(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta("v999")}}),
        &stateless_headers,
    )
    .await
    .unwrap();
    assert_eq!(
        (mismatch.status().as_u16(), body(mismatch).await["error"]["code"].clone()),
        (400, json!(-32020))
    );

    let unsupported = raw(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta("v999")}}),
        &[("MCP-Protocol-Version", "v999"), ("Mcp-Method", "tools/list")],
    )
    .await
    .unwrap();
    assert_eq!(unsupported.status(), 400);
    let unsupported = body(unsupported).await;
    assert_eq!(unsupported["error"]["code"], -32022);
    assert_eq!(unsupported["error"]["data"]["requested"], "v999");
    assert_eq!(unsupported["id"], 3);

    // A session revision in `_meta` is no stateless request: it keeps its revision's rules, and
    // without `initialize` and a session that is 400, not a result (nor `resultType`).
    let session_revision = raw(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta("2025-11-25")}}),
        &[("MCP-Protocol-Version", "2025-11-25"), ("Mcp-Method", "tools/list")],
    )
    .await
    .unwrap();
    assert_eq!(session_revision.status(), 400);
    let session_revision = body(session_revision).await;
    assert!(session_revision.get("result").is_none(), "{session_revision}");
    assert!(session_revision["error"]["message"].as_str().unwrap().contains("Mcp-Session-Id"));

    let wrong_method = raw(
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": meta("2026-07-28")}}),
        &[("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "TOOLS/LIST")],
    )
    .await
    .unwrap();
    assert_eq!(
        (wrong_method.status().as_u16(), body(wrong_method).await["error"]["code"].clone()),
        (400, json!(-32020))
    );
    let twice =
        mcp.stateless("tools/list", 4, json!({})).header("Mcp-Method", "prompts/list").send().await.unwrap();
    assert_eq!(twice.status(), 400, "a repeated Mcp-Method is refused");

    let wrong_name = mcp
        .stateless("tools/call", 5, json!({"name": "echo", "arguments": {"text": "x"}}))
        .header("Mcp-Name", "whoami")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (wrong_name.status().as_u16(), body(wrong_name).await["error"]["code"].clone()),
        (400, json!(-32020))
    );

    for removed in ["initialize", "ping", "unknown/method"] {
        let response = mcp.stateless(removed, 6, json!({})).send().await.unwrap();
        assert_eq!(response.status(), 404, "{removed}");
        assert_eq!(body(response).await["error"]["code"], -32601);
    }
}

#[tokio::test]
async fn a_token_from_a_token_exchange_is_accepted_and_whoami_names_its_actors() {
    let mut mcp = setup("echo profile").await;
    mcp.token = mcp.issuer.exchanged_token(&mcp.server.resource, "echo profile", &["gateway"]);
    let call = body(
        mcp.stateless("tools/call", 1, json!({"name": "whoami", "arguments": {}})).send().await.unwrap(),
    )
    .await;
    let about = &call["result"]["structuredContent"];
    assert_eq!((about["subject"].clone(), about["actors"].clone()), (json!("user-1"), json!(["gateway"])));
    let text = call["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("presented by gateway"), "{text}");

    // The user's own client presenting its token: no actors.
    mcp.token = mcp.issuer.token(&mcp.server.resource, "echo profile");
    let call = body(
        mcp.stateless("tools/call", 2, json!({"name": "whoami", "arguments": {}})).send().await.unwrap(),
    )
    .await;
    assert_eq!(call["result"]["structuredContent"]["actors"], json!([]));
}
