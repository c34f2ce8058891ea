//! Noticing that a profile folder changed, by polling: the size and
//! modification time of every file the loader reads. Polling is enough for
//! a folder of a few dozen files edited by people, and needs no watcher
//! threads or platform APIs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use agentwerke_gateway::AgentProfile;

use crate::catalogue::Catalogue;
use crate::known::Known;
use crate::load::{AGENTS_DIR, SKILLS_DIR, load_dir};
use crate::problem::Problems;

/// What the folder looked like: every entry of `agents/`, `skills/` and
/// the skill folders, with its size and modification time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(BTreeMap<PathBuf, Option<(u64, SystemTime)>>);

impl Fingerprint {
    /// Looks at `dir` now.
    pub fn of(dir: &Path) -> Self {
        let mut seen = BTreeMap::new();
        for sub in [AGENTS_DIR, SKILLS_DIR] {
            let sub = dir.join(sub);
            seen.insert(sub.clone(), stamp(&sub));
            for entry in list(&sub) {
                if entry.is_dir() {
                    for inner in list(&entry) {
                        seen.insert(inner.clone(), stamp(&inner));
                    }
                }
                seen.insert(entry.clone(), stamp(&entry));
            }
        }
        Self(seen)
    }
}

fn list(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Reloads a profile folder when it changes. The caller puts a new
/// catalogue in force, or keeps the last good one and reports the problems:
/// a broken edit never applies half-way.
#[derive(Debug)]
pub struct Reloader {
    dir: PathBuf,
    known: Known,
    config: Vec<AgentProfile>,
    last: Fingerprint,
}

impl Reloader {
    /// Watches `dir` as loaded just now (`seen`), combining it with the
    /// configuration's `[[agents]]` on every reload.
    pub fn new(
        dir: impl Into<PathBuf>,
        known: Known,
        config: Vec<AgentProfile>,
        seen: Fingerprint,
    ) -> Self {
        Self {
            dir: dir.into(),
            known,
            config,
            last: seen,
        }
    }

    /// `None` when nothing changed since the last call; otherwise the
    /// folder loaded again and combined with the configuration.
    pub fn poll(&mut self) -> Option<Result<Catalogue, Problems>> {
        let now = Fingerprint::of(&self.dir);
        if now == self.last {
            return None;
        }
        self.last = now;
        Some(load(&self.dir, &self.known, &self.config))
    }
}

/// The folder's profiles next to the configuration's `[[agents]]`.
pub fn load(dir: &Path, known: &Known, config: &[AgentProfile]) -> Result<Catalogue, Problems> {
    load_dir(dir, known)?.with_config(config)
}
