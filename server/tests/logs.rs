//! What the resource server logs: never a token, whatever the outcome, and refusals counted per
//! interval rather than one line each. In a test binary of its own: the capturing subscriber is
//! thread-local and must not race other tests.

#[path = "api/helpers.rs"]
#[allow(dead_code, unused_imports)]
mod helpers;

use helpers::{TestIssuer, spawn_server};
use test_support::logs::CapturedLogs;

#[tokio::test(flavor = "current_thread")]
async fn no_token_reaches_the_logs_even_at_trace_level() {
    let captured = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber(tracing::Level::TRACE));

    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let good = issuer.token(&server.resource, "echo");
    let wrong_scope = issuer.token(&server.resource, "profile");
    let wrong_audience = issuer.token("http://elsewhere.example", "echo");
    let exchanged = issuer.exchanged_token(&server.resource, "echo", &["gateway"]);
    for token in [&good, &wrong_scope, &wrong_audience, &exchanged] {
        server.echo_with(token).await;
    }
    // A token in the query string is refused, and its value not logged either.
    server.http.get(format!("{}/echo?text=x&access_token={good}", server.address)).send().await.unwrap();
    server
        .http
        .post(format!("{}/mcp", server.address))
        .bearer_auth(&good)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}))
        .send()
        .await
        .unwrap();

    let log = captured.text();
    assert!(log.contains("request refused"), "the capture works: {log}");
    for (what, token) in [
        ("valid token", &good),
        ("token with the wrong scope", &wrong_scope),
        ("token for another audience", &wrong_audience),
        ("exchanged token", &exchanged),
    ] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(token.as_str()) && !log.contains(signature), "the {what} appears in the log");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn refused_requests_at_info_are_one_line_per_interval_not_one_per_request() {
    let captured = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber(tracing::Level::INFO));

    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let forged = test_support::issuer::corrupt(&[issuer.token(&server.resource, "echo")]).remove(0);
    for _ in 0..50 {
        assert_eq!(server.echo_with(&forged).await.status(), 401);
        assert_eq!(server.echo_with("not-a-jwt").await.status(), 401);
    }

    let log = captured.text();
    let refusal_lines = log.lines().filter(|line| line.contains("requests refused")).count();
    // The first refusal is reported at once; the 99 others of the same interval wait for the
    // next summary (a test running past the interval boundary may see a second line).
    assert!((1..=2).contains(&refusal_lines), "{refusal_lines} refusal lines in:\n{log}");
    assert!(log.contains("invalid_token=1"), "the first refusal is reported with its kind: {log}");
}
