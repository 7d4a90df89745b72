use std::collections::HashMap;
use std::sync::Arc;

use mcp_auth::clock::ManualClock;
use mcp_auth::config::Settings;
use mcp_auth::startup::Application;
use mcp_auth::store::testing::TestDatabase;
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::registration::ClientInformation;
use reqwest::redirect::Policy;
use tokio::sync::oneshot;

pub const RESOURCE: &str = "http://127.0.0.1:9090";
pub const REDIRECT_URI: &str = "http://localhost:8080/callback";
pub const DEMO_PASSWORD: &str = "demo-password";

/// A running authorization server and a browser-like client for it.
pub struct TestApp {
    pub issuer: String,
    /// Where the server listens (differs from the issuer when a test sets one).
    pub local_address: std::net::SocketAddr,
    /// Keeps cookies, never follows redirects: each test looks at every hop.
    pub browser: reqwest::Client,
    pub clock: ManualClock,
    pub store: mcp_auth::store::Store,
    pub keys: Arc<mcp_auth::keyring::KeyRing>,
    /// The test's own database, removed when the test ends (`None` when the test chose one).
    _database: Option<TestDatabase>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Settings::for_tests(RESOURCE), ManualClock::starting_now()).await
}

/// Starts the app with these settings and clock. The in-memory database of
/// [`Settings::for_tests`] becomes a fresh database on the backend `MCP_AUTH_TEST_DATABASE_URL`
/// names (the store contract suite's), so these tests run on every backend too.
pub async fn spawn_app_with(mut settings: Settings, clock: ManualClock) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    let database = if settings.database_url == "sqlite::memory:" {
        let database = TestDatabase::fresh().await;
        settings.database_url = database.url().to_owned();
        Some(database)
    } else {
        None
    };
    let app = Application::build_with_clock(settings, Arc::new(clock.clone())).await.expect("the app builds");
    let issuer = app.issuer().to_owned();
    let local_address = app.local_addr();
    let store = app.store();
    let keys = app.keys();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let browser = new_browser();
    TestApp {
        issuer,
        local_address,
        browser,
        clock,
        store,
        keys,
        _database: database,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

/// A browser-like HTTP client with an empty cookie jar: keeps cookies, never follows redirects.
fn new_browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// The value of `<input name="{name}" value="…">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The `href` of `<a id="{id}" href="…">` in a page, with its HTML escapes undone.
pub fn link_href(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" href=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(response: &reqwest::Response) -> (String, HashMap<String, String>) {
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    let base = format!("{}{}", url.origin().ascii_serialization(), url.path());
    (base, url.query_pairs().into_owned().collect())
}

/// A PKCE pair for a test.
pub fn pkce() -> (CodeVerifier, CodeChallenge) {
    let verifier = CodeVerifier::from_random_bytes(rand_bytes());
    let challenge = CodeChallenge::s256(&verifier);
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

impl TestApp {
    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Replaces the browser with a fresh one (a new profile: no session cookie).
    pub fn forget_browser(&mut self) {
        self.browser = new_browser();
    }

    /// Registers a public client with these redirect URIs and application type.
    pub async fn register_client_with(&self, redirect_uris: &[&str], application_type: &str) -> String {
        let response = self
            .browser
            .post(self.url("/register"))
            .json(&serde_json::json!({"redirect_uris": redirect_uris, "application_type": application_type}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<ClientInformation>().await.unwrap().client_id
    }

    /// Adds a public client the way an operator does (`clients add`): preregistered, with
    /// [`REDIRECT_URI`], for the code grant only.
    pub async fn add_preregistered_client(&self) -> String {
        mcp_auth::admin::add_client(
            &self.store,
            None,
            "Operator's client",
            vec![REDIRECT_URI.to_owned()],
            false,
            mcp_auth::clock::Clock::now(&self.clock),
        )
        .await
        .unwrap()
        .client_id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Registers a public client with one redirect URI, for the code grant only.
    pub async fn register_client(&self) -> String {
        self.register_client_for(&["authorization_code"]).await
    }

    /// Registers a public client for the code and refresh token grants.
    pub async fn register_refreshing_client(&self) -> String {
        self.register_client_for(&["authorization_code", "refresh_token"]).await
    }

    pub async fn register_client_for(&self, grant_types: &[&str]) -> String {
        let response = self
            .browser
            .post(self.url("/register"))
            .json(&serde_json::json!({
                "redirect_uris": [REDIRECT_URI],
                "client_name": "Test <client>",
                "application_type": "web",
                "grant_types": grant_types,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<ClientInformation>().await.unwrap().client_id
    }

    /// The standard authorization request query for `client_id`, with overrides.
    pub fn authorize_query(
        &self,
        client_id: &str,
        challenge: &CodeChallenge,
        overrides: &[(&str, Option<&str>)],
    ) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "echo"),
            ("state", "state-123"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (name, value) in overrides {
            params.retain(|(k, _)| k != name);
            if let Some(value) = value {
                params.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        params
    }

    pub async fn get_authorize(&self, query: &[(String, String)]) -> reqwest::Response {
        self.browser.get(self.url("/authorize")).query(query).send().await.unwrap()
    }

    /// Follows a relative `Location` on this server.
    pub async fn follow(&self, response: &reqwest::Response) -> reqwest::Response {
        let location = response.headers()["location"].to_str().unwrap();
        self.browser.get(self.url(location)).send().await.unwrap()
    }

    /// Posts the login form found on `login_page`.
    pub async fn submit_login(&self, login_page: &str, username: &str, password: &str) -> reqwest::Response {
        let form = [
            ("request", hidden_field(login_page, "request").unwrap()),
            ("csrf_token", hidden_field(login_page, "csrf_token").unwrap()),
            ("username", username.to_owned()),
            ("password", password.to_owned()),
        ];
        self.browser.post(self.url("/login")).form(&form).send().await.unwrap()
    }

    /// Posts the consent form found on `consent_page` with `decision` ("allow" or "deny").
    pub async fn submit_consent(&self, consent_page: &str, decision: &str) -> reqwest::Response {
        let form = [
            ("request", hidden_field(consent_page, "request").unwrap()),
            ("csrf_token", hidden_field(consent_page, "csrf_token").unwrap()),
            ("decision", decision.to_owned()),
        ];
        self.browser.post(self.url("/consent")).form(&form).send().await.unwrap()
    }

    /// Runs authorize → login → consent(allow) and returns the redirect's parameters.
    pub async fn authorize_and_consent(
        &self,
        client_id: &str,
        challenge: &CodeChallenge,
    ) -> HashMap<String, String> {
        self.authorize_and_consent_with(client_id, challenge, &[]).await
    }

    /// [`TestApp::authorize_and_consent`] with authorization request parameters overridden.
    pub async fn authorize_and_consent_with(
        &self,
        client_id: &str,
        challenge: &CodeChallenge,
        overrides: &[(&str, Option<&str>)],
    ) -> HashMap<String, String> {
        let authorize = self.get_authorize(&self.authorize_query(client_id, challenge, overrides)).await;
        assert_eq!(authorize.status(), 303);
        let login_page = self.follow(&authorize).await.text().await.unwrap();
        let login = self.submit_login(&login_page, "demo", DEMO_PASSWORD).await;
        assert_eq!(login.status(), 303, "login should succeed");
        let consent_page = self.follow(&login).await.text().await.unwrap();
        let consent = self.submit_consent(&consent_page, "allow").await;
        assert_eq!(consent.status(), 303);
        let (base, params) = location_params(&consent);
        assert_eq!(base, REDIRECT_URI);
        params
    }

    /// Runs the whole flow for `client_id` and exchanges the code: the first token response.
    pub async fn first_tokens(&self, client_id: &str) -> protocol::token::TokenResponse {
        let (verifier, challenge) = pkce();
        let params = self.authorize_and_consent(client_id, &challenge).await;
        let response = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", client_id),
                ("code_verifier", verifier.secret()),
                ("resource", RESOURCE),
            ])
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Presents a refresh token; `extra` adds or overrides parameters.
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> =
            vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)];
        for (name, value) in extra {
            form.retain(|(k, _)| k != name);
            form.push((name, value));
        }
        self.token(&form).await
    }

    /// Exchanges a code at the token endpoint with the given form.
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser.post(self.url("/token")).form(form).send().await.unwrap()
    }
}
