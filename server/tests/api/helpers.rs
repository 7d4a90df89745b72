use mcp_server::config::Settings;
use mcp_server::startup::Application;
use tokio::sync::oneshot;

pub use test_support::issuer::{TestIssuer, b64, now};

pub const SPA_ORIGIN: &str = "http://localhost:8080";

/// A running resource server trusting `issuer`.
pub struct TestServer {
    pub address: String,
    pub resource: String,
    pub http: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

pub async fn spawn_server(issuer: &str) -> TestServer {
    spawn_server_with(Settings::for_tests(issuer, SPA_ORIGIN)).await
}

/// A running resource server with these settings.
pub async fn spawn_server_with(settings: Settings) -> TestServer {
    let listener = tokio::net::TcpListener::bind(settings.bind).await.unwrap();
    spawn_server_on(listener, settings).await
}

/// A running resource server on a listener bound first, so that its settings can name the
/// address (a resource identifier with a path, say).
pub async fn spawn_server_on(listener: tokio::net::TcpListener, settings: Settings) -> TestServer {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    let app = Application::build_on(listener, settings).await.unwrap();
    let address = format!("http://{}", app.local_addr());
    let resource = app.resource().to_owned();
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestServer { address, resource, http: reqwest::Client::new(), _shutdown: shutdown }
}

impl TestServer {
    pub async fn echo_with(&self, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/echo", self.address))
            .query(&[("text", "hello")])
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// The `WWW-Authenticate` of a response, parsed.
pub fn challenge(response: &reqwest::Response) -> protocol::challenge::BearerChallenge {
    let values = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>();
    protocol::challenge::BearerChallenge::from_header_values(values).unwrap().expect("a Bearer challenge")
}
