//! What a virtual user does: signs in once (login and consent, as a person would, or automated
//! where the server has no pages of its own), then the measured operations, each as a client and
//! its user's browser would perform it.

use anyhow::{Context as _, bail, ensure};
use hyper::body::Bytes;
use protocol::pkce::{CodeChallenge, CodeVerifier};
use test_support::headless::hidden_field;

use super::http::{Answer, By, Conn};

/// The one public client every virtual user authorizes.
pub const CLIENT_ID: &str = "bench-client";
/// Where it says the browser comes back to; never contacted.
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";
/// What it asks for.
pub const SCOPE: &str = "echo";
/// The person who signs in (on `mcp-auth`'s login page).
pub const USERNAME: &str = "bench";
pub const PASSWORD: &str = "bench-password-1";
/// The confidential client that introspects.
pub const INTROSPECTOR_ID: &str = "introspector";

/// A dynamic registration (RFC 7591) as an MCP client sends it.
const REGISTRATION: &str = r#"{"redirect_uris":["http://127.0.0.1:1/callback"],"client_name":"bench","token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}"#;

/// An authorization server as the virtual users see it: where its endpoints are.
pub struct Target {
    pub base: String,
    pub authorize: &'static str,
    pub token: &'static str,
    pub introspect: &'static str,
    pub register: &'static str,
    /// The resource indicator of every authorization and token request (RFC 8707).
    pub resource: String,
    /// The resource whose access tokens introspection asks about: `resource`, or for
    /// node-oidc-provider, which refuses to introspect JWTs, one with opaque access tokens.
    pub introspected_resource: String,
    /// `Basic …`: the confidential client that introspects.
    pub introspector: String,
}

/// One measured operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A refresh token grant: the chain's token is spent, its successor (which must be another
    /// token: rotation) kept.
    Refresh,
    /// `GET /authorize` with the session of a person who already consented (and whatever page
    /// the server sends the browser through before it comes back with a code), then the code
    /// redeemed at the token endpoint.
    CodeExchange,
    /// One of the virtual user's valid access tokens, asked about by the confidential client.
    Introspection,
    /// A new public client (RFC 7591).
    Registration,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Refresh => "refresh",
            Op::CodeExchange => "code exchange",
            Op::Introspection => "introspection",
            Op::Registration => "registration",
        }
    }

    /// The `k`-th operation of virtual user `user` in the mix: 70 % refresh, 20 % introspection,
    /// 9 % code exchange, 1 % registration, exactly so over every 100 operations and spread
    /// evenly over them (37 is coprime to 100); each user starts elsewhere in the pattern.
    pub fn of_mix(user: usize, k: u64) -> Op {
        let slot = (k + user as u64 * 13) % 100;
        match (slot * 37) % 100 {
            0..70 => Op::Refresh,
            70..90 => Op::Introspection,
            90..99 => Op::CodeExchange,
            _ => Op::Registration,
        }
    }
}

/// A person's browser session at the server, and the client's tokens from it.
pub struct VirtualUser {
    conn: Conn,
    verifier: CodeVerifier,
    challenge: String,
    refresh_token: String,
    /// A valid access token, for introspection.
    introspected: String,
    /// Authorization requests sent so far (their `state`).
    requests: u64,
}

impl VirtualUser {
    /// Signs in and consents through the server's pages (or its automated interaction), then
    /// redeems the code: the start of a refresh chain and a session that is already authorized.
    pub async fn sign_in(target: &Target, seed: [u8; 32]) -> anyhow::Result<Self> {
        let verifier = CodeVerifier::from_random_bytes(seed);
        let challenge = CodeChallenge::s256(&verifier).to_string();
        let conn = Conn::open(&target.base).await?;
        let mut user = Self {
            conn,
            verifier,
            challenge,
            refresh_token: String::new(),
            introspected: String::new(),
            requests: 0,
        };
        let code = user.authorize(target, &target.resource, true).await?;
        let (access, refresh) =
            user.redeem(target, &code, &target.resource).await.map_err(anyhow::Error::msg)?;
        user.refresh_token = refresh.context("no refresh token in the code exchange's answer")?;
        check_header(&access)?;
        user.introspected = access;
        if target.introspected_resource != target.resource {
            let code = user.authorize(target, &target.introspected_resource, true).await?;
            let resource = target.introspected_resource.clone();
            user.introspected = user.redeem(target, &code, &resource).await.map_err(anyhow::Error::msg)?.0;
        }
        // Before the clock: the operations work as this user does them.
        for op in [Op::Refresh, Op::Introspection, Op::CodeExchange] {
            user.perform(target, op).await.map_err(anyhow::Error::msg)?;
        }
        Ok(user)
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.conn.requests()
    }

    /// Performs `op`; on failure, says what went wrong (which the bench counts and prints).
    pub async fn perform(&mut self, target: &Target, op: Op) -> Result<(), String> {
        let outcome = match op {
            Op::Refresh => self.refresh(target).await,
            Op::CodeExchange => match self.authorize(target, &target.resource, false).await {
                Ok(code) => self.redeem(target, &code, &target.resource).await.map(drop),
                Err(e) => Err(e.to_string()),
            },
            Op::Introspection => self.introspect(target).await,
            Op::Registration => self.register(target).await,
        };
        outcome.map_err(|e| format!("{}: {e}", op.label()))
    }

    async fn refresh(&mut self, target: &Target) -> Result<(), String> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token.as_str()),
            ("client_id", CLIENT_ID),
            ("resource", target.resource.as_str()),
        ];
        let answer =
            self.conn.post_form(target.token, By::Client, &form, None).await.map_err(|e| e.to_string())?;
        match tokens(&answer) {
            Some((_, Some(next))) if next != self.refresh_token => {
                self.refresh_token = next;
                Ok(())
            }
            _ => {
                // The chain is broken: start another, so that this user goes on refreshing.
                if let Ok(code) = self.authorize(target, &target.resource, false).await
                    && let Ok((_, Some(next))) = self.redeem(target, &code, &target.resource).await
                {
                    self.refresh_token = next;
                }
                Err(answer.describe())
            }
        }
    }

    async fn introspect(&mut self, target: &Target) -> Result<(), String> {
        let form = [("token", self.introspected.as_str())];
        let answer = self
            .conn
            .post_form(target.introspect, By::Client, &form, Some(&target.introspector))
            .await
            .map_err(|e| e.to_string())?;
        let active = answer.json().is_some_and(|json| json["active"] == true);
        if answer.status == 200 && active { Ok(()) } else { Err(answer.describe()) }
    }

    async fn register(&mut self, target: &Target) -> Result<(), String> {
        let answer = self
            .conn
            .post_json(target.register, Bytes::from_static(REGISTRATION.as_bytes()))
            .await
            .map_err(|e| e.to_string())?;
        let issued = answer.json().is_some_and(|json| json["client_id"].is_string());
        if answer.status == 201 && issued { Ok(()) } else { Err(answer.describe()) }
    }

    /// Redeems `code`: the access token and the refresh token, if any.
    async fn redeem(
        &mut self,
        target: &Target,
        code: &str,
        resource: &str,
    ) -> Result<(String, Option<String>), String> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("code_verifier", self.verifier.secret()),
            ("resource", resource),
        ];
        let answer =
            self.conn.post_form(target.token, By::Client, &form, None).await.map_err(|e| e.to_string())?;
        tokens(&answer).ok_or_else(|| answer.describe())
    }

    /// From `GET /authorize` to the code: follows the server's redirects; with `person`, fills in
    /// its login and consent forms on the way (`mcp-auth`'s pages), without, a page that asks the
    /// person anything is an error (the session is supposed to be authorized already).
    async fn authorize(&mut self, target: &Target, resource: &str, person: bool) -> anyhow::Result<String> {
        self.requests += 1;
        let state = self.requests.to_string();
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", SCOPE),
            ("state", state.as_str()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", resource),
        ])?;
        let mut answer = self.conn.get(&format!("{}?{query}", target.authorize)).await?;
        for _ in 0..8 {
            if (300..400).contains(&answer.status) {
                let location = answer.location.clone().context("a redirect without Location")?;
                if let Some(back) = location.strip_prefix(REDIRECT_URI) {
                    return code_of(back, &state);
                }
                let path = location.strip_prefix(target.base.as_str()).unwrap_or(&location).to_owned();
                ensure!(path.starts_with('/'), "redirected away to {location}");
                answer = self.conn.get(&path).await?;
            } else if answer.status == 200 && person {
                answer = self.fill_in(&answer).await?;
            } else {
                bail!("authorization: {}", answer.describe());
            }
        }
        bail!("authorization: too many redirects")
    }

    /// Submits the login or consent form of a page: signs in as [`USERNAME`], or allows.
    async fn fill_in(&mut self, page: &Answer) -> anyhow::Result<Answer> {
        let html = page.text();
        let action = html
            .split_once("action=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(action, _)| action.to_owned())
            .with_context(|| format!("a page without a form: {}", page.describe()))?;
        let field = |name: &str| hidden_field(&html, name).with_context(|| format!("no {name} field"));
        let (request, csrf) = (field("request")?, field("csrf_token")?);
        let mut form = vec![("request", request.as_str()), ("csrf_token", csrf.as_str())];
        if html.contains("name=\"password\"") {
            form.extend([("username", USERNAME), ("password", PASSWORD)]);
        } else {
            form.push(("decision", "allow"));
        }
        self.conn.post_form(&action, By::Browser, &form, None).await
    }
}

/// The access token and refresh token of a successful token response.
fn tokens(answer: &Answer) -> Option<(String, Option<String>)> {
    if answer.status != 200 {
        return None;
    }
    let json = answer.json()?;
    let access = json["access_token"].as_str()?.to_owned();
    Some((access, json["refresh_token"].as_str().map(str::to_owned)))
}

/// Is `token` a JWT access token (RFC 9068) signed with ES256, as the bench configures every
/// server to issue?
fn check_header(token: &str) -> anyhow::Result<()> {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap_or_default();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap_or_default();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap_or_default();
    ensure!(
        header["alg"] == "ES256" && header["typ"] == "at+jwt",
        "the access token is not an ES256 JWT (RFC 9068): header {header}"
    );
    Ok(())
}

/// The code of a redirect back to the client (`back` is what follows [`REDIRECT_URI`]).
fn code_of(back: &str, state: &str) -> anyhow::Result<String> {
    let query = back.strip_prefix('?').context("came back without a query")?;
    let params = protocol::form::parse_unique(query)?;
    if let Some(error) = params.get("error") {
        bail!("came back with error={error}: {:?}", params.get("error_description"));
    }
    ensure!(params.get("state").map(String::as_str) == Some(state), "came back with another state");
    params.get("code").cloned().context("came back without a code")
}

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn the_mix_is_70_20_9_1_over_every_100_operations_of_a_user() {
        for user in [0, 1, 31] {
            let mut counts = std::collections::HashMap::new();
            for k in 500..600 {
                *counts.entry(Op::of_mix(user, k)).or_insert(0) += 1;
            }
            assert_eq!(counts[&Op::Refresh], 70);
            assert_eq!(counts[&Op::Introspection], 20);
            assert_eq!(counts[&Op::CodeExchange], 9);
            assert_eq!(counts[&Op::Registration], 1);
        }
    }
}
