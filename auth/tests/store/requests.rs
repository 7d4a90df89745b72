//! Pending authorization requests belong to one browser session, expire, and are decided once.

use std::sync::Arc;

use crate::fixtures::Fixture;

#[tokio::test]
async fn a_pending_request_is_found_only_by_its_session_and_only_until_it_expires() {
    let fx = Fixture::new().await;
    let session = fx.session(600).await;
    let other = fx.session(600).await;
    let request = fx.request(&session, 60).await;

    let found = fx.store.find_authorization_request(&request.id, &session.id_hash, fx.now()).await.unwrap();
    let found = found.expect("its own session finds it");
    assert_eq!((found.redirect_uri, found.state), (request.redirect_uri.clone(), request.state.clone()));
    assert!(
        fx.store.find_authorization_request(&request.id, &other.id_hash, fx.now()).await.unwrap().is_none()
    );
    assert!(
        fx.store.take_authorization_request(&request.id, &other.id_hash, fx.now()).await.unwrap().is_none()
    );

    fx.clock.advance(60);
    assert!(
        fx.store.find_authorization_request(&request.id, &session.id_hash, fx.now()).await.unwrap().is_none()
    );
    assert!(
        fx.store.take_authorization_request(&request.id, &session.id_hash, fx.now()).await.unwrap().is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_request_is_taken_once_even_by_concurrent_takers() {
    let fx = Arc::new(Fixture::new().await);
    let session = fx.session(600).await;
    for _ in 0..10 {
        let request = fx.request(&session, 60).await;
        let takers: Vec<_> = (0..8)
            .map(|_| {
                let (fx, id, session_hash) = (fx.clone(), request.id.clone(), session.id_hash.clone());
                tokio::spawn(async move {
                    fx.store.take_authorization_request(&id, &session_hash, fx.now()).await.unwrap()
                })
            })
            .collect();
        let mut taken = 0;
        for taker in takers {
            taken += usize::from(taker.await.unwrap().is_some());
        }
        assert_eq!(taken, 1, "exactly one of eight concurrent takers gets the request");
        assert!(
            fx.store
                .find_authorization_request(&request.id, &session.id_hash, fx.now())
                .await
                .unwrap()
                .is_none(),
            "a taken request is gone"
        );
    }
}
