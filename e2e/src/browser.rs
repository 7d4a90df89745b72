//! Headless Chromium driven through chromedriver (WebDriver), for the browser end-to-end test.
//!
//! [`Browser`] owns both processes: dropping it kills chromedriver (and with it Chromium), and
//! [`Browser::run`] closes the WebDriver session whether the test body succeeds, fails or panics.

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder};
use futures::FutureExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Flags for a quiet, isolated headless Chromium on a machine without network.
const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1280,1024",
];

/// A chromedriver process and a WebDriver session in a fresh Chromium profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    candidates
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts chromedriver (`$CHROMEDRIVER` or on `PATH`) and a headless Chromium session
    /// (`$CHROME_BIN`, else whatever chromedriver finds).
    pub async fn launch() -> anyhow::Result<Self> {
        let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"]).context(
            "chromedriver not found: run `cargo xtask test`, which installs it, or set $CHROMEDRIVER",
        )?;
        let port = free_port()?;
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", chromedriver.display()))?;

        let profile = std::env::temp_dir().join(format!("mcp-e2e-chrome-{}-{port}", std::process::id()));
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": args });
        if let Some(binary) = find_program("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"]) {
            options["binary"] = json!(binary);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);

        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    if let Some(status) = driver.try_wait()? {
                        bail!("chromedriver exited with {status} before accepting a session ({e})");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    let _ = driver.kill();
                    bail!("no WebDriver session within 20 s: {e}");
                }
            }
        };
        Ok(Self { client, driver, profile })
    }

    /// Runs `test` with the session, then always ends the session. On failure the page's URL and
    /// HTML and a screenshot are saved under `target/e2e-artifacts/` for whoever debugs it.
    pub async fn run<F, Fut>(self, name: &str, test: F) -> anyhow::Result<()>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let outcome = AssertUnwindSafe(test(self.client.clone())).catch_unwind().await;
        if !matches!(outcome, Ok(Ok(()))) {
            self.save_artifacts(name).await;
        }
        let closed = self.client.clone().close().await;
        drop(self);
        match outcome {
            Ok(result) => {
                result?;
                closed.context("closing the browser session")?;
                Ok(())
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    async fn save_artifacts(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-artifacts");
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let html = self.client.source().await.unwrap_or_default();
        let _ = std::fs::write(dir.join(format!("{name}.html")), format!("<!-- {url} -->\n{html}"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
        eprintln!("browser test {name} failed at {url}; page and screenshot saved in {}", dir.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
