//! The login throttle: too many failed sign-ins for one username, or from one address, within a
//! window, and further attempts are refused with `429` and `Retry-After` before any password is
//! checked. Counts come from the audit trail, so replicas sharing a database share the throttle.
//!
//! A failure is recorded only once its password was checked, so attempts still being checked
//! ([`InFlight`], per process) count against the limits too: otherwise a burst of concurrent
//! attempts would all pass the check before the first failure was written, and each would test a
//! password. An attempt over the limit only because of attempts in flight waits for one of them
//! to end ([`Verdict::Wait`]): if they failed, it is refused; if they signed in, it goes on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::state::AppState;
use crate::store::StoreError;

/// The window failures are counted in.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures per username within the window (guessing one account's password).
pub const MAX_FAILURES_PER_USERNAME: i64 = 5;
/// Failures per address within the window (trying many accounts from one place).
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// The longest a sign-in waits for its turn (attempts in flight ending, a free password check)
/// before it is answered "busy, try again".
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// What the throttle says about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Go,
    /// Refused: wait this many seconds, until the oldest counted failure leaves the window.
    Throttled { retry_after: i64 },
    /// Over the limit only with attempts still being checked: wait for one of them to end.
    Wait,
}

impl Verdict {
    /// The stricter of two verdicts (the username's and the address's).
    fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Throttled { retry_after: a }, Verdict::Throttled { retry_after: b }) => {
                Verdict::Throttled { retry_after: a.max(b) }
            }
            (throttled @ Verdict::Throttled { .. }, _) | (_, throttled @ Verdict::Throttled { .. }) => {
                throttled
            }
            (Verdict::Wait, _) | (_, Verdict::Wait) => Verdict::Wait,
            (Verdict::Go, Verdict::Go) => Verdict::Go,
        }
    }
}

/// The verdict for `failures` recorded in the window (the oldest at `oldest`) and `in_flight`
/// other attempts being checked, against `limit`.
pub fn verdict(failures: i64, in_flight: i64, oldest: Option<i64>, limit: i64, now: i64) -> Verdict {
    if failures >= limit {
        let oldest = oldest.unwrap_or(now);
        Verdict::Throttled { retry_after: (oldest + WINDOW_SECS - now).max(1) }
    } else if failures.saturating_add(in_flight) >= limit {
        Verdict::Wait
    } else {
        Verdict::Go
    }
}

/// The verdict for the attempt `entered` (for `username_key` from `ip`).
///
/// Read after the attempt entered [`InFlight`], and this order is what makes the count exact: an
/// attempt that ended before this one entered wrote its failure before it left, so the read sees
/// it; one that had not ended is among the attempts in flight. (One that ends between the two
/// steps is counted twice, which only makes this attempt wait.)
pub async fn check(
    state: &AppState,
    username_key: &str,
    ip: Option<&str>,
    entered: &Entered<'_>,
) -> Result<Verdict, StoreError> {
    let now = state.now();
    let since = now - WINDOW_SECS;
    let (count, oldest) = state.store.failed_logins_for_username(username_key, since).await?;
    let by_user = verdict(count, entered.others(0), oldest, MAX_FAILURES_PER_USERNAME, now);
    let by_ip = match ip {
        Some(ip) => {
            let (count, oldest) = state.store.failed_logins_from_ip(ip, since).await?;
            verdict(count, entered.others(1), oldest, MAX_FAILURES_PER_IP, now)
        }
        None => Verdict::Go,
    };
    Ok(by_user.and(by_ip))
}

/// Sign-in attempts of this process whose password is being checked, per username key and per
/// address. Entries exist only while attempts are in flight.
#[derive(Default)]
pub struct InFlight {
    book: Mutex<HashMap<String, Attempts>>,
}

struct Attempts {
    count: i64,
    /// How many attempts have ended. An attempt that leaves to wait its turn is not one: waiters
    /// that took each other's leaving for an ending would wake each other forever.
    ended: u64,
    /// Woken whenever one of these attempts ends.
    ending: Arc<Notify>,
}

/// One attempt counted in [`InFlight`] until dropped (or [`Entered::wait_for_turn`]).
pub struct Entered<'a> {
    in_flight: &'a InFlight,
    /// The username key, then the address if known, each with the attempts in flight for it and
    /// the count of attempts ended when this one entered.
    keys: Vec<(String, i64, u64)>,
}

impl InFlight {
    /// Counts an attempt for `username_key` and `ip` as in flight.
    pub fn enter(&self, username_key: &str, ip: Option<&str>) -> Entered<'_> {
        let names = std::iter::once(format!("user {username_key}")).chain(ip.map(|ip| format!("ip {ip}")));
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = names
            .map(|name| {
                let attempts = book.entry(name.clone()).or_insert_with(|| Attempts {
                    count: 0,
                    ended: 0,
                    ending: Arc::default(),
                });
                let others = attempts.count;
                attempts.count = attempts.count.saturating_add(1);
                (name, others, attempts.ended)
            })
            .collect();
        Entered { in_flight: self, keys }
    }
}

impl Entered<'_> {
    /// Attempts in flight when this one entered, for its username (0) or its address (1).
    fn others(&self, which: usize) -> i64 {
        self.keys.get(which).map_or(0, |(_, others, _)| *others)
    }

    /// Leaves without checking a password, to wait for an attempt in flight for the same username
    /// or address to end; the caller then enters and checks again. Resolves at once if one ended
    /// since this attempt entered.
    pub fn wait_for_turn(mut self) -> impl Future<Output = ()> + use<> {
        let keys = std::mem::take(&mut self.keys);
        let mut book = self.in_flight.book.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ended_since = false;
        // Subscribed under the lock every ending takes: no ending after this point is missed.
        let mut endings = Vec::new();
        for (name, _, ended_then) in &keys {
            if let Some(attempts) = book.get_mut(name) {
                ended_since |= attempts.ended != *ended_then;
                // With nobody else in flight for this key, nothing would wake us on its account.
                if attempts.count > 1 {
                    endings.push(attempts.ending.clone().notified_owned());
                }
                attempts.count = attempts.count.saturating_sub(1);
                if attempts.count <= 0 {
                    // Nobody is left in flight to end and wake those waiting on this key, and the
                    // next to enter gets a new `Notify`: wake them now to check again, or they
                    // would sit out their whole deadline.
                    attempts.ending.notify_waiters();
                    book.remove(name);
                }
            }
        }
        drop(book);
        // No ending to wait for (everyone else in flight left): check again at once.
        async move {
            if !ended_since && !endings.is_empty() {
                futures::future::select_all(endings.into_iter().map(Box::pin)).await;
            }
        }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut book = self.in_flight.book.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, _, _) in &self.keys {
            if let Some(attempts) = book.get_mut(name) {
                attempts.count = attempts.count.saturating_sub(1);
                attempts.ended = attempts.ended.wrapping_add(1);
                attempts.ending.notify_waiters();
                if attempts.count <= 0 {
                    book.remove(name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_the_oldest_failure_leaves_the_window() {
        assert_eq!(verdict(4, 0, Some(1000), 5, 1100), Verdict::Go);
        assert_eq!(verdict(5, 0, Some(1000), 5, 1100), Verdict::Throttled { retry_after: WINDOW_SECS - 100 });
        assert_eq!(
            verdict(9, 0, Some(1000), 5, 1000 + WINDOW_SECS),
            Verdict::Throttled { retry_after: 1 },
            "never zero while limited"
        );
    }

    #[test]
    fn attempts_in_flight_count_as_possible_failures() {
        assert_eq!(verdict(3, 1, Some(1000), 5, 1100), Verdict::Go);
        assert_eq!(verdict(3, 2, Some(1000), 5, 1100), Verdict::Wait);
        assert_eq!(verdict(0, 5, None, 5, 1100), Verdict::Wait);
        assert_eq!(verdict(0, i64::MAX, None, 5, 1100), Verdict::Wait, "no overflow");
        assert_eq!(Verdict::Go.and(Verdict::Wait), Verdict::Wait);
        assert_eq!(
            Verdict::Wait.and(Verdict::Throttled { retry_after: 3 }),
            Verdict::Throttled { retry_after: 3 }
        );
        assert_eq!(
            Verdict::Throttled { retry_after: 9 }.and(Verdict::Throttled { retry_after: 3 }),
            Verdict::Throttled { retry_after: 9 }
        );
    }

    use futures::FutureExt as _;

    #[tokio::test]
    async fn an_attempt_counts_while_in_flight_and_a_waiter_wakes_when_one_ends() {
        let in_flight = InFlight::default();
        let first = in_flight.enter("u", Some("1.2.3.4"));
        assert_eq!((first.others(0), first.others(1)), (0, 0));
        let second = in_flight.enter("u", Some("5.6.7.8"));
        assert_eq!((second.others(0), second.others(1)), (1, 0), "same username, other address");
        let mut waiting = Box::pin(second.wait_for_turn());
        let third = in_flight.enter("u", None);
        assert_eq!((third.others(0), third.others(1)), (1, 0), "the waiter left");
        let fourth = in_flight.enter("u", None);
        assert!(fourth.others(0) >= 2);
        fourth.wait_for_turn().now_or_never();
        assert!((&mut waiting).now_or_never().is_none(), "another waiter leaving is not an ending");
        drop(third);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken when an attempt ended");
        assert!(in_flight.book.lock().unwrap().is_empty(), "nothing kept once all ended");

        // An attempt that ended while this one was checking lets it try again at once.
        let first = in_flight.enter("u", None);
        let second = in_flight.enter("u", None);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.wait_for_turn()).await.expect("at once");
    }

    /// A waiter subscribed while the only other attempt counted was itself about to leave to wait:
    /// nobody will end, and the next to enter gets a new entry. The last to leave wakes it.
    #[tokio::test]
    async fn a_waiter_is_woken_when_the_last_in_flight_leaves_to_wait() {
        let in_flight = InFlight::default();
        let a = in_flight.enter("u", None);
        let b = in_flight.enter("u", None);
        drop(a);
        let c = in_flight.enter("u", None);
        assert_eq!(c.others(0), 1, "b is still counted");
        let mut c_waits = Box::pin(c.wait_for_turn());
        assert!((&mut c_waits).now_or_never().is_none(), "c waits for b");
        b.wait_for_turn().now_or_never().expect("b returns at once: a ended since it entered");
        tokio::time::timeout(Duration::from_secs(1), c_waits)
            .await
            .expect("c is woken when b, the last in flight, leaves (it sat out its deadline before)");
    }
}
