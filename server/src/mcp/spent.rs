//! Call-bound tokens are good for one call (issue 13: a token bound to one approved call is used
//! once). A token carrying an `mcp_tool_call` authorization detail was issued after a person
//! approved one call of one tool with one set of arguments; the gateway spends it on that call,
//! and this server refuses it the second time, so a copy taken off the wire (or out of a log)
//! cannot make the approved call again within the token's life.
//!
//! Kept in this process's memory until the token expires (with the validator's leeway), and
//! bounded. Several replicas each keep their own: a replay sent to another replica within the
//! token's life (at most a minute) is not caught there (ARCHITECTURE.md, "Several replicas").

use std::collections::HashMap;
use std::sync::Mutex;

/// Most call-bound tokens remembered at once: each lives at most a minute, so this is a hundred
/// thousand approved calls a minute.
pub const CAPACITY: usize = 100_000;

/// The `jti`s of the call-bound tokens spent here, each until its token expires.
#[derive(Debug)]
pub struct SpentCalls {
    capacity: usize,
    spent: Mutex<HashMap<String, u64>>,
}

impl Default for SpentCalls {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl SpentCalls {
    pub fn new(capacity: usize) -> Self {
        Self { capacity, spent: Mutex::default() }
    }

    /// Spends the token `jti`, valid until `until` (Unix seconds): `true` the first time, `false`
    /// after. Also `false` when the set is full of tokens still valid: refusing an approved call is
    /// safe (the person approves again), forgetting a spent one is not.
    pub fn spend(&self, jti: &str, until: u64, now: u64) -> bool {
        // A panic while holding the lock leaves at worst one entry missing or extra.
        let mut spent = self.spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if spent.contains_key(jti) {
            return false;
        }
        if spent.len() >= self.capacity {
            spent.retain(|_, valid_until| *valid_until > now);
            if spent.len() >= self.capacity {
                return false;
            }
        }
        spent.insert(jti.to_owned(), until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_spent_once_and_a_full_set_makes_room_only_from_expired_tokens() {
        let spent = SpentCalls::new(2);
        assert!(spent.spend("a", 100, 0));
        assert!(!spent.spend("a", 100, 0), "a replay");
        assert!(!spent.spend("a", 100, 50), "still a replay later on");
        assert!(spent.spend("b", 200, 0));
        assert!(!spent.spend("c", 300, 10), "full of live tokens: refused, nothing forgotten");
        assert!(!spent.spend("a", 100, 10));
        assert!(spent.spend("c", 300, 150), "a expired and made room");
        assert!(!spent.spend("b", 200, 150), "b is still remembered");
    }
}
