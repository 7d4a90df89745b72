//! Tokens never reach the resource server's logs, whatever the outcome. In a test binary of its
//! own: the capturing subscriber is thread-local and must not race other tests.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use helpers::{TestIssuer, spawn_server};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_token_reaches_the_logs_even_at_trace_level() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let good = issuer.token(&server.resource, "echo");
    let wrong_scope = issuer.token(&server.resource, "profile");
    let wrong_audience = issuer.token("http://elsewhere.example", "echo");
    for token in [&good, &wrong_scope, &wrong_audience] {
        server.echo_with(token).await;
    }
    // A token in the query string is refused, and its value not logged either.
    server.http.get(format!("{}/echo?text=x&access_token={good}", server.address)).send().await.unwrap();
    server
        .http
        .post(format!("{}/mcp", server.address))
        .bearer_auth(&good)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}))
        .send()
        .await
        .unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("request refused"), "the capture works: {log}");
    for (what, token) in [
        ("valid token", &good),
        ("token with the wrong scope", &wrong_scope),
        ("token for another audience", &wrong_audience),
    ] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(token.as_str()) && !log.contains(signature), "the {what} appears in the log");
    }
}
