//! Clients: a registration and its audit event share one commit.

use mcp_auth::model::{AuditEvent, AuditKind, StoredAuditEvent};

use crate::fixtures::Fixture;

/// A client registered has its event on the trail, and a registration refused (the id is taken)
/// leaves no event claiming it happened.
#[tokio::test]
async fn a_client_and_its_registration_event_are_written_together_or_not_at_all() {
    let fx = Fixture::new().await;
    let registered = |events: &[StoredAuditEvent]| {
        events.iter().filter(|e| e.kind == "client_registered").map(|e| e.detail.clone()).collect::<Vec<_>>()
    };
    let events = fx.store.audit_events(100).await.unwrap();
    assert_eq!(registered(&events).len(), 1, "the fixture's client: {events:?}");

    let mut other = fx.client.clone();
    other.client_id = "another-client".into();
    let event = AuditEvent::new(AuditKind::ClientRegistered).client(&other.client_id).detail("the second");
    fx.store.insert_client(&other, &event, fx.now()).await.unwrap();
    assert!(fx.store.find_client("another-client").await.unwrap().is_some());
    let events = fx.store.audit_events(100).await.unwrap();
    assert_eq!(registered(&events)[0].as_deref(), Some("the second"), "newest first: {events:?}");

    // The same id again: refused, and its event with it.
    let event = AuditEvent::new(AuditKind::ClientRegistered).client(&other.client_id).detail("the duplicate");
    assert!(fx.store.insert_client(&other, &event, fx.now()).await.is_err());
    let events = fx.store.audit_events(100).await.unwrap();
    assert_eq!(registered(&events).len(), 2, "no event for the client that was not stored: {events:?}");
}
