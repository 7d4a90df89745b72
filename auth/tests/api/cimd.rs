//! Client ID Metadata Documents, served by a small document host in the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use mcp_auth::clock::ManualClock;
use mcp_auth::config::Settings;
use protocol::token::TokenResponse;

use crate::helpers::{
    DEMO_PASSWORD, REDIRECT_URI, RESOURCE, location_params, pkce, spawn_app, spawn_app_with,
};

/// Serves metadata documents on a loopback port and counts the requests.
struct DocumentHost {
    origin: String,
    hits: Arc<AtomicUsize>,
}

impl DocumentHost {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let document = |client_id: String, redirect: &str| {
            serde_json::json!({
                "client_id": client_id,
                "client_name": "Metadata <Document> Client",
                "redirect_uris": [redirect],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            })
        };
        let good = document(format!("{origin}/good.json"), REDIRECT_URI);
        let mismatch = document("https://someone-else.example/client.json".into(), REDIRECT_URI);
        let counter = hits.clone();
        let app = Router::new()
            .route(
                "/good.json",
                get(move || async move { ([(header::CACHE_CONTROL, "max-age=300")], axum::Json(good)) }),
            )
            .route("/mismatch.json", get(move || async move { axum::Json(mismatch) }))
            .route("/big.json", get(|| async { "x".repeat(20_000) }))
            .route("/text.json", get(|| async { "this is not JSON" }))
            .route("/broken.json", get(|| async { "{not json" }))
            .route(
                "/slow.json",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "{}".into_response()
                }),
            )
            .layer(axum::middleware::from_fn(move |request, next: axum::middleware::Next| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { origin, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn the_metadata_is_advertised() {
    let app = spawn_app().await;
    let metadata: serde_json::Value = app
        .browser
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
}

#[tokio::test]
async fn a_client_identified_by_its_metadata_url_completes_the_flow() {
    let host = DocumentHost::start().await;
    let app = spawn_app().await;
    let client_id = host.url("/good.json");
    let (verifier, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(&client_id, &challenge, &[])).await;
    assert_eq!(authorize.status(), 303);
    let login = app.follow(&authorize).await.text().await.unwrap();
    assert!(login.contains("Metadata &lt;Document&gt; Client"), "name from the document, escaped");
    let consent = app.submit_login(&login, "demo", DEMO_PASSWORD).await;
    let page = app.follow(&consent).await.text().await.unwrap();
    assert!(page.contains(&client_id), "the consent page shows the client id URL");
    let allowed = app.submit_consent(&page, "allow").await;
    let (_, params) = location_params(&allowed);
    let tokens: TokenResponse = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.secret()),
            ("resource", RESOURCE),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some(), "grant_types from the document apply");
    let claims = protocol::jwt::decode_unverified(tokens.access_token.secret()).unwrap().claims;
    assert_eq!(claims["client_registration"], "metadata_document");
}

#[tokio::test]
async fn a_fresh_document_is_not_fetched_again_and_a_stale_one_is() {
    let host = DocumentHost::start().await;
    let app = spawn_app().await;
    let client_id = host.url("/good.json");
    let (_, challenge) = pkce();
    for _ in 0..3 {
        assert_eq!(app.get_authorize(&app.authorize_query(&client_id, &challenge, &[])).await.status(), 303);
    }
    assert_eq!(host.hits(), 1);
    app.clock.advance(301);
    assert_eq!(app.get_authorize(&app.authorize_query(&client_id, &challenge, &[])).await.status(), 303);
    assert_eq!(host.hits(), 2);
}

#[tokio::test]
async fn bad_documents_get_an_error_page_and_never_a_redirect() {
    let host = DocumentHost::start().await;
    let app = spawn_app().await;
    let (_, challenge) = pkce();
    let cases = [
        (host.url("/mismatch.json"), REDIRECT_URI, "not the URL it was fetched from"),
        (host.url("/good.json"), "http://localhost:8080/not-registered", "not registered"),
        (host.url("/big.json"), REDIRECT_URI, "larger than"),
        (host.url("/text.json"), REDIRECT_URI, "not client metadata JSON"),
        (host.url("/missing.json"), REDIRECT_URI, "answered 404"),
        (host.url("/slow.json"), REDIRECT_URI, "timed out"),
    ];
    for (client_id, redirect, why) in cases {
        let started = std::time::Instant::now();
        let query = app.authorize_query(&client_id, &challenge, &[("redirect_uri", Some(redirect))]);
        let response = app.get_authorize(&query).await;
        assert_eq!(response.status(), 400, "{client_id}");
        assert!(response.headers().get("location").is_none(), "{client_id}");
        let page = response.text().await.unwrap();
        assert!(page.contains(why), "{client_id}: expected {why:?} in {page}");
        assert!(started.elapsed() < Duration::from_secs(5), "{client_id} took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn without_the_development_switch_loopback_and_private_hosts_are_never_fetched() {
    let host = DocumentHost::start().await;
    let strict =
        Settings { client_metadata: mcp_auth::cimd::FetchPolicy::default(), ..Settings::for_tests(RESOURCE) };
    let app = spawn_app_with(strict, ManualClock::starting_now()).await;
    let (_, challenge) = pkce();
    let https_loopback = host.url("/good.json").replace("http://", "https://");
    for client_id in [
        host.url("/good.json"),
        https_loopback,
        "https://10.0.0.1/client.json".to_owned(),
        "https://[::1]/client.json".to_owned(),
    ] {
        let response = app.get_authorize(&app.authorize_query(&client_id, &challenge, &[])).await;
        assert_eq!(response.status(), 400, "{client_id}");
        assert!(response.headers().get("location").is_none());
    }
    assert_eq!(host.hits(), 0, "no request reached the loopback host");
}

#[tokio::test]
async fn concurrent_requests_for_one_slow_document_share_one_fetch_and_its_failure() {
    let host = DocumentHost::start().await;
    let app = spawn_app().await;
    let (_, challenge) = pkce();
    let query = app.authorize_query(&host.url("/slow.json"), &challenge, &[]);
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..10).map(|_| app.get_authorize(&query))).await;
    for answer in answers {
        assert_eq!(answer.status(), 400);
        assert!(answer.headers().get("location").is_none());
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "together, not one after another: {:?}",
        started.elapsed()
    );
    assert_eq!(host.hits(), 1, "one connection to the slow host, not one per request");
    // For a little while the failure is remembered rather than retried.
    let again = app.get_authorize(&query).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("not retried yet"));
    assert_eq!(host.hits(), 1);
}

#[tokio::test]
async fn a_document_that_drips_forever_is_abandoned_within_the_fetch_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // Headers at once, then one byte every 200 ms: no single read is slow, the whole is endless.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client_id = format!("http://{}/drip.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                    .await;
                while stream.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
    });
    let app = spawn_app().await;
    let (_, challenge) = pkce();
    let started = std::time::Instant::now();
    let query = app.authorize_query(&client_id, &challenge, &[("redirect_uri", Some(REDIRECT_URI))]);
    let response = app.get_authorize(&query).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    // The test policy's timeout is 2 s, and it bounds the whole fetch, body included.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// RFC 9700 §4.11.2: whoever hosts a metadata document chooses its redirect URIs, so an error in
/// the authorization request is shown with a link back, never redirected to before anyone signed in.
#[tokio::test]
async fn a_metadata_document_clients_request_errors_are_shown_with_a_link_not_redirected() {
    let host = DocumentHost::start().await;
    let app = spawn_app().await;
    let (_, challenge) = pkce();
    let query = app.authorize_query(&host.url("/good.json"), &challenge, &[("response_type", Some("token"))]);
    let response = app.get_authorize(&query).await;
    crate::authorize::assert_error_offered_not_redirected(
        response,
        "unsupported_response_type",
        "http://localhost:8080",
        REDIRECT_URI,
        &app.issuer,
    )
    .await;
}

/// A document that is no good fails the same way each time: its failure is remembered like a
/// failed fetch, so concurrent requests waiting for the fetch, and those of the next moment, do not
/// each fetch it again.
#[tokio::test]
async fn an_invalid_document_is_fetched_once_for_concurrent_requests_and_remembered() {
    let host = DocumentHost::start().await;
    let app = spawn_app().await;
    let (_, challenge) = pkce();
    let query = app.authorize_query(&host.url("/broken.json"), &challenge, &[]);
    let answers = futures::future::join_all((0..10).map(|_| app.get_authorize(&query))).await;
    for answer in answers {
        assert_eq!(answer.status(), 400);
        assert!(answer.headers().get("location").is_none());
        assert!(answer.text().await.unwrap().contains("not client metadata JSON"));
    }
    assert_eq!(host.hits(), 1, "one fetch, not one per request");
    let again = app.get_authorize(&query).await.text().await.unwrap();
    assert!(again.contains("not retried yet"), "{again}");
    assert_eq!(host.hits(), 1);
}
