use crate::helpers::{REDIRECT_URI, location_params, pkce, spawn_app};

#[tokio::test]
async fn unknown_client_gets_an_error_page_and_no_redirect() {
    let app = spawn_app().await;
    let (_, challenge) = pkce();
    let response = app.get_authorize(&app.authorize_query("no-such-client", &challenge, &[])).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("not registered"));
}

#[tokio::test]
async fn a_redirect_uri_that_is_not_byte_identical_gets_an_error_page_and_no_redirect() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let (_, challenge) = pkce();
    for bad in [
        "http://localhost:8080/callback/",
        "http://localhost:8080/callback?extra=1",
        "http://LOCALHOST:8080/callback",
        "http://localhost:8080/CALLBACK",
        "https://evil.example/callback",
    ] {
        let query = app.authorize_query(&client_id, &challenge, &[("redirect_uri", Some(bad))]);
        let response = app.get_authorize(&query).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none(), "{bad} must not be redirected to");
    }
    let missing =
        app.get_authorize(&app.authorize_query(&client_id, &challenge, &[("redirect_uri", None)])).await;
    assert_eq!(missing.status(), 400);
    assert!(missing.headers().get("location").is_none());
}

#[tokio::test]
async fn a_repeated_parameter_gets_an_error_page() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let (_, challenge) = pkce();
    let mut query = app.authorize_query(&client_id, &challenge, &[]);
    query.push(("redirect_uri".into(), "https://evil.example/cb".into()));
    let response = app.get_authorize(&query).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

/// Errors after the redirect URI is verified go back to an operator's client at once, with `state`
/// and `iss`.
async fn redirected_error(
    overrides: &[(&str, Option<&str>)],
) -> (String, std::collections::HashMap<String, String>, String) {
    let app = spawn_app().await;
    let client_id = app.add_preregistered_client().await;
    let (_, challenge) = pkce();
    let response = app.get_authorize(&app.authorize_query(&client_id, &challenge, overrides)).await;
    assert_eq!(response.status(), 303);
    let (base, params) = location_params(&response);
    (base, params, app.issuer.clone())
}

#[tokio::test]
async fn response_type_token_is_unsupported_and_reported_with_state_and_iss() {
    let (base, params, issuer) = redirected_error(&[("response_type", Some("token"))]).await;
    assert_eq!(base, REDIRECT_URI);
    assert_eq!(params["error"], "unsupported_response_type");
    assert_eq!(params["state"], "state-123");
    assert_eq!(params["iss"], issuer);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn missing_or_plain_pkce_is_an_invalid_request() {
    for overrides in [
        vec![("code_challenge", None)],
        vec![("code_challenge_method", None)],
        vec![("code_challenge_method", Some("plain"))],
        vec![("code_challenge", Some("not-a-valid-challenge"))],
    ] {
        let (_, params, issuer) = redirected_error(&overrides).await;
        assert_eq!(params["error"], "invalid_request", "{overrides:?}");
        assert_eq!(params["iss"], issuer);
    }
}

#[tokio::test]
async fn unknown_or_missing_resource_is_an_invalid_target() {
    for resource in [Some("https://someone-else.example"), None] {
        let (_, params, _) = redirected_error(&[("resource", resource)]).await;
        assert_eq!(params["error"], "invalid_target", "{resource:?}");
    }
}

#[tokio::test]
async fn a_scope_the_resource_does_not_offer_is_invalid_scope() {
    let (_, params, _) = redirected_error(&[("scope", Some("echo admin"))]).await;
    assert_eq!(params["error"], "invalid_scope");
}

/// The page a client anyone could register gets instead of an automatic redirect: `400`, no
/// `Location`, the error code and the client's origin named, and a link back carrying the error.
pub async fn assert_error_offered_not_redirected(
    response: reqwest::Response,
    error: &str,
    origin: &str,
    redirect_uri: &str,
    issuer: &str,
) {
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none(), "never an automatic redirect");
    let page = response.text().await.unwrap();
    assert!(page.contains(error), "the error code is named: {page}");
    assert!(page.contains(&format!("<code id=\"client-origin\">{origin}</code>")), "{page}");
    let link = crate::helpers::link_href(&page, "return-to-client").expect("a link back to the client");
    let url = url::Url::parse(&link).unwrap();
    assert_eq!(format!("{}{}", url.origin().ascii_serialization(), url.path()), redirect_uri);
    let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["error"], error);
    assert!(params.contains_key("error_description"));
    assert_eq!(params["state"], "state-123");
    assert_eq!(params["iss"], issuer);
}

/// RFC 9700 §4.11.2, checklist 12: anyone can register a client naming any redirect URI, so a
/// dynamically registered client's request errors are not redirected before anyone signed in.
#[tokio::test]
async fn a_dynamic_clients_request_errors_are_shown_with_a_link_not_redirected() {
    let app = spawn_app().await;
    let phishing = "https://evil.example/phish";
    let client_id = app.register_client_with(&[phishing], "web").await;
    let (_, challenge) = pkce();
    for (overrides, error) in [
        (vec![("response_type", Some("token"))], "unsupported_response_type"),
        (vec![("code_challenge", None)], "invalid_request"),
        (vec![("resource", Some("https://someone-else.example"))], "invalid_target"),
        (vec![("scope", Some("echo admin"))], "invalid_scope"),
    ] {
        let mut overrides = overrides;
        overrides.push(("redirect_uri", Some(phishing)));
        let response = app.get_authorize(&app.authorize_query(&client_id, &challenge, &overrides)).await;
        assert_error_offered_not_redirected(response, error, "https://evil.example", phishing, &app.issuer)
            .await;
    }
    // A valid request of the same client still goes on to login: only errors change.
    let valid = app
        .get_authorize(&app.authorize_query(&client_id, &challenge, &[("redirect_uri", Some(phishing))]))
        .await;
    assert_eq!(valid.status(), 303);
    assert!(valid.headers()["location"].to_str().unwrap().starts_with("/login?request="));
}

#[tokio::test]
async fn a_valid_request_goes_to_login_with_a_locked_down_session_cookie_and_no_cors() {
    let app = spawn_app().await;
    let client_id = app.register_client().await;
    let (_, challenge) = pkce();
    let response = app
        .browser
        .get(app.url("/authorize"))
        .query(&app.authorize_query(&client_id, &challenge, &[]))
        .header("Origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers()["location"].to_str().unwrap().starts_with("/login?request="));
    assert!(response.headers().get("access-control-allow-origin").is_none());
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
}

#[tokio::test]
async fn with_an_https_issuer_the_session_cookie_is_secure_and_host_prefixed() {
    use mcp_auth::clock::ManualClock;
    use mcp_auth::config::Settings;
    let settings = Settings {
        issuer: Some("https://auth.example".into()),
        ..Settings::for_tests(crate::helpers::RESOURCE)
    };
    let app = crate::helpers::spawn_app_with(settings, ManualClock::starting_now()).await;
    // The app listens on plain http in the test; the issuer decides the cookie attributes.
    let local = app
        .browser
        .get(format!("http://{}/.well-known/oauth-authorization-server", app.local_address))
        .send()
        .await
        .unwrap();
    let metadata: serde_json::Value = local.json().await.unwrap();
    assert_eq!(metadata["issuer"], "https://auth.example");
    let register = app
        .browser
        .post(format!("http://{}/register", app.local_address))
        .json(&serde_json::json!({"redirect_uris": [REDIRECT_URI]}))
        .send()
        .await
        .unwrap();
    let client_id =
        register.json::<serde_json::Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned();
    let (_, challenge) = pkce();
    let response = app
        .browser
        .get(format!("http://{}/authorize", app.local_address))
        .query(&app.authorize_query(&client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_native_clients_loopback_redirect_may_use_any_port() {
    let app = spawn_app().await;
    let response = app
        .browser
        .post(app.url("/register"))
        .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1/callback"], "application_type": "native"}))
        .send()
        .await
        .unwrap();
    let client_id =
        response.json::<serde_json::Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned();
    let (_, challenge) = pkce();
    let with_port = app.authorize_query(
        &client_id,
        &challenge,
        &[("redirect_uri", Some("http://127.0.0.1:49152/callback"))],
    );
    assert_eq!(app.get_authorize(&with_port).await.status(), 303, "RFC 8252 §7.3: any port");
    let other_path = app.authorize_query(
        &client_id,
        &challenge,
        &[("redirect_uri", Some("http://127.0.0.1:49152/other"))],
    );
    let refused = app.get_authorize(&other_path).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
}
