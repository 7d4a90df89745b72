//! The two ways the authorization server reports failure, decided in one place.
//!
//! * [`ApiError`]: the JSON endpoints (token, registration) answer with an RFC 6749 §5.2 error
//!   body whose `error` is one of the spec's codes.
//! * [`BrowserError`]: the browser-facing flow (authorize, login, consent) either sends the user
//!   back to the client with `error`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207), or shows
//!   the same error on a page with a link back that the person may follow (a client anyone could
//!   register, before the person signed in: RFC 9700 §4.11.2), or, when the redirect URI cannot
//!   be trusted, shows an error page and never redirects.
//!
//! Storage failures become `server_error` / a 500 page; the detail goes to the log, not the wire.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection, RawFormRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::error::{ErrorCode, ErrorResponse};

use crate::keyring::SignerError;
use crate::pages;
use crate::store::StoreError;

/// An error of the token or registration endpoint.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorResponse,
    /// For `401 invalid_client` when the client tried HTTP authentication (RFC 6749 §5.2).
    pub www_authenticate: Option<HeaderValue>,
}

impl ApiError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self { status, body: ErrorResponse::new(code, description), www_authenticate: None }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    fn internal(source: &dyn std::error::Error) -> Self {
        tracing::error!(error = %source, "internal error");
        Self::new(ErrorCode::ServerError, "the authorization server failed; try again later")
    }
}

/// A body that could not be read: over the size limit (`413`, RFC 9110 §15.5.14) or broken off.
/// Still an OAuth error body, so a client parses every failure the same way.
impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let mut error = Self::invalid_request(rejection.body_text());
        error.status = rejection.status();
        error
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(&error)
    }
}

impl From<SignerError> for ApiError {
    fn from(error: SignerError) -> Self {
        Self::internal(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        no_store(&mut response);
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// RFC 6749 §5.1: responses carrying tokens or credentials must not be cached.
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// An error in the browser flow.
#[derive(Debug)]
pub enum BrowserError {
    /// Shown as a page. Used when the client or redirect URI is not trustworthy (RFC 9700 §4.1:
    /// never redirect to an unverified URI) and for problems of the page flow itself.
    Page { status: StatusCode, title: &'static str, detail: String },
    /// Sent back to the client's verified redirect URI at once (`303`).
    Redirect(ClientError),
    /// Shown on a page (`400`) with a link back to the client carrying the error, which the person
    /// may follow or not. For an authorization request of a client anyone could have registered
    /// (dynamically, or by hosting a metadata document) that failed before the person signed in:
    /// redirected automatically, the AS would send any visitor to whatever URI such a client names
    /// (RFC 9700 §4.11.2: authenticate the user first, redirect automatically only to a URI the AS
    /// trusts).
    Offer(ClientError),
}

/// An OAuth error for the client (RFC 6749 §4.1.2.1), to go to its verified redirect URI.
#[derive(Debug)]
pub struct ClientError {
    pub redirect_uri: String,
    pub error: ErrorCode,
    pub description: String,
    pub state: Option<String>,
    pub issuer: String,
}

impl ClientError {
    /// The redirect URI with `error`, `error_description`, `state` and `iss` added, or `None` for a
    /// redirect URI that does not parse (registered ones always do).
    fn url(&self) -> Option<url::Url> {
        let mut params =
            vec![("error", self.error.as_str()), ("error_description", self.description.as_str())];
        if let Some(state) = self.state.as_deref() {
            params.push(("state", state));
        }
        params.push(("iss", self.issuer.as_str()));
        with_params(&self.redirect_uri, &params)
    }
}

impl BrowserError {
    pub fn page(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self::Page { status, title, detail: detail.into() }
    }

    fn internal(source: &dyn std::error::Error) -> Self {
        tracing::error!(error = %source, "internal error");
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The authorization server could not complete this step. Please try again.",
        )
    }
}

/// A login, consent or account form that could not be read (too large, not a form): a page, with
/// the status axum chose (`413`, `415`, `400`).
impl From<RawFormRejection> for BrowserError {
    fn from(rejection: RawFormRejection) -> Self {
        Self::Page { status: rejection.status(), title: "Invalid form", detail: rejection.body_text() }
    }
}

/// A page's query string that does not decode (a repeated `request`, say).
impl From<QueryRejection> for BrowserError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Page { status: rejection.status(), title: "Invalid request", detail: rejection.body_text() }
    }
}

impl From<StoreError> for BrowserError {
    fn from(error: StoreError) -> Self {
        Self::internal(&error)
    }
}

impl From<SignerError> for BrowserError {
    fn from(error: SignerError) -> Self {
        Self::internal(&error)
    }
}

/// A redirect URI with OAuth response parameters appended, keeping any query it already has.
fn with_params(redirect_uri: &str, params: &[(&str, &str)]) -> Option<url::Url> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    url.query_pairs_mut().extend_pairs(params);
    Some(url)
}

/// Appends OAuth response parameters to a redirect URI, keeping any query it already has.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match with_params(redirect_uri, params) {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        // Registered redirect URIs were parsed at registration; this is unreachable in practice
        // and still must not panic.
        None => unusable_redirect_uri(),
    }
}

fn unusable_redirect_uri() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Invalid redirect URI",
        "The client's registered redirect URI cannot be used.",
    )
}

impl IntoResponse for BrowserError {
    fn into_response(self) -> Response {
        match self {
            BrowserError::Page { status, title, detail } => pages::error_page(status, title, &detail),
            BrowserError::Redirect(to_client) => match to_client.url() {
                Some(url) => Redirect::to(url.as_str()).into_response(),
                None => unusable_redirect_uri(),
            },
            BrowserError::Offer(to_client) => match to_client.url() {
                Some(url) => pages::client_error_page(
                    StatusCode::BAD_REQUEST,
                    to_client.error.as_str(),
                    &to_client.description,
                    &to_client.redirect_uri,
                    url.as_str(),
                ),
                None => unusable_redirect_uri(),
            },
        }
    }
}
