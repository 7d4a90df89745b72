use protocol::jwt::JwkSet;
use protocol::metadata::AuthorizationServerMetadata;

use crate::helpers::spawn_app;

#[tokio::test]
async fn metadata_is_served_at_both_well_known_paths_with_the_exact_issuer() {
    let app = spawn_app().await;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let response = app.browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let metadata: AuthorizationServerMetadata = response.json().await.unwrap();
        assert_eq!(metadata.issuer, app.issuer);
        assert!(!metadata.issuer.ends_with('/'));
        metadata.validate_for_issuer(&app.issuer).expect("our own metadata passes the client's checks");
    }
}

#[tokio::test]
async fn metadata_advertises_only_s256_the_code_flow_and_the_iss_parameter() {
    let app = spawn_app().await;
    let metadata: AuthorizationServerMetadata = app
        .browser
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata.code_challenge_methods_supported, Some(vec!["S256".to_owned()]));
    assert_eq!(metadata.response_types_supported, vec!["code".to_owned()]);
    assert!(metadata.authorization_response_iss_parameter_supported);
    // Public clients (`none`, first: what registration offers) and the two methods of confidential
    // clients.
    assert_eq!(
        metadata.token_endpoint_auth_methods_supported,
        Some(vec!["none".to_owned(), "client_secret_basic".to_owned(), "private_key_jwt".to_owned()])
    );
    let algorithms = metadata.token_endpoint_auth_signing_alg_values_supported.unwrap();
    assert!(
        algorithms.iter().any(|a| a == "ES256")
            && !algorithms.iter().any(|a| a.starts_with("HS") || a == "none")
    );
    assert_eq!(metadata.backchannel_authentication_endpoint, Some(app.url("/bc-authorize")));
    assert_eq!(metadata.backchannel_token_delivery_modes_supported, Some(vec!["poll".to_owned()]));
    assert_eq!(metadata.authorization_details_types_supported, Some(vec!["mcp_tool_call".to_owned()]));
    assert_eq!(metadata.jwks_uri, Some(app.url("/jwks.json")));
    assert_eq!(metadata.registration_endpoint, Some(app.url("/register")));
    let grants = metadata.grant_types_supported.unwrap();
    assert!(!grants.iter().any(|g| g == "implicit" || g == "password"));
    for grant in ["urn:ietf:params:oauth:grant-type:token-exchange", "urn:openid:params:grant-type:ciba"] {
        assert!(grants.iter().any(|g| g == grant), "{grant}");
    }
}

#[tokio::test]
async fn metadata_jwks_and_404s_are_readable_cross_origin() {
    let app = spawn_app().await;
    for (path, status) in [
        ("/.well-known/oauth-authorization-server", 200),
        ("/jwks.json", 200),
        ("/.well-known/nothing-here", 404),
    ] {
        let response =
            app.browser.get(app.url(path)).header("Origin", "http://localhost:8080").send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*", "{path}");
    }
}

#[tokio::test]
async fn token_endpoint_answers_a_cors_preflight() {
    let app = spawn_app().await;
    let response = app
        .browser
        .request(reqwest::Method::OPTIONS, app.url("/token"))
        .header("Origin", "http://localhost:8080")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("content-type"));
}

/// MCP clients send `MCP-Protocol-Version` with their metadata requests (the TypeScript SDK does).
#[tokio::test]
async fn metadata_answers_a_preflight_for_the_mcp_protocol_version_header() {
    let app = spawn_app().await;
    let response = app
        .browser
        .request(reqwest::Method::OPTIONS, app.url("/.well-known/oauth-authorization-server"))
        .header("Origin", "http://localhost:8080")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("mcp-protocol-version"), "{allowed}");
}

#[tokio::test]
async fn jwks_publishes_p256_keys_with_kid_and_no_private_members() {
    let app = spawn_app().await;
    let body: serde_json::Value =
        app.browser.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    for key in body["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "private key material published: {key}");
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], "P-256");
        assert_eq!(key["alg"], "ES256");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    }
    let set: JwkSet = serde_json::from_value(body).unwrap();
    assert_eq!(set.keys.len(), 1);
}
