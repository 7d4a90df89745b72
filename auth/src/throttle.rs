//! The login throttle: too many failed sign-ins for one username, or from one address, within a
//! window, and further attempts are refused with `429` and `Retry-After` before any password is
//! checked. Counts come from the audit trail, so replicas sharing a database share the throttle.

use crate::state::AppState;
use crate::store::StoreError;

/// The window failures are counted in.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures per username within the window (guessing one account's password).
pub const MAX_FAILURES_PER_USERNAME: i64 = 5;
/// Failures per address within the window (trying many accounts from one place).
pub const MAX_FAILURES_PER_IP: i64 = 20;

/// Seconds to wait, if the limit is reached: until the oldest counted failure leaves the window.
pub fn retry_after(failures: i64, oldest: Option<i64>, limit: i64, now: i64) -> Option<i64> {
    if failures < limit {
        return None;
    }
    let oldest = oldest.unwrap_or(now);
    Some((oldest + WINDOW_SECS - now).max(1))
}

/// `Some(seconds)` if a sign-in for `username_key` from `ip` must wait.
pub async fn check(
    state: &AppState,
    username_key: &str,
    ip: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let now = state.now();
    let since = now - WINDOW_SECS;
    let (count, oldest) = state.store.failed_logins_for_username(username_key, since).await?;
    let by_user = retry_after(count, oldest, MAX_FAILURES_PER_USERNAME, now);
    let by_ip = match ip {
        Some(ip) => {
            let (count, oldest) = state.store.failed_logins_from_ip(ip, since).await?;
            retry_after(count, oldest, MAX_FAILURES_PER_IP, now)
        }
        None => None,
    };
    Ok(by_user.max(by_ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_the_oldest_failure_leaves_the_window() {
        assert_eq!(retry_after(4, Some(1000), 5, 1100), None);
        assert_eq!(retry_after(5, Some(1000), 5, 1100), Some(WINDOW_SECS - 100));
        assert_eq!(retry_after(9, Some(1000), 5, 1000 + WINDOW_SECS), Some(1), "never zero while limited");
    }
}
