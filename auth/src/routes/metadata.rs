//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and its OpenID Connect alias.

use axum::Json;
use axum::extract::State;
use protocol::authorization_details::MCP_TOOL_CALL;
use protocol::jwt::ES256;
use protocol::metadata::AuthorizationServerMetadata;
use protocol::pkce::S256;
use protocol::scope::Scopes;
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_CIBA, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};

use crate::client_auth::ASSERTION_ALGORITHMS;

use crate::state::{AppState, RuntimeConfig};

pub async fn metadata(State(state): State<AppState>) -> Json<AuthorizationServerMetadata> {
    Json(authorization_server_metadata(&state.config))
}

/// The metadata document. Only what this server really does is advertised.
pub fn authorization_server_metadata(config: &RuntimeConfig) -> AuthorizationServerMetadata {
    let scopes = config.settings.resources.iter().fold(Scopes::default(), |all, r| all.union(&r.scopes));
    AuthorizationServerMetadata {
        issuer: config.issuer.clone(),
        authorization_endpoint: Some(config.endpoint("/authorize")),
        token_endpoint: Some(config.endpoint("/token")),
        jwks_uri: Some(config.endpoint("/jwks.json")),
        registration_endpoint: Some(config.endpoint("/register")),
        revocation_endpoint: Some(config.endpoint("/revoke")),
        revocation_endpoint_auth_methods_supported: Some(auth_methods(true)),
        introspection_endpoint: Some(config.endpoint("/introspect")),
        // Resource servers authenticate with their introspection credential, confidential clients
        // acting for a resource as at the token endpoint (see introspect.rs).
        introspection_endpoint_auth_methods_supported: Some(auth_methods(false)),
        scopes_supported: Some(scopes.iter().map(str::to_owned).collect()),
        response_types_supported: vec!["code".into()],
        response_modes_supported: Some(vec!["query".into()]),
        grant_types_supported: Some(vec![
            GRANT_AUTHORIZATION_CODE.into(),
            GRANT_REFRESH_TOKEN.into(),
            GRANT_TOKEN_EXCHANGE.into(),
            GRANT_CIBA.into(),
        ]),
        token_endpoint_auth_methods_supported: Some(auth_methods(true)),
        token_endpoint_auth_signing_alg_values_supported: Some(
            ASSERTION_ALGORITHMS.iter().map(|alg| format!("{alg:?}")).collect(),
        ),
        backchannel_authentication_endpoint: Some(config.endpoint("/bc-authorize")),
        backchannel_token_delivery_modes_supported: Some(vec!["poll".into()]),
        backchannel_user_code_parameter_supported: Some(false),
        authorization_details_types_supported: Some(vec![MCP_TOOL_CALL.into()]),
        code_challenge_methods_supported: Some(vec![S256.into()]),
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: true,
        // OpenID Connect Discovery requires these two fields; clients that only speak OIDC
        // discovery refuse a document without them.
        subject_types_supported: Some(vec!["public".into()]),
        id_token_signing_alg_values_supported: Some(vec![ES256.into()]),
        ..Default::default()
    }
}

/// The client authentication methods of an endpoint (see `client_auth.rs`): public clients
/// (`none`) where they may call, and the two confidential methods everywhere.
fn auth_methods(public_clients: bool) -> Vec<String> {
    let confidential = [protocol::registration::CLIENT_SECRET_BASIC, protocol::registration::PRIVATE_KEY_JWT];
    public_clients.then_some("none").into_iter().chain(confidential).map(str::to_owned).collect()
}
