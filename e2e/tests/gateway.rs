//! The gateway's parts against the real programs: hop tokens from the real authorization server
//! (exchanged for the upstream, cached until shortly before they expire, the AS's refusals passed
//! on as its own errors), and upstream calls made with them to the real MCP server.

use mcp_gateway::hop::{ClientCredentials, HopError, HopTokens, REUSE_MARGIN, SigningKey};
use mcp_gateway::upstream::{SessionLimits, Upstream, UpstreamClient, UpstreamError};
use protocol::scope::Scopes;
use protocol::secret::{AccessToken, ClientSecret};
use serde_json::json;

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
        ClientCredentials::Secret { client_id: "gateway".into(), secret },
    )
}

/// A hop token for the stack's MCP server, exchanged for a signed-in user's token.
async fn hop_for_a_user(stack: &Stack) -> AccessToken {
    let (_, secret) = stack.confidential.clone().unwrap();
    let subject = user_token(stack).await;
    let jti = claims(&subject)["jti"].as_str().unwrap().to_owned();
    hop_tokens(stack, secret).token_for(&subject, &jti, &stack.resource, None, now()).await.unwrap()
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

    // Many calls at once when none is cached: one exchange, shared.
    hops.forget(&jti);
    let at_once = (0..8).map(|_| hops.token_for(&subject, &jti, &stack.resource, None, now()));
    let tokens: std::collections::HashSet<String> = futures::future::join_all(at_once)
        .await
        .into_iter()
        .map(|t| t.unwrap().secret().to_owned())
        .collect();
    assert_eq!(tokens.len(), 1, "one exchange for eight concurrent calls");
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
    assert_eq!(error.error.as_str(), "invalid_request", "RFC 8693 §2.2.2: an invalid subject token");
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
        ClientCredentials::Secret { client_id: "gateway".into(), secret: ClientSecret::new("x") },
    );
    assert!(matches!(
        nowhere.token_for(&subject, &jti, &stack.resource, None, now()).await,
        Err(HopError::Unavailable(_))
    ));
}

fn upstream(stack: &Stack, version: &str) -> Upstream {
    Upstream {
        name: "demo".into(),
        url: format!("{}/mcp", stack.resource),
        resource: stack.resource.clone(),
        version: version.into(),
    }
}

#[tokio::test]
async fn upstream_tools_are_listed_and_called_with_a_hop_token_in_both_protocol_forms() {
    let stack = stack().await;
    let (_, secret) = stack.confidential.clone().unwrap();
    let hops = hop_tokens(&stack, secret);
    let subject = user_token(&stack).await;
    let jti = claims(&subject)["jti"].as_str().unwrap().to_owned();
    let client = UpstreamClient::new();

    for version in ["2025-11-25", "2026-07-28"] {
        let upstream = upstream(&stack, version);
        let all = Scopes::parse("echo notes:read notes:write").unwrap();
        let hop = hops.token_for(&subject, &jti, &upstream.resource, Some(&all), now()).await;
        // The headless user consented to `echo` only: the AS refuses a wider hop token.
        let Err(HopError::Refused(error)) = hop else { panic!("the subject token has echo only") };
        assert_eq!(error.error.as_str(), "invalid_scope");

        let hop = hops.token_for(&subject, &jti, &upstream.resource, None, now()).await.unwrap();
        let tools = client.list_tools(&upstream, &hop).await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&"echo") && names.contains(&"delete_note"), "{names:?} ({version})");

        let result = client
            .call_tool(
                &upstream,
                &hop,
                "echo",
                json!({"text": "via the gateway"}).as_object().cloned().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(result.get("structuredContent"), Some(&json!({"text": "via the gateway"})), "{version}");

        // The hop token lacks `profile`: the upstream's step-up challenge comes back as such.
        let Err(UpstreamError::InsufficientScope(Some(needed))) =
            client.call_tool(&upstream, &hop, "whoami", Default::default()).await
        else {
            panic!("insufficient scope ({version})")
        };
        assert!(needed.contains("profile"));

        let Err(UpstreamError::Rpc(error)) =
            client.call_tool(&upstream, &hop, "rm_rf", Default::default()).await
        else {
            panic!("unknown tool ({version})")
        };
        assert_eq!(error.code, protocol::mcp::error_code::INVALID_PARAMS);

        // The client's own token is not one the gateway could use upstream either way; a token
        // the upstream does not accept is a 401.
        let Err(UpstreamError::Unauthorized) =
            client.call_tool(&upstream, &AccessToken::new("forged"), "echo", Default::default()).await
        else {
            panic!("unauthorized ({version})")
        };
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gone = Upstream { url: format!("http://127.0.0.1:{port}/mcp"), ..upstream(&stack, "2025-11-25") };
    assert!(matches!(client.list_tools(&gone, &subject).await, Err(UpstreamError::Failed(_))));
}

#[tokio::test]
async fn a_gateway_with_a_key_authenticates_with_a_fresh_assertion_for_every_exchange() {
    let key = SigningKey::generate("gateway-key-1");
    let jwks = json!({"keys": [key.public_jwk()]});
    let stack =
        Stack::start_with(StackOptions { key_client: Some(("keyed-gateway", jwks)), ..Default::default() })
            .await
            .unwrap();
    let subject = user_token(&stack).await;
    let jti = claims(&subject)["jti"].as_str().unwrap().to_owned();
    let credentials = ClientCredentials::PrivateKey { client_id: "keyed-gateway".into(), key };
    let hops = HopTokens::new(format!("{}/token", stack.issuer), credentials);
    let first = hops.token_for(&subject, &jti, &stack.resource, None, now()).await.unwrap();
    assert_eq!(claims(&first)["act"]["sub"], "keyed-gateway");
    // A second exchange (another scope) needs a new assertion: the AS refuses a replayed one.
    let echo = Scopes::parse("echo").unwrap();
    assert!(hops.token_for(&subject, &jti, &stack.resource, Some(&echo), now()).await.is_ok());

    // Another key than the registered one is refused.
    let impostor = HopTokens::new(
        format!("{}/token", stack.issuer),
        ClientCredentials::PrivateKey {
            client_id: "keyed-gateway".into(),
            key: SigningKey::generate("gateway-key-1"),
        },
    );
    let Err(HopError::Refused(error)) =
        impostor.token_for(&subject, &jti, &stack.resource, None, now()).await
    else {
        panic!("refused")
    };
    assert_eq!(error.error.as_str(), "invalid_client");
}

#[tokio::test]
async fn a_session_form_upstream_keeps_one_session_per_user_and_client_for_their_calls() {
    let stack = stack().await;
    let hop = hop_for_a_user(&stack).await;
    let client = UpstreamClient::new();
    let upstream = upstream(&stack, "2025-11-25");
    let echo = |owner: &'static str, text: &'static str| {
        let (client, upstream, hop) = (&client, &upstream, &hop);
        async move {
            let arguments = json!({"text": text}).as_object().cloned().unwrap();
            client.call_tool_for(upstream, hop, Some(owner), "echo", arguments).await
        }
    };

    assert_eq!(client.idle_sessions(), 0);
    echo("alice\nspa", "one").await.unwrap();
    assert_eq!(client.idle_sessions(), 1, "the session is kept for alice's next call");
    let again = echo("alice\nspa", "two").await.unwrap();
    assert_eq!(again.get("structuredContent"), Some(&json!({"text": "two"})), "and it works");
    assert_eq!(client.idle_sessions(), 1, "reused, not a second one");
    echo("bob\nspa", "three").await.unwrap();
    assert_eq!(client.idle_sessions(), 2, "another owner, another session");

    // A call that failed does not leave its session for the next one.
    let forged = AccessToken::new("forged");
    let arguments = json!({"text": "x"}).as_object().cloned().unwrap();
    assert!(client.call_tool_for(&upstream, &forged, Some("alice\nspa"), "echo", arguments).await.is_err());
    assert_eq!(client.idle_sessions(), 1);

    // Calls of one owner that run at once each need a session, and as many are kept for the
    // owner's next calls at once.
    let many = (0..12).map(|_| echo("dave\nspa", "many"));
    for result in futures::future::join_all(many).await {
        result.unwrap();
    }
    assert_eq!(client.idle_sessions(), 1 + 12, "bob's, and one for each of dave's calls at once");

    // The stateless form has no session to keep.
    let stateless = self::upstream(&stack, "2026-07-28");
    let arguments = json!({"text": "x"}).as_object().cloned().unwrap();
    let before = client.idle_sessions();
    client.call_tool_for(&stateless, &hop, Some("carol\nspa"), "echo", arguments).await.unwrap();
    assert_eq!(client.idle_sessions(), before);
}

/// An MCP server behind a proxy that counts the sessions opened (`initialize`) and ended
/// (`DELETE`) through it.
#[derive(Clone, Default)]
struct SessionCount {
    opened: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ended: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SessionCount {
    fn get(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.opened.load(SeqCst), self.ended.load(SeqCst))
    }
}

async fn counted(stack: &Stack, name: &str) -> (Upstream, SessionCount) {
    use axum::extract::{Request, State};
    use std::sync::atomic::Ordering::SeqCst;
    let count = SessionCount::default();
    let target = format!("{}/mcp", stack.resource);
    let forward = |State((count, target)): State<(SessionCount, String)>, request: Request| async move {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        if parts.method == axum::http::Method::DELETE {
            count.ended.fetch_add(1, SeqCst);
        } else if serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|m| m["method"] == "initialize")
        {
            count.opened.fetch_add(1, SeqCst);
        }
        let mut onward = reqwest::Client::new().request(parts.method, &target).body(body);
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                onward = onward.header(name, value);
            }
        }
        let answer = onward.send().await.unwrap();
        let mut response = axum::response::Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if name != "content-length" && name != "transfer-encoding" {
                response = response.header(name, value);
            }
        }
        response.body(axum::body::Body::from(answer.bytes().await.unwrap())).unwrap()
    };
    let app =
        axum::Router::new().route("/mcp", axum::routing::any(forward)).with_state((count.clone(), target));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let upstream = Upstream {
        name: name.into(),
        url: format!("http://{address}/mcp"),
        resource: stack.resource.clone(),
        version: "2025-11-25".into(),
    };
    (upstream, count)
}

#[tokio::test]
async fn kept_sessions_serve_an_owners_next_calls_at_once_within_the_limits_and_the_rest_are_ended() {
    let stack = stack().await;
    let hop = hop_for_a_user(&stack).await;
    let limits = SessionLimits { owners: 100, per_owner: 8, per_upstream: 10 };
    let client = UpstreamClient::with_limits(limits);
    let (one, at_one) = counted(&stack, "one").await;
    let (two, at_two) = counted(&stack, "two").await;
    async fn calls_at_once(
        client: &UpstreamClient,
        upstream: &Upstream,
        hop: &AccessToken,
        owner: &str,
        calls: usize,
    ) {
        let many = (0..calls).map(|_| {
            let arguments = json!({"text": "x"}).as_object().cloned().unwrap();
            client.call_tool_for(upstream, hop, Some(owner), "echo", arguments)
        });
        for result in futures::future::join_all(many).await {
            result.unwrap();
        }
    }
    let burst = |upstream, owner, calls| calls_at_once(&client, upstream, &hop, owner, calls);

    // Six at once, then six again: the second six reuse the first six's sessions.
    burst(&one, "dave\nspa", 6).await;
    assert_eq!((client.idle_sessions(), at_one.get()), (6, (6, 0)));
    burst(&one, "dave\nspa", 6).await;
    assert_eq!((client.idle_sessions(), at_one.get()), (6, (6, 0)), "no session opened or ended");

    // Twelve at once: six more are opened, and past the owner's limit of 8 the oldest are ended
    // at the upstream, never left open there.
    burst(&one, "dave\nspa", 12).await;
    assert_eq!((client.idle_sessions(), at_one.get()), (8, (12, 4)));

    // Another owner at the same upstream: room for two more there (10 in all); the others end.
    burst(&one, "erin\nspa", 5).await;
    assert_eq!((client.idle_sessions(), at_one.get()), (10, (17, 7)));
    // The limit is per upstream: another one has room of its own.
    burst(&two, "erin\nspa", 5).await;
    assert_eq!((client.idle_sessions(), at_two.get()), (15, (5, 0)));

    // A limit of 0 per owner keeps nothing: each call opens a session and ends it.
    let keeps_none = UpstreamClient::with_limits(SessionLimits { per_owner: 0, ..limits });
    let (three, at_three) = counted(&stack, "three").await;
    calls_at_once(&keeps_none, &three, &hop, "dave\nspa", 3).await;
    calls_at_once(&keeps_none, &three, &hop, "dave\nspa", 1).await;
    assert_eq!((keeps_none.idle_sessions(), at_three.get()), (0, (4, 4)));
}
