use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use protocol::jwt::{AccessTokenClaims, JwkSet};
use protocol::token::TokenResponse;

use crate::helpers::{REDIRECT_URI, RESOURCE, TestApp, location_params, pkce, spawn_app};

/// A registered client, a code for it and the verifier that redeems it.
async fn code_for(app: &TestApp) -> (String, String, String) {
    let client_id = app.register_client().await;
    let (verifier, challenge) = pkce();
    let params = app.authorize_and_consent(&client_id, &challenge).await;
    (client_id, params["code"].clone(), verifier.secret().to_owned())
}

fn exchange_form<'a>(client_id: &'a str, code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client_id),
        ("code_verifier", verifier),
        ("resource", RESOURCE),
    ]
}

fn with(
    form: &[(&'static str, &'static str)],
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    form.iter().map(|&(k, v)| if k == name { (k, value) } else { (k, v) }).collect()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_code_buys_an_es256_at_jwt_for_the_requested_resource() {
    let app = spawn_app().await;
    let (client_id, code, verifier) = code_for(&app).await;
    let response = app.token(&exchange_form(&client_id, &code, &verifier)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let token: TokenResponse = response.json().await.unwrap();
    assert!(token.is_bearer());
    assert_eq!(token.scope.as_deref(), Some("echo"));
    assert_eq!(token.expires_in, Some(300));

    let header = jsonwebtoken::decode_header(token.access_token.secret()).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.expect("kid");
    let jwks: JwkSet = app.browser.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = DecodingKey::from_ec_components(jwk.x.as_deref().unwrap(), jwk.y.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[RESOURCE]);
    validation.set_issuer(&[&app.issuer]);
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(token.access_token.secret(), &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims.client_id, client_id);
    assert_eq!(claims.scope.as_deref(), Some("echo"));
    assert!(!claims.sub.is_empty() && claims.sub != "demo", "sub is a stable id, not the username");
    assert!(claims.exp > claims.iat && claims.exp - claims.iat == 300);
    assert!(!claims.jti.is_empty());
    assert_eq!(claims.client_registration.as_deref(), Some("dynamic"), "registered at /register");
}

/// Access tokens say how their client was registered (`client_registration`), from the code and
/// from every refresh, so a policy downstream can tell an operator's client from anyone's.
#[tokio::test]
async fn tokens_say_how_their_client_was_registered() {
    let app = spawn_app().await;
    let registration = |token: &TokenResponse| {
        let claims = protocol::jwt::decode_unverified(token.access_token.secret()).unwrap().claims;
        claims["client_registration"].as_str().map(str::to_owned)
    };
    let preregistered = mcp_auth::admin::add_client(
        &app.store,
        None,
        "Operator's app",
        vec![REDIRECT_URI.to_owned()],
        true,
        app.clock_now(),
    )
    .await
    .unwrap()
    .client_id;
    let dynamic = app.register_refreshing_client().await;
    for (client_id, expected) in [(preregistered, "preregistered"), (dynamic, "dynamic")] {
        let first = app.first_tokens(&client_id).await;
        assert_eq!(registration(&first).as_deref(), Some(expected), "{client_id}: from the code");
        let refresh = first.refresh_token.as_ref().unwrap().secret();
        let refreshed: TokenResponse = app.refresh(&client_id, refresh, &[]).await.json().await.unwrap();
        assert_eq!(registration(&refreshed).as_deref(), Some(expected), "{client_id}: from a refresh");
    }
}

#[tokio::test]
async fn a_code_works_once_only() {
    let app = spawn_app().await;
    let (client_id, code, verifier) = code_for(&app).await;
    let form = exchange_form(&client_id, &code, &verifier);
    assert_eq!(app.token(&form).await.status(), 200);
    assert_eq!(error_code(app.token(&form).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn of_two_concurrent_redemptions_exactly_one_succeeds() {
    let app = spawn_app().await;
    let (client_id, code, verifier) = code_for(&app).await;
    let form = exchange_form(&client_id, &code, &verifier);
    let (a, b) = tokio::join!(app.token(&form), app.token(&form));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_grant_and_burns_the_code() {
    let app = spawn_app().await;
    let (client_id, code, verifier) = code_for(&app).await;
    let (other, _) = pkce();
    let wrong = exchange_form(&client_id, &code, other.secret());
    assert_eq!(error_code(app.token(&wrong).await).await, (400, "invalid_grant".into()));
    let right = exchange_form(&client_id, &code, &verifier);
    assert_eq!(error_code(app.token(&right).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn a_missing_or_malformed_verifier_is_invalid_request() {
    let app = spawn_app().await;
    let (client_id, code, _) = code_for(&app).await;
    let mut form = exchange_form(&client_id, &code, "short");
    assert_eq!(error_code(app.token(&form).await).await, (400, "invalid_request".into()));
    form.retain(|(k, _)| *k != "code_verifier");
    assert_eq!(error_code(app.token(&form).await).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn the_code_is_bound_to_its_client_redirect_uri_and_resource() {
    let app = spawn_app().await;
    let other_client = app.register_client().await;
    let cases: [(&str, &str, (u16, &str)); 3] = [
        ("client_id", "other", (400, "invalid_grant")),
        ("redirect_uri", "http://localhost:8080/other", (400, "invalid_grant")),
        ("resource", "https://elsewhere.example", (400, "invalid_target")),
    ];
    for (name, value, expected) in cases {
        let (client_id, code, verifier) = code_for(&app).await;
        let value = if value == "other" { other_client.as_str() } else { value };
        let form: Vec<(&str, &str)> = exchange_form(&client_id, &code, &verifier)
            .into_iter()
            .map(|(k, v)| if k == name { (k, value) } else { (k, v) })
            .collect();
        let (status, error) = error_code(app.token(&form).await).await;
        assert_eq!((status, error.as_str()), expected, "{name}");
        // The mismatch burnt the code: the request it was issued for is refused too.
        let right = exchange_form(&client_id, &code, &verifier);
        assert_eq!(error_code(app.token(&right).await).await, (400, "invalid_grant".into()), "{name}");
    }
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = spawn_app().await;
    let (client_id, code, verifier) = code_for(&app).await;
    app.clock.advance(61);
    assert_eq!(
        error_code(app.token(&exchange_form(&client_id, &code, &verifier)).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn unknown_grant_types_and_malformed_requests_get_oauth_errors() {
    let app = spawn_app().await;
    let base = [("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", REDIRECT_URI)];
    assert_eq!(
        error_code(app.token(&with(&base, "grant_type", "password")).await).await,
        (400, "unsupported_grant_type".into())
    );
    assert_eq!(error_code(app.token(&[("code", "x")]).await).await, (400, "invalid_request".into()));
    let json = app
        .browser
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(json).await, (400, "invalid_request".into()));
    let repeated = app
        .browser
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(repeated).await, (400, "invalid_request".into()));
    let unknown_client = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", "nobody"),
        ("code_verifier", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
    ];
    assert_eq!(error_code(app.token(&unknown_client).await).await, (400, "invalid_client".into()));
}

/// Codes are sealed: a signed-in person with a remembered consent gets a code from `GET
/// /authorize` without the server writing anything, and the store learns of the code when it is
/// redeemed, once.
#[tokio::test]
async fn a_code_from_a_remembered_consent_costs_no_write_until_it_is_redeemed() {
    let app = spawn_app().await;
    let (client_id, first, verifier) = code_for(&app).await;
    assert_eq!(app.token(&exchange_form(&client_id, &first, &verifier)).await.status(), 200);

    let before = app.store.row_counts().await.unwrap();
    let (verifier, challenge) = pkce();
    let answer = app.get_authorize(&app.authorize_query(&client_id, &challenge, &[])).await;
    let (base, params) = location_params(&answer);
    assert_eq!(base, REDIRECT_URI, "a remembered consent answers at once");
    assert_eq!(app.store.row_counts().await.unwrap(), before, "issuing the code wrote nothing");

    let code = &params["code"];
    assert_eq!(app.token(&exchange_form(&client_id, code, verifier.secret())).await.status(), 200);
    let after = app.store.row_counts().await.unwrap();
    assert_eq!(after.authorization_codes, before.authorization_codes + 1, "spent, and so recorded");
    assert_eq!(after.grants, before.grants + 1);
    assert_eq!(
        error_code(app.token(&exchange_form(&client_id, code, verifier.secret())).await).await,
        (400, "invalid_grant".into())
    );
}

/// A code this server did not seal, or one altered in transit, is refused without touching the
/// store; the genuine code stays good.
#[tokio::test]
async fn an_altered_code_or_another_servers_is_invalid_grant_and_spends_nothing() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let (client_id, code, verifier) = code_for(&app).await;
    let (_, foreign, _) = code_for(&other).await;

    let flipped = |i: usize| {
        let mut bytes = code.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let before = app.store.row_counts().await.unwrap();
    for wrong in [
        flipped(0),
        flipped(code.len() / 2),
        flipped(code.len() - 2),
        code[..code.len() - 1].to_owned(),
        format!("{code}A"),
        foreign,
    ] {
        assert_eq!(
            error_code(app.token(&exchange_form(&client_id, &wrong, &verifier)).await).await,
            (400, "invalid_grant".into()),
            "{wrong}"
        );
    }
    assert_eq!(app.store.row_counts().await.unwrap(), before, "nothing spent, nothing written");
    assert_eq!(app.token(&exchange_form(&client_id, &code, &verifier)).await.status(), 200);
}
