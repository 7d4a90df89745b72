use protocol::token::TokenResponse;

use crate::helpers::{RESOURCE, TestApp, spawn_app};

const DAY: i64 = 24 * 3600;

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

async fn refreshed(app: &TestApp, client_id: &str, refresh_token: &str) -> TokenResponse {
    let response = app.refresh(client_id, refresh_token, &[]).await;
    assert_eq!(response.status(), 200, "refresh should succeed");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn rt(response: &TokenResponse) -> String {
    response.refresh_token.as_ref().expect("a refresh token").secret().to_owned()
}

#[tokio::test]
async fn clients_registered_for_refresh_get_a_refresh_token_and_others_do_not() {
    let app = spawn_app().await;
    let refreshing = app.register_refreshing_client().await;
    assert!(app.first_tokens(&refreshing).await.refresh_token.is_some());
    let plain = app.register_client().await;
    assert!(app.first_tokens(&plain).await.refresh_token.is_none());
}

#[tokio::test]
async fn each_refresh_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let first = app.first_tokens(&client).await;
    let second = refreshed(&app, &client, &rt(&first)).await;
    assert_ne!(rt(&first), rt(&second));
    assert_ne!(first.access_token, second.access_token);
    assert_eq!(second.scope.as_deref(), Some("echo"));
    let third = refreshed(&app, &client, &rt(&second)).await;
    assert_ne!(rt(&second), rt(&third));
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_grant() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let first = app.first_tokens(&client).await;
    let second = refreshed(&app, &client, &rt(&first)).await;

    // The old token again: reuse. Refused...
    assert_eq!(error_of(app.refresh(&client, &rt(&first), &[]).await).await, (400, "invalid_grant".into()));
    // ...and the legitimate successor is dead too.
    assert_eq!(error_of(app.refresh(&client, &rt(&second), &[]).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn of_two_concurrent_refreshes_with_one_token_at_most_one_succeeds() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let token = rt(&app.first_tokens(&client).await);
    let (a, b) = tokio::join!(app.refresh(&client, &token, &[]), app.refresh(&client, &token, &[]));
    let successes = [a.status(), b.status()].iter().filter(|s| s.is_success()).count();
    assert!(successes <= 1, "one refresh token bought two token pairs");
}

#[tokio::test]
async fn a_refresh_can_narrow_the_scope_but_never_widen_it_or_change_the_resource() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let first = app.first_tokens(&client).await; // scope "echo"
    assert_eq!(
        error_of(app.refresh(&client, &rt(&first), &[("scope", "echo profile")]).await).await,
        (400, "invalid_scope".into())
    );
    assert_eq!(
        error_of(app.refresh(&client, &rt(&first), &[("resource", "https://elsewhere.example")]).await).await,
        (400, "invalid_target".into())
    );
    // Those refusals did not spend the token.
    let narrowed = app.refresh(&client, &rt(&first), &[("scope", "echo"), ("resource", RESOURCE)]).await;
    assert_eq!(narrowed.status(), 200);
}

#[tokio::test]
async fn another_client_cannot_use_the_refresh_token() {
    let app = spawn_app().await;
    let owner = app.register_refreshing_client().await;
    let thief = app.register_refreshing_client().await;
    let first = app.first_tokens(&owner).await;
    assert_eq!(error_of(app.refresh(&thief, &rt(&first), &[]).await).await, (400, "invalid_grant".into()));
    assert_eq!(app.refresh(&owner, &rt(&first), &[]).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_or_missing_refresh_token_is_invalid_grant_or_invalid_request() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    assert_eq!(error_of(app.refresh(&client, "made-up", &[]).await).await, (400, "invalid_grant".into()));
    let missing = app.token(&[("grant_type", "refresh_token"), ("client_id", &client)]).await;
    assert_eq!(error_of(missing).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn a_refresh_token_unused_for_the_idle_lifetime_expires() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let first = app.first_tokens(&client).await;
    app.clock.advance(7 * DAY + 1);
    assert_eq!(error_of(app.refresh(&client, &rt(&first), &[]).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn refreshing_never_outlives_the_grant_absolute_lifetime() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let mut token = rt(&app.first_tokens(&client).await);
    // Refresh well within the idle lifetime, for 28 days...
    for _ in 0..7 {
        app.clock.advance(4 * DAY);
        token = rt(&refreshed(&app, &client, &token).await);
    }
    // ...the 30-day grant still ends on time, although the last token is only 2 days old.
    app.clock.advance(2 * DAY + 1);
    assert_eq!(error_of(app.refresh(&client, &token, &[]).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn replaying_an_authorization_code_revokes_what_the_first_exchange_obtained() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let (verifier, challenge) = crate::helpers::pkce();
    let params = app.authorize_and_consent(&client, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", crate::helpers::REDIRECT_URI),
        ("client_id", client.as_str()),
        ("code_verifier", verifier.secret()),
    ];
    let first: TokenResponse = app.token(&form).await.json().await.unwrap();
    assert_eq!(error_of(app.token(&form).await).await, (400, "invalid_grant".into()));
    assert_eq!(error_of(app.refresh(&client, &rt(&first), &[]).await).await, (400, "invalid_grant".into()));
}
