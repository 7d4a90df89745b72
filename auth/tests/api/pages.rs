use crate::helpers::{DEMO_PASSWORD, REDIRECT_URI, hidden_field, location_params, pkce, spawn_app};

/// authorize → the login page's response.
async fn login_page(app: &crate::helpers::TestApp, client_id: &str) -> reqwest::Response {
    let (_, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(client_id, &challenge, &[])).await;
    app.follow(&authorize).await
}

#[tokio::test]
async fn login_and_consent_pages_forbid_framing_third_party_content_and_referrers() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let login = login_page(&app, &client_id).await;
    let headers = login.headers().clone();
    let html = login.text().await.unwrap();
    let consent = app.submit_login(&html, "demo", DEMO_PASSWORD).await;
    let consent = app.follow(&consent).await;
    for (page, headers) in [("login", headers), ("consent", consent.headers().clone())] {
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{page}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{page}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{page}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{page}");
        assert_eq!(headers["cache-control"], "no-store", "{page}");
        assert!(headers.get("access-control-allow-origin").is_none(), "{page}");
    }
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let html = login_page(&app, &client_id).await.text().await.unwrap();
    let request = hidden_field(&html, "request").unwrap();
    for csrf in [None, Some("forged")] {
        let mut form = vec![
            ("request", request.clone()),
            ("username", "demo".into()),
            ("password", DEMO_PASSWORD.into()),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf_token", csrf.into()));
        }
        let response = app.browser.post(app.url("/login")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403, "csrf {csrf:?}");
    }
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_without_signing_in() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let html = login_page(&app, &client_id).await.text().await.unwrap();
    for (user, password) in [("demo", "wrong"), ("nobody", DEMO_PASSWORD)] {
        let response = app.submit_login(&html, user, password).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("Wrong username or password"));
    }
}

#[tokio::test]
async fn signing_in_issues_a_new_session_id() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let (_, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(&client_id, &challenge, &[])).await;
    let before = authorize.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = app.follow(&authorize).await.text().await.unwrap();
    let login = app.submit_login(&html, "demo", DEMO_PASSWORD).await;
    let after = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(before, after, "session fixation: the pre-login session id survived the login");
}

#[tokio::test]
async fn the_consent_page_names_the_client_escaped_and_the_scopes() {
    let app = spawn_app().await;
    let client_id = app.register_client().await; // registered as "Test <client>"
    let html = login_page(&app, &client_id).await.text().await.unwrap();
    let consent = app.submit_login(&html, "demo", DEMO_PASSWORD).await;
    let page = app.follow(&consent).await.text().await.unwrap();
    assert!(page.contains("Test &lt;client&gt;"), "client name must be escaped");
    assert!(!page.contains("Test <client>"));
    assert!(page.contains("<code>echo</code>"));
    assert!(page.contains("id=\"allow\"") && page.contains("id=\"deny\""));
}

#[tokio::test]
async fn deny_sends_access_denied_with_state_and_iss_to_the_registered_uri() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let html = login_page(&app, &client_id).await.text().await.unwrap();
    let consent = app.submit_login(&html, "demo", DEMO_PASSWORD).await;
    let page = app.follow(&consent).await.text().await.unwrap();
    let denied = app.submit_consent(&page, "deny").await;
    assert_eq!(denied.status(), 303);
    let (base, params) = location_params(&denied);
    assert_eq!(base, REDIRECT_URI);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "state-123");
    assert_eq!(params["iss"], app.issuer);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn allow_redirects_with_303_code_state_and_iss_and_cannot_be_answered_twice() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let html = login_page(&app, &client_id).await.text().await.unwrap();
    let consent = app.submit_login(&html, "demo", DEMO_PASSWORD).await;
    let page = app.follow(&consent).await.text().await.unwrap();
    let allowed = app.submit_consent(&page, "allow").await;
    assert_eq!(allowed.status(), 303);
    let (_, params) = location_params(&allowed);
    assert!(params["code"].len() >= 43);
    assert_eq!(params["state"], "state-123");
    assert_eq!(params["iss"], app.issuer);
    let again = app.submit_consent(&page, "allow").await;
    assert_eq!(again.status(), 400);
    assert!(again.headers().get("location").is_none());
}

#[tokio::test]
async fn another_browser_cannot_finish_someone_elses_request() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let html = login_page(&app, &client_id).await.text().await.unwrap();
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [
        ("request", hidden_field(&html, "request").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", "demo".to_owned()),
        ("password", DEMO_PASSWORD.to_owned()),
    ];
    let response = stranger.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}
