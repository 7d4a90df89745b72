//! Browser end-to-end tests: the release SPA in headless Chromium, against the real servers.
//!
//! Need `dist/` (the release SPA) and chromedriver + Chromium, which `cargo xtask test` builds and
//! installs before running these with `--ignored`. Each test starts its own servers and browser.

use std::time::Duration;

use e2e::browser::Browser;
use e2e::{ADMIN_PASSWORD, ADMIN_USER, DEMO_PASSWORD, DEMO_USER, Stack, StackOptions, dist_dir};
use fantoccini::{Client, Locator};

const WAIT: Duration = Duration::from_secs(30);

async fn stack(options: StackOptions<'_>) -> Stack {
    let dist = dist_dir();
    assert!(
        dist.join("index.html").is_file(),
        "no SPA at {}: build it with `cargo xtask test`",
        dist.display()
    );
    Stack::start_with(StackOptions { spa_dist: Some(&dist), ..options }).await.unwrap()
}

async fn fill(client: &Client, id: &str, value: &str) -> anyhow::Result<()> {
    let field = client.wait().at_most(WAIT).for_element(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(value).await?;
    Ok(())
}

async fn click(client: &Client, id: &str) -> anyhow::Result<()> {
    let element = client.wait().at_most(WAIT).for_element(Locator::Id(id)).await?;
    match element.click().await {
        Ok(_) => Ok(()),
        // chromedriver at times answers a click that starts a navigation with "aborted by
        // navigation" rather than success (seen once in CI on a consent page). The click was made;
        // every caller then waits for what it should have led to, which fails if it did not.
        Err(fantoccini::error::CmdError::NotW3C(serde_json::Value::String(why)))
            if why.contains("aborted by navigation") =>
        {
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

async fn text_of(client: &Client, id: &str) -> anyhow::Result<String> {
    Ok(client.wait().at_most(WAIT).for_element(Locator::Id(id)).await?.text().await?)
}

/// Opens the SPA and points it at the stack's servers.
async fn open_spa(client: &Client, stack: &Stack) -> anyhow::Result<()> {
    client.goto(&format!("{}/", stack.spa_origin)).await?;
    fill(client, "endpoint", &format!("{}/echo", stack.resource)).await?;
    fill(client, "mcp-url", &format!("{}/mcp", stack.resource)).await?;
    Ok(())
}

/// On the AS's login page: sign in as the demo user.
async fn sign_in(client: &Client, stack: &Stack) -> anyhow::Result<()> {
    sign_in_as(client, stack, DEMO_USER, DEMO_PASSWORD).await
}

/// On the AS's login page: sign in as `username`.
async fn sign_in_as(client: &Client, stack: &Stack, username: &str, password: &str) -> anyhow::Result<()> {
    fill(client, "username", username).await?;
    fill(client, "password", password).await?;
    let url = client.current_url().await?;
    anyhow::ensure!(url.as_str().starts_with(&stack.issuer), "the login page is the AS's: {url}");
    click(client, "sign-in").await
}

async fn call_echo(client: &Client, text: &str) -> anyhow::Result<()> {
    fill(client, "text", text).await?;
    click(client, "call-echo").await
}

async fn timeline(client: &Client) -> anyhow::Result<String> {
    text_of(client, "timeline").await
}

fn expect_steps(timeline: &str, steps: &[&str]) -> anyhow::Result<()> {
    for step in steps {
        anyhow::ensure!(timeline.contains(step), "timeline lacks {step:?}:\n{timeline}");
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn first_call_logs_in_consents_and_shows_the_result_then_reuses_the_token() {
    let stack = stack(StackOptions::default()).await;
    Browser::launch()
        .await
        .unwrap()
        .run("first_call_then_reuse", |client| async move {
            open_spa(&client, &stack).await?;
            call_echo(&client, "Hello from headless Chromium").await?;
            sign_in(&client, &stack).await?;
            click(&client, "allow").await?;
            anyhow::ensure!(
                text_of(&client, "result").await? == "Hello from headless Chromium",
                "echoed text"
            );

            let url = client.current_url().await?;
            anyhow::ensure!(
                url.as_str() == format!("{}/", stack.spa_origin),
                "code and state scrubbed from {url}"
            );
            expect_steps(
                &timeline(&client).await?,
                &[
                    "Call the API without a token",
                    "Read the Bearer challenge",
                    "Fetch the protected resource metadata",
                    "Fetch the authorization server metadata",
                    "Use this app's Client ID Metadata Document",
                    "Create PKCE verifier, challenge and state",
                    "Check state and iss",
                    "Exchange the code for tokens",
                    "Call the API with the access token",
                ],
            )?;
            // Nothing token-like at rest: no JWT in localStorage, sessionStorage or cookies.
            let storage = client
                .execute("return JSON.stringify([localStorage, sessionStorage, document.cookie]);", vec![])
                .await?;
            let storage = storage.as_str().unwrap_or_default().to_owned();
            anyhow::ensure!(!storage.contains("eyJ"), "a JWT is stored in the browser: {storage}");

            // The second call goes straight through with the token in memory.
            call_echo(&client, "Second call").await?;
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='Second call']"))
                .await?;
            let url = client.current_url().await?;
            anyhow::ensure!(
                url.as_str().starts_with(&stack.spa_origin),
                "no redirect for the second call: {url}"
            );
            let timeline = timeline(&client).await?;
            anyhow::ensure!(
                !timeline.contains("Send the browser"),
                "no authorization for the second call:\n{timeline}"
            );
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn deny_on_the_consent_page_shows_access_denied() {
    let stack = stack(StackOptions::default()).await;
    Browser::launch()
        .await
        .unwrap()
        .run("deny_shows_access_denied", |client| async move {
            open_spa(&client, &stack).await?;
            call_echo(&client, "never echoed").await?;
            sign_in(&client, &stack).await?;
            click(&client, "deny").await?;
            let error = text_of(&client, "error").await?;
            anyhow::ensure!(error.contains("access_denied"), "the AS's error is shown: {error}");
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn mcp_mode_lists_tools_and_calls_one() {
    let stack = stack(StackOptions::default()).await;
    Browser::launch()
        .await
        .unwrap()
        .run("mcp_lists_and_calls", |client| async move {
            open_spa(&client, &stack).await?;
            click(&client, "list-tools").await?;
            sign_in(&client, &stack).await?;
            click(&client, "allow").await?;
            let listed = text_of(&client, "result").await?;
            anyhow::ensure!(listed.contains("echo") && listed.contains("whoami"), "tools listed: {listed}");
            fill(&client, "tool-echo-text", "through MCP").await?;
            click(&client, "call-tool-echo").await?;
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='through MCP']"))
                .await?;
            expect_steps(&timeline(&client).await?, &["Call the tool echo with the access token"])?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn step_up_from_echo_to_whoami_asks_consent_for_the_union() {
    let stack = stack(StackOptions::default()).await;
    let issuer = stack.issuer.clone();
    Browser::launch()
        .await
        .unwrap()
        .run("step_up", |client| async move {
            open_spa(&client, &stack).await?;
            click(&client, "list-tools").await?;
            sign_in(&client, &stack).await?;
            click(&client, "allow").await?;
            text_of(&client, "tool-whoami").await?;
            click(&client, "call-tool-whoami").await?;

            // 403 insufficient_scope: back to the AS, already signed in, asked for both scopes.
            client.wait().at_most(WAIT).for_element(Locator::Id("allow")).await?;
            let consent = client.source().await?;
            anyhow::ensure!(client.current_url().await?.as_str().starts_with(&issuer), "on the AS");
            anyhow::ensure!(
                consent.contains("<code>echo</code>") && consent.contains("<code>profile</code>"),
                "consent for the union of echo and profile"
            );
            click(&client, "allow").await?;
            let result = text_of(&client, "result").await?;
            anyhow::ensure!(result.starts_with("You are "), "whoami answered: {result}");
            text_of(&client, "tool-echo")
                .await
                .map_err(|_| anyhow::anyhow!("the tool forms survive the redirect"))?;
            expect_steps(&timeline(&client).await?, &["step-up"])?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn an_expired_access_token_is_refreshed_silently() {
    let stack =
        stack(StackOptions { access_token_ttl: Some(Duration::from_secs(6)), ..Default::default() }).await;
    Browser::launch()
        .await
        .unwrap()
        .run("silent_refresh", |client| async move {
            open_spa(&client, &stack).await?;
            call_echo(&client, "before expiry").await?;
            sign_in(&client, &stack).await?;
            click(&client, "allow").await?;
            anyhow::ensure!(text_of(&client, "result").await? == "before expiry", "first result");
            tokio::time::sleep(Duration::from_secs(7)).await;

            call_echo(&client, "after expiry").await?;
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='after expiry']"))
                .await?;
            let timeline = timeline(&client).await?;
            expect_steps(&timeline, &["Refresh the access token"])?;
            anyhow::ensure!(
                !timeline.contains("Send the browser"),
                "refreshed without a redirect:\n{timeline}"
            );
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn a_callback_with_a_tampered_state_is_refused() {
    let stack = stack(StackOptions::default()).await;
    Browser::launch()
        .await
        .unwrap()
        .run("tampered_state", |client| async move {
            open_spa(&client, &stack).await?;
            call_echo(&client, "x").await?;
            // At the AS's login page, go back to the SPA with a forged callback instead.
            client.wait().at_most(WAIT).for_element(Locator::Id("username")).await?;
            let forged = format!(
                "{}/callback?code=stolen&state=not-the-one-we-sent&iss={}",
                stack.spa_origin,
                url::form_urlencoded::byte_serialize(stack.issuer.as_bytes()).collect::<String>()
            );
            client.goto(&forged).await?;
            let error = text_of(&client, "error").await?;
            anyhow::ensure!(error.contains("state"), "the forged state is refused: {error}");
            let url = client.current_url().await?;
            anyhow::ensure!(!url.as_str().contains("stolen"), "the code left the address bar: {url}");
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn step_by_step_mode_pauses_before_requests_and_forget_drops_the_tokens() {
    let stack = stack(StackOptions::default()).await;
    let issuer = stack.issuer.clone();
    Browser::launch()
        .await
        .unwrap()
        .run("step_mode_and_forget", |client| async move {
            open_spa(&client, &stack).await?;
            click(&client, "step-mode").await?;
            call_echo(&client, "stepwise").await?;

            // Paused before the first request, saying what it will send.
            let pause = text_of(&client, "pause").await?;
            anyhow::ensure!(
                pause.contains("Call the API without a token") && pause.contains("GET"),
                "{pause}"
            );
            anyhow::ensure!(!timeline(&client).await?.contains("Call the API"), "nothing sent before Next");
            click(&client, "next").await?;
            let pause = text_of(&client, "pause").await?;
            anyhow::ensure!(pause.contains("protected resource metadata"), "the next pause: {pause}");
            click(&client, "run-through").await?;

            sign_in(&client, &stack).await?;
            click(&client, "allow").await?;
            anyhow::ensure!(text_of(&client, "result").await? == "stepwise", "the flow finished");

            // Forget: no tokens, and the next call must go through the authorization server again.
            click(&client, "forget").await?;
            text_of(&client, "no-tokens").await?;
            call_echo(&client, "after forgetting").await?;
            // Signed in and consented already: the AS sends the browser straight back.
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='after forgetting']"))
                .await?;
            let timeline = timeline(&client).await?;
            expect_steps(
                &timeline,
                &["Send the browser to the authorization endpoint", "Check state and iss"],
            )?;
            anyhow::ensure!(timeline.contains(&issuer), "went through {issuer}");
            Ok(())
        })
        .await
        .unwrap();
}

/// Found by using the demo as a person would: someone who allowed the SPA before opens it in a
/// fresh profile (no AS session, consent remembered) and signs in. The login POST goes on to the
/// consent step, which redirects straight to the SPA; Chromium checks that whole chain against the
/// login page's CSP `form-action`, and used to stop it there, leaving the person on the login page.
#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn a_returning_user_in_a_fresh_profile_signs_in_and_goes_straight_back_to_the_app() {
    let stack = &stack(StackOptions::default()).await;
    let first_visit = |client: Client| async move {
        open_spa(&client, stack).await?;
        call_echo(&client, "first visit").await?;
        sign_in(&client, stack).await?;
        click(&client, "allow").await?;
        anyhow::ensure!(text_of(&client, "result").await? == "first visit", "first visit");
        Ok(())
    };
    Browser::launch().await.unwrap().run("returning_user_first_profile", first_visit).await.unwrap();

    Browser::launch()
        .await
        .unwrap()
        .run("returning_user_fresh_profile", |client| async move {
            open_spa(&client, stack).await?;
            call_echo(&client, "returning").await?;
            sign_in(&client, stack).await?;
            // No consent page this time: the AS remembers the consent and redirects at once.
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='returning']"))
                .await
                .map_err(|e| anyhow::anyhow!("the login did not lead back to the app: {e}"))?;
            let timeline = timeline(&client).await?;
            expect_steps(&timeline, &["Check state and iss", "Call the API with the access token"])?;
            Ok(())
        })
        .await
        .unwrap();
}

/// The same person, signed in at the AS, uses a second client: the SPA served from another origin
/// is another client (the metadata document names only its own origin, so it registers). The AS
/// asks for consent for that client and sends the browser back to that client's origin.
#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn a_second_client_of_a_signed_in_user_asks_consent_and_returns_to_that_client() {
    let stack = stack(StackOptions::default()).await;
    Browser::launch()
        .await
        .unwrap()
        .run("second_client", |client| async move {
            open_spa(&client, &stack).await?;
            call_echo(&client, "first client").await?;
            sign_in(&client, &stack).await?;
            click(&client, "allow").await?;
            anyhow::ensure!(text_of(&client, "result").await? == "first client", "first client");

            client.goto(&format!("{}/", stack.spa_alias_origin)).await?;
            fill(&client, "endpoint", &format!("{}/echo", stack.resource)).await?;
            call_echo(&client, "second client").await?;
            // Signed in already, but this client was never allowed: the consent page, for it.
            client.wait().at_most(WAIT).for_element(Locator::Id("allow")).await?;
            let consent = client.source().await?;
            anyhow::ensure!(consent.contains(&stack.spa_alias_origin), "names where it sends the browser");
            click(&client, "allow").await?;
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='second client']"))
                .await
                .map_err(|e| anyhow::anyhow!("consent did not lead back to the second client: {e}"))?;
            let url = client.current_url().await?;
            anyhow::ensure!(
                url.as_str().starts_with(&stack.spa_alias_origin),
                "back at the second client: {url}"
            );
            expect_steps(&timeline(&client).await?, &["Register as a public client"])?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn a_person_approves_a_tool_call_in_a_fresh_browser_profile_and_the_client_collects_the_token() {
    let stack = stack(StackOptions { confidential_client: Some("gateway"), ..Default::default() }).await;
    let (client_id, secret) = stack.confidential.clone().unwrap();
    let http = reqwest::Client::new();

    // The user's token for the MCP server, as a client acting for the server would hold it.
    let url = format!("{}/echo?text=x", stack.resource);
    let unauthorized = http.get(&url).send().await.unwrap();
    let token = e2e::headless::HeadlessUser::new()
        .authorize_from_challenge(&url, &e2e::challenge_of(&unauthorized))
        .await
        .unwrap();
    let sub =
        protocol::jwt::decode_unverified(token.secret()).unwrap().claims["sub"].as_str().unwrap().to_owned();
    let details = serde_json::json!([{
        "type": "mcp_tool_call", "locations": [stack.resource], "actions": ["tools/call"], "identifier": "echo",
        "arguments_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "arguments_summary": "text = \"x\"",
    }])
    .to_string();
    let started: protocol::token::BackchannelAuthenticationResponse = http
        .post(format!("{}/bc-authorize", stack.issuer))
        .basic_auth(&client_id, Some(secret.secret()))
        .form(&[
            ("login_hint", sub.as_str()),
            ("subject_token", token.secret()),
            ("binding_message", "Echo x"),
            ("authorization_details", details.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // The person, in a browser that never signed in: the page sends them to sign in and back.
    let issuer = stack.issuer.clone();
    let approvals = format!("{issuer}/approvals");
    // Borrowed, not moved: the servers must outlive the browser part.
    let running = &stack;
    Browser::launch()
        .await
        .unwrap()
        .run("approval_in_a_fresh_profile", |client| async move {
            client.goto(&approvals).await?;
            sign_in(&client, running).await?;
            let card =
                client.wait().at_most(WAIT).for_element(Locator::Css(".approval")).await?.text().await?;
            anyhow::ensure!(card.contains("echo") && card.contains("Echo x"), "the request is shown: {card}");
            client.find(Locator::Css("button[value='once']")).await?.click().await?;
            client.wait().at_most(WAIT).for_element(Locator::Id("no-approvals")).await?;
            Ok(())
        })
        .await
        .unwrap();

    let collected = http
        .post(format!("{issuer}/token"))
        .basic_auth(&client_id, Some(secret.secret()))
        .form(&[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", started.auth_req_id.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(collected.status(), 200);
    let collected: protocol::token::TokenResponse = collected.json().await.unwrap();
    let claims = protocol::jwt::decode_unverified(collected.access_token.secret()).unwrap().claims;
    assert_eq!(claims["act"]["sub"], "gateway");
    assert_eq!(claims["authorization_details"][0]["identifier"], "echo");
}

/// Issue 13, the SPA through the gateway: a tool the policy lets through goes straight through;
/// one it has a person approve first (a note titled "urgent…") shows the approval link, the person
/// approves once on the AS's page in another tab of the same browser, and the SPA, which kept
/// making the same call, shows its result.
#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn through_the_gateway_a_call_waits_for_a_persons_approval_and_goes_through_once_approved() {
    let stack = stack(StackOptions { gateway: Some(None), ..Default::default() }).await;
    let gateway = format!("{}/mcp", stack.gateway.as_ref().expect("started with a gateway").resource);
    let running = &stack;
    Browser::launch()
        .await
        .unwrap()
        .run("gateway_approval", |client| async move {
            client.goto(&format!("{}/", running.spa_origin)).await?;
            fill(&client, "mcp-url", &gateway).await?;
            click(&client, "list-tools").await?;
            sign_in_as(&client, running, ADMIN_USER, ADMIN_PASSWORD).await?;
            click(&client, "allow").await?;
            let listed = text_of(&client, "result").await?;
            anyhow::ensure!(
                listed.contains("demo__echo") && listed.contains("demo__add_note"),
                "the gateway's tools: {listed}"
            );

            // Reading is automatic.
            fill(&client, "tool-demo__echo-text", "through the gateway").await?;
            click(&client, "call-tool-demo__echo").await?;
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and text()='through the gateway']"))
                .await?;

            // An urgent note: first a step-up to notes:write (consent again), then the approval.
            let spa = client.window().await?;
            fill(&client, "tool-demo__add_note-title", "urgent: call the plumber").await?;
            fill(&client, "tool-demo__add_note-body", "the kitchen tap").await?;
            click(&client, "call-tool-demo__add_note").await?;
            click(&client, "allow").await?;
            let link = client.wait().at_most(WAIT).for_element(Locator::Id("approval-link")).await?;
            let href = link.attr("href").await?.unwrap_or_default();
            anyhow::ensure!(
                href == format!("{}/approvals", running.issuer),
                "the AS's approval page: {href}"
            );
            // Where the link leads and who asks, shown before anyone follows it (MCP URL-mode
            // elicitation).
            let site = url::Url::parse(&running.issuer)?;
            let site = format!(
                "{}:{}",
                site.host_str().unwrap_or_default(),
                site.port_or_known_default().unwrap_or(0)
            );
            anyhow::ensure!(text_of(&client, "approval-site").await? == site, "the approval page's site");
            anyhow::ensure!(text_of(&client, "approval-server").await? == gateway, "the server asking");
            let asked = text_of(&client, "approval-asked").await?;
            anyhow::ensure!(
                asked.contains("which says: \u{201c}This call needs"),
                "the gateway's message: {asked}"
            );
            anyhow::ensure!(link.attr("target").await?.as_deref() == Some("_blank"), "opens in a new tab");
            let rel = link.attr("rel").await?.unwrap_or_default();
            anyhow::ensure!(rel.contains("noopener") && rel.contains("noreferrer"), "rel: {rel}");
            expect_steps(&timeline(&client).await?, &["This call needs a person's approval"])?;
            let next = text_of(&client, "approval-next").await?;
            anyhow::ensure!(
                next.starts_with("Making the same call again"),
                "says when it tries again: {next}"
            );

            // The person follows the link: a new tab, signed in at the AS already.
            link.click().await?;
            let deadline = std::time::Instant::now() + WAIT;
            let approvals = loop {
                if let Some(tab) = client.windows().await?.into_iter().find(|w| *w != spa) {
                    break tab;
                }
                anyhow::ensure!(std::time::Instant::now() < deadline, "the link opened no new tab");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            client.switch_to_window(approvals).await?;
            let card =
                client.wait().at_most(WAIT).for_element(Locator::Css(".approval")).await?.text().await?;
            anyhow::ensure!(card.contains("add_note"), "the call: {card}");
            anyhow::ensure!(card.contains("urgent: call the plumber"), "its arguments: {card}");
            client.find(Locator::Css("button[value='once']")).await?.click().await?;
            client.wait().at_most(WAIT).for_element(Locator::Id("no-approvals")).await?;
            client.close_window().await?;
            client.switch_to_window(spa).await?;

            // The SPA made the same call again by itself, and it went through.
            client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::XPath("//p[@id='result' and starts-with(text(), 'Added note #')]"))
                .await?;
            anyhow::ensure!(
                client.find(Locator::Id("approval")).await.is_err(),
                "the approval panel is gone once the call went through"
            );
            expect_steps(
                &timeline(&client).await?,
                &["step-up", "This call needs a person's approval", "Approved: the same call went through"],
            )?;

            // A deletion is approved every time; the person at the SPA may stop waiting.
            fill(&client, "tool-demo__delete_note-id", "1").await?;
            click(&client, "call-tool-demo__delete_note").await?;
            client.wait().at_most(WAIT).for_element(Locator::Id("approval-link")).await?;
            click(&client, "stop-waiting").await?;
            let error = text_of(&client, "error").await?;
            anyhow::ensure!(error.starts_with("Stopped waiting"), "says the call was not made: {error}");
            anyhow::ensure!(client.find(Locator::Id("approval")).await.is_err(), "no longer waiting");

            // Logging out while a call waits for approval stops the call. It used to go on trying
            // without a token, authorize again (the AS, remembering the user and the consent, sent
            // the browser straight back) and wait anew, or run once approved, after the logout.
            click(&client, "call-tool-demo__delete_note").await?;
            client.wait().at_most(WAIT).for_element(Locator::Id("approval-link")).await?;
            click(&client, "forget").await?;
            text_of(&client, "no-tokens").await?;
            anyhow::ensure!(client.find(Locator::Id("approval")).await.is_err(), "no longer waiting");
            // Several of the gateway's retry intervals (1 s here).
            tokio::time::sleep(Duration::from_secs(5)).await;
            let url = client.current_url().await?;
            anyhow::ensure!(url.as_str().starts_with(&running.spa_origin), "still on the SPA: {url}");
            text_of(&client, "no-tokens").await?;
            anyhow::ensure!(client.find(Locator::Id("approval")).await.is_err(), "not waiting again");
            anyhow::ensure!(client.find(Locator::Id("result")).await.is_err(), "no call went through");
            anyhow::ensure!(!timeline(&client).await?.contains("Send the browser"), "no new authorization");
            Ok(())
        })
        .await
        .unwrap();
}
