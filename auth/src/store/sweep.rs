//! The periodic sweep: a background task of the running server that removes expired rows with
//! [`Store::sweep`], so tables do not grow without end.
//!
//! One run deletes at most [`SweepSettings::rows_per_table`] rows per table; what is left waits
//! for the next run. A run in progress is never cut short: stopping waits for it, so the server
//! closes the database only after the last statement has finished.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Store;
use crate::clock::Clock;
use crate::config::SweepSettings;

/// The running sweep task.
pub struct Sweeper {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Sweeper {
    /// Starts sweeping every `settings.interval`, the first run one interval from now.
    pub fn start(store: Store, clock: Arc<dyn Clock>, settings: SweepSettings) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let period = settings.interval.max(std::time::Duration::from_secs(1));
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = interval.tick() => {}
                }
                run_once(&store, clock.now(), &settings).await;
            }
        });
        Self { stop, task }
    }

    /// Stops sweeping, waiting for a run in progress to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the sweep task failed");
        }
    }
}

/// One sweep, logged. A failure is logged and retried at the next interval: expired rows are
/// harmless for a while, since every lookup checks expiry itself.
pub async fn run_once(store: &Store, now: i64, settings: &SweepSettings) {
    match store.sweep(now, settings.audit_retention, settings.rows_per_table).await {
        Ok(removed) if removed.total() > 0 => tracing::info!(
            codes = removed.authorization_codes,
            requests = removed.authorization_requests,
            sessions = removed.browser_sessions,
            refresh_tokens = removed.refresh_tokens,
            access_tokens = removed.access_tokens,
            grants = removed.grants,
            audit_events = removed.audit_events,
            "swept expired rows"
        ),
        Ok(_) => tracing::debug!("sweep found nothing expired"),
        Err(error) => tracing::error!(%error, "could not sweep expired rows"),
    }
}
