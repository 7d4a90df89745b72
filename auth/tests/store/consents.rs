//! Consents are remembered per user, client and resource, widened by later consents (also
//! concurrent ones), and withdrawn.

use std::sync::Arc;

use mcp_auth::model::{AuditEvent, AuditKind, Consent};
use protocol::scope::Scopes;

use crate::fixtures::{Fixture, RESOURCE};

fn consent(fx: &Fixture, resource: &str, scope: &str) -> Consent {
    Consent {
        user_id: fx.user.id.clone(),
        client_id: fx.client.client_id.clone(),
        resource: resource.into(),
        scope: scope.into(),
        granted_at: fx.now(),
    }
}

/// The event of the person's decision, saved with the consent.
fn granted() -> AuditEvent {
    AuditEvent::new(AuditKind::ConsentGranted).detail("the consent page")
}

#[tokio::test]
async fn a_consent_is_saved_widened_by_later_ones_and_withdrawn() {
    let fx = Fixture::new().await;
    let find = || fx.store.find_consent(&fx.user.id, &fx.client.client_id, RESOURCE);
    assert!(find().await.unwrap().is_none());

    let saved = fx.store.save_consent(&consent(&fx, RESOURCE, "echo"), &granted()).await.unwrap();
    assert_eq!(saved.scope, "echo");
    assert_eq!(find().await.unwrap(), Some(saved));

    fx.clock.advance(10);
    let widened = fx.store.save_consent(&consent(&fx, RESOURCE, "profile"), &granted()).await.unwrap();
    assert_eq!(widened.scope, "echo profile", "a later consent adds to the earlier one");
    assert_eq!(widened.granted_at, fx.now());
    assert_eq!(find().await.unwrap(), Some(widened.clone()));
    let narrower = fx.store.save_consent(&consent(&fx, RESOURCE, "echo"), &granted()).await.unwrap();
    assert_eq!(narrower.scope, "echo profile", "asking for less forgets nothing");

    // Another resource is another consent.
    fx.store.save_consent(&consent(&fx, "https://other.example/", "files"), &granted()).await.unwrap();
    assert_eq!(fx.store.consents_of_user(&fx.user.id).await.unwrap().len(), 2);

    assert!(fx.store.revoke_consent(&fx.user.id, &fx.client.client_id, fx.now()).await.unwrap());
    assert!(find().await.unwrap().is_none());
    assert!(fx.store.consents_of_user(&fx.user.id).await.unwrap().is_empty(), "withdrawn for every resource");
    assert!(!fx.store.revoke_consent(&fx.user.id, &fx.client.client_id, fx.now()).await.unwrap());
}

#[tokio::test]
async fn a_consent_with_an_invalid_scope_is_refused() {
    let fx = Fixture::new().await;
    assert!(fx.store.save_consent(&consent(&fx, RESOURCE, "echo \"quoted\""), &granted()).await.is_err());
    assert!(fx.store.find_consent(&fx.user.id, &fx.client.client_id, RESOURCE).await.unwrap().is_none());
    let events = fx.store.audit_events(100).await.unwrap();
    assert!(!events.iter().any(|e| e.kind == "consent_granted"), "no event for a consent not saved");
}

/// The person's decision is recorded in the consent's commit: each saved consent has exactly
/// its one event.
#[tokio::test]
async fn a_consent_is_saved_with_its_event() {
    let fx = Fixture::new().await;
    fx.store.save_consent(&consent(&fx, RESOURCE, "echo"), &granted()).await.unwrap();
    fx.store.save_consent(&consent(&fx, RESOURCE, "profile"), &granted()).await.unwrap();
    let events = fx.store.audit_events(100).await.unwrap();
    let granted: Vec<_> = events.iter().filter(|e| e.kind == "consent_granted").collect();
    assert_eq!(granted.len(), 2, "{events:?}");
    assert!(granted.iter().all(|e| e.detail.as_deref() == Some("the consent page") && e.at == fx.now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consents_for_different_scopes_are_all_kept() {
    let fx = Arc::new(Fixture::new().await);
    let scopes: Vec<String> = (0..8).map(|i| format!("scope-{i}")).collect();
    let saves: Vec<_> = scopes
        .iter()
        .map(|scope| {
            let (fx, scope) = (fx.clone(), scope.clone());
            tokio::spawn(async move {
                fx.store.save_consent(&consent(&fx, RESOURCE, &scope), &granted()).await.unwrap()
            })
        })
        .collect();
    for save in saves {
        save.await.unwrap();
    }
    let stored = fx.store.find_consent(&fx.user.id, &fx.client.client_id, RESOURCE).await.unwrap().unwrap();
    assert_eq!(
        Scopes::parse(&stored.scope).unwrap(),
        Scopes::from_tokens(&scopes).unwrap(),
        "no consent lost"
    );
}
