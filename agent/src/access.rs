//! Sending requests with an access token, and getting one when the server says so.
//!
//! [`Access::send`] attaches the stored token for the URL (refreshed first if it is about to
//! expire) and reads the answer's status:
//!
//! * `401` with a token: refresh once (`invalid_token`: expired or revoked), else log in again;
//! * `401` without one: log in, with the scope the challenge names (MCP scope selection);
//! * `403 insufficient_scope`: step-up, asking for the union of what the token has and what the
//!   challenge names (MCP, SEP-2350);
//!
//! and retries. It never loops: after a login the same request may not be refused with `401`
//! again, a scope already asked for and granted is not asked for again, and there are at most
//! [`MAX_AUTHORIZATIONS`] logins per run.

use protocol::challenge::BearerChallenge;
use protocol::error::ErrorCode;
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

/// Logins one run of the agent may start.
pub const MAX_AUTHORIZATIONS: usize = 3;
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
    authorizations: usize,
    /// The scopes asked for in this run that were then granted, with the issuer that granted
    /// them. A different issuer is a different question: when a resource moves to another
    /// authorization server (its metadata names a new one), logging in there is the way forward.
    granted_requests: Vec<(String, Scopes)>,
}

impl Access {
    pub fn new(http: Http, store: Store, progress: Progress, options: AccessOptions) -> Self {
        Self { http, store, progress, options, authorizations: 0, granted_requests: Vec::new() }
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
        let mut grant = self.usable_grant(url).await?;
        let mut refreshed = false;
        let mut logged_in = false;
        loop {
            let response = build(grant.as_ref().map(|g| &g.access_token))
                .send()
                .await
                .map_err(|e| AgentError::unreachable(url, &e))?;
            let status = response.status().as_u16();
            if status != 401 && status != 403 {
                return Ok(response);
            }
            let challenge = bearer_challenge(&response);
            if status == 403
                && challenge.as_ref().and_then(|c| c.error.as_ref()) != Some(&ErrorCode::InsufficientScope)
            {
                // Forbidden for another reason: nothing a token can change. The caller reports it.
                return Ok(response);
            }
            let Some(challenge) = challenge else {
                return Err(AgentError::Protocol(format!(
                    "{url} answered {status} without a Bearer challenge (WWW-Authenticate), so there is no way to \
                     find its authorization server"
                )));
            };
            if status == 401 {
                if logged_in {
                    return Err(AgentError::Authorization(format!(
                        "{url} still answers 401 ({}) with the token just obtained; not trying again",
                        describe(&challenge)
                    )));
                }
                if let Some(held) = &grant
                    && !refreshed
                {
                    refreshed = true;
                    self.progress.step("the server refused the access token; refreshing it");
                    if let Some(fresh) = self.refresh(held).await? {
                        grant = Some(fresh);
                        continue;
                    }
                }
                grant = Some(self.log_in(url, &challenge, &Scopes::default()).await?);
            } else {
                let held = grant.as_ref().map(scopes_of).unwrap_or_default();
                self.progress.step(format!(
                    "the server needs more scope ({}); asking for it",
                    challenge.scope.as_deref().unwrap_or("unnamed")
                ));
                grant = Some(self.log_in(url, &challenge, &held).await?);
            }
            logged_in = true;
        }
    }

    /// The stored grant for `url`, refreshed if it is about to expire; `None` if there is none or
    /// its refresh token was refused.
    async fn usable_grant(&mut self, url: &str) -> Result<Option<Grant>> {
        let Some(grant) = self.store.grant_for(url)? else {
            return Ok(None);
        };
        if !grant.expires_within(crate::now(), REFRESH_MARGIN_SECS) {
            return Ok(Some(grant));
        }
        self.progress.step("the access token is about to expire; refreshing it");
        match self.refresh(&grant).await? {
            Some(fresh) => Ok(Some(fresh)),
            // Expired and not refreshable: send nothing and let the challenge start a login.
            None => Ok(None),
        }
    }

    /// Refreshes `grant` under the store's lock, so concurrent runs spend its refresh token once:
    /// whoever takes the lock second finds the tokens already replaced and uses those.
    /// `None` when the grant is over (the refresh token was refused), which is then forgotten.
    async fn refresh(&mut self, grant: &Grant) -> Result<Option<Grant>> {
        let _lock = self.store.lock(&grant.issuer)?;
        let mut file = self.store.load(&grant.issuer)?;
        let Some(current) = file.grants.get(&grant.resource).cloned() else {
            return Ok(None);
        };
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

    async fn log_in(&mut self, url: &str, challenge: &BearerChallenge, held: &Scopes) -> Result<Grant> {
        if !self.options.interactive {
            return Err(AgentError::Authorization(format!(
                "{url} needs a login ({}); run `mcp-agent login {url}`",
                describe(challenge)
            )));
        }
        if self.authorizations >= MAX_AUTHORIZATIONS {
            return Err(AgentError::Authorization(format!(
                "{MAX_AUTHORIZATIONS} logins in one run and the server still refuses ({}); giving up",
                describe(challenge)
            )));
        }
        let login = Login {
            http: &self.http,
            store: &self.store,
            progress: &self.progress,
            identity: &self.options.identity,
            browser: self.options.browser,
            timeout: self.options.login_timeout,
        };
        let plan = authorize::plan(&login, url, challenge, held).await?;
        let wanted = plan.scope.as_deref().and_then(|s| Scopes::parse(s).ok()).unwrap_or_default();
        let issuer = plan.discovered.issuer.clone();
        if self.granted_requests.iter().any(|(by, done)| *by == issuer && done.is_superset(&wanted)) {
            return Err(AgentError::Authorization(format!(
                "{url} still refuses ({}) although {issuer} just granted \"{wanted}\"; asking again would not help",
                describe(challenge)
            )));
        }
        self.authorizations += 1;
        let grant = authorize::authorize(&login, plan).await?;
        if scopes_of(&grant).is_superset(&wanted) {
            self.granted_requests.push((issuer, wanted));
        }
        Ok(grant)
    }
}

fn scopes_of(grant: &Grant) -> Scopes {
    Scopes::parse(&grant.scope).unwrap_or_default()
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
