//! One call through the gateway can be followed through every program's logs by the W3C trace id
//! the client sent, and no token reaches any of them. In a test binary of its own: the capturing
//! subscriber is thread-local, so everything runs on this one thread.

use serde_json::json;
use test_support::logs::CapturedLogs;

use e2e::headless::HeadlessUser;
use e2e::{Stack, StackOptions};

#[tokio::test(flavor = "current_thread")]
async fn a_trace_id_follows_the_call_through_gateway_as_and_upstream_and_no_token_is_logged() {
    let captured = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber(tracing::Level::TRACE));
    let stack = Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap();
    let gateway = stack.gateway.as_ref().unwrap();
    let url = format!("{}/mcp", gateway.resource);

    let http = reqwest::Client::new();
    let unauthorized = http.post(&url).json(&json!({})).send().await.unwrap();
    let token =
        HeadlessUser::new().authorize_from_challenge(&url, &e2e::challenge_of(&unauthorized)).await.unwrap();

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = http
        .post(&url)
        .bearer_auth(token.secret())
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "demo__echo")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "demo__echo", "arguments": {"text": "traced"},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], trace, "the client can quote the trace id");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "traced", "{body}");

    gateway.audit.flush().await.unwrap();
    let records = gateway.audit.query(&Default::default()).await.unwrap();
    assert_eq!(records[0].1.request_id, trace, "the audit record is filed under the trace id");

    let log = captured.text();
    // The AS (token exchange) and the upstream (the call) each saw the trace.
    let traced = |path: &str| {
        log.lines().any(|l| l.contains(&format!("trace=\"{trace}\"")) && l.contains(&format!("path={path}")))
    };
    let (as_line, upstream_line) = (traced("/token"), traced("/mcp"));
    assert!(as_line, "the AS's request span names the trace:\n{log}");
    assert!(upstream_line, "the upstream's request span names the trace:\n{log}");
    assert!(log.contains(&format!("request_id={trace}")), "the gateway's span names it");
    assert!(!log.contains(token.secret()), "the client's token is never logged");
    assert!(!log.contains("eyJ"), "no JWT of any kind (hop tokens included) is logged");
}
