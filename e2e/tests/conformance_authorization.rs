//! The public MCP conformance suite (`@modelcontextprotocol/conformance`) against our
//! authorization server: its `authorization` command checks the metadata document, then runs an
//! authorization code grant with PKCE as a client we registered. The suite prints the
//! authorization URL for a person to open; here the headless user agent opens it, signs in and
//! consents on our real pages, and delivers the redirect to the suite's own callback listener.
//!
//! Needs the suite and Node 22: `cargo xtask test` installs both under `target/tools/conformance`
//! and runs this test with `--ignored`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use e2e::headless::HeadlessUser;
use e2e::{Stack, StackOptions};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// The scenarios of the suite's `authorization` command, all of which must pass.
const SCENARIOS: &[&str] = &["authorization-server-metadata-endpoint", "authorization-code-grant"];

/// The whole run: the suite's HTTP calls, our login and consent, and the suite's exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// One check of a scenario, as the suite saved it.
#[derive(Debug)]
struct Check {
    scenario: &'static str,
    id: String,
    /// `SUCCESS`, `FAILURE`, `WARNING`, `SKIPPED` or `INFO`.
    status: String,
    message: String,
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the MCP conformance suite and Node 22; run by `cargo xtask test`"]
async fn the_mcp_conformance_authorization_server_scenarios_pass() {
    let (node, cli) = (e2e::node::node(), e2e::node::conformance_cli());
    e2e::node::require(&[&node, &cli]);
    let stack = Stack::start_with(StackOptions::default()).await.unwrap();
    let client_id = register_public_client(&stack.issuer).await.unwrap();
    let port = free_port();
    let results = results_dir();

    let mut child = tokio::process::Command::new(&node)
        .arg(&cli)
        .args(["authorization", "--url", &stack.issuer, "--client-id", &client_id])
        .args(["--resource", &stack.resource, "--port", &port.to_string()])
        .arg("--output-dir")
        .arg(&results)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the conformance suite");
    let stderr = e2e::node::collect(child.stderr.take().expect("piped stderr"));

    let run = tokio::time::timeout(RUN_TIMEOUT, drive(&stack.issuer, port, &mut child)).await;
    let _ = child.start_kill();
    let stderr = e2e::node::collected(stderr).await;
    let checks = read_checks(&results);
    // The results hold the (spent) authorization code; do not leave them behind.
    let _ = std::fs::remove_dir_all(&results);

    let (stdout, status) = match run {
        Ok(Ok(run)) => run,
        Ok(Err(e)) => panic!("conformance authorization: {e:#}\n{stderr}"),
        Err(_) => panic!("conformance authorization: no result within {RUN_TIMEOUT:?}\n{stderr}"),
    };
    let checks = checks.unwrap_or_else(|e| panic!("{e:#}\n{stdout}\n{stderr}"));
    for check in &checks {
        println!("conformance authorization: {}: {}: {}", check.scenario, check.id, check.status);
    }
    println!("conformance authorization: {} checks in {} scenarios", checks.len(), SCENARIOS.len());
    let failures = failures(&checks);
    assert!(failures.is_empty(), "checks did not succeed: {failures:#?}\n{stdout}\n{stderr}");
    // After the checks, whose messages say more than the exit status.
    assert!(status.success(), "the suite exited with {status}:\n{stdout}\n{stderr}");
}

/// Every check that is not `SUCCESS`, and every scenario without checks. Strict on purpose: a
/// `WARNING` is a SHOULD of the RFCs we do not meet, and `SKIPPED` means the suite tested less
/// than it can (say, because the metadata lacks what it needs).
fn failures(checks: &[Check]) -> Vec<String> {
    let mut failures: Vec<String> = checks
        .iter()
        .filter(|c| c.status != "SUCCESS")
        .map(|c| format!("{}: {}: {}: {}", c.scenario, c.id, c.status, c.message))
        .collect();
    for scenario in SCENARIOS {
        if !checks.iter().any(|c| c.scenario == *scenario) {
            failures.push(format!("{scenario}: no results"));
        }
    }
    failures
}

/// Registers a public client (RFC 7591) for the suite's loopback callback; our server lets a
/// loopback IP redirect URI come back on any port (RFC 8252 §7.3).
async fn register_public_client(issuer: &str) -> anyhow::Result<String> {
    let registration = serde_json::json!({
        "client_name": "MCP conformance suite",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "application_type": "native",
    });
    let response =
        reqwest::Client::new().post(format!("{issuer}/register")).json(&registration).send().await?;
    ensure!(response.status() == 201, "registration answered {}", response.status());
    let client: serde_json::Value = response.json().await?;
    Ok(client["client_id"].as_str().context("registration without client_id")?.to_owned())
}

/// A port nobody listens on right now, for the suite's callback listener.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}

fn results_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-authorization-{}", nanos.as_nanos()))
}

/// Plays the user when the suite asks for one, and returns the suite's output and exit status.
async fn drive(
    issuer: &str,
    port: u16,
    child: &mut tokio::process::Child,
) -> anyhow::Result<(String, std::process::ExitStatus)> {
    let mut lines = BufReader::new(child.stdout.take().context("piped stdout")?).lines();
    let mut stdout = String::new();
    let authorize_prefix = format!("{issuer}/authorize?");
    let mut authorized = false;
    while let Some(line) = lines.next_line().await? {
        stdout.push_str(&line);
        stdout.push('\n');
        if !line.starts_with(&authorize_prefix) {
            continue;
        }
        ensure!(!authorized, "the suite asked for a second authorization");
        authorized = true;
        let redirect = HeadlessUser::new().log_in_and_consent_redirect(issuer, &line).await?;
        let callback = format!("http://127.0.0.1:{port}/callback?");
        ensure!(
            redirect.as_str().starts_with(&callback),
            "redirected to {}, not the suite's callback",
            redirect
        );
        deliver(redirect.as_str()).await?;
    }
    ensure!(authorized, "the suite never printed an authorization URL:\n{stdout}");
    let status = child.wait().await?;
    Ok((stdout, status))
}

/// Follows the redirect to the suite's listener, as the browser would.
async fn deliver(redirect: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let mut attempts = 0;
    let response = loop {
        match http.get(redirect).send().await {
            Ok(response) => break response,
            // The suite prints the URL as it starts listening; give the listener a moment.
            Err(e) if e.is_connect() && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("the suite's callback listener"),
        }
    };
    ensure!(response.status() == 200, "the suite's callback answered {}", response.status());
    Ok(())
}

/// Every check the suite saved, in the order of [`SCENARIOS`]. The suite saves each scenario's
/// checks in `<results>/authorization-server-<scenario>-<timestamp>/checks.json`.
fn read_checks(results: &Path) -> anyhow::Result<Vec<Check>> {
    let entries =
        std::fs::read_dir(results).with_context(|| format!("no results in {}", results.display()))?;
    let dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let mut checks = Vec::new();
    for scenario in SCENARIOS {
        let prefix = format!("authorization-server-{scenario}-");
        let Some(dir) =
            dirs.iter().find(|d| d.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
        else {
            continue;
        };
        let saved: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(dir.join("checks.json"))?)
            .with_context(|| format!("{}/checks.json", dir.display()))?;
        for check in saved {
            let field = |name: &str| check[name].as_str().unwrap_or_default().to_owned();
            checks.push(Check {
                scenario,
                id: field("id"),
                status: field("status"),
                message: field("errorMessage"),
            });
        }
    }
    Ok(checks)
}
