//! Secrets never reach the logs. In a test binary of its own: the capturing subscriber is
//! thread-local, and no other test may race it for the callsites' interest.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use base64::Engine as _;
use mcp_auth::config::TEST_INTROSPECTION_SECRET;
use test_support::logs::CapturedLogs;

use helpers::{DEMO_PASSWORD, REDIRECT_URI, RESOURCE, pkce, spawn_app};

/// Every request of every flow runs on this one thread (current-thread runtime), so the
/// thread-local subscriber sees all of the server's logging, at the most verbose level.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let captured = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber(tracing::Level::TRACE));

    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let (verifier, challenge) = pkce();
    let params = app.authorize_and_consent(&client, &challenge).await;
    let code = params["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client.as_str()),
        ("code_verifier", verifier.secret()),
        ("resource", RESOURCE),
    ];
    let tokens: protocol::token::TokenResponse = app.token(&form).await.json().await.unwrap();
    app.token(&form).await; // replay
    let refresh = tokens.refresh_token.clone().unwrap();
    app.refresh(&client, refresh.secret(), &[]).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{TEST_INTROSPECTION_SECRET}",
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
    ));
    app.browser
        .post(app.url("/introspect"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[("token", tokens.access_token.secret())])
        .send()
        .await
        .unwrap();
    app.browser
        .post(app.url("/revoke"))
        .form(&[("token", refresh.secret()), ("client_id", &client)])
        .send()
        .await
        .unwrap();

    let log = captured.text();
    assert!(log.contains("token_issued"), "the capture works: {log}");
    for (what, secret) in [
        ("password", DEMO_PASSWORD),
        ("authorization code", code.as_str()),
        ("code verifier", verifier.secret()),
        ("access token", tokens.access_token.secret()),
        ("refresh token", refresh.secret()),
        ("introspection secret", TEST_INTROSPECTION_SECRET),
    ] {
        assert!(!log.contains(secret), "the {what} appears in the log");
    }
}
