//! The Python example (`examples/python-agent/agent.py`: the official MCP Python SDK's OAuth client
//! provider and a plain agent loop) against our authorization server and MCP server, directly and
//! through the gateway, with the scripted model server in place of a model. Whenever the script prints an authorization URL,
//! this test is the person: the headless user agent signs in and consents on our real pages, and
//! follows the redirect to the script's loopback listener.
//!
//! Three runs share one token directory: the first signs in, the second uses the stored tokens,
//! the third finds them no longer valid and signs in again; none lets a token reach the model.
//!
//! Needs the pinned Python packages (`examples/python-agent/requirements.txt`) in a venv:
//! `cargo xtask test` makes it under `target/tools/python-agent/venv` and runs this test with
//! `--ignored`, naming its Python in `PYTHON_AGENT_PYTHON`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e::headless::HeadlessUser;
use e2e::{Stack, StackOptions};
use serde_json::{Value, json};
use test_support::model::ScriptedModel;
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// One run of the script, a sign-in included.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// What the script sends to the model endpoint, and only there.
const LLM_API_KEY: &str = "test-llm-api-key";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Python and the MCP Python SDK from PyPI; run by `cargo xtask test`"]
async fn the_python_sdk_agent_signs_in_calls_a_tool_for_the_model_and_keeps_tokens_from_it() {
    let python = python();
    e2e::node::require(&[&python]);
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    let token_dir = tempfile::tempdir().unwrap();
    let mcp_url = format!("{}/mcp", stack.resource);
    let run = || run_agent(&python, &stack.issuer, &mcp_url, &model.base_url, token_dir.path());
    let script_turns = || {
        model.calls(&[("call-1", "echo", json!({"text": "hi"}))]).answer("I said hi.");
    };

    // First run: no tokens yet, so the person signs in.
    script_turns();
    let first = run().await;
    assert_eq!(first.authorizations.len(), 1, "one sign-in");
    assert_eq!(first.stdout, "I said hi.\n", "the model's answer is the output");
    let requests = model.requests();
    assert_eq!(requests.len(), 2, "a tool call turn and an answer");
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .expect("tools were offered")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(offered.contains(&"echo"), "the MCP server's tools went to the model: {offered:?}");
    let results = requests[1].tool_messages();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["tool_call_id"], "call-1");
    let echoed = results[0]["content"].as_str().unwrap_or_default();
    assert!(echoed.contains("hi") && !echoed.starts_with("error"), "the echo tool's result: {echoed}");
    for request in &requests {
        let key = request.headers.iter().find(|(name, _)| name == "authorization").map(|(_, v)| v.as_str());
        assert_eq!(key, Some(format!("Bearer {LLM_API_KEY}").as_str()), "the API key goes to the model");
    }

    let tokens_file = tokens_file(token_dir.path());
    let first_tokens = read_json(&tokens_file);
    let access_token = first_tokens["access_token"].as_str().expect("an access token").to_owned();
    let refresh_token = first_tokens["refresh_token"].as_str().expect("a refresh token").to_owned();
    assert_private(&tokens_file);
    assert_private(&tokens_file.with_file_name(
        tokens_file.file_name().unwrap().to_string_lossy().replace(".tokens.json", ".client.json"),
    ));

    // Second run: the stored tokens are enough.
    script_turns();
    let second = run().await;
    assert_eq!(second.authorizations, Vec::<String>::new(), "no sign-in with stored tokens");
    assert_eq!(second.stdout, "I said hi.\n");
    assert_eq!(read_json(&tokens_file)["access_token"], access_token.as_str(), "the same token");

    // Third run: the stored access token no longer works (as when it has expired: mcp 1.30 does not
    // refresh tokens it loads from storage, python-sdk#3250), so the person signs in again, with
    // the client registered in the first run.
    let mut stale = read_json(&tokens_file);
    stale["access_token"] = json!("no-longer-valid");
    std::fs::write(&tokens_file, stale.to_string()).unwrap();
    script_turns();
    let third = run().await;
    assert_eq!(third.authorizations.len(), 1, "a new sign-in");
    assert_eq!(client_id(&third.authorizations[0]), client_id(&first.authorizations[0]), "the same client");
    assert_eq!(third.stdout, "I said hi.\n");
    let renewed = read_json(&tokens_file);
    let new_access_token = renewed["access_token"].as_str().expect("an access token").to_owned();
    assert_ne!(new_access_token, "no-longer-valid");
    assert_private(&tokens_file);

    // Nothing secret reached the model, in any run.
    let requests = model.requests();
    assert_eq!(requests.len(), 6);
    let mut secrets = vec![access_token, refresh_token, new_access_token, "eyJ".to_owned()];
    secrets.extend(renewed["refresh_token"].as_str().map(str::to_owned));
    for request in &requests {
        let text = request.text();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a token reached the model: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Python and the MCP Python SDK from PyPI; run by `cargo xtask test`"]
async fn the_python_sdk_agent_works_through_the_gateway() {
    let python = python();
    e2e::node::require(&[&python]);
    let stack = Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap();
    let gateway = stack.gateway.as_ref().unwrap().resource.clone();
    let model = ScriptedModel::start().await;
    let token_dir = tempfile::tempdir().unwrap();
    model.calls(&[("call-1", "demo__echo", json!({"text": "hi"}))]).answer("I said hi.");

    let run =
        run_agent(&python, &stack.issuer, &format!("{gateway}/mcp"), &model.base_url, token_dir.path()).await;

    assert_eq!(run.authorizations.len(), 1);
    assert_eq!(run.stdout, "I said hi.\n");
    let results = model.requests()[1].tool_messages();
    let echoed = results[0]["content"].as_str().unwrap_or_default();
    assert!(echoed.contains("hi") && !echoed.starts_with("error"), "the gateway's echo tool: {echoed}");
}

/// The venv's Python: `$PYTHON_AGENT_PYTHON`, else where `cargo xtask test` makes it.
fn python() -> PathBuf {
    std::env::var_os("PYTHON_AGENT_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/python-agent/venv/bin/python")
    })
}

/// What one run of the script did.
struct Run {
    stdout: String,
    /// The authorization URLs it sent the person to.
    authorizations: Vec<String>,
}

/// Runs `agent.py` once, playing the person whenever it prints an authorization URL.
async fn run_agent(python: &Path, issuer: &str, mcp_url: &str, llm: &str, token_dir: &Path) -> Run {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-agent/agent.py");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args([mcp_url, "say hi", "--llm-base-url", llm, "--model", "scripted", "--token-dir"])
        .arg(token_dir)
        .env("MCP_AGENT_LLM_API_KEY", LLM_API_KEY)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    let stdout = e2e::node::collect(child.stdout.take().expect("piped stdout"));
    let stderr = child.stderr.take().expect("piped stderr");
    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        let authorizations = play_the_person(issuer, stderr).await?;
        Ok::<_, anyhow::Error>((child.wait().await?, authorizations))
    })
    .await;
    let _ = child.start_kill();
    let stdout = e2e::node::collected(stdout).await;
    println!("agent.py stdout ({:.1}s): {stdout}", started.elapsed().as_secs_f64());
    let (status, authorizations) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => panic!("agent.py: {e:#}"),
        Err(_) => panic!("agent.py: not done within {RUN_TIMEOUT:?}"),
    };
    assert!(status.success(), "agent.py exited with {status}");
    Run { stdout, authorizations }
}

/// Reads the script's stderr to its end (printing it), signing in and consenting for each
/// authorization URL it prints, and delivering the redirect to its loopback listener.
async fn play_the_person(
    issuer: &str,
    stderr: impl tokio::io::AsyncRead + Unpin,
) -> anyhow::Result<Vec<String>> {
    let mut lines = BufReader::new(stderr).lines();
    let mut authorizations = Vec::new();
    while let Some(line) = lines.next_line().await? {
        println!("agent.py stderr: {line}");
        if line.starts_with(&format!("{issuer}/authorize?")) {
            // A new user agent each time, like a fresh browser.
            let redirect = HeadlessUser::new().log_in_and_consent_redirect(issuer, &line).await?;
            anyhow::ensure!(
                redirect.as_str().starts_with("http://127.0.0.1:"),
                "the redirect goes to the loopback listener: {redirect}"
            );
            let delivered = reqwest::get(redirect).await?;
            anyhow::ensure!(delivered.status() == 200, "the listener answered {}", delivered.status());
            authorizations.push(line);
        }
    }
    Ok(authorizations)
}

/// The `client_id` an authorization URL names.
fn client_id(authorization_url: &str) -> String {
    let url = url::Url::parse(authorization_url).unwrap();
    url.query_pairs().find(|(k, _)| k == "client_id").map(|(_, v)| v.into_owned()).unwrap()
}

/// The one tokens file the script keeps in `dir`.
fn tokens_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tokens.json"))
        .collect();
    assert_eq!(files.len(), 1, "one tokens file: {files:?}");
    files[0].clone()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Only its owner may read or write `path`.
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
}
