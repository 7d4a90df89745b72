//! Token exchange (RFC 8693): who may exchange, for what, and what the new token is.

use mcp_auth::config::TEST_INTROSPECTION_SECRET;
use protocol::introspection::IntrospectionResponse;
use protocol::token::TokenResponse;
use serde_json::json;

use crate::gateway::{
    ACCESS_TOKEN_TYPE, GATEWAY, OTHER, TOKEN_EXCHANGE, UPSTREAM, basic, claims, error_of, key_client,
    scope_of, secret_client, secret_client_to, spawn_gateway_app, user_token,
};
use crate::helpers::TestApp;

async fn introspect_upstream(app: &TestApp, token: &str) -> IntrospectionResponse {
    let response = app
        .browser
        .post(app.url("/introspect"))
        .header("Authorization", basic(UPSTREAM, TEST_INTROSPECTION_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn audit_kinds(app: &TestApp) -> Vec<String> {
    app.store.audit_events(100).await.unwrap().into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn the_gateway_exchanges_a_users_token_for_a_short_narrower_token_for_the_upstream_with_act() {
    let app = spawn_gateway_app().await;
    let user = app.store.find_user_by_username("demo").await.unwrap().unwrap();
    app.store.change_user_groups(&user.id, &["admins".into(), "ops".into()], &[]).await.unwrap();
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:read profile").await;

    let response = gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, Some("notes:read")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let exchanged: TokenResponse = response.json().await.unwrap();
    assert_eq!(exchanged.issued_token_type.as_deref(), Some(ACCESS_TOKEN_TYPE));
    assert!(exchanged.is_bearer() && exchanged.refresh_token.is_none(), "no refresh token");
    assert!(exchanged.expires_in.unwrap() <= 60);

    let original = claims(subject.access_token.secret());
    let issued = claims(exchanged.access_token.secret());
    let header = protocol::jwt::decode_unverified(exchanged.access_token.secret()).unwrap().header;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(issued["aud"], UPSTREAM);
    assert_eq!((&issued["sub"], &issued["client_id"]), (&original["sub"], &original["client_id"]));
    assert_eq!(issued["act"], json!({"sub": "gateway", "client_id": "gateway"}));
    assert_eq!(issued["scope"], "notes:read");
    assert_ne!(issued["jti"], original["jti"]);
    assert!(issued["exp"].as_i64().unwrap() - issued["iat"].as_i64().unwrap() <= 60);
    assert_eq!(issued["auth_time"], original["auth_time"]);
    // How the user's client was registered, not the (preregistered) gateway.
    assert_eq!(
        (&issued["client_registration"], &original["client_registration"]),
        (&json!("dynamic"), &json!("dynamic"))
    );
    assert_eq!(issued["groups"], json!(["admins", "ops"]), "the upstream asks for groups");
    assert!(original.get("groups").is_none(), "the gateway's resource does not");

    // Without `scope`: everything the subject token and the upstream share.
    let all: TokenResponse =
        gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    assert_eq!(scope_of(&claims(all.access_token.secret())).to_string(), "echo notes:read profile");

    // The upstream's introspection sees it, actor included.
    let answer = introspect_upstream(&app, exchanged.access_token.secret()).await;
    assert!(answer.active);
    assert_eq!(answer.act.map(|a| a.sub).as_deref(), Some("gateway"));
    assert_eq!(answer.aud, Some(protocol::jwt::Audience::One(UPSTREAM.into())));
    assert_eq!(answer.client_registration.as_deref(), Some("dynamic"));

    let kinds = audit_kinds(&app).await;
    assert_eq!(kinds.iter().filter(|k| *k == "token_exchanged").count(), 2, "{kinds:?}");
    let logged = format!("{:?}", app.store.audit_events(100).await.unwrap());
    assert!(
        !logged.contains(exchanged.access_token.secret()) && !logged.contains(subject.access_token.secret())
    );
}

#[tokio::test]
async fn only_a_client_acting_for_the_subject_tokens_audience_may_exchange_it() {
    let app = spawn_gateway_app().await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let stranger = secret_client(&app, "stranger", &[OTHER]).await;
    let response = stranger.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".into()));
    let refused = app.store.audit_events(10).await.unwrap();
    assert!(
        refused
            .iter()
            .any(|e| e.kind == "token_exchange_refused" && e.client_id.as_deref() == Some("stranger"))
    );

    // A public client cannot use the grant at all; nobody can without authenticating.
    let public = app.register_client().await;
    let form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject.access_token.secret()),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("resource", UPSTREAM),
    ];
    let mut with_id = form.to_vec();
    with_id.push(("client_id", &public));
    assert_eq!(error_of(app.token(&with_id).await).await, (400, "unauthorized_client".into()));
    assert_eq!(error_of(app.token(&form).await).await, (401, "invalid_client".into()));

    // A confidential client registered without the grant.
    let mut new =
        crate::gateway::new_client("code-only", mcp_auth::admin::ConfidentialAuth::Secret, &[GATEWAY]);
    new.grant_types = Some(vec!["urn:openid:params:grant-type:ciba".into()]);
    let (_, secret) =
        mcp_auth::admin::add_confidential_client(&app.store, new, app.clock_now()).await.unwrap();
    let ciba_only = crate::gateway::Confidential {
        id: "code-only".into(),
        credential: crate::gateway::Credential::Secret(secret.unwrap()),
    };
    let response = ciba_only.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await;
    assert_eq!(error_of(response).await, (400, "unauthorized_client".into()));
}

#[tokio::test]
async fn an_exchange_cannot_widen_the_scope_or_reach_an_unknown_resource() {
    let app = spawn_gateway_app().await;
    // Registered for a resource the server does not know, too: that one is the server's refusal.
    let gateway =
        secret_client_to(&app, "gateway", &[GATEWAY], &[UPSTREAM, OTHER, "http://127.0.0.1:9999"]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:read").await;
    let token = subject.access_token.secret();
    for (resource, scope, expected) in [
        (UPSTREAM, Some("notes:write"), "invalid_scope"),
        (UPSTREAM, Some("notes:read notes:write"), "invalid_scope"),
        (OTHER, Some("notes:read"), "invalid_scope"),
        (OTHER, Some("bad\"scope"), "invalid_scope"),
        ("http://127.0.0.1:9999", None, "invalid_target"),
    ] {
        let response = gateway.exchange(&app, token, resource, scope).await;
        assert_eq!(error_of(response).await, (400, expected.into()), "{resource} {scope:?}");
    }
    let events = app.store.audit_events(50).await.unwrap();
    let unknown = "refused: invalid_target: this server issues no tokens for that resource";
    assert!(events.iter().any(|e| e.detail.as_deref().is_some_and(|d| d.contains(unknown))), "{events:?}");
    // A subject token that is not an access token of this server, or of another type.
    let response = gateway.exchange(&app, "not-a-token", UPSTREAM, None).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".into()));
    let wrong_type = gateway
        .token(
            &app,
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", token),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
                ("resource", UPSTREAM),
            ],
        )
        .await;
    assert_eq!(error_of(wrong_type).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn a_client_obtains_tokens_only_for_the_resources_it_was_registered_to_exchange_to() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client_to(&app, "gateway", &[GATEWAY], &[UPSTREAM]).await;
    let introspector = secret_client_to(&app, "introspector", &[GATEWAY], &[]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let token = subject.access_token.secret();
    assert_eq!(gateway.exchange(&app, token, UPSTREAM, None).await.status(), 200);
    // OTHER knows `echo` too: a client acting for the gateway could otherwise trade the user's
    // token for one there. An unknown resource gets the same answer, so nothing is learnt.
    for (client, resource) in [
        (&gateway, OTHER),
        (&gateway, GATEWAY),
        (&gateway, "http://127.0.0.1:9999"),
        (&introspector, UPSTREAM),
    ] {
        let response = client.exchange(&app, token, resource, None).await;
        assert_eq!(error_of(response).await, (400, "invalid_target".into()), "{} to {resource}", client.id);
    }
    let events = app.store.audit_events(50).await.unwrap();
    let refused = events
        .iter()
        .filter(|e| e.kind == "token_exchange_refused")
        .filter(|e| e.detail.as_deref().is_some_and(|d| d.contains("not registered to obtain tokens")))
        .count();
    assert_eq!(refused, 4, "{events:?}");
}

#[tokio::test]
async fn exchanging_an_exchanged_token_nests_the_actors() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let relay = key_client(&app, "relay", &[UPSTREAM]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let first: TokenResponse =
        gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    let response = relay.exchange(&app, first.access_token.secret(), OTHER, None).await;
    assert_eq!(response.status(), 200);
    let second: TokenResponse = response.json().await.unwrap();
    let second = claims(second.access_token.secret());
    assert_eq!(second["aud"], OTHER);
    assert_eq!(
        second["act"],
        json!({"sub": "relay", "client_id": "relay", "act": {"sub": "gateway", "client_id": "gateway"}})
    );
}

#[tokio::test]
async fn an_exchanged_token_dies_with_its_grant_and_with_the_token_it_came_from() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;

    // Revoking the access token it was exchanged from.
    let subject = user_token(&app, GATEWAY, "echo").await;
    let exchanged: TokenResponse =
        gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    assert!(introspect_upstream(&app, exchanged.access_token.secret()).await.active);
    let user_client = claims(subject.access_token.secret())["client_id"].as_str().unwrap().to_owned();
    let revoked = app
        .browser
        .post(app.url("/revoke"))
        .form(&[
            ("token", subject.access_token.secret()),
            ("client_id", &user_client),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(!introspect_upstream(&app, exchanged.access_token.secret()).await.active);
    let again = gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await;
    assert_eq!(error_of(again).await, (400, "invalid_request".into()));

    // Revoking the grant (the user's client gives up its refresh token).
    let subject = user_token(&app, GATEWAY, "echo").await;
    let exchanged: TokenResponse =
        gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    let user_client = claims(subject.access_token.secret())["client_id"].as_str().unwrap().to_owned();
    let refresh = subject.refresh_token.as_ref().unwrap();
    let revoked = app
        .browser
        .post(app.url("/revoke"))
        .form(&[("token", refresh.secret()), ("client_id", &user_client)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(!introspect_upstream(&app, exchanged.access_token.secret()).await.active);

    // A password change revokes every grant of the user, exchanged tokens with them.
    let subject = user_token(&app, GATEWAY, "echo").await;
    let exchanged: TokenResponse =
        gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    mcp_auth::admin::change_password(
        &app.store,
        "demo",
        &protocol::secret::Password::new("a brand new password"),
        app.clock_now(),
    )
    .await
    .unwrap();
    assert!(!introspect_upstream(&app, exchanged.access_token.secret()).await.active);
    let again = gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await;
    assert_eq!(error_of(again).await, (400, "invalid_request".into()));
}

/// The user's client revokes its access token `token` (RFC 7009).
async fn revoke_users_token(app: &TestApp, token: &str) {
    let user_client = claims(token)["client_id"].as_str().unwrap().to_owned();
    let revoked = app
        .browser
        .post(app.url("/revoke"))
        .form(&[("token", token), ("client_id", &user_client), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
}

/// Gateways in a row: the user's token T0 for the first gateway, exchanged by it for T1 for the
/// second, exchanged by that one for T2 for the upstream, and by a third for T3. Revoking T0 ends
/// them all, however many exchanges down, for introspection and for exchange.
#[tokio::test]
async fn revoking_the_users_token_ends_every_token_exchanged_down_a_chain_of_gateways() {
    let app = spawn_gateway_app().await;
    let gw1 = secret_client_to(&app, "gw1", &[GATEWAY], &[OTHER]).await;
    let gw2 = secret_client_to(&app, "gw2", &[OTHER], &[UPSTREAM]).await;
    let gw3 = secret_client_to(&app, "gw3", &[UPSTREAM], &[OTHER]).await;
    let exchanged = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200);
        response.json::<TokenResponse>().await.unwrap().access_token.secret().to_owned()
    };
    let t0 = user_token(&app, GATEWAY, "echo").await;
    let t0 = t0.access_token.secret();
    let t1 = exchanged(gw1.exchange(&app, t0, OTHER, None).await).await;
    let t2 = exchanged(gw2.exchange(&app, &t1, UPSTREAM, None).await).await;
    let t3 = exchanged(gw3.exchange(&app, &t2, OTHER, None).await).await;
    // gw2 acts for OTHER: it may introspect T1 and T3.
    let introspect_other = |token: String| {
        let request = gw2.authenticate(&app, "/introspect", &[("token", &token)]);
        async move { request.send().await.unwrap().json::<IntrospectionResponse>().await.unwrap().active }
    };
    assert!(introspect_upstream(&app, &t2).await.active);
    assert!(introspect_other(t3.clone()).await);

    revoke_users_token(&app, t0).await;
    assert!(!introspect_other(t1.clone()).await, "one exchange down");
    assert!(!introspect_upstream(&app, &t2).await.active, "two exchanges down");
    assert!(!introspect_other(t3.clone()).await, "three exchanges down");
    assert_eq!(
        error_of(gw2.exchange(&app, &t1, UPSTREAM, None).await).await,
        (400, "invalid_request".into())
    );
    assert_eq!(error_of(gw3.exchange(&app, &t2, OTHER, None).await).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn an_exchanged_token_never_outlives_its_subject_and_an_expired_subject_is_refused() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let subject_exp = claims(subject.access_token.secret())["exp"].as_i64().unwrap();

    // 20 seconds before the subject token expires: the new token gets those 20 seconds only.
    app.clock.advance(subject_exp - app.clock_now() - 20);
    let late: TokenResponse =
        gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    assert_eq!(claims(late.access_token.secret())["exp"].as_i64().unwrap(), subject_exp);
    assert_eq!(late.expires_in, Some(20));

    app.clock.advance(21);
    let expired = gateway.exchange(&app, subject.access_token.secret(), UPSTREAM, None).await;
    assert_eq!(error_of(expired).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn a_gateway_may_introspect_its_own_resources_tokens_and_revoke_its_hop_tokens() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let for_gateway = user_token(&app, GATEWAY, "echo").await;
    let for_upstream = user_token(&app, UPSTREAM, "echo").await;
    let introspect = |token: String| {
        let request = gateway.authenticate(&app, "/introspect", &[("token", &token)]);
        async move { request.send().await.unwrap().json::<IntrospectionResponse>().await.unwrap() }
    };
    assert!(introspect(for_gateway.access_token.secret().to_owned()).await.active);
    assert!(!introspect(for_upstream.access_token.secret().to_owned()).await.active, "not its resource");

    let hop: TokenResponse =
        gateway.exchange(&app, for_gateway.access_token.secret(), UPSTREAM, None).await.json().await.unwrap();
    let revoked =
        gateway.authenticate(&app, "/revoke", &[("token", hop.access_token.secret())]).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(!introspect_upstream(&app, hop.access_token.secret()).await.active, "the actor gave it up");
}
