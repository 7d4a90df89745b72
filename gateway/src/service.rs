//! What the gateway does with a tool call and a tool listing, apart from HTTP: the decision
//! pipeline, in the order a call meets it.
//!
//! 1. The tool must be in the catalog and still offered by its upstream (same input schema).
//! 2. The policy decides (any evaluation error denies), seeing the scopes the call will have. A
//!    denied tool looks exactly like an unknown one.
//! 3. A 2026-07-28 request's `Mcp-Param-*` headers must mirror the arguments (else `-32020`), and
//!    the client's token must carry the tool's scopes (else step-up: `403 insufficient_scope`);
//!    both checked after the policy, so that neither answer tells a tool the caller may not use
//!    exists.
//! 4. A `@consent` obligation asks the authorization server for an approval, which a standing
//!    approval answers at once; otherwise the person is asked ([`crate::approval`]).
//! 5. The call goes to the upstream with a hop token for that upstream (cached) or with the token
//!    bound to the approved call (used once). Never with the client's token.
//!
//! Every call ends in one audit record ([`crate::audit`]): no argument values, no tokens. A call
//! whose request ends first (the client went away, the request timed out, the server stopped)
//! still gets its record, `interrupted`, saying how far it got ([`CallRecord`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use mcp_bearer::VerifiedToken;
use mcp_endpoint::batch::ToolCall;
use mcp_endpoint::sessions::Sessions;
use protocol::authorization_details::{AuthorizationDetail, MCP_TOOL_CALL, TOOLS_CALL, object_sha256};
use protocol::error::ErrorCode;
use protocol::mcp::{Implementation, RpcError, Tool};
use protocol::scope::Scopes;
use protocol::secret::AccessToken;
use serde_json::{Map, Value};

use crate::approval::{self, Answer, Approvals, CallKey};
use crate::as_client::AsError;
use crate::audit::{self, AuditLog, Outcome as Recorded};
use crate::catalog::Entry;
use crate::hop::HopTokens;
use crate::listing::{Asker, visible_tools};
use crate::policy::reload::PolicySource;
use crate::policy::{CallFacts, Consent, Decision as PolicyDecision};
use crate::upstream::{SessionLimits, ToolResult, Upstream, UpstreamClient, UpstreamError};

/// How long an upstream's live `tools/list` is trusted before it is asked again.
pub const LIVE_TOOLS_TTL: Duration = Duration::from_secs(60);
/// Longest `binding_message` the AS takes.
const MAX_BINDING_MESSAGE: usize = 100;
/// Longest argument summary shown to the person approving.
const MAX_SUMMARY: usize = protocol::authorization_details::MAX_ARGUMENTS_SUMMARY;

/// Everything the gateway's endpoint works with, built once at startup.
pub struct Gateway {
    pub policies: Arc<PolicySource>,
    pub upstreams: BTreeMap<String, Upstream>,
    pub upstream_client: UpstreamClient,
    pub hops: HopTokens,
    pub approvals: Approvals,
    pub audit: AuditLog,
    pub sessions: Sessions,
    pub server_info: Implementation,
    live: Mutex<LiveTools>,
}

/// Each upstream's last `tools/list`, and when it was fetched.
type LiveTools = HashMap<String, (Instant, Arc<Vec<Tool>>)>;

/// Who is calling, as the endpoint established it.
pub struct Caller<'a> {
    pub token: &'a VerifiedToken,
    /// The token as sent: only ever the `subject_token` of an exchange or approval at the AS.
    pub raw: &'a AccessToken,
    pub client_address: String,
    /// The trace id (from the client's `traceparent`, or new), in the audit record and logs.
    pub request_id: String,
}

/// How a tool call ended, for the endpoint to answer.
#[derive(Debug)]
pub enum Outcome {
    /// The upstream's result, as it sent it (a tool that failed is a result with `isError`).
    Result(ToolResult),
    /// Unknown, denied, or no longer offered: one answer for all, so that nobody learns which.
    Hidden,
    /// The arguments do not fit the input schema of a tool the caller can see: why (a tool error
    /// for the client, which may quote its own arguments; never in the audit record).
    InvalidArguments(String),
    /// The token lacks scope: `403 insufficient_scope` naming everything needed (step-up).
    NeedsScope(Scopes),
    /// The authorization server no longer honours the client's token (revoked, say): `401`.
    Reauthenticate,
    /// Waiting for, denied or expired at the person.
    Approval(Answer),
    /// The approval the call waits for was declined at the client (a 2026-07-28 retry answering
    /// its elicitation with `decline` or `cancel`): the call ends, `-31043`.
    Declined { approval_id: String },
    /// The upstream answered with a JSON-RPC error.
    Upstream(RpcError),
    /// The routing headers of the request disagree with its body (`-32020`).
    BadHeaders(String),
    /// The AS or the upstream could not be reached or broke the protocol (logged, not shown).
    Unavailable(String),
}

impl Gateway {
    pub fn new(
        policies: Arc<PolicySource>,
        upstreams: Vec<Upstream>,
        hops: HopTokens,
        approvals: Approvals,
        audit: AuditLog,
        upstream_sessions: SessionLimits,
        sessions_per_user: usize,
    ) -> Self {
        Self {
            policies,
            upstreams: upstreams.into_iter().map(|u| (u.name.clone(), u)).collect(),
            upstream_client: UpstreamClient::with_limits(upstream_sessions),
            hops,
            approvals,
            audit,
            sessions: Sessions::with_per_user(
                mcp_endpoint::sessions::MAX_SESSIONS,
                sessions_per_user,
                Duration::from_secs(30 * 60),
            ),
            server_info: Implementation {
                name: "mcp-oauth-reference-gateway".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                title: Some("MCP OAuth reference gateway".into()),
            },
            live: Mutex::default(),
        }
    }

    /// The tools to list for the caller: each upstream's live tools the catalog offers, that a
    /// call would not be denied outright.
    pub async fn list_tools(&self, caller: &Caller<'_>) -> Vec<Tool> {
        let mut live = BTreeMap::new();
        let fetches = self
            .upstreams
            .values()
            .map(|upstream| async move { (upstream.name.clone(), self.live_tools(caller, upstream).await) });
        for (name, tools) in futures::future::join_all(fetches).await {
            if let Some(tools) = tools {
                live.insert(name, tools.as_ref().clone());
            }
        }
        let policies = self.policies.current();
        let groups = caller.token.claims.groups.clone().unwrap_or_default();
        let asker = Asker {
            user: caller.token.subject(),
            groups: &groups,
            client_id: &caller.token.claims.client_id,
            client_registration: registration_of(caller.token),
            time: now(),
            client_address: &caller.client_address,
            scopes: &caller.token.scopes,
            auth_time: auth_time(caller.token),
        };
        let (tools, skipped) = visible_tools(&policies, &live, &asker);
        for skip in skipped {
            tracing::debug!(upstream = %skip.upstream, tool = ?skip.tool, reason = %skip.reason, "live tool not offered");
        }
        tools
    }

    /// An upstream's live tools: cached for [`LIVE_TOOLS_TTL`], else fetched with the caller's
    /// hop token. `None` when the upstream cannot be asked (its tools are then not listed).
    async fn live_tools(&self, caller: &Caller<'_>, upstream: &Upstream) -> Option<Arc<Vec<Tool>>> {
        if let Some(tools) = self.cached_live(&upstream.name) {
            return Some(tools);
        }
        let token = match self.hop_token(caller, upstream, None).await {
            Ok(token) => token,
            Err(error) => {
                tracing::warn!(upstream = %upstream.name, %error, "no hop token to list the upstream's tools");
                return None;
            }
        };
        match self.upstream_client.list_tools(upstream, &token).await {
            Ok(tools) => {
                let tools = Arc::new(tools);
                self.lock_live().insert(upstream.name.clone(), (Instant::now(), tools.clone()));
                Some(tools)
            }
            Err(error) => {
                tracing::warn!(upstream = %upstream.name, %error, "the upstream's tools/list failed");
                None
            }
        }
    }

    fn cached_live(&self, upstream: &str) -> Option<Arc<Vec<Tool>>> {
        self.lock_live()
            .get(upstream)
            .filter(|(fetched, _)| fetched.elapsed() < LIVE_TOOLS_TTL)
            .map(|(_, tools)| tools.clone())
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, LiveTools> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Is `entry` still offered by its upstream? Yes unless a live list fetched recently says
    /// otherwise (gone, or another input schema than the policy was validated against).
    fn still_offered(&self, entry: &Entry) -> bool {
        match self.cached_live(&entry.upstream) {
            None => true,
            Some(live) => live
                .iter()
                .any(|t| t.name == entry.upstream_tool && t.input_schema == entry.tool.input_schema),
        }
    }

    async fn hop_token(
        &self,
        caller: &Caller<'_>,
        upstream: &Upstream,
        scope: Option<&Scopes>,
    ) -> Result<AccessToken, AsError> {
        self.hops.token_for(caller.raw, &caller.token.claims.jti, &upstream.resource, scope, now()).await
    }

    /// Calls the tool `name` (the gateway's name) with `arguments`, as the module says. `headers`
    /// are a 2026-07-28 request's, whose `Mcp-Param-*` must mirror the arguments; `declined`, the
    /// approvals whose elicitation that request answered `decline` or `cancel`.
    pub async fn call_tool(
        &self,
        caller: &Caller<'_>,
        name: &str,
        arguments: Map<String, Value>,
        headers: Option<&HeaderMap>,
        declined: &[&str],
    ) -> Outcome {
        let started = Instant::now();
        let policies = self.policies.current();
        let digest = object_sha256(&arguments);
        let mut call = CallRecord::new(&self.audit, new_record(caller, &policies, name, &digest), started);
        let outcome = self
            .decide_and_call(caller, &policies, name, arguments, &digest, headers, declined, &mut call)
            .await;
        call.write(&outcome).await;
        outcome
    }

    /// The scopes a 2025-03-26 batch of tool calls needs beyond the caller's token, found before
    /// any of them runs (`mcp_endpoint::batch`): `None` if none of them would be a step-up, else
    /// the token's scopes and every tool scope the calls need, for one `403` answering the whole
    /// batch. A call is a step-up here exactly when it would be alone (steps 1–3 of the module),
    /// so a denied tool still looks unknown; each such call gets its audit record, the others
    /// are decided again, and audited, when they are made.
    pub async fn batch_step_up(&self, caller: &Caller<'_>, calls: &[ToolCall]) -> Option<Scopes> {
        let policies = self.policies.current();
        let mut wanted: Option<Scopes> = None;
        for call in calls {
            let started = Instant::now();
            let digest = object_sha256(&call.arguments);
            let mut record = new_record(caller, &policies, &call.name, &digest);
            if let Err(Outcome::NeedsScope(needed)) =
                self.screen(caller, &policies, &call.name, &call.arguments, None, &mut record)
            {
                wanted = Some(wanted.as_ref().unwrap_or(&caller.token.scopes).union(&needed));
                let outcome = Outcome::NeedsScope(needed);
                CallRecord::new(&self.audit, record, started).write(&outcome).await;
            }
        }
        wanted
    }

    /// Steps 1–3 of the module: the tool, the policy, the routing headers, the token's scope.
    /// What the call may go on with, or how it ends here.
    fn screen<'a>(
        &'a self,
        caller: &Caller<'_>,
        policies: &'a crate::policy::Policies,
        name: &str,
        arguments: &Map<String, Value>,
        headers: Option<&HeaderMap>,
        record: &mut audit::Decision,
    ) -> Result<Screened<'a>, Outcome> {
        let Some(entry) = policies.catalog().get(name).filter(|entry| self.still_offered(entry)) else {
            record.reason = Some("unknown tool, or no longer offered by its upstream".into());
            return Err(Outcome::Hidden);
        };
        let Some(upstream) = self.upstreams.get(&entry.upstream) else {
            record.reason = Some("the catalog names an upstream that is not configured".into());
            return Err(Outcome::Hidden);
        };
        record.upstream = Some(entry.upstream.clone());
        // The policy sees the scopes the call will have: the token's, plus the tool's own when the
        // token lacks them. A missing tool scope is the client's to fix by step-up (`403`), and a
        // tool the policy would deny anyway must not answer `403`, which would tell it exists.
        let (groups, scopes) = facts_of(caller.token, entry);
        let facts = CallFacts {
            user: caller.token.subject(),
            groups: &groups,
            client_id: &caller.token.claims.client_id,
            client_registration: registration_of(caller.token),
            tool: name,
            arguments,
            time: now(),
            client_address: &caller.client_address,
            scopes: &scopes,
            auth_time: auth_time(caller.token),
        };
        let decision = policies.decide(&facts);
        record.policy_ids = decision.determining.clone();
        if let Some(why) = &decision.invalid_arguments {
            // Arguments that do not fit a tool the caller can see are a mistake the model can fix,
            // told as a tool error (MCP tools, "Error Handling"); the tool's existence is no secret
            // to them. For anyone else the tool stays hidden.
            if policies.listable(&facts) {
                record.reason = Some("the arguments do not fit the tool's input schema".into());
                return Err(Outcome::InvalidArguments(why.clone()));
            }
            record.reason =
                Some("the arguments do not fit the input schema of a tool not listed to the caller".into());
            return Err(Outcome::Hidden);
        }
        if !decision.allowed {
            record.reason = Some(denial_reason(&decision));
            return Err(Outcome::Hidden);
        }
        // Only now: a `-32020` naming a header the tool's schema declares would tell a caller
        // the policy denies that the tool exists, where an unknown tool answers `Unknown tool`.
        if let Some(headers) = headers
            && let Err(why) =
                mcp_endpoint::stateless::check_param_headers(headers, &entry.tool.input_schema, arguments)
        {
            return Err(Outcome::BadHeaders(why));
        }
        if let Some(needed) = &entry.scopes
            && !caller.token.scopes.is_superset(needed)
        {
            return Err(Outcome::NeedsScope(caller.token.scopes.union(needed)));
        }
        Ok(Screened { entry, upstream, consent: decision.consent })
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide_and_call(
        &self,
        caller: &Caller<'_>,
        policies: &crate::policy::Policies,
        name: &str,
        arguments: Map<String, Value>,
        digest: &str,
        headers: Option<&HeaderMap>,
        declined: &[&str],
        call: &mut CallRecord<'_>,
    ) -> Outcome {
        let Screened { entry, upstream, consent } =
            match self.screen(caller, policies, name, &arguments, headers, &mut call.record) {
                Ok(screened) => screened,
                Err(outcome) => return outcome,
            };
        let token = match consent {
            None => match call
                .reaching(Stage::HopToken, self.hop_token(caller, upstream, entry.scopes.as_ref()))
                .await
            {
                Ok(token) => token,
                Err(error) => return exchange_refused(entry, error),
            },
            Some(consent) => {
                let key = CallKey {
                    user: caller.token.subject().to_owned(),
                    client_id: caller.token.claims.client_id.clone(),
                    tool: name.to_owned(),
                    arguments_sha256: digest.to_owned(),
                };
                let request = approval::Request {
                    subject: caller.raw,
                    user: caller.token.subject(),
                    detail: AuthorizationDetail {
                        type_: MCP_TOOL_CALL.to_owned(),
                        locations: vec![upstream.resource.clone()],
                        actions: vec![TOOLS_CALL.to_owned()],
                        identifier: Some(entry.upstream_tool.clone()),
                        arguments_sha256: Some(digest.to_owned()),
                        arguments_summary: Some(summary(&arguments)),
                    },
                    scope: entry.scopes.as_ref(),
                    binding_message: binding_message(&caller.token.claims.client_id, name),
                    every_time: consent == Consent::Once,
                    max_age: match consent {
                        Consent::For(duration) => Some(duration),
                        Consent::Once => None,
                    },
                };
                // Boxed: asking for an approval is rare, and its future (an AS round trip and
                // the waiting) would otherwise enlarge every call's future, and what each of
                // them copies when it moves, by 2 KB.
                let asked = Box::pin(self.approvals.ask(key, request, declined, now()));
                match call.reaching(Stage::Approval, asked).await {
                    // The person said no at the client to the approval this call waits for: it
                    // ended before any poll, and was forgotten and withdrawn at the AS.
                    Ok(Answer::Declined { approval_id }) => {
                        call.record.approval_id = Some(approval_id.clone());
                        return Outcome::Declined { approval_id };
                    }
                    Ok(Answer::Approved { token, approval_id }) => {
                        call.record.approval_id = Some(approval_id);
                        // Bound to this call and spent on it: never cached, never retried.
                        let owner = owner_of(caller);
                        let upstream_call =
                            self.call_upstream(caller, &owner, upstream, entry, &token, &arguments);
                        return call.reaching(Stage::Upstream, upstream_call).await;
                    }
                    Ok(answer) => {
                        call.record.approval_id = match &answer {
                            Answer::Waiting { approval_id, .. }
                            | Answer::Denied { approval_id }
                            | Answer::Expired { approval_id }
                            | Answer::Declined { approval_id }
                            | Answer::Approved { approval_id, .. } => Some(approval_id.clone()),
                        };
                        return Outcome::Approval(answer);
                    }
                    Err(error) => return approval_refused(entry, error),
                }
            }
        };
        let owner = owner_of(caller);
        let upstream_call = self.call_upstream(caller, &owner, upstream, entry, &token, &arguments);
        match call.reaching(Stage::Upstream, upstream_call).await {
            // A hop token the upstream does not take (keys rotated, say): once more with a new one.
            Outcome::Unavailable(why) if why == UPSTREAM_REFUSED_TOKEN => {
                self.hops.forget(&caller.token.claims.jti);
                let exchange = self.hop_token(caller, upstream, entry.scopes.as_ref());
                match call.reaching(Stage::HopToken, exchange).await {
                    Ok(token) => {
                        let upstream_call =
                            self.call_upstream(caller, &owner, upstream, entry, &token, &arguments);
                        call.reaching(Stage::Upstream, upstream_call).await
                    }
                    Err(error) => exchange_refused(entry, error),
                }
            }
            outcome => outcome,
        }
    }

    /// Calls the upstream; `owner` keys the upstream session this user's calls through this client
    /// share (with a session-form upstream).
    async fn call_upstream(
        &self,
        caller: &Caller<'_>,
        owner: &str,
        upstream: &Upstream,
        entry: &Entry,
        token: &AccessToken,
        arguments: &Map<String, Value>,
    ) -> Outcome {
        // Boxed once here rather than carried inline by each caller up to the handler: this 3 KB
        // future (an HTTP request and its answer) would otherwise be part of every future above
        // it, and copied at each level it is awaited through.
        let call = self.upstream_client.call_tool_for(
            upstream,
            token,
            Some(owner),
            &entry.upstream_tool,
            arguments.clone(),
        );
        match Box::pin(call).await {
            Ok(result) => Outcome::Result(result),
            Err(UpstreamError::Unauthorized) => Outcome::Unavailable(UPSTREAM_REFUSED_TOKEN.into()),
            Err(UpstreamError::InsufficientScope(asked)) => {
                upstream_needs_scope(&caller.token.scopes, entry.scopes.as_ref(), asked, &upstream.name)
            }
            Err(UpstreamError::Rpc(error)) => Outcome::Upstream(error),
            Err(UpstreamError::Failed(why)) => {
                Outcome::Unavailable(format!("upstream {}: {why}", upstream.name))
            }
        }
    }
}

/// A call that passed steps 1–3: its tool, its upstream and the policy's obligation.
struct Screened<'a> {
    entry: &'a Entry,
    upstream: &'a Upstream,
    consent: Option<Consent>,
}

/// A tool call's audit record while the call runs, and how far the call got. [`Self::write`]
/// writes it as the call ended; if the call's future is dropped first (the client went away,
/// the request timed out, the server stopped after its grace period), `Drop` writes it as
/// `interrupted`, with what was known by then, without waiting (a `Drop` cannot).
struct CallRecord<'a> {
    audit: &'a AuditLog,
    record: audit::Decision,
    started: Instant,
    stage: Stage,
    /// Completed with how the call ended.
    ended: bool,
    /// Handed to the audit log.
    written: bool,
}

/// How far a call got: what an interrupted call's record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Deciding,
    HopToken,
    Approval,
    Upstream,
}

impl Stage {
    fn interrupted(self) -> &'static str {
        match self {
            Self::Deciding => "interrupted while the call was being decided: nothing reached the upstream",
            Self::HopToken => "interrupted while getting a hop token: nothing reached the upstream",
            Self::Approval => "interrupted while asking for approval: nothing reached the upstream",
            Self::Upstream => "interrupted while the upstream ran the call: whether it acted is unknown",
        }
    }
}

impl<'a> CallRecord<'a> {
    fn new(audit: &'a AuditLog, record: audit::Decision, started: Instant) -> Self {
        Self { audit, record, started, stage: Stage::Deciding, ended: false, written: false }
    }

    /// Awaits `step`, the call being at `stage` meanwhile.
    async fn reaching<T>(&mut self, stage: Stage, step: impl Future<Output = T>) -> T {
        self.stage = stage;
        step.await
    }

    /// Completes the record with how the call ended (a reason set earlier wins).
    fn end(&mut self, outcome: &Outcome) {
        let (recorded, reason) = classify(outcome);
        self.complete(recorded, reason);
    }

    /// Fills in the outcome, its reason (unless one was set earlier) and the latency so far.
    fn complete(&mut self, recorded: Recorded, reason: Option<String>) {
        self.record.latency_us = i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX);
        self.record.outcome = recorded;
        if self.record.reason.is_none() {
            self.record.reason = reason;
        }
        self.ended = true;
    }

    /// Writes the record of a call that ended with `outcome`, waiting if the audit queue is full.
    /// Dropped while waiting, the record still goes (from `Drop`): the send had not happened.
    async fn write(mut self, outcome: &Outcome) {
        self.end(outcome);
        let result = self.audit.record(self.record.clone()).await;
        self.written = true;
        if let Err(error) = result {
            // The call has happened; losing its record is an operator's emergency, logged as one.
            let request_id = &self.record.request_id;
            tracing::error!(%error, %request_id, "the audit record of a tool call was not written");
        }
    }
}

impl Drop for CallRecord<'_> {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        if !self.ended {
            self.complete(Recorded::Interrupted, Some(self.stage.interrupted().into()));
        }
        self.audit.record_without_waiting(self.record.clone());
    }
}

/// A call's audit record as it starts: who, which tool, which arguments (their digest only),
/// under which policy set. How it ends is filled in by [`CallRecord`].
fn new_record(
    caller: &Caller<'_>,
    policies: &crate::policy::Policies,
    name: &str,
    digest: &str,
) -> audit::Decision {
    audit::Decision {
        at_ms: now_ms(),
        request_id: caller.request_id.clone(),
        user: caller.token.subject().to_owned(),
        client_id: caller.token.claims.client_id.clone(),
        client_address: Some(caller.client_address.clone()),
        upstream: None,
        tool: name.to_owned(),
        arguments_sha256: Some(digest.to_owned()),
        outcome: Recorded::Deny,
        reason: None,
        policy_ids: Vec::new(),
        policy_hash: policies.hash().to_owned(),
        approval_id: None,
        latency_us: 0,
    }
}

/// Who an upstream session belongs to: the user and their client (what the upstream binds it to).
fn owner_of(caller: &Caller<'_>) -> String {
    format!("{}\n{}", caller.token.subject(), caller.token.claims.client_id)
}

const UPSTREAM_REFUSED_TOKEN: &str = "the upstream refused the gateway's token";

/// What an upstream's `403 insufficient_scope` means for the client. A step-up helps only when
/// the hop token's scopes follow the client's: when the catalog fixes the tool's scopes, the hop
/// token always has exactly those, and an upstream asking for more is the operator's to fix (the
/// catalog), not the client's; so is an upstream that names no scope. Otherwise the client is
/// asked for what it has plus what the upstream named, as any step-up challenge.
fn upstream_needs_scope(
    granted: &Scopes,
    catalog: Option<&Scopes>,
    asked: Option<Scopes>,
    upstream: &str,
) -> Outcome {
    match (catalog, asked) {
        (None, Some(asked)) if !asked.is_empty() && !granted.is_superset(&asked) => {
            Outcome::NeedsScope(granted.union(&asked))
        }
        (Some(catalog), asked) => Outcome::Unavailable(format!(
            "upstream {upstream} asks for scope {:?}, beyond the catalog's {:?} for this tool",
            asked.map(|s| s.to_string()).unwrap_or_default(),
            catalog.to_string()
        )),
        (None, asked) => Outcome::Unavailable(format!(
            "upstream {upstream} refused the scope {:?} with {:?}, which a step-up cannot change",
            granted.to_string(),
            asked.map(|s| s.to_string()).unwrap_or_default()
        )),
    }
}

/// What the AS's refusal to start an approval means for the client: as for an exchange, except
/// that `invalid_request` there is a request the gateway got wrong, not the client's token.
fn approval_refused(entry: &Entry, error: AsError) -> Outcome {
    match error {
        AsError::Refused(refused) if refused.error == ErrorCode::InvalidRequest => Outcome::Unavailable(
            format!("the authorization server refused the approval request: {}", refused.error.as_str()),
        ),
        other => exchange_refused(entry, other),
    }
}

/// What the AS's refusal of an exchange (or of an approval, through [`approval_refused`]) means
/// for the client.
fn exchange_refused(entry: &Entry, error: AsError) -> Outcome {
    match error {
        AsError::Refused(error) => match error.error {
            // The token already has the tool's scopes (checked before any exchange), so a step-up
            // would ask for what it has: the AS will not grant them for this upstream, which is
            // its operator's to fix.
            ErrorCode::InvalidScope => Outcome::Unavailable(format!(
                "the authorization server refused the scope {:?} for {}",
                entry.scopes.as_ref().map(ToString::to_string).unwrap_or_default(),
                entry.upstream
            )),
            // The subject token refused: `invalid_request` at the exchange (RFC 8693 §2.2.2),
            // `invalid_grant` at the approval endpoint. The client's token, valid here, is no
            // longer honoured there (revoked, its grant ended): it must sign in again. (The
            // gateway's own requests are tested to be well formed.)
            ErrorCode::InvalidGrant | ErrorCode::InvalidRequest => Outcome::Reauthenticate,
            // The AS issues no tokens for this upstream's resource to this gateway: it does not
            // know the resource, or the gateway's registration does not list it.
            ErrorCode::InvalidTarget => Outcome::Unavailable(format!(
                "the authorization server issues this gateway no tokens for upstream {} (is its resource \
                 among the gateway's `mcp-auth clients add --exchange-to`?)",
                entry.upstream
            )),
            other => Outcome::Unavailable(format!("the authorization server refused: {}", other.as_str())),
        },
        AsError::Unavailable(why) => Outcome::Unavailable(why),
    }
}

/// The audit outcome and reason of an [`Outcome`] (a reason set earlier wins).
fn classify(outcome: &Outcome) -> (Recorded, Option<String>) {
    match outcome {
        Outcome::Result(result) => {
            (Recorded::Allow, result.is_error().then(|| "the tool reported an error".into()))
        }
        Outcome::Upstream(error) => {
            (Recorded::Allow, Some(format!("the upstream answered error {}", error.code)))
        }
        Outcome::Hidden | Outcome::InvalidArguments(_) => (Recorded::Deny, None),
        Outcome::NeedsScope(_) => (Recorded::Deny, Some("the token lacks the tool's scope".into())),
        Outcome::BadHeaders(_) => (Recorded::Deny, Some("routing headers disagree with the body".into())),
        Outcome::Reauthenticate => {
            (Recorded::Error, Some("the AS no longer honours the client's token".into()))
        }
        Outcome::Approval(Answer::Waiting { .. } | Answer::Approved { .. }) => {
            (Recorded::ApprovalRequired, None)
        }
        Outcome::Approval(Answer::Denied { .. }) => (Recorded::ApprovalDenied, None),
        Outcome::Approval(Answer::Declined { .. }) => {
            (Recorded::ApprovalDenied, Some("declined at the client".into()))
        }
        Outcome::Declined { .. } => (Recorded::ApprovalDenied, Some("declined at the client".into())),
        Outcome::Approval(Answer::Expired { .. }) => (Recorded::ApprovalExpired, None),
        Outcome::Unavailable(why) => {
            tracing::warn!(%why, "a tool call could not be completed");
            (Recorded::Error, Some("the AS or the upstream was unavailable".into()))
        }
    }
}

fn denial_reason(decision: &PolicyDecision) -> String {
    if !decision.errors.is_empty() {
        "a policy could not be evaluated (denied)".into()
    } else if decision.determining.is_empty() {
        "no policy permits it".into()
    } else {
        "forbidden by policy".into()
    }
}

/// The groups of a token and the scopes a call of `entry` will have (the token's, and the tool's
/// own after a step-up), as the policy sees them.
fn facts_of(token: &VerifiedToken, entry: &Entry) -> (Vec<String>, Vec<String>) {
    let groups = token.claims.groups.clone().unwrap_or_default();
    (groups, crate::policy::call_scopes(&token.scopes, entry))
}

/// How the caller's client was registered at the AS, as its token says (`client_registration`).
fn registration_of(token: &VerifiedToken) -> &str {
    token.claims.client_registration.as_deref().unwrap_or(crate::policy::UNKNOWN_REGISTRATION)
}

fn auth_time(token: &VerifiedToken) -> i64 {
    token.claims.auth_time.and_then(|t| i64::try_from(t).ok()).unwrap_or(0)
}

/// What the person approving reads: which client wants which tool.
fn binding_message(client_id: &str, tool: &str) -> String {
    let message = format!("{client_id} wants to call {tool}");
    let printable: String = message.chars().filter(|c| !c.is_control()).collect();
    printable.chars().take(MAX_BINDING_MESSAGE).collect()
}

/// Longest line of the argument summary, in characters: a long value is cut (and says so) so
/// that the arguments after it still show.
const MAX_SUMMARY_LINE: usize = 100;

/// The arguments as the person approving sees them: one line per argument, `name: value` as
/// compact JSON, in name order (not the order the client chose); a value too long for its line is
/// cut and ends in `…`; arguments that do not fit are counted, never silently left out; characters
/// that change how text shows without showing themselves (bidi overrides, zero-width ones) are
/// written as `\u{…}`. Display text only: what is approved is the digest of the exact arguments.
fn summary(arguments: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = arguments.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    let mut length = 0;
    for (shown, (name, value)) in pairs.iter().enumerate() {
        let value = serde_json::to_string(value).unwrap_or_default();
        let line = cut(&visible(&format!("{name}: {value}")), MAX_SUMMARY_LINE);
        let left = pairs.len() - shown - 1;
        // Room for this line, and for saying how many did not fit if any remain.
        let tail = if left > 0 { 40 } else { 0 };
        if length + line.chars().count() + 1 + tail > MAX_SUMMARY {
            let note = format!("… and {} more argument(s) not shown", pairs.len() - shown);
            out.push_str(&note);
            return out;
        }
        length += line.chars().count() + 1;
        out.push_str(&line);
        out.push('\n');
    }
    out.pop();
    out
}

/// `text` with what could hide or disguise a value written out: control characters and the
/// invisible formatting ones (bidi embeddings, overrides and isolates, zero-width spaces and
/// joiners, the soft hyphen, the byte-order mark).
fn visible(text: &str) -> String {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if invisible(c) {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` cut to at most `max` characters, the last being `…` when anything was cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

pub fn now() -> i64 {
    now_ms() / 1000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::as_client::ClientCredentials;
    use crate::catalog::{Catalog, UpstreamTools};
    use crate::policy::reload::PolicySource;
    use protocol::jwt::{AccessTokenClaims, Audience};
    use protocol::secret::ClientSecret;
    use serde_json::json;

    fn scopes(text: &str) -> Scopes {
        Scopes::parse(text).unwrap()
    }

    /// Upstream `demo`'s tools: `delete_note`, and `admin`, whose `tenant` a 2026-07-28 request
    /// must mirror in an `Mcp-Param-Tenant` header.
    fn catalog() -> Catalog {
        let demo: UpstreamTools = serde_json::from_value(json!({
            "groups": {"delete_note": "destructive", "admin": "write"},
            "tools": [
                {"name": "delete_note", "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}}},
                {"name": "admin", "inputSchema": {"type": "object", "properties": {
                    "tenant": {"type": "string", "x-mcp-header": "Tenant"}}}}
            ]
        }))
        .unwrap();
        Catalog::build(&BTreeMap::from([("demo".to_owned(), demo)])).0
    }

    const POLICY: &str = r#"
        @id("anyone-deletes")
        permit(principal, action == Gateway::Action::"demo__delete_note", resource);
        @id("admins-administer")
        permit(principal in Gateway::Group::"admins", action == Gateway::Action::"demo__admin", resource);
    "#;

    /// A gateway whose AS issues hop tokens at once and whose upstream accepts connections and
    /// never answers (its listener is returned, to keep it open).
    async fn gateway() -> (Gateway, tokio::net::TcpListener, tempfile::TempDir) {
        let token =
            || async { axum::Json(json!({"access_token": "hop", "token_type": "Bearer", "expires_in": 60})) };
        let app = axum::Router::new().route("/token", axum::routing::post(token));
        let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", as_listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(as_listener, app).await });
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Upstream {
            name: "demo".into(),
            url: format!("http://{}/mcp", silent.local_addr().unwrap()),
            resource: "http://upstream.test".into(),
            version: "2026-07-28".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.cedar");
        std::fs::write(&policy, POLICY).unwrap();
        let credentials =
            ClientCredentials::Secret { client_id: "gateway".into(), secret: ClientSecret::new("s") };
        let client = Arc::new(crate::as_client::AsClient::new(credentials));
        let approvals = Approvals::new(
            client.clone(),
            format!("{issuer}/bc-authorize"),
            format!("{issuer}/token"),
            None,
            format!("{issuer}/approvals"),
            300,
        );
        let gateway = Gateway::new(
            Arc::new(PolicySource::load(&policy, catalog()).unwrap()),
            vec![upstream],
            HopTokens::with_client(format!("{issuer}/token"), client),
            approvals,
            AuditLog::open("sqlite::memory:").await.unwrap(),
            SessionLimits::default(),
            mcp_endpoint::sessions::MAX_SESSIONS_PER_USER,
        );
        (gateway, silent, dir)
    }

    fn token(groups: &[&str]) -> VerifiedToken {
        VerifiedToken {
            claims: AccessTokenClaims {
                iss: "http://as.test".into(),
                aud: Audience::One("http://gateway.test".into()),
                sub: "alice".into(),
                client_id: "agent".into(),
                iat: 0,
                exp: u64::MAX,
                nbf: None,
                jti: "jti-1".into(),
                scope: None,
                auth_time: None,
                act: None,
                groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
                authorization_details: None,
                client_registration: None,
            },
            scopes: Scopes::default(),
        }
    }

    fn caller<'a>(token: &'a VerifiedToken, raw: &'a AccessToken) -> Caller<'a> {
        Caller { token, raw, client_address: "127.0.0.1".into(), request_id: "r".repeat(32) }
    }

    fn arguments(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    /// The client goes away (or the request times out) while the upstream runs an allowed
    /// delete: the record is written all the same, saying the upstream may have acted.
    #[tokio::test]
    async fn a_call_whose_request_ends_while_the_upstream_runs_is_audited_as_interrupted() {
        let (gateway, _upstream, _dir) = gateway().await;
        let (token, raw) = (token(&[]), AccessToken::new("client-token"));
        let caller = caller(&token, &raw);
        let call = gateway.call_tool(&caller, "demo__delete_note", arguments(json!({"id": 1})), None, &[]);
        let dropped = tokio::time::timeout(Duration::from_millis(300), call).await;
        assert!(dropped.is_err(), "the silent upstream answered: {dropped:?}");
        gateway.audit.flush().await.unwrap();
        let records = gateway.audit.query(&audit::Filter::default()).await.unwrap();
        let [(_, record)] = records.as_slice() else { panic!("one record: {records:?}") };
        assert_eq!(record.outcome, Recorded::Interrupted);
        assert_eq!(record.policy_ids, ["anyone-deletes"]);
        assert_eq!(record.upstream.as_deref(), Some("demo"));
        assert_eq!(record.reason.as_deref(), Some(Stage::Upstream.interrupted()));
        assert!(record.latency_us >= 300_000, "{}", record.latency_us);
    }

    /// A `-32020` naming the header the tool's schema declares would tell a caller the policy
    /// denies the tool that it exists: they get what an unknown tool gets. Only a caller who may
    /// call the tool hears that the headers disagree, and nothing goes upstream either way.
    #[tokio::test]
    async fn a_denied_tool_answers_like_an_unknown_one_whatever_its_routing_headers_say() {
        let (gateway, _upstream, _dir) = gateway().await;
        let raw = AccessToken::new("client-token");
        let no_header = HeaderMap::new();
        let tenant = || arguments(json!({"tenant": "x"}));
        let (plain, admin) = (token(&[]), token(&["admins"]));
        let call = |token, tool: &'static str| {
            let caller = caller(token, &raw);
            let gateway = &gateway;
            let no_header = &no_header;
            async move {
                let call = gateway.call_tool(&caller, tool, tenant(), Some(no_header), &[]);
                tokio::time::timeout(Duration::from_secs(5), call).await.expect("nothing went upstream")
            }
        };
        let denied = call(&plain, "demo__admin").await;
        assert!(matches!(denied, Outcome::Hidden), "{denied:?}");
        let unknown = call(&plain, "demo__nope").await;
        assert!(matches!(unknown, Outcome::Hidden), "{unknown:?}");
        let mismatch = call(&admin, "demo__admin").await;
        assert!(matches!(mismatch, Outcome::BadHeaders(ref why) if why.contains("Tenant")), "{mismatch:?}");
    }

    /// The digest a person approves is of the arguments as the gateway read them; the upstream
    /// checks a call-bound token against the arguments as it reads what the gateway sent. Without
    /// serde_json's `float_roundtrip`, many floats are read one unit in the last place off, and
    /// read again off by another: the approved call would be refused upstream.
    #[test]
    fn float_arguments_hash_alike_at_the_gateway_and_after_the_trip_upstream() {
        // Declared by this crate itself: in a workspace-wide build another crate's declaration
        // would switch it on for this one too, and the checks below would pass without it.
        assert!(include_str!("../Cargo.toml").contains(r#"features = ["float_roundtrip"]"#));
        for number in
            ["6.934698245112694e+276", "8.383658838626809e-78", "-6.801672438380202e+47", "0.1", "1e300"]
        {
            let read: Value = serde_json::from_str(&format!(r#"{{"x": {number}}}"#)).unwrap();
            assert_eq!(read["x"].as_f64(), number.parse::<f64>().ok(), "{number} read exactly");
            let sent = serde_json::to_string(&read).unwrap();
            let upstream: Value = serde_json::from_str(&sent).unwrap();
            let digest = |value: &Value| object_sha256(value.as_object().unwrap());
            assert_eq!(digest(&read), digest(&upstream), "{number}");
        }
    }

    #[test]
    fn the_summary_shows_every_argument_in_name_order_cuts_long_values_and_shows_hidden_characters() {
        let arguments = |value: Value| value.as_object().cloned().unwrap();
        assert_eq!(summary(&arguments(json!({"title": "milk", "id": 7}))), "id: 7\ntitle: \"milk\"");
        // A long first value no longer pushes the others off the page.
        let long = "x".repeat(2000);
        let shown = summary(&arguments(json!({"a": long, "to": "mallory"})));
        assert!(shown.contains("to: \"mallory\""), "{shown}");
        assert!(shown.lines().next().unwrap().ends_with('…'), "{shown}");
        // A value written right to left, or with a zero-width space, shows what it is.
        let shown = summary(&arguments(json!({"to": "bob\u{202E}moc.evil", "z": "a\u{200B}b"})));
        assert!(shown.contains("\\u{202e}") && shown.contains("\\u{200b}"), "{shown}");
        assert!(!shown.contains('\u{202E}') && !shown.contains('\u{200B}'));
        // Too many arguments for a page: counted, never silently dropped.
        let many: Map<String, Value> = (0..100).map(|i| (format!("k{i:03}"), json!(i))).collect();
        let shown = summary(&many);
        assert!(shown.chars().count() <= MAX_SUMMARY, "{}", shown.chars().count());
        assert!(shown.ends_with("more argument(s) not shown"), "{shown}");
        let listed = shown.lines().count() - 1;
        assert!(shown.contains(&format!("and {} more", 100 - listed)), "{shown}");
        // What the AS accepts.
        for case in [json!({"a": long}), Value::Object(many), json!({})] {
            let text = summary(case.as_object().unwrap());
            assert!(
                text.chars().count() <= MAX_SUMMARY && !text.chars().any(|c| c.is_control() && c != '\n')
            );
        }
    }

    #[test]
    fn a_refused_subject_token_asks_for_a_new_sign_in_and_a_refused_request_does_not() {
        let entry = Entry {
            name: "demo__echo".into(),
            upstream: "demo".into(),
            upstream_tool: "echo".into(),
            group: crate::catalog::Group::Read,
            scopes: Some(scopes("echo")),
            tool: Tool {
                name: "demo__echo".into(),
                title: None,
                description: None,
                input_schema: json!({"type": "object"}),
                output_schema: None,
                annotations: None,
                icons: None,
            },
        };
        let refused = |code| AsError::Refused(protocol::error::ErrorResponse::new(code, "no"));
        for code in [ErrorCode::InvalidRequest, ErrorCode::InvalidGrant] {
            let outcome = exchange_refused(&entry, refused(code.clone()));
            assert!(matches!(outcome, Outcome::Reauthenticate), "{code:?}");
        }
        assert!(matches!(
            approval_refused(&entry, refused(ErrorCode::InvalidGrant)),
            Outcome::Reauthenticate
        ));
        let outcome = approval_refused(&entry, refused(ErrorCode::InvalidRequest));
        assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
        let outcome = exchange_refused(&entry, refused(ErrorCode::InvalidScope));
        assert!(matches!(outcome, Outcome::Unavailable(_)), "a step-up would ask for what the token has");
        let Outcome::Unavailable(why) = exchange_refused(&entry, refused(ErrorCode::InvalidTarget)) else {
            panic!("an upstream the AS issues no tokens for is the operator's to fix")
        };
        assert!(why.contains("upstream demo") && why.contains("--exchange-to"), "{why}");
    }

    #[test]
    fn an_upstreams_scope_challenge_is_a_step_up_only_when_one_can_help() {
        let granted = scopes("profile notes:read");
        // The hop token follows the client's scopes: ask for the union, as any step-up.
        let Outcome::NeedsScope(needed) =
            upstream_needs_scope(&granted, None, Some(scopes("notes:write")), "demo")
        else {
            panic!("a step-up")
        };
        assert_eq!(needed, scopes("profile notes:read notes:write"));
        // The catalog fixes the hop token's scopes; a step-up would change nothing.
        for asked in [Some(scopes("notes:write")), None] {
            let outcome = upstream_needs_scope(&granted, Some(&scopes("notes:read")), asked, "demo");
            assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
        }
        // Nothing named, or only what the token has: asking again would loop.
        for asked in [None, Some(scopes("notes:read"))] {
            let outcome = upstream_needs_scope(&granted, None, asked, "demo");
            assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
        }
    }
}
