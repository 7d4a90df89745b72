//! A user agent without a browser: it follows the same protocol steps as the SPA over plain HTTP,
//! posting the authorization server's login and consent forms like a person would. Used by the
//! HTTP-level end-to-end tests; the browser test drives the real SPA.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow, bail, ensure};
use protocol::authorization::{AuthorizationRequest, CallbackParams, ExpectedCallback};
use protocol::challenge::BearerChallenge;
use protocol::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
};
use protocol::pkce::{CodeChallenge, CodeVerifier};
use protocol::registration::{ClientInformation, ClientMetadata};
use protocol::secret::AccessToken;
use protocol::token::{AuthorizationCodeRequest, GRANT_AUTHORIZATION_CODE, TokenResponse};
use reqwest::redirect::Policy;

use crate::stack::{DEMO_PASSWORD, DEMO_USER};

/// Where a headless flow says it came back to; never contacted.
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

/// An HTTP client with a cookie jar that does not follow redirects, so every hop is checked.
pub struct HeadlessUser {
    pub http: reqwest::Client,
    username: String,
    password: String,
}

impl Default for HeadlessUser {
    fn default() -> Self {
        Self::new()
    }
}

/// The value of `<input name="{name}" value="…">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
}

impl HeadlessUser {
    /// The seeded demo user.
    pub fn new() -> Self {
        Self::as_user(DEMO_USER, DEMO_PASSWORD)
    }

    /// Another user of the authorization server.
    pub fn as_user(username: &str, password: &str) -> Self {
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
        Self { http, username: username.to_owned(), password: password.to_owned() }
    }

    /// Signs in at `issuer`'s `/approvals` page (if not yet) and gives `decision` (`once`,
    /// `remember-<seconds>`, `deny`) to every request waiting there; returns how many there were.
    pub async fn answer_approvals(&self, issuer: &str, decision: &str) -> anyhow::Result<usize> {
        let approvals = format!("{issuer}/approvals");
        let mut page = self.http.get(&approvals).send().await?;
        if page.status() == 303 {
            let login_url = format!("{issuer}/login?return_to=/approvals");
            let login_page = self.http.get(&login_url).send().await?.text().await?;
            let form = [
                ("csrf_token", hidden_field(&login_page, "csrf_token").context("no csrf field")?),
                ("return_to", "/approvals".to_owned()),
                ("username", self.username.clone()),
                ("password", self.password.clone()),
            ];
            let login = self.http.post(format!("{issuer}/login")).form(&form).send().await?;
            ensure!(login.status() == 303, "login answered {}", login.status());
            page = self.http.get(&approvals).send().await?;
        }
        ensure!(page.status() == 200, "/approvals answered {}", page.status());
        let html = page.text().await?;
        let csrf = hidden_field(&html, "csrf_token").unwrap_or_default();
        let ids: Vec<String> = html
            .match_indices("action=\"/approvals/")
            .map(|(at, marker)| {
                let rest = &html[at + marker.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_owned()
            })
            .collect();
        for id in &ids {
            let form = [("decision", decision), ("csrf_token", csrf.as_str())];
            let answer = self.http.post(format!("{approvals}/{id}")).form(&form).send().await?;
            ensure!(answer.status() == 303, "answering approval {id} answered {}", answer.status());
        }
        Ok(ids.len())
    }

    /// From a `401` on `request_url` to an access token, the way the SPA does it.
    pub async fn authorize_from_challenge(
        &self,
        request_url: &str,
        challenge: &BearerChallenge,
    ) -> anyhow::Result<AccessToken> {
        let prm_url = challenge.resource_metadata.clone().context("challenge without resource_metadata")?;
        let prm: ProtectedResourceMetadata =
            self.http.get(&prm_url).send().await?.error_for_status()?.json().await?;
        prm.validate_for_request(request_url)?;
        let issuer = prm.authorization_servers[0].clone();
        let metadata_url = authorization_server_metadata_urls(&url::Url::parse(&issuer)?)[0].clone();
        let server: AuthorizationServerMetadata =
            self.http.get(&metadata_url).send().await?.error_for_status()?.json().await?;
        server.validate_for_issuer(&issuer)?;

        let registration = ClientMetadata {
            redirect_uris: vec![REDIRECT_URI.into()],
            client_name: Some("e2e headless client".into()),
            application_type: Some("web".into()),
            ..Default::default()
        };
        let endpoint = server.registration_endpoint.clone().context("no registration endpoint")?;
        let client: ClientInformation =
            self.http.post(endpoint).json(&registration).send().await?.error_for_status()?.json().await?;

        let verifier = CodeVerifier::from_random_bytes(random32());
        let state = protocol::base64url(&random32());
        let request = AuthorizationRequest::new(
            &client.client_id,
            REDIRECT_URI,
            challenge.scope.clone(),
            &state,
            CodeChallenge::s256(&verifier),
            &prm.resource,
        );
        let authorize_url =
            request.to_url(server.authorization_endpoint.as_deref().context("no authorize endpoint")?)?;
        let params = self.log_in_and_consent(&issuer, &authorize_url).await?;
        let callback: CallbackParams = serde_json::from_value(serde_json::to_value(&params)?)?;
        let code = callback.into_code(&ExpectedCallback {
            state: &state,
            issuer: &issuer,
            issuer_parameter_required: server.authorization_response_iss_parameter_supported,
        })?;

        let exchange = AuthorizationCodeRequest {
            grant_type: GRANT_AUTHORIZATION_CODE.into(),
            code,
            redirect_uri: REDIRECT_URI.into(),
            client_id: Some(client.client_id),
            code_verifier: verifier,
            resource: Some(prm.resource),
        };
        let token_endpoint = server.token_endpoint.context("no token endpoint")?;
        let response = self.http.post(token_endpoint).form(&exchange).send().await?;
        ensure!(
            response.status() == 200,
            "token endpoint answered {}: {}",
            response.status(),
            response.text().await?
        );
        let token: TokenResponse = response.json().await?;
        Ok(token.access_token)
    }

    /// Follows the authorize URL through the login and consent pages and returns the query of the
    /// final redirect to the client.
    pub async fn log_in_and_consent(
        &self,
        issuer: &str,
        authorize_url: &str,
    ) -> anyhow::Result<HashMap<String, String>> {
        let back = self.log_in_and_consent_redirect(issuer, authorize_url).await?;
        Ok(back.query_pairs().into_owned().collect())
    }

    /// Like [`Self::log_in_and_consent`], but returns the whole URL the authorization server sent
    /// the user agent back to, for a client that wants to receive the redirect itself.
    pub async fn log_in_and_consent_redirect(
        &self,
        issuer: &str,
        authorize_url: &str,
    ) -> anyhow::Result<url::Url> {
        let absolute = |location: &str| {
            if location.starts_with('/') { format!("{issuer}{location}") } else { location.to_owned() }
        };
        let location = |response: &reqwest::Response| -> anyhow::Result<String> {
            let value = response
                .headers()
                .get("location")
                .ok_or_else(|| anyhow!("{} without Location", response.status()))?;
            Ok(absolute(value.to_str()?))
        };
        let authorize = self.http.get(authorize_url).send().await?;
        ensure!(authorize.status() == 303, "authorize answered {}", authorize.status());
        let mut next = location(&authorize)?;
        // A user agent that signed in before (same cookie jar) skips the login page, and a
        // remembered consent skips the consent page: follow whichever pages come.
        for _ in 0..3 {
            if !next.starts_with(&format!("{issuer}/")) {
                break;
            }
            if next.starts_with(&format!("{issuer}/login")) {
                let login_page = self.http.get(&next).send().await?.text().await?;
                let login_form = [
                    ("request", hidden_field(&login_page, "request").context("no request field")?),
                    ("csrf_token", hidden_field(&login_page, "csrf_token").context("no csrf field")?),
                    ("username", self.username.clone()),
                    ("password", self.password.clone()),
                ];
                let login = self.http.post(format!("{issuer}/login")).form(&login_form).send().await?;
                ensure!(login.status() == 303, "login answered {}", login.status());
                next = location(&login)?;
            } else {
                let page = self.http.get(&next).send().await?;
                if page.status() == 303 {
                    next = location(&page)?;
                    continue;
                }
                let consent_page = page.text().await?;
                let consent_form = [
                    ("request", hidden_field(&consent_page, "request").context("no request field")?),
                    ("csrf_token", hidden_field(&consent_page, "csrf_token").context("no csrf field")?),
                    ("decision", "allow".to_owned()),
                ];
                let consent = self.http.post(format!("{issuer}/consent")).form(&consent_form).send().await?;
                ensure!(consent.status() == 303, "consent answered {}", consent.status());
                next = location(&consent)?;
            }
        }
        ensure!(
            !next.starts_with(&format!("{issuer}/")),
            "still at the authorization server after its pages: {next}"
        );
        let back = url::Url::parse(&next)?;
        if back.query_pairs().any(|(k, _)| k == "error") {
            // Back at the client with an error: the request was refused.
            let error = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
            bail!(
                "authorize sent the user agent back with error={:?}: {:?}",
                error("error"),
                error("error_description")
            );
        }
        Ok(back)
    }
}
