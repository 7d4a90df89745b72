//! The gateway as its clients see it, against the real authorization server and two real MCP
//! servers, with the demo catalog and policy: discovery from its `401`, tools listed as the
//! policy lets each user see them, calls that go through with a hop token (never the client's),
//! denials that look exactly like unknown tools, step-up for a missing scope, approvals given by
//! the person at the AS, both transport forms, and one audit record per decision.

use protocol::secret::AccessToken;
use reqwest::StatusCode;
use serde_json::{Value, json};

use e2e::headless::HeadlessUser;
use e2e::{ADMIN_PASSWORD, ADMIN_USER, Stack, StackOptions};
use mcp_gateway::audit::{Filter, Outcome};

async fn stack() -> Stack {
    Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap()
}

fn gateway(stack: &Stack) -> &e2e::GatewayStack {
    stack.gateway.as_ref().unwrap()
}

/// A token for the gateway through the real flow, from the gateway's own `401` (or `403`).
async fn token_from(user: &HeadlessUser, url: &str, response: &reqwest::Response) -> AccessToken {
    user.authorize_from_challenge(url, &e2e::challenge_of(response)).await.unwrap()
}

/// A session-form MCP client of the gateway.
struct Client {
    http: reqwest::Client,
    url: String,
    token: AccessToken,
    session: Option<String>,
    /// The session revision asked for in `initialize`, and sent on every later request.
    version: &'static str,
}

impl Client {
    async fn connect(url: &str, token: AccessToken, capabilities: Value) -> Self {
        Self::connect_as(url, token, capabilities, "2025-11-25").await
    }

    async fn connect_as(url: &str, token: AccessToken, capabilities: Value, version: &'static str) -> Self {
        let http = reqwest::Client::new();
        let mut client = Self { http, url: url.to_owned(), token, session: None, version };
        let (status, response, headers) = client
            .raw(
                "initialize",
                json!({"protocolVersion": version, "capabilities": capabilities,
                "clientInfo": {"name": "e2e", "version": "1"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{response}");
        assert_eq!(response["result"]["protocolVersion"], version, "{response}");
        client.session = Some(headers["mcp-session-id"].to_str().unwrap().to_owned());
        client
    }

    async fn raw(&self, method: &str, params: Value) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.secret())
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}));
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session).header("mcp-protocol-version", self.version);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
    }

    /// A `tools/call` in the session, as the HTTP response (for its status and headers).
    async fn send_call(&self, tool: &str, arguments: Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .bearer_auth(self.token.secret())
            .header("mcp-session-id", self.session.as_deref().unwrap())
            .header("mcp-protocol-version", self.version)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}}))
            .send()
            .await
            .unwrap()
    }

    async fn call(&self, tool: &str, arguments: Value) -> (StatusCode, Value) {
        let (status, body, _) = self.raw("tools/call", json!({"name": tool, "arguments": arguments})).await;
        (status, body)
    }

    async fn tool_names(&self) -> Vec<String> {
        let (status, body, _) = self.raw("tools/list", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Signs `user` in from the gateway's challenge and connects.
async fn connected(stack: &Stack, user: &HeadlessUser, capabilities: Value) -> Client {
    let url = format!("{}/mcp", gateway(stack).resource);
    let unauthorized = reqwest::Client::new().post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let token = token_from(user, &url, &unauthorized).await;
    Client::connect(&url, token, capabilities).await
}

fn claims(token: &AccessToken) -> Value {
    protocol::jwt::decode_unverified(token.secret()).unwrap().claims
}

#[tokio::test]
async fn a_client_discovers_the_gateway_signs_in_and_calls_a_tool_that_reaches_the_upstream_with_a_hop_token()
{
    let stack = stack().await;
    let url = format!("{}/mcp", gateway(&stack).resource);
    let unauthorized = reqwest::Client::new().post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let challenge = e2e::challenge_of(&unauthorized);
    assert_eq!(
        challenge.resource_metadata.as_deref(),
        Some(format!("{}/.well-known/oauth-protected-resource", gateway(&stack).resource).as_str())
    );
    // Least privilege: a first sign-in asks for what reading needs, not for writing.
    let asked = challenge.scope.clone().unwrap();
    assert!(asked.contains("notes:read") && !asked.contains("notes:write"), "{asked}");
    let metadata: Value =
        reqwest::get(challenge.resource_metadata.as_deref().unwrap()).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["resource"], gateway(&stack).resource.as_str());
    assert_eq!(metadata["authorization_servers"][0], stack.issuer.as_str());

    let user = HeadlessUser::new();
    let token = token_from(&user, &url, &unauthorized).await;
    assert_eq!(claims(&token)["aud"], gateway(&stack).resource.as_str());
    let client = Client::connect(&url, token.clone(), json!({})).await;

    let (status, body) = client.call("demo__echo", json!({"text": "through the gateway"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["content"][0]["text"], "through the gateway", "{body}");

    // The upstream saw the user, acting through the gateway: a hop token, not the client's.
    let (_, body) = client.call("demo__whoami", json!({})).await;
    let about = &body["result"]["structuredContent"];
    assert_eq!(about["subject"], claims(&token)["sub"], "{body}");
    assert_eq!(about["actors"], json!([e2e::GATEWAY_CLIENT]), "{body}");
    assert_eq!(about["scopes"], json!(["profile"]), "the hop token has the tool's scope only: {body}");
}

#[tokio::test]
async fn each_user_sees_the_tools_the_policy_would_let_them_call() {
    let stack = stack().await;
    let demo = connected(&stack, &HeadlessUser::new(), json!({})).await;
    let names = demo.tool_names().await;
    assert_eq!(
        names,
        ["demo__add_note", "demo__echo", "demo__list_notes", "demo__read_note", "demo__whoami"],
        "no deletes outside admins, no team upstream; adding is listed (a step-up away)"
    );
    let ada = connected(&stack, &HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD), json!({})).await;
    let names = ada.tool_names().await;
    assert!(names.contains(&"demo__delete_note".to_owned()), "{names:?}");
    assert!(names.contains(&"team__echo".to_owned()), "{names:?}");
}

/// The team upstream runs with `--require-actor mcp-gateway`: a user who signs in to it directly
/// gets a token it refuses, so its group rule at the gateway cannot be gone around.
#[tokio::test]
async fn an_upstream_that_requires_the_gateway_refuses_a_token_obtained_for_it_directly() {
    let stack = stack().await;
    let url = format!("{}/mcp", gateway(&stack).team_resource);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    let unauthorized = reqwest::Client::new().post(&url).json(&initialize).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let direct = token_from(&HeadlessUser::new(), &url, &unauthorized).await;
    assert!(claims(&direct).get("act").is_none());
    let refused = reqwest::Client::new()
        .post(&url)
        .bearer_auth(direct.secret())
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = e2e::challenge_of(&refused);
    assert_eq!(challenge.error, Some(protocol::error::ErrorCode::InvalidToken));
}

#[tokio::test]
async fn a_denied_tool_and_an_unknown_tool_get_byte_identical_errors() {
    let stack = stack().await;
    let client = connected(&stack, &HeadlessUser::new(), json!({})).await;
    let error_for = |tool: &'static str, arguments: Value| {
        let client = &client;
        async move {
            let mut response = client.send_call(tool, arguments).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.headers_mut().remove("x-request-id");
            response.headers_mut().remove("date");
            (format!("{:?}", response.headers()), response.bytes().await.unwrap())
        }
    };
    // The message names the tool, so compare calls of the same name: one the policy denies by its
    // arguments, the same one unknown to another user's upstream set is compared by shape below.
    let (headers, denied) = error_for("demo__echo", json!({"text": "my password is hunter2"})).await;
    let unknown_text = String::from_utf8(denied.to_vec()).unwrap().replace("demo__echo", "demo__nope");
    let (unknown_headers, unknown) = error_for("demo__nope", json!({})).await;
    assert_eq!(unknown_text.as_bytes(), &unknown[..], "argument denial = unknown tool");
    assert_eq!(headers, unknown_headers);
    let (_, delete_denied) = error_for("demo__delete_note", json!({"id": 1})).await;
    let (_, delete_unknown) = error_for("demo__delete_notes", json!({"id": 1})).await;
    assert_eq!(
        String::from_utf8(delete_denied.to_vec()).unwrap().replace("demo__delete_note", "X"),
        String::from_utf8(delete_unknown.to_vec()).unwrap().replace("demo__delete_notes", "X"),
        "a tool the policy hides is answered as if it did not exist"
    );
    let team_denied = error_for("team__echo", json!({"text": "hi"})).await.1;
    assert!(String::from_utf8_lossy(&team_denied).contains("Unknown tool: team__echo"));
}

/// MCP tools, "Error Handling": arguments that do not fit are a tool error the model can fix.
/// The tool is no secret to someone who sees it listed; to anyone else it stays unknown.
#[tokio::test]
async fn arguments_that_do_not_fit_a_visible_tool_are_a_tool_error_and_an_invisible_tool_stays_unknown() {
    let stack = stack().await;
    let client = connected(&stack, &HeadlessUser::new(), json!({})).await;
    let not_text = json!({"text": 987_654_321_123_i64});
    for (arguments, mentions) in
        [(not_text, "argument \"text\": expected String"), (json!({}), "\"text\" is missing")]
    {
        let (status, body) = client.call("demo__echo", arguments).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"]["isError"], true, "{body}");
        let text = body["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("Invalid arguments for demo__echo") && text.contains(mentions), "{text}");
    }
    let (_, hidden) = client.call("team__echo", json!({"text": 42})).await;
    assert_eq!(hidden["error"]["message"], "Unknown tool: team__echo", "{hidden}");

    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|(_, d)| d.outcome == Outcome::Deny), "{records:?}");
    let reasons: Vec<_> = records.iter().map(|(_, d)| d.reason.as_deref().unwrap_or_default()).collect();
    let told = reasons.iter().filter(|r| **r == "the arguments do not fit the tool's input schema").count();
    assert_eq!(told, 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("not listed to the caller")), "{reasons:?}");
    assert!(!format!("{records:?}").contains("987654321123"), "no argument values in the audit: {records:?}");
}

#[tokio::test]
async fn a_write_needs_the_write_scope_first_403_insufficient_scope_then_step_up() {
    let stack = stack().await;
    let user = HeadlessUser::new();
    let client = connected(&stack, &user, json!({})).await;
    let response = client.send_call("demo__add_note", json!({"title": "t", "body": "b"})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = e2e::challenge_of(&response);
    assert_eq!(challenge.error.as_ref().map(|e| e.as_str()), Some("insufficient_scope"));
    assert!(challenge.scope.as_deref().unwrap().contains("notes:write"));

    let stepped_up = token_from(&user, &client.url, &response).await;
    let client = Client::connect(&client.url, stepped_up, json!({})).await;
    let (status, body) = client.call("demo__add_note", json!({"title": "groceries", "body": "milk"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["result"]["isError"], true, "{body}");
    let (_, list) = client.call("demo__list_notes", json!({})).await;
    assert!(list.to_string().contains("groceries"), "{list}");
}

#[tokio::test]
async fn a_delete_waits_for_the_persons_approval_and_then_goes_through_once() {
    let stack = stack().await;
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let client = connected(&stack, &ada, json!({})).await;
    // Ada can write? Not with the first token: step up to write first.
    let url = client.url.clone();
    let response = client.send_call("demo__add_note", json!({"title": "old", "body": "x"})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let client = Client::connect(&url, token_from(&ada, &url, &response).await, json!({})).await;
    let (_, added) = client.call("demo__add_note", json!({"title": "old", "body": "x"})).await;
    let id = added["result"]["structuredContent"]["id"].as_i64().unwrap_or(1);

    let (status, first) = client.call("demo__delete_note", json!({"id": id})).await;
    assert_eq!(status, StatusCode::OK);
    let error = &first["error"];
    assert_eq!(error["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{first}");
    assert_eq!(error["data"]["approvalUrl"], format!("{}/approvals", stack.issuer));
    let approval_id = error["data"]["approvalId"].as_str().unwrap().to_owned();

    // Asking again before the person answered: still waiting, the same request.
    let (_, again) = client.call("demo__delete_note", json!({"id": id})).await;
    assert_eq!(again["error"]["data"]["approvalId"], approval_id.as_str(), "{again}");

    assert_eq!(ada.answer_approvals(&stack.issuer, "once").await.unwrap(), 1);
    // The gateway polls no faster than the AS allows: wait out the interval it was given.
    let retry_after = again["error"]["data"]["retryAfterSeconds"].as_i64().unwrap_or(5);
    tokio::time::sleep(std::time::Duration::from_secs(retry_after.clamp(0, 10) as u64 + 1)).await;
    let (status, done) = client.call("demo__delete_note", json!({"id": id})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(done["result"].is_object(), "approved and done: {done}");

    // Approved once: the next delete asks again.
    let (_, next) = client.call("demo__delete_note", json!({"id": id})).await;
    assert_eq!(next["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{next}");
    assert_ne!(next["error"]["data"]["approvalId"], approval_id.as_str());

    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records =
        audit.query(&Filter { tool: Some("demo__delete_note".into()), ..Filter::default() }).await.unwrap();
    let outcomes: Vec<Outcome> = records.iter().rev().map(|(_, d)| d.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::ApprovalRequired, Outcome::ApprovalRequired, Outcome::Allow, Outcome::ApprovalRequired]
    );
    assert!(records.iter().all(|(_, d)| d.user == claims(&client.token)["sub"] && d.approval_id.is_some()));
}

/// Two identical calls at once (parallel tool calls, a retry) wait for one approval: the person
/// sees one request, not one per copy.
#[tokio::test]
async fn identical_calls_at_once_wait_for_one_approval() {
    let stack = stack().await;
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let client = writer(&stack, &ada).await;
    let call = || client.call("demo__delete_note", json!({"id": 1}));
    let ((_, first), (_, second)) = tokio::join!(call(), call());
    for answer in [&first, &second] {
        assert_eq!(answer["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{answer}");
    }
    assert_eq!(first["error"]["data"]["approvalId"], second["error"]["data"]["approvalId"]);
    assert_eq!(ada.answer_approvals(&stack.issuer, "deny").await.unwrap(), 1, "one request for the person");
}

#[tokio::test]
async fn a_client_with_url_elicitation_is_sent_to_the_approval_page_as_a_url_elicitation() {
    let stack = stack().await;
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let client = connected(&stack, &ada, json!({"elicitation": {"url": {}}})).await;
    // Deleting needs notes:write; the approval is asked for before the call, so step up first.
    let (status, _) = client.call("demo__delete_note", json!({"id": 1})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let url = client.url.clone();
    let response = client.send_call("demo__delete_note", json!({"id": 1})).await;
    let token = token_from(&ada, &url, &response).await;
    let client = Client::connect(&url, token, json!({"elicitation": {"url": {}}})).await;
    let (_, body) = client.call("demo__delete_note", json!({"id": 1})).await;
    assert_eq!(body["error"]["code"], protocol::mcp::error_code::URL_ELICITATION_REQUIRED, "{body}");
    let elicitation = &body["error"]["data"]["elicitations"][0];
    assert_eq!(elicitation["mode"], "url");
    assert_eq!(elicitation["url"], format!("{}/approvals", stack.issuer));
}

/// URL-mode elicitation came with 2025-11-25: a 2025-06-18 session whose client declares
/// `elicitation.url` anyway is sent to the approval page by `-31042` with `data.approvalUrl`, not
/// by a `-32042` its revision does not define.
#[tokio::test]
async fn a_2025_06_18_session_is_sent_to_the_approval_page_by_the_approval_error_whatever_it_declares() {
    let stack = stack().await;
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let url = format!("{}/mcp", gateway(&stack).resource);
    let unauthorized = reqwest::Client::new().post(&url).json(&json!({})).send().await.unwrap();
    let token = token_from(&ada, &url, &unauthorized).await;
    let elicitation = json!({"elicitation": {"url": {}}});
    let client = Client::connect_as(&url, token, elicitation.clone(), "2025-06-18").await;
    let response = client.send_call("demo__delete_note", json!({"id": 1})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "step up to notes:write first");
    let token = token_from(&ada, &url, &response).await;
    let client = Client::connect_as(&url, token, elicitation, "2025-06-18").await;
    let (_, body) = client.call("demo__delete_note", json!({"id": 1})).await;
    assert_eq!(body["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{body}");
    assert_eq!(body["error"]["data"]["approvalUrl"], format!("{}/approvals", stack.issuer), "{body}");
}

/// A `tools/call` in the 2026-07-28 form, with the client's capabilities and more `params`.
async fn stateless_call(
    url: &str,
    token: &AccessToken,
    tool: &str,
    capabilities: Value,
    more: Value,
) -> reqwest::Response {
    stateless_call_via(url, None, token, tool, capabilities, more).await
}

/// [`stateless_call`] to `url` with the `Host` header `host` (a replica behind a load balancer).
async fn stateless_call_via(
    url: &str,
    host: Option<&str>,
    token: &AccessToken,
    tool: &str,
    capabilities: Value,
    more: Value,
) -> reqwest::Response {
    let mut params = json!({"name": tool, "arguments": {"id": 1},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": capabilities}});
    if let (Some(params), Value::Object(more)) = (params.as_object_mut(), more) {
        params.extend(more);
    }
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token.secret())
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": params}));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.send().await.unwrap()
}

/// Two replicas of the gateway behind one name, and a client whose requests land on either:
/// a call that needs approval, asked at one and retried at the other, is one request for the
/// person, under one id, and goes through once approved; a `decline` is understood by the
/// replica the retry lands on, though the other one asked.
#[tokio::test]
async fn a_call_retried_at_another_replica_waits_for_the_same_approval() {
    let options = StackOptions { gateway: Some(None), gateway_replica: true, ..Default::default() };
    let stack = Stack::start_with(options).await.unwrap();
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let resource = gateway(&stack).resource.clone();
    let host = resource.trim_start_matches("http://").to_owned();
    let first = format!("{resource}/mcp");
    let second = format!("{}/mcp", gateway(&stack).replica.clone().unwrap());
    let unauthorized = reqwest::Client::new().post(&first).json(&json!({})).send().await.unwrap();
    let token = token_from(&ada, &first, &unauthorized).await;
    // Deleting needs notes:write: step up first.
    let forbidden = stateless_call(&first, &token, "demo__delete_note", json!({}), json!({})).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let token = token_from(&ada, &first, &forbidden).await;
    let call = |url: &str, capabilities: Value, more: Value| {
        let (url, token, host) = (url.to_owned(), token.clone(), host.clone());
        async move {
            let response =
                stateless_call_via(&url, Some(&host), &token, "demo__delete_note", capabilities, more).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };

    let asked = call(&first, json!({}), json!({})).await;
    assert_eq!(asked["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{asked}");
    let approval_id = asked["error"]["data"]["approvalId"].as_str().unwrap().to_owned();
    let elsewhere = call(&second, json!({}), json!({})).await;
    assert_eq!(
        elsewhere["error"]["data"]["approvalId"],
        approval_id.as_str(),
        "the same request: {elsewhere}"
    );
    assert_eq!(ada.answer_approvals(&stack.issuer, "once").await.unwrap(), 1, "asked once");
    let mut done = Value::Null;
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        done = call(&second, json!({}), json!({})).await;
        if done.get("result").is_some() {
            break;
        }
    }
    assert!(done["result"]["content"].is_array(), "approved and done at the second: {done}");

    // The first still waits for that request; once it may poll again, it learns the token was
    // collected, and the same call made again there is a new request (not "expired").
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let again = call(&first, json!({}), json!({})).await;
    assert_eq!(again["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{again}");
    assert_ne!(again["error"]["data"]["approvalId"], approval_id.as_str());
    assert_eq!(ada.answer_approvals(&stack.issuer, "deny").await.unwrap(), 1);

    // Asked at the first (as a URL elicitation), declined at the client, the retry landing on
    // the second: the call ends there, and the request is withdrawn for the person.
    let url_mode = json!({"elicitation": {"url": {}}});
    let other_note = json!({"arguments": {"id": 2}});
    let asked = call(&first, url_mode.clone(), other_note.clone()).await;
    let key = asked["result"]["inputRequests"].as_object().unwrap().keys().next().unwrap().clone();
    let decline = json!({"arguments": {"id": 2}, "inputResponses": {key.as_str(): {"action": "decline"}}});
    let declined = call(&second, url_mode, decline).await;
    assert_eq!(declined["error"]["code"], protocol::mcp::error_code::APPROVAL_DENIED, "{declined}");
    assert_eq!(declined["error"]["data"]["approvalId"], key.as_str());
    assert_eq!(ada.answer_approvals(&stack.issuer, "once").await.unwrap(), 0, "withdrawn at the AS");
}

/// 2026-07-28 has no `-32042`: a client that declared URL-mode elicitation gets an
/// `input_required` result (multi round-trip requests), retries with its `inputResponses`, and
/// the call goes through once the person approved; answering `decline` ends the call.
#[tokio::test]
async fn a_stateless_client_with_url_elicitation_gets_input_required_and_its_retry_goes_through() {
    let stack = stack().await;
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let url = format!("{}/mcp", gateway(&stack).resource);
    let unauthorized = reqwest::Client::new().post(&url).json(&json!({})).send().await.unwrap();
    let token = token_from(&ada, &url, &unauthorized).await;
    let url_mode = json!({"elicitation": {"url": {}}});
    // Deleting needs notes:write: step up first.
    let forbidden = stateless_call(&url, &token, "demo__delete_note", url_mode.clone(), json!({})).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let token = token_from(&ada, &url, &forbidden).await;
    let call = |more: Value| {
        let (url, token, url_mode) = (url.clone(), token.clone(), url_mode.clone());
        async move {
            let response = stateless_call(&url, &token, "demo__delete_note", url_mode, more).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };

    let first = call(json!({})).await;
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    assert!(first.get("error").is_none() && result.get("requestState").is_none(), "{first}");
    let requests = result["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{first}");
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["mode"], "url");
    assert_eq!(request["params"]["url"], format!("{}/approvals", stack.issuer));
    assert!(request["params"]["message"].is_string() && request["params"].get("elicitationId").is_none());

    // The client opened the page and says so before the person answered: asked again, same key.
    let accepted = json!({"inputResponses": {key.as_str(): {"action": "accept"}}});
    let again = call(accepted.clone()).await;
    assert_eq!(again["result"]["resultType"], "input_required", "{again}");
    assert!(again["result"]["inputRequests"].get(key.as_str()).is_some(), "{again}");

    assert_eq!(ada.answer_approvals(&stack.issuer, "once").await.unwrap(), 1);
    // The gateway polls no faster than the AS allows (5 s unless it said otherwise).
    let mut done = Value::Null;
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        done = call(accepted.clone()).await;
        if done["result"]["resultType"] == "complete" {
            break;
        }
    }
    assert_eq!(done["result"]["resultType"], "complete", "approved and done: {done}");
    assert!(done["result"]["content"].is_array(), "{done}");

    // Approved once: the next call asks again, and a person who declines ends it.
    let next = call(json!({})).await;
    let next_key = next["result"]["inputRequests"].as_object().unwrap().keys().next().unwrap().clone();
    assert_ne!(&next_key, key);
    let declined = call(json!({"inputResponses": {next_key.as_str(): {"action": "decline"}}})).await;
    assert_eq!(declined["error"]["code"], protocol::mcp::error_code::APPROVAL_DENIED, "{declined}");
    assert_eq!(declined["error"]["data"]["approvalId"], next_key.as_str());
    // The audit says so: the last decision is a denial, made at the client, of that approval.
    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    let (_, last) = &records[0];
    assert_eq!(
        (last.outcome, last.reason.as_deref(), last.approval_id.as_deref()),
        (Outcome::ApprovalDenied, Some("declined at the client"), Some(next_key.as_str())),
        "{records:?}"
    );
    // Declined at the client, the request is withdrawn at the AS: the person's page no longer
    // offers it (approving it later would let nothing through), and the same call asks anew.
    assert_eq!(ada.answer_approvals(&stack.issuer, "once").await.unwrap(), 0, "withdrawn at the AS");
    // Declining another approval than the one waited for asks again.
    let elsewhere = call(json!({"inputResponses": {"some-other-approval": {"action": "decline"}}})).await;
    assert_eq!(elsewhere["result"]["resultType"], "input_required", "{elsewhere}");
    let new_key = elsewhere["result"]["inputRequests"].as_object().unwrap().keys().next().unwrap().clone();
    assert_ne!(new_key, next_key, "a new request, not the declined one");
    assert_eq!(ada.answer_approvals(&stack.issuer, "deny").await.unwrap(), 1, "the person sees the new one");
}

#[tokio::test]
async fn the_stateless_form_works_and_routing_headers_must_match_the_body() {
    let stack = stack().await;
    let user = HeadlessUser::new();
    let url = format!("{}/mcp", gateway(&stack).resource);
    let unauthorized = reqwest::Client::new().post(&url).json(&json!({})).send().await.unwrap();
    let token = token_from(&user, &url, &unauthorized).await;
    let post = |name: &'static str, header_name: &'static str| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let response = reqwest::Client::new()
                .post(&url)
                .bearer_auth(token.secret())
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", header_name)
                .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                    "name": name, "arguments": {"text": "stateless"},
                    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                              "io.modelcontextprotocol/clientCapabilities": {}}}}))
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post("demo__echo", "demo__echo").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "stateless");
    assert_eq!(body["result"]["resultType"], "complete");
    // A proxy routing on the header would see another tool than the one the body calls.
    let (status, body) = post("demo__echo", "demo__list_notes").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], protocol::mcp::error_code::HEADER_MISMATCH);

    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    assert_eq!(records.len(), 1, "the mismatch never reached policy or upstream: {records:?}");
}

#[tokio::test]
async fn every_decision_is_audited_without_argument_values_or_tokens() {
    let stack = stack().await;
    let client = connected(&stack, &HeadlessUser::new(), json!({})).await;
    let secret_text = "a-distinctive-argument-value-8431";
    client.call("demo__echo", json!({"text": secret_text})).await;
    client.call("demo__echo", json!({"text": format!("password {secret_text}")})).await;
    client.call("demo__nope", json!({})).await;
    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    let outcomes: Vec<Outcome> = records.iter().rev().map(|(_, d)| d.outcome).collect();
    assert_eq!(outcomes, [Outcome::Allow, Outcome::Deny, Outcome::Deny]);
    let denied = &records[1].1;
    assert_eq!(denied.policy_ids, ["no-passwords-in-echo"]);
    assert_eq!(denied.upstream.as_deref(), Some("demo"));
    assert_eq!(denied.policy_hash.len(), 64);
    let expected = protocol::authorization_details::arguments_sha256(
        &json!({"text": format!("password {secret_text}")}),
    );
    assert_eq!(denied.arguments_sha256.as_deref(), Some(expected.as_str()));
    let everything = format!("{records:?}");
    assert!(!everything.contains(secret_text), "argument values never reach the audit log");
    assert!(!everything.contains(client.token.secret()), "nor tokens");
}

/// MCP 2025-03-26 lets a client batch its messages, and a server MUST accept that; later
/// revisions dropped batches. In a 2025-03-26 session each element is decided, audited and
/// passed on as if it had come alone; a step-up any call of a batch needs is the whole answer,
/// found before any call is made.
#[tokio::test]
async fn a_2025_03_26_session_may_batch_and_each_call_is_decided_and_audited_alone() {
    let stack = stack().await;
    let first = connected(&stack, &HeadlessUser::new(), json!({})).await;
    let http = reqwest::Client::new();
    let post = |session: Option<&str>, body: Value| {
        let mut request = http
            .post(&first.url)
            .bearer_auth(first.token.secret())
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    let opened = post(None, initialize).await.unwrap();
    let session = opened.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    assert_eq!(opened.json::<Value>().await.unwrap()["result"]["protocolVersion"], "2025-03-26");

    let call = |id: i64, tool: &str, arguments: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let batch = json!([
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call(1, "demo__echo", json!({"text": "first of the batch"})),
        call(2, "demo__nope", json!({})),
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
    ]);
    let answered = post(Some(&session), batch).await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let request_id = answered.headers()["x-request-id"].to_str().unwrap().to_owned();
    let answers: Value = answered.json().await.unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3, "no answer to the notification: {answers:?}");
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[0]["result"]["content"][0]["text"], "first of the batch");
    assert_eq!(
        (answers[1]["id"].clone(), answers[1]["error"]["message"].clone()),
        (json!(2), json!("Unknown tool: demo__nope"))
    );
    assert!(answers[2]["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "demo__echo"));

    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    let batched: Vec<_> = records.iter().filter(|(_, d)| d.request_id == request_id).collect();
    let mut decided: Vec<_> = batched.iter().map(|(_, d)| (d.tool.as_str(), d.outcome)).collect();
    decided.sort_by_key(|(tool, _)| *tool);
    assert_eq!(decided, [("demo__echo", Outcome::Allow), ("demo__nope", Outcome::Deny)]);

    // A write needs a step-up: the challenge answers the batch, and no call of it is made, not
    // the echo before the write either (a client stepping up sends it again).
    let step_up = json!([
        call(4, "demo__echo", json!({"text": "before"})),
        call(5, "demo__add_note", json!({"title": "t", "body": "b"})),
        call(6, "demo__echo", json!({"text": "after"}))
    ]);
    let challenged = post(Some(&session), step_up).await.unwrap();
    assert_eq!(challenged.status(), StatusCode::FORBIDDEN);
    let challenge = e2e::challenge_of(&challenged);
    assert_eq!(challenge.error.as_ref().map(|e| e.as_str()), Some("insufficient_scope"));
    let asked = protocol::scope::Scopes::parse(challenge.scope.as_deref().unwrap()).unwrap();
    assert!(asked.contains("notes:write"), "{asked}");
    let challenged_id = challenged.headers()["x-request-id"].to_str().unwrap().to_owned();
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    let decided: Vec<_> = records
        .iter()
        .filter(|(_, d)| d.request_id == challenged_id)
        .map(|(_, d)| (d.tool.as_str(), d.outcome, d.reason.as_deref()))
        .collect();
    assert_eq!(decided, [("demo__add_note", Outcome::Deny, Some("the token lacks the tool's scope"))]);

    // A tool the policy denies this user (deleting is for admins) needs the same scope, and is
    // no step-up: a 403 would tell it exists. It is as unknown as in a call of its own.
    let hidden = json!([
        call(7, "demo__echo", json!({"text": "still here"})),
        call(8, "demo__delete_note", json!({"id": 1}))
    ]);
    let answered = post(Some(&session), hidden).await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let answers: Value = answered.json().await.unwrap();
    assert_eq!(answers[0]["result"]["content"][0]["text"], "still here");
    assert_eq!(answers[1]["error"]["message"], "Unknown tool: demo__delete_note");

    // Only 2025-03-26 has batches: a 2025-11-25 session, or a request saying so, gets -32600.
    let refused = first
        .http
        .post(&first.url)
        .bearer_auth(first.token.secret())
        .header("mcp-session-id", first.session.as_deref().unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!([call(9, "demo__echo", json!({"text": "no"}))]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], -32600);
    audit.flush().await.unwrap();
    let after = audit.query(&Filter::default()).await.unwrap();
    let echoes = after.iter().filter(|(_, d)| d.tool == "demo__echo").count();
    assert_eq!(echoes, 2, "no echo of the challenged batch nor of the refused one was decided: {after:?}");
}

/// Signs `user` in with the write scope too (a step-up from the first token), and connects.
async fn writer(stack: &Stack, user: &HeadlessUser) -> Client {
    let client = connected(stack, user, json!({})).await;
    let response = client.send_call("demo__add_note", json!({"title": "first", "body": ""})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let token = token_from(user, &client.url, &response).await;
    Client::connect(&client.url, token, json!({})).await
}

/// Waits out the poll interval the gateway was given for an approval.
async fn wait_for_retry(error: &Value) {
    let retry_after = error["error"]["data"]["retryAfterSeconds"].as_i64().unwrap_or(5).clamp(0, 10);
    tokio::time::sleep(std::time::Duration::from_secs(retry_after as u64 + 1)).await;
}

#[tokio::test]
async fn a_remembered_approval_automates_consent_for_a_timed_obligation_but_never_for_once() {
    let stack = stack().await;
    let ada = HeadlessUser::as_user(ADMIN_USER, ADMIN_PASSWORD);
    let client = writer(&stack, &ada).await;

    // `@consent("PT1H")`: the person approves and chooses to remember; later urgent notes of the
    // same client go through without asking anyone.
    let urgent = json!({"title": "urgent: call the bank", "body": "today"});
    let (_, asked) = client.call("demo__add_note", urgent.clone()).await;
    assert_eq!(asked["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{asked}");
    assert_eq!(ada.answer_approvals(&stack.issuer, "remember-3600").await.unwrap(), 1);
    wait_for_retry(&asked).await;
    let (_, added) = client.call("demo__add_note", urgent).await;
    assert!(added["result"].is_object(), "{added}");
    let (_, automatic) =
        client.call("demo__add_note", json!({"title": "urgent: and the dentist", "body": ""})).await;
    assert!(automatic["result"].is_object(), "answered by the standing approval, nobody asked: {automatic}");
    assert_eq!(
        ada.answer_approvals(&stack.issuer, "deny").await.unwrap(),
        0,
        "nothing waited for the person"
    );
    // Remembered for this application only: another application of ada's is asked again.
    let other_app = writer(&stack, &ada).await;
    assert_ne!(claims(&other_app.token)["client_id"], claims(&client.token)["client_id"]);
    let (_, other) =
        other_app.call("demo__add_note", json!({"title": "urgent: from elsewhere", "body": ""})).await;
    assert_eq!(other["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{other}");
    assert_eq!(ada.answer_approvals(&stack.issuer, "deny").await.unwrap(), 1);

    // `@consent("once")`: nothing to remember is offered, nor taken when asked for anyway;
    // every delete is approved by hand.
    let id = added["result"]["structuredContent"]["id"].as_i64().unwrap();
    let (_, asked) = client.call("demo__delete_note", json!({"id": id})).await;
    let remembering = ada.answer_approvals(&stack.issuer, "remember-3600").await;
    assert!(remembering.is_err_and(|e| e.to_string().contains("400")), "refused, changing nothing");
    assert_eq!(ada.answer_approvals(&stack.issuer, "once").await.unwrap(), 1);
    wait_for_retry(&asked).await;
    let (_, deleted) = client.call("demo__delete_note", json!({"id": id})).await;
    assert!(deleted["result"].is_object(), "{deleted}");
    let (_, again) = client.call("demo__delete_note", json!({"id": id + 1})).await;
    assert_eq!(again["error"]["code"], protocol::mcp::error_code::APPROVAL_PENDING, "{again}");

    // A denial is final for that request, and says so.
    assert_eq!(ada.answer_approvals(&stack.issuer, "deny").await.unwrap(), 1);
    wait_for_retry(&again).await;
    let (_, denied) = client.call("demo__delete_note", json!({"id": id + 1})).await;
    assert_eq!(denied["error"]["code"], protocol::mcp::error_code::APPROVAL_DENIED, "{denied}");
}

#[tokio::test]
async fn a_policy_edited_while_running_takes_effect_and_a_broken_one_is_refused_without_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.cedar");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/demo/policy.cedar");
    std::fs::copy(&demo, &policy).unwrap();
    let stack =
        Stack::start_with(StackOptions { gateway: Some(Some(&policy)), ..Default::default() }).await.unwrap();
    let client = connected(&stack, &HeadlessUser::new(), json!({})).await;
    let echo = || client.call("demo__echo", json!({"text": "hello"}));
    assert!(echo().await.1["result"].is_object());

    // Waits until the gateway has reread the file (it looks every second).
    let reloaded = |expect_allowed: bool| async move {
        for _ in 0..50 {
            let (_, body) = echo().await;
            if body["result"].is_object() == expect_allowed {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the policy file was not reread");
    };
    let forbid =
        "\n@id(\"no-echo\")\nforbid(principal, action == Gateway::Action::\"demo__echo\", resource);\n";
    let original = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, format!("{original}{forbid}")).unwrap();
    let denied = reloaded(false).await;
    assert_eq!(denied["error"]["message"], "Unknown tool: demo__echo", "{denied}");

    // A file that does not validate (an unknown tool) is refused; the last good policy serves on.
    std::fs::write(&policy, "permit(principal, action == Gateway::Action::\"demo__rm_rf\", resource);")
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(echo().await.1["error"].is_object(), "still the policy with the forbid");
    assert!(client.call("demo__list_notes", json!({})).await.1["result"].is_object(), "no outage");

    std::fs::write(&policy, original).unwrap();
    reloaded(true).await;
    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let hashes: std::collections::BTreeSet<String> =
        audit.query(&Filter::default()).await.unwrap().into_iter().map(|(_, d)| d.policy_hash).collect();
    assert_eq!(hashes.len(), 2, "every decision names the policy set it was made under: {hashes:?}");
}

/// The demo policy, plus a rule on the client's address.
fn policy_on_the_client_address(dir: &std::path::Path) -> std::path::PathBuf {
    let policy = dir.join("policy.cedar");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/demo/policy.cedar");
    let rule = "\n@id(\"not-from-203.0.113.7\")\nforbid(principal, action == Gateway::Action::\"demo__echo\", resource)\n\
                when { context.client_address == \"203.0.113.7\" };\n";
    std::fs::write(&policy, format!("{}{rule}", std::fs::read_to_string(demo).unwrap())).unwrap();
    policy
}

/// A session-form `tools/call` of `demo__echo` as a proxy forwards it: with `X-Forwarded-For`.
/// Whether it went through.
async fn echo_forwarded_for(client: &Client, forwarded_for: Option<&str>) -> bool {
    let headers: Vec<(&str, &str)> =
        forwarded_for.map(|value| ("x-forwarded-for", value)).into_iter().collect();
    echo_with_headers(client, &headers).await
}

/// A session-form `tools/call` of `demo__echo` with these headers; whether it went through.
async fn echo_with_headers(client: &Client, headers: &[(&str, &str)]) -> bool {
    let mut request = client
        .http
        .post(&client.url)
        .bearer_auth(client.token.secret())
        .header("mcp-session-id", client.session.as_deref().unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "demo__echo", "arguments": {"text": "hello"}}}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body: Value = request.send().await.unwrap().json().await.unwrap();
    body["result"].is_object()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_policy_sees_the_forwarded_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_on_the_client_address(dir.path());
    let options = StackOptions {
        gateway: Some(Some(&policy)),
        trusted_proxies: &["127.0.0.1/32"],
        ..Default::default()
    };
    let stack = Stack::start_with(options).await.unwrap();
    let client = connected(&stack, &HeadlessUser::new(), json!({})).await;
    assert!(echo_forwarded_for(&client, None).await, "the peer, 127.0.0.1, is the client");
    assert!(!echo_forwarded_for(&client, Some("203.0.113.7")).await);
    assert!(echo_forwarded_for(&client, Some("198.51.100.1")).await);
    // What the client itself put in front is not believed: the proxy appended the real address.
    assert!(echo_forwarded_for(&client, Some("203.0.113.7, 198.51.100.1")).await);
    assert!(!echo_forwarded_for(&client, Some("198.51.100.1, 203.0.113.7")).await);
    // A `Forwarded` header is the client's own (the proxy appends X-Forwarded-For, the default
    // --forwarded-header, and passes the other on): it is not read, with or without the other.
    let own = ("forwarded", "for=198.51.100.1");
    assert!(!echo_with_headers(&client, &[own, ("x-forwarded-for", "203.0.113.7")]).await);
    assert!(echo_with_headers(&client, &[("forwarded", "for=203.0.113.7")]).await);

    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    let denials: Vec<&Vec<String>> =
        records.iter().filter(|(_, d)| d.outcome == Outcome::Deny).map(|(_, d)| &d.policy_ids).collect();
    assert_eq!(denials, [&vec!["not-from-203.0.113.7".to_owned()]; 3]);
    // Each record names the address the policy saw, newest first.
    let addresses: Vec<Option<&str>> = records.iter().map(|(_, d)| d.client_address.as_deref()).collect();
    let expected = [
        "127.0.0.1",
        "203.0.113.7",
        "203.0.113.7",
        "198.51.100.1",
        "198.51.100.1",
        "203.0.113.7",
        "127.0.0.1",
    ];
    assert_eq!(addresses, expected.map(Some));
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forwarded_address_is_ignored_by_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_on_the_client_address(dir.path());
    let stack =
        Stack::start_with(StackOptions { gateway: Some(Some(&policy)), ..Default::default() }).await.unwrap();
    let client = connected(&stack, &HeadlessUser::new(), json!({})).await;
    assert!(echo_forwarded_for(&client, Some("203.0.113.7")).await, "a client cannot choose its address");
    let audit = &gateway(&stack).audit;
    audit.flush().await.unwrap();
    let records = audit.query(&Filter::default()).await.unwrap();
    let addresses: Vec<Option<&str>> = records.iter().map(|(_, d)| d.client_address.as_deref()).collect();
    assert_eq!(addresses, [Some("127.0.0.1")], "the record names the peer");
}
