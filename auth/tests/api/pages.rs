use crate::helpers::{DEMO_PASSWORD, REDIRECT_URI, hidden_field, location_params, pkce, spawn_app};

/// A page as a browser keeps it: where it came from, its `form-action` sources and its HTML.
struct Page {
    url: url::Url,
    form_action: Vec<String>,
    html: String,
}

impl Page {
    async fn read(response: reqwest::Response) -> Page {
        assert_eq!(response.status(), 200);
        let csp = response.headers()["content-security-policy"].to_str().unwrap();
        let directive = csp.split(';').map(str::trim).find(|d| d.starts_with("form-action ")).unwrap();
        let form_action = directive.split_whitespace().skip(1).map(str::to_owned).collect();
        Page { url: response.url().clone(), form_action, html: response.text().await.unwrap() }
    }

    /// Would a browser let a form on this page end at `target`? Chromium checks `form-action`
    /// against the form's action and every redirect that follows the POST; `'self'` is the page's
    /// own origin.
    fn form_may_end_at(&self, target: &str) -> bool {
        let page_origin = self.url.origin().ascii_serialization();
        let target = self.url.join(target).unwrap().origin().ascii_serialization();
        self.form_action.iter().any(|source| match source.as_str() {
            "'self'" => target == page_origin,
            origin => target == origin,
        })
    }
}

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

/// Found by using the demo: a person who allowed the client before, in a browser without the AS's
/// session (a fresh profile), signs in; the login POST goes on to consent, which answers at once
/// with the redirect to the client. Chromium applies the *login* page's `form-action` to that whole
/// chain, so the login page must allow the client's origin, or the person is left on the login page
/// with nothing happening. A web client, and a native one on a loopback port it picked just now.
#[tokio::test]
async fn a_returning_user_in_a_fresh_browser_is_sent_from_the_login_form_on_to_the_client() {
    let mut app = spawn_app().await;
    let web = app.register_client().await;
    let native = app.register_client_with(&["http://127.0.0.1/callback"], "native").await;
    for (client_id, redirect_uri) in [(web, REDIRECT_URI), (native, "http://127.0.0.1:49152/callback")] {
        let (_, challenge) = pkce();
        let query = app.authorize_query(&client_id, &challenge, &[("redirect_uri", Some(redirect_uri))]);
        let first = app.get_authorize(&query).await;
        let login_page = app.follow(&first).await.text().await.unwrap();
        let consent = app.submit_login(&login_page, "demo", DEMO_PASSWORD).await;
        let consent_page = app.follow(&consent).await.text().await.unwrap();
        assert_eq!(app.submit_consent(&consent_page, "allow").await.status(), 303);

        app.forget_browser();
        let authorize = app.get_authorize(&query).await;
        let login_page = Page::read(app.follow(&authorize).await).await;
        let login = app.submit_login(&login_page.html, "demo", DEMO_PASSWORD).await;
        assert_eq!(login.status(), 303);
        assert!(login_page.form_may_end_at(login.headers()["location"].to_str().unwrap()));
        let remembered = app.follow(&login).await;
        assert_eq!(remembered.status(), 303, "the consent is remembered: straight back to the client");
        let (base, params) = location_params(&remembered);
        assert_eq!(base, redirect_uri);
        assert!(params.contains_key("code") && params["iss"] == app.issuer);
        let to_client = remembered.headers()["location"].to_str().unwrap();
        assert!(
            login_page.form_may_end_at(to_client),
            "the login page's form-action {:?} blocks the redirect to {to_client}",
            login_page.form_action
        );
        app.forget_browser();
    }
}

/// The same user, signed in, authorizes a second client on another origin: its consent page may
/// send the browser there (Allow and Deny), and only there besides the AS itself.
#[tokio::test]
async fn the_consent_page_of_a_second_client_may_end_at_that_client_only() {
    let app = spawn_app().await;
    let first = app.register_client().await;
    let (_, challenge) = pkce();
    app.authorize_and_consent(&first, &challenge).await;

    let second_redirect = "http://127.0.0.1:8081/callback";
    let second = app.register_client_with(&[second_redirect], "web").await;
    let query = app.authorize_query(&second, &challenge, &[("redirect_uri", Some(second_redirect))]);
    let authorize = app.get_authorize(&query).await;
    assert_eq!(authorize.headers()["location"].to_str().unwrap().split('?').next(), Some("/consent"));
    let consent_page = Page::read(app.follow(&authorize).await).await; // signed in, a new client
    assert!(consent_page.form_may_end_at(second_redirect));
    assert!(!consent_page.form_may_end_at(REDIRECT_URI), "{:?}", consent_page.form_action);
    let html = &consent_page.html;
    assert!(html.contains("<code>http://127.0.0.1:8081</code>"), "the page says where the browser goes");
    let allowed = app.submit_consent(html, "allow").await;
    assert_eq!(location_params(&allowed).0, second_redirect);
}

/// Signing in to manage the account ends on the AS's own pages: nothing else is allowed.
#[tokio::test]
async fn the_account_login_form_may_only_end_at_the_authorization_server() {
    let app = spawn_app().await;
    let page = Page::read(app.browser.get(app.url("/login")).send().await.unwrap()).await;
    assert_eq!(page.form_action, ["'self'"]);
}

#[tokio::test]
async fn a_form_posted_without_a_session_is_an_expired_sign_in_or_a_way_to_sign_in() {
    let app = spawn_app().await;
    // A browser with no session cookie (it expired, or was cleared) submits each form.
    let form = [("csrf_token", "whatever"), ("request", "unknown"), ("client_id", "c")];
    for path in ["/login", "/consent"] {
        let response = app.browser.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert!(response.text().await.unwrap().contains("This sign-in link has expired"), "{path}");
    }
    for path in ["/logout", "/account/consents/withdraw"] {
        let response = app.browser.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
}

#[tokio::test]
async fn an_account_form_with_a_forged_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    app.authorize_and_consent(&client, &pkce().1).await;
    let before = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(!before.contains("id=\"no-consents\""), "the consent is listed");
    for path in ["/account/consents/withdraw", "/logout"] {
        let form = [("csrf_token", "forged"), ("client_id", client.as_str())];
        let response = app.browser.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    let after = app.browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(after.status(), 200, "still signed in");
    assert!(!after.text().await.unwrap().contains("id=\"no-consents\""), "the consent is still there");
}
