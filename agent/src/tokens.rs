//! Requests to the token endpoint: redeeming a code (OAuth 2.1 §4.1.3) and refreshing (§4.3), and
//! to the revocation endpoint (RFC 7009), as `protocol`'s typed forms, with the client
//! authentication the client was registered for (RFC 6749 §2.3.1).

use base64::Engine as _;
use protocol::introspection::RevocationRequest;
use protocol::pkce::CodeVerifier;
use protocol::secret::{AuthorizationCode, RefreshToken};
use protocol::token::{AuthorizationCodeRequest, RefreshTokenRequest, TokenResponse};
use serde::Serialize;

use crate::error::{AgentError, Result};
use crate::http::{Exchange, Http, SMALL_BODY_LIMIT};
use crate::store::{Client, Grant, TokenEndpointAuth};

/// What a code is redeemed with.
pub struct CodeRedemption<'a> {
    pub issuer: &'a str,
    pub token_endpoint: &'a str,
    pub revocation_endpoint: Option<&'a str>,
    pub client: &'a Client,
    pub code: AuthorizationCode,
    pub verifier: &'a CodeVerifier,
    pub redirect_uri: &'a str,
    pub resource: &'a str,
    /// The scope asked for, recorded when the response does not say what was granted.
    pub requested_scope: Option<&'a str>,
}

/// Why a refresh did not produce tokens.
#[derive(Debug)]
pub enum RefreshFailure {
    /// The server refused the refresh token (`invalid_grant`: expired, revoked or reused) or the
    /// client: the grant is over, a new login is needed.
    Refused(String),
    /// Anything else (unreachable, a 5xx): the stored tokens may still be good later.
    Other(AgentError),
}

pub async fn redeem(http: &Http, redemption: CodeRedemption<'_>, now: u64) -> Result<Grant> {
    let mut request = AuthorizationCodeRequest::new(
        redemption.code,
        redemption.redirect_uri,
        &redemption.client.client_id,
        redemption.verifier.clone(),
        redemption.resource,
    );
    request.client_id = client_id_in_body(redemption.client);
    let answer = post(http, redemption.token_endpoint, redemption.client, &request).await?;
    if answer.status != 200 {
        return Err(AgentError::TokenEndpoint(answer.oauth_error()));
    }
    let response = parse(&answer, redemption.token_endpoint)?;
    Ok(Grant {
        issuer: redemption.issuer.to_owned(),
        resource: redemption.resource.to_owned(),
        client: redemption.client.clone(),
        token_endpoint: redemption.token_endpoint.to_owned(),
        revocation_endpoint: redemption.revocation_endpoint.map(str::to_owned),
        scope: response.scope.clone().or(redemption.requested_scope.map(str::to_owned)).unwrap_or_default(),
        expires_at: response.expires_in.map(|s| now.saturating_add(s)),
        access_token: response.access_token,
        refresh_token: response.refresh_token,
    })
}

/// Exchanges `grant`'s refresh token for new tokens. The answer's refresh token replaces the old
/// one (rotation); a server that does not rotate leaves the old one in use.
pub async fn refresh(http: &Http, grant: &Grant, now: u64) -> Result<Grant, RefreshFailure> {
    let Some(refresh_token) = &grant.refresh_token else {
        return Err(RefreshFailure::Refused("there is no refresh token".into()));
    };
    let mut request = RefreshTokenRequest::new(refresh_token.clone(), &grant.client.client_id);
    request.client_id = client_id_in_body(&grant.client);
    request.resource = Some(grant.resource.clone());
    let answer =
        post(http, &grant.token_endpoint, &grant.client, &request).await.map_err(RefreshFailure::Other)?;
    if answer.status == 400 || answer.status == 401 {
        return Err(RefreshFailure::Refused(answer.oauth_error()));
    }
    if answer.status != 200 {
        return Err(RefreshFailure::Other(AgentError::TokenEndpoint(answer.oauth_error())));
    }
    let response = parse(&answer, &grant.token_endpoint).map_err(RefreshFailure::Other)?;
    Ok(Grant {
        // RFC 6749 §5.1: no scope in the answer means the scope is unchanged.
        scope: response.scope.clone().unwrap_or_else(|| grant.scope.clone()),
        expires_at: response.expires_in.map(|s| now.saturating_add(s)),
        access_token: response.access_token,
        refresh_token: response.refresh_token.or_else(|| grant.refresh_token.clone()),
        ..grant.clone()
    })
}

/// Revokes a refresh token (RFC 7009). Best effort: the caller forgets the token either way.
pub async fn revoke(http: &Http, endpoint: &str, client: &Client, token: &RefreshToken) -> Result<()> {
    let mut request = RevocationRequest::refresh_token(token, &client.client_id);
    request.client_id = client_id_in_body(client);
    let answer = post(http, endpoint, client, &request).await?;
    if answer.status == 200 { Ok(()) } else { Err(AgentError::TokenEndpoint(answer.oauth_error())) }
}

/// The `client_id` a form carries: none when the client authenticates with `Authorization:
/// Basic`, which names it already (RFC 6749 §2.3.1); otherwise it names itself in the body.
fn client_id_in_body(client: &Client) -> Option<String> {
    match (client.auth, &client.client_secret) {
        (TokenEndpointAuth::ClientSecretBasic, Some(_)) => None,
        _ => Some(client.client_id.clone()),
    }
}

/// POSTs the form `request` to `endpoint` with the client's authentication: the `Authorization`
/// header for `client_secret_basic`, `client_secret` in the body for `client_secret_post`.
async fn post(http: &Http, endpoint: &str, client: &Client, request: &impl Serialize) -> Result<Exchange> {
    let mut body = serde_urlencoded::to_string(request).map_err(|e| AgentError::Protocol(e.to_string()))?;
    let mut builder = http.client().post(endpoint).header("accept", "application/json");
    match (client.auth, &client.client_secret) {
        (TokenEndpointAuth::ClientSecretBasic, Some(secret)) => {
            builder = builder.header("authorization", basic_credentials(&client.client_id, secret.secret()));
        }
        (TokenEndpointAuth::ClientSecretPost, Some(secret)) => {
            let credential = serde_urlencoded::to_string([("client_secret", secret.secret())])
                .map_err(|e| AgentError::Protocol(e.to_string()))?;
            body = format!("{body}&{credential}");
        }
        _ => {}
    }
    let builder = builder.header("content-type", "application/x-www-form-urlencoded").body(body);
    http.send(endpoint, builder, SMALL_BODY_LIMIT).await
}

/// `Basic …` for RFC 6749 §2.3.1: each part form-urlencoded before joining, then Base64.
fn basic_credentials(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let joined = format!("{}:{}", encode(client_id), encode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(joined))
}

fn parse(answer: &Exchange, endpoint: &str) -> Result<TokenResponse> {
    let response: TokenResponse = serde_json::from_str(&answer.body)
        .map_err(|e| AgentError::Protocol(format!("the token response from {endpoint} is malformed: {e}")))?;
    if !response.is_bearer() {
        return Err(AgentError::Protocol(format!(
            "{endpoint} issued a {:?} token; this agent uses Bearer tokens only",
            response.token_type
        )));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::stub::Stub;

    /// A token endpoint that answers `201` with tokens: refused (only `200` is a token response),
    /// and the message, which is printed, shows none of the body.
    #[tokio::test]
    async fn a_token_body_under_another_success_status_is_not_in_the_error() {
        let stub = Stub::start().await;
        stub.answer_tokens_with(axum::http::StatusCode::CREATED);
        let grant = crate::stub::grant(&stub, None);
        let http = Http::new(std::time::Duration::from_secs(10)).unwrap();
        let Err(RefreshFailure::Other(error)) = refresh(&http, &grant, 0).await else {
            panic!("a 201 is not a token response");
        };
        let message = error.to_string();
        assert!(message.contains("201"), "{message}");
        assert!(!message.contains("issued-"), "a token in the message: {message}");
        let revoked = revoke(&http, &grant.token_endpoint, &grant.client, &RefreshToken::new("r")).await;
        let message = revoked.expect_err("a 201 is not a revocation's answer").to_string();
        assert!(!message.contains("issued-"), "a token in the message: {message}");
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        // RFC 6749 §2.3.1's example values need no encoding.
        assert_eq!(
            basic_credentials("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"),
            "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"
        );
        let decoded = |header: String| {
            let encoded = header.strip_prefix("Basic ").unwrap().to_owned();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
        };
        assert_eq!(decoded(basic_credentials("a b:c", "é/x")), "a+b%3Ac:%C3%A9%2Fx");
    }
}
