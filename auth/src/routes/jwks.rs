//! `GET /jwks.json`: the public keys that verify access tokens.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let now = state.now();
    // Short caching: resource servers refetch on an unknown `kid` anyway, and a rotated key must
    // reach them before it signs anything.
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(state.keys.jwks(now)))
}
