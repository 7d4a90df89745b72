//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and its OpenID Connect alias.

use axum::Json;
use axum::extract::State;
use protocol::jwt::ES256;
use protocol::metadata::AuthorizationServerMetadata;
use protocol::pkce::S256;
use protocol::scope::Scopes;
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

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
        revocation_endpoint_auth_methods_supported: Some(vec!["none".into()]),
        introspection_endpoint: Some(config.endpoint("/introspect")),
        // Resource servers authenticate with their introspection credential (see introspect.rs).
        introspection_endpoint_auth_methods_supported: Some(vec!["client_secret_basic".into()]),
        scopes_supported: Some(scopes.iter().map(str::to_owned).collect()),
        response_types_supported: vec!["code".into()],
        response_modes_supported: Some(vec!["query".into()]),
        grant_types_supported: Some(vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()]),
        token_endpoint_auth_methods_supported: Some(vec!["none".into()]),
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
