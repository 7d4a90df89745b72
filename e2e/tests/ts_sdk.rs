//! The official MCP TypeScript SDK (`@modelcontextprotocol/sdk`) as a client of our MCP server and
//! authorization server: `e2e/ts-sdk/client.mjs` connects, is challenged, discovers, registers,
//! authorizes with PKCE, lists and calls tools, refreshes, and (as a second client, see the
//! script) steps up for `whoami`. Whenever the SDK sends
//! the user to the authorization server, this test is the user: the headless user agent signs in
//! and consents on our real pages and hands the redirect back to the script, which checks it.
//!
//! Needs Node 22 (installed with the conformance suite under `target/tools/conformance`) and the
//! SDK (`npm ci` in `e2e/ts-sdk`): `cargo xtask test` installs both and runs this test with
//! `--ignored`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use e2e::headless::HeadlessUser;
use e2e::{Stack, StackOptions};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// The whole run, three authorizations included.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

const TEXT: &str = "Hello from the MCP TypeScript SDK";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Node 22 and the MCP TypeScript SDK from npm; run by `cargo xtask test`"]
async fn the_typescript_sdk_client_authorizes_calls_tools_refreshes_and_steps_up() {
    let node = e2e::node::node();
    let dir = e2e::node::ts_sdk_dir();
    let script = dir.join("client.mjs");
    e2e::node::require(&[&node, &dir.join("node_modules/@modelcontextprotocol/sdk/package.json")]);
    let stack = Stack::start_with(StackOptions::default()).await.unwrap();

    let result = run_client(&node, &script, &stack.issuer, &format!("{}/mcp", stack.resource), "").await;

    let (issuer, resource) = (stack.issuer.as_str(), stack.resource.as_str());

    // The client with refresh tokens.
    let refreshing = &result["refreshing"];
    assert_eq!(refreshing["issuer"], issuer);
    assert_eq!(refreshing["resource"], resource);
    let tools: Vec<&str> = refreshing["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(tools.contains(&"echo") && tools.contains(&"whoami"), "tools/list: {tools:?}");
    assert_eq!(refreshing["echo"], TEXT);
    assert_eq!(refreshing["echo_after_refresh"], TEXT);
    // What the 401 challenge asked for, for our resource only; refresh keeps both.
    let echo_token =
        serde_json::json!({"aud": resource, "iss": issuer, "scope": "echo", "refresh_token": true});
    assert_eq!(refreshing["first_token"], echo_token);
    assert_eq!(refreshing["refreshed_token"], echo_token);

    // The client without: a second authorization for the union the 403 named.
    let stepping_up = &result["stepping_up"];
    assert_eq!(stepping_up["authorizations"], 2);
    assert_eq!(stepping_up["first_token"]["scope"], "echo");
    assert_eq!(stepping_up["first_token"]["refresh_token"], false);
    assert_eq!(stepping_up["stepped_up_token"]["aud"], resource);
    assert_eq!(stepping_up["stepped_up_token"]["scope"], "echo profile");
    assert_eq!(stepping_up["whoami_scopes"], serde_json::json!(["echo", "profile"]));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Node 22 and the MCP TypeScript SDK from npm; run by `cargo xtask test`"]
async fn the_typescript_sdk_client_works_through_the_gateway() {
    let node = e2e::node::node();
    let dir = e2e::node::ts_sdk_dir();
    let script = dir.join("client.mjs");
    e2e::node::require(&[&node, &dir.join("node_modules/@modelcontextprotocol/sdk/package.json")]);
    let stack = Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap();
    let gateway = stack.gateway.as_ref().unwrap().resource.clone();
    let result = run_client(&node, &script, &stack.issuer, &format!("{gateway}/mcp"), "demo__").await;

    let refreshing = &result["refreshing"];
    assert_eq!(refreshing["resource"], gateway.as_str(), "the SDK discovered the gateway as the resource");
    let tools: Vec<&str> = refreshing["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(tools.contains(&"demo__echo") && !tools.contains(&"demo__delete_note"), "tools/list: {tools:?}");
    assert_eq!(refreshing["echo"], TEXT);
    assert_eq!(refreshing["echo_after_refresh"], TEXT);
    assert_eq!(refreshing["first_token"]["scope"], "echo notes:read profile", "the read tools' scopes");

    let stepping_up = &result["stepping_up"];
    assert_eq!(stepping_up["authorizations"], 2, "a step-up for notes:write");
    assert!(stepping_up["stepped_up_token"]["scope"].as_str().unwrap().contains("notes:write"));
    assert_eq!(stepping_up["added_title"], TEXT);
}

/// Runs `client.mjs` against `url` (with the tool prefix `prefix`), playing the user; its result.
async fn run_client(
    node: &std::path::Path,
    script: &std::path::Path,
    issuer: &str,
    url: &str,
    prefix: &str,
) -> Value {
    let mut child = tokio::process::Command::new(node)
        .arg(script)
        .args([url, TEXT, prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let stderr = e2e::node::collect(child.stderr.take().expect("piped stderr"));
    let run = tokio::time::timeout(RUN_TIMEOUT, drive(issuer, &mut child)).await;
    let _ = child.start_kill();
    let stderr = e2e::node::collected(stderr).await;
    print!("{stderr}");
    let result = match run {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => panic!("the TypeScript SDK client: {e:#}"),
        Err(_) => panic!("the TypeScript SDK client: no result within {RUN_TIMEOUT:?}"),
    };
    println!("ts-sdk: {result}");
    result
}

/// Answers each `AUTHORIZE <url>` of the script by signing in and consenting, and returns its
/// `RESULT` once it exits successfully.
async fn drive(issuer: &str, child: &mut tokio::process::Child) -> anyhow::Result<Value> {
    let mut stdin = child.stdin.take().context("piped stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("piped stdout")?).lines();
    let mut result = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(url) = line.strip_prefix("AUTHORIZE ") {
            // A new user agent each time, like a fresh browser: it signs in and consents again.
            let redirect = HeadlessUser::new().log_in_and_consent_redirect(issuer, url).await?;
            stdin.write_all(format!("CALLBACK {redirect}\n").as_bytes()).await?;
            stdin.flush().await?;
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str(json).context("RESULT is not JSON")?);
        } else {
            println!("client.mjs stdout: {line}");
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("client.mjs exited with {status}");
    }
    result.context("client.mjs printed no RESULT")
}
