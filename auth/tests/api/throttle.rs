use crate::helpers::{DEMO_PASSWORD, hidden_field, pkce, spawn_app};

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

/// Failures are written once a password was checked, so a burst of concurrent attempts used to
/// pass the throttle before the first was written: every one of them tested a password. Attempts
/// in flight count now; those over the limit wait for them and are then refused.
#[tokio::test]
async fn concurrent_wrong_passwords_test_no_more_passwords_than_the_limit() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    let attempts = (0..30).map(|i| {
        let page = &page;
        let app = &app;
        async move {
            let response = app.submit_login(page, "demo", &format!("wrong-{i}")).await;
            (response.status().as_u16(), response.text().await.unwrap())
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let wrong = answers.iter().filter(|(_, page)| page.contains("Wrong username or password")).count();
    let refused = answers.iter().filter(|(status, _)| *status == 429).count();
    assert!(wrong <= 5, "{wrong} passwords were tested");
    assert_eq!(
        wrong + refused,
        30,
        "every other attempt is 429: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(app.submit_login(&page, "demo", DEMO_PASSWORD).await.status(), 429);
}

/// Counting attempts in flight must not refuse people: concurrent right passwords for one user
/// (over the limit of five in flight) wait their turn and all sign in.
#[tokio::test]
async fn concurrent_right_passwords_all_sign_in() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let sign_in = |_| async {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (_, challenge) = pkce();
        let authorize = browser
            .get(app.url("/authorize"))
            .query(&app.authorize_query(&client, &challenge, &[]))
            .send()
            .await
            .unwrap();
        let login = authorize.headers()["location"].to_str().unwrap().to_owned();
        let page = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
        let form = [
            ("request", hidden_field(&page, "request").unwrap()),
            ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
            ("username", "demo".to_owned()),
            ("password", DEMO_PASSWORD.to_owned()),
        ];
        browser.post(app.url("/login")).form(&form).send().await.unwrap().status().as_u16()
    };
    let statuses = futures::future::join_all((0..12).map(sign_in)).await;
    assert!(statuses.iter().all(|status| *status == 303), "{statuses:?}");
}
