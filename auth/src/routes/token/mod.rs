//! `POST /token` (RFC 6749 §3.2): authenticate the client ([`crate::client_auth`]), then
//! dispatch by `grant_type`. Every answer, success or error, is JSON with `Cache-Control:
//! no-store`.

mod code;
mod refresh;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use protocol::error::ErrorCode;
use protocol::pkce::CodeVerifier;
use protocol::resource::canonical_resource;
use protocol::secret::{AccessToken, AuthReqId, AuthorizationCode, RefreshToken};
use protocol::token::{
    AuthorizationCodeRequest, CibaTokenRequest, GRANT_AUTHORIZATION_CODE, GRANT_CIBA, GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE, RefreshTokenRequest, TokenExchangeRequest,
};

use super::extract::{ClientForm, FromParams, Params};
use crate::error::{ApiError, no_store};
use crate::state::AppState;
use crate::store::Client;
use crate::{approvals, exchange};

/// A token request, by grant type.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
    AuthorizationCode(AuthorizationCodeRequest),
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken(RefreshTokenRequest),
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1).
    TokenExchange(TokenExchangeRequest),
    /// `grant_type=urn:openid:params:grant-type:ciba` (OpenID CIBA Core §10.1).
    Ciba(CibaTokenRequest),
}

pub async fn token(
    State(state): State<AppState>,
    ClientForm { caller, request, context }: ClientForm<TokenRequest>,
) -> Result<Response, ApiError> {
    let response = match request {
        TokenRequest::AuthorizationCode(request) => {
            code::exchange(&state, &context, caller.client()?, request).await?
        }
        TokenRequest::RefreshToken(request) => {
            refresh::refresh(&state, &context, caller.client()?, request).await?
        }
        TokenRequest::TokenExchange(request) => {
            exchange::exchange(&state, &context, caller.confidential(GRANT_TOKEN_EXCHANGE)?, request).await?
        }
        TokenRequest::Ciba(request) => {
            approvals::collect(&state, &context, caller.confidential(GRANT_CIBA)?, &request.auth_req_id)
                .await?
        }
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
                    // Public clients must send it; the handler says so when it is missing.
                    client_id: params.get("client_id").map(str::to_owned),
                    code_verifier,
                    resource: params.get("resource").map(|r| canonical_resource(r).to_owned()),
                }))
            }
            Some(GRANT_REFRESH_TOKEN) => Ok(Self::RefreshToken(RefreshTokenRequest {
                grant_type: GRANT_REFRESH_TOKEN.to_owned(),
                refresh_token: RefreshToken::new(params.required("refresh_token")?),
                // Public clients must send it; `public_client` says so when it is missing.
                client_id: params.get("client_id").map(str::to_owned),
                scope: params.get("scope").map(str::to_owned),
                resource: params.get("resource").map(|r| canonical_resource(r).to_owned()),
            })),
            Some(GRANT_TOKEN_EXCHANGE) => {
                if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
                    return Err(ApiError::invalid_request(
                        "actor_token is not supported: the authenticated client is the actor",
                    ));
                }
                // RFC 8693 §2.1 allows `audience` as well; here the target is named as a resource.
                let resource = match (
                    params.get("resource").map(canonical_resource),
                    params.get("audience").map(canonical_resource),
                ) {
                    (Some(resource), None) => resource,
                    (None, Some(audience)) => audience,
                    (Some(resource), Some(audience)) if resource == audience => resource,
                    (Some(_), Some(_)) => {
                        return Err(ApiError::new(ErrorCode::InvalidTarget, "resource and audience differ"));
                    }
                    (None, None) => return Err(ApiError::invalid_request("resource is required")),
                };
                Ok(Self::TokenExchange(TokenExchangeRequest {
                    grant_type: GRANT_TOKEN_EXCHANGE.to_owned(),
                    subject_token: AccessToken::new(params.required("subject_token")?),
                    subject_token_type: params.required("subject_token_type")?.to_owned(),
                    resource: resource.to_owned(),
                    scope: params.get("scope").map(str::to_owned),
                    requested_token_type: params.get("requested_token_type").map(str::to_owned),
                }))
            }
            Some(GRANT_CIBA) => Ok(Self::Ciba(CibaTokenRequest {
                grant_type: GRANT_CIBA.to_owned(),
                auth_req_id: AuthReqId::new(params.required("auth_req_id")?),
            })),
            Some(_) => Err(ApiError::new(
                ErrorCode::UnsupportedGrantType,
                "this server supports the authorization_code, refresh_token, token exchange and CIBA grants",
            )),
        }
    }
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
                "this server supports the authorization_code, refresh_token, token exchange and CIBA grants"
                    .into()
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
        // Without `client_id` the request reads; whether the client authenticated otherwise is
        // the handler's question ("client_id is required" when it did not).
        assert!(
            parse(&format!("grant_type=authorization_code&code=c&redirect_uri=r&code_verifier={VERIFIER}"))
                .is_ok()
        );
        assert_eq!(
            error("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=t"),
            invalid("resource is required")
        );
        assert_eq!(
            error("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&resource=r"),
            invalid("subject_token is required")
        );
        assert_eq!(
            error("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&resource=r&subject_token=t"),
            invalid("subject_token_type is required")
        );
        assert_eq!(
            error(
                "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&resource=r&audience=a&subject_token=t"
            ),
            ("invalid_target".into(), "resource and audience differ".into())
        );
        let (code, _) = error(
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&resource=r&subject_token=t&subject_token_type=x&actor_token=a",
        );
        assert_eq!(code, "invalid_request");
        assert_eq!(error("grant_type=urn:openid:params:grant-type:ciba"), invalid("auth_req_id is required"));
        assert_eq!(error("grant_type=refresh_token&client_id=c"), invalid("refresh_token is required"));
    }
}
