//! The key cache: rate-limited refresh, serving from cache while the AS is down.

use std::sync::atomic::Ordering;

use jsonwebtoken::Header;

use crate::helpers::{TestIssuer, spawn_server};

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
