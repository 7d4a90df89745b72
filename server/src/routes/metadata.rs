//! `GET /.well-known/oauth-protected-resource` (RFC 9728).

use axum::Json;
use axum::extract::State;
use protocol::metadata::ProtectedResourceMetadata;

use crate::state::AppState;

pub async fn protected_resource_metadata(State(state): State<AppState>) -> Json<ProtectedResourceMetadata> {
    Json(state.metadata.clone())
}
