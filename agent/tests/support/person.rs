//! Running `mcp-agent` as a child process with `--browser print` while the test plays the person at
//! the browser: it reads the authorization URL the agent prints, logs in and consents on our real
//! pages with [`HeadlessUser`], opens the redirect on the agent's loopback listener, and answers
//! the approvals page when a gateway holds a call back. Shared by `cli.rs` and `run.rs`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use test_support::headless::HeadlessUser;
use test_support::stack::{DEMO_PASSWORD, DEMO_USER, Stack};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// What one run of the agent did.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The authorization URLs it asked the "browser" to open, in order.
    pub logins: Vec<url::Url>,
}

impl Run {
    pub fn assert_success(&self) {
        assert!(self.status.success(), "mcp-agent failed ({}):\n{}", self.status, self.stderr);
    }
}

/// Runs `mcp-agent --home <home> --browser print <args>`, logging in whenever it asks.
pub async fn agent(stack: &Stack, home: &Path, args: &[&str]) -> Run {
    agent_as(stack, home, args, DEMO).await
}

/// The demo user, who never has a call to approve.
pub const DEMO: Person = Person { username: DEMO_USER, password: DEMO_PASSWORD, approval: None };

/// Who plays the person at the browser, and what they answer when a call waits for approval.
#[derive(Clone, Copy)]
pub struct Person {
    pub username: &'static str,
    pub password: &'static str,
    /// `once`, `deny`, …; `None`: never answers.
    pub approval: Option<&'static str>,
}

/// [`agent`], with `person` at the browser.
pub async fn agent_as(stack: &Stack, home: &Path, args: &[&str], person: Person) -> Run {
    agent_with_env(stack, home, args, person, &[]).await
}

/// [`agent_as`] with these environment variables set.
pub async fn agent_with_env(
    stack: &Stack,
    home: &Path,
    args: &[&str],
    person: Person,
    env: &[(&str, &str)],
) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--home")
        .arg(home)
        .args(["--browser", "print", "--login-timeout", "30"])
        .args(args)
        .env_remove("MCP_AGENT_CLIENT_SECRET")
        .env_remove("MCP_AGENT_CLIENT_ISSUER")
        .env_remove("MCP_AGENT_LLM_API_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mcp-agent starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reading_stdout = tokio::spawn(async move {
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.expect("stdout is UTF-8");
        out
    });
    let mut stderr_lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut stderr = String::new();
    let mut logins = Vec::new();
    let run = async {
        while let Some(line) = stderr_lines.next_line().await.expect("stderr is UTF-8") {
            stderr.push_str(&line);
            stderr.push('\n');
            let printed = line.trim();
            if printed.starts_with(&format!("{}/authorize?", stack.issuer)) {
                let authorize = url::Url::parse(printed).expect("the printed URL parses");
                play_the_user(stack, &authorize, person).await;
                logins.push(authorize);
            }
            if printed == format!("{}/approvals", stack.issuer)
                && let Some(decision) = person.approval
            {
                let user = HeadlessUser::as_user(person.username, person.password);
                let answered =
                    user.answer_approvals(&stack.issuer, decision).await.expect("the approvals page");
                assert_eq!(answered, 1, "one call waits for the person");
            }
        }
        child.wait().await.expect("mcp-agent exits")
    };
    // A guard against a hang, not a speed test: the offline model's run alone takes tens of
    // seconds of CPU, and on a loaded 2-core machine it once took more than 60 s.
    let status =
        tokio::time::timeout(Duration::from_secs(240), run).await.expect("mcp-agent finishes in time");
    Run { status, stdout: reading_stdout.await.expect("stdout reader"), stderr, logins }
}

/// What the person does with the URL: logs in, consents, and lets the browser follow the
/// redirect to the agent's loopback listener.
pub async fn play_the_user(stack: &Stack, authorize: &url::Url, person: Person) {
    let redirect_uri = query(authorize, "redirect_uri").expect("a redirect_uri");
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:"),
        "a loopback redirect (RFC 8252 §7.3): {redirect_uri}"
    );
    let user = HeadlessUser::as_user(person.username, person.password);
    let back = user.log_in_and_consent(&stack.issuer, authorize.as_str()).await.expect("login and consent");
    let mut callback = url::Url::parse(&redirect_uri).expect("redirect_uri parses");
    callback.query_pairs_mut().extend_pairs(back.iter());
    let page = reqwest::get(callback).await.expect("the loopback listener answers");
    assert!(page.status().is_success(), "the loopback page: {}", page.status());
}

pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The token files under `home`: one per authorization server.
pub fn token_files(home: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(home) else { return Vec::new() };
    entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

/// The only grant stored under `home`.
pub fn stored_grant(home: &Path) -> Value {
    let files = token_files(home);
    assert_eq!(files.len(), 1, "one token file per authorization server: {files:?}");
    let file: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let grants = file["grants"].as_object().expect("grants");
    assert_eq!(grants.len(), 1, "one grant: {file}");
    grants.values().next().unwrap().clone()
}
