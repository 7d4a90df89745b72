//! The login throttle's counts: failed sign-ins per username key and per address, within a window,
//! with the oldest counted failure (which says when the limit lifts).

use mcp_auth::model::{AuditEvent, AuditKind};

use crate::fixtures::Fixture;

fn event(kind: AuditKind, username_key: &str, ip: &str) -> AuditEvent {
    let mut event = AuditEvent::new(kind);
    event.username_key = Some(username_key.into());
    event.ip = Some(ip.into());
    event
}

#[tokio::test]
async fn failed_logins_are_counted_per_username_key_and_per_address_within_the_window() {
    let fx = Fixture::new().await;
    let start = fx.now();
    for offset in [0, 10, 20] {
        fx.store
            .record_audit(&event(AuditKind::LoginFailed, "key-alice", "192.0.2.1"), start + offset)
            .await
            .unwrap();
    }
    fx.store.record_audit(&event(AuditKind::LoginFailed, "key-bob", "192.0.2.1"), start + 30).await.unwrap();
    fx.store
        .record_audit(&event(AuditKind::LoginFailed, "key-alice", "192.0.2.2"), start + 40)
        .await
        .unwrap();
    // Neither a success nor a throttled attempt counts as a failure.
    fx.store
        .record_audit(&event(AuditKind::LoginSucceeded, "key-alice", "192.0.2.1"), start + 50)
        .await
        .unwrap();
    fx.store
        .record_audit(&event(AuditKind::LoginThrottled, "key-alice", "192.0.2.1"), start + 60)
        .await
        .unwrap();

    let by_name = |since| fx.store.failed_logins_for_username("key-alice", since);
    let by_ip = |since| fx.store.failed_logins_from_ip("192.0.2.1", since);
    assert_eq!(by_name(start - 1).await.unwrap(), (4, Some(start)));
    assert_eq!(by_ip(start - 1).await.unwrap(), (4, Some(start)));
    // The window is "after `since`": a failure exactly at `since` has left it.
    assert_eq!(by_name(start).await.unwrap(), (3, Some(start + 10)));
    assert_eq!(by_ip(start + 10).await.unwrap(), (2, Some(start + 20)));
    assert_eq!(by_name(start + 40).await.unwrap(), (0, None));
    assert_eq!(fx.store.failed_logins_for_username("key-carol", start - 1).await.unwrap(), (0, None));
    assert_eq!(fx.store.failed_logins_from_ip("198.51.100.7", start - 1).await.unwrap(), (0, None));
}
