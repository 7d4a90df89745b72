//! Client authentication of confidential clients: `client_secret_basic` and `private_key_jwt`,
//! and what is refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth::admin::{ConfidentialAuth, add_confidential_client};
use protocol::token::CLIENT_ASSERTION_TYPE_JWT_BEARER;
use serde_json::{Value, json};

use crate::gateway::{
    ACCESS_TOKEN_TYPE, ClientKey, Confidential, Credential, GATEWAY, TOKEN_EXCHANGE, UPSTREAM, basic,
    error_of, key_client, new_client, secret_client, spawn_gateway_app, user_token,
};
use crate::helpers::TestApp;

/// A token exchange request authenticated with `assertion`.
async fn exchange_with(app: &TestApp, subject: &str, assertion: &str) -> reqwest::Response {
    app.browser
        .post(app.url("/token"))
        .form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("resource", UPSTREAM),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

fn key_of(client: &Confidential) -> &ClientKey {
    match &client.credential {
        Credential::Key(key) => key,
        Credential::Secret(_) => panic!("a key client"),
    }
}

async fn failures(app: &TestApp) -> usize {
    let events = app.store.audit_events(200).await.unwrap();
    events.iter().filter(|e| e.kind == "client_authentication_failed").count()
}

#[tokio::test]
async fn a_private_key_jwt_assertion_works_once_and_only_for_this_server() {
    let app = spawn_gateway_app().await;
    let gateway = key_client(&app, "gateway", &[GATEWAY]).await;
    let key = key_of(&gateway);
    let subject = user_token(&app, GATEWAY, "echo").await;
    let subject = subject.access_token.secret();
    let now = app.clock_now();

    // The issuer, the token endpoint: both name this server.
    for aud in [app.issuer.clone(), app.url("/token")] {
        let assertion = key.assertion("gateway", &aud, now);
        assert_eq!(exchange_with(&app, subject, &assertion).await.status(), 200, "aud {aud}");
        // Replayed: refused, however valid otherwise.
        assert_eq!(
            error_of(exchange_with(&app, subject, &assertion).await).await,
            (401, "invalid_client".into())
        );
    }

    let claims = |changes: Value| {
        let mut claims = json!({
            "iss": "gateway", "sub": "gateway", "aud": app.issuer, "iat": now, "exp": now + 60,
            "jti": mcp_auth::random::token(),
        });
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    };
    let before = failures(&app).await;
    let refused = [
        ("another audience", claims(json!({"aud": "http://other.example"}))),
        ("expired", claims(json!({"iat": now - 300, "exp": now - 31}))),
        ("living too long", claims(json!({"exp": now + 3600}))),
        ("living until the end of time", claims(json!({"exp": i64::MAX}))),
        ("valid from the end of time", claims(json!({"nbf": i64::MAX, "iat": i64::MAX}))),
        ("issued in the future", claims(json!({"iat": now + 600, "exp": now + 660}))),
        ("without jti", claims(json!({"jti": null}))),
        ("iss and sub differ", claims(json!({"sub": "someone-else"}))),
        ("an unknown client", claims(json!({"iss": "nobody", "sub": "nobody"}))),
    ];
    for (what, claims) in &refused {
        let response = exchange_with(&app, subject, &key.sign(claims)).await;
        assert_eq!(error_of(response).await, (401, "invalid_client".into()), "{what}");
    }
    assert!(failures(&app).await >= before + refused.len(), "every refusal is audited");

    // Within the bounded clock skew it still works.
    let skewed = key.sign(&claims(json!({"iat": now + 20, "exp": now + 40})));
    assert_eq!(exchange_with(&app, subject, &skewed).await.status(), 200);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_or_a_symmetric_algorithm_is_refused() {
    let app = spawn_gateway_app().await;
    let gateway = key_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let subject = subject.access_token.secret();
    let now = app.clock_now();

    // Another key under the same kid.
    let impostor = ClientKey::new(&key_of(&gateway).kid);
    let forged = impostor.assertion("gateway", &app.issuer, now);
    assert_eq!(error_of(exchange_with(&app, subject, &forged).await).await, (401, "invalid_client".into()));

    // HS256 keyed with the client's public key (the classic algorithm confusion), and `none`.
    let jwk = key_of(&gateway).public_jwk();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key_of(&gateway).kid.clone());
    let claims = json!({"iss": "gateway", "sub": "gateway", "aud": app.issuer, "exp": now + 60, "jti": "hs"});
    let hmac = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(jwk.to_string().as_bytes()))
        .unwrap();
    assert_eq!(error_of(exchange_with(&app, subject, &hmac).await).await, (401, "invalid_client".into()));
    let unsigned = format!(
        "{}.{}.",
        protocol::base64url(br#"{"alg":"none","typ":"JWT"}"#),
        protocol::base64url(claims.to_string().as_bytes())
    );
    assert_eq!(error_of(exchange_with(&app, subject, &unsigned).await).await, (401, "invalid_client".into()));
    assert_eq!(error_of(exchange_with(&app, subject, "garbage").await).await, (401, "invalid_client".into()));
}

#[tokio::test]
async fn a_wrong_secret_or_a_missing_credential_is_invalid_client_with_a_basic_challenge() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject.access_token.secret()),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("resource", UPSTREAM),
    ];
    assert_eq!(gateway.token(&app, &form).await.status(), 200);

    let wrong = app
        .browser
        .post(app.url("/token"))
        .header("Authorization", basic("gateway", "not-the-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(error_of(wrong).await.1, "invalid_client");

    // Naming a confidential client is not authenticating as it, nor is a secret in the body.
    let Credential::Secret(secret) = &gateway.credential else { panic!("a secret client") };
    for extra in
        [vec![("client_id", "gateway")], vec![("client_id", "gateway"), ("client_secret", secret.secret())]]
    {
        let mut with = form.to_vec();
        with.extend(extra);
        assert_eq!(error_of(app.token(&with).await).await, (401, "invalid_client".into()));
    }
    // Basic for a client registered for private_key_jwt, and for one that does not exist.
    let keyed = key_client(&app, "keyed", &[GATEWAY]).await;
    for id in [keyed.id.as_str(), "nobody"] {
        let response = app
            .browser
            .post(app.url("/token"))
            .header("Authorization", basic(id, secret.secret()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await, (401, "invalid_client".into()), "{id}");
    }
    // Two methods at once.
    let both = app
        .browser
        .post(app.url("/token"))
        .header("Authorization", basic("gateway", secret.secret()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
            ("client_assertion", "a.b.c"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(both).await, (400, "invalid_request".into()));
    let logged = format!("{:?}", app.store.audit_events(100).await.unwrap());
    assert!(!logged.contains(secret.secret()), "secrets never reach the audit trail");
}

/// Serves `jwks` at `http://<address>/jwks.json` until the test ends, counting the requests.
async fn serve_jwks(jwks: Value) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, hits)
}

#[tokio::test]
async fn keys_are_fetched_from_the_clients_jwks_uri() {
    let app = spawn_gateway_app().await;
    let key = ClientKey::new("published");
    let (address, _) = serve_jwks(json!({"keys": [key.public_jwk()]})).await;
    let auth = ConfidentialAuth::JwksUri(format!("http://{address}/jwks.json"));
    add_confidential_client(&app.store, new_client("gateway", auth, &[GATEWAY]), app.clock_now())
        .await
        .unwrap();
    let subject = user_token(&app, GATEWAY, "echo").await;
    let assertion = key.assertion("gateway", &app.issuer, app.clock_now());
    assert_eq!(exchange_with(&app, subject.access_token.secret(), &assertion).await.status(), 200);

    // A key the client did not publish.
    let other = ClientKey::new("unpublished");
    let assertion = other.assertion("gateway", &app.issuer, app.clock_now());
    assert_eq!(
        error_of(exchange_with(&app, subject.access_token.secret(), &assertion).await).await,
        (401, "invalid_client".into())
    );
}

/// A client id is no secret: assertions naming it with made-up kids, once the keys are over 10 s
/// old, each asked for a refetch. They take turns now, and those that waited use the fetch before
/// them.
#[tokio::test]
async fn concurrent_assertions_with_unknown_kids_refetch_the_jwks_uri_once() {
    let app = spawn_gateway_app().await;
    let key = ClientKey::new("published");
    let (address, hits) = serve_jwks(json!({"keys": [key.public_jwk()]})).await;
    let auth = ConfidentialAuth::JwksUri(format!("http://{address}/jwks.json"));
    add_confidential_client(&app.store, new_client("gateway", auth, &[GATEWAY]), app.clock_now())
        .await
        .unwrap();
    let subject = user_token(&app, GATEWAY, "echo").await;
    let subject = subject.access_token.secret();
    let assertion = key.assertion("gateway", &app.issuer, app.clock_now());
    assert_eq!(exchange_with(&app, subject, &assertion).await.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    app.clock.advance(11);
    let now = app.clock_now();
    let made_up: Vec<String> = (0..20)
        .map(|i| ClientKey::new(&format!("made-up-{i}")).assertion("gateway", &app.issuer, now))
        .collect();
    let answers = futures::future::join_all(made_up.iter().map(|a| exchange_with(&app, subject, a))).await;
    assert!(answers.iter().all(|answer| answer.status() == 401));
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one refetch for all of them");
    // The published key still works without fetching.
    let assertion = key.assertion("gateway", &app.issuer, now);
    assert_eq!(exchange_with(&app, subject, &assertion).await.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_public_client_may_name_itself_with_basic_and_an_empty_password_but_not_claim_a_secret() {
    let app = spawn_gateway_app().await;
    let client_id = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client_id).await;
    let refresh = |authorization: String| {
        app.browser
            .post(app.url("/token"))
            .header("Authorization", authorization)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.refresh_token.as_ref().unwrap().secret()),
            ])
            .send()
    };
    let claimed = refresh(basic(&client_id, "a-secret-it-was-never-given")).await.unwrap();
    assert_eq!(error_of(claimed).await, (401, "invalid_client".into()));
    let named = refresh(basic(&client_id, "")).await.unwrap();
    assert_eq!(named.status(), 200);
}

#[tokio::test]
async fn a_resource_servers_introspection_credential_is_good_for_introspection_only() {
    let app = spawn_gateway_app().await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let credential = basic(UPSTREAM, mcp_auth::config::TEST_INTROSPECTION_SECRET);
    for (path, form) in [
        ("/token", vec![("grant_type", "refresh_token"), ("refresh_token", "x")]),
        ("/revoke", vec![("token", subject.access_token.secret())]),
        (
            "/token",
            vec![
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", subject.access_token.secret()),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("resource", UPSTREAM),
            ],
        ),
    ] {
        let response = app
            .browser
            .post(app.url(path))
            .header("Authorization", &credential)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await, (401, "invalid_client".into()), "{path} {form:?}");
    }
    let introspected = app
        .browser
        .post(app.url("/introspect"))
        .header("Authorization", &credential)
        .form(&[("token", subject.access_token.secret())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), 200);
}
