//! The whole system over HTTP, without a browser: the real authorization server issues a token
//! through its login and consent pages, and the real resource server accepts it.

use e2e::Stack;
use e2e::headless::HeadlessUser;
use protocol::echo::EchoResponse;

#[tokio::test]
async fn a_token_from_the_real_authorization_server_opens_the_echo_api() {
    let stack = Stack::start(None).await.unwrap();
    let user = HeadlessUser::new();
    let url = format!("{}/echo?text=through+the+stack", stack.resource);

    let first = user.http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 401);
    let challenge = e2e::challenge_of(&first);
    assert_eq!(challenge.scope.as_deref(), Some("echo"));

    let token = user.authorize_from_challenge(&url, &challenge).await.unwrap();
    let second = user.http.get(&url).bearer_auth(token.secret()).send().await.unwrap();
    assert_eq!(second.status(), 200);
    let echo: EchoResponse = second.json().await.unwrap();
    assert_eq!(echo.text, "through the stack");
}

#[tokio::test]
async fn a_token_for_another_resource_of_the_same_authorization_server_is_refused() {
    let stack = Stack::start(None).await.unwrap();
    // A second MCP server trusting the same AS, under its own resource identifier.
    let settings = mcp_server::config::Settings::for_tests(&stack.issuer, "http://127.0.0.1:1");
    let sibling = mcp_server::startup::Application::build(settings).await.unwrap();
    let sibling_resource = sibling.resource().to_owned();
    tokio::spawn(sibling.run_until(std::future::pending()));

    let user = HeadlessUser::new();
    let url = format!("{}/echo?text=x", stack.resource);
    let challenge = e2e::challenge_of(&user.http.get(&url).send().await.unwrap());
    let token = user.authorize_from_challenge(&url, &challenge).await.unwrap();

    // Same issuer, same signing key, valid signature: only the audience differs. No passthrough.
    let refused = user
        .http
        .get(format!("{sibling_resource}/echo?text=x"))
        .bearer_auth(token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = e2e::challenge_of(&refused);
    assert_eq!(challenge.error, Some(protocol::error::ErrorCode::InvalidToken));
    assert!(challenge.error_description.unwrap().contains("not intended for this resource"));
}
