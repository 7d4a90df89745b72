//! The browser session of the login and consent pages, and the CSRF check of their forms.
//!
//! The cookie is `HttpOnly` (no script can read it), `SameSite=Lax` (not sent with cross-site
//! POSTs), `Path=/`, and on an https issuer `Secure` with the `__Host-` prefix (no subdomain can
//! set or shadow it). Forms also carry the session's CSRF token, compared in constant time.

use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;

use crate::state::AppState;
use crate::store::{BrowserSession, StoreError};
use crate::{digest, random};

const COOKIE: &str = "mcp-auth-session";
const SECURE_COOKIE: &str = "__Host-mcp-auth-session";

fn cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies { SECURE_COOKIE } else { COOKIE }
}

/// The value of cookie `name` in the request, if exactly present.
fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A session loaded from the request's cookie.
pub struct CurrentSession {
    pub session: BrowserSession,
}

impl CurrentSession {
    /// Is `submitted` this session's CSRF token?
    pub fn csrf_matches(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|s| s.as_bytes().ct_eq(self.session.csrf_token.as_bytes()).into())
    }
}

/// The session named by the request's cookie, if it exists and has not expired.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<CurrentSession>, StoreError> {
    let Some(id) = read_cookie(headers, cookie_name(state)) else {
        return Ok(None);
    };
    let session = state.store.find_session(&digest::sha256(id), state.now()).await?;
    Ok(session.map(|session| CurrentSession { session }))
}

/// A new session row and the `Set-Cookie` header that hands its id to the browser.
pub fn new_session(state: &AppState, user_id: Option<String>) -> (BrowserSession, HeaderValue) {
    let id = random::token();
    let now = state.now();
    let ttl = state.config.settings.login_session_ttl.as_secs();
    let session = BrowserSession {
        id_hash: digest::sha256(&id),
        csrf_token: random::token(),
        authenticated_at: user_id.as_ref().map(|_| now),
        user_id,
        expires_at: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
    };
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl}{secure}", cookie_name(state));
    // The id is base64url and the rest is ASCII, so the header value is always valid.
    let cookie = HeaderValue::from_str(&cookie).expect("cookie is ASCII");
    (session, cookie)
}

/// A `Set-Cookie` that removes the session cookie (sign-out).
pub fn expired_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", cookie_name(state));
    HeaderValue::from_str(&cookie).expect("cookie is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_among_several_and_ignores_lookalikes() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x-mcp-auth-session=evil; mcp-auth-session=abc; other=1"),
        );
        assert_eq!(read_cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(read_cookie(&headers, SECURE_COOKIE), None);
    }
}
