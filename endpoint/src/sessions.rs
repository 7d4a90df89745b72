//! MCP sessions of the session-based revisions (2025-03-26 … 2025-11-25).
//!
//! A session is bound to who opened it (token subject and client): a session id is not a
//! credential, and another user presenting it is told it does not exist. The store is in memory,
//! bounded, and forgets idle sessions; replicas behind a load balancer need sticky routing for
//! sessions, or clients that speak the stateless 2026-07-28 revision.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How many live sessions one user (token subject) may hold, under all their clients together:
/// enough for every client a person runs at once, and for a gateway in front of this server,
/// which holds up to 64 sessions per user and client here (`--upstream-sessions-per-owner`, its
/// calls made at once) under the user's own subject; few enough that no user can fill the table
/// (10,000). A user at the limit who opens another loses their own least recently used one.
/// Counted by subject, not by subject and client, since a user can register clients at will.
pub const MAX_SESSIONS_PER_USER: usize = 128;

/// How many live sessions a server keeps, for everybody together.
pub const MAX_SESSIONS: usize = 10_000;

/// The most a limit per user may be set to: the sessions of a few users at most, since opening a
/// session walks the opener's own (under the table's lock), and a limit near [`MAX_SESSIONS`] would
/// be no limit.
pub const MAX_SESSIONS_PER_USER_LIMIT: usize = 1_000;

/// Reads a limit of sessions per user from a command line: a whole number from 1 (with none, no
/// user could open a session) to [`MAX_SESSIONS_PER_USER_LIMIT`].
pub fn parse_per_user(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_SESSIONS_PER_USER_LIMIT).contains(&n) => Ok(n),
        Ok(_) => Err(format!("from 1 to {MAX_SESSIONS_PER_USER_LIMIT}")),
        Err(e) => Err(format!("a whole number of sessions: {e}")),
    }
}

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
    inner: Mutex<Table>,
    max: usize,
    per_user: usize,
    idle: Duration,
}

/// The sessions, with the indexes that let `open` choose what to evict without walking them all.
#[derive(Default)]
struct Table {
    sessions: HashMap<String, Session>,
    /// Each subject's session ids (at most `per_user` of them).
    by_subject: HashMap<String, Vec<String>>,
    /// `(last_seen, id)` of every session: the least recently used first.
    by_age: BTreeSet<(Instant, String)>,
    /// `(sessions held, subject)` of every subject: the largest holder last.
    by_count: BTreeSet<(usize, String)>,
}

impl Table {
    fn len(&self) -> usize {
        self.sessions.len()
    }

    fn held_by(&self, subject: &str) -> usize {
        self.by_subject.get(subject).map_or(0, Vec::len)
    }

    fn recount(&mut self, subject: &str, before: usize, after: usize) {
        self.by_count.remove(&(before, subject.to_owned()));
        if after > 0 {
            self.by_count.insert((after, subject.to_owned()));
        }
    }

    fn insert(&mut self, id: String, session: Session) {
        let subject = session.subject.clone();
        let before = self.held_by(&subject);
        self.by_age.insert((session.last_seen, id.clone()));
        self.by_subject.entry(subject.clone()).or_default().push(id.clone());
        self.sessions.insert(id, session);
        self.recount(&subject, before, before.saturating_add(1));
    }

    fn remove(&mut self, id: &str) {
        let Some(session) = self.sessions.remove(id) else {
            return;
        };
        self.by_age.remove(&(session.last_seen, id.to_owned()));
        let before = self.held_by(&session.subject);
        if let Some(ids) = self.by_subject.get_mut(&session.subject) {
            ids.retain(|held| held != id);
            if ids.is_empty() {
                self.by_subject.remove(&session.subject);
            }
        }
        self.recount(&session.subject, before, before.saturating_sub(1));
    }

    fn touch(&mut self, id: &str, now: Instant) {
        if let Some(session) = self.sessions.get_mut(id) {
            self.by_age.remove(&(session.last_seen, id.to_owned()));
            session.last_seen = now;
            self.by_age.insert((now, id.to_owned()));
        }
    }

    /// The least recently used session of `subject` (one of at most `per_user`).
    fn oldest_of(&self, subject: &str) -> Option<String> {
        let ids = self.by_subject.get(subject)?;
        ids.iter().min_by_key(|id| self.sessions.get(*id).map(|s| s.last_seen)).cloned()
    }

    /// Makes room for one more session of `subject`. A user at the per-user limit gives up their
    /// own least recently used. Then, in a full table: an idle session if there is one (it is gone
    /// for `find` anyway); else the user's own least recently used if they hold one; else, when
    /// everybody holds one session, the least recently used of all; else the least recently used
    /// of a user holding the most. A user opening session after session only ever pushes out
    /// their own, never everyone else's.
    fn make_room(&mut self, subject: &str, max: usize, per_user: usize, idle: Duration, now: Instant) {
        if self.held_by(subject) >= per_user
            && let Some(oldest) = self.oldest_of(subject)
        {
            self.remove(&oldest);
        }
        while self.len() >= max {
            let least_recent = self.by_age.first().map(|(seen, id)| (*seen, id.clone()));
            let victim = match (least_recent, self.by_count.last()) {
                (Some((seen, id)), _) if now.duration_since(seen) >= idle => Some(id),
                _ if self.held_by(subject) > 0 => self.oldest_of(subject),
                (Some((_, id)), Some((1, _))) => Some(id),
                (_, Some((_, largest))) => self.oldest_of(largest),
                (_, None) => None,
            };
            match victim {
                Some(id) => self.remove(&id),
                None => break,
            }
        }
    }
}

/// Who a request is from, to match against the session's owner.
pub struct Owner<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
}

impl Sessions {
    /// At most `max` sessions in all and [`MAX_SESSIONS_PER_USER`] per user; each forgotten after
    /// `idle` without a request.
    pub fn new(max: usize, idle: Duration) -> Self {
        Self::with_per_user(max, MAX_SESSIONS_PER_USER, idle)
    }

    /// [`Sessions::new`] with another limit per user (at least one).
    pub fn with_per_user(max: usize, per_user: usize, idle: Duration) -> Self {
        Self { inner: Mutex::new(Table::default()), max: max.max(1), per_user: per_user.max(1), idle }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a session and returns its id (256 random bits: visible ASCII, as the spec asks).
    pub fn open(&self, owner: &Owner<'_>, protocol_version: &'static str) -> String {
        self.open_with(owner, protocol_version, Value::Null)
    }

    /// [`Sessions::open`], remembering the client's declared capabilities. Room is made as
    /// [`Table::make_room`] says, in time logarithmic in the table's size and linear in the
    /// opener's own sessions (at most the limit per user).
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
        let mut table = self.lock();
        table.make_room(owner.subject, self.max, self.per_user, self.idle, now);
        table.insert(
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
        let mut table = self.lock();
        let session = table.sessions.get(id)?;
        if now.duration_since(session.last_seen) >= self.idle {
            table.remove(id);
            return None;
        }
        if session.subject != owner.subject || session.client_id != owner.client_id {
            return None;
        }
        let touched = Touched {
            protocol_version: session.protocol_version,
            client_capabilities: session.client_capabilities.clone(),
        };
        table.touch(id, now);
        Some(touched)
    }

    /// Ends a session owned by `owner`; `false` if there was none.
    pub fn close(&self, id: &str, owner: &Owner<'_>) -> bool {
        let mut table = self.lock();
        match table.sessions.get(id) {
            Some(s) if s.subject == owner.subject && s.client_id == owner.client_id => {
                table.remove(id);
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

    #[test]
    fn one_user_opening_sessions_in_a_full_table_evicts_only_their_own() {
        let sessions = Sessions::new(2, Duration::from_secs(60));
        let alice = sessions.open(&ALICE, "2025-11-25");
        let first = sessions.open(&MALLORY, "2025-11-25");
        let second = sessions.open(&MALLORY, "2025-11-25");
        assert!(sessions.touch(&alice, &ALICE).is_some(), "Mallory's sessions push out Mallory's");
        assert_eq!(sessions.touch(&first, &MALLORY), None);
        assert!(sessions.touch(&second, &MALLORY).is_some());
        for _ in 0..10 {
            sessions.open(&MALLORY, "2025-11-25");
        }
        assert!(sessions.touch(&alice, &ALICE).is_some());
        assert_eq!(sessions.lock().len(), 2);
    }

    #[test]
    fn a_user_at_their_limit_gives_up_their_least_recently_used_session() {
        let sessions = Sessions::with_per_user(10, 2, Duration::from_secs(60));
        let mallory_app = Owner { subject: "mallory", client_id: "another-app" };
        let alice = sessions.open(&ALICE, "2025-11-25");
        let kept = sessions.open(&MALLORY, "2025-11-25");
        let dropped = sessions.open(&mallory_app, "2025-11-25");
        std::thread::sleep(Duration::from_millis(2));
        assert!(sessions.touch(&kept, &MALLORY).is_some(), "now the more recently used");
        // The limit counts a user's sessions under every client together.
        let third = sessions.open(&MALLORY, "2025-11-25");
        assert_eq!(sessions.touch(&dropped, &mallory_app), None);
        assert!(sessions.touch(&kept, &MALLORY).is_some() && sessions.touch(&third, &MALLORY).is_some());
        assert!(sessions.touch(&alice, &ALICE).is_some());
        assert_eq!(sessions.lock().len(), 3);
    }

    /// Sessions nobody ends pile up as idle ones: a full table gives those up before a user's
    /// live session, and among users holding one each, the least recently used goes.
    #[test]
    fn a_full_table_gives_up_idle_sessions_before_live_ones() {
        // Wide margins: the table reads the real clock, and the machine may be busy.
        let sessions = Sessions::new(2, Duration::from_millis(1000));
        let bob = Owner { subject: "bob", client_id: "app" };
        let bobs = sessions.open(&bob, "2025-11-25");
        std::thread::sleep(Duration::from_millis(600));
        let alice = sessions.open(&ALICE, "2025-11-25");
        std::thread::sleep(Duration::from_millis(600));
        // Bob's is idle now (1.2 s), Alice's is not (0.6 s).
        let second = sessions.open(&ALICE, "2025-11-25");
        assert!(sessions.touch(&alice, &ALICE).is_some(), "her live session stays; Bob's idle one went");
        assert!(sessions.touch(&second, &ALICE).is_some());
        assert_eq!(sessions.touch(&bobs, &bob), None);

        // Everybody holding one live session: the least recently used makes room, not whoever
        // sorts last by name.
        let sessions = Sessions::new(2, Duration::from_secs(60));
        let zoe = Owner { subject: "zoe", client_id: "app" };
        let alices = sessions.open(&ALICE, "2025-11-25");
        let zoes = sessions.open(&zoe, "2025-11-25");
        std::thread::sleep(Duration::from_millis(2));
        assert!(sessions.touch(&zoes, &zoe).is_some());
        sessions.open(&bob, "2025-11-25");
        assert!(sessions.touch(&zoes, &zoe).is_some(), "Zoe used hers last");
        assert_eq!(sessions.touch(&alices, &ALICE), None);
    }

    #[test]
    fn a_new_user_in_a_full_table_takes_an_idle_session_else_one_of_the_largest_holders() {
        let sessions = Sessions::with_per_user(3, 3, Duration::from_millis(40));
        let stale = sessions.open(&ALICE, "2025-11-25");
        std::thread::sleep(Duration::from_millis(50));
        let mallory = [sessions.open(&MALLORY, "2025-11-25"), sessions.open(&MALLORY, "2025-11-25")];
        let bob = Owner { subject: "bob", client_id: "app" };
        let bobs = sessions.open(&bob, "2025-11-25");
        assert_eq!(sessions.touch(&stale, &ALICE), None, "the idle one made room");
        let carol = Owner { subject: "carol", client_id: "app" };
        let carols = sessions.open(&carol, "2025-11-25");
        assert!(sessions.touch(&bobs, &bob).is_some() && sessions.touch(&carols, &carol).is_some());
        let left = mallory.iter().filter(|id| sessions.touch(id, &MALLORY).is_some()).count();
        assert_eq!(left, 1, "the largest holder gave one up");
        let table = sessions.lock();
        assert_eq!((table.len(), table.by_age.len(), table.by_count.len()), (3, 3, 3));
    }
}
