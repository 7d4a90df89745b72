//! The bearer crate on its own, against a stand-in authorization server: the injected clock
//! decides expiry (cache included), exchanged tokens (RFC 8693 `act`) reach handlers with their
//! actor chain, and the extractor works on any state that provides a `ResourceGuard`.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use mcp_bearer::{Authorized, BearerError, ManualClock, ResourceGuard, ScopeRequirement, Validator};
use protocol::jwt::validation::{LEEWAY, MAX_ACTOR_DEPTH, Refusal};
use test_support::issuer::{TestIssuer, now};

const RESOURCE: &str = "http://rs.example";

fn validator(issuer: &TestIssuer, clock: &ManualClock) -> Validator {
    Validator::new(issuer.issuer.clone(), RESOURCE.into()).with_clock(Arc::new(clock.clone()))
}

#[tokio::test]
async fn the_injected_clock_decides_expiry_even_for_a_cached_token() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at(now());
    let validator = validator(&issuer, &clock);
    let token = issuer.token(RESOURCE, "echo");

    assert!(validator.verify(&token).await.is_ok(), "fresh");
    assert!(validator.verify(&token).await.is_ok(), "from the cache");
    clock.advance(300 + LEEWAY);
    assert_eq!(validator.verify(&token).await.unwrap_err(), BearerError::InvalidToken(Refusal::Expired));

    // And a token from the future is refused until the clock reaches it.
    clock.set(now() - 3600);
    let early = issuer.token(RESOURCE, "echo");
    assert_eq!(
        validator.verify(&early).await.unwrap_err(),
        BearerError::InvalidToken(Refusal::IssuedInTheFuture)
    );
    clock.set(now());
    assert!(validator.verify(&early).await.is_ok());
}

#[tokio::test]
async fn exchanged_tokens_are_accepted_with_a_bounded_actor_chain() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at(now());
    let validator = validator(&issuer, &clock);

    let once = validator.verify(&issuer.exchanged_token(RESOURCE, "echo", &["gateway"])).await.unwrap();
    assert_eq!(once.actors().map(|a| a.sub.as_str()).collect::<Vec<_>>(), ["gateway"]);
    assert_eq!(once.subject(), "user-1");

    let names: Vec<String> = (0..=MAX_ACTOR_DEPTH).map(|i| format!("hop-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let deepest_allowed = issuer.exchanged_token(RESOURCE, "echo", &names[..MAX_ACTOR_DEPTH]);
    assert_eq!(validator.verify(&deepest_allowed).await.unwrap().actors().count(), MAX_ACTOR_DEPTH);
    let too_deep = issuer.exchanged_token(RESOURCE, "echo", &names);
    assert_eq!(
        validator.verify(&too_deep).await.unwrap_err(),
        BearerError::InvalidToken(Refusal::ActorChainTooLong)
    );
}

/// An application with its own state, as the gateway will have.
#[derive(Clone)]
struct App {
    guard: ResourceGuard,
}

impl FromRef<App> for ResourceGuard {
    fn from_ref(app: &App) -> Self {
        app.guard.clone()
    }
}

struct Echo;
impl ScopeRequirement for Echo {
    const SCOPES: &'static [&'static str] = &["echo"];
}

async fn who(Authorized(token, _): Authorized<Echo>) -> String {
    let actors: Vec<&str> = token.actors().map(|a| a.sub.as_str()).collect();
    format!("{} via {}", token.subject(), actors.join(","))
}

#[tokio::test]
async fn the_extractor_hands_handlers_the_actor_chain_and_answers_challenges() {
    let issuer = TestIssuer::start().await;
    let validator = Arc::new(Validator::new(issuer.issuer.clone(), RESOURCE.into()));
    let metadata_url = format!("{RESOURCE}/.well-known/oauth-protected-resource");
    let app = App { guard: ResourceGuard::new(validator, metadata_url.clone()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        async move { axum::serve(listener, Router::new().route("/", get(who)).with_state(app)).await },
    );
    let http = reqwest::Client::new();
    let call = |token: Option<String>| {
        let request = http.get(&base);
        async move {
            let response = match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
            .send()
            .await
            .unwrap();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (response.status().as_u16(), challenge, response.text().await.unwrap())
        }
    };

    let (status, _, body) = call(Some(issuer.exchanged_token(RESOURCE, "echo", &["gateway", "agent"]))).await;
    assert_eq!((status, body.as_str()), (200, "user-1 via gateway,agent"));

    let (status, challenge, _) = call(None).await;
    assert_eq!(status, 401);
    assert!(challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")), "{challenge}");
    assert!(challenge.contains("scope=\"echo\"") && !challenge.contains("error="), "{challenge}");

    let (status, challenge, _) = call(Some(issuer.token(RESOURCE, "profile"))).await;
    assert_eq!(status, 403);
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(
        challenge.contains("scope=\"echo profile\"") || challenge.contains("scope=\"profile echo\""),
        "{challenge}"
    );

    let (status, challenge, _) = call(Some(issuer.token("http://elsewhere.example", "echo"))).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn without_an_introspection_endpoint_requests_fail_fast_instead_of_each_asking_the_as() {
    // The stand-in AS advertises no introspection endpoint.
    let issuer = TestIssuer::start().await;
    let validator = Validator::new(issuer.issuer.clone(), RESOURCE.into()).with_introspection(
        mcp_bearer::introspection::IntrospectionSettings {
            secret: protocol::secret::ClientSecret::new("s"),
            every_token: false,
        },
    );
    for _ in 0..20 {
        assert!(matches!(validator.verify("an-opaque-token").await, Err(BearerError::Unavailable(_))));
    }
    assert_eq!(
        issuer.metadata_fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one discovery attempt per interval, not one per request"
    );
}
