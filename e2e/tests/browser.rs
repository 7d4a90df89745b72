//! The browser end-to-end test: the release SPA in headless Chromium, clicking through the whole
//! flow against the real servers.
//!
//! Needs `dist/` (the release SPA) and chromedriver + Chromium, which `cargo xtask test` builds and
//! installs before running it with `--ignored`.

use std::time::Duration;

use e2e::browser::Browser;
use e2e::{DEMO_PASSWORD, DEMO_USER, Stack, dist_dir};
use fantoccini::{Client, Locator};

const WAIT: Duration = Duration::from_secs(30);

async fn fill(client: &Client, id: &str, value: &str) -> anyhow::Result<()> {
    let field = client.wait().at_most(WAIT).for_element(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(value).await?;
    Ok(())
}

async fn click(client: &Client, id: &str) -> anyhow::Result<()> {
    client.wait().at_most(WAIT).for_element(Locator::Id(id)).await?.click().await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the release SPA in dist/ and chromedriver; run by `cargo xtask test`"]
async fn the_spa_completes_the_whole_flow_in_headless_chromium() {
    let dist = dist_dir();
    assert!(
        dist.join("index.html").is_file(),
        "no SPA at {}: build it with `cargo xtask test`",
        dist.display()
    );
    let stack = Stack::start(Some(&dist)).await.unwrap();
    let browser = Browser::launch().await.unwrap();
    let text = "Hello from headless Chromium";

    browser
        .run("the_spa_completes_the_whole_flow", |client| async move {
            client.goto(&format!("{}/", stack.spa_origin)).await?;
            fill(&client, "endpoint", &format!("{}/echo", stack.resource)).await?;
            fill(&client, "text", text).await?;
            click(&client, "call-echo").await?;

            // The authorization server's login page.
            fill(&client, "username", DEMO_USER).await?;
            fill(&client, "password", DEMO_PASSWORD).await?;
            let login_url = client.current_url().await?;
            anyhow::ensure!(login_url.as_str().starts_with(&stack.issuer), "login is on the AS: {login_url}");
            click(&client, "sign-in").await?;

            // The consent page.
            click(&client, "allow").await?;

            // Back in the SPA: the retried call's result.
            let result = client.wait().at_most(WAIT).for_element(Locator::Id("result")).await?;
            anyhow::ensure!(result.text().await? == text, "echoed text differs");

            let url = client.current_url().await?;
            anyhow::ensure!(
                url.as_str() == format!("{}/", stack.spa_origin),
                "code and state scrubbed from {url}"
            );
            let timeline = client.find(Locator::Id("timeline")).await?.text().await?;
            for step in [
                "Call the API without a token",
                "Fetch the protected resource metadata",
                "Fetch the authorization server metadata",
                "Register as a public client",
                "Check state and iss",
                "Exchange the code for an access token",
                "Call the API with the access token",
            ] {
                anyhow::ensure!(timeline.contains(step), "timeline lacks {step:?}:\n{timeline}");
            }
            // Nothing token-like at rest: no JWT in localStorage, sessionStorage or cookies.
            let storage = client
                .execute("return JSON.stringify([localStorage, sessionStorage, document.cookie]);", vec![])
                .await?;
            let storage = storage.as_str().unwrap_or_default().to_owned();
            anyhow::ensure!(!storage.contains("eyJ"), "a JWT is stored in the browser: {storage}");
            Ok(())
        })
        .await
        .unwrap();
}
