//! Groups, client assertion `jti`s, and out-of-band approvals: a request is decided once, by its
//! user only, and its token collected once; polling too soon slows the poller down; a standing
//! approval covers exactly what it names until it expires, is withdrawn, or the password changes;
//! the sweep removes what has expired.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth::model::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, CodeBinding, Decided, Grant,
    IssuedAccessToken, Opening, Poll, StandingApproval, User,
};
use mcp_auth::store::{StandingKey, TableCounts};
use protocol::jwt::AccessTokenClaims;
use serde_json::json;

use crate::fixtures::{Fixture, REDIRECT_URI, RESOURCE, access_token, add_client, add_user, unique};

const DAY: i64 = 24 * 3600;
const RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// The upstream the approved tool calls go to.
const UPSTREAM: &str = "https://upstream.example/mcp";
/// The interval a new request asks its poller to keep.
const POLL_INTERVAL: i64 = 5;

/// A grant of `user` for the fixture's client, living 30 days with its access token (an approval
/// request hangs under the grant of the token the client acts on).
async fn grant_of(fx: &Fixture, user: &User) -> Grant {
    let now = fx.now();
    let code_hash = unique("code");
    let binding = CodeBinding {
        client_id: fx.client.client_id.clone(),
        user_id: user.id.clone(),
        redirect_uri: REDIRECT_URI.into(),
        scope: "echo".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        resource: RESOURCE.into(),
        auth_time: now,
        expires_at: now + 60,
    };
    let grant = Grant {
        id: unique("grant"),
        client_id: fx.client.client_id.clone(),
        user_id: user.id.clone(),
        scope: "echo".into(),
        resource: RESOURCE.into(),
        auth_time: now,
        expires_at: now + 30 * DAY,
        revoked_at: None,
    };
    let access = access_token(&grant.id, now, 30 * DAY);
    let event = AuditEvent::new(AuditKind::TokenIssued).grant(&grant.id);
    assert!(
        fx.store
            .redeem_code_into_grant(&code_hash, &binding, &grant, &access, None, &event, now)
            .await
            .unwrap()
    );
    grant
}

/// The claims of the token the client acts on, with an actor chain and groups so that a lossy
/// round trip shows.
fn subject(fx: &Fixture, grant: &Grant) -> AccessTokenClaims {
    let now = fx.now();
    serde_json::from_value(json!({
        "iss": "https://auth.example/",
        "aud": UPSTREAM,
        "sub": grant.user_id,
        "client_id": grant.client_id,
        "iat": now,
        "exp": now + 300,
        "jti": unique("jti"),
        "scope": "echo",
        "auth_time": now - 10,
        "act": { "sub": "gateway", "client_id": fx.client.client_id, "act": { "sub": "agent" } },
        "groups": ["admins", "ops"],
    }))
    .unwrap()
}

/// A pending request to `grant`'s user, living `lifetime` seconds (not stored).
fn request(fx: &Fixture, grant: &Grant, lifetime: i64) -> ApprovalRequest {
    let now = fx.now();
    ApprovalRequest {
        id: unique("approval"),
        auth_req_hash: unique("auth-req"),
        client_id: fx.client.client_id.clone(),
        user_id: grant.user_id.clone(),
        grant_id: grant.id.clone(),
        subject: subject(fx, grant),
        resource: UPSTREAM.into(),
        scope: "tools:call".into(),
        tool: "write_file".into(),
        arguments_sha256: unique("args"),
        arguments_summary: None,
        binding_message: None,
        always_ask: false,
        approval_max_age: None,
        status: ApprovalStatus::Pending,
        poll_interval: POLL_INTERVAL,
        last_polled_at: None,
        created_at: now,
        expires_at: now + lifetime,
        decided_at: None,
    }
}

/// A stored pending request to `grant`'s user, living `lifetime` seconds.
async fn ask(fx: &Fixture, grant: &Grant, lifetime: i64) -> ApprovalRequest {
    let request = request(fx, grant, lifetime);
    fx.store.insert_approval(&request).await.unwrap();
    request
}

/// The application the person uses, on whose behalf the fixture's client (a gateway) calls.
const APP: &str = "the-app";

/// A standing approval of `user` for the fixture's client and the upstream, living `lifetime`
/// seconds (not stored).
fn standing(
    fx: &Fixture,
    user: &User,
    tool: &str,
    arguments_sha256: Option<&str>,
    lifetime: i64,
) -> StandingApproval {
    StandingApproval {
        id: unique("standing"),
        user_id: user.id.clone(),
        client_id: fx.client.client_id.clone(),
        subject_client_id: APP.into(),
        resource: UPSTREAM.into(),
        tool: tool.into(),
        arguments_sha256: arguments_sha256.map(str::to_owned),
        created_at: fx.now(),
        expires_at: fx.now() + lifetime,
    }
}

fn approve_and_remember(standing: &StandingApproval) -> ApprovalDecision {
    ApprovalDecision::Approve { remember: Some(standing.clone()) }
}

const APPROVE: ApprovalDecision = ApprovalDecision::Approve { remember: None };

/// Stores `standing` the one way there is: its user approves a request under `grant` and asks to
/// remember.
async fn remember(fx: &Fixture, grant: &Grant, standing: &StandingApproval) {
    let request = ask(fx, grant, 3600).await;
    let decided = fx
        .store
        .decide_approval(&request.id, &standing.user_id, &approve_and_remember(standing), fx.now())
        .await
        .unwrap();
    assert!(matches!(decided, Decided::Recorded(_)), "{decided:?}");
}

/// What `standing` is looked up by, for a call with these arguments.
fn key<'a>(standing: &'a StandingApproval, arguments_sha256: &'a str) -> StandingKey<'a> {
    StandingKey {
        user_id: &standing.user_id,
        client_id: &standing.client_id,
        subject_client_id: &standing.subject_client_id,
        resource: &standing.resource,
        tool: &standing.tool,
        arguments_sha256,
        approved_since: i64::MIN,
    }
}

// Groups.

#[tokio::test]
async fn groups_are_added_once_removed_and_listed_sorted_per_user() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert!(fx.store.groups_of_user(&fx.user.id).await.unwrap().is_empty());

    let now = fx.store.change_user_groups(&fx.user.id, &names(&["ops", "admins"]), &[]).await.unwrap();
    assert_eq!(now, names(&["admins", "ops"]), "returned sorted");
    let now = fx.store.change_user_groups(&fx.user.id, &names(&["ops", "devs", "ops"]), &[]).await.unwrap();
    assert_eq!(now, names(&["admins", "devs", "ops"]), "adding a group twice is not an error and keeps one");
    assert_eq!(fx.store.groups_of_user(&fx.user.id).await.unwrap(), now);

    let now = fx
        .store
        .change_user_groups(&fx.user.id, &names(&["zeta"]), &names(&["ops", "unknown"]))
        .await
        .unwrap();
    assert_eq!(now, names(&["admins", "devs", "zeta"]), "removing one the user is not in is no error");
    // Added, then removed, in that order.
    let now = fx.store.change_user_groups(&fx.user.id, &names(&["temp"]), &names(&["temp"])).await.unwrap();
    assert_eq!(now, names(&["admins", "devs", "zeta"]));

    assert!(fx.store.groups_of_user(&bob.id).await.unwrap().is_empty(), "groups are per user");
    fx.store.change_user_groups(&bob.id, &names(&["admins"]), &[]).await.unwrap();
    fx.store.change_user_groups(&bob.id, &[], &names(&["admins"])).await.unwrap();
    assert_eq!(
        fx.store.groups_of_user(&fx.user.id).await.unwrap(),
        names(&["admins", "devs", "zeta"]),
        "removing bob from a group leaves alice in it"
    );
}

#[tokio::test]
async fn deleting_a_user_deletes_their_groups_only() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let admins = vec!["admins".to_string()];
    fx.store.change_user_groups(&fx.user.id, &admins, &[]).await.unwrap();
    fx.store.change_user_groups(&bob.id, &admins, &[]).await.unwrap();

    assert!(fx.store.delete_user("bob").await.unwrap());
    assert!(fx.store.groups_of_user(&bob.id).await.unwrap().is_empty());
    assert_eq!(fx.store.groups_of_user(&fx.user.id).await.unwrap(), admins);
    // A new user under the old name starts with no groups.
    let again = add_user(&fx.store, "bob", fx.now()).await;
    assert!(fx.store.groups_of_user(&again.id).await.unwrap().is_empty());
}

// Client assertions.

#[tokio::test]
async fn a_client_assertion_jti_is_accepted_once_per_client() {
    let fx = Fixture::new().await;
    let other = add_client(&fx.store, fx.now()).await;
    let jti = unique("assertion");
    let expires_at = fx.now() + 60;

    assert!(fx.store.record_client_assertion(&fx.client.client_id, &jti, expires_at).await.unwrap());
    assert!(
        !fx.store.record_client_assertion(&fx.client.client_id, &jti, expires_at).await.unwrap(),
        "a second use is a replay"
    );
    assert!(
        !fx.store.record_client_assertion(&fx.client.client_id, &jti, expires_at + 600).await.unwrap(),
        "a replay claiming a later expiry is still a replay"
    );
    assert!(
        fx.store.record_client_assertion(&other.client_id, &jti, expires_at).await.unwrap(),
        "another client's jti is its own"
    );
    assert!(!fx.store.record_client_assertion(&other.client_id, &jti, expires_at).await.unwrap());
    assert!(
        fx.store
            .record_client_assertion(&fx.client.client_id, &unique("assertion"), expires_at)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_uses_of_one_assertion_jti_exactly_one_is_accepted() {
    let fx = Fixture::new().await;
    for _ in 0..10 {
        let jti = unique("assertion");
        let uses =
            (0..8).map(|_| fx.store.record_client_assertion(&fx.client.client_id, &jti, fx.now() + 60));
        let accepted =
            futures::future::join_all(uses).await.into_iter().map(Result::unwrap).filter(|a| *a).count();
        assert_eq!(accepted, 1, "exactly one of eight concurrent uses is accepted");
    }
}

/// The store remembers a `jti` only until the assertion's own expiry: after the sweep the same
/// `jti` is accepted again. So the replay memory is bounded by the expiry, and whoever accepts an
/// assertion must refuse it once expired (and bound how far ahead its `exp` may be).
#[tokio::test]
async fn an_assertion_jti_is_remembered_until_it_expires_then_swept_and_accepted_again() {
    let fx = Fixture::new().await;
    let jti = unique("assertion");
    let lasting = unique("assertion");
    assert!(fx.store.record_client_assertion(&fx.client.client_id, &jti, fx.now() + 60).await.unwrap());
    assert!(fx.store.record_client_assertion(&fx.client.client_id, &lasting, fx.now() + 600).await.unwrap());

    fx.clock.advance(59);
    assert_eq!(fx.store.sweep(fx.now(), RETENTION, 1000).await.unwrap(), TableCounts::default());
    assert!(!fx.store.record_client_assertion(&fx.client.client_id, &jti, fx.now() + 60).await.unwrap());

    fx.clock.advance(1);
    let removed = fx.store.sweep(fx.now(), RETENTION, 1000).await.unwrap();
    assert_eq!(removed, TableCounts { client_assertions: 1, ..TableCounts::default() });
    assert_eq!(fx.store.row_counts().await.unwrap().client_assertions, 1, "the unexpired one stays");
    assert!(
        !fx.store.record_client_assertion(&fx.client.client_id, &lasting, fx.now() + 600).await.unwrap(),
        "an unexpired jti is still remembered after a sweep"
    );
    assert!(
        fx.store.record_client_assertion(&fx.client.client_id, &jti, fx.now() + 60).await.unwrap(),
        "once swept, the jti is forgotten"
    );
}

// Approval requests.

#[tokio::test]
async fn an_approval_request_round_trips_every_field() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let mut subject = subject(&fx, &grant);
    subject.authorization_details = Some(
        serde_json::from_value(json!([{
            "type": "mcp_tool_call",
            "locations": [UPSTREAM],
            "actions": ["call"],
            "identifier": "write_file",
            "arguments_sha256": "0f1e2d",
        }]))
        .unwrap(),
    );
    let full = ApprovalRequest {
        subject,
        arguments_summary: Some("path = « /etc/hosts »".into()),
        binding_message: Some("Deploy #42?".into()),
        always_ask: true,
        approval_max_age: Some(3600),
        status: ApprovalStatus::Approved,
        poll_interval: 17,
        last_polled_at: Some(fx.now() - 3),
        decided_at: Some(fx.now() - 1),
        created_at: fx.now() - 30,
        ..request(&fx, &grant, 600)
    };
    let sparse = request(&fx, &grant, 300);
    fx.store.insert_approval(&full).await.unwrap();
    fx.store.insert_approval(&sparse).await.unwrap();

    assert_eq!(fx.store.find_approval(&full.id).await.unwrap(), Some(full));
    assert_eq!(fx.store.find_approval(&sparse.id).await.unwrap(), Some(sparse));
    assert_eq!(fx.store.find_approval(&unique("approval")).await.unwrap(), None);
}

#[tokio::test]
async fn pending_approvals_of_a_user_are_their_undecided_unexpired_ones_oldest_first() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let alices = grant_of(&fx, &fx.user).await;
    let bobs = grant_of(&fx, &bob).await;

    let first = ask(&fx, &alices, 3600).await;
    let _expiring = ask(&fx, &alices, 60).await;
    let _bobs = ask(&fx, &bobs, 3600).await;
    fx.clock.advance(10);
    let denied = ask(&fx, &alices, 3600).await;
    let approved = ask(&fx, &alices, 3600).await;
    fx.clock.advance(10);
    let last = ask(&fx, &alices, 3600).await;
    for (id, decision) in [(&denied.id, ApprovalDecision::Deny), (&approved.id, APPROVE)] {
        let decided = fx.store.decide_approval(id, &fx.user.id, &decision, fx.now()).await.unwrap();
        assert!(matches!(decided, Decided::Recorded(_)));
    }

    fx.clock.advance(40);
    let pending = fx.store.pending_approvals_of_user(&fx.user.id, fx.now()).await.unwrap();
    let ids: Vec<_> = pending.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), last.id.as_str()], "neither decided, expired, nor bob's");
    assert_eq!(pending[0], first);
    assert_eq!(fx.store.pending_approvals_of_user(&bob.id, fx.now()).await.unwrap().len(), 1);

    // The count the flood guard reads: the same requests, for this client only.
    let client = &fx.client.client_id;
    assert_eq!(fx.store.count_pending_approvals(&fx.user.id, client, fx.now()).await.unwrap(), 2);
    assert_eq!(fx.store.count_pending_approvals(&bob.id, client, fx.now()).await.unwrap(), 1);
    assert_eq!(fx.store.count_pending_approvals(&fx.user.id, "another-client", fx.now()).await.unwrap(), 0);
}

/// Opening a request gives the one that asks the same and still waits (pending, or approved by
/// the person and not collected) instead; otherwise it is stored, unless the client has as many
/// waiting for the person as allowed.
#[tokio::test]
async fn opening_a_request_gives_the_same_one_that_waits_or_stores_it_within_the_limit() {
    let fx = Fixture::new().await;
    let alices = grant_of(&fx, &fx.user).await;
    let first = ask(&fx, &alices, 3600).await;
    let approved = ask(&fx, &alices, 3600).await;
    let withdrawn = ask(&fx, &alices, 3600).await;
    let denied = ask(&fx, &alices, 3600).await;
    let decided = fx.store.decide_approval(&denied.id, &fx.user.id, &ApprovalDecision::Deny, fx.now()).await;
    assert!(matches!(decided.unwrap(), Decided::Recorded(_)));
    // The person answers a little later (approved in the second it was made would read as a
    // standing approval's answer, which is not given again).
    fx.clock.advance(5);
    let decided = fx.store.decide_approval(&approved.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap();
    assert!(matches!(decided, Decided::Recorded(_)));
    let client = &fx.client.client_id;
    assert!(fx.store.withdraw_approval(&withdrawn.auth_req_hash, client, fx.now()).await.unwrap().is_some());
    let another = add_client(&fx.store, fx.now()).await;
    let elsewhere = ApprovalRequest { client_id: another.client_id.clone(), ..request(&fx, &alices, 3600) };
    fx.store.insert_approval(&elsewhere).await.unwrap();
    fx.clock.advance(10);

    // The same call again: a new id and handle, the rest as the one it asks again.
    let again = |of: &ApprovalRequest| ApprovalRequest {
        id: unique("approval"),
        auth_req_hash: unique("auth-req"),
        status: ApprovalStatus::Pending,
        decided_at: None,
        created_at: fx.now(),
        expires_at: fx.now() + 3600,
        ..of.clone()
    };
    let open = |request: ApprovalRequest, max_pending: i64| {
        let (store, now) = (&fx.store, fx.now());
        async move { store.open_approval(&request, max_pending, now).await.unwrap() }
    };
    let given = |opened: Opening| match opened {
        Opening::Waiting(waiting) => Some(waiting.id),
        _ => None,
    };
    assert_eq!(given(open(again(&first), 10).await), Some(first.id.clone()), "pending");
    assert_eq!(given(open(again(&approved), 10).await), Some(approved.id.clone()), "approved, not collected");
    assert_eq!(given(open(again(&elsewhere), 10).await), Some(elsewhere.id.clone()), "its own client's");
    assert_eq!(open(again(&withdrawn), 10).await, Opening::Inserted, "not once withdrawn");
    assert_eq!(open(again(&denied), 10).await, Opening::Inserted, "not once denied");
    let from_this_client = ApprovalRequest { client_id: client.clone(), ..again(&elsewhere) };
    assert_eq!(open(from_this_client, 10).await, Opening::Inserted, "not another client's");
    assert!(fx.store.collect_approval(&approved.id).await.unwrap());
    assert_eq!(open(again(&approved), 10).await, Opening::Inserted, "not once collected");
    let stored = fx.store.pending_approvals_of_user(&fx.user.id, fx.now()).await.unwrap();
    assert_eq!(stored.len(), 6, "first, elsewhere's, and the four stored: {stored:?}");

    // Another call: stored while fewer than the limit of this client's wait for the person.
    let other_call = || ApprovalRequest { arguments_sha256: unique("args"), ..again(&first) };
    assert_eq!(open(other_call(), 5).await, Opening::Full, "five of this client's wait");
    assert_eq!(open(other_call(), 6).await, Opening::Inserted);
    fx.clock.advance(3600);
    assert_eq!(open(again(&first), 10).await, Opening::Inserted, "not once expired");
}

#[tokio::test]
async fn a_request_is_decided_once_and_only_by_its_user() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let grant = grant_of(&fx, &fx.user).await;
    let request = ask(&fx, &grant, 3600).await;
    fx.clock.advance(5);

    for decision in [APPROVE, ApprovalDecision::Deny] {
        assert_eq!(
            fx.store.decide_approval(&request.id, &bob.id, &decision, fx.now()).await.unwrap(),
            Decided::NotYours
        );
    }
    assert_eq!(fx.store.find_approval(&request.id).await.unwrap(), Some(request.clone()), "left as it was");
    assert_eq!(
        fx.store.pending_approvals_of_user(&fx.user.id, fx.now()).await.unwrap(),
        std::slice::from_ref(&request)
    );

    let Decided::Recorded(recorded) =
        fx.store.decide_approval(&request.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap()
    else {
        panic!("the user's own pending request is decided");
    };
    let expected =
        ApprovalRequest { status: ApprovalStatus::Approved, decided_at: Some(fx.now()), ..request.clone() };
    assert_eq!(*recorded, expected, "the request as it now stands");
    assert_eq!(fx.store.find_approval(&request.id).await.unwrap(), Some(expected.clone()));

    fx.clock.advance(5);
    for decision in [ApprovalDecision::Deny, APPROVE] {
        assert_eq!(
            fx.store.decide_approval(&request.id, &fx.user.id, &decision, fx.now()).await.unwrap(),
            Decided::Gone,
            "a request is decided once"
        );
    }
    assert_eq!(
        fx.store.find_approval(&request.id).await.unwrap(),
        Some(expected),
        "the first decision stays"
    );
    assert!(fx.store.pending_approvals_of_user(&fx.user.id, fx.now()).await.unwrap().is_empty());

    let denied = ask(&fx, &grant, 3600).await;
    let Decided::Recorded(recorded) =
        fx.store.decide_approval(&denied.id, &fx.user.id, &ApprovalDecision::Deny, fx.now()).await.unwrap()
    else {
        panic!("a denial is recorded");
    };
    assert_eq!((recorded.status, recorded.decided_at), (ApprovalStatus::Denied, Some(fx.now())));
    assert_eq!(
        fx.store.decide_approval(&denied.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap(),
        Decided::Gone,
        "a denial is not turned into an approval"
    );
    assert_eq!(
        fx.store.decide_approval(&unique("approval"), &fx.user.id, &APPROVE, fx.now()).await.unwrap(),
        Decided::Gone
    );
}

#[tokio::test]
async fn an_expired_request_cannot_be_decided() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let request = ask(&fx, &grant, 60).await;
    fx.clock.advance(60);

    for decision in [APPROVE, ApprovalDecision::Deny] {
        assert_eq!(
            fx.store.decide_approval(&request.id, &fx.user.id, &decision, fx.now()).await.unwrap(),
            Decided::Gone
        );
    }
    assert_eq!(fx.store.find_approval(&request.id).await.unwrap(), Some(request), "still undecided");
    assert!(fx.store.pending_approvals_of_user(&fx.user.id, fx.now()).await.unwrap().is_empty());
}

/// Replicas of one client asking for the same call at once (each its own new request) make one
/// request for the person: the others are given it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_identical_requests_opened_at_once_one_is_stored_and_the_others_are_given_it() {
    let fx = Arc::new(Fixture::new().await);
    let grant = grant_of(&fx, &fx.user).await;
    for _ in 0..5 {
        let call = request(&fx, &grant, 3600);
        let openings: Vec<_> = (0..8)
            .map(|_| {
                let fx = fx.clone();
                let mine = ApprovalRequest {
                    id: unique("approval"),
                    auth_req_hash: unique("auth-req"),
                    ..call.clone()
                };
                tokio::spawn(async move {
                    (mine.id.clone(), fx.store.open_approval(&mine, 100, fx.now()).await.unwrap())
                })
            })
            .collect();
        let (mut stored, mut given) = (Vec::new(), Vec::new());
        for opening in openings {
            match opening.await.unwrap() {
                (id, Opening::Inserted) => stored.push(id),
                (_, Opening::Waiting(waiting)) => given.push(waiting.id),
                (_, Opening::Full) => panic!("far below the limit"),
            }
        }
        assert_eq!(stored.len(), 1, "one stored of eight at once");
        assert!(given.iter().all(|id| *id == stored[0]), "the others are given that one");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_decisions_of_one_request_exactly_one_is_recorded_with_its_standing_approval() {
    let fx = Arc::new(Fixture::new().await);
    let grant = grant_of(&fx, &fx.user).await;
    let mut remembered = 0;
    for round in 0..10 {
        let request = ask(&fx, &grant, 3600).await;
        // Half approve and remember (each its own standing approval), half deny.
        let decisions: Vec<_> = (0..8)
            .map(|i| {
                let decision = if (i + round) % 2 == 0 {
                    approve_and_remember(&standing(&fx, &fx.user, "write_file", None, 3600))
                } else {
                    ApprovalDecision::Deny
                };
                let (fx, id) = (fx.clone(), request.id.clone());
                tokio::spawn(async move {
                    let decided =
                        fx.store.decide_approval(&id, &fx.user.id, &decision, fx.now()).await.unwrap();
                    (decision, decided)
                })
            })
            .collect();
        let mut recorded = Vec::new();
        for decision in decisions {
            match decision.await.unwrap() {
                (decision, Decided::Recorded(request)) => recorded.push((decision, request)),
                (_, Decided::Gone) => {}
                (_, Decided::NotYours) => panic!("the request is the user's"),
            }
        }
        assert_eq!(recorded.len(), 1, "exactly one of eight concurrent decisions is recorded");
        let (decision, decided) = recorded.pop().unwrap();
        assert_eq!(fx.store.find_approval(&request.id).await.unwrap(), Some(*decided.clone()));
        let standing = fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap();
        match decision {
            ApprovalDecision::Approve { remember: Some(kept) } => {
                assert_eq!(decided.status, ApprovalStatus::Approved);
                assert!(standing.contains(&kept), "the winner's standing approval is stored");
                remembered += 1;
            }
            _ => assert_eq!(decided.status, ApprovalStatus::Denied),
        }
        // The standing approvals of the losing decisions were never stored.
        assert_eq!(standing.len(), remembered, "at most one standing approval per request");
        assert_eq!(fx.store.row_counts().await.unwrap().standing_approvals, remembered as u64);
    }
}

#[tokio::test]
async fn approving_and_remembering_stores_the_standing_approval_and_nothing_else_does() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let grant = grant_of(&fx, &fx.user).await;
    let count = || async { fx.store.row_counts().await.unwrap().standing_approvals };

    // Denied, then answered again with a standing approval: Gone, and nothing remembered.
    let denied = ask(&fx, &grant, 3600).await;
    let decided = fx.store.decide_approval(&denied.id, &fx.user.id, &ApprovalDecision::Deny, fx.now()).await;
    assert!(matches!(decided.unwrap(), Decided::Recorded(_)));
    let late = standing(&fx, &fx.user, "write_file", None, 3600);
    let decided =
        fx.store.decide_approval(&denied.id, &fx.user.id, &approve_and_remember(&late), fx.now()).await;
    assert_eq!(decided.unwrap(), Decided::Gone);
    assert_eq!(count().await, 0, "a decision that is not recorded stores no standing approval");

    // Another user's attempt stores nothing either.
    let request = ask(&fx, &grant, 3600).await;
    let intruding = standing(&fx, &bob, "write_file", None, 3600);
    let decided =
        fx.store.decide_approval(&request.id, &bob.id, &approve_and_remember(&intruding), fx.now()).await;
    assert_eq!(decided.unwrap(), Decided::NotYours);
    assert_eq!(count().await, 0);

    // Expired: nothing.
    let expiring = ask(&fx, &grant, 1).await;
    fx.clock.advance(1);
    let decided =
        fx.store.decide_approval(&expiring.id, &fx.user.id, &approve_and_remember(&late), fx.now()).await;
    assert_eq!(decided.unwrap(), Decided::Gone);
    assert_eq!(count().await, 0);

    // Approved and remembered: stored with the decision.
    let first = standing(&fx, &fx.user, "write_file", Some("hash-1"), 3600);
    let decided =
        fx.store.decide_approval(&request.id, &fx.user.id, &approve_and_remember(&first), fx.now()).await;
    assert!(matches!(decided.unwrap(), Decided::Recorded(r) if r.status == ApprovalStatus::Approved));
    assert_eq!(
        fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        fx.store.find_standing_approval(key(&first, "hash-1"), fx.now()).await.unwrap(),
        Some(first.clone())
    );

    // A plain approval remembers nothing.
    let plain = ask(&fx, &grant, 3600).await;
    let decided = fx.store.decide_approval(&plain.id, &fx.user.id, &APPROVE, fx.now()).await;
    assert!(matches!(decided.unwrap(), Decided::Recorded(_)));
    assert_eq!(count().await, 1);

    // The user's standing approvals are listed newest first; bob has none.
    fx.clock.advance(10);
    let second = standing(&fx, &fx.user, "read_file", None, 3600);
    remember(&fx, &grant, &second).await;
    assert_eq!(fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap(), [second, first]);
    assert!(fx.store.standing_approvals_of_user(&bob.id, fx.now()).await.unwrap().is_empty());
}

// Polling.

#[tokio::test]
async fn polling_too_soon_grows_the_interval_by_five_seconds_each_time() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let request = ask(&fx, &grant, 3600).await;
    let poll =
        || fx.store.poll_approval(&request.auth_req_hash, &fx.client.client_id, POLL_INTERVAL, fx.now());

    let Poll::Polled(polled) = poll().await.unwrap() else { panic!("the first poll is never too soon") };
    assert_eq!(*polled, ApprovalRequest { last_polled_at: Some(fx.now()), ..request.clone() });

    fx.clock.advance(POLL_INTERVAL - 1);
    assert_eq!(poll().await.unwrap(), Poll::TooSoon { interval: POLL_INTERVAL + 5 });
    fx.clock.advance(1);
    assert_eq!(poll().await.unwrap(), Poll::TooSoon { interval: POLL_INTERVAL + 10 }, "and again");
    assert_eq!(fx.store.find_approval(&request.id).await.unwrap().unwrap().poll_interval, POLL_INTERVAL + 10);

    // Waiting the configured interval since the last poll is enough: the grown one is what the
    // client is asked to keep, but replicas of one client polling one request each meet
    // `slow_down` now and then, and must not push each other's next poll out for good.
    fx.clock.advance(POLL_INTERVAL);
    let Poll::Polled(polled) = poll().await.unwrap() else { panic!("waited long enough") };
    assert_eq!((polled.poll_interval, polled.last_polled_at), (POLL_INTERVAL + 10, Some(fx.now())));
    assert_eq!(polled.status, ApprovalStatus::Pending);

    // A poll shows the request as it stands.
    let decided = fx.store.decide_approval(&request.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap();
    assert!(matches!(decided, Decided::Recorded(_)));
    fx.clock.advance(POLL_INTERVAL + 10);
    let Poll::Polled(polled) = poll().await.unwrap() else { panic!("waited long enough") };
    assert_eq!(
        (polled.status, polled.decided_at),
        (ApprovalStatus::Approved, Some(fx.now() - POLL_INTERVAL - 10))
    );
}

#[tokio::test]
async fn a_poll_with_another_clients_id_or_an_unknown_handle_is_unknown_and_changes_nothing() {
    let fx = Fixture::new().await;
    let other = add_client(&fx.store, fx.now()).await;
    let grant = grant_of(&fx, &fx.user).await;
    let request = ask(&fx, &grant, 3600).await;

    for _ in 0..2 {
        let polled = fx
            .store
            .poll_approval(&request.auth_req_hash, &other.client_id, POLL_INTERVAL, fx.now())
            .await
            .unwrap();
        assert_eq!(polled, Poll::Unknown, "another client's handle");
    }
    let polled = fx
        .store
        .poll_approval(&unique("auth-req"), &fx.client.client_id, POLL_INTERVAL, fx.now())
        .await
        .unwrap();
    assert_eq!(polled, Poll::Unknown);
    assert_eq!(
        fx.store.find_approval(&request.id).await.unwrap(),
        Some(request.clone()),
        "not polled, not slowed"
    );

    let polled = fx
        .store
        .poll_approval(&request.auth_req_hash, &fx.client.client_id, POLL_INTERVAL, fx.now())
        .await
        .unwrap();
    assert!(matches!(polled, Poll::Polled(_)), "the client's own first poll is not too soon");
}

// Collecting.

#[tokio::test]
async fn an_approved_requests_token_is_collected_exactly_once() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let request = ask(&fx, &grant, 3600).await;
    let denied = ask(&fx, &grant, 3600).await;

    assert!(!fx.store.collect_approval(&request.id).await.unwrap(), "nothing to collect while pending");
    assert_eq!(fx.store.find_approval(&request.id).await.unwrap().unwrap().status, ApprovalStatus::Pending);
    fx.store.decide_approval(&denied.id, &fx.user.id, &ApprovalDecision::Deny, fx.now()).await.unwrap();
    assert!(!fx.store.collect_approval(&denied.id).await.unwrap(), "nor once denied");
    assert!(!fx.store.collect_approval(&unique("approval")).await.unwrap());

    fx.store.decide_approval(&request.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap();
    assert!(fx.store.collect_approval(&request.id).await.unwrap());
    assert_eq!(fx.store.find_approval(&request.id).await.unwrap().unwrap().status, ApprovalStatus::Issued);
    assert!(!fx.store.collect_approval(&request.id).await.unwrap(), "collected once");
    assert_eq!(
        fx.store.decide_approval(&request.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap(),
        Decided::Gone,
        "an issued request is not decided again"
    );
    assert!(!fx.store.collect_approval(&request.id).await.unwrap());
}

/// An approval's subject token may be revoked while the person has yet to answer; its record is
/// swept at its `exp`, long before the approval expires. So revoking it ends, at once, the
/// requests asked on it that are pending or approved but not collected, and no other.
#[tokio::test]
async fn revoking_the_subject_token_ends_the_approvals_asked_on_it_and_only_those() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let pending = ask(&fx, &grant, 3600).await;
    let approved = ask(&fx, &grant, 3600).await;
    fx.store.decide_approval(&approved.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap();
    let denied = ask(&fx, &grant, 3600).await;
    fx.store.decide_approval(&denied.id, &fx.user.id, &ApprovalDecision::Deny, fx.now()).await.unwrap();
    let other_token = ask(&fx, &grant, 3600).await;
    assert_ne!(pending.subject.jti, other_token.subject.jti);
    // The two requests asked on the same token (each `ask` makes its own subject: share one).
    let mut twin = request(&fx, &grant, 3600);
    twin.subject = pending.subject.clone();
    fx.store.insert_approval(&twin).await.unwrap();
    let mut approved_twin = request(&fx, &grant, 3600);
    approved_twin.subject = approved.subject.clone();
    fx.store.insert_approval(&approved_twin).await.unwrap();

    let later = fx.now() + 5;
    fx.store.revoke_access_token(&pending.subject.jti, later).await.unwrap();
    fx.store.revoke_access_token(&approved.subject.jti, later).await.unwrap();
    fx.store.revoke_access_token(&denied.subject.jti, later).await.unwrap();
    for ended in [&pending, &twin, &approved, &approved_twin] {
        let stored = fx.store.find_approval(&ended.id).await.unwrap().unwrap();
        assert_eq!(stored.expires_at, later, "{}", ended.id);
    }
    let stored = fx.store.find_approval(&denied.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.expires_at),
        (ApprovalStatus::Denied, denied.expires_at),
        "a decided no stays"
    );
    let untouched = fx.store.find_approval(&other_token.id).await.unwrap().unwrap();
    assert_eq!(untouched.expires_at, other_token.expires_at, "another token's request is untouched");
    let shown = fx.store.pending_approvals_of_user(&fx.user.id, later).await.unwrap();
    assert_eq!(shown.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [other_token.id.as_str()]);
    // Revoking again changes nothing (idempotent).
    fx.store.revoke_access_token(&pending.subject.jti, later + 100).await.unwrap();
    assert_eq!(fx.store.find_approval(&pending.id).await.unwrap().unwrap().expires_at, later);
}

/// A request asked on `token` (a token exchanged down a chain of gateways, say), stored.
async fn ask_on(fx: &Fixture, grant: &Grant, token: &IssuedAccessToken) -> ApprovalRequest {
    let mut request = request(fx, grant, 3600);
    request.subject.jti = token.jti.clone();
    fx.store.insert_approval(&request).await.unwrap();
    request
}

/// Gateways in a row: the user's token T0, exchanged for T1, exchanged again for T2. Revoking T0
/// ends the requests asked on T1 and T2 too (their records may be swept before the person
/// answers, so this cannot wait for the poll), and not those asked on another token's
/// descendants; revoking T1 reaches T2, not T0.
#[tokio::test]
async fn revoking_a_token_ends_the_approvals_asked_on_the_tokens_exchanged_from_it() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let exchanged_from = |parent: Option<&IssuedAccessToken>| IssuedAccessToken {
        parent_jti: parent.map(|p| p.jti.clone()),
        ..access_token(&grant.id, fx.now(), 300)
    };
    let t0 = exchanged_from(None);
    let t1 = exchanged_from(Some(&t0));
    let t2 = exchanged_from(Some(&t1));
    let sibling = exchanged_from(None);
    let nephew = exchanged_from(Some(&sibling));
    for token in [&t0, &t1, &t2, &sibling, &nephew] {
        fx.store.record_access_token(token).await.unwrap();
    }
    let (on_t0, on_t1, on_t2) =
        (ask_on(&fx, &grant, &t0).await, ask_on(&fx, &grant, &t1).await, ask_on(&fx, &grant, &t2).await);
    let on_nephew = ask_on(&fx, &grant, &nephew).await;
    let expiry = |request: &ApprovalRequest| {
        let id = request.id.clone();
        let store = &fx.store;
        async move { store.find_approval(&id).await.unwrap().unwrap().expires_at }
    };

    let later = fx.now() + 5;
    fx.store.revoke_access_token(&t1.jti, later).await.unwrap();
    assert_eq!((expiry(&on_t1).await, expiry(&on_t2).await), (later, later));
    assert_eq!(expiry(&on_t0).await, on_t0.expires_at, "revoking T1 does not reach up to T0");

    fx.store.revoke_access_token(&t0.jti, later + 1).await.unwrap();
    assert_eq!(expiry(&on_t0).await, later + 1);
    assert_eq!(expiry(&on_nephew).await, on_nephew.expires_at, "another token's descendants are untouched");
    let (token, _) = fx.store.find_access_token(&t2.jti).await.unwrap().unwrap();
    assert_eq!(token.revoked_at, None, "descendants are judged by their ancestry when read, not marked");
}

/// A gateway's token (T1, 60 s) expires long before the user's it was exchanged from (T0):
/// its record stays while T0's does, so revoking T0 still reaches a request asked on T1 after a
/// sweep; once T0's record is gone, a later sweep takes T1's.
#[tokio::test]
async fn an_exchanged_tokens_record_outlives_its_expiry_while_its_parents_stands() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    let t0 = access_token(&grant.id, fx.now(), 300);
    let t1 = IssuedAccessToken { parent_jti: Some(t0.jti.clone()), ..access_token(&grant.id, fx.now(), 60) };
    for token in [&t0, &t1] {
        fx.store.record_access_token(token).await.unwrap();
    }
    let on_t1 = ask_on(&fx, &grant, &t1).await;

    fx.clock.advance(120);
    let sweep = || fx.store.sweep(fx.now(), Duration::from_secs(90 * 24 * 3600), 1000);
    let store = &fx.store;
    let kept = |token: &IssuedAccessToken| {
        let jti = token.jti.clone();
        async move { store.find_access_token(&jti).await.unwrap().is_some() }
    };
    sweep().await.unwrap();
    assert!(kept(&t1).await, "T1 has expired, but T0 stands");
    fx.store.revoke_access_token(&t0.jti, fx.now()).await.unwrap();
    let ended = fx.store.find_approval(&on_t1.id).await.unwrap().unwrap();
    assert_eq!(ended.expires_at, fx.now(), "revoking T0 ended the request asked on T1");

    fx.clock.advance(300);
    sweep().await.unwrap();
    assert!(!kept(&t0).await && kept(&t1).await, "T0 first");
    sweep().await.unwrap();
    assert!(!kept(&t1).await, "then T1, its parent gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_collections_of_one_approval_exactly_one_succeeds() {
    let fx = Arc::new(Fixture::new().await);
    let grant = grant_of(&fx, &fx.user).await;
    for _ in 0..10 {
        let request = ask(&fx, &grant, 3600).await;
        fx.store.decide_approval(&request.id, &fx.user.id, &APPROVE, fx.now()).await.unwrap();
        let collections: Vec<_> = (0..8)
            .map(|_| {
                let (fx, id) = (fx.clone(), request.id.clone());
                tokio::spawn(async move { fx.store.collect_approval(&id).await.unwrap() })
            })
            .collect();
        let mut collected = 0;
        for collection in collections {
            collected += usize::from(collection.await.unwrap());
        }
        assert_eq!(collected, 1, "exactly one of eight concurrent collections gets the token");
    }
}

// Standing approvals.

#[tokio::test]
async fn a_standing_approval_covers_only_its_user_client_upstream_tool_and_arguments_until_it_expires() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let other = add_client(&fx.store, fx.now()).await;
    let grant = grant_of(&fx, &fx.user).await;
    let any_arguments = standing(&fx, &fx.user, "read_file", None, 3600);
    let these_arguments = standing(&fx, &fx.user, "write_file", Some("hash-1"), 600);
    remember(&fx, &grant, &any_arguments).await;
    remember(&fx, &grant, &these_arguments).await;
    let find = |key| fx.store.find_standing_approval(key, fx.now());

    assert_eq!(find(key(&any_arguments, "hash-1")).await.unwrap(), Some(any_arguments.clone()));
    assert_eq!(
        find(key(&any_arguments, "hash-2")).await.unwrap(),
        Some(any_arguments.clone()),
        "any arguments"
    );
    assert_eq!(find(key(&these_arguments, "hash-1")).await.unwrap(), Some(these_arguments.clone()));
    assert_eq!(find(key(&these_arguments, "hash-2")).await.unwrap(), None, "only the arguments it names");

    let elsewhere = [
        StandingKey { user_id: &bob.id, ..key(&any_arguments, "hash-1") },
        StandingKey { client_id: &other.client_id, ..key(&any_arguments, "hash-1") },
        // Approved for calls made on behalf of one application, not another of the same user.
        StandingKey { subject_client_id: "another-app", ..key(&any_arguments, "hash-1") },
        StandingKey { resource: "https://other.example/mcp", ..key(&any_arguments, "hash-1") },
        StandingKey { resource: RESOURCE, ..key(&any_arguments, "hash-1") },
        StandingKey { tool: "delete_file", ..key(&any_arguments, "hash-1") },
        StandingKey { tool: "write_file", ..key(&any_arguments, "hash-2") },
    ];
    for key in elsewhere {
        assert_eq!(find(key).await.unwrap(), None, "{key:?}");
    }
    // Only one given recently enough, when the client bounds its age.
    let created = any_arguments.created_at;
    let recent = StandingKey { approved_since: created, ..key(&any_arguments, "hash-1") };
    assert_eq!(find(recent).await.unwrap(), Some(any_arguments.clone()));
    let too_old = StandingKey { approved_since: created + 1, ..key(&any_arguments, "hash-1") };
    assert_eq!(find(too_old).await.unwrap(), None, "given before approved_since");

    fx.clock.advance(599);
    assert!(find(key(&these_arguments, "hash-1")).await.unwrap().is_some());
    fx.clock.advance(1);
    assert_eq!(find(key(&these_arguments, "hash-1")).await.unwrap(), None, "not once expired");
    assert_eq!(
        fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap(),
        std::slice::from_ref(&any_arguments)
    );
    fx.clock.advance(3000);
    assert_eq!(find(key(&any_arguments, "hash-1")).await.unwrap(), None);
    assert!(fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_standing_approval_is_withdrawn_by_its_user_only() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let grant = grant_of(&fx, &fx.user).await;
    let approval = standing(&fx, &fx.user, "write_file", None, 3600);
    let kept = standing(&fx, &fx.user, "read_file", None, 3600);
    remember(&fx, &grant, &approval).await;
    remember(&fx, &grant, &kept).await;

    assert!(!fx.store.withdraw_standing_approval(&approval.id, &bob.id).await.unwrap());
    assert_eq!(
        fx.store.find_standing_approval(key(&approval, "h"), fx.now()).await.unwrap(),
        Some(approval.clone()),
        "another user's withdrawal leaves it"
    );

    assert!(fx.store.withdraw_standing_approval(&approval.id, &fx.user.id).await.unwrap());
    assert_eq!(fx.store.find_standing_approval(key(&approval, "h"), fx.now()).await.unwrap(), None);
    assert!(!fx.store.withdraw_standing_approval(&approval.id, &fx.user.id).await.unwrap(), "gone already");
    assert_eq!(fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap(), [kept]);
}

#[tokio::test]
async fn changing_the_password_withdraws_every_standing_approval_of_the_user() {
    let fx = Fixture::new().await;
    let bob = add_user(&fx.store, "bob", fx.now()).await;
    let alices = grant_of(&fx, &fx.user).await;
    let bobs = grant_of(&fx, &bob).await;
    let alice_any = standing(&fx, &fx.user, "write_file", None, 3600);
    let alice_these = standing(&fx, &fx.user, "read_file", Some("hash-1"), 3600);
    let bob_any = standing(&fx, &bob, "write_file", None, 3600);
    remember(&fx, &alices, &alice_any).await;
    remember(&fx, &alices, &alice_these).await;
    remember(&fx, &bobs, &bob_any).await;

    fx.store.change_password(&fx.user.id, "$argon2id$new", fx.now()).await.unwrap();
    assert!(fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap().is_empty());
    assert_eq!(fx.store.find_standing_approval(key(&alice_any, "hash-1"), fx.now()).await.unwrap(), None);
    assert_eq!(fx.store.find_standing_approval(key(&alice_these, "hash-1"), fx.now()).await.unwrap(), None);
    assert_eq!(
        fx.store.find_standing_approval(key(&bob_any, "hash-1"), fx.now()).await.unwrap(),
        Some(bob_any),
        "another user's stay"
    );
}

// Sweeping.

#[tokio::test]
async fn a_sweep_removes_expired_approval_requests_and_standing_approvals_and_keeps_the_rest() {
    let fx = Fixture::new().await;
    let grant = grant_of(&fx, &fx.user).await;
    // Expiring in a minute: a pending request, and an approved one that left a standing approval.
    let short_pending = ask(&fx, &grant, 60).await;
    let short_approved = ask(&fx, &grant, 60).await;
    let short_standing = standing(&fx, &fx.user, "read_file", None, 60);
    let decided = fx
        .store
        .decide_approval(&short_approved.id, &fx.user.id, &approve_and_remember(&short_standing), fx.now())
        .await
        .unwrap();
    assert!(matches!(decided, Decided::Recorded(_)));
    // Expiring in an hour: a pending request; and a standing approval of two hours.
    let long_pending = ask(&fx, &grant, 3600).await;
    let long_standing = standing(&fx, &fx.user, "write_file", None, 7200);
    let long_approved = ask(&fx, &grant, 3600).await;
    let decided = fx
        .store
        .decide_approval(&long_approved.id, &fx.user.id, &approve_and_remember(&long_standing), fx.now())
        .await
        .unwrap();
    assert!(matches!(decided, Decided::Recorded(_)));
    let approvals = |requests, standing| TableCounts {
        approval_requests: requests,
        standing_approvals: standing,
        ..TableCounts::default()
    };
    let held = |counts: TableCounts| (counts.approval_requests, counts.standing_approvals);
    assert_eq!(held(fx.store.row_counts().await.unwrap()), (4, 2));

    fx.clock.advance(59);
    assert_eq!(fx.store.sweep(fx.now(), RETENTION, 1000).await.unwrap(), TableCounts::default());

    fx.clock.advance(1);
    assert_eq!(fx.store.sweep(fx.now(), RETENTION, 1000).await.unwrap(), approvals(2, 1));
    assert_eq!(held(fx.store.row_counts().await.unwrap()), (2, 1));
    assert_eq!(fx.store.find_approval(&short_pending.id).await.unwrap(), None);
    assert_eq!(fx.store.find_approval(&short_approved.id).await.unwrap(), None);
    assert!(fx.store.find_approval(&long_pending.id).await.unwrap().is_some());
    assert!(fx.store.find_approval(&long_approved.id).await.unwrap().is_some());
    let still = fx.store.standing_approvals_of_user(&fx.user.id, fx.now()).await.unwrap();
    assert_eq!(still, std::slice::from_ref(&long_standing));

    fx.clock.advance(3540);
    assert_eq!(fx.store.sweep(fx.now(), RETENTION, 1000).await.unwrap(), approvals(2, 0));
    fx.clock.advance(3600);
    assert_eq!(fx.store.sweep(fx.now(), RETENTION, 1000).await.unwrap(), approvals(0, 1));
    assert_eq!(held(fx.store.row_counts().await.unwrap()), (0, 0));
}
