//! Taking turns per key: identical work done once at a time, and nothing left behind.
//!
//! Both servers let concurrent requests with the same key wait for one another rather than each
//! doing the same outbound work: the gateway's hop-token exchanges and approval requests (one per
//! key at the AS), the AS's fetches of a client metadata document or a client's `jwks_uri` (one per
//! URL, to a host that may be slow or hanging). Each request joins the key's queue and holds its
//! gate while it works; whoever leaves last, however the request ends (done, failed, or dropped
//! when its client went away), forgets the key, so that the map holds only work under way.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// The queues, one per key in use.
#[derive(Debug)]
pub struct Turns<K> {
    queues: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for Turns<K> {
    fn default() -> Self {
        Self { queues: Mutex::default() }
    }
}

impl<K: Clone + Eq + Hash> Turns<K> {
    /// A place in `key`'s queue; [`Turn::wait`] waits for the turn.
    pub fn join<'a>(&'a self, key: &'a K) -> Turn<'a, K> {
        let gate = self.lock().entry(key.clone()).or_default().clone();
        Turn { turns: self, key, gate }
    }

    /// How many keys have work under way or waited for (tests: none linger).
    pub fn in_use(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Arc<tokio::sync::Mutex<()>>>> {
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A place in one key's queue, left when dropped.
pub struct Turn<'a, K: Clone + Eq + Hash> {
    turns: &'a Turns<K>,
    key: &'a K,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl<K: Clone + Eq + Hash> Turn<'_, K> {
    /// Waits until the calls ahead with the same key are done; the turn lasts as long as the guard.
    pub async fn wait(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.gate.lock().await
    }
}

impl<K: Clone + Eq + Hash> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        // Under the map's lock nobody can join meanwhile: a count of two is the map's and ours.
        let mut queues = self.turns.lock();
        if Arc::strong_count(&self.gate) == 2 {
            queues.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn calls_with_one_key_take_turns_and_the_last_out_forgets_it_however_it_ends() {
        let turns: Turns<&str> = Turns::default();
        let first = turns.join(&"a");
        let mine = first.wait().await;
        let second = turns.join(&"a");
        assert!(tokio::time::timeout(Duration::from_millis(20), second.wait()).await.is_err(), "waits");
        let other = turns.join(&"b");
        drop(other.wait().await);
        drop(other);
        assert_eq!(turns.in_use(), 1, "b is forgotten, a is in use");
        drop(mine);
        drop(first);
        assert_eq!(turns.in_use(), 1, "the second still waits for a");
        drop(second.wait().await);
        drop(second);
        assert_eq!(turns.in_use(), 0);
    }
}
