//! The resource server in introspection mode, against the real authorization server.

use e2e::headless::HeadlessUser;
use e2e::{Stack, StackOptions};

#[tokio::test]
async fn with_introspection_of_every_token_a_revocation_takes_effect_at_once() {
    let stack =
        Stack::start_with(StackOptions { introspect_every_token: true, ..Default::default() }).await.unwrap();
    let user = HeadlessUser::new();
    let url = format!("{}/echo?text=introspected", stack.resource);
    let challenge = e2e::challenge_of(&user.http.get(&url).send().await.unwrap());
    let token = user.authorize_from_challenge(&url, &challenge).await.unwrap();

    assert_eq!(user.http.get(&url).bearer_auth(token.secret()).send().await.unwrap().status(), 200);

    // The client gives the token up; the resource server learns of it on the next request.
    let client_id = protocol::jwt::decode_unverified(token.secret()).unwrap().claims["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = user
        .http
        .post(format!("{}/revoke", stack.issuer))
        .form(&[("token", token.secret()), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let refused = user.http.get(&url).bearer_auth(token.secret()).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = e2e::challenge_of(&refused);
    assert_eq!(challenge.error, Some(protocol::error::ErrorCode::InvalidToken));
    let description = challenge.error_description.unwrap_or_default();
    assert!(description.contains("authorization server says"), "asked the AS: {description}");
}

#[tokio::test]
async fn an_opaque_token_is_asked_about_and_refused_when_the_as_does_not_know_it() {
    let stack =
        Stack::start_with(StackOptions { introspect_every_token: true, ..Default::default() }).await.unwrap();
    let user = HeadlessUser::new();
    let refused = user
        .http
        .get(format!("{}/echo?text=x", stack.resource))
        .bearer_auth("an-opaque-token-the-as-never-issued")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = e2e::challenge_of(&refused);
    assert_eq!(challenge.error, Some(protocol::error::ErrorCode::InvalidToken));
    let description = challenge.error_description.unwrap_or_default();
    assert!(description.contains("authorization server says"), "asked the AS: {description}");
}
