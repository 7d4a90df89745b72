use crate::helpers::{DEMO_PASSWORD, REDIRECT_URI, RESOURCE, hidden_field, location_params, pkce, spawn_app};

#[tokio::test]
async fn a_remembered_consent_skips_the_consent_page_for_the_same_scopes_only() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let (_, challenge) = pkce();
    app.authorize_and_consent(&client, &challenge).await; // allows "echo"

    // Same client, same scope, already signed in: /authorize itself sends the browser straight
    // back to the client with a code, and the code works.
    let (verifier, challenge) = pkce();
    let authorize =
        app.get_authorize(&app.authorize_query(&client, &challenge, &[("state", Some("again"))])).await;
    assert_eq!(authorize.status(), 303);
    let (base, params) = location_params(&authorize);
    assert_eq!(base, REDIRECT_URI);
    assert_eq!(params["state"], "again");
    assert_eq!(params["iss"], app.issuer);
    let tokens = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &client),
            ("code_verifier", verifier.secret()),
            ("resource", RESOURCE),
        ])
        .await;
    assert_eq!(tokens.status(), 200, "the code answered from a remembered consent is exchanged");

    // A wider scope asks again.
    let wider = app
        .get_authorize(&app.authorize_query(&client, &challenge, &[("scope", Some("echo profile"))]))
        .await;
    let page = app.follow(&wider).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"allow\""));
}

#[tokio::test]
async fn the_account_page_lists_consents_and_withdrawing_one_revokes_the_clients_tokens() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;

    let account = app.browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 200);
    assert_eq!(account.headers()["x-frame-options"], "DENY");
    let html = account.text().await.unwrap();
    assert!(html.contains("Test &lt;client&gt;"));
    let csrf = hidden_field(&html, "csrf_token").unwrap();

    // Without the CSRF token: refused.
    let forged = app
        .browser
        .post(app.url("/account/consents/withdraw"))
        .form(&[("client_id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let withdrawn = app
        .browser
        .post(app.url("/account/consents/withdraw"))
        .form(&[("client_id", client.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 303);
    let html = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"no-consents\""));
    let refresh = tokens.refresh_token.unwrap();
    assert_eq!(app.refresh(&client, refresh.secret(), &[]).await.status(), 400);

    // And the next authorization asks again.
    let (_, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(&client, &challenge, &[])).await;
    assert_eq!(app.follow(&authorize).await.status(), 200);
}

#[tokio::test]
async fn the_account_page_needs_a_sign_in_of_its_own() {
    let app = spawn_app().await;
    let redirect = app.browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(redirect.status(), 303);
    assert_eq!(redirect.headers()["location"], "/login");
    let login = app.follow(&redirect).await;
    let html = login.text().await.unwrap();
    assert!(hidden_field(&html, "request").is_none());
    let form = [
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("username", "demo".to_owned()),
        ("password", DEMO_PASSWORD.to_owned()),
    ];
    let signed_in = app.browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/account");
    let account = app.follow(&signed_in).await;
    assert_eq!(account.status(), 200);

    let csrf = hidden_field(&account.text().await.unwrap(), "csrf_token").unwrap();
    let out = app.browser.post(app.url("/logout")).form(&[("csrf_token", csrf)]).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let after = app.browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(after.status(), 303, "signed out");
}

#[tokio::test]
async fn changing_the_password_revokes_the_users_tokens_and_signs_out_their_browsers() {
    use mcp_auth::clock::Clock as _;
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;
    mcp_auth::admin::change_password(
        &app.store,
        "demo",
        &protocol::secret::Password::new("a brand new password"),
        app.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(app.refresh(&client, tokens.refresh_token.unwrap().secret(), &[]).await.status(), 400);
    let account = app.browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 303, "the browser's session is gone");
}
