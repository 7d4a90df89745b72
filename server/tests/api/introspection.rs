//! Introspection mode (RFC 7662) against a stand-in authorization server whose answers each test
//! chooses: what an answer must say before a request is let through, and what a stranger's tokens
//! may cost the authorization server.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use mcp_bearer::introspection::{IntrospectionSettings, MAX_CONCURRENT_INTROSPECTIONS};
use mcp_server::config::Settings;
use protocol::secret::ClientSecret;
use serde_json::{Value, json};

use crate::helpers::{SPA_ORIGIN, TestServer, challenge, now, spawn_server_on};
use crate::notes::{BOTH, call};

/// The answer the stand-in AS gives, from the resource it is asked for and the token.
type Answer = Arc<dyn Fn(&str, &str) -> Value + Send + Sync>;

/// What the stand-in AS's introspection endpoint has seen.
struct StubAs {
    calls: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
}

/// A resource server in introspection mode (opaque tokens only), and the stand-in AS it asks:
/// metadata naming an introspection endpoint, an empty JWKS, and the endpoint.
async fn introspecting(answer: Answer) -> TestServer {
    introspecting_slowly(answer, Duration::ZERO).await.0
}

/// [`introspecting`] with an introspection endpoint that takes `delay` to answer, and counts its
/// calls and how many run at once.
async fn introspecting_slowly(answer: Answer, delay: Duration) -> (TestServer, StubAs) {
    let server_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}", server_listener.local_addr().unwrap());
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": ["code"],
    });
    let (calls, most_at_once) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (counter, most) = (calls.clone(), most_at_once.clone());
    let introspect = move |axum::Form(form): axum::Form<HashMap<String, String>>| {
        let (answer, resource) = (answer.clone(), resource.clone());
        let (counter, most, in_flight) = (counter.clone(), most.clone(), in_flight.clone());
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let running = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            axum::Json(answer(&resource, form.get("token").map_or("", String::as_str)))
        }
    };
    let app = Router::new()
        .route("/.well-known/oauth-authorization-server", get(move || async move { axum::Json(metadata) }))
        .route("/jwks.json", get(|| async { axum::Json(json!({"keys": []})) }))
        .route("/introspect", post(introspect));
    tokio::spawn(async move { axum::serve(as_listener, app).await });
    let settings = Settings {
        introspection: Some(IntrospectionSettings { secret: ClientSecret::new("s"), every_token: false }),
        ..Settings::for_tests(&issuer, SPA_ORIGIN)
    };
    (spawn_server_on(server_listener, settings).await, StubAs { calls, most_at_once })
}

fn answer(f: impl Fn(&str, &str) -> Value + Send + Sync + 'static) -> Answer {
    Arc::new(f)
}

#[tokio::test]
async fn an_active_answer_that_names_no_subject_is_refused_instead_of_making_everyone_one_user() {
    // RFC 7662 §2.2 makes `sub` optional. Read as "", Alice's and Bob's opaque tokens would be the
    // same user's, and Bob would list Alice's notes.
    let nameless =
        answer(|resource, _| json!({"active": true, "aud": resource, "exp": now() + 300, "scope": BOTH}));
    let server = introspecting(nameless).await;
    let added = call(&server, "opaque-alice", "add_note", json!({"title": "Alice's", "body": "b"})).await;
    let refused = added.expect_err("refused, not stored under an empty owner");
    assert_eq!(refused.status(), 401);
    assert_eq!(challenge(&refused).error, Some(protocol::error::ErrorCode::InvalidToken));
    let listed = call(&server, "opaque-bob", "list_notes", json!({})).await;
    assert_eq!(listed.expect_err("refused too").status(), 401);

    // The same with an answer that says whose token it is: each sees only their own notes.
    let named = answer(|resource, token| {
        json!({"active": true, "aud": resource, "exp": now() + 300, "scope": BOTH,
            "sub": token, "client_id": "client-1", "jti": token})
    });
    let server = introspecting(named).await;
    call(&server, "opaque-alice", "add_note", json!({"title": "Alice's", "body": "b"})).await.unwrap();
    let bobs = call(&server, "opaque-bob", "list_notes", json!({})).await.unwrap();
    assert_eq!(bobs["structuredContent"]["notes"], json!([]));
    let alices = call(&server, "opaque-alice", "list_notes", json!({})).await.unwrap();
    assert_eq!(alices["structuredContent"]["notes"][0]["title"], "Alice's");
}

#[tokio::test]
async fn an_audience_array_in_the_answer_is_read_and_a_badly_typed_answer_is_503() {
    // RFC 7662 §2.2 allows `aud` as an array; it used to fail to parse: 503 for ever.
    let array = answer(|resource, token| {
        json!({"active": true, "aud": ["http://elsewhere", resource], "exp": now() + 300,
            "scope": "echo", "sub": token, "client_id": "client-1", "jti": token})
    });
    let server = introspecting(array).await;
    assert_eq!(server.echo_with("opaque").await.status(), 200);

    // A member of the wrong type: not accepted, and not the client's fault either.
    let broken = answer(|resource, token| {
        json!({"active": true, "aud": resource, "exp": "soon", "scope": "echo",
            "sub": token, "client_id": "client-1", "jti": token})
    });
    let server = introspecting(broken).await;
    let response = server.echo_with("opaque").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_same_garbage_token_costs_the_authorization_server_one_call_not_one_per_request() {
    let inactive = answer(|_, _| json!({"active": false}));
    let (server, stub) = introspecting_slowly(inactive, Duration::ZERO).await;
    for _ in 0..100 {
        let response = server.echo_with("garbage").await;
        assert_eq!(response.status(), 401);
        assert_eq!(challenge(&response).error, Some(protocol::error::ErrorCode::InvalidToken));
    }
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1, "the answer is remembered for a few seconds");
    // Another string is another question.
    assert_eq!(server.echo_with("other garbage").await.status(), 401);
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2);
}

/// Sends `3 × MAX_CONCURRENT_INTROSPECTIONS` requests at once, the `i`th with `token(i)`: each is
/// refused (401) once asked, or answered 503 (come back later) when it waited too long for a turn.
async fn burst(server: &TestServer, token: impl Fn(usize) -> String) {
    let requests: Vec<_> = (0..3 * MAX_CONCURRENT_INTROSPECTIONS)
        .map(|i| {
            let (http, address, token) = (server.http.clone(), server.address.clone(), token(i));
            tokio::spawn(async move {
                let response =
                    http.get(format!("{address}/echo?text=x")).bearer_auth(token).send().await.unwrap();
                response.status().as_u16()
            })
        })
        .collect();
    for request in requests {
        let status = request.await.unwrap();
        assert!(status == 401 || status == 503, "{status}");
    }
}

/// The same garbage token sent by many at once: those that queued for a turn find the first
/// answer remembered when they get one (each used to ask the AS again, about 100 calls here).
#[tokio::test]
async fn a_burst_of_one_garbage_token_costs_at_most_one_wave_of_calls() {
    let inactive = answer(|_, _| json!({"active": false}));
    let (server, stub) = introspecting_slowly(inactive, Duration::from_millis(200)).await;
    burst(&server, |_| "garbage".to_owned()).await;
    let calls = stub.calls.load(Ordering::SeqCst);
    assert!(calls <= MAX_CONCURRENT_INTROSPECTIONS, "{calls} calls for one token");
}

#[tokio::test]
async fn introspection_calls_at_once_are_bounded_whatever_the_number_of_requests() {
    let inactive = answer(|_, _| json!({"active": false}));
    let (server, stub) = introspecting_slowly(inactive, Duration::from_millis(200)).await;
    burst(&server, |i| format!("garbage-{i}")).await;
    let most = stub.most_at_once.load(Ordering::SeqCst);
    assert!(most <= MAX_CONCURRENT_INTROSPECTIONS, "{most} calls at once");
    assert!(most > 1, "the calls did overlap: {most}");
}
