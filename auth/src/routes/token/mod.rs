//! `POST /token` (RFC 6749 §3.2): dispatch by `grant_type`. Every answer, success or error, is
//! JSON with `Cache-Control: no-store`.

mod code;
mod refresh;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use protocol::error::ErrorCode;
use protocol::pkce::CodeVerifier;
use protocol::secret::{AuthorizationCode, RefreshToken};
use protocol::token::{
    AuthorizationCodeRequest, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, RefreshTokenRequest,
};

use super::extract::{FromParams, OAuthForm, Params};
use crate::audit::RequestContext;
use crate::error::{ApiError, no_store};
use crate::state::AppState;
use crate::store::Client;

/// A token request, by grant type.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
    AuthorizationCode(AuthorizationCodeRequest),
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken(RefreshTokenRequest),
}

pub async fn token(
    State(state): State<AppState>,
    context: RequestContext,
    OAuthForm(request): OAuthForm<TokenRequest>,
) -> Result<Response, ApiError> {
    let response = match request {
        TokenRequest::AuthorizationCode(request) => code::exchange(&state, &context, request).await?,
        TokenRequest::RefreshToken(request) => refresh::refresh(&state, &context, request).await?,
    };
    let mut response = Json(response).into_response();
    no_store(&mut response);
    Ok(response)
}

impl FromParams for TokenRequest {
    /// The parameters are checked in a fixed order, the client's own (`client_id`) last, so a
    /// request missing several always gets the same error.
    fn from_params(params: Params) -> Result<Self, ApiError> {
        match params.get("grant_type") {
            None => Err(ApiError::invalid_request("grant_type is required")),
            Some(GRANT_AUTHORIZATION_CODE) => {
                let code = AuthorizationCode::new(params.required("code")?);
                let redirect_uri = params.required("redirect_uri")?.to_owned();
                let code_verifier = CodeVerifier::parse(params.required("code_verifier")?)
                    .map_err(|e| ApiError::invalid_request(format!("code_verifier {e}")))?;
                Ok(Self::AuthorizationCode(AuthorizationCodeRequest {
                    grant_type: GRANT_AUTHORIZATION_CODE.to_owned(),
                    code,
                    redirect_uri,
                    client_id: Some(params.required("client_id")?.to_owned()),
                    code_verifier,
                    resource: params.get("resource").map(str::to_owned),
                }))
            }
            Some(GRANT_REFRESH_TOKEN) => Ok(Self::RefreshToken(RefreshTokenRequest {
                grant_type: GRANT_REFRESH_TOKEN.to_owned(),
                refresh_token: RefreshToken::new(params.required("refresh_token")?),
                // Public clients must send it; `public_client` says so when it is missing.
                client_id: params.get("client_id").map(str::to_owned),
                scope: params.get("scope").map(str::to_owned),
                resource: params.get("resource").map(str::to_owned),
            })),
            Some(_) => Err(ApiError::new(
                ErrorCode::UnsupportedGrantType,
                "this server supports the authorization_code and refresh_token grants",
            )),
        }
    }
}

/// The public client named by `client_id`. Public clients authenticate by id alone (PKCE and
/// refresh token rotation carry the proof); a `client_secret` sent anyway is ignored rather than
/// treated as authentication.
pub(super) async fn public_client(state: &AppState, client_id: Option<&str>) -> Result<Client, ApiError> {
    let client_id = client_id.ok_or_else(|| ApiError::invalid_request("client_id is required"))?;
    state
        .store
        .find_client(client_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidClient, "unknown client_id"))
}

/// Does this client get refresh tokens? Only if it registered for the grant (RFC 7591 defaults
/// `grant_types` to `authorization_code` alone).
fn wants_refresh_tokens(client: &Client) -> bool {
    client.metadata.grant_types.as_ref().is_some_and(|g| g.iter().any(|g| g == GRANT_REFRESH_TOKEN))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(form: &str) -> Result<TokenRequest, (String, String)> {
        let params: HashMap<String, String> = protocol::form::parse_unique(form).unwrap();
        TokenRequest::from_params(params.into())
            .map_err(|e| (e.body.error.as_str().to_owned(), e.body.error_description.unwrap_or_default()))
    }

    fn error(form: &str) -> (String, String) {
        parse(form).unwrap_err()
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn a_code_request_reads_into_the_typed_request() {
        let form = format!(
            "grant_type=authorization_code&code=c&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&client_id=id\
             &code_verifier={VERIFIER}&resource=http%3A%2F%2Flocalhost%3A9090"
        );
        let Ok(TokenRequest::AuthorizationCode(request)) = parse(&form) else { panic!("a code request") };
        assert_eq!(request.code.secret(), "c");
        assert_eq!(request.redirect_uri, "http://localhost/cb");
        assert_eq!(request.client_id.as_deref(), Some("id"));
        assert_eq!(request.code_verifier.secret(), VERIFIER);
        assert_eq!(request.resource.as_deref(), Some("http://localhost:9090"));
    }

    #[test]
    fn a_refresh_request_reads_into_the_typed_request() {
        let form = "grant_type=refresh_token&refresh_token=r&client_id=id&scope=echo";
        let Ok(TokenRequest::RefreshToken(request)) = parse(form) else { panic!("a refresh request") };
        assert_eq!(request.refresh_token.secret(), "r");
        assert_eq!((request.client_id.as_deref(), request.scope.as_deref()), (Some("id"), Some("echo")));
        assert_eq!(request.resource, None);
    }

    #[test]
    fn missing_and_unknown_parameters_get_the_same_errors_as_ever() {
        let invalid = |d: &str| ("invalid_request".to_owned(), d.to_owned());
        assert_eq!(error(""), invalid("grant_type is required"));
        assert_eq!(
            error("grant_type=password"),
            (
                "unsupported_grant_type".into(),
                "this server supports the authorization_code and refresh_token grants".into()
            )
        );
        assert_eq!(error("grant_type=authorization_code"), invalid("code is required"));
        assert_eq!(error("grant_type=authorization_code&code=c"), invalid("redirect_uri is required"));
        assert_eq!(
            error("grant_type=authorization_code&code=c&redirect_uri=r"),
            invalid("code_verifier is required")
        );
        let (code, description) =
            error("grant_type=authorization_code&code=c&redirect_uri=r&code_verifier=x");
        assert_eq!(code, "invalid_request");
        assert!(description.starts_with("code_verifier "), "{description}");
        assert_eq!(
            error(&format!("grant_type=authorization_code&code=c&redirect_uri=r&code_verifier={VERIFIER}")),
            invalid("client_id is required")
        );
        assert_eq!(error("grant_type=refresh_token&client_id=c"), invalid("refresh_token is required"));
    }
}
