//! `mcp-agent` as a user runs it, against the real authorization server and MCP server.
//!
//! The agent runs as a child process with `--browser print`; the test plays the person at the
//! browser: it reads the authorization URL the agent prints, logs in and consents on our real pages
//! with [`HeadlessUser`], and opens the redirect on the agent's loopback listener.

#[path = "support/person.rs"]
mod person;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use test_support::stack::{ADMIN_PASSWORD, ADMIN_USER, Stack, StackOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

use person::{DEMO, Person, agent, agent_as, play_the_user, query, stored_grant, token_files};

fn secret(grant: &Value, name: &str) -> String {
    grant[name].as_str().unwrap_or_else(|| panic!("{name} in {grant}")).to_owned()
}

fn mcp_url(stack: &Stack) -> String {
    format!("{}/mcp", stack.resource)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_logs_in_once_then_runs_silently() {
    let stack = Stack::start(None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let home = home.path().join("agent");
    let url = mcp_url(&stack);

    // Verbose: every request is described, and still no secret may appear.
    let first = agent(&stack, &home, &["-v", "call", &url, "echo", "--arg", "text=hi"]).await;
    first.assert_success();
    assert_eq!(first.stdout.trim(), "hi");
    assert_eq!(first.logins.len(), 1, "one login:\n{}", first.stderr);
    let login = &first.logins[0];
    assert_eq!(query(login, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(login, "resource").as_deref(), Some(stack.resource.as_str()));
    assert!(query(login, "state").is_some_and(|s| s.len() >= 32));
    assert_eq!(query(login, "scope").as_deref(), Some("echo"), "the scope the challenge names");

    // The store: a private directory, a private file, tokens nowhere in the output.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700);
    let files = token_files(&home);
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    let grant = stored_grant(&home);
    for name in ["access_token", "refresh_token"] {
        let token = secret(&grant, name);
        assert!(!first.stdout.contains(&token) && !first.stderr.contains(&token), "{name} printed");
    }
    assert!(first.stderr.contains("GET ") && first.stderr.contains("POST "), "-v describes requests");
    assert!(!first.stderr.contains("code="), "the authorization code is never printed:\n{}", first.stderr);
    assert!(first.stderr.contains("as a native app"), "dynamic registration:\n{}", first.stderr);
    assert!(grant["client"]["client_secret"].is_null(), "a public client, PKCE instead of a secret: {grant}");

    // Second run: the stored token, no browser.
    let second = agent(&stack, &home, &["--json", "call", &url, "echo", "--arg", "text=again"]).await;
    second.assert_success();
    assert!(second.logins.is_empty(), "no second login:\n{}", second.stderr);
    let result: Value = serde_json::from_str(second.stdout.trim()).expect("--json prints JSON");
    assert_eq!(result["content"][0]["text"], "again");
    assert_eq!(secret(&stored_grant(&home), "access_token"), secret(&grant, "access_token"));

    let tools = agent(&stack, &home, &["--json", "tools", &url]).await;
    tools.assert_success();
    let tools: Value = serde_json::from_str(tools.stdout.trim()).unwrap();
    let names: Vec<&str> = tools.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"echo") && names.contains(&"whoami"), "{names:?}");

    let status = agent(&stack, &home, &["--json", "status"]).await;
    status.assert_success();
    assert!(!status.stdout.contains(&secret(&grant, "access_token")), "status prints no token");
    assert!(status.stdout.contains(&stack.resource), "{}", status.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiring_token_is_refreshed_and_rotated_without_a_login() {
    // Tokens that are always within the agent's refresh margin.
    let options = StackOptions { access_token_ttl: Some(Duration::from_secs(10)), ..Default::default() };
    let stack = Stack::start_with(options).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = mcp_url(&stack);

    agent(&stack, home.path(), &["login", &url]).await.assert_success();
    let before = stored_grant(home.path());

    let run = agent(&stack, home.path(), &["call", &url, "echo", "--arg", "text=fresh"]).await;
    run.assert_success();
    assert_eq!(run.stdout.trim(), "fresh");
    assert!(run.logins.is_empty(), "refreshed, not logged in:\n{}", run.stderr);
    assert!(run.stderr.contains("refreshing"), "says what it does:\n{}", run.stderr);
    let after = stored_grant(home.path());
    assert_ne!(secret(&after, "access_token"), secret(&before, "access_token"));
    assert_ne!(secret(&after, "refresh_token"), secret(&before, "refresh_token"), "rotated");

    // The spent refresh token is dead (and spending it again revokes the grant, RFC 9700), so
    // only check it through the agent: the next run still works on the rotated one.
    let again = agent(&stack, home.path(), &["call", &url, "echo", "--arg", "text=still"]).await;
    again.assert_success();
    assert!(again.logins.is_empty(), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_that_needs_more_scope_steps_up_with_the_union() {
    let stack = Stack::start(None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = mcp_url(&stack);

    agent(&stack, home.path(), &["call", &url, "echo", "--arg", "text=hi"]).await.assert_success();
    let run = agent(&stack, home.path(), &["--json", "call", &url, "whoami"]).await;
    run.assert_success();
    assert_eq!(run.logins.len(), 1, "one step-up login:\n{}", run.stderr);
    let scope = query(&run.logins[0], "scope").unwrap_or_default();
    let mut asked: Vec<&str> = scope.split(' ').collect();
    asked.sort_unstable();
    assert_eq!(asked, ["echo", "profile"], "the union of held and needed scope");
    let result: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let structured = &result["structuredContent"];
    assert_eq!(structured["scopes"], serde_json::json!(["echo", "profile"]), "{result}");
    assert_eq!(structured["client_id"], stored_grant(home.path())["client"]["client_id"], "{result}");

    // Both tools now work without another login.
    let echo = agent(&stack, home.path(), &["call", &url, "echo", "--arg", "text=both"]).await;
    echo.assert_success();
    assert!(echo.logins.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_the_refresh_token_and_forgets_the_grant() {
    let stack = Stack::start(None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = mcp_url(&stack);

    agent(&stack, home.path(), &["login", &url]).await.assert_success();
    let grant = stored_grant(home.path());
    let refresh_token = secret(&grant, "refresh_token");
    let client_id = grant["client"]["client_id"].as_str().unwrap().to_owned();

    let out = agent(&stack, home.path(), &["--json", "logout"]).await;
    out.assert_success();
    let forgotten: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(forgotten["forgotten"], serde_json::json!([stack.resource]));
    let file: Value = serde_json::from_slice(&std::fs::read(&token_files(home.path())[0]).unwrap()).unwrap();
    assert!(file["grants"].as_object().is_none_or(|g| g.is_empty()), "{file}");

    let refreshed = reqwest::Client::new()
        .post(format!("{}/token", stack.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400);
    let error: Value = refreshed.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant");

    // Without --no-login the next call logs in again; with it, it says what to run.
    let refused = agent(&stack, home.path(), &["--no-login", "call", &url, "echo", "--arg", "text=x"]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", refused.stderr);
    assert!(refused.stderr.contains("mcp-agent login"), "{}", refused.stderr);
    assert!(refused.logins.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_redirect_is_turned_away_and_the_real_one_still_works() {
    let stack = Stack::start(None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = mcp_url(&stack);

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--home")
        .arg(home.path())
        .args(["--browser", "print", "--login-timeout", "30", "call", &url, "echo", "--arg", "text=x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let authorize = loop {
        let line = lines.next_line().await.unwrap().expect("the agent prints the URL");
        if let Ok(url) = url::Url::parse(line.trim())
            && url.path() == "/authorize"
        {
            break url;
        }
    };
    // Another page sends the browser to the listener with its own code and a guessed state
    // (login CSRF, RFC 9700 §4.7): turned away, and the agent keeps waiting for its own.
    let mut forged = url::Url::parse(&query(&authorize, "redirect_uri").unwrap()).unwrap();
    forged.query_pairs_mut().append_pair("code", "attacker-code").append_pair("state", "guessed");
    let answer = reqwest::get(forged).await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(token_files(home.path()).iter().all(|f| {
        let file: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        file["grants"].as_object().is_none_or(|g| g.is_empty())
    }));

    play_the_user(&stack, &authorize, DEMO).await;
    let mut rest = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    let output =
        tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    assert!(output.status.success(), "{rest}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "x");
}

/// Adds a note through `gateway` (`first` are the agent's options before the command) and returns
/// its id.
async fn add_note(stack: &Stack, home: &Path, gateway: &str, first: &[&str], person: Person) -> i64 {
    let call = ["--json", "call", gateway, "demo__add_note", "--arg", "title=to go", "--arg", "body=x"];
    let added = agent_as(stack, home, &[first, &call[..]].concat(), person).await;
    added.assert_success();
    serde_json::from_str::<Value>(&added.stdout).unwrap()["structuredContent"]["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_a_call_waits_for_the_persons_approval_or_fails_fast_without_login() {
    let stack = Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap();
    let gateway = format!("{}/mcp", stack.gateway.as_ref().unwrap().resource);
    let home = tempfile::tempdir().unwrap();
    let ada = Person { username: ADMIN_USER, password: ADMIN_PASSWORD, approval: Some("once") };

    // Writing first (a step-up to notes:write), then deleting what was written, which the demo
    // policy lets admins do with the person's approval each time.
    let id = add_note(&stack, home.path(), &gateway, &[], ada).await;
    let id_arg = format!("id={id}");

    // Without a login allowed, the agent does not wait: exit status 5, the page named.
    let fast = agent_as(
        &stack,
        home.path(),
        &["--no-login", "call", &gateway, "demo__delete_note", "--arg-json", &id_arg],
        ada,
    )
    .await;
    assert_eq!(fast.status.code(), Some(5), "{}", fast.stderr);
    assert!(fast.stderr.contains(&format!("{}/approvals", stack.issuer)), "{}", fast.stderr);

    // Waiting: the person approves, the same call goes through.
    let waited =
        agent_as(&stack, home.path(), &["call", &gateway, "demo__delete_note", "--arg-json", &id_arg], ada)
            .await;
    waited.assert_success();
    assert!(waited.stdout.contains(&format!("Deleted note #{id}")), "{}\n{}", waited.stdout, waited.stderr);
    // Which server asks, and the approval page's site apart from its URL (MCP URL elicitation).
    assert!(waited.stderr.contains(&format!("The MCP server {gateway} asks")), "{}", waited.stderr);
    let site = url::Url::parse(&stack.issuer).unwrap();
    let site = format!("{}:{}", site.host_str().unwrap(), site.port_or_known_default().unwrap());
    assert!(waited.stderr.contains(&format!("approval page is at {site};")), "{}", waited.stderr);

    // In the stateless form (2026-07-28) the agent declares URL-mode elicitation: the gateway
    // asks with an `input_required` result, and the call made again answers it.
    let stateless = ["--protocol-version", "2026-07-28"];
    let id = add_note(&stack, home.path(), &gateway, &stateless, ada).await;
    let id_arg = format!("id={id}");
    let args = [&stateless[..], &["--verbose", "call", &gateway, "demo__delete_note", "--arg-json", &id_arg]]
        .concat();
    let waited = agent_as(&stack, home.path(), &args, ada).await;
    waited.assert_success();
    assert!(waited.stdout.contains(&format!("Deleted note #{id}")), "{}\n{}", waited.stdout, waited.stderr);
    assert!(waited.stderr.contains("(input_required)"), "{}", waited.stderr);
    assert!(waited.stderr.contains(&format!("{}/approvals", stack.issuer)), "{}", waited.stderr);

    // Denied: said so, exit status 1.
    let deny = Person { approval: Some("deny"), ..ada };
    let denied =
        agent_as(&stack, home.path(), &["call", &gateway, "demo__delete_note", "--arg-json", &id_arg], deny)
            .await;
    assert_eq!(denied.status.code(), Some(1), "{}", denied.stderr);
    assert!(denied.stderr.contains("denied"), "{}", denied.stderr);
}
