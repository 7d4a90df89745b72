//! `GET /echo?text=…`: the demo API. Needs the `echo` scope.

use axum::Json;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use protocol::echo::{EchoResponse, MAX_ECHO_TEXT};
use protocol::error::{ErrorCode, ErrorResponse};
use protocol::form::parse_unique;

use mcp_bearer::{Authorized, ScopeRequirement};

pub struct EchoScope;
impl ScopeRequirement for EchoScope {
    const SCOPES: &'static [&'static str] = &["echo"];
}

pub async fn echo(
    Authorized(token, _): Authorized<EchoScope>,
    RawQuery(query): RawQuery,
) -> Result<Json<EchoResponse>, (StatusCode, Json<ErrorResponse>)> {
    let bad = |d: String| (StatusCode::BAD_REQUEST, Json(ErrorResponse::new(ErrorCode::InvalidRequest, d)));
    let params = parse_unique(query.as_deref().unwrap_or_default()).map_err(|e| bad(e.to_string()))?;
    let text = params.get("text").ok_or_else(|| bad("the text parameter is required".into()))?;
    if text.chars().count() > MAX_ECHO_TEXT {
        return Err(bad(format!("text is longer than {MAX_ECHO_TEXT} characters")));
    }
    Ok(Json(EchoResponse {
        text: text.clone(),
        subject: token.claims.sub.clone(),
        client_id: token.claims.client_id.clone(),
    }))
}
