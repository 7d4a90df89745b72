//! `mcp-agent run`: the agent loop against the real authorization server, MCP server (and
//! gateway), with a scripted model server that answers from a queue and records every request it
//! receives. The agent runs as a child process; the test plays the person at the browser.

#[path = "support/person.rs"]
mod person;

use std::path::Path;

use serde_json::{Value, json};
use test_support::model::ScriptedModel;
use test_support::stack::{ADMIN_PASSWORD, ADMIN_USER, Stack, StackOptions};

use person::{DEMO, Person, Run, agent_as, stored_grant};

async fn run_agent(stack: &Stack, home: &Path, model: &ScriptedModel, args: &[&str], person: Person) -> Run {
    let llm = format!("openai:{}", model.base_url);
    let mut all = vec!["run", "--llm", &llm, "--model", "scripted"];
    all.extend_from_slice(args);
    agent_as(stack, home, &all, person).await
}

fn mcp(stack: &Stack) -> String {
    format!("{}/mcp", stack.resource)
}

/// Every secret the run's token store holds, and the codes and verifiers of its logins.
fn secrets_of(home: &Path, run: &Run) -> Vec<String> {
    let grant = stored_grant(home);
    let mut secrets: Vec<String> = ["access_token", "refresh_token"]
        .iter()
        .filter_map(|k| grant[*k].as_str().map(str::to_owned))
        .collect();
    for login in &run.logins {
        for (name, value) in login.query_pairs() {
            if matches!(name.as_ref(), "code_challenge" | "state") {
                secrets.push(value.into_owned());
            }
        }
    }
    secrets
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_calls_echo_through_real_oauth_and_no_secret_ever_reaches_it() {
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    model.calls(&[("c1", "echo", json!({"text": "hi"}))]).answer("I said hi.");
    let home = tempfile::tempdir().unwrap();
    let url = mcp(&stack);
    let run =
        run_agent(&stack, home.path(), &model, &["--json", &url, "say hi with the echo tool"], DEMO).await;
    run.assert_success();
    let transcript: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(transcript["answer"], "I said hi.");
    assert_eq!(transcript["stop"], "answered");
    assert_eq!(transcript["steps"][0]["calls"][0]["tool"], "echo");
    assert_eq!(transcript["steps"][0]["calls"][0]["is_error"], false);
    assert_eq!(run.logins.len(), 1, "one login, for the first call");

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tools.contains(&"echo") && tools.contains(&"whoami"), "{tools:?}");
    let results = requests[1].tool_messages();
    assert_eq!(results[0]["tool_call_id"], "c1");
    assert!(results[0]["content"].as_str().unwrap().contains("hi"));

    // Nothing secret in anything the model endpoint received, headers included.
    let secrets = secrets_of(home.path(), &run);
    assert!(secrets.len() >= 3, "{secrets:?}");
    for request in &requests {
        let text = request.text();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret reached the model: {text}");
        }
        assert!(!text.contains("eyJ"), "no JWT reached the model");
    }

    // A second run reuses the stored token: no browser.
    model.calls(&[("c2", "echo", json!({"text": "again"}))]).answer("Again.");
    let again = run_agent(&stack, home.path(), &model, &[&url, "echo again"], DEMO).await;
    again.assert_success();
    assert_eq!(again.stdout.trim(), "Again.");
    assert!(again.logins.is_empty(), "no login the second time");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_needing_more_scope_steps_up_and_its_result_reaches_the_model() {
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    model
        .calls(&[("c1", "echo", json!({"text": "first"}))])
        .calls(&[("c2", "whoami", json!({}))])
        .answer("done");
    let home = tempfile::tempdir().unwrap();
    let run = run_agent(&stack, home.path(), &model, &[&mcp(&stack), "who am I?"], DEMO).await;
    run.assert_success();
    assert_eq!(run.logins.len(), 2, "a login for echo, a step-up for whoami");
    assert!(run.logins[1].query_pairs().any(|(k, v)| k == "scope" && v.contains("profile")));
    let whoami = &model.requests()[2].tool_messages()[1];
    assert!(whoami["content"].as_str().unwrap().contains("profile"), "{whoami}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tools_bad_arguments_and_tool_errors_go_back_to_the_model_and_the_loop_goes_on() {
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    model
        .calls(&[
            ("c1", "format_disk", json!({})),
            ("c2", "echo", json!("not an object")),
            ("c3", "echo", json!({"wrong": 1})),
        ])
        .answer("gave up");
    let home = tempfile::tempdir().unwrap();
    let run = run_agent(&stack, home.path(), &model, &["--json", &mcp(&stack), "try things"], DEMO).await;
    run.assert_success();
    let results = model.requests()[1].tool_messages();
    assert_eq!(results.len(), 3, "one result per call, in order");
    let text = |i: usize| results[i]["content"].as_str().unwrap().to_owned();
    assert!(text(0).contains("unknown tool \"format_disk\"") && text(0).contains("echo"), "{}", text(0));
    assert!(text(1).contains("must be a JSON object"), "{}", text(1));
    assert!(text(2).contains("unexpected argument"), "the tool's own error: {}", text(2));
    let transcript: Value = serde_json::from_str(&run.stdout).unwrap();
    let errors: Vec<bool> = transcript["steps"][0]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["is_error"].as_bool().unwrap())
        .collect();
    assert_eq!(errors, [true, true, true]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_calls_of_one_turn_run_concurrently_and_max_steps_bounds_the_loop() {
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    let three = [
        ("a", "echo", json!({"text": "one"})),
        ("b", "echo", json!({"text": "two"})),
        ("c", "echo", json!({"text": "three"})),
    ];
    model.calls(&three).calls(&three).calls(&three);
    let home = tempfile::tempdir().unwrap();
    let run = run_agent(
        &stack,
        home.path(),
        &model,
        &["--json", "--max-steps", "2", &mcp(&stack), "echo a lot"],
        DEMO,
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "no answer: {}", run.stderr);
    let transcript: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(transcript["stop"], "max_steps");
    assert_eq!(transcript["steps"].as_array().unwrap().len(), 2);
    assert_eq!(model.requests().len(), 2, "the model was asked twice, no more");
    let results = model.requests()[1].tool_messages();
    let ids: Vec<&str> = results.iter().map(|r| r["tool_call_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"], "results in the order of the calls");
    assert!(results[2]["content"].as_str().unwrap().contains("three"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destructive_tool_needs_yes_without_a_terminal_and_the_api_key_goes_to_the_model_only() {
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    let home = tempfile::tempdir().unwrap();
    let url = mcp(&stack);
    // Step up to notes:write first, with a note to delete.
    model.calls(&[("c1", "add_note", json!({"title": "old", "body": ""}))]).answer("added");
    run_agent(&stack, home.path(), &model, &[&url, "add a note"], DEMO).await.assert_success();

    model.calls(&[("c2", "delete_note", json!({"id": 1}))]).answer("tried");
    let refused = run_agent(&stack, home.path(), &model, &[&url, "delete note 1"], DEMO).await;
    refused.assert_success();
    let result = &model.requests().last().unwrap().tool_messages()[0];
    assert!(
        result["content"].as_str().unwrap().contains("refused")
            && result["content"].as_str().unwrap().contains("--yes")
    );

    model.calls(&[("c3", "delete_note", json!({"id": 1}))]).answer("deleted");
    let allowed = person::agent_with_env(
        &stack,
        home.path(),
        &[
            "run",
            "--llm",
            &format!("openai:{}", model.base_url),
            "--model",
            "scripted",
            "--yes",
            &url,
            "delete note 1",
        ],
        DEMO,
        &[("MCP_AGENT_LLM_API_KEY", "sk-test-key-123")],
    )
    .await;
    allowed.assert_success();
    let last = model.requests().last().unwrap().clone();
    assert!(last.tool_messages()[0]["content"].as_str().unwrap().contains("Deleted note #1"));
    assert!(last.headers.iter().any(|(n, v)| n == "authorization" && v == "Bearer sk-test-key-123"));
    assert!(
        !allowed.stderr.contains("sk-test-key-123") && !allowed.stdout.contains("sk-test-key-123"),
        "never printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_a_call_waits_for_the_persons_approval_and_its_result_reaches_the_model() {
    let stack = Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap();
    let gateway = format!("{}/mcp", stack.gateway.as_ref().unwrap().resource);
    let model = ScriptedModel::start().await;
    let home = tempfile::tempdir().unwrap();
    let ada = Person { username: ADMIN_USER, password: ADMIN_PASSWORD, approval: Some("once") };
    model
        .calls(&[("c1", "demo__add_note", json!({"title": "urgent: call back", "body": ""}))])
        .answer("noted");
    let run =
        run_agent(&stack, home.path(), &model, &["--json", &gateway, "note that I must call back"], ada)
            .await;
    run.assert_success();
    let result = &model.requests()[1].tool_messages()[0];
    assert!(result["content"].as_str().unwrap().contains("Added note"), "approved, then made: {result}");
    // The gateway marks deletes destructive: without --yes, refused before anyone is asked.
    model.calls(&[("c2", "demo__delete_note", json!({"id": 1}))]).answer("tried");
    run_agent(&stack, home.path(), &model, &[&gateway, "delete it"], ada).await.assert_success();
    let refused = &model.requests().last().unwrap().tool_messages()[0];
    assert!(refused["content"].as_str().unwrap().contains("refused"), "{refused}");
}

/// Needle's weights, as `cargo xtask test` names them (or where it puts them); `None`, said
/// loudly, without them.
fn needle_weights() -> Option<std::path::PathBuf> {
    use std::io::Write as _;
    let path = std::env::var_os(mcp_agent::llm::needle::MODEL_ENV)
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(mcp_agent::llm::needle::XTASK_MODEL_PATH)
        });
    if path.is_file() {
        return Some(path);
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!! SKIPPED: `mcp-agent run` with the real offline model: no Needle weights at {} \
         (`cargo xtask test` fetches them) !!!!\n",
        path.display()
    );
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_the_box_run_says_hi_with_the_echo_tool_offline_through_real_oauth() {
    let Some(weights) = needle_weights() else { return };
    let stack = Stack::start(None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let llm = format!("needle:{}", weights.display());
    let url = mcp(&stack);
    let run = agent_as(
        &stack,
        home.path(),
        &["--json", "run", "--llm", &llm, &url, "use the echo tool to say hi"],
        DEMO,
    )
    .await;
    run.assert_success();
    let transcript: Value = serde_json::from_str(&run.stdout).unwrap();
    let call = &transcript["steps"][0]["calls"][0];
    assert_eq!(call["tool"], "echo", "{transcript}");
    assert_eq!(call["arguments"]["text"], "hi", "{transcript}");
    assert_eq!(call["is_error"], false);
    assert!(transcript["answer"].as_str().unwrap().contains("hi"), "{transcript}");
    assert_eq!(run.logins.len(), 1, "through the real login");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_answers_one_goal_per_line_and_carries_the_conversation() {
    use tokio::io::AsyncWriteExt as _;
    let stack = Stack::start(None).await.unwrap();
    let model = ScriptedModel::start().await;
    let home = tempfile::tempdir().unwrap();
    let url = mcp(&stack);
    // Logged in beforehand; the chat itself may not log in.
    model.answer("ready");
    run_agent(&stack, home.path(), &model, &[&url, "get ready"], DEMO).await;
    model.calls(&[("c1", "echo", json!({"text": "one"}))]).answer("first done").answer("second done");

    let llm = format!("openai:{}", model.base_url);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--home")
        .arg(home.path())
        .args(["--no-login", "chat", "--llm", &llm, "--model", "scripted", &url])
        .env_remove("MCP_AGENT_LLM_API_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"echo one\n\nand then?\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["first done", "second done"]);
    let requests = model.requests();
    let last = &requests.last().unwrap().body["messages"];
    let roles: Vec<&str> = last.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant", "user"], "the whole conversation");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_several_servers_the_model_sees_each_ones_tools_under_its_prefix() {
    let stack = Stack::start_with(StackOptions { gateway: Some(None), ..Default::default() }).await.unwrap();
    let gateway = format!("{}/mcp", stack.gateway.as_ref().unwrap().resource);
    let server = mcp(&stack);
    let prefix = |url: &str| {
        let url = url::Url::parse(url).unwrap();
        format!("{}-{}", url.host_str().unwrap().replace('.', "-"), url.port().unwrap())
    };
    let (direct, through) = (prefix(&server), prefix(&gateway));
    let model = ScriptedModel::start().await;
    model
        .calls(&[
            ("a", &format!("{direct}__echo"), json!({"text": "direct"})),
            ("b", &format!("{through}__demo__echo"), json!({"text": "through the gateway"})),
        ])
        .answer("both");
    let home = tempfile::tempdir().unwrap();
    let run = run_agent(&stack, home.path(), &model, &[&server, &gateway, "echo twice"], DEMO).await;
    run.assert_success();
    assert_eq!(run.logins.len(), 2, "one login per resource");
    let requests = model.requests();
    let tools: Vec<String> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        tools.contains(&format!("{direct}__whoami")) && tools.contains(&format!("{through}__demo__whoami")),
        "{tools:?}"
    );
    let results = requests[1].tool_messages();
    assert!(results[0]["content"].as_str().unwrap().contains("direct"), "{results:?}");
    assert!(results[1]["content"].as_str().unwrap().contains("through the gateway"), "{results:?}");
}
