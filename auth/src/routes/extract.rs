//! The prologue every form handler used to repeat, as extractors: a handler that takes one of
//! these runs only with a well-formed body, and never decides how a malformed one is answered.
//!
//! * [`OAuthForm`]: the back-channel forms (`/token`, `/revoke`, `/introspect`, `/bc-authorize`),
//!   answered with OAuth JSON errors ([`ApiError`]); [`ClientForm`] is the same with the caller
//!   authenticated ([`crate::client_auth`]).
//! * [`CsrfForm`] (and [`AccountForm`]): the forms of this server's own pages, with the browser's
//!   session and its CSRF token checked, answered with pages ([`BrowserError`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawForm, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use protocol::form::parse_unique;

use crate::audit::RequestContext;
use crate::client_auth::{self, Caller, Credentials};
use crate::error::{ApiError, BrowserError};
use crate::session::{self, CurrentSession};
use crate::state::AppState;

const FORM: &str = "application/x-www-form-urlencoded";

/// Is the request body declared as `media_type` (parameters such as `charset` ignored)?
pub fn has_content_type(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// The parameters of an OAuth form, each present at most once and never empty (RFC 6749 §3.1:
/// a parameter without a value is treated as omitted).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// A required parameter; missing, it is `invalid_request` saying so.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
    }

    /// An optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl From<HashMap<String, String>> for Params {
    fn from(params: HashMap<String, String>) -> Self {
        Self(params)
    }
}

/// A request read out of an OAuth form's parameters, failing with the error a client is owed.
pub trait FromParams: Sized {
    fn from_params(params: Params) -> Result<Self, ApiError>;
}

impl FromParams for Params {
    fn from_params(params: Params) -> Result<Self, ApiError> {
        Ok(params)
    }
}

/// The form body of a token, revocation or introspection request, read into `T`: declared as
/// `application/x-www-form-urlencoded`, UTF-8, no repeated parameters (RFC 6749 §3.2). Every
/// failure, a body over the limit included (`413`), is an OAuth error body.
#[derive(Debug)]
pub struct OAuthForm<T>(pub T);

impl<S: Send + Sync, T: FromParams> FromRequest<S> for OAuthForm<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let declared_as_form = has_content_type(request.headers(), FORM);
        // The body is read first, so that one over the limit is `413` whatever its type.
        let body = Bytes::from_request(request, state).await?;
        if !declared_as_form {
            return Err(ApiError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        let body =
            std::str::from_utf8(&body).map_err(|_| ApiError::invalid_request("the body is not UTF-8"))?;
        let params = parse_unique(body).map_err(|e| ApiError::invalid_request(e.to_string()))?;
        T::from_params(Params(params)).map(OAuthForm)
    }
}

/// A back-channel form from a client, read like [`OAuthForm`], with the caller authenticated: the
/// one client-authentication extractor of `/token`, `/revoke`, `/introspect` and `/bc-authorize`.
/// The credentials are read before the request is (two methods at once is `invalid_request`), the
/// request before the credentials are checked (so a malformed request gets the same answer from
/// anyone), and the check is [`client_auth::authenticate`] with the URL of the endpoint called as an
/// acceptable assertion audience. Each handler decides which [`Caller`]s it serves.
pub struct ClientForm<T> {
    pub caller: Caller,
    pub request: T,
    /// The request id and peer address, for the audit trail.
    pub context: RequestContext,
}

impl<T: FromParams + Send> FromRequest<AppState> for ClientForm<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let Ok(context) = RequestContext::from_request_parts(&mut parts, state).await;
        let endpoint = state.config.endpoint(parts.uri.path());
        // Only the Authorization header matters here: moved out, not a copy of every header.
        let mut headers = HeaderMap::new();
        if let Some(authorization) = parts.headers.remove(header::AUTHORIZATION) {
            headers.insert(header::AUTHORIZATION, authorization);
        }
        let OAuthForm(params) =
            OAuthForm::<Params>::from_request(Request::from_parts(parts, body), state).await?;
        let credentials = Credentials::read(&headers, &params)?;
        let request = T::from_params(params)?;
        let caller = client_auth::authenticate(state, &context, credentials, &endpoint).await?;
        Ok(Self { caller, request, context })
    }
}

/// A form posted by one of this server's pages (login, consent, account): decoded (within the
/// body limit, UTF-8, no repeated fields), with the browser's session loaded from its cookie and
/// the form's `csrf_token` checked against it in constant time. A handler taking it runs only for
/// a form this server's own page submitted in this browser.
pub struct CsrfForm {
    /// The session the form was submitted in; its CSRF token matched.
    pub session: CurrentSession,
    fields: HashMap<String, String>,
}

impl CsrfForm {
    /// A field of the form, if present and not empty.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Why a [`CsrfForm`] was refused. Each is a page; [`AccountForm`] answers one differently.
#[derive(Debug)]
pub enum CsrfRejection {
    /// Not a readable form (too large, not a form, not UTF-8, a repeated field), or the store
    /// failed.
    Invalid(BrowserError),
    /// The browser has no session (it expired, or the cookie is gone).
    NoSession,
    /// The CSRF token is missing or is not this session's: another site's page submitted it.
    Forged,
}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        match self {
            CsrfRejection::Invalid(error) => error.into_response(),
            CsrfRejection::NoSession => expired().into_response(),
            CsrfRejection::Forged => forbidden().into_response(),
        }
    }
}

impl FromRequest<AppState> for CsrfForm {
    type Rejection = CsrfRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, CsrfRejection> {
        let headers = request.headers().clone();
        let RawForm(body) = RawForm::from_request(request, state)
            .await
            .map_err(|rejection| CsrfRejection::Invalid(rejection.into()))?;
        let fields =
            std::str::from_utf8(&body).ok().and_then(|body| parse_unique(body).ok()).ok_or_else(|| {
                CsrfRejection::Invalid(BrowserError::page(
                    StatusCode::BAD_REQUEST,
                    "Invalid form",
                    "The form could not be read.",
                ))
            })?;
        let session = session::current(state, &headers)
            .await
            .map_err(|e| CsrfRejection::Invalid(e.into()))?
            .ok_or(CsrfRejection::NoSession)?;
        if !session.csrf_matches(fields.get("csrf_token").map(String::as_str)) {
            return Err(CsrfRejection::Forged);
        }
        Ok(Self { session, fields })
    }
}

/// A [`CsrfForm`] of the account pages (`/account/…`, `/logout`), where a browser without a
/// session is sent to sign in rather than told that a sign-in expired.
pub struct AccountForm(pub CsrfForm);

impl FromRequest<AppState> for AccountForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        match CsrfForm::from_request(request, state).await {
            Ok(form) => Ok(Self(form)),
            Err(CsrfRejection::NoSession) => Err(Redirect::to("/login").into_response()),
            Err(rejection) => Err(rejection.into_response()),
        }
    }
}

/// Shown when the browser has no session or the request is not one of this browser's.
pub fn expired() -> BrowserError {
    BrowserError::page(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "The sign-in took too long, was already completed, or was started in another browser. \
         Return to the application and start again.",
    )
}

/// A form without this session's CSRF token: someone else's page tried to submit it.
pub fn forbidden() -> BrowserError {
    BrowserError::page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not submitted from this server's own page. Return to the application and start again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::HeaderValue;

    fn request(content_type: Option<&str>, body: &'static [u8]) -> Request {
        let mut request = Request::new(Body::from(body));
        if let Some(content_type) = content_type {
            request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        }
        request
    }

    async fn oauth_form(content_type: Option<&str>, body: &'static [u8]) -> Result<Params, ApiError> {
        OAuthForm::<Params>::from_request(request(content_type, body), &()).await.map(|OAuthForm(p)| p)
    }

    fn description(error: ApiError) -> String {
        assert_eq!(error.body.error.as_str(), "invalid_request");
        error.body.error_description.unwrap_or_default()
    }

    #[tokio::test]
    async fn an_oauth_form_is_a_utf8_form_without_repeated_parameters() {
        let params = oauth_form(Some("application/x-www-form-urlencoded; charset=UTF-8"), b"a=1&b=&c=x+y")
            .await
            .unwrap();
        assert_eq!((params.get("a"), params.get("b"), params.get("c")), (Some("1"), None, Some("x y")));
        assert_eq!(description(params.required("b").unwrap_err()), "b is required");

        let json = oauth_form(Some("application/json"), b"a=1").await.unwrap_err();
        assert_eq!(description(json), "the body must be application/x-www-form-urlencoded");
        let untyped = oauth_form(None, b"a=1").await.unwrap_err();
        assert_eq!(description(untyped), "the body must be application/x-www-form-urlencoded");
        let latin1 = oauth_form(Some(FORM), b"a=\xff").await.unwrap_err();
        assert_eq!(description(latin1), "the body is not UTF-8");
        let repeated = oauth_form(Some(FORM), b"a=1&a=2").await.unwrap_err();
        assert_eq!(description(repeated), "parameter `a` is included more than once");
    }

    #[test]
    fn content_types_compare_without_parameters_or_case() {
        let headers = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            headers
        };
        assert!(has_content_type(&headers("Application/JSON; charset=utf-8"), "application/json"));
        assert!(!has_content_type(&headers("application/jsonx"), "application/json"));
        assert!(!has_content_type(&HeaderMap::new(), "application/json"));
    }
}
