use protocol::registration::ClientInformation;

use crate::helpers::spawn_app;

#[tokio::test]
async fn registers_a_public_client_and_echoes_its_metadata() {
    let app = spawn_app().await;
    let response = app
        .browser
        .post(app.url("/register"))
        .header("Origin", "http://localhost:8080")
        .json(&serde_json::json!({
            "redirect_uris": ["http://localhost:8080/callback"],
            "client_name": "MCP web client",
            "application_type": "web"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let info: ClientInformation = response.json().await.unwrap();
    assert!(!info.client_id.is_empty());
    assert_eq!(info.metadata.token_endpoint_auth_method.as_deref(), Some("none"));
    assert_eq!(info.metadata.redirect_uris, ["http://localhost:8080/callback"]);
}

#[tokio::test]
async fn refuses_bad_metadata_with_the_rfc_7591_error_codes() {
    let app = spawn_app().await;
    for (body, code) in [
        (serde_json::json!({"redirect_uris": ["http://evil.example/cb"]}), "invalid_redirect_uri"),
        (serde_json::json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            serde_json::json!({"redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "client_secret_post"}),
            "invalid_client_metadata",
        ),
        (serde_json::json!({"redirect_uris": "not-a-list"}), "invalid_client_metadata"),
    ] {
        let response = app.browser.post(app.url("/register")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], code, "{body}");
    }
}

#[tokio::test]
async fn refuses_a_body_that_is_not_json() {
    let app = spawn_app().await;
    let response = app
        .browser
        .post(app.url("/register"))
        .form(&[("redirect_uris", "http://localhost/cb")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request");
}
