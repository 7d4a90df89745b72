//! Refused requests, counted and logged per interval instead of one line each.
//!
//! A resource server on the internet is sent bad tokens all day, and every MCP client's first
//! request carries none by design. A log line per refusal at INFO made refusing a token cost more
//! than accepting one (issue 11 measured 0.74× the rate of fresh valid tokens) and let anyone fill
//! the disk. Here each refusal is an atomic increment and a `debug!` line (free unless enabled); at
//! INFO, the first refusal after a quiet interval is logged at once, and the others of that interval
//! as one summary line with the count of each kind, written when the next refusal arrives after the
//! interval (counts of a last, quiet interval wait for that). "Cannot verify tokens right now" (the
//! authorization server unreachable, no key cached) is summarised at WARN.

use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self { counts: Default::default(), interval_start: AtomicU64::new(NEVER) }
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
    /// Counts `error` at `now` and, when an interval is over, writes the summary.
    pub fn record(&self, error: &BearerError, now: u64) {
        tracing::debug!(reason = %error, "request refused");
        if let Some(summary) = self.count(error, now) {
            let unavailable = summary.0.iter().any(|(kind, _)| *kind == "unavailable");
            let total: u64 = summary.0.iter().map(|(_, n)| n).sum();
            if unavailable {
                tracing::warn!(total, counts = %summary, interval_secs = INTERVAL_SECS,
                    "requests refused; tokens could not be verified (authorization server unreachable?)");
            } else {
                tracing::info!(total, counts = %summary, interval_secs = INTERVAL_SECS, "requests refused");
            }
        }
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
        let counts: Vec<_> = KINDS
            .iter()
            .zip(&self.counts)
            .map(|(kind, count)| (*kind, count.swap(0, Ordering::AcqRel)))
            .filter(|(_, count)| *count > 0)
            .collect();
        (!counts.is_empty()).then_some(Summary(counts))
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
