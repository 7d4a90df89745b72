//! Signing keys: a rotation publishes the new key before it signs and retires every other, and no
//! key signs a token that outlives its publication.

use std::time::Duration;

use mcp_auth::store::Store;
use mcp_auth::tokens::{self, KeyRing};
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

#[tokio::test]
async fn a_rotation_publishes_the_new_key_at_once_signs_with_it_after_the_delay_and_retires_the_old() {
    let fx = Fixture::new().await;
    let ring = KeyRing::load_or_create(&fx.store, fx.now()).await.unwrap();
    let old = fx.store.signing_keys().await.unwrap().remove(0);
    let new = tokens::rotate(&fx.store, fx.now(), PUBLISH_DELAY, KEEP_OLD_FOR).await.unwrap();
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
