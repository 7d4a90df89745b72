//! The sweep removes what has expired and nothing that a live grant, token, code, request or
//! session still needs; one run deletes at most its bound per table; the server runs it in the
//! background and stops it at shutdown.

use std::time::Duration;

use mcp_auth::config::{Settings, SweepSettings};
use mcp_auth::model::{AuditEvent, AuditKind, Redemption};
use mcp_auth::startup::Application;
use mcp_auth::store::TableCounts;
use mcp_auth::store::sweep::Sweeper;

use crate::fixtures::Fixture;

const DAY: i64 = 24 * 3600;
const RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

fn counts(
    codes: u64,
    requests: u64,
    sessions: u64,
    refresh: u64,
    access: u64,
    grants: u64,
    audit: u64,
) -> TableCounts {
    TableCounts {
        authorization_codes: codes,
        authorization_requests: requests,
        browser_sessions: sessions,
        refresh_tokens: refresh,
        access_tokens: access,
        grants,
        audit_events: audit,
        ..TableCounts::default()
    }
}

#[tokio::test]
async fn a_sweep_removes_every_kind_of_expired_row_and_keeps_what_is_still_needed() {
    let fx = Fixture::new().await;
    let store = &fx.store;

    // Two audit events 91 days old (past the retention): the fixture's client's registration and
    // a sign-in; and one from today.
    store.record_audit(&AuditEvent::new(AuditKind::LoginSucceeded), fx.now()).await.unwrap();
    fx.clock.advance(91 * DAY);
    store.record_audit(&AuditEvent::new(AuditKind::LoginSucceeded), fx.now()).await.unwrap();

    // Sessions, requests and codes burnt (spent without a grant): one expiring in a minute, one
    // in an hour.
    let _expiring_session = fx.session(60).await;
    let session = fx.session(3600).await;
    let _expiring_request = fx.request(&session, 60).await;
    let request = fx.request(&session, 3600).await;
    for lifetime in [60, 3600] {
        let (code_hash, binding) = fx.code_living(lifetime).await;
        fx.spend(&code_hash, &binding).await;
    }

    // A live grant. Its first two refresh tokens are spent and stay while the grant lives
    // (presenting one again is reuse); the third was never used and expires in a minute. Access
    // tokens: two of 5 minutes, one of an hour. Its code stays while the grant lives (a replay
    // revokes the grant).
    let live = fx.grant(30 * DAY).await;
    let (second, access) = fx.rotate_with(&live.grant, &live.refresh, 30 * DAY, 3600).await.unwrap();
    fx.rotate_with(&live.grant, &second, 60, 300).await.unwrap();

    // A revoked grant with an access token of an hour, which keeps the grant until it expires.
    let revoked = fx.grant(30 * DAY).await;
    fx.rotate_with(&revoked.grant, &revoked.refresh, 30 * DAY, 3600).await.unwrap();
    store.revoke_grant(&revoked.grant.id, "test", fx.now()).await.unwrap();

    // A grant that expires in two minutes: everything of it goes in one run.
    let _expired = fx.grant(120).await;

    // Audit: the three events, and one for each of the three grants and the three rotations,
    // each written with what it records.
    assert_eq!(store.row_counts().await.unwrap(), counts(5, 2, 2, 6, 6, 3, 9));

    fx.clock.advance(600);
    let removed = store.sweep(fx.now(), RETENTION, 1000).await.unwrap();
    assert_eq!(removed, counts(3, 1, 1, 4, 4, 1, 2), "what has expired and nothing else");
    assert_eq!(store.row_counts().await.unwrap(), counts(2, 1, 1, 2, 2, 2, 7));

    assert!(store.find_session(&session.id_hash, fx.now()).await.unwrap().is_some());
    assert!(
        store.find_authorization_request(&request.id, &session.id_hash, fx.now()).await.unwrap().is_some()
    );
    let (spent, grant) = store.find_refresh_token(&live.refresh.token_hash).await.unwrap().unwrap();
    assert!(
        spent.used_at.is_some() && grant.is_live(fx.now()),
        "a spent token of a live grant is still known"
    );
    assert!(store.find_access_token(&access.jti).await.unwrap().is_some());
    assert!(
        store.find_grant(&revoked.grant.id).await.unwrap().is_some(),
        "an access token still refers to it"
    );

    // An hour later the revoked grant's last token has expired, and the grant goes with it.
    fx.clock.advance(3600);
    let removed = store.sweep(fx.now(), RETENTION, 1000).await.unwrap();
    assert_eq!(removed, counts(1, 1, 1, 0, 2, 1, 0));
    assert_eq!(store.row_counts().await.unwrap(), counts(1, 0, 0, 2, 0, 1, 7));
    let (_, binding) = fx.code().await;
    assert_eq!(
        fx.spend(&live.code_hash, &binding).await,
        Redemption::AlreadyRedeemed { grant_id: Some(live.grant.id.clone()) },
        "a replayed code of a live grant must still find the grant"
    );

    // Once the live grant has expired, everything of it goes; the audit events younger than the
    // retention (today's, the grants' and the rotations') stay.
    fx.clock.advance(30 * DAY);
    let removed = store.sweep(fx.now(), RETENTION, 1000).await.unwrap();
    assert_eq!(removed, counts(1, 0, 0, 2, 0, 1, 0));
    assert_eq!(store.row_counts().await.unwrap(), counts(0, 0, 0, 0, 0, 0, 7));
}

#[tokio::test]
async fn a_sweep_deletes_at_most_its_bound_per_table_and_leaves_the_rest_for_the_next() {
    let fx = Fixture::new().await;
    for _ in 0..5 {
        let session = fx.session(60).await;
        fx.request(&session, 60).await;
        let (code_hash, binding) = fx.code().await;
        fx.spend(&code_hash, &binding).await;
        fx.store.record_audit(&AuditEvent::new(AuditKind::LoginFailed), fx.now()).await.unwrap();
    }
    fx.clock.advance(91 * DAY);

    // Six audit events: the client's registration and the five failures.
    for (expected, audit) in [(2, 2), (2, 2), (1, 2), (0, 0)] {
        let removed = fx.store.sweep(fx.now(), RETENTION, 2).await.unwrap();
        assert_eq!(removed, counts(expected, expected, expected, 0, 0, 0, audit));
    }
    assert_eq!(fx.store.row_counts().await.unwrap(), TableCounts::default());
}

#[tokio::test]
async fn the_sweeper_runs_periodically_until_stopped() {
    let fx = Fixture::new().await;
    fx.session(60).await;
    fx.clock.advance(61);
    let settings = SweepSettings { interval: Duration::from_millis(20), ..SweepSettings::default() };
    let sweeper = Sweeper::start(fx.store.clone(), std::sync::Arc::new(fx.clock.clone()), settings);

    let mut waited = Duration::ZERO;
    while fx.store.row_counts().await.unwrap().browser_sessions > 0 {
        assert!(waited < Duration::from_secs(10), "the sweeper never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    sweeper.stop().await;

    // Stopped: an expired row stays.
    fx.session(60).await;
    fx.clock.advance(61);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fx.store.row_counts().await.unwrap().browser_sessions, 1);
}

#[tokio::test]
async fn the_server_refuses_an_audit_retention_shorter_than_the_throttle_window() {
    let mut settings = Settings::for_tests("http://127.0.0.1:9090");
    settings.sweep.audit_retention = Duration::from_secs(60);
    let error = Application::build(settings).await.err().expect("the server refuses to start");
    assert!(error.to_string().contains("audit events must be kept"), "{error}");
}
