//! Refused requests, counted and logged per interval instead of one line each.
//!
//! A resource server on the internet is sent bad tokens all day, and every MCP client's first
//! request carries none by design. A log line per refusal at INFO made refusing a token cost more
//! than accepting one (issue 11 measured 0.74× the rate of fresh valid tokens) and let anyone fill
//! the disk. Here each refusal is an atomic increment and a `debug!` line (free unless enabled); at
//! INFO, the first refusal after a quiet interval is logged at once, and the others of that interval
//! as one summary line with the count of each kind, written by the first refusal after the interval
//! or, when none comes, by a task that wakes once at its end (so a burst followed by silence is
//! reported too). "Cannot verify tokens right now" (the authorization server unreachable, no key
//! cached) is summarised at WARN.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::BearerError;

/// How often, at most, a summary line is written.
pub const INTERVAL_SECS: u64 = 10;

const KINDS: [&str; 5] = ["missing", "invalid_request", "invalid_token", "insufficient_scope", "unavailable"];
const NEVER: u64 = u64::MAX;

/// Refusal counts since the last summary.
pub struct RefusalLog {
    counts: [AtomicU64; KINDS.len()],
    /// When the current interval started (epoch seconds), [`NEVER`] before the first refusal.
    interval_start: AtomicU64,
    /// A task will write the counts that are waiting, unless a refusal does first.
    flush_pending: AtomicBool,
    /// How long that task waits: [`INTERVAL_SECS`], shorter in tests.
    flush_after: Duration,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self::with_flush_after(Duration::from_secs(INTERVAL_SECS))
    }
}

/// One summary: how many of each kind, in the order of [`KINDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary(pub Vec<(&'static str, u64)>);

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (kind, count) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{kind}={count}")?;
        }
        Ok(())
    }
}

impl RefusalLog {
    /// A log whose waiting counts are written `flush_after` the first of them at the latest.
    pub fn with_flush_after(flush_after: Duration) -> Self {
        Self {
            counts: Default::default(),
            interval_start: AtomicU64::new(NEVER),
            flush_pending: AtomicBool::new(false),
            flush_after,
        }
    }

    /// Counts `error` at the clock's time and, when an interval is over, writes the summary;
    /// otherwise makes sure the waiting counts are written at the end of the interval.
    pub fn record(self: &Arc<Self>, error: &BearerError, clock: &Arc<dyn Clock>) {
        tracing::debug!(reason = %error, "request refused");
        match self.count(error, clock.now()) {
            Some(summary) => write(&summary),
            None => self.flush_later(clock),
        }
    }

    /// Ends the current interval now: the counts waiting, if any (pure, like [`RefusalLog::count`]).
    pub fn flush(&self, now: u64) -> Option<Summary> {
        self.interval_start.store(now, Ordering::Release);
        self.take_counts()
    }

    /// Spawns, once per interval, the task that writes what no later refusal will. Outside a Tokio
    /// runtime (a validator used from plain threads) the counts wait for the next refusal instead.
    fn flush_later(self: &Arc<Self>, clock: &Arc<dyn Clock>) {
        if self.flush_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.flush_pending.store(false, Ordering::Release);
            return;
        };
        let (log, clock, wait): (Weak<Self>, _, _) = (Arc::downgrade(self), clock.clone(), self.flush_after);
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            // The validator may be gone (the server stopped): then there is nothing to report to.
            let Some(log) = log.upgrade() else { return };
            log.flush_pending.store(false, Ordering::Release);
            if let Some(summary) = log.flush(clock.now()) {
                write(&summary);
            }
        });
    }

    /// The counting behind [`RefusalLog::record`], without the logging: the summary to write now,
    /// if any. The first refusal after a quiet interval returns at once (it is the one an operator
    /// is looking for when something just broke).
    pub fn count(&self, error: &BearerError, now: u64) -> Option<Summary> {
        let index = KINDS.iter().position(|k| *k == error.kind()).unwrap_or(0);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        let start = self.interval_start.load(Ordering::Relaxed);
        if start != NEVER && now < start.saturating_add(INTERVAL_SECS) {
            return None;
        }
        // One thread wins the right to write the summary; the others keep counting into the next.
        self.interval_start.compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed).ok()?;
        self.take_counts()
    }

    /// Every count, reset to zero, as a summary if any is not zero.
    fn take_counts(&self) -> Option<Summary> {
        let counts: Vec<_> = KINDS
            .iter()
            .zip(&self.counts)
            .map(|(kind, count)| (*kind, count.swap(0, Ordering::AcqRel)))
            .filter(|(_, count)| *count > 0)
            .collect();
        (!counts.is_empty()).then_some(Summary(counts))
    }
}

/// One summary line: at WARN when tokens could not be verified at all, else at INFO.
fn write(summary: &Summary) {
    let unavailable = summary.0.iter().any(|(kind, _)| *kind == "unavailable");
    let total: u64 = summary.0.iter().map(|(_, n)| n).sum();
    if unavailable {
        tracing::warn!(total, counts = %summary, interval_secs = INTERVAL_SECS,
            "requests refused; tokens could not be verified (authorization server unreachable, its answers unusable, or introspection at its limit?)");
    } else {
        tracing::info!(total, counts = %summary, interval_secs = INTERVAL_SECS, "requests refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::jwt::validation::Refusal;

    #[test]
    fn the_first_refusal_is_reported_at_once_and_the_rest_once_per_interval() {
        let log = RefusalLog::default();
        let bad = BearerError::InvalidToken(Refusal::BadSignature);
        assert_eq!(log.count(&bad, 1000), Some(Summary(vec![("invalid_token", 1)])));
        for second in 1000..1000 + INTERVAL_SECS {
            assert_eq!(log.count(&bad, second), None);
            assert_eq!(log.count(&BearerError::Missing, second), None);
        }
        let summary = log.count(&bad, 1000 + INTERVAL_SECS).expect("the interval is over");
        let n = INTERVAL_SECS + 1;
        assert_eq!(summary, Summary(vec![("missing", INTERVAL_SECS), ("invalid_token", n)]));
        assert_eq!(summary.to_string(), format!("missing={INTERVAL_SECS}, invalid_token={n}"));
        assert_eq!(log.count(&bad, 1000 + INTERVAL_SECS + 1), None, "a new interval started");
    }

    #[test]
    fn a_flush_reports_what_waits_and_starts_a_new_interval() {
        let log = RefusalLog::default();
        assert!(log.count(&BearerError::Missing, 1000).is_some());
        assert_eq!(log.count(&BearerError::Missing, 1001), None);
        assert_eq!(log.flush(1002), Some(Summary(vec![("missing", 1)])));
        assert_eq!(log.flush(1003), None, "nothing waits");
        assert_eq!(log.count(&BearerError::Missing, 1004), None, "the flush started an interval");
    }

    #[tokio::test]
    async fn counts_that_no_later_refusal_reports_are_written_by_the_flush_task() {
        let log = Arc::new(RefusalLog::with_flush_after(Duration::from_millis(50)));
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::ManualClock::at(1000));
        for _ in 0..3 {
            log.record(&BearerError::Missing, &clock);
        }
        assert!(log.flush_pending.load(Ordering::Acquire), "the first deferred refusal scheduled a flush");
        for _ in 0..100 {
            if !log.flush_pending.load(Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!log.flush_pending.load(Ordering::Acquire), "the flush task ran");
        assert_eq!(log.flush(1001), None, "and took the two waiting counts");
    }

    #[test]
    fn counts_from_many_threads_are_never_lost() {
        let log = RefusalLog::default();
        let reported = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..10_000u64 {
                        if let Some(summary) = log.count(&BearerError::Missing, i / 100) {
                            reported.fetch_add(summary.0.iter().map(|(_, n)| n).sum(), Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let rest = log.count(&BearerError::Missing, u64::MAX - 1).map_or(0, |s| s.0[0].1);
        assert_eq!(reported.load(Ordering::Relaxed) + rest, 40_001);
    }
}
