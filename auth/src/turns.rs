//! One at a time per key: the outbound fetches a stranger can trigger (a client metadata document,
//! a client's `jwks_uri`) take turns per URL, so concurrent requests wait for the first one's
//! outcome instead of each opening a connection to a host that may be slow or hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// A lock per key, kept only while someone holds or waits for it.
#[derive(Default)]
pub struct Turns {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Turns {
    /// Waits for `key`'s turn; the guard ends it.
    pub async fn take(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            // Locks nobody holds or waits for are dropped here, so the map stays as small as the
            // number of turns in progress.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(key.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;

    #[tokio::test]
    async fn one_turn_per_key_at_a_time_and_nothing_kept_after() {
        let turns = Turns::default();
        let first = turns.take("a").await;
        assert!(turns.take("a").now_or_never().is_none(), "the same key waits");
        let other = turns.take("b").now_or_never().expect("another key does not");
        drop((first, other));
        let again = turns.take("a").now_or_never().expect("free again");
        drop(again);
        turns.take("c").await;
        assert_eq!(turns.locks.lock().unwrap().len(), 1, "only the last key taken is kept");
    }
}
