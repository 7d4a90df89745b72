//! Groups: tokens for resources configured with `--groups-claim` carry the user's groups, read at
//! every issue.

use protocol::token::TokenResponse;
use serde_json::json;

use crate::gateway::{GATEWAY, UPSTREAM, claims, spawn_gateway_app, user_token};

#[tokio::test]
async fn tokens_for_a_resource_that_asks_carry_the_users_groups_and_a_refresh_sees_changes() {
    let app = spawn_gateway_app().await;
    let user = app.store.find_user_by_username("demo").await.unwrap().unwrap();
    mcp_auth::admin::change_groups(&app.store, "demo", &["admins".into()], &[]).await.unwrap();

    let upstream = user_token(&app, UPSTREAM, "echo").await;
    assert_eq!(claims(upstream.access_token.secret())["groups"], json!(["admins"]));
    let gateway = user_token(&app, GATEWAY, "echo").await;
    assert!(claims(gateway.access_token.secret()).get("groups").is_none(), "not configured for groups");

    // Out of `admins`, into `readers`: the next refresh says so.
    app.store.change_user_groups(&user.id, &["readers".into()], &["admins".into()]).await.unwrap();
    let client_id = claims(upstream.access_token.secret())["client_id"].as_str().unwrap().to_owned();
    let refreshed = app.refresh(&client_id, upstream.refresh_token.as_ref().unwrap().secret(), &[]).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: TokenResponse = refreshed.json().await.unwrap();
    assert_eq!(claims(refreshed.access_token.secret())["groups"], json!(["readers"]));

    // No groups at all is an empty list, not a missing claim: a policy can tell "none" from "not sent".
    app.store.change_user_groups(&user.id, &[], &["readers".into()]).await.unwrap();
    let none = user_token(&app, UPSTREAM, "echo").await;
    assert_eq!(claims(none.access_token.secret())["groups"], json!([]));
}
