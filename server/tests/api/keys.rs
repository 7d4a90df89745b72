//! The key cache: rate-limited refresh, serving from cache while the AS is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::Header;
use mcp_bearer::keys::REFRESH_DEADLINE;
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
async fn a_new_kid_while_the_keys_cannot_be_fetched_is_503_not_401() {
    // Keys loaded by the schedule, so that no token-driven refresh has used up the rate limit.
    let mut issuer = TestIssuer::start().await;
    let settings = Settings {
        jwks_refresh_interval: Some(Duration::from_millis(100)),
        ..Settings::for_tests(&issuer.issuer, SPA_ORIGIN)
    };
    let server = spawn_server_with(settings).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(issuer.jwks_fetches.load(Ordering::SeqCst) >= 1);
    let known = issuer.token(&server.resource, "echo");
    assert_eq!(server.echo_with(&known).await.status(), 200);

    // The AS goes down, and a token signed with a key published since (its `kid` never seen)
    // arrives: the key cannot be looked up, so the token cannot be judged. A 401 would make the
    // client drop a good token and log in again, in a loop.
    issuer.stop();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let mut header: Header = issuer.header();
    header.kid = Some("k2".into());
    let rotated = issuer.sign(&header, &issuer.claims(&server.resource, "echo"));
    // First the token's own refresh fails; then the rate limit skips the next one, and the last
    // fetch having failed, the answer is the same.
    for attempt in ["the refresh failed", "the refresh was skipped after a failure"] {
        let response = server.echo_with(&rotated).await;
        assert_eq!(response.status(), 503, "{attempt}");
        assert!(response.headers().contains_key("retry-after"), "{attempt}");
    }
    // The cached key still works meanwhile.
    assert_eq!(server.echo_with(&known).await.status(), 200);
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

/// What a hostile authorization server does with its JWKS.
#[derive(Clone, Copy)]
enum HostileJwks {
    /// A valid-looking set, padded past the 64 KiB the resource server reads.
    Oversized,
    /// Headers at once, then one byte of body every 200 ms, forever.
    Drip,
}

/// An authorization server at the TCP level: real metadata, a hostile JWKS.
async fn hostile_issuer(behaviour: HostileJwks) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let metadata = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "response_types_supported": ["code"],
    })
    .to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let metadata = metadata.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let n = stream.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]);
                if head.starts_with("GET /.well-known/oauth-authorization-server ") {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{metadata}",
                        metadata.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    return;
                }
                match behaviour {
                    HostileJwks::Oversized => {
                        let padding = "x".repeat(100 * 1024);
                        let body = format!(r#"{{"keys":[],"padding":"{padding}"}}"#);
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(answer.as_bytes()).await;
                    }
                    HostileJwks::Drip => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
                            .await;
                        while stream.write_all(b" ").await.is_ok() {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    }
                }
            });
        }
    });
    issuer
}

#[tokio::test]
async fn an_oversized_or_endless_jwks_is_abandoned_within_the_fetch_bounds() {
    // Only to sign a token with a `kid`; the server under test trusts the hostile issuer.
    let signer = TestIssuer::start().await;
    for behaviour in [HostileJwks::Oversized, HostileJwks::Drip] {
        let server = spawn_server(&hostile_issuer(behaviour).await).await;
        let started = std::time::Instant::now();
        let response = server.echo_with(&signer.token(&server.resource, "echo")).await;
        assert_eq!(response.status(), 503, "no keys could be loaded, which is not the client's fault");
        // 5 s is the key fetch's total timeout (bearer/src/keys.rs), body included.
        assert!(started.elapsed() < std::time::Duration::from_secs(8), "took {:?}", started.elapsed());
    }
}
