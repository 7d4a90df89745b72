//! The gateway's hop tokens against the real authorization server: exchanged for the upstream,
//! cached until shortly before they expire, and the AS's refusals passed on as its own errors.

use mcp_gateway::hop::{ClientCredentials, HopError, HopTokens, REUSE_MARGIN};
use protocol::scope::Scopes;
use protocol::secret::{AccessToken, ClientSecret};

use e2e::{Stack, StackOptions};

async fn stack() -> Stack {
    Stack::start_with(StackOptions { confidential_client: Some("gateway"), ..Default::default() })
        .await
        .unwrap()
}

/// A user's token for the stack's MCP server, through the real flow.
async fn user_token(stack: &Stack) -> AccessToken {
    let url = format!("{}/echo?text=x", stack.resource);
    let unauthorized = reqwest::get(&url).await.unwrap();
    e2e::headless::HeadlessUser::new()
        .authorize_from_challenge(&url, &e2e::challenge_of(&unauthorized))
        .await
        .unwrap()
}

fn claims(token: &AccessToken) -> serde_json::Value {
    protocol::jwt::decode_unverified(token.secret()).unwrap().claims
}

fn hop_tokens(stack: &Stack, secret: ClientSecret) -> HopTokens {
    HopTokens::new(
        format!("{}/token", stack.issuer),
        ClientCredentials { client_id: "gateway".into(), secret },
    )
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_hop_token_is_exchanged_for_the_upstream_and_reused_until_shortly_before_it_expires() {
    let stack = stack().await;
    let (_, secret) = stack.confidential.clone().unwrap();
    let hops = hop_tokens(&stack, secret);
    let subject = user_token(&stack).await;
    let jti = claims(&subject)["jti"].as_str().unwrap().to_owned();

    let first = hops.token_for(&subject, &jti, &stack.resource, None, now()).await.unwrap();
    assert_ne!(first.secret(), subject.secret(), "never the client's token");
    let hop = claims(&first);
    assert_eq!(hop["aud"], stack.resource.as_str());
    assert_eq!(hop["act"]["sub"], "gateway");
    assert_eq!(hop["sub"], claims(&subject)["sub"]);

    let again = hops.token_for(&subject, &jti, &stack.resource, None, now()).await.unwrap();
    assert_eq!(again.secret(), first.secret(), "cached");
    let narrower = Scopes::parse("echo").unwrap();
    let scoped = hops.token_for(&subject, &jti, &stack.resource, Some(&narrower), now()).await.unwrap();
    assert_ne!(scoped.secret(), first.secret(), "another scope is another token");
    assert_eq!(claims(&scoped)["scope"], "echo");

    // Close to its expiry, a hop token is exchanged anew.
    let exp = hop["exp"].as_i64().unwrap();
    let late = hops.token_for(&subject, &jti, &stack.resource, None, exp - REUSE_MARGIN).await.unwrap();
    assert_ne!(late.secret(), first.secret());

    hops.forget(&jti);
    let fresh = hops.token_for(&subject, &jti, &stack.resource, None, now()).await.unwrap();
    assert_ne!(fresh.secret(), late.secret(), "forgotten");
}

#[tokio::test]
async fn what_the_authorization_server_refuses_comes_back_as_its_own_error() {
    let stack = stack().await;
    let (_, secret) = stack.confidential.clone().unwrap();
    let subject = user_token(&stack).await;
    let jti = claims(&subject)["jti"].as_str().unwrap().to_owned();

    let hops = hop_tokens(&stack, secret);
    let garbage = AccessToken::new("not-a-token");
    let Err(HopError::Refused(error)) = hops.token_for(&garbage, "x", &stack.resource, None, now()).await
    else {
        panic!("refused")
    };
    assert_eq!(error.error.as_str(), "invalid_grant");
    let wide = Scopes::parse("echo admin").unwrap();
    let Err(HopError::Refused(error)) =
        hops.token_for(&subject, &jti, &stack.resource, Some(&wide), now()).await
    else {
        panic!("refused")
    };
    assert_eq!(error.error.as_str(), "invalid_scope");

    let impostor = hop_tokens(&stack, ClientSecret::new("not-the-secret"));
    let Err(HopError::Refused(error)) =
        impostor.token_for(&subject, &jti, &stack.resource, None, now()).await
    else {
        panic!("refused")
    };
    assert_eq!(error.error.as_str(), "invalid_client");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = HopTokens::new(
        format!("http://127.0.0.1:{port}/token"),
        ClientCredentials { client_id: "gateway".into(), secret: ClientSecret::new("x") },
    );
    assert!(matches!(
        nowhere.token_for(&subject, &jti, &stack.resource, None, now()).await,
        Err(HopError::Unavailable(_))
    ));
}
