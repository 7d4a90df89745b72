//! MCP sessions of the session-based revisions (2025-03-26 … 2025-11-25).
//!
//! A session is bound to who opened it (token subject and client): a session id is not a
//! credential, and another user presenting it is told it does not exist. The store is in memory,
//! bounded, and forgets idle sessions; replicas behind a load balancer need sticky routing for
//! sessions, or clients that speak the stateless 2026-07-28 revision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A live session.
#[derive(Debug, Clone)]
struct Session {
    subject: String,
    client_id: String,
    protocol_version: &'static str,
    /// What the client declared in `initialize` (`capabilities`): what it can be asked for.
    client_capabilities: Arc<Value>,
    last_seen: Instant,
}

/// A live session, as a request finds it.
#[derive(Debug, Clone)]
pub struct Touched {
    pub protocol_version: &'static str,
    pub client_capabilities: Arc<Value>,
}

/// The sessions of this process.
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    max: usize,
    idle: Duration,
}

/// Who a request is from, to match against the session's owner.
pub struct Owner<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
}

impl Sessions {
    pub fn new(max: usize, idle: Duration) -> Self {
        Self { inner: Mutex::new(HashMap::new()), max, idle }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a session and returns its id (256 random bits: visible ASCII, as the spec asks).
    pub fn open(&self, owner: &Owner<'_>, protocol_version: &'static str) -> String {
        self.open_with(owner, protocol_version, Value::Null)
    }

    /// [`Sessions::open`], remembering the client's declared capabilities.
    pub fn open_with(
        &self,
        owner: &Owner<'_>,
        protocol_version: &'static str,
        client_capabilities: Value,
    ) -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
        let id = protocol::base64url(&bytes);
        let now = Instant::now();
        let mut sessions = self.lock();
        // Idle sessions are swept only when the table is full: a sweep walks the whole table
        // under the lock, and `touch` refuses an idle session on its own anyway.
        if sessions.len() >= self.max {
            sessions.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        }
        if sessions.len() >= self.max
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                subject: owner.subject.to_owned(),
                client_id: owner.client_id.to_owned(),
                protocol_version,
                client_capabilities: Arc::new(client_capabilities),
                last_seen: now,
            },
        );
        id
    }

    /// The negotiated version of a live session owned by `owner`, refreshing its idle timer.
    pub fn touch(&self, id: &str, owner: &Owner<'_>) -> Option<&'static str> {
        self.find(id, owner).map(|touched| touched.protocol_version)
    }

    /// A live session owned by `owner`, refreshing its idle timer.
    pub fn find(&self, id: &str, owner: &Owner<'_>) -> Option<Touched> {
        let now = Instant::now();
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        if now.duration_since(session.last_seen) >= self.idle {
            sessions.remove(id);
            return None;
        }
        if session.subject != owner.subject || session.client_id != owner.client_id {
            return None;
        }
        session.last_seen = now;
        Some(Touched {
            protocol_version: session.protocol_version,
            client_capabilities: session.client_capabilities.clone(),
        })
    }

    /// Ends a session owned by `owner`; `false` if there was none.
    pub fn close(&self, id: &str, owner: &Owner<'_>) -> bool {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(s) if s.subject == owner.subject && s.client_id == owner.client_id => {
                sessions.remove(id);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Owner<'static> = Owner { subject: "alice", client_id: "app" };
    const MALLORY: Owner<'static> = Owner { subject: "mallory", client_id: "app" };

    #[test]
    fn a_session_answers_only_its_owner_until_closed() {
        let sessions = Sessions::new(10, Duration::from_secs(60));
        let id = sessions.open(&ALICE, "2025-11-25");
        assert_eq!(sessions.touch(&id, &ALICE), Some("2025-11-25"));
        assert_eq!(sessions.touch(&id, &MALLORY), None);
        assert!(!sessions.close(&id, &MALLORY));
        assert!(sessions.close(&id, &ALICE));
        assert_eq!(sessions.touch(&id, &ALICE), None);
    }

    #[test]
    fn idle_sessions_expire_and_the_store_stays_bounded() {
        let sessions = Sessions::new(2, Duration::from_millis(20));
        let first = sessions.open(&ALICE, "2025-11-25");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(sessions.touch(&first, &ALICE), None, "idle too long");
        let a = sessions.open(&ALICE, "2025-11-25");
        let b = sessions.open(&ALICE, "2025-11-25");
        let c = sessions.open(&ALICE, "2025-11-25");
        assert_eq!(sessions.lock().len(), 2);
        assert_eq!(sessions.touch(&a, &ALICE), None, "the oldest was evicted");
        assert!(sessions.touch(&b, &ALICE).is_some() && sessions.touch(&c, &ALICE).is_some());
    }
}
