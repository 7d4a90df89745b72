//! How a client reacts to a resource server's answer, without I/O: refresh, authorize, retry or
//! give up (RFC 6750 §3.1, RFC 6749 §6, MCP authorization).
//!
//! [`ChallengeReaction`] follows one *call*: a request the client means to make, and the retries
//! it takes to get it through. The client reports each answer with what it holds for the
//! resource ([`Held`]); the machine says what to do ([`Reaction`]); the client does it however it
//! does I/O (the SPA with `fetch()` and a redirect, the agent with an HTTP client and a loopback
//! listener) and reports back. Both clients drive this one machine, so they follow one policy:
//!
//! | answer | the client holds | reaction | why |
//! |---|---|---|---|
//! | anything but `401`/`403`, or a `403` other than `insufficient_scope` | — | [`Reaction::Proceed`] | no token changes it: the answer is the resource's (RFC 6750 §3.1: `403` is for `insufficient_scope` only; `400 invalid_request` is a broken request) |
//! | `401` without a Bearer challenge | — | fail ([`Failure::NoChallenge`]) | nowhere to start discovery (RFC 9728 §5.1, MCP "Authorization Server Location") |
//! | `401` after an authorization in this call | — | fail ([`Failure::StillUnauthorized`]) | the token just obtained is refused: asking again would loop (MCP "Step-Up Authorization Flow": limit retries) |
//! | `401 invalid_token`, not yet refreshed in this call | access + refresh token | [`Reaction::Refresh`] | RFC 6750 §3.1 `invalid_token`: "the client MAY request a new access token"; the refresh grant is how (RFC 6749 §6) |
//! | any other `401` | — | [`Reaction::Authorize`], scope from the challenge | MCP "Scope Selection Strategy"; without `invalid_token` the server did not judge a token (RFC 6750 §3.1: no error code when authentication is missing), so a refresh would not help |
//! | `insufficient_scope` (`403`, or `401` from servers that use it there) | — | [`Reaction::Authorize`] with the union of the token's scopes and the challenge's | RFC 6750 §3.1 `insufficient_scope`; MCP "Step-Up Authorization Flow": the union, so nothing granted is lost |
//! | `insufficient_scope` after an authorization in this call, naming nothing new | — | fail ([`Failure::ScopeNotGranted`]) | MCP: "track scope upgrade attempts to avoid repeated failures for the same resource and operation" |
//! | a further authorization beyond [`MAX_AUTHORIZATIONS`] | — | fail ([`Failure::TooManyAuthorizations`]) | MCP: retry "no more than a few times and treat this as a permanent authorization failure" |
//!
//! A refresh, whether the machine asked for it or the client made it ahead of expiry, is done at
//! most once per call: a token refreshed a moment ago and refused again is not made better by
//! another refresh, only by an authorization. The call never loops: every authorization after the
//! first must ask for a scope token not asked for before in this call, and there are at most
//! [`MAX_AUTHORIZATIONS`].

use serde::{Deserialize, Serialize};

use crate::challenge::BearerChallenge;
use crate::error::ErrorCode;
use crate::metadata::ProtectedResourceMetadata;
use crate::scope::Scopes;

/// Authorizations one call may start: the first (a `401`), and step-ups for scopes not asked for
/// yet. MCP asks for "no more than a few"; two step-ups after a login is already a server that
/// names its scopes one at a time.
pub const MAX_AUTHORIZATIONS: u8 = 3;

/// What the client holds for the resource when an answer arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// An access token was sent with the request.
    pub access_token: bool,
    /// A refresh token is held for the grant.
    pub refresh_token: bool,
    /// The scopes the access token was granted (empty if unknown or no token).
    pub scopes: Scopes,
}

impl Held {
    /// Nothing: the request went without a token.
    pub fn nothing() -> Self {
        Self::default()
    }
}

/// What the client should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    /// The answer is not a challenge to meet: hand it to the caller, success or error.
    Proceed,
    /// Refresh the access token with the refresh token (RFC 6749 §6), then report the outcome
    /// with [`ChallengeReaction::on_refresh`].
    Refresh,
    /// Authorize (discovery, then the authorization code flow), then report the scope asked for
    /// with [`ChallengeReaction::on_authorized`].
    Authorize(Authorize),
    /// Send the request again, with the token now held.
    Retry,
    /// Stop: the call cannot be authorized.
    Fail(Failure),
}

/// The authorization to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorize {
    /// The challenge that asked for it: where discovery starts, and the scope it names.
    pub challenge: BearerChallenge,
    /// The scopes of the current token, kept in a step-up (empty when a `401` starts afresh).
    pub keep: Scopes,
    /// `insufficient_scope`: the token is good but needs more scope.
    pub step_up: bool,
}

impl Authorize {
    /// The scope to ask for once the resource metadata is known (MCP "Scope Selection Strategy"):
    /// the challenge's, else all of the resource's `scopes_supported`, else none; joined with
    /// [`Authorize::keep`] for a step-up.
    pub fn scope(&self, resource: &ProtectedResourceMetadata) -> Option<String> {
        crate::discovery::requested_scope(&self.challenge, resource, &self.keep)
    }
}

/// Why a call cannot be authorized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// `401` without a readable Bearer challenge: there is no way to find the authorization server.
    #[error("the answer is 401 without a Bearer challenge (WWW-Authenticate)")]
    NoChallenge,
    /// `401` again, with the token the authorization in this call just brought.
    #[error("the request is still refused (401) with the token just obtained")]
    StillUnauthorized,
    /// `insufficient_scope` again, and the challenge names nothing this call has not asked for.
    #[error("the request still lacks scope although \"{asked}\" was just asked for")]
    ScopeNotGranted { asked: Scopes },
    /// The call has started [`MAX_AUTHORIZATIONS`] authorizations.
    #[error("{MAX_AUTHORIZATIONS} authorizations for one request and it is still refused")]
    TooManyAuthorizations,
}

/// The reaction state of one call. Serializable, so a client that leaves the page for the
/// authorization server (the SPA) carries it across the redirect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChallengeReaction {
    refreshed: bool,
    authorizations: u8,
    /// Every scope token an authorization of this call asked for.
    asked: Scopes,
    /// The authorization to start if the refresh asked for fails.
    #[serde(skip)]
    after_refresh: Option<Authorize>,
}

impl ChallengeReaction {
    /// A new call: nothing refreshed, nothing authorized yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Authorizations this call has started.
    pub fn authorizations(&self) -> u8 {
        self.authorizations
    }

    /// Has this call refreshed the access token already?
    pub fn refreshed(&self) -> bool {
        self.refreshed
    }

    /// The client refreshed the token before sending, because it was about to expire. That is
    /// this call's one refresh.
    pub fn refreshed_ahead(&mut self) {
        self.refreshed = true;
    }

    /// The answer to the request: its status, its Bearer challenge if it has a readable one, and
    /// what the client holds for the resource (what it sent).
    pub fn on_response(&mut self, status: u16, challenge: Option<&BearerChallenge>, held: &Held) -> Reaction {
        self.after_refresh = None;
        let insufficient_scope =
            challenge.is_some_and(|c| c.error.as_ref() == Some(&ErrorCode::InsufficientScope));
        match status {
            401 | 403 if insufficient_scope => {
                // `insufficient_scope` is only ever read from a challenge, so there is one.
                let Some(challenge) = challenge else { return Reaction::Proceed };
                self.step_up(challenge, held)
            }
            401 => {
                let Some(challenge) = challenge else { return Reaction::Fail(Failure::NoChallenge) };
                if self.authorizations > 0 {
                    return Reaction::Fail(Failure::StillUnauthorized);
                }
                let authorize =
                    Authorize { challenge: challenge.clone(), keep: Scopes::default(), step_up: false };
                let invalid_token = challenge.error.as_ref() == Some(&ErrorCode::InvalidToken);
                if invalid_token && held.access_token && held.refresh_token && !self.refreshed {
                    self.after_refresh = Some(authorize);
                    return Reaction::Refresh;
                }
                Reaction::Authorize(authorize)
            }
            _ => Reaction::Proceed,
        }
    }

    fn step_up(&mut self, challenge: &BearerChallenge, held: &Held) -> Reaction {
        let keep = if held.access_token { held.scopes.clone() } else { Scopes::default() };
        if self.authorizations > 0 {
            // After an authorization, only a scope not asked for yet is worth another one; a
            // challenge without a scope says nothing new.
            let named = challenge.scopes().unwrap_or_default();
            if named.is_empty() || self.asked.is_superset(&named) {
                return Reaction::Fail(Failure::ScopeNotGranted { asked: self.asked.clone() });
            }
        }
        if self.authorizations >= MAX_AUTHORIZATIONS {
            return Reaction::Fail(Failure::TooManyAuthorizations);
        }
        Reaction::Authorize(Authorize { challenge: challenge.clone(), keep, step_up: true })
    }

    /// The outcome of the refresh [`Reaction::Refresh`] asked for: retry with the new token, or,
    /// if the refresh token was refused or the token endpoint failed, authorize.
    pub fn on_refresh(&mut self, refreshed: bool) -> Reaction {
        self.refreshed = true;
        match (refreshed, self.after_refresh.take()) {
            (true, _) => Reaction::Retry,
            (false, Some(authorize)) => Reaction::Authorize(authorize),
            // No refresh was asked for: nothing to fall back on.
            (false, None) => Reaction::Fail(Failure::StillUnauthorized),
        }
    }

    /// An authorization finished, asking for `requested` (its `scope` parameter, empty when none
    /// was sent): retry with the token it brought.
    pub fn on_authorized(&mut self, requested: &Scopes) -> Reaction {
        self.authorizations = self.authorizations.saturating_add(1);
        self.asked = self.asked.union(requested);
        Reaction::Retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(error: Option<&str>, scope: Option<&str>) -> BearerChallenge {
        BearerChallenge {
            resource_metadata: Some("https://mcp.example.com/.well-known/oauth-protected-resource".into()),
            scope: scope.map(str::to_owned),
            error: error.map(ErrorCode::parse),
            ..Default::default()
        }
    }

    fn scopes(s: &str) -> Scopes {
        Scopes::parse(s).unwrap()
    }

    /// The three holdings a client can be in.
    fn holdings() -> [(&'static str, Held); 3] {
        [
            ("no token", Held::nothing()),
            ("access only", Held { access_token: true, refresh_token: false, scopes: scopes("echo") }),
            ("access and refresh", Held { access_token: true, refresh_token: true, scopes: scopes("echo") }),
        ]
    }

    /// The histories a call can have before an answer arrives.
    fn histories() -> [(&'static str, ChallengeReaction); 4] {
        let mut refreshed = ChallengeReaction::new();
        refreshed.refreshed_ahead();
        let mut authorized = ChallengeReaction::new();
        authorized.on_authorized(&scopes("echo"));
        let mut both = refreshed.clone();
        both.on_authorized(&scopes("echo"));
        [
            ("fresh", ChallengeReaction::new()),
            ("refreshed", refreshed),
            ("authorized", authorized),
            ("both", both),
        ]
    }

    fn authorize(reaction: Reaction) -> Authorize {
        match reaction {
            Reaction::Authorize(authorize) => authorize,
            other => panic!("expected an authorization, got {other:?}"),
        }
    }

    #[test]
    fn answers_that_are_not_challenges_are_handed_to_the_caller_whatever_the_client_holds() {
        let answers: Vec<(u16, Option<BearerChallenge>)> = vec![
            (200, None),
            (200, Some(challenge(Some("invalid_token"), None))),
            (202, None),
            (400, None),
            (400, Some(challenge(Some("invalid_request"), None))),
            (403, None),
            (403, Some(challenge(None, Some("echo")))),
            (403, Some(challenge(Some("invalid_token"), None))),
            (404, None),
            (500, Some(challenge(Some("invalid_token"), None))),
        ];
        for (status, challenge) in &answers {
            for (held_name, held) in holdings() {
                for (history, mut call) in histories() {
                    assert_eq!(
                        call.on_response(*status, challenge.as_ref(), &held),
                        Reaction::Proceed,
                        "{status} {challenge:?} holding {held_name} after {history}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_401_without_a_bearer_challenge_fails_whatever_the_client_holds() {
        for (held_name, held) in holdings() {
            for (history, mut call) in histories() {
                assert_eq!(
                    call.on_response(401, None, &held),
                    Reaction::Fail(Failure::NoChallenge),
                    "holding {held_name} after {history}"
                );
            }
        }
    }

    #[test]
    fn invalid_token_is_refreshed_once_when_a_refresh_token_is_held() {
        let expired = challenge(Some("invalid_token"), Some("echo"));
        let (_, both_tokens) = holdings()[2].clone();
        let mut call = ChallengeReaction::new();
        assert_eq!(call.on_response(401, Some(&expired), &both_tokens), Reaction::Refresh);
        assert_eq!(call.on_refresh(true), Reaction::Retry);
        // The fresh token is refused too: authorize, do not refresh again.
        let again = authorize(call.on_response(401, Some(&expired), &both_tokens));
        assert!(!again.step_up);
        assert!(again.keep.is_empty(), "a 401 starts afresh");
        assert_eq!(call.on_authorized(&scopes("echo")), Reaction::Retry);
        assert_eq!(
            call.on_response(401, Some(&expired), &both_tokens),
            Reaction::Fail(Failure::StillUnauthorized)
        );
    }

    #[test]
    fn a_refused_refresh_falls_back_to_an_authorization_for_the_same_challenge() {
        let expired = challenge(Some("invalid_token"), Some("echo"));
        let (_, both_tokens) = holdings()[2].clone();
        let mut call = ChallengeReaction::new();
        assert_eq!(call.on_response(401, Some(&expired), &both_tokens), Reaction::Refresh);
        let authorize = authorize(call.on_refresh(false));
        assert_eq!(authorize.challenge, expired);
        assert!(call.refreshed());
    }

    #[test]
    fn a_401_is_met_by_refresh_or_authorization_by_error_code_token_and_history() {
        // (error code, holding index) -> refresh? for a fresh call; everything else authorizes.
        let errors = [None, Some("invalid_token"), Some("invalid_request"), Some("some_extension")];
        for error in errors {
            for (index, (held_name, held)) in holdings().into_iter().enumerate() {
                for (history, mut call) in histories() {
                    let refused = challenge(error, Some("echo"));
                    let reaction = call.on_response(401, Some(&refused), &held);
                    let context = format!("401 {error:?} holding {held_name} after {history}");
                    if call.authorizations() > 0 {
                        assert_eq!(reaction, Reaction::Fail(Failure::StillUnauthorized), "{context}");
                    } else if error == Some("invalid_token") && index == 2 && history == "fresh" {
                        assert_eq!(reaction, Reaction::Refresh, "{context}");
                    } else {
                        let authorize = authorize(reaction);
                        assert_eq!(authorize.challenge, refused, "{context}");
                        assert!(authorize.keep.is_empty() && !authorize.step_up, "{context}");
                    }
                }
            }
        }
    }

    #[test]
    fn insufficient_scope_steps_up_with_the_union_of_the_token_and_the_challenge() {
        for status in [403, 401] {
            for (held_name, held) in holdings() {
                let mut call = ChallengeReaction::new();
                let needs = challenge(Some("insufficient_scope"), Some("profile"));
                let authorize = authorize(call.on_response(status, Some(&needs), &held));
                assert!(authorize.step_up, "{status} holding {held_name}");
                let resource = ProtectedResourceMetadata::default();
                let expected = if held.access_token { "echo profile" } else { "profile" };
                assert_eq!(
                    authorize.scope(&resource).as_deref(),
                    Some(expected),
                    "{status} holding {held_name}"
                );
            }
        }
    }

    #[test]
    fn without_a_scope_in_the_challenge_the_resource_metadata_decides() {
        let mut call = ChallengeReaction::new();
        let (_, held) = holdings()[1].clone();
        let bare = challenge(Some("insufficient_scope"), None);
        let authorize = authorize(call.on_response(403, Some(&bare), &held));
        let resource = ProtectedResourceMetadata {
            scopes_supported: Some(vec!["echo".into(), "profile".into(), "admin".into()]),
            ..Default::default()
        };
        assert_eq!(authorize.scope(&resource).as_deref(), Some("admin echo profile"));
        let first = authorize_for_401();
        assert_eq!(first.scope(&ProtectedResourceMetadata::default()), None, "no scope anywhere: none sent");
    }

    fn authorize_for_401() -> Authorize {
        authorize(ChallengeReaction::new().on_response(401, Some(&challenge(None, None)), &Held::nothing()))
    }

    #[test]
    fn after_an_authorization_only_a_scope_not_asked_for_yet_is_worth_another() {
        let (_, held) = holdings()[2].clone();
        let mut call = ChallengeReaction::new();
        // A 401 logs in for "echo" ...
        authorize(call.on_response(401, Some(&challenge(None, Some("echo"))), &Held::nothing()));
        call.on_authorized(&scopes("echo"));
        // ... the same request then needs "profile": a step-up is fine ...
        let profile = challenge(Some("insufficient_scope"), Some("profile"));
        authorize(call.on_response(403, Some(&profile), &held));
        call.on_authorized(&scopes("echo profile"));
        // ... but asking for "profile" again would not help.
        assert_eq!(
            call.on_response(403, Some(&profile), &held),
            Reaction::Fail(Failure::ScopeNotGranted { asked: scopes("echo profile") })
        );
        // Nor would a challenge that names no scope at all.
        let unnamed = challenge(Some("insufficient_scope"), None);
        assert!(matches!(
            call.on_response(403, Some(&unnamed), &held),
            Reaction::Fail(Failure::ScopeNotGranted { .. })
        ));
    }

    #[test]
    fn a_server_naming_new_scopes_forever_is_stopped_after_a_few_authorizations() {
        let (_, held) = holdings()[2].clone();
        let mut call = ChallengeReaction::new();
        for round in 0..MAX_AUTHORIZATIONS {
            let needs = challenge(Some("insufficient_scope"), Some(&format!("s{round}")));
            authorize(call.on_response(403, Some(&needs), &held));
            assert_eq!(call.on_authorized(&scopes(&format!("s{round}"))), Reaction::Retry);
        }
        let more = challenge(Some("insufficient_scope"), Some("another"));
        assert_eq!(call.on_response(403, Some(&more), &held), Reaction::Fail(Failure::TooManyAuthorizations));
    }

    #[test]
    fn a_refresh_ahead_of_expiry_is_the_calls_one_refresh() {
        let (_, held) = holdings()[2].clone();
        let mut call = ChallengeReaction::new();
        call.refreshed_ahead();
        let expired = challenge(Some("invalid_token"), None);
        authorize(call.on_response(401, Some(&expired), &held));
    }

    #[test]
    fn the_state_survives_a_redirect() {
        let mut call = ChallengeReaction::new();
        call.refreshed_ahead();
        call.on_authorized(&scopes("echo"));
        let carried: ChallengeReaction =
            serde_json::from_str(&serde_json::to_string(&call).unwrap()).unwrap();
        assert_eq!(carried, call);
        assert_eq!(
            carried.clone().on_response(401, Some(&challenge(Some("invalid_token"), None)), &holdings()[2].1),
            Reaction::Fail(Failure::StillUnauthorized)
        );
    }
}
