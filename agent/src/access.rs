//! Sending requests with an access token, and getting one when the server says so.
//!
//! [`Access::send`] attaches the stored token for the URL (refreshed first if it is about to
//! expire), and lets [`protocol::challenge_reaction`] decide what each answer calls for: hand it
//! back, refresh (`401 invalid_token` with a refresh token), log in (any other `401`), step up
//! (`insufficient_scope`, asking for the union of what the token has and what the challenge
//! names), retry, or give up. The policy, with the RFC and MCP sections behind each branch, is
//! that module's; this one does the I/O: the request, the token endpoint, the browser.

use protocol::challenge::BearerChallenge;
use protocol::challenge_reaction::{
    Authorize, ChallengeReaction, Failure, Held, MAX_AUTHORIZATIONS, Reaction,
};
use protocol::scope::Scopes;
use protocol::secret::AccessToken;

use crate::authorize::{self, Login};
use crate::browser::BrowserMode;
use crate::error::{AgentError, Result};
use crate::http::Http;
use crate::identity::IdentityOptions;
use crate::output::Progress;
use crate::store::{Grant, Store};
use crate::tokens::{self, RefreshFailure};

/// Refresh a token this many seconds before it expires, not after a refused call.
pub const REFRESH_MARGIN_SECS: u64 = 30;

/// How the agent may obtain tokens.
#[derive(Debug, Clone)]
pub struct AccessOptions {
    pub browser: BrowserMode,
    pub identity: IdentityOptions,
    /// How long to wait for the browser to come back.
    pub login_timeout: std::time::Duration,
    /// May the agent start a login? `false` for commands that must not open a browser.
    pub interactive: bool,
}

/// The request-sending context of one run.
pub struct Access {
    pub http: Http,
    pub store: Store,
    pub progress: Progress,
    options: AccessOptions,
    /// Logins this run started (reported by `login`; the limits are per request, in the machine).
    authorizations: usize,
    /// Held while a login runs, by this `Access` and its forks: concurrent calls of one model turn
    /// that all need a login open one login page at a time.
    logins: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Access {
    pub fn new(http: Http, store: Store, progress: Progress, options: AccessOptions) -> Self {
        Self { http, store, progress, options, authorizations: 0, logins: std::sync::Arc::default() }
    }

    /// Another `Access` for a concurrent call: the same options, HTTP client and token store
    /// (whose files are locked per issuer), and one login at a time between them.
    pub fn fork(&self) -> Self {
        Self {
            http: self.http.clone(),
            store: self.store.clone(),
            progress: self.progress.clone(),
            options: self.options.clone(),
            authorizations: 0,
            logins: self.logins.clone(),
        }
    }

    /// Shows where a person approves a call (see [`crate::browser::show_approval`]).
    pub fn show_approval(&self, server: &str, url: &str) {
        crate::browser::show_approval(self.options.browser, server, url, &self.progress);
    }

    /// How many logins this run started.
    pub fn authorizations(&self) -> usize {
        self.authorizations
    }

    /// Sends the request `build` makes for `url` (given the token to attach, if any) and returns
    /// the first answer that is not a challenge this agent can meet.
    pub async fn send<F>(&mut self, url: &str, build: F) -> Result<reqwest::Response>
    where
        F: Fn(Option<&AccessToken>) -> reqwest::RequestBuilder,
    {
        let mut call = ChallengeReaction::new();
        let mut grant = self.usable_grant(url, &mut call).await?;
        // Grants of concurrent calls' logins this call went on with instead of logging in.
        let mut taken_over = 0;
        loop {
            let response = build(grant.as_ref().map(|g| &g.access_token))
                .send()
                .await
                .map_err(|e| AgentError::unreachable(url, &e))?;
            let status = response.status().as_u16();
            let challenge = if matches!(status, 401 | 403) { bearer_challenge(&response) } else { None };
            let mut reaction = call.on_response(status, challenge.as_ref(), &held(grant.as_ref()));
            loop {
                reaction = match reaction {
                    Reaction::Proceed => return Ok(response),
                    Reaction::Retry => break,
                    Reaction::Fail(failure) => return Err(failed(url, status, challenge.as_ref(), failure)),
                    Reaction::Refresh => {
                        self.progress.step("the server refused the access token; refreshing it");
                        let fresh = match &grant {
                            Some(held) => self.refresh(held).await?,
                            None => None,
                        };
                        let refreshed = fresh.is_some();
                        if refreshed {
                            grant = fresh;
                        }
                        call.on_refresh(refreshed)
                    }
                    Reaction::Authorize(authorize) => {
                        if authorize.step_up {
                            self.progress.step(format!(
                                "the server needs more scope ({}); asking for it",
                                authorize.challenge.scope.as_deref().unwrap_or("unnamed")
                            ));
                        }
                        let may_take_over = taken_over < MAX_AUTHORIZATIONS;
                        match self.log_in(url, &authorize, grant.as_ref(), may_take_over).await? {
                            LoggedIn::Here { grant: fresh, requested } => {
                                grant = Some(fresh);
                                call.on_authorized(&requested)
                            }
                            // Not this call's login: the machine counts none, and a refusal of
                            // this token leads to a login of its own.
                            LoggedIn::Meanwhile(stored) => {
                                taken_over += 1;
                                grant = Some(stored);
                                Reaction::Retry
                            }
                        }
                    }
                };
            }
        }
    }

    /// The stored grant for `url`, refreshed if it is about to expire; `None` if there is none or
    /// its refresh token was refused.
    async fn usable_grant(&mut self, url: &str, call: &mut ChallengeReaction) -> Result<Option<Grant>> {
        let Some(grant) = self.store.grant_for(url)? else {
            return Ok(None);
        };
        if !grant.expires_within(crate::now(), REFRESH_MARGIN_SECS) {
            return Ok(Some(grant));
        }
        self.progress.step("the access token is about to expire; refreshing it");
        call.refreshed_ahead();
        match self.refresh(&grant).await? {
            Some(fresh) => Ok(Some(fresh)),
            // Expired and not refreshable: send nothing and let the challenge start a login.
            None => Ok(None),
        }
    }

    /// Whether `grant` holds the pre-registered client's secret at a server other than its
    /// `--client-issuer` ([`IdentityOptions::misplaced_secret`]).
    pub fn misplaced_secret(&self, grant: &Grant) -> bool {
        self.options.identity.misplaced_secret(&grant.client, &grant.issuer)
    }

    /// Refreshes `grant` under the store's lock, so concurrent runs spend its refresh token once:
    /// whoever takes the lock second finds the tokens already replaced and uses those. The lock
    /// is held across the token request; the concurrent calls of this process wait for it without
    /// blocking the thread they share ([`Store::lock`]).
    /// `None` when the grant is over (the refresh token was refused), which is then forgotten.
    async fn refresh(&mut self, grant: &Grant) -> Result<Option<Grant>> {
        let _lock = self.store.lock(&grant.issuer).await?;
        let mut file = self.store.load(&grant.issuer)?;
        let Some(current) = file.grants.get(&grant.resource).cloned() else {
            return Ok(None);
        };
        if self.misplaced_secret(&current) {
            self.progress.step(format!(
                "the stored tokens for {} were obtained with the pre-registered client's secret at {}, \
                 which is not its --client-issuer: forgetting them without sending the secret there \
                 again (a new login is needed; consider rotating that secret)",
                current.resource, current.issuer
            ));
            file.grants.remove(&grant.resource);
            self.store.save(&file)?;
            return Ok(None);
        }
        if current.access_token != grant.access_token
            && !current.expires_within(crate::now(), REFRESH_MARGIN_SECS)
        {
            self.progress.detail("another run refreshed the tokens already");
            return Ok(Some(current));
        }
        match tokens::refresh(&self.http, &current, crate::now()).await {
            Ok(fresh) => {
                file.grants.insert(fresh.resource.clone(), fresh.clone());
                self.store.save(&file)?;
                self.progress.detail(format!("refreshed; scope: {}", fresh.scope));
                Ok(Some(fresh))
            }
            Err(RefreshFailure::Refused(why)) => {
                self.progress.step(format!("the refresh was refused ({why}); a new login is needed"));
                file.grants.remove(&grant.resource);
                self.store.save(&file)?;
                Ok(None)
            }
            Err(RefreshFailure::Other(e)) => {
                self.progress.step(format!("the refresh failed ({e}); keeping the tokens for later"));
                Ok(None)
            }
        }
    }

    /// Logs in for `url` as `authorize` says, after the request that carried `sent` was refused;
    /// one login at a time among this `Access` and its forks.
    ///
    /// A concurrent call may have logged in while this one waited for its turn: then the store
    /// holds another token for `url` than the one sent, and it is tried first (if
    /// `may_take_over`, and unless a step-up names a scope it lacks), instead of a second login
    /// for the same thing. A step-up that does log in keeps the stored grant's scope too, or the
    /// grant it stores would take away what the other call had just been granted.
    async fn log_in(
        &mut self,
        url: &str,
        authorize: &Authorize,
        sent: Option<&Grant>,
        may_take_over: bool,
    ) -> Result<LoggedIn> {
        if !self.options.interactive {
            return Err(AgentError::Authorization(format!(
                "{url} needs a login ({}); run `mcp-agent login {url}`",
                describe(&authorize.challenge)
            )));
        }
        let logins = self.logins.clone();
        let _one_at_a_time = logins.lock().await;
        let stored = self.store.grant_for(url)?;
        let mut authorize = authorize.clone();
        if let Some(stored) = stored {
            let another = sent.is_none_or(|sent| sent.access_token != stored.access_token);
            let stored_scopes = Scopes::parse(&stored.scope).unwrap_or_default();
            let enough = !authorize.step_up
                || stored_scopes.is_superset(&authorize.challenge.scopes().unwrap_or_default());
            if another && enough && may_take_over && !stored.expires_within(crate::now(), REFRESH_MARGIN_SECS)
            {
                self.progress.detail("another call logged in meanwhile; trying its token");
                return Ok(LoggedIn::Meanwhile(stored));
            }
            if authorize.step_up {
                authorize.keep = authorize.keep.union(&stored_scopes);
            }
        }
        let login = Login {
            http: &self.http,
            store: &self.store,
            progress: &self.progress,
            identity: &self.options.identity,
            browser: self.options.browser,
            timeout: self.options.login_timeout,
        };
        let plan = authorize::plan(&login, url, &authorize).await?;
        let requested = plan.scope.as_deref().and_then(|s| Scopes::parse(s).ok()).unwrap_or_default();
        self.authorizations += 1;
        let grant = authorize::authorize(&login, plan).await?;
        Ok(LoggedIn::Here { grant, requested })
    }
}

/// How a login for a refused request ended.
enum LoggedIn {
    /// This call logged in: the grant, and the scope asked for.
    Here { grant: Grant, requested: Scopes },
    /// A concurrent call logged in while this one waited: its grant, to try first.
    Meanwhile(Grant),
}

/// What the agent holds for the resource, as the challenge machine needs to know it.
fn held(grant: Option<&Grant>) -> Held {
    match grant {
        Some(grant) => Held {
            access_token: true,
            refresh_token: grant.refresh_token.is_some(),
            scopes: Scopes::parse(&grant.scope).unwrap_or_default(),
        },
        None => Held::nothing(),
    }
}

/// The error for a call the machine gave up on, saying what the server answered.
fn failed(url: &str, status: u16, challenge: Option<&BearerChallenge>, failure: Failure) -> AgentError {
    let details = challenge.map(describe).unwrap_or_else(|| "no details".into());
    match failure {
        Failure::NoChallenge => AgentError::Protocol(format!(
            "{url} answered {status} without a Bearer challenge (WWW-Authenticate), so there is no way to \
             find its authorization server"
        )),
        Failure::StillUnauthorized => AgentError::Authorization(format!(
            "{url} still answers 401 ({details}) with the token just obtained; not trying again"
        )),
        Failure::ScopeNotGranted { asked } => AgentError::Authorization(format!(
            "{url} still refuses ({details}) although \"{asked}\" was just asked for; asking again would not help"
        )),
        Failure::TooManyAuthorizations => AgentError::Authorization(format!(
            "{MAX_AUTHORIZATIONS} logins for one request and the server still refuses ({details}); giving up"
        )),
    }
}

/// The Bearer challenge of a `401`/`403`, if it has a readable one.
pub fn bearer_challenge(response: &reqwest::Response) -> Option<BearerChallenge> {
    let values = response.headers().get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok());
    BearerChallenge::from_header_values(values).ok().flatten()
}

fn describe(challenge: &BearerChallenge) -> String {
    let mut parts = Vec::new();
    if let Some(error) = &challenge.error {
        parts.push(error.as_str().to_owned());
    }
    if let Some(description) = &challenge.error_description {
        parts.push(description.clone());
    }
    if let Some(scope) = &challenge.scope {
        parts.push(format!("scope \"{scope}\""));
    }
    if parts.is_empty() { "no details".into() } else { parts.join(", ") }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::routing::{get, post};
    use protocol::secret::RefreshToken;

    use super::*;
    use crate::output::Verbosity;
    use crate::store::{Client, TokenEndpointAuth};
    use crate::stub::{self, Stub};

    /// A resource server that answers every request `401` with `challenge`, and a token endpoint
    /// that counts refresh attempts (and refuses them, so a login would follow). Our own server
    /// always says `invalid_token` when it refuses a token, so the other answers need this one.
    async fn refusing_server(challenge: &'static str) -> (String, Arc<AtomicUsize>) {
        let refreshes = Arc::new(AtomicUsize::new(0));
        let counted = refreshes.clone();
        let app =
            Router::new()
                .route(
                    "/mcp",
                    get(move || async move {
                        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)])
                    }),
                )
                .route(
                    "/token",
                    post(move || {
                        counted.fetch_add(1, Ordering::SeqCst);
                        async { (StatusCode::BAD_REQUEST, r#"{"error":"invalid_grant"}"#) }
                    }),
                );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, refreshes)
    }

    /// Sends a request holding an access and a refresh token, without permission to log in:
    /// the error it ends with, and how many refreshes it tried.
    async fn send_holding_tokens(challenge: &'static str) -> (AgentError, usize) {
        let (base, refreshes) = refusing_server(challenge).await;
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path().join("agent")).unwrap();
        store
            .put_grant(&Grant {
                issuer: base.clone(),
                resource: base.clone(),
                client: Client { client_id: "c".into(), client_secret: None, auth: TokenEndpointAuth::None },
                token_endpoint: format!("{base}/token"),
                revocation_endpoint: None,
                access_token: AccessToken::new("held-access-token"),
                refresh_token: Some(RefreshToken::new("held-refresh-token")),
                scope: "echo".into(),
                expires_at: None,
            })
            .await
            .unwrap();
        let options = AccessOptions {
            browser: BrowserMode::Print,
            identity: IdentityOptions::default(),
            login_timeout: Duration::from_secs(1),
            interactive: false,
        };
        let http = Http::new(Duration::from_secs(10)).unwrap();
        let mut access = Access::new(http.clone(), store, Progress::new(Verbosity::Quiet), options);
        let url = format!("{base}/mcp");
        let sent = access
            .send(&url, |token| {
                let request = http.client().get(&url);
                match token {
                    Some(token) => request.bearer_auth(token.secret()),
                    None => request,
                }
            })
            .await;
        let error = sent.expect_err("every answer is a 401");
        (error, refreshes.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn invalid_token_is_met_with_a_refresh_first() {
        let (error, refreshes) = send_holding_tokens(r#"Bearer error="invalid_token""#).await;
        assert_eq!(refreshes, 1);
        assert!(matches!(&error, AgentError::Authorization(m) if m.contains("needs a login")), "{error}");
    }

    /// The behaviour that changed with the shared challenge machine: the agent used to refresh on
    /// any `401` while it held a token. Without `invalid_token` the server did not judge a token
    /// (RFC 6750 §3.1), so a new one from the same grant would not help: it goes to a login.
    #[tokio::test]
    async fn a_401_without_invalid_token_is_not_met_with_a_refresh() {
        for challenge in [r#"Bearer realm="mcp""#, r#"Bearer error="invalid_request""#] {
            let (error, refreshes) = send_holding_tokens(challenge).await;
            assert_eq!(refreshes, 0, "{challenge}");
            assert!(matches!(&error, AgentError::Authorization(m) if m.contains("needs a login")), "{error}");
        }
    }

    /// Two calls of one model turn are futures of one task, and both find the token about to
    /// expire. The first refreshes, holding the issuer's lock across the token request; the
    /// second must wait for it without blocking the thread: it used to wait in `flock`, and
    /// then neither could go on, ever.
    #[tokio::test(flavor = "multi_thread")]
    async fn two_calls_refreshing_at_once_share_one_refresh_and_both_finish() {
        let stub = Stub::start().await;
        stub.delay_tokens(Duration::from_millis(200));
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path().join("agent")).unwrap();
        store.put_grant(&crate::stub::grant(&stub, Some(crate::now()))).await.unwrap();
        let url = stub.mcp();
        // The calls run on a thread of their own: a thread stuck in `flock` would not run a
        // timeout either.
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let outcome = runtime.block_on(async {
                let mut first = stub::access(store, IdentityOptions::default());
                let mut second = first.fork();
                let (a, b) = tokio::join!(stub::call(&mut first, &url), stub::call(&mut second, &url));
                (a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string()))
            });
            let _ = done.send(outcome);
        });
        let (a, b) = tokio::time::timeout(Duration::from_secs(5), finished)
            .await
            .expect("both calls finish (they used to wait for each other forever)")
            .unwrap();
        assert_eq!((a, b), (Ok(200), Ok(200)));
        let requests = stub.token_requests();
        assert_eq!(requests.len(), 1, "one refresh, its tokens used by both calls");
        assert!(requests[0].body.contains("grant_type=refresh_token"), "{}", requests[0].body);
        assert_eq!(requests[0].authorization, None, "a public client");
    }

    /// Two calls of one turn both meet a `401` with no token held. The second waits for the
    /// first's login, then finds its grant in the store and goes on with it: one login, not two
    /// (the second used to log in again, and a step-up's grant could replace a wider one).
    #[tokio::test]
    async fn concurrent_calls_needing_a_login_share_one() {
        let stub = Stub::start().await;
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path().join("agent")).unwrap();
        let mut first = stub::access(store, IdentityOptions::default());
        let mut second = first.fork();
        let url = stub.mcp();
        let (a, b) = tokio::join!(stub::call(&mut first, &url), stub::call(&mut second, &url));
        assert_eq!((a.unwrap(), b.unwrap()), (200, 200));
        assert_eq!(stub.authorizations(), 1, "one authorization request");
        assert_eq!(first.authorizations() + second.authorizations(), 1);
    }
}
