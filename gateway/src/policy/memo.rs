//! What a decision builds for Cedar from the caller alone, kept for the caller's next call.
//!
//! A call's entities (the user with their groups and client, the tool in its upstream, its action
//! in its group) depend only on who calls which tool, and the policies the index chooses are
//! often the same few. Building them was half of a decision: Cedar computes the entities'
//! transitive closure on every `Entities` it is given, and a `PolicySet` is a handful of maps. A
//! caller repeats the same calls, so both are kept here, keyed by exactly what they were built
//! from: a memo can only ever return what building anew would have.
//!
//! Each memo lives in one [`super::Policies`] (a reload starts empty ones) and is bounded: when
//! full, each new entry takes the place of an arbitrary old one, so many distinct callers cost
//! about what no memo would, never more memory.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// A bounded map from what a value is built from to the value.
pub(super) struct Memo<K, V> {
    capacity: usize,
    entries: Mutex<HashMap<K, Arc<V>>>,
}

impl<K: Hash + Eq + Clone, V> Memo<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<V>>> {
        // A panic while holding the lock leaves at worst a missing entry: the map stays usable.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value kept for `key`, else the one `build` makes, kept for next time. A failed build
    /// keeps nothing. The lock is not held while building: two callers may build the same value
    /// at once, and either result is the same.
    pub fn get_or_build<Q>(
        &self,
        key: &Q,
        build: impl FnOnce() -> Result<V, String>,
    ) -> Result<Arc<V>, String>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.lock().get(key) {
            return Ok(value.clone());
        }
        let value = Arc::new(build()?);
        let mut entries = self.lock();
        let forgotten = if entries.len() >= self.capacity && !entries.contains_key(key) {
            // Room for one more: any entry goes (the first the table yields), so a memo that
            // is full costs each new caller one removal, never a pause to empty it.
            let any = entries.keys().next().cloned();
            any.and_then(|k| entries.remove::<K>(&k))
        } else {
            None
        };
        entries.insert(key.to_owned(), value.clone());
        drop(entries);
        // Dropped outside the lock: entities are a few allocations each.
        drop(forgotten);
        Ok(value)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

impl<K, V> std::fmt::Debug for Memo<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

/// One key for the parts a value was built from, each prefixed with its length so that no two
/// different lists of parts make the same key (`"ab" + "c"` is not `"a" + "bc"`).
pub(super) fn key<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut key = String::new();
    for part in parts {
        // Writing to a String cannot fail.
        let _ = write!(key, "{}:{part}", part.len());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_built_once_per_key_and_a_failure_is_not_kept() {
        let memo: Memo<String, u32> = Memo::new(10);
        let mut builds = 0;
        for _ in 0..3 {
            let value = memo.get_or_build("a", || {
                builds += 1;
                Ok(1)
            });
            assert_eq!(*value.unwrap(), 1);
        }
        assert_eq!(builds, 1);
        assert!(memo.get_or_build("b", || Err("no".into())).is_err());
        assert_eq!(*memo.get_or_build("b", || Ok(2)).unwrap(), 2, "the failure was not kept");
    }

    #[test]
    fn a_full_memo_forgets_one_entry_for_each_new_one() {
        let memo: Memo<String, usize> = Memo::new(3);
        for (i, k) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            memo.get_or_build(k, || Ok(i)).unwrap();
            assert_eq!(memo.len(), (i + 1).min(3));
        }
        assert_eq!(*memo.get_or_build("e", || Ok(99)).unwrap(), 4, "the newest is kept");
        let kept = ["a", "b", "c", "d"].into_iter().filter(|k| memo.lock().contains_key(*k)).count();
        assert_eq!(kept, 2, "two of the older ones made room");
    }

    #[test]
    fn keys_of_different_parts_differ() {
        assert_ne!(key(["ab", "c"]), key(["a", "bc"]));
        assert_ne!(key(["a:b"]), key(["a", "b"]));
        assert_ne!(key(["1:a"]), key(["", "a"]));
        assert_eq!(key(["a", "b"]), key(["a", "b"]));
    }
}
