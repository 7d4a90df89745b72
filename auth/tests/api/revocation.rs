use base64::Engine as _;
use mcp_auth::config::TEST_INTROSPECTION_SECRET;
use protocol::introspection::IntrospectionResponse;
use protocol::token::TokenResponse;

use crate::helpers::{REDIRECT_URI, RESOURCE, TestApp, pkce, spawn_app};

fn basic(user: &str, secret: &str) -> String {
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

async fn introspect(app: &TestApp, token: &str) -> IntrospectionResponse {
    let response = app
        .browser
        .post(app.url("/introspect"))
        .header("Authorization", basic(RESOURCE, TEST_INTROSPECTION_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, client_id: &str, token: &str) -> reqwest::Response {
    app.browser
        .post(app.url("/revoke"))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_describes_an_active_access_token_to_its_resource_server() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;
    let answer = introspect(&app, tokens.access_token.secret()).await;
    assert!(answer.active);
    assert_eq!(answer.client_id.as_deref(), Some(client.as_str()));
    assert_eq!(answer.scope.as_deref(), Some("echo"));
    assert_eq!(answer.aud, Some(protocol::jwt::Audience::One(RESOURCE.into())));
    assert_eq!(answer.iss.as_deref(), Some(app.issuer.as_str()));
}

#[tokio::test]
async fn introspection_needs_the_resource_servers_credential_and_has_no_cors() {
    let app = spawn_app().await;
    for authorization in [
        None,
        Some(basic(RESOURCE, "wrong-secret-wrong")),
        Some(basic("http://other", TEST_INTROSPECTION_SECRET)),
    ] {
        let mut request = app
            .browser
            .post(app.url("/introspect"))
            .header("Origin", "http://localhost:8080")
            .form(&[("token", "x")]);
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert!(response.headers().get("access-control-allow-origin").is_none());
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
}

#[tokio::test]
async fn unknown_expired_and_foreign_tokens_are_inactive_and_say_nothing_else() {
    let app = spawn_app().await;
    assert_eq!(introspect(&app, "not-a-token").await, IntrospectionResponse::inactive());
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;
    // A refresh token is not something a resource server should be able to inspect.
    assert_eq!(
        introspect(&app, tokens.refresh_token.as_ref().unwrap().secret()).await,
        IntrospectionResponse::inactive()
    );
    app.clock.advance(301);
    assert_eq!(introspect(&app, tokens.access_token.secret()).await, IntrospectionResponse::inactive());
}

#[tokio::test]
async fn revoking_an_access_token_makes_it_inactive() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;
    let response = revoke(&app, &client, tokens.access_token.secret()).await;
    assert_eq!(response.status(), 200);
    assert!(!introspect(&app, tokens.access_token.secret()).await.active);
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_the_grant_and_its_access_tokens() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;
    let refresh = tokens.refresh_token.as_ref().unwrap().secret().to_owned();
    assert_eq!(revoke(&app, &client, &refresh).await.status(), 200);
    assert_eq!(app.refresh(&client, &refresh, &[]).await.status(), 400);
    assert!(!introspect(&app, tokens.access_token.secret()).await.active);
}

#[tokio::test]
async fn revoking_an_unknown_token_or_another_clients_token_answers_200_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.register_refreshing_client().await;
    let other = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&owner).await;
    let response = revoke(&app, &other, "no-such-token").await;
    assert_eq!(response.status(), 200);
    assert_eq!(revoke(&app, &other, tokens.refresh_token.as_ref().unwrap().secret()).await.status(), 200);
    assert_eq!(revoke(&app, &other, tokens.access_token.secret()).await.status(), 200);
    assert!(introspect(&app, tokens.access_token.secret()).await.active);
    assert_eq!(app.refresh(&owner, tokens.refresh_token.as_ref().unwrap().secret(), &[]).await.status(), 200);
}

#[tokio::test]
async fn revocation_is_cors_readable_for_browser_clients() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let response = app
        .browser
        .post(app.url("/revoke"))
        .header("Origin", "http://localhost:8080")
        .form(&[("token", "x"), ("client_id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn a_replayed_code_leaves_the_first_exchanges_access_token_inactive() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let (verifier, challenge) = pkce();
    let params = app.authorize_and_consent(&client, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client.as_str()),
        ("code_verifier", verifier.secret()),
    ];
    let first: TokenResponse = app.token(&form).await.json().await.unwrap();
    assert!(introspect(&app, first.access_token.secret()).await.active);
    assert_eq!(app.token(&form).await.status(), 400);
    assert!(!introspect(&app, first.access_token.secret()).await.active);
}
