//! Grants: refresh tokens rotate inside them, a spent refresh token stays recognisable, and
//! revoking a grant (directly, by withdrawing consent, or by a password change) revokes every token
//! under it.

use std::sync::Arc;

use mcp_auth::model::{AuditEvent, AuditKind, Consent, Grant};

use crate::fixtures::{Fixture, RESOURCE, access_token, add_client, unique};

#[tokio::test]
async fn refresh_tokens_rotate_within_their_grant_and_a_spent_one_stays_recognisable() {
    let fx = Fixture::new().await;
    let first = fx.grant(3600).await;

    let (token, grant) = fx.store.find_refresh_token(&first.refresh.token_hash).await.unwrap().unwrap();
    assert_eq!((token.grant_id.as_str(), token.used_at), (first.grant.id.as_str(), None));
    assert_eq!(grant, first.grant);

    fx.clock.advance(10);
    let (second, access) = fx.rotate(&first.grant, &first.refresh).await.expect("an unspent token rotates");
    let (spent, grant) = fx.store.find_refresh_token(&first.refresh.token_hash).await.unwrap().unwrap();
    assert_eq!(spent.used_at, Some(fx.now()), "the old token is spent, and found as spent");
    assert!(grant.is_live(fx.now()), "rotation leaves the grant alone");
    let (next, grant) = fx.store.find_refresh_token(&second.token_hash).await.unwrap().unwrap();
    assert_eq!(
        (next.used_at, grant.id.as_str()),
        (None, first.grant.id.as_str()),
        "the successor is in the grant"
    );
    let (recorded, _) = fx.store.find_access_token(&access.jti).await.unwrap().unwrap();
    assert_eq!(recorded, access);

    assert!(fx.rotate(&first.grant, &first.refresh).await.is_none(), "a spent token does not rotate again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_rotations_of_one_refresh_token_exactly_one_wins() {
    let fx = Arc::new(Fixture::new().await);
    for _ in 0..10 {
        let issued = fx.grant(3600).await;
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (fx, grant, old) = (fx.clone(), issued.grant.clone(), issued.refresh.clone());
                tokio::spawn(async move { fx.rotate(&grant, &old).await })
            })
            .collect();
        let mut winners = Vec::new();
        for attempt in attempts {
            winners.extend(attempt.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "exactly one of eight concurrent rotations wins");
        let (successor, access) = &winners[0];
        assert!(fx.store.find_refresh_token(&successor.token_hash).await.unwrap().is_some());
        assert!(fx.store.find_access_token(&access.jti).await.unwrap().is_some());
        // The rotation's audit event is written with it: once, by the winner, none by the losers.
        let events = fx.store.audit_events(1000).await.unwrap();
        let of_grant: Vec<_> = events
            .iter()
            .filter(|e| {
                e.kind == "refresh_rotated" && e.grant_id.as_deref() == Some(issued.grant.id.as_str())
            })
            .collect();
        assert_eq!(of_grant.len(), 1, "{of_grant:?}");
        assert_eq!(of_grant[0].detail.as_deref(), Some(format!("jti {}", access.jti).as_str()));
    }
}

#[tokio::test]
async fn revoking_a_grant_revokes_every_refresh_and_access_token_under_it() {
    let fx = Fixture::new().await;
    let issued = fx.grant(3600).await;
    let bystander = fx.grant(3600).await;
    let mut refresh = vec![issued.refresh.clone()];
    let mut access = vec![issued.access.clone()];
    for _ in 0..2 {
        let (next, token) = fx.rotate(&issued.grant, refresh.last().unwrap()).await.unwrap();
        refresh.push(next);
        access.push(token);
    }

    fx.clock.advance(5);
    let revoked_at = fx.now();
    fx.store.revoke_grant(&issued.grant.id, "refresh token reuse", revoked_at).await.unwrap();
    fx.clock.advance(5);
    fx.store.revoke_grant(&issued.grant.id, "revoked by the client", fx.now()).await.unwrap();

    for token in &refresh {
        let (_, grant) = fx.store.find_refresh_token(&token.token_hash).await.unwrap().unwrap();
        assert_eq!(grant.revoked_at, Some(revoked_at), "the first revocation stays");
        assert!(!grant.is_live(fx.now()));
    }
    for token in &access {
        let (_, grant) = fx.store.find_access_token(&token.jti).await.unwrap().unwrap();
        assert_eq!(grant.revoked_at, Some(revoked_at));
    }
    let (_, other) = fx.store.find_refresh_token(&bystander.refresh.token_hash).await.unwrap().unwrap();
    assert!(other.is_live(fx.now()), "another grant of the same user and client is untouched");
}

#[tokio::test]
async fn revoking_an_access_token_revokes_that_token_only() {
    let fx = Fixture::new().await;
    let issued = fx.grant(3600).await;
    let (_, second) = fx.rotate(&issued.grant, &issued.refresh).await.unwrap();
    fx.store.revoke_access_token(&issued.access.jti, fx.now()).await.unwrap();

    let (token, grant) = fx.store.find_access_token(&issued.access.jti).await.unwrap().unwrap();
    assert_eq!(token.revoked_at, Some(fx.now()));
    assert!(grant.is_live(fx.now()));
    let (other, _) = fx.store.find_access_token(&second.jti).await.unwrap().unwrap();
    assert_eq!(other.revoked_at, None);
}

#[tokio::test]
async fn withdrawing_consent_revokes_the_grants_of_that_client_only() {
    let fx = Fixture::new().await;
    let other_client = add_client(&fx.store, fx.now()).await;
    let issued = fx.grant(3600).await;
    let consent = Consent {
        user_id: fx.user.id.clone(),
        client_id: fx.client.client_id.clone(),
        resource: RESOURCE.into(),
        scope: "echo".into(),
        granted_at: fx.now(),
    };
    fx.store.save_consent(&consent, &AuditEvent::new(AuditKind::ConsentGranted)).await.unwrap();
    // A grant of the same user for another client.
    let elsewhere =
        Grant { id: unique("grant"), client_id: other_client.client_id.clone(), ..issued.grant.clone() };
    let (code_hash, mut binding) = fx.code().await;
    binding.client_id = other_client.client_id.clone();
    let token = access_token(&elsewhere.id, fx.now(), 300);
    let event = AuditEvent::new(AuditKind::TokenIssued).grant(&elsewhere.id);
    assert!(
        fx.store
            .redeem_code_into_grant(&code_hash, &binding, &elsewhere, &token, None, &event, fx.now())
            .await
            .unwrap()
    );

    assert!(fx.store.revoke_consent(&fx.user.id, &fx.client.client_id, fx.now()).await.unwrap());
    let (_, grant) = fx.store.find_refresh_token(&issued.refresh.token_hash).await.unwrap().unwrap();
    assert!(!grant.is_live(fx.now()), "the client's grant is revoked with the consent");
    let (_, grant) = fx.store.find_access_token(&token.jti).await.unwrap().unwrap();
    assert!(grant.is_live(fx.now()), "the other client keeps its grant");
}

#[tokio::test]
async fn changing_the_password_revokes_every_grant_and_session_of_the_user() {
    let fx = Fixture::new().await;
    let issued = fx.grant(3600).await;
    let mut session = fx.session(600).await;
    session.id_hash = unique("session");
    session.user_id = Some(fx.user.id.clone());
    session.authenticated_at = Some(fx.now());
    fx.store.insert_session(&session, fx.now()).await.unwrap();

    fx.store.change_password(&fx.user.id, "$argon2id$new", fx.now()).await.unwrap();
    let (_, grant) = fx.store.find_refresh_token(&issued.refresh.token_hash).await.unwrap().unwrap();
    assert!(!grant.is_live(fx.now()));
    assert!(fx.store.find_session(&session.id_hash, fx.now()).await.unwrap().is_none(), "signed out");
    let user = fx.store.find_user_by_id(&fx.user.id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$argon2id$new");
    let grant = fx.store.find_grant(&issued.grant.id).await.unwrap().unwrap();
    assert_eq!(grant.revoked_at, Some(fx.now()));
}
