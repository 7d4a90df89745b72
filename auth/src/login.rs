//! Signing a browser in: the login throttle, the password check, the audit trail, and a fresh
//! session. The `/login` handlers read the form and render the outcome; the decisions are here.
//!
//! * A username that does not exist costs one argon2id verification, like a wrong password, so
//!   response time does not tell which usernames exist; the answer does not either.
//! * Failures are counted per username (as a hash: the trail must not collect what people type,
//!   a password typed into the username field for one) and per address ([`crate::throttle`]),
//!   attempts still being checked included, so concurrent attempts cannot outrun the count.
//! * At most [`verification_slots`] argon2id verifications run at once (each takes about 19 MiB
//!   and a core for tens of milliseconds); an attempt that finds none free within
//!   [`throttle::MAX_WAIT`] is answered "busy" without checking anything.
//! * Signing in replaces the session, so an id planted before the login is worthless after it
//!   (session fixation).

use axum::http::HeaderValue;
use protocol::secret::Password;

use crate::audit::{self, RequestContext};
use crate::session::{self, CurrentSession};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditKind, StoreError};
use crate::{digest, password, throttle};

/// What someone typed into the login form, and for which client (none when signing in to the
/// account pages).
pub struct Attempt<'a> {
    /// As typed; looked up as is.
    pub username: &'a str,
    pub password: Password,
    /// The client of the authorization being signed in for, named in the audit trail.
    pub client_id: Option<&'a str>,
}

/// How a sign-in attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// Too many recent failures for this username or address; try again after this many seconds.
    Throttled { retry_after: i64 },
    /// Wrong username or password (which of the two is not told).
    Refused,
    /// Too many sign-ins being checked at once; nothing was checked. Try again in a moment.
    Busy,
    /// Signed in: the browser's session was replaced by one for the user, handed over with this
    /// `Set-Cookie` value.
    SignedIn { set_cookie: HeaderValue },
}

/// Tries to sign the browser whose session is `current` in, recording the attempt.
pub async fn sign_in(
    state: &AppState,
    context: &RequestContext,
    current: &CurrentSession,
    attempt: Attempt<'_>,
) -> Result<Outcome, StoreError> {
    let event = |kind| {
        let event = AuditEvent::new(kind);
        match attempt.client_id {
            Some(client_id) => event.client(client_id),
            None => event,
        }
    };

    let username_key = digest::sha256(&attempt.username.to_lowercase());
    let ip = context.ip.map(|ip| ip.to_string());
    let deadline = tokio::time::Instant::now() + throttle::MAX_WAIT;
    // Counted as in flight until this function returns, after its failure is recorded.
    let _in_flight = loop {
        if tokio::time::Instant::now() >= deadline {
            return Ok(Outcome::Busy);
        }
        let entered = state.sign_ins.enter(&username_key, ip.as_deref());
        match throttle::check(state, &username_key, ip.as_deref(), &entered).await? {
            throttle::Verdict::Go => break entered,
            throttle::Verdict::Throttled { retry_after } => {
                let mut throttled = event(AuditKind::LoginThrottled);
                throttled.username_key = Some(username_key);
                audit::record(state, context, throttled).await;
                return Ok(Outcome::Throttled { retry_after });
            }
            throttle::Verdict::Wait => {
                if tokio::time::timeout_at(deadline, entered.wait_for_turn()).await.is_err() {
                    return Ok(Outcome::Busy);
                }
            }
        }
    };

    let user = state.store.find_user_by_username(attempt.username).await?;
    // Verify against a dummy hash when the user does not exist: both paths cost one argon2id run,
    // under the same limit.
    let stored_hash =
        user.as_ref().map_or(state.config.dummy_password_hash.clone(), |u| u.password_hash.clone());
    let Ok(Ok(slot)) = tokio::time::timeout_at(deadline, state.password_checks.clone().acquire_owned()).await
    else {
        return Ok(Outcome::Busy);
    };
    let password = attempt.password;
    // The slot goes with the verification: if this request is abandoned, the blocking task still
    // runs to its end, and still counts.
    let verified = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        password::verify(&password, &stored_hash)
    })
    .await
    .unwrap_or(false);

    let Some(user) = user.filter(|_| verified) else {
        let mut failed = event(AuditKind::LoginFailed);
        failed.username_key = Some(username_key);
        audit::record(state, context, failed).await;
        return Ok(Outcome::Refused);
    };

    let (session, set_cookie) = session::new_session(state, Some(user.id.clone()));
    state.store.replace_session_on_login(&current.session.id_hash, &session, state.now()).await?;
    audit::record(state, context, event(AuditKind::LoginSucceeded).user(&user.id)).await;
    Ok(Outcome::SignedIn { set_cookie })
}

/// How many password verifications may run at once: two per core, at least two. More would only
/// queue for the cores while each holds its argon2id memory.
pub fn verification_slots() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get).saturating_mul(2).max(2)
}
