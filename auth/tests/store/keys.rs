//! Signing keys: one first key however many servers start at once; a rotation publishes the new key
//! before it signs and retires every other; and whatever the order and clocks of concurrent
//! rotations, exactly one key stays current and no key signs a token that outlives its publication.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth::keyring::{self, KeyRing};
use mcp_auth::store::Store;
use protocol::jwt::AccessTokenClaims;

use crate::fixtures::Fixture;

/// The access token lifetime the rotations below are made for.
const TOKEN_TTL: i64 = 300;
const PUBLISH_DELAY: Duration = Duration::from_secs(60);
/// What `mcp-auth keys rotate` keeps old keys for: the token lifetime and a minute.
const KEEP_OLD_FOR: Duration = Duration::from_secs(TOKEN_TTL as u64 + 60);

fn claims(now: i64) -> AccessTokenClaims {
    serde_json::from_value(serde_json::json!({
        "iss": "https://as.example", "aud": "https://mcp.example/", "sub": "alice", "client_id": "c",
        "iat": now, "exp": now + TOKEN_TTL, "jti": "j",
    }))
    .unwrap()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Exactly one key is current, it is the last added, and at every instant where the answer can
/// change, the key that signs stays published until the token it signs has expired.
async fn assert_rotations_are_sound(store: &Store, ring: &KeyRing) {
    ring.reload().await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    let current: Vec<_> = keys.iter().filter(|k| k.retires_at.is_none()).collect();
    assert_eq!(current.len(), 1, "exactly one key is current: {keys:?}");
    assert_eq!(keys[0].kid, current[0].kid, "the current key is listed first: {keys:?}");

    let first_active = keys.iter().map(|k| k.activates_at).min().unwrap();
    let mut instants: Vec<i64> = keys
        .iter()
        .flat_map(|k| {
            let mut at = vec![k.activates_at - 1, k.activates_at];
            if let Some(r) = k.retires_at {
                at.extend([r - TOKEN_TTL - 1, r - TOKEN_TTL, r - 1, r]);
            }
            at
        })
        .filter(|t| *t >= first_active)
        .collect();
    instants.sort_unstable();
    instants.dedup();
    for t in instants {
        let token = ring.sign(&claims(t), t).unwrap_or_else(|e| panic!("a key signs at {t}: {e}"));
        let signer = kid(token.secret());
        assert!(
            ring.jwks(t + TOKEN_TTL - 1).find(&signer).is_some(),
            "key {signer} signs at {t} but is unpublished before that token expires: {keys:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_starting_together_on_a_fresh_database_store_one_first_key() {
    let fx = Arc::new(Fixture::new().await);
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let fx = fx.clone();
            tokio::spawn(async move { KeyRing::load_or_create(&fx.store, fx.now()).await.unwrap() })
        })
        .collect();
    let mut rings = Vec::new();
    for start in starts {
        rings.push(start.await.unwrap());
    }
    let keys = fx.store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "one first key between all of them: {keys:?}");
    for ring in rings {
        assert_eq!(kid(ring.sign(&claims(fx.now()), fx.now()).unwrap().secret()), keys[0].kid);
    }
}

#[tokio::test]
async fn a_rotation_publishes_the_new_key_at_once_signs_with_it_after_the_delay_and_retires_the_old() {
    let fx = Fixture::new().await;
    let ring = KeyRing::load_or_create(&fx.store, fx.now()).await.unwrap();
    let old = fx.store.signing_keys().await.unwrap().remove(0);
    let new = keyring::rotate(&fx.store, fx.now(), PUBLISH_DELAY, KEEP_OLD_FOR).await.unwrap();
    ring.reload().await.unwrap();

    let keys = fx.store.signing_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), [new.kid.as_str(), old.kid.as_str()]);
    let activates = fx.now() + 60;
    assert_eq!(keys[1].retires_at, Some(activates + KEEP_OLD_FOR.as_secs() as i64));
    assert!(ring.jwks(fx.now()).find(&new.kid).is_some(), "published at once");
    assert_eq!(kid(ring.sign(&claims(activates - 1), activates - 1).unwrap().secret()), old.kid);
    assert_eq!(kid(ring.sign(&claims(activates), activates).unwrap().secret()), new.kid);
    assert_rotations_are_sound(&fx.store, &ring).await;
}

/// Two rotations a second apart (two machines, or one started just before a second boundary),
/// the later-stamped one committed first. Listed by activation time, the key that the second
/// rotation had retired sorted first and signed until its retirement.
#[tokio::test]
async fn rotations_committed_out_of_clock_order_leave_the_last_added_key_signing() {
    let fx = Fixture::new().await;
    let ring = KeyRing::load_or_create(&fx.store, fx.now()).await.unwrap();
    let later = keyring::rotate(&fx.store, fx.now() + 1, PUBLISH_DELAY, KEEP_OLD_FOR).await.unwrap();
    let earlier = keyring::rotate(&fx.store, fx.now(), PUBLISH_DELAY, KEEP_OLD_FOR).await.unwrap();
    ring.reload().await.unwrap();

    assert_eq!(fx.store.signing_keys().await.unwrap()[0].kid, earlier.kid);
    let t = later.activates_at + 10;
    assert_eq!(kid(ring.sign(&claims(t), t).unwrap().secret()), earlier.kid, "the retired key does not sign");
    assert_rotations_are_sound(&fx.store, &ring).await;
}

/// A rotation with no delay after one still waiting to activate (an emergency): the new key signs
/// at once and the pending one never does.
#[tokio::test]
async fn an_immediate_rotation_supersedes_a_pending_one() {
    let fx = Fixture::new().await;
    let ring = KeyRing::load_or_create(&fx.store, fx.now()).await.unwrap();
    let pending =
        keyring::rotate(&fx.store, fx.now(), Duration::from_secs(3600), KEEP_OLD_FOR).await.unwrap();
    let urgent = keyring::rotate(&fx.store, fx.now(), Duration::ZERO, KEEP_OLD_FOR).await.unwrap();
    ring.reload().await.unwrap();

    assert_eq!(kid(ring.sign(&claims(fx.now()), fx.now()).unwrap().secret()), urgent.kid);
    let t = pending.activates_at + 1;
    assert_eq!(kid(ring.sign(&claims(t), t).unwrap().secret()), urgent.kid);
    assert_rotations_are_sound(&fx.store, &ring).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_leave_exactly_one_current_key_and_no_late_signer() {
    let fx = Arc::new(Fixture::new().await);
    let ring = KeyRing::load_or_create(&fx.store, fx.now()).await.unwrap();
    for round in 0..5 {
        let rotations: Vec<_> = (0..4)
            .map(|i| {
                let fx = fx.clone();
                // Clocks a second apart, in both orders across rounds.
                let now = fx.now() + (i + round) % 2;
                tokio::spawn(async move {
                    keyring::rotate(&fx.store, now, PUBLISH_DELAY, KEEP_OLD_FOR).await.unwrap()
                })
            })
            .collect();
        for rotation in rotations {
            rotation.await.unwrap();
        }
        assert_rotations_are_sound(&fx.store, &ring).await;
        fx.clock.advance(30);
    }
}

/// The secret that seals authorization codes: stored by whichever server starts first, and the
/// same for every server on the database, or a code sealed by one replica would not open on
/// another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_code_sealing_secret_is_stored_once_and_every_server_gets_that_one() {
    let fx = Arc::new(Fixture::new().await);
    let starts: Vec<_> = (0..8u8)
        .map(|i| {
            let fx = fx.clone();
            tokio::spawn(async move {
                let candidate = [i; 32];
                fx.store.sealing_secret(mcp_auth::store::CODE_SEALING, &candidate, fx.now()).await.unwrap()
            })
        })
        .collect();
    let mut secrets = Vec::new();
    for start in starts {
        secrets.push(start.await.unwrap());
    }
    let first = secrets[0].clone();
    assert!(secrets.iter().all(|s| *s == first), "every server got the same secret");
    assert!((0..8u8).any(|i| first == [i; 32]), "and it is one of the candidates");
    let later = fx.store.sealing_secret(mcp_auth::store::CODE_SEALING, &[9; 32], fx.now()).await.unwrap();
    assert_eq!(later, first, "a server starting later gets it too");
}
