//! Authorization codes are single-use: one redemption wins, every later one is a replay that
//! knows the grant the first created.

use std::sync::Arc;

use mcp_auth::model::{AuditEvent, AuditKind, NewCode, Redemption, StoredAuditEvent};

use crate::fixtures::{Fixture, unique};

#[tokio::test]
async fn a_code_is_redeemed_once_then_reported_as_replayed_with_its_grant() {
    let fx = Fixture::new().await;
    let (code_hash, binding) = fx.code().await;

    let Redemption::Redeemed(redeemed) = fx.store.redeem_code(&code_hash, fx.now()).await.unwrap() else {
        panic!("the first presentation redeems the code");
    };
    assert_eq!(
        (redeemed.client_id, redeemed.user_id, redeemed.redirect_uri, redeemed.scope),
        (binding.client_id, binding.user_id, binding.redirect_uri, binding.scope)
    );
    assert_eq!(
        (redeemed.code_challenge, redeemed.resource, redeemed.auth_time, redeemed.expires_at),
        (binding.code_challenge, binding.resource, binding.auth_time, binding.expires_at)
    );

    // Spent before any grant exists (a failed PKCE check, say): a replay has nothing to revoke.
    assert!(matches!(
        fx.store.redeem_code(&code_hash, fx.now()).await.unwrap(),
        Redemption::AlreadyRedeemed { grant_id: None, .. }
    ));

    let issued = fx.grant_from_code(&code_hash, 3600).await;
    match fx.store.redeem_code(&code_hash, fx.now()).await.unwrap() {
        Redemption::AlreadyRedeemed { code, grant_id } => {
            assert_eq!(grant_id.as_deref(), Some(issued.grant.id.as_str()), "the replay finds the grant");
            assert_eq!(code.user_id, fx.user.id);
        }
        other => panic!("a replay is reported as such, not {other:?}"),
    }
    assert!(matches!(fx.store.redeem_code(&unique("code"), fx.now()).await.unwrap(), Redemption::Unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_redemptions_of_one_code_exactly_one_wins() {
    let fx = Arc::new(Fixture::new().await);
    for _ in 0..10 {
        let (code_hash, _) = fx.code().await;
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (fx, code_hash) = (fx.clone(), code_hash.clone());
                tokio::spawn(async move { fx.store.redeem_code(&code_hash, fx.now()).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Redemption::Redeemed(_) => winners += 1,
                Redemption::AlreadyRedeemed { .. } => {}
                Redemption::Unknown => panic!("the code exists"),
            }
        }
        assert_eq!(winners, 1, "exactly one of eight concurrent redemptions wins");
    }
}

/// Two redemptions racing on two replicas: the loser's replay can come after the winner spent the
/// code but before the winner created its grant. The replay is then marked on the code and the
/// grant is created revoked, so the code's thief never keeps a grant, whichever finishes first.
#[tokio::test]
async fn a_replay_before_the_winners_grant_exists_leaves_that_grant_revoked() {
    let fx = Fixture::new().await;
    let (code_hash, _) = fx.code().await;
    assert!(matches!(fx.store.redeem_code(&code_hash, fx.now()).await.unwrap(), Redemption::Redeemed(_)));
    assert!(matches!(
        fx.store.redeem_code(&code_hash, fx.now()).await.unwrap(),
        Redemption::AlreadyRedeemed { grant_id: None, .. }
    ));

    let issued = fx.grant_from_code(&code_hash, 3600).await;
    let grant = fx.store.find_grant(&issued.grant.id).await.unwrap().expect("the grant is stored");
    assert!(grant.revoked_at.is_some(), "a grant whose code was replayed is born revoked");

    // Without a replay, the grant is live.
    let (clean_hash, _) = fx.code().await;
    assert!(matches!(fx.store.redeem_code(&clean_hash, fx.now()).await.unwrap(), Redemption::Redeemed(_)));
    let issued = fx.grant_from_code(&clean_hash, 3600).await;
    let grant = fx.store.find_grant(&issued.grant.id).await.unwrap().expect("the grant is stored");
    assert!(grant.revoked_at.is_none());
}

/// The token endpoint's common case: a code read unspent, then spent with its grant, tokens and
/// event in one commit. Afterwards it is spent like any other, and a replay finds its grant.
#[tokio::test]
async fn a_code_redeemed_into_its_grant_in_one_commit_is_spent_and_a_replay_finds_the_grant() {
    let fx = Fixture::new().await;
    let (code_hash, binding) = fx.code().await;
    let read = fx.store.find_unredeemed_code(&code_hash).await.unwrap().expect("an unspent code is read");
    assert_eq!(
        (read.client_id, read.code_challenge, read.expires_at),
        (binding.client_id, binding.code_challenge, binding.expires_at)
    );
    assert!(fx.store.find_unredeemed_code(&unique("code")).await.unwrap().is_none());

    let issued = fx.redeem_into_grant(&code_hash, 3600).await.expect("an unspent code is redeemed");
    assert!(fx.store.find_unredeemed_code(&code_hash).await.unwrap().is_none(), "spent");
    let grant = fx.store.find_grant(&issued.grant.id).await.unwrap().expect("the grant is stored");
    assert!(grant.is_live(fx.now()));
    let (refresh, _) =
        fx.store.find_refresh_token(&issued.refresh.token_hash).await.unwrap().expect("its refresh token");
    assert!(refresh.used_at.is_none());
    assert!(fx.store.find_access_token(&issued.access.jti).await.unwrap().is_some(), "its access token");
    let events = fx.store.audit_events(100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "token_issued" && e.grant_id.as_deref() == Some(issued.grant.id.as_str()))
            .count(),
        1,
        "{events:?}"
    );

    // Once spent: never again, nothing written, and a replay finds the grant to revoke.
    let counts = fx.store.row_counts().await.unwrap();
    assert!(fx.redeem_into_grant(&code_hash, 3600).await.is_none());
    assert_eq!(fx.store.row_counts().await.unwrap(), counts, "a second redemption writes nothing");
    match fx.store.redeem_code(&code_hash, fx.now()).await.unwrap() {
        Redemption::AlreadyRedeemed { grant_id, .. } => assert_eq!(grant_id, Some(issued.grant.id)),
        other => panic!("a replay is reported as such, not {other:?}"),
    }
}

/// A code spent by the other path (a request that failed its checks burns it) is not redeemed
/// into a grant afterwards.
#[tokio::test]
async fn a_code_burnt_before_is_not_redeemed_into_a_grant() {
    let fx = Fixture::new().await;
    let (code_hash, _) = fx.code().await;
    assert!(matches!(fx.store.redeem_code(&code_hash, fx.now()).await.unwrap(), Redemption::Redeemed(_)));
    let counts = fx.store.row_counts().await.unwrap();
    assert!(fx.redeem_into_grant(&code_hash, 3600).await.is_none());
    assert_eq!(fx.store.row_counts().await.unwrap(), counts, "nothing written");
    assert!(fx.redeem_into_grant(&unique("code"), 3600).await.is_none(), "an unknown code neither");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_redemptions_into_grants_exactly_one_wins_and_only_it_writes() {
    let fx = Arc::new(Fixture::new().await);
    let before = fx.store.row_counts().await.unwrap();
    for _ in 0..10 {
        let (code_hash, _) = fx.code().await;
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (fx, code_hash) = (fx.clone(), code_hash.clone());
                tokio::spawn(async move { fx.redeem_into_grant(&code_hash, 3600).await.is_some() })
            })
            .collect();
        let mut winners = 0;
        for attempt in attempts {
            winners += usize::from(attempt.await.unwrap());
        }
        assert_eq!(winners, 1, "exactly one of eight concurrent redemptions wins");
    }
    let after = fx.store.row_counts().await.unwrap();
    assert_eq!(
        (
            after.grants - before.grants,
            after.access_tokens - before.access_tokens,
            after.refresh_tokens - before.refresh_tokens
        ),
        (10, 10, 10),
        "one grant with its tokens per code"
    );
}

/// The consent that allowed a code is recorded in the code's commit: a code that could not be
/// stored leaves no event claiming it was allowed, and a stored one always has its event.
#[tokio::test]
async fn a_code_and_its_consent_event_are_written_together_or_not_at_all() {
    let fx = Fixture::new().await;
    let consents = |events: Vec<StoredAuditEvent>| {
        events.into_iter().filter(|e| e.kind == "consent_granted").collect::<Vec<_>>()
    };
    let (code_hash, binding) = fx.code().await;
    let events = consents(fx.store.audit_events(100).await.unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail.as_deref(), Some(format!("code {code_hash}").as_str()));

    // The same code hash again: refused, and its event with it.
    let again = NewCode { code_hash: code_hash.clone(), binding };
    let event = AuditEvent::new(AuditKind::ConsentGranted).detail("the duplicate");
    assert!(fx.store.insert_code(&again, &event, fx.now()).await.is_err());
    let events = consents(fx.store.audit_events(100).await.unwrap());
    assert_eq!(events.len(), 1, "no event for the code that was not stored: {events:?}");
}
