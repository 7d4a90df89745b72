use protocol::echo::EchoResponse;
use protocol::error::ErrorCode;
use protocol::metadata::ProtectedResourceMetadata;

use crate::helpers::{SPA_ORIGIN, TestIssuer, challenge, spawn_server, spawn_server_on};

#[tokio::test]
async fn protected_resource_metadata_names_the_resource_the_as_and_header_only_bearer() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server
        .http
        .get(format!("{}/.well-known/oauth-protected-resource", server.address))
        .header("Origin", "https://any-client.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let metadata: ProtectedResourceMetadata = response.json().await.unwrap();
    assert_eq!(metadata.resource, server.resource);
    assert_eq!(metadata.authorization_servers, std::slice::from_ref(&issuer.issuer));
    assert_eq!(metadata.bearer_methods_supported, Some(vec!["header".to_owned()]));
    assert!(metadata.scopes_supported.as_ref().unwrap().contains(&"echo".to_owned()));
    metadata.validate_for_request(&format!("{}/echo", server.address)).unwrap();
}

/// RFC 9728 §3.1: the well-known suffix goes between the host and the resource's path, and the
/// document found there names exactly that resource (§3.3).
#[tokio::test]
async fn a_resource_with_a_path_names_and_serves_its_metadata_at_the_path_inserted_url() {
    let issuer = TestIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{origin}/mcp");
    let mut settings = mcp_server::config::Settings::for_tests(&issuer.issuer, SPA_ORIGIN);
    settings.resource = Some(resource.clone());
    let server = spawn_server_on(listener, settings).await;

    let response = server.http.post(&resource).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let url = challenge(&response).resource_metadata.unwrap();
    assert_eq!(url, format!("{origin}/.well-known/oauth-protected-resource/mcp"));
    let metadata: ProtectedResourceMetadata =
        server.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata.resource, resource);
    metadata.validate_for_request(&resource).unwrap();
}

#[tokio::test]
async fn no_token_gets_401_with_resource_metadata_and_scope_but_no_error_code() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server.http.get(format!("{}/echo?text=hi", server.address)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = challenge(&response);
    assert_eq!(
        challenge.resource_metadata.as_deref(),
        Some(format!("{}/.well-known/oauth-protected-resource", server.resource).as_str())
    );
    assert_eq!(challenge.scope.as_deref(), Some("echo"));
    assert_eq!(challenge.error, None, "RFC 6750 §3.1: no error code when no credentials were sent");
}

#[tokio::test]
async fn the_challenge_is_readable_by_the_allowed_browser_origin() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server
        .http
        .get(format!("{}/echo?text=hi", server.address))
        .header("Origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["access-control-allow-origin"], SPA_ORIGIN);
    let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
}

#[tokio::test]
async fn a_preflight_from_the_allowed_origin_may_send_authorization_and_mcp_headers() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/echo", server.address))
        .header("Origin", SPA_ORIGIN)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization,mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("mcp-protocol-version"), "{allowed}");
}

/// The TypeScript SDK sends `MCP-Protocol-Version` with its metadata request; from a browser that
/// is a preflight, which must allow it.
#[tokio::test]
async fn any_origin_may_fetch_the_metadata_with_the_mcp_protocol_version_header() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/.well-known/oauth-protected-resource", server.address))
        .header("Origin", "https://any-client.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("mcp-protocol-version"), "{allowed}");
}

#[tokio::test]
async fn a_foreign_origin_is_refused_even_with_a_valid_token() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server
        .http
        .get(format!("{}/echo?text=hi", server.address))
        .header("Origin", "http://evil.example")
        .bearer_auth(issuer.token(&server.resource, "echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_valid_token_gets_the_echo() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server.echo_with(&issuer.token(&server.resource, "echo")).await;
    assert_eq!(response.status(), 200);
    let body: EchoResponse = response.json().await.unwrap();
    assert_eq!(body.text, "hello");
    assert_eq!(body.subject, "user-1");
    assert_eq!(body.client_id, "client-1");
}

#[tokio::test]
async fn a_token_without_the_scope_gets_403_insufficient_scope_naming_the_union() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let response = server.echo_with(&issuer.token(&server.resource, "profile")).await;
    assert_eq!(response.status(), 403);
    let challenge = challenge(&response);
    assert_eq!(challenge.error, Some(ErrorCode::InsufficientScope));
    assert_eq!(challenge.scope.as_deref(), Some("echo profile"));
    assert!(challenge.resource_metadata.is_some());
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused_with_400() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = issuer.token(&server.resource, "echo");
    let response = server
        .http
        .get(format!("{}/echo", server.address))
        .query(&[("text", "hi"), ("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(challenge(&response).error, Some(ErrorCode::InvalidRequest));
}

#[tokio::test]
async fn two_authorization_headers_are_refused_with_400() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = issuer.token(&server.resource, "echo");
    let response = server
        .http
        .get(format!("{}/echo?text=hi", server.address))
        .header("Authorization", format!("Bearer {token}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn echo_refuses_missing_repeated_or_oversized_text() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    let token = issuer.token(&server.resource, "echo");
    let long = "x".repeat(1001);
    for query in ["", "text=a&text=b", &format!("text={long}")] {
        let response = server
            .http
            .get(format!("{}/echo?{query}", server.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
}

#[tokio::test]
async fn a_post_refused_before_its_body_is_read_keeps_the_connection_only_if_its_body_was_short() {
    let issuer = TestIssuer::start().await;
    let server = spawn_server(&issuer.issuer).await;
    // A short body is read and dropped: the connection serves the client's next request, as after
    // any answer (closing it made every refused request cost a new connection).
    let refused = server
        .http
        .post(format!("{}/mcp", server.address))
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("connection").is_none());
    // A longer one is left unread and the connection closes; the answer says so, or a client would
    // reuse a connection the server closes.
    let long = "x".repeat(usize::try_from(mcp_endpoint::reply::DRAIN_LIMIT).unwrap() + 1);
    let refused = server
        .http
        .post(format!("{}/mcp", server.address))
        .header("content-type", "application/json")
        .body(long)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["connection"], "close");
    // So does a body of no declared length (chunked), which could be any size.
    let authority = server.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server closes the connection, so reading to its end finishes.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer),
    )
    .await
    .expect("the server closes the connection")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    // A GET refused has no body left unread and keeps the connection.
    let get = server.http.get(format!("{}/echo?text=x", server.address)).send().await.unwrap();
    assert_eq!(get.status(), 401);
    assert!(get.headers().get("connection").is_none());
}
