//! Client ID Metadata Documents are fetched directly, never through a proxy named by the
//! environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`): through a proxy, the address the AS
//! checked and pinned is not the one connected to, so a name that resolves to a public address
//! for the check could be fetched by the proxy from 169.254.169.254.
//!
//! A test binary of its own: the environment is the process's, and this one sets it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use mcp_auth::clock::ManualClock;
use mcp_auth::config::Settings;
use mcp_auth::startup::Application;
use protocol::pkce::{CodeChallenge, CodeVerifier};

const RESOURCE: &str = "http://127.0.0.1:9090";
const REDIRECT_URI: &str = "http://localhost:8080/callback";

#[test]
fn metadata_documents_are_fetched_directly_even_when_the_environment_names_a_proxy() {
    // A "proxy" that counts connections and answers each with an error.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        // SAFETY: set before the runtime or any other thread of this test binary (whose only test
        // this is) exists, so nothing reads the environment meanwhile.
        unsafe { std::env::set_var(name, &proxy_url) };
    }
    for name in ["NO_PROXY", "no_proxy"] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let proxied = Arc::new(AtomicUsize::new(0));
        let counter = proxied.clone();
        proxy.set_nonblocking(true).unwrap();
        let proxy = tokio::net::TcpListener::from_std(proxy).unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            while let Ok((mut stream, _)) = proxy.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
            }
        });

        let host = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client_id = format!("http://{}/client.json", host.local_addr().unwrap());
        let document = serde_json::json!({
            "client_id": client_id,
            "client_name": "Direct",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        });
        let app = Router::new().route("/client.json", get(move || async move { axum::Json(document) }));
        tokio::spawn(async move { axum::serve(host, app).await });

        let app = Application::build_with_clock(
            Settings::for_tests(RESOURCE),
            Arc::new(ManualClock::starting_now()),
        )
        .await
        .unwrap();
        let issuer = app.issuer().to_owned();
        tokio::spawn(app.run_until(std::future::pending()));

        let challenge = CodeChallenge::s256(&CodeVerifier::from_random_bytes([7; 32]));
        // The test's own client goes direct as well.
        let browser = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = browser
            .get(format!("{issuer}/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("state", "s"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("resource", RESOURCE),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let page = response.text().await.unwrap_or_default();
        assert_eq!(proxied.load(Ordering::SeqCst), 0, "the document was fetched through the proxy: {page}");
        assert_eq!(status, 303, "the document was fetched and the request goes on to login: {page}");
    });
}
