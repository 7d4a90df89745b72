//! Authorization codes are single-use: one redemption wins, every later one is a replay that
//! knows the grant the first created. Codes are sealed (`sealed_code`): the store sees a code
//! first when it is spent, by its hash, with what the token endpoint opened from it.

use std::sync::Arc;

use mcp_auth::model::Redemption;

use crate::fixtures::{Fixture, add_client, add_user};

#[tokio::test]
async fn a_code_is_spent_once_then_reported_as_replayed_with_its_grant() {
    let fx = Fixture::new().await;

    // Spent before any grant exists (a failed PKCE check, say): a replay has nothing to revoke.
    let (burnt, binding) = fx.code().await;
    assert_eq!(fx.spend(&burnt, &binding).await, Redemption::Redeemed, "the first presentation spends it");
    assert_eq!(fx.spend(&burnt, &binding).await, Redemption::AlreadyRedeemed { grant_id: None });
    assert!(fx.redeem_into_grant(&burnt, &binding, 3600).await.is_none(), "a burnt code is never redeemed");

    let issued = fx.grant(3600).await;
    let (_, binding) = fx.code().await;
    assert_eq!(
        fx.spend(&issued.code_hash, &binding).await,
        Redemption::AlreadyRedeemed { grant_id: Some(issued.grant.id.clone()) },
        "the replay finds the grant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_spendings_of_one_code_exactly_one_wins() {
    let fx = Arc::new(Fixture::new().await);
    for _ in 0..10 {
        let (code_hash, binding) = fx.code().await;
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (fx, code_hash, binding) = (fx.clone(), code_hash.clone(), binding.clone());
                tokio::spawn(async move { fx.spend(&code_hash, &binding).await })
            })
            .collect();
        let mut winners = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Redemption::Redeemed => winners += 1,
                Redemption::AlreadyRedeemed { grant_id: None } => {}
                other => panic!("a code spent without a grant, then {other:?}"),
            }
        }
        assert_eq!(winners, 1, "exactly one of eight concurrent spendings wins");
    }
}

/// The token endpoint's common case: a code spent with its grant, tokens and event in one commit.
/// Afterwards it is spent like any other, and a replay finds its grant.
#[tokio::test]
async fn a_code_redeemed_into_its_grant_in_one_commit_is_spent_and_a_replay_finds_the_grant() {
    let fx = Fixture::new().await;
    let (code_hash, binding) = fx.code().await;
    let before = fx.store.row_counts().await.unwrap();
    let issued = fx.redeem_into_grant(&code_hash, &binding, 3600).await.expect("a fresh code is redeemed");
    let after = fx.store.row_counts().await.unwrap();
    assert_eq!(after.authorization_codes, before.authorization_codes + 1, "the spent code is recorded");
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
    assert!(fx.redeem_into_grant(&code_hash, &binding, 3600).await.is_none());
    assert_eq!(fx.store.row_counts().await.unwrap(), counts, "a second redemption writes nothing");
    assert_eq!(
        fx.spend(&code_hash, &binding).await,
        Redemption::AlreadyRedeemed { grant_id: Some(issued.grant.id) }
    );
    let grant = fx.store.find_grant(&grant.id).await.unwrap().unwrap();
    assert!(grant.revoked_at.is_none(), "the store reports the replay; revoking is the caller's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_redemptions_into_grants_exactly_one_wins_and_only_it_writes() {
    let fx = Arc::new(Fixture::new().await);
    let before = fx.store.row_counts().await.unwrap();
    for _ in 0..10 {
        let (code_hash, binding) = fx.code().await;
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let (fx, code_hash, binding) = (fx.clone(), code_hash.clone(), binding.clone());
                // Half redeem, half present the code with a failing request (which burns it):
                // whichever comes first decides, and a burnt code yields no grant.
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        fx.redeem_into_grant(&code_hash, &binding, 3600).await.is_some()
                    } else {
                        fx.spend(&code_hash, &binding).await == Redemption::Redeemed
                    }
                })
            })
            .collect();
        let mut winners = 0;
        for attempt in attempts {
            winners += usize::from(attempt.await.unwrap());
        }
        assert_eq!(winners, 1, "exactly one of eight concurrent presentations spends the code");
    }
    let after = fx.store.row_counts().await.unwrap();
    assert_eq!(after.authorization_codes - before.authorization_codes, 10, "one row per code");
    let grants = after.grants - before.grants;
    assert!(grants <= 10, "at most one grant per code");
    assert_eq!(
        (after.access_tokens - before.access_tokens, after.refresh_tokens - before.refresh_tokens),
        (grants, grants),
        "each grant with its tokens, nothing else"
    );
}

/// A code outlives neither its user nor its client: the foreign keys would refuse its row, so
/// the store writes nothing and reports the code unknown rather than failing.
#[tokio::test]
async fn a_code_whose_user_or_client_is_gone_is_unknown_and_writes_nothing() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let other = add_client(&fx.store, fx.now()).await;
    let (bobs, mut bobs_binding) = fx.code().await;
    bobs_binding.user_id = bob.id.clone();
    let (others, mut others_binding) = fx.code().await;
    others_binding.client_id = other.client_id.clone();
    assert!(fx.store.delete_user("bob").await.unwrap());
    assert!(fx.store.delete_client(&other.client_id).await.unwrap());

    let counts = fx.store.row_counts().await.unwrap();
    for (code_hash, binding) in [(&bobs, &bobs_binding), (&others, &others_binding)] {
        assert!(fx.redeem_into_grant(code_hash, binding, 3600).await.is_none());
        assert_eq!(fx.spend(code_hash, binding).await, Redemption::Unknown);
    }
    assert_eq!(fx.store.row_counts().await.unwrap(), counts, "nothing written");
}
