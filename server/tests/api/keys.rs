//! The key cache: rate-limited refresh, serving from cache while the AS is down.

use std::sync::atomic::Ordering;

use jsonwebtoken::Header;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use mcp_server::auth::keys::REFRESH_DEADLINE;
use mcp_server::config::Settings;

use crate::helpers::{SPA_ORIGIN, TestIssuer, spawn_server, spawn_server_with};

#[tokio::test]
async fn tokens_with_random_kids_cannot_make_the_server_hammer_the_jwks() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let claims = issuer.claims(&server.resource, "echo");
    for i in 0..20 {
        let mut header: Header = issuer.header();
        header.kid = Some(format!("random-{i}"));
        assert_eq!(server.echo_with(&issuer.sign(&header, &claims)).await.status(), 401);
    }
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1, "one fetch per refresh interval");
    // The genuine key, learned on that one fetch, still works.
    assert_eq!(server.echo_with(&issuer.token(&server.resource, "echo")).await.status(), 200);
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_authorization_server_is_down() {
    let mut issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = issuer.token(&server.resource, "echo");
    assert_eq!(server.echo_with(&token).await.status(), 200);
    issuer.stop();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(server.echo_with(&token).await.status(), 200);
}

#[tokio::test]
async fn without_any_keys_the_server_says_503_not_401() {
    let mut issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = issuer.token(&server.resource, "echo");
    issuer.stop();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let response = server.echo_with(&token).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_keys_are_refreshed_in_the_background_on_schedule() {
    let issuer = TestIssuer::start().await;
    let settings = Settings {
        jwks_refresh_interval: Some(Duration::from_millis(100)),
        ..Settings::for_tests(&issuer.issuer, SPA_ORIGIN)
    };
    let server = spawn_server_with(settings).await;
    // No token has arrived, yet the keys are fetched: a rotation would be known ahead of time.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(issuer.jwks_fetches.load(Ordering::SeqCst) >= 3, "{:?}", issuer.jwks_fetches);
    assert_eq!(server.echo_with(&issuer.token(&server.resource, "echo")).await.status(), 200);
}

#[tokio::test]
async fn a_hanging_authorization_server_costs_requests_one_deadline_at_most() {
    // Accepts connections and never answers.
    let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", tarpit.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = tarpit.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let server = spawn_server(&issuer).await;
    let signer = TestIssuer::start().await;
    let mut claims = signer.claims(&server.resource, "echo");
    claims.iss = issuer.clone();
    let token = signer.sign(&signer.header(), &claims);

    let started = Instant::now();
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let (server, token) = (server.address.clone(), token.clone());
            tokio::spawn(async move {
                reqwest::Client::new().get(format!("{server}/echo?text=x")).bearer_auth(token).send().await
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap().status(), 503, "the keys are unavailable: 503");
    }
    let took = started.elapsed();
    assert!(took < REFRESH_DEADLINE + Duration::from_secs(3), "all answered within the deadline: {took:?}");
    // One refresh at a time, whatever the number of waiting requests.
    assert!(connections.load(Ordering::SeqCst) <= 2, "{connections:?} connections to the hanging server");
    // And the next request does not wait again: the refresh is rate-limited.
    let again = Instant::now();
    assert_eq!(server.echo_with(&token).await.status(), 503);
    assert!(again.elapsed() < Duration::from_secs(1), "{:?}", again.elapsed());
}

#[tokio::test]
async fn scheduled_refreshes_do_not_use_up_the_rate_limit_of_token_driven_ones() {
    let issuer = TestIssuer::start().await;
    let settings = Settings {
        jwks_refresh_interval: Some(Duration::from_millis(100)),
        ..Settings::for_tests(&issuer.issuer, SPA_ORIGIN)
    };
    let server = spawn_server_with(settings).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let scheduled = issuer.jwks_fetches.load(Ordering::SeqCst);
    assert!(scheduled >= 2, "{scheduled}");
    // A token naming a key the cache does not hold (a rotation with no publish delay) must still
    // make the server look, although a scheduled refresh ran a moment ago.
    let mut header: Header = issuer.header();
    header.kid = Some("rotated-just-now".into());
    let claims = issuer.claims(&server.resource, "echo");
    let before = issuer.jwks_fetches.load(Ordering::SeqCst);
    assert_eq!(server.echo_with(&issuer.sign(&header, &claims)).await.status(), 401);
    assert!(issuer.jwks_fetches.load(Ordering::SeqCst) > before, "the unknown kid triggered a fetch");
}
