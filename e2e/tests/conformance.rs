//! The public MCP conformance suite (`@modelcontextprotocol/conformance`) against our resource
//! server. The runner speaks MCP but not OAuth, so it talks to a proxy that adds a real token,
//! obtained from the real authorization server through its login and consent pages.
//!
//! Needs the suite and Node 22: `cargo xtask test` installs both under `target/tools/conformance`
//! and runs this test with `--ignored`.

use std::process::Command;

use e2e::headless::HeadlessUser;
use e2e::{Stack, StackOptions, proxy};

/// The scenarios this server must pass, and the revision to run each at (`None`: the runner's
/// default for the scenario).
const SCENARIOS: &[(&str, Option<&str>)] = &[
    ("server-initialize", None),
    ("server-session-lifecycle", None),
    ("ping", None),
    ("tools-list", None),
    ("tools-call-simple-text", None),
    ("tools-call-error", None),
    ("dns-rebinding-protection", None),
    ("server-stateless", None),
    ("http-header-validation", None),
    ("caching", None),
    ("tools-list", Some("2026-07-28")),
    ("tools-call-simple-text", Some("2026-07-28")),
    ("tools-call-error", Some("2026-07-28")),
    ("dns-rebinding-protection", Some("2026-07-28")),
];

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the MCP conformance suite and Node 22; run by `cargo xtask test`"]
async fn the_mcp_conformance_server_scenarios_pass() {
    let (node, cli) = (e2e::node::node(), e2e::node::conformance_cli());
    e2e::node::require(&[&node, &cli]);

    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_origin = format!("http://{}", proxy_listener.local_addr().unwrap());
    let stack = Stack::start_with(StackOptions {
        conformance_tools: true,
        extra_origins: vec![proxy_origin.clone()],
        ..Default::default()
    })
    .await
    .unwrap();

    // A real token, through the real login and consent pages.
    let user = HeadlessUser::new();
    let mcp_url = format!("{}/mcp", stack.resource);
    let first = user.http.post(&mcp_url).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(first.status(), 401);
    let challenge = e2e::challenge_of(&first);
    let token = user.authorize_from_challenge(&mcp_url, &challenge).await.unwrap();
    proxy::spawn(proxy_listener, &stack.resource, token.secret());

    let failures = run_scenarios(&node, &cli, &format!("{proxy_origin}/mcp"), SCENARIOS).await;
    assert!(failures.is_empty(), "conformance scenarios failed: {failures:?}");
}

/// The scenarios that do not call the suite's own diagnostic tools (`test_simple_text`,
/// `test_missing_capability`, …), which the gateway does not offer: it serves its upstreams' tools
/// under prefixed names. (`server-stateless`, `tools-call-*` and `http-header-validation` call
/// them; they run against `mcp-server` above.)
const GATEWAY_SCENARIOS: &[(&str, Option<&str>)] = &[
    ("server-initialize", None),
    ("server-session-lifecycle", None),
    ("ping", None),
    ("tools-list", None),
    ("dns-rebinding-protection", None),
    ("caching", None),
    ("tools-list", Some("2026-07-28")),
    ("dns-rebinding-protection", Some("2026-07-28")),
];

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the MCP conformance suite and Node 22; run by `cargo xtask test`"]
async fn the_mcp_conformance_server_scenarios_pass_through_the_gateway() {
    let (node, cli) = (e2e::node::node(), e2e::node::conformance_cli());
    e2e::node::require(&[&node, &cli]);

    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_origin = format!("http://{}", proxy_listener.local_addr().unwrap());
    let stack = Stack::start_with(StackOptions {
        extra_origins: vec![proxy_origin.clone()],
        gateway: Some(None),
        ..Default::default()
    })
    .await
    .unwrap();
    let gateway = stack.gateway.as_ref().unwrap().resource.clone();

    let user = HeadlessUser::new();
    let mcp_url = format!("{gateway}/mcp");
    let first = user.http.post(&mcp_url).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(first.status(), 401);
    let token = user.authorize_from_challenge(&mcp_url, &e2e::challenge_of(&first)).await.unwrap();
    proxy::spawn(proxy_listener, &gateway, token.secret());

    let failures = run_scenarios(&node, &cli, &format!("{proxy_origin}/mcp"), GATEWAY_SCENARIOS).await;
    assert!(failures.is_empty(), "conformance scenarios failed through the gateway: {failures:?}");
}

/// Runs each scenario against `url`; the labels of those that failed.
async fn run_scenarios(
    node: &std::path::Path,
    cli: &std::path::Path,
    url: &str,
    scenarios: &[(&'static str, Option<&'static str>)],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (scenario, version) in scenarios {
        let mut command = Command::new(node);
        command.arg(cli).args(["server", "--url", url, "--scenario", scenario]);
        if let Some(version) = version {
            command.args(["--spec-version", version]);
        }
        // The runner blocks; keep the async servers running on the other worker threads.
        let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
        let label = format!("{scenario}{}", version.map(|v| format!(" @ {v}")).unwrap_or_default());
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() {
            let warnings = stdout.lines().filter(|l| l.contains("WARNING")).count();
            println!("conformance: {label}: passed ({warnings} warnings)");
            if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
                println!("{stdout}");
            }
        } else {
            println!("conformance: {label}: FAILED\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
            failures.push(label);
        }
    }
    failures
}
