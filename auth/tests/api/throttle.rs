use crate::helpers::{DEMO_PASSWORD, pkce, spawn_app};

/// A fresh login page (new authorization request) for `app`.
async fn login_page(app: &crate::helpers::TestApp, client_id: &str) -> String {
    let (_, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(client_id, &challenge, &[])).await;
    app.follow(&authorize).await.text().await.unwrap()
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_username_with_429_and_retry_after() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    for _ in 0..5 {
        assert_eq!(app.submit_login(&page, "demo", "wrong").await.status(), 200);
    }
    // Even the right password is not checked while locked.
    let locked = app.submit_login(&page, "demo", DEMO_PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let retry_after: i64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert!(locked.text().await.unwrap().contains("Too many failed sign-ins"));

    // Usernames are compared case-insensitively for throttling.
    assert_eq!(app.submit_login(&page, "DEMO", DEMO_PASSWORD).await.status(), 429);

    app.clock.advance(15 * 60 + 1);
    let page = login_page(&app, &client).await; // the old request expired meanwhile
    assert_eq!(app.submit_login(&page, "demo", DEMO_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn twenty_failures_from_one_address_lock_that_address_for_every_username() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    for i in 0..20 {
        assert_eq!(app.submit_login(&page, &format!("user{i}"), "wrong").await.status(), 200);
    }
    assert_eq!(app.submit_login(&page, "demo", DEMO_PASSWORD).await.status(), 429);
}
