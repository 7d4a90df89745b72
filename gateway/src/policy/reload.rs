//! The policy in force, swapped atomically when its file changes or on `SIGHUP`.
//!
//! A request takes the current [`Policies`] (an `Arc`) once and decides with it to the end, so a
//! reload never changes the rules under a call in flight. A new file that does not validate is
//! refused with its problems logged, and the policy already in force keeps serving: a typo in a
//! policy file must not open or close everything.
//!
//! A change is known by the file's content (its SHA-256, the policy set's hash), not its
//! modification time: a file rewritten within one tick of a coarse clock, or whose time was put
//! back (`cp -p`, `rsync -t`, a checkout), still changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::catalog::Catalog;
use crate::policy::{Policies, Problem, Refused, text_hash};

/// How often the watcher reads the file.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// The policy in force, and where it comes from.
pub struct PolicySource {
    path: PathBuf,
    catalog: Catalog,
    current: RwLock<Arc<Policies>>,
    /// The hash of the file's content when it was last read (loaded or refused); `None` when it
    /// could not be read.
    seen: RwLock<Option<String>>,
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// The file did not change since it was last read.
    Unchanged,
    /// A new policy is in force; its hash.
    Swapped(String),
    /// The new file was refused; the old policy keeps serving.
    Refused(Refused),
}

impl PolicySource {
    /// Loads the policy at `path` for `catalog`; fails if it does not validate (at startup there
    /// is no older policy to keep).
    pub fn load(path: &Path, catalog: Catalog) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the policy file {}: {e}", path.display()))?;
        let policies = Policies::load(&path.display().to_string(), &text, &catalog)?;
        Ok(Self {
            path: path.to_owned(),
            catalog,
            seen: RwLock::new(Some(policies.hash().to_owned())),
            current: RwLock::new(Arc::new(policies)),
        })
    }

    /// The policy in force. Take it once per request.
    pub fn current(&self) -> Arc<Policies> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the file and, if its content changed since it was last read (`force`: whether or not
    /// it did, as on `SIGHUP`), swaps in the new policy if it validates. A file that stays unreadable
    /// or refused is reported once, not on every look.
    pub fn reload(&self, force: bool) -> Reloaded {
        let file = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path);
        let hash = text.as_deref().ok().map(text_hash);
        {
            let mut seen = self.seen.write().unwrap_or_else(|p| p.into_inner());
            if !force && hash == *seen {
                return Reloaded::Unchanged;
            }
            seen.clone_from(&hash);
        }
        let loaded = text
            .map_err(|e| Refused(vec![Problem { file: file.clone(), line: 0, message: e.to_string() }]))
            .and_then(|text| Policies::load(&file, &text, &self.catalog));
        match loaded {
            Ok(policies) => {
                let hash = policies.hash().to_owned();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policies);
                Reloaded::Swapped(hash)
            }
            Err(refused) => Reloaded::Refused(refused),
        }
    }

    /// Reloads on every change of the file and on every `SIGHUP`, logging what happened, until
    /// the returned task is aborted.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let source = Arc::clone(self);
        tokio::spawn(async move {
            let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            loop {
                let force = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => None } } => true,
                };
                match source.reload(force) {
                    Reloaded::Unchanged => {}
                    Reloaded::Swapped(hash) => tracing::info!(%hash, "policy reloaded"),
                    Reloaded::Refused(refused) => {
                        tracing::error!(problems = %refused, "the new policy was refused; the old one keeps serving")
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::UpstreamTools;

    fn catalog() -> Catalog {
        let tools: Vec<protocol::mcp::Tool> = serde_json::from_value(serde_json::json!([
            {"name": "list_notes", "inputSchema": {"type": "object"}},
            {"name": "delete_note", "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}}}
        ]))
        .unwrap();
        Catalog::build(&BTreeMap::from([("demo".to_owned(), UpstreamTools { tools, ..Default::default() })]))
            .0
    }

    #[test]
    fn a_valid_change_is_swapped_in_a_refused_one_keeps_the_old_policy_and_calls_keep_theirs() {
        let path = std::env::temp_dir().join(format!("mcp-gateway-reload-{}.cedar", std::process::id()));
        std::fs::write(&path, "permit(principal, action, resource);").unwrap();
        let source = PolicySource::load(&path, catalog()).unwrap();
        let first = source.current();
        assert!(matches!(source.reload(false), Reloaded::Unchanged));

        // A call in flight holds `first`; the swap does not touch it.
        std::fs::write(&path, "forbid(principal, action, resource);").unwrap();
        let Reloaded::Swapped(hash) = source.reload(true) else { panic!("swapped") };
        assert_eq!(source.current().hash(), hash);
        assert_ne!(first.hash(), hash);
        assert_eq!(first.len(), 1, "the old set is intact for whoever holds it");

        std::fs::write(&path, "permit(principal, action == Gateway::Action::\"demo__nope\", resource);")
            .unwrap();
        let Reloaded::Refused(refused) = source.reload(true) else { panic!("refused") };
        assert_eq!(refused.0[0].line, 1);
        assert_eq!(source.current().hash(), hash, "the policy in force did not change");

        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(source.reload(true), Reloaded::Refused(_)),
            "a missing file keeps the old policy too"
        );
        assert_eq!(source.current().hash(), hash);
    }

    #[test]
    fn a_change_is_known_by_the_content_not_the_modification_time() {
        let path =
            std::env::temp_dir().join(format!("mcp-gateway-reload-same-time-{}.cedar", std::process::id()));
        let (a, b) = ("permit(principal, action, resource);", "forbid(principal, action, resource);");
        std::fs::write(&path, a).unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let source = PolicySource::load(&path, catalog()).unwrap();

        // New content, the old modification time put back (as `cp -p` or a checkout may).
        std::fs::write(&path, b).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);
        let Reloaded::Swapped(hash) = source.reload(false) else { panic!("the new content is swapped in") };
        assert_eq!(hash, text_hash(b));
        assert_eq!(source.current().hash(), hash);

        // The same content written again (a new time): nothing to do.
        std::fs::write(&path, b).unwrap();
        assert!(matches!(source.reload(false), Reloaded::Unchanged));

        // A refused file is reported once, and the policy in force keeps serving.
        std::fs::write(&path, "permit(principal, action, resource in Gateway::Upstream::\"nope\");").unwrap();
        assert!(matches!(source.reload(false), Reloaded::Refused(_)));
        assert!(matches!(source.reload(false), Reloaded::Unchanged));
        assert_eq!(source.current().hash(), hash);
        // And back to what is in force: read again, swapped in again.
        std::fs::write(&path, b).unwrap();
        assert!(matches!(source.reload(false), Reloaded::Swapped(_)));
        std::fs::remove_file(&path).unwrap();
    }

    #[tokio::test]
    async fn the_watcher_swaps_in_a_changed_file_by_itself() {
        let path = std::env::temp_dir().join(format!("mcp-gateway-watch-{}.cedar", std::process::id()));
        std::fs::write(&path, "permit(principal, action, resource);").unwrap();
        let source = Arc::new(PolicySource::load(&path, catalog()).unwrap());
        let before = source.current().hash().to_owned();
        let watcher = source.watch();
        std::fs::write(&path, "forbid(principal, action, resource);").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while source.current().hash() == before {
            assert!(tokio::time::Instant::now() < deadline, "the watcher did not reload the file");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        watcher.abort();
        let _ = std::fs::remove_file(&path);
    }
}
