//! One-shot watch registrations, local to one server (never replicated).

use super::WatcherId;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WatchKind {
    /// Set by getData/exists: fires on create, setData, delete of the node.
    Data,
    /// Set by getChildren: fires on child create/delete and delete of the node.
    Child,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct WatchTable {
    data: BTreeMap<String, BTreeSet<WatcherId>>,
    child: BTreeMap<String, BTreeSet<WatcherId>>,
    /// Reverse index so a disconnecting client is dropped without a full scan.
    by_watcher: BTreeMap<WatcherId, BTreeSet<(WatchKind, String)>>,
}

impl WatchTable {
    fn map(&mut self, kind: WatchKind) -> &mut BTreeMap<String, BTreeSet<WatcherId>> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Child => &mut self.child,
        }
    }

    pub(crate) fn add(&mut self, kind: WatchKind, path: &str, watcher: WatcherId) {
        self.map(kind)
            .entry(path.to_string())
            .or_default()
            .insert(watcher);
        self.by_watcher
            .entry(watcher)
            .or_default()
            .insert((kind, path.to_string()));
    }

    /// Removes and returns every watcher of `kind` on `path` (one-shot firing).
    pub(crate) fn take(&mut self, kind: WatchKind, path: &str) -> BTreeSet<WatcherId> {
        let Some(watchers) = self.map(kind).remove(path) else {
            return BTreeSet::new();
        };
        let key = (kind, path.to_string());
        for w in &watchers {
            if let Some(set) = self.by_watcher.get_mut(w) {
                set.remove(&key);
                if set.is_empty() {
                    self.by_watcher.remove(w);
                }
            }
        }
        watchers
    }

    pub(crate) fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(keys) = self.by_watcher.remove(&watcher) else {
            return;
        };
        for (kind, path) in keys {
            let map = self.map(kind);
            if let Some(set) = map.get_mut(&path) {
                set.remove(&watcher);
                if set.is_empty() {
                    map.remove(&path);
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_watcher.is_empty()
    }

    /// Each watcher's data watches (getData and exists), by path.
    pub(crate) fn data_paths_by_watcher(&self) -> BTreeMap<WatcherId, BTreeSet<String>> {
        let data = |(_, keys): &(&WatcherId, &BTreeSet<(WatchKind, String)>)| {
            keys.iter().any(|(k, _)| *k == WatchKind::Data)
        };
        let paths = |(w, keys): (&WatcherId, &BTreeSet<(WatchKind, String)>)| {
            let p = keys.iter().filter(|(k, _)| *k == WatchKind::Data);
            (*w, p.map(|(_, p)| p.clone()).collect())
        };
        self.by_watcher.iter().filter(data).map(paths).collect()
    }

    /// Number of (watcher, kind, path) registrations.
    pub(crate) fn len(&self) -> usize {
        self.by_watcher.values().map(BTreeSet::len).sum()
    }
}
