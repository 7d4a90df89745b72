//! Browser sessions expire, and signing in replaces the session, carrying its pending requests.

use mcp_auth::model::BrowserSession;

use crate::fixtures::{Fixture, unique};

#[tokio::test]
async fn a_session_is_found_until_it_expires_or_is_deleted() {
    let fx = Fixture::new().await;
    let session = fx.session(600).await;
    let found = fx.store.find_session(&session.id_hash, fx.now()).await.unwrap().unwrap();
    assert_eq!((found.csrf_token, found.user_id), (session.csrf_token.clone(), None));

    fx.clock.advance(600);
    assert!(fx.store.find_session(&session.id_hash, fx.now()).await.unwrap().is_none(), "expired");

    let other = fx.session(600).await;
    fx.store.delete_session(&other.id_hash).await.unwrap();
    assert!(fx.store.find_session(&other.id_hash, fx.now()).await.unwrap().is_none(), "signed out");
}

#[tokio::test]
async fn signing_in_replaces_the_session_and_carries_its_pending_requests_over() {
    let fx = Fixture::new().await;
    let anonymous = fx.session(600).await;
    let request = fx.request(&anonymous, 600).await;
    let bystander = fx.session(600).await;
    let untouched = fx.request(&bystander, 600).await;

    let signed_in = BrowserSession {
        id_hash: unique("session"),
        csrf_token: unique("csrf"),
        user_id: Some(fx.user.id.clone()),
        authenticated_at: Some(fx.now()),
        expires_at: fx.now() + 600,
    };
    fx.store.replace_session_on_login(&anonymous.id_hash, &signed_in, fx.now()).await.unwrap();

    assert!(
        fx.store.find_session(&anonymous.id_hash, fx.now()).await.unwrap().is_none(),
        "the old id is dead"
    );
    let found = fx.store.find_session(&signed_in.id_hash, fx.now()).await.unwrap().unwrap();
    assert_eq!((found.user_id, found.authenticated_at), (Some(fx.user.id.clone()), Some(fx.now())));
    assert_ne!(found.csrf_token, anonymous.csrf_token, "a new CSRF token");

    let now = fx.now();
    let store = &fx.store;
    let moved = store.find_authorization_request(&request.id, &signed_in.id_hash, now).await.unwrap();
    assert!(moved.is_some(), "the request follows the user");
    assert!(store.find_authorization_request(&request.id, &anonymous.id_hash, now).await.unwrap().is_none());
    let kept = store.find_authorization_request(&untouched.id, &bystander.id_hash, now).await.unwrap();
    assert!(kept.is_some(), "other browsers keep theirs");
}
