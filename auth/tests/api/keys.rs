use std::time::Duration;

use base64::Engine as _;
use mcp_auth::clock::{Clock as _, ManualClock};
use mcp_auth::config::{Settings, TEST_INTROSPECTION_SECRET};
use protocol::jwt::JwkSet;

use crate::helpers::{RESOURCE, TestApp, spawn_app, spawn_app_with};

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: JwkSet = app.browser.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks.keys.into_iter().filter_map(|k| k.kid).collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn active(app: &TestApp, token: &str) -> bool {
    let user: String = url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{TEST_INTROSPECTION_SECRET}"));
    let response = app
        .browser
        .post(app.url("/introspect"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["active"].as_bool().unwrap()
}

#[tokio::test]
async fn tokens_signed_before_a_rotation_keep_working_and_new_ones_use_the_new_key() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let before = app.first_tokens(&client).await;
    let old_kid = kid_of(before.access_token.secret());
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&old_kid));

    let now = app.clock.now();
    let new = mcp_auth::keyring::rotate(&app.store, now, Duration::from_secs(60), Duration::from_secs(360))
        .await
        .unwrap();
    app.keys.reload().await.unwrap();

    // Published before it signs: both keys in the JWKS, the old one still signing.
    let kids = jwks_kids(&app).await;
    assert!(kids.contains(&old_kid) && kids.contains(&new.kid), "{kids:?}");
    let refresh = before.refresh_token.as_ref().unwrap().secret().to_owned();
    let still_old: protocol::token::TokenResponse =
        app.refresh(&client, &refresh, &[]).await.json().await.unwrap();
    assert_eq!(kid_of(still_old.access_token.secret()), old_kid);

    app.clock.advance(61);
    let after: protocol::token::TokenResponse = app
        .refresh(&client, still_old.refresh_token.as_ref().unwrap().secret(), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kid_of(after.access_token.secret()), new.kid);
    assert!(active(&app, still_old.access_token.secret()).await, "the old key's token is still valid");
    assert!(active(&app, after.access_token.secret()).await);

    // Once every token of the old key has expired, the old key leaves the JWKS.
    app.clock.advance(360);
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&new.kid));
}

#[tokio::test]
async fn keys_users_clients_and_grants_survive_a_restart() {
    let path = std::env::temp_dir().join(format!("mcp-auth-restart-{}.db", mcp_auth::random::short_id()));
    let settings =
        || Settings { database_url: format!("sqlite://{}", path.display()), ..Settings::for_tests(RESOURCE) };
    let clock = ManualClock::starting_now();

    let first = spawn_app_with(settings(), clock.clone()).await;
    let client = first.register_refreshing_client().await;
    let tokens = first.first_tokens(&client).await;
    let kids = jwks_kids(&first).await;
    first.stop().await;

    let second = spawn_app_with(settings(), clock.clone()).await;
    assert_eq!(jwks_kids(&second).await, kids, "the same signing key after the restart");
    assert!(active(&second, tokens.access_token.secret()).await, "a token from before the restart is valid");
    let refreshed = second.refresh(&client, tokens.refresh_token.as_ref().unwrap().secret(), &[]).await;
    assert_eq!(refreshed.status(), 200, "the grant and refresh token survived");
    second.stop().await;

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
