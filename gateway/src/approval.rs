//! Consent automation's last resort: asking the person (issue 13, "Consent automation").
//!
//! When a permitting policy carries `@consent(…)`, the call needs a person's approval. The gateway
//! asks the authorization server to start one (`POST /bc-authorize`, CIBA poll mode, the call
//! described as an RFC 9396 `mcp_tool_call` with the arguments' SHA-256) and at once polls for the
//! answer: a **standing approval** the person gave earlier answers immediately, and the call goes
//! through without asking anyone. Otherwise the request waits for the person at the AS's
//! `/approvals` page, and the client is told where that is; when it calls again with the same
//! arguments, the gateway polls again (never faster than the AS allows) and, once approved, gets
//! a token **bound to that one call**, which it spends on that call and never caches. A retry with
//! other arguments is another call and another request. The person's answer cannot come from the
//! agent: it needs the person's own session at the AS.
//!
//! Pending requests are kept per (user, client, tool, arguments' digest, and what the policy's
//! `@consent` asks) in this process; they are bounded, and the AS forgets them when they expire. A call retried on another replica, or
//! after a restart, finds none here and asks the AS again, which gives it the request that waits
//! for the same call (the same `auth_req_id`): the person is asked once, and the request has the
//! same id everywhere ([`approval_id_of`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use protocol::authorization_details::{AuthorizationDetail, ToolCall};
use protocol::error::ErrorCode;
use protocol::scope::Scopes;
use protocol::secret::{AccessToken, AuthReqId};
use protocol::token::{
    BackchannelAuthenticationRequest, BackchannelAuthenticationResponse, CibaTokenRequest, TokenResponse,
};

use crate::as_client::{AsClient, AsError};
use serve::turns::Turns;

/// At most this many approvals wait at once in this gateway; past it, expired ones go first,
/// then the oldest.
pub const MAX_PENDING: usize = 10_000;
/// CIBA Core §7.3: without `interval`, poll every 5 seconds.
const DEFAULT_INTERVAL: i64 = 5;
/// CIBA Core §11: `slow_down` adds 5 seconds to the interval.
const SLOW_DOWN_STEP: i64 = 5;
/// The longest interval between polls, whatever the AS asks: the client is told to retry after
/// it, so an absurd `interval` must not become "never", nor overflow the time of the next poll.
pub const MAX_INTERVAL: i64 = 300;

/// The call that needs approval.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallKey {
    pub user: String,
    pub client_id: String,
    /// The gateway's name of the tool.
    pub tool: String,
    pub arguments_sha256: String,
}

/// What a waiting request is kept under: the call, and what the policy asked of its approval. A
/// request started under another `@consent` (say `PT1H`, which a standing approval answers) is
/// not this one's, even for the same call: after the policy changes to `once`, polling it could
/// collect a token the new policy forbids. The AS tells such requests apart in the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Asked {
    call: CallKey,
    every_time: bool,
    max_age: Option<std::time::Duration>,
}

impl Asked {
    fn of(call: CallKey, request: &Request<'_>) -> Self {
        Self { call, every_time: request.every_time, max_age: request.max_age }
    }
}

/// What the person has said about a call.
#[derive(Debug)]
pub enum Answer {
    /// Approved: a token for this call alone. Spend it once.
    Approved {
        token: AccessToken,
        approval_id: String,
    },
    /// Still waiting for the person.
    Waiting {
        approval_id: String,
        url: String,
        retry_after: i64,
    },
    Denied {
        approval_id: String,
    },
    Expired {
        approval_id: String,
    },
    /// Declined at the client (a 2026-07-28 retry answered the approval's elicitation `decline`
    /// or `cancel`): forgotten here and withdrawn at the AS; the call ends.
    Declined {
        approval_id: String,
    },
}

struct Pending {
    auth_req_id: AuthReqId,
    /// Our own handle for the request, shown to the client and in the audit log (never the
    /// `auth_req_id`, which is a credential for collecting the token).
    approval_id: String,
    expires_at: i64,
    interval: i64,
    next_poll_at: i64,
}

/// The approvals this gateway waits for.
pub struct Approvals {
    client: Arc<AsClient>,
    bc_endpoint: String,
    token_endpoint: String,
    /// Where a declined request is withdrawn (its `auth_req_id` revoked), if the AS has one.
    revocation_endpoint: Option<String>,
    /// Where the person answers: the AS's approvals page.
    page: String,
    requested_expiry: u64,
    pending: Mutex<HashMap<Asked, Pending>>,
    /// One turn at a time per call: two identical calls at once (an agent retrying, parallel tool
    /// calls) wait for one approval, instead of each starting a request the person sees twice.
    turns: Turns<CallKey>,
}

/// What the AS is asked to approve.
pub struct Request<'a> {
    pub subject: &'a AccessToken,
    pub user: &'a str,
    pub detail: AuthorizationDetail,
    pub scope: Option<&'a Scopes>,
    pub binding_message: String,
    /// The policy wants this very call approved by hand (`@consent("once")`): a standing
    /// approval the person gave earlier does not answer it (`prompt=consent`).
    pub every_time: bool,
    /// How old a standing approval may be and still answer (`@consent("PT1H")`).
    pub max_age: Option<std::time::Duration>,
}

impl Approvals {
    pub fn new(
        client: Arc<AsClient>,
        bc_endpoint: String,
        token_endpoint: String,
        revocation_endpoint: Option<String>,
        page: String,
        requested_expiry: u64,
    ) -> Self {
        Self {
            client,
            bc_endpoint,
            token_endpoint,
            revocation_endpoint,
            page,
            requested_expiry,
            pending: Mutex::default(),
            turns: Turns::default(),
        }
    }

    /// How many keys have calls in progress (tests: none linger).
    #[cfg(test)]
    fn turns_in_progress(&self) -> usize {
        self.turns.in_use()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Asked, Pending>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where the call stands: asks the AS to start an approval if none is pending for it, and
    /// polls when the AS's interval allows. Identical calls take turns (see `turns`). `declined`:
    /// the approval ids this retry of the call answered `decline` or `cancel` (2026-07-28); if
    /// the call waits for one of them, it ends there, before any poll could collect an approval
    /// given at the AS meanwhile. That holds for the approval another replica asked for too,
    /// which the AS gives this one again when it asks (the same `auth_req_id`, so the same id).
    pub async fn ask(
        &self,
        key: CallKey,
        request: Request<'_>,
        declined: &[&str],
        now: i64,
    ) -> Result<Answer, AsError> {
        ToolCall::check(&request.detail).map_err(AsError::Unavailable)?;
        let asked = Asked::of(key, &request);
        let turn = self.turns.join(&asked.call);
        let _mine = turn.wait().await;
        if let Some(approval_id) = self.decline(&asked, declined, now).await {
            return Ok(Answer::Declined { approval_id });
        }
        self.ask_in_turn(&asked, request, declined, now).await
    }

    async fn ask_in_turn(
        &self,
        key: &Asked,
        request: Request<'_>,
        declined: &[&str],
        now: i64,
    ) -> Result<Answer, AsError> {
        enum Next {
            Start,
            Poll,
            Wait(Answer),
        }
        let next = {
            let mut pending = self.lock();
            match pending.get(key) {
                None => Next::Start,
                Some(p) if p.expires_at <= now => {
                    pending.remove(key);
                    Next::Start
                }
                // Polling before the interval is up would earn a `slow_down`.
                Some(p) if p.next_poll_at > now => Next::Wait(Answer::Waiting {
                    approval_id: p.approval_id.clone(),
                    url: self.page.clone(),
                    retry_after: p.next_poll_at.saturating_sub(now),
                }),
                Some(_) => Next::Poll,
            }
        };
        match next {
            Next::Wait(answer) => Ok(answer),
            Next::Poll => match self.poll(key, now).await? {
                Polled::Answer(answer) => Ok(answer),
                // Its token was collected by another replica of this gateway (where the call it
                // was asked for went through), or the AS forgot it: this call asks anew.
                Polled::Spent { .. } => self.start_and_poll(key, request, declined, now).await,
            },
            Next::Start => self.start_and_poll(key, request, declined, now).await,
        }
    }

    async fn start_and_poll(
        &self,
        key: &Asked,
        request: Request<'_>,
        declined: &[&str],
        now: i64,
    ) -> Result<Answer, AsError> {
        self.start(key, request, now).await?;
        // The AS gives the request that waits for the same call, if one does: perhaps the very
        // one this retry declined, asked for by another replica.
        if let Some(approval_id) = self.decline(key, declined, now).await {
            return Ok(Answer::Declined { approval_id });
        }
        match self.poll(key, now).await? {
            Polled::Answer(answer) => Ok(answer),
            Polled::Spent { approval_id } => Ok(Answer::Expired { approval_id }),
        }
    }

    async fn start(&self, key: &Asked, request: Request<'_>, now: i64) -> Result<(), AsError> {
        let details =
            serde_json::to_string(&[&request.detail]).map_err(|e| AsError::Unavailable(e.to_string()))?;
        let form = BackchannelAuthenticationRequest {
            login_hint: request.user.to_owned(),
            subject_token: request.subject.clone(),
            authorization_details: details,
            binding_message: Some(request.binding_message),
            requested_expiry: Some(self.requested_expiry),
            scope: request.scope.map(ToString::to_string),
            prompt: request.every_time.then(|| "consent".to_owned()),
            approval_max_age: request.max_age.map(|age| age.as_secs()),
        };
        let answer: BackchannelAuthenticationResponse =
            self.client.post(&self.bc_endpoint, &form, now).await?;
        let interval = answer.interval.map_or(DEFAULT_INTERVAL, |i| i64::try_from(i).unwrap_or(MAX_INTERVAL));
        if interval > MAX_INTERVAL {
            // Polls this far apart would leave the call waiting longer than any client does; an
            // AS that insists answers `slow_down`, and the call keeps waiting until it expires.
            tracing::warn!(interval, max = MAX_INTERVAL, "the AS's poll interval for approvals is capped");
        }
        let interval = interval.min(MAX_INTERVAL);
        let expires_in = i64::try_from(answer.expires_in).unwrap_or(i64::MAX / 2);
        let mut pending = self.lock();
        if pending.len() >= MAX_PENDING {
            pending.retain(|_, p| p.expires_at > now);
            if pending.len() >= MAX_PENDING
                && let Some(oldest) = pending.iter().min_by_key(|(_, p)| p.expires_at).map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            key.clone(),
            Pending {
                approval_id: approval_id_of(&answer.auth_req_id),
                auth_req_id: answer.auth_req_id,
                expires_at: now.saturating_add(expires_in),
                interval,
                next_poll_at: now,
            },
        );
        Ok(())
    }

    /// The person declined at the client (`declined`: the approval ids a 2026-07-28 retry
    /// answered `decline` or `cancel`) the approval `key` waits for: it is forgotten here, so
    /// that approving it at the AS later lets nothing through (the next identical call asks
    /// again), and withdrawn at the AS (its `auth_req_id` revoked, RFC 7009), so that the
    /// person's page stops offering it; best effort there (an AS without a revocation endpoint,
    /// or one that fails: the request expires on its own). The declined approval's id, if it was
    /// this call's. Called in the call's turn, so that no identical call is polling meanwhile.
    async fn decline(&self, key: &Asked, declined: &[&str], now: i64) -> Option<String> {
        if declined.is_empty() {
            return None;
        }
        let declined = {
            let mut pending = self.lock();
            match pending.get(key) {
                Some(p) if declined.contains(&p.approval_id.as_str()) => pending.remove(key)?,
                _ => return None,
            }
        };
        if let Some(endpoint) = &self.revocation_endpoint {
            let form = [("token", declined.auth_req_id.secret())];
            if let Err(error) = self.client.post::<_, ()>(endpoint, &form, now).await {
                let approval_id = declined.approval_id.as_str();
                tracing::warn!(%error, approval_id, "a declined approval could not be withdrawn at the AS; it expires there");
            }
        }
        Some(declined.approval_id)
    }

    /// Polls the token endpoint once for the pending request of `key`.
    async fn poll(&self, key: &Asked, now: i64) -> Result<Polled, AsError> {
        let Some((auth_req_id, approval_id)) =
            self.lock().get(key).map(|p| (p.auth_req_id.clone(), p.approval_id.clone()))
        else {
            return Err(AsError::Unavailable("the approval request vanished".into()));
        };
        let result: Result<TokenResponse, AsError> =
            self.client.post(&self.token_endpoint, &CibaTokenRequest::new(auth_req_id), now).await;
        let mut pending = self.lock();
        match result {
            Ok(answer) => {
                pending.remove(key);
                Ok(Polled::Answer(Answer::Approved { token: answer.access_token, approval_id }))
            }
            Err(AsError::Refused(error)) => match error.error {
                ErrorCode::AuthorizationPending | ErrorCode::SlowDown => {
                    let slow = error.error == ErrorCode::SlowDown;
                    let Some(p) = pending.get_mut(key) else {
                        return Ok(Polled::Answer(Answer::Expired { approval_id }));
                    };
                    if slow {
                        p.interval = p.interval.saturating_add(SLOW_DOWN_STEP).min(MAX_INTERVAL);
                    }
                    p.next_poll_at = now.saturating_add(p.interval);
                    let retry_after = p.interval;
                    Ok(Polled::Answer(Answer::Waiting { approval_id, url: self.page.clone(), retry_after }))
                }
                ErrorCode::AccessDenied => {
                    pending.remove(key);
                    Ok(Polled::Answer(Answer::Denied { approval_id }))
                }
                // Expired, or withdrawn (declined at the client, through another replica too).
                ErrorCode::ExpiredToken => {
                    pending.remove(key);
                    Ok(Polled::Answer(Answer::Expired { approval_id }))
                }
                // Its token was issued already, or the AS no longer knows the request.
                ErrorCode::InvalidGrant => {
                    pending.remove(key);
                    Ok(Polled::Spent { approval_id })
                }
                _ => {
                    pending.remove(key);
                    Err(AsError::Refused(error))
                }
            },
            Err(unavailable) => Err(unavailable),
        }
    }
}

/// What one poll found.
enum Polled {
    /// An answer for the client.
    Answer(Answer),
    /// The request yields nothing more (`invalid_grant`): its token was collected, or the AS
    /// forgot it.
    Spent { approval_id: String },
}

/// Our handle for the request `auth_req_id`, shown to the client and in the audit log: 128 bits
/// of its SHA-256, so that it says nothing of the `auth_req_id` (a credential for collecting the
/// token), yet names the request alike in every replica of this gateway and after a restart (the
/// AS gives a client asking again for a call that waits the same `auth_req_id`), so that a
/// client's `decline` of it is understood wherever its retry lands.
fn approval_id_of(auth_req_id: &AuthReqId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"mcp-gateway approval id\0")
        .chain_update(auth_req_id.secret().as_bytes())
        .finalize();
    protocol::base64url(&digest[..16])
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use serde_json::json;

    use super::*;
    use crate::as_client::ClientCredentials;
    use protocol::authorization_details::{MCP_TOOL_CALL, TOOLS_CALL};
    use protocol::secret::ClientSecret;

    /// An AS that accepts connections and never answers: a call waits there until dropped.
    async fn silent_as() -> (String, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (format!("http://{}", listener.local_addr().unwrap()), listener)
    }

    /// What a scripted AS answers, and what it was asked.
    #[derive(Default)]
    struct Script {
        /// `/bc-authorize` hands these out in turn.
        handles: Mutex<VecDeque<&'static str>>,
        /// `/token` answers these OAuth errors in turn (`unavailable`: a bare 503), then
        /// `authorization_pending`.
        polls: Mutex<VecDeque<&'static str>>,
        /// The `interval` `/bc-authorize` answers.
        interval: u64,
        started: AtomicUsize,
        polled: AtomicUsize,
        /// The forms `/revoke` was sent.
        revoked: Mutex<Vec<String>>,
    }

    /// An AS that answers as `script` says (client authentication unchecked).
    async fn scripted_as(handles: &[&'static str], polls: &[&'static str]) -> (String, Arc<Script>) {
        scripted_as_with_interval(1, handles, polls).await
    }

    async fn scripted_as_with_interval(
        interval: u64,
        handles: &[&'static str],
        polls: &[&'static str],
    ) -> (String, Arc<Script>) {
        let script = Arc::new(Script {
            handles: Mutex::new(handles.iter().copied().collect()),
            polls: Mutex::new(polls.iter().copied().collect()),
            interval,
            ..Script::default()
        });
        let start = |State(script): State<Arc<Script>>| async move {
            script.started.fetch_add(1, Ordering::SeqCst);
            let handle = script.handles.lock().unwrap().pop_front().unwrap_or("spare");
            axum::Json(json!({"auth_req_id": handle, "expires_in": 300, "interval": script.interval}))
        };
        let token = |State(script): State<Arc<Script>>| async move {
            script.polled.fetch_add(1, Ordering::SeqCst);
            let error = script.polls.lock().unwrap().pop_front().unwrap_or("authorization_pending");
            let status = if error == "unavailable" {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, axum::Json(json!({"error": error})))
        };
        let revoke = |State(script): State<Arc<Script>>, form: String| async move {
            script.revoked.lock().unwrap().push(form);
            StatusCode::OK
        };
        let app = axum::Router::new()
            .route("/bc-authorize", post(start))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, script)
    }

    fn approvals_at(base: &str) -> Approvals {
        let client = Arc::new(AsClient::new(ClientCredentials::Secret {
            client_id: "gateway".into(),
            secret: ClientSecret::new("s"),
        }));
        Approvals::new(
            client,
            format!("{base}/bc-authorize"),
            format!("{base}/token"),
            Some(format!("{base}/revoke")),
            format!("{base}/approvals"),
            300,
        )
    }

    fn key() -> CallKey {
        CallKey {
            user: "alice".into(),
            client_id: "spa".into(),
            tool: "demo__delete_note".into(),
            arguments_sha256: "0".repeat(64),
        }
    }

    fn request(subject: &AccessToken) -> Request<'_> {
        Request {
            subject,
            user: "alice",
            detail: AuthorizationDetail {
                type_: MCP_TOOL_CALL.into(),
                locations: vec!["http://localhost:9090".into()],
                actions: vec![TOOLS_CALL.into()],
                identifier: Some("delete_note".into()),
                arguments_sha256: Some("0".repeat(64)),
                arguments_summary: None,
            },
            scope: None,
            binding_message: "spa wants to call demo__delete_note".into(),
            every_time: true,
            max_age: None,
        }
    }

    fn id_of(handle: &str) -> String {
        approval_id_of(&AuthReqId::new(handle))
    }

    #[test]
    fn an_approval_id_names_one_request_alike_everywhere_and_hides_its_handle() {
        let id = id_of("a-handle-the-as-gave");
        assert_eq!(id, id_of("a-handle-the-as-gave"));
        assert_eq!(id.len(), 22, "128 bits, base64url");
        assert!(!id.contains("handle"));
        assert_ne!(id, id_of("another-handle"));
    }

    #[tokio::test]
    async fn calls_dropped_while_waiting_leave_no_turn_behind() {
        let (base, _listener) = silent_as().await;
        let approvals = approvals_at(&base);
        let subject = AccessToken::new("t");
        // Two identical calls: one waits at the AS, the other for its turn; both are dropped.
        let waiting = async {
            tokio::join!(
                approvals.ask(key(), request(&subject), &[], 0),
                approvals.ask(key(), request(&subject), &[], 0)
            )
        };
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(200), waiting).await;
        assert!(timed_out.is_err(), "the silent AS answered");
        assert_eq!(approvals.turns_in_progress(), 0, "nothing lingers after the calls went away");
    }

    /// Another replica's call collected the token of the request this one waits for: its next
    /// poll hears `invalid_grant`, and the call in hand asks anew rather than saying "expired".
    #[tokio::test]
    async fn a_request_whose_token_was_collected_elsewhere_is_asked_anew() {
        let (base, script) =
            scripted_as(&["first", "second"], &["authorization_pending", "invalid_grant"]).await;
        let approvals = approvals_at(&base);
        let subject = AccessToken::new("t");
        let waiting = approvals.ask(key(), request(&subject), &[], 0).await.unwrap();
        assert!(matches!(waiting, Answer::Waiting { ref approval_id, .. } if *approval_id == id_of("first")));
        let anew = approvals.ask(key(), request(&subject), &[], 5).await.unwrap();
        assert!(
            matches!(anew, Answer::Waiting { ref approval_id, .. } if *approval_id == id_of("second")),
            "{anew:?}"
        );
        assert_eq!((script.started.load(Ordering::SeqCst), script.polled.load(Ordering::SeqCst)), (2, 3));

        // Right after a start the same answer means the AS gave a request nothing can be collected
        // from: that is the end of this call (no second start within one call).
        let (base, script) = scripted_as(&["gone"], &["invalid_grant"]).await;
        let approvals = approvals_at(&base);
        let expired = approvals.ask(key(), request(&subject), &[], 0).await.unwrap();
        assert!(matches!(expired, Answer::Expired { ref approval_id } if *approval_id == id_of("gone")));
        assert_eq!(script.started.load(Ordering::SeqCst), 1);
    }

    /// The AS gives this replica the request another one asked for, which the client's retry
    /// declined: the call ends before any poll (an approval given meanwhile is not collected),
    /// and the request is withdrawn at the AS.
    #[tokio::test]
    async fn a_decline_of_the_request_the_as_gives_again_ends_the_call_before_any_poll() {
        let (base, script) = scripted_as(&["asked-elsewhere"], &[]).await;
        let approvals = approvals_at(&base);
        let subject = AccessToken::new("t");
        let declined = id_of("asked-elsewhere");
        let answer = approvals.ask(key(), request(&subject), &[declined.as_str()], 0).await.unwrap();
        assert!(
            matches!(answer, Answer::Declined { ref approval_id } if *approval_id == declined),
            "{answer:?}"
        );
        assert_eq!(script.polled.load(Ordering::SeqCst), 0, "never polled");
        assert_eq!(*script.revoked.lock().unwrap(), ["token=asked-elsewhere"]);
        assert_eq!(approvals.turns_in_progress(), 0);
    }

    /// An AS answering `interval: i64::MAX` once overflowed the time of the next poll (a panic in
    /// a debug build; in release a wrapped time), and `slow_down` added to it once more.
    #[tokio::test]
    async fn an_absurd_poll_interval_is_capped_and_never_overflows() {
        let (base, script) =
            scripted_as_with_interval(9_223_372_036_854_775_807, &["slow"], &["slow_down"]).await;
        let approvals = approvals_at(&base);
        let subject = AccessToken::new("t");
        let now = 1_700_000_000;
        let answer = approvals.ask(key(), request(&subject), &[], now).await.unwrap();
        assert!(matches!(answer, Answer::Waiting { retry_after: MAX_INTERVAL, .. }), "{answer:?}");
        let answer = approvals.ask(key(), request(&subject), &[], now + MAX_INTERVAL).await.unwrap();
        assert!(matches!(answer, Answer::Waiting { retry_after: MAX_INTERVAL, .. }), "{answer:?}");
        assert_eq!(script.polled.load(Ordering::SeqCst), 2, "polled again once the capped interval passed");
    }

    /// Under `@consent("PT1H")` a request is started (a standing approval would answer it) but its
    /// first poll fails; the policy becomes `@consent("once")`. The next identical call must not
    /// poll the old request, which could hand it a token the new policy forbids: it asks anew.
    #[tokio::test]
    async fn a_request_started_under_another_consent_is_not_polled_for_this_one() {
        let (base, script) = scripted_as(&["under-pt1h", "under-once"], &["unavailable"]).await;
        let approvals = approvals_at(&base);
        let subject = AccessToken::new("t");
        let hour = Some(std::time::Duration::from_secs(3600));
        let timed = Request { every_time: false, max_age: hour, ..request(&subject) };
        let failed = approvals.ask(key(), timed, &[], 0).await;
        assert!(matches!(failed, Err(AsError::Unavailable(_))), "{failed:?}");
        let answer = approvals.ask(key(), request(&subject), &[], 5).await.unwrap();
        assert!(
            matches!(answer, Answer::Waiting { ref approval_id, .. } if *approval_id == id_of("under-once")),
            "{answer:?}"
        );
        assert_eq!((script.started.load(Ordering::SeqCst), script.polled.load(Ordering::SeqCst)), (2, 2));
    }
}
