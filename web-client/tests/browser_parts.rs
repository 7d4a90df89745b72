//! The browser-only parts of the client, tested in headless Chromium with `wasm-bindgen-test`:
//! storage (what survives the redirect, what is single use, what *Forget* removes) and the
//! browser's cryptography (random values, SHA-256 for PKCE).

use protocol::challenge::BearerChallenge;
use protocol::challenge_reaction::{ChallengeReaction, Failure, Held, Reaction};
use protocol::error::ErrorCode;
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::scope::Scopes;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_client::flow::Call;
use web_client::storage::{self, ClientRegistration, PendingAuthorization};

wasm_bindgen_test_configure!(run_in_browser);

fn pending(state: &str) -> PendingAuthorization {
    PendingAuthorization {
        state: state.into(),
        code_verifier: CodeVerifier::from_random_bytes([7; 32]),
        issuer: "http://as.example".into(),
        issuer_parameter_required: true,
        token_endpoint: "http://as.example/token".into(),
        revocation_endpoint: None,
        client_id: "c".into(),
        redirect_uri: "http://app.example/callback".into(),
        resource: "http://rs.example".into(),
        requested_scope: Some("echo profile".into()),
        call: Call::ListTools { url: "http://rs.example/mcp".into() },
        reaction: ChallengeReaction::new(),
        approval_deadline_ms: Some(1_700_000_300_000.0),
    }
}

#[wasm_bindgen_test]
fn a_pending_authorization_can_be_taken_once_by_its_state() {
    storage::save_pending(&pending("s1")).unwrap();
    assert!(storage::take_pending("other").is_none());
    let taken = storage::take_pending("s1").expect("stored under its state");
    assert_eq!(taken.call, Call::ListTools { url: "http://rs.example/mcp".into() });
    assert_eq!(taken.requested_scope.as_deref(), Some("echo profile"), "the scope asked for comes back");
    assert_eq!(taken.approval_deadline_ms, Some(1_700_000_300_000.0), "and the approval deadline");
    assert!(storage::take_pending("s1").is_none(), "a state works once");
}

#[wasm_bindgen_test]
fn forget_removes_client_ids_and_pending_authorizations() {
    storage::save_registered_client(
        "http://as.example",
        &ClientRegistration { client_id: "r".into(), redirect_uri: "u".into() },
    )
    .unwrap();
    storage::save_preregistered_client("http://as.example", "p").unwrap();
    storage::save_pending(&pending("s2")).unwrap();
    assert_eq!(storage::preregistered_client("http://as.example").as_deref(), Some("p"));
    storage::forget_everything();
    assert!(storage::registered_client("http://as.example").is_none());
    assert!(storage::preregistered_client("http://as.example").is_none());
    assert!(storage::take_pending("s2").is_none());
}

#[wasm_bindgen_test]
fn nothing_token_like_is_written_to_local_storage() {
    storage::save_pending(&pending("s3")).unwrap();
    let local = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    for i in 0..local.length().unwrap() {
        let key = local.key(i).unwrap().unwrap();
        let value = local.get_item(&key).unwrap().unwrap_or_default();
        assert!(!value.contains("code_verifier") && !value.contains("eyJ"), "{key} holds {value}");
    }
    storage::take_pending("s3");
}

#[wasm_bindgen_test]
fn the_browser_rng_gives_fresh_bytes_and_pkce_matches_rfc_7636() {
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    getrandom::fill(&mut a).unwrap();
    getrandom::fill(&mut b).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
    // RFC 7636 Appendix B, computed by the wasm build.
    let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    assert_eq!(CodeChallenge::s256(&verifier).as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

/// The retry after a callback follows the call's limits, not fresh ones: it used to be allowed no
/// authorization at all; now, like the agent, it may step up for a scope not asked for yet, and
/// is stopped when the server asks again for what was just granted.
#[wasm_bindgen_test]
fn the_calls_challenge_state_survives_the_redirect() {
    let mut reaction = ChallengeReaction::new();
    reaction.on_authorized(&Scopes::parse("echo").unwrap());
    storage::save_pending(&PendingAuthorization { reaction, ..pending("s4") }).unwrap();
    let back = storage::take_pending("s4").expect("stored under its state").reaction;
    let held = Held { access_token: true, refresh_token: true, scopes: Scopes::parse("echo").unwrap() };
    let needs = |scope: &str| BearerChallenge {
        error: Some(ErrorCode::InsufficientScope),
        scope: Some(scope.into()),
        ..Default::default()
    };
    assert!(matches!(back.clone().on_response(403, Some(&needs("profile")), &held), Reaction::Authorize(_)));
    assert!(matches!(
        back.clone().on_response(403, Some(&needs("echo")), &held),
        Reaction::Fail(Failure::ScopeNotGranted { .. })
    ));
    let expired = BearerChallenge { error: Some(ErrorCode::InvalidToken), ..Default::default() };
    assert_eq!(
        back.clone().on_response(401, Some(&expired), &held),
        Reaction::Fail(Failure::StillUnauthorized)
    );
}
