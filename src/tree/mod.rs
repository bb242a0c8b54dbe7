//! The replicated znode tree: applies committed writes deterministically,
//! serves local reads, tracks sessions and their ephemerals, and fires
//! one-shot watches.
//!
//! Replicated content (nodes, sessions) is what snapshots, `digest` and `==`
//! cover. Watches are per-server state and are excluded from all three.

mod digest;
mod path;
mod snapshot;
pub mod system;
mod watches;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use crate::acl::{self, Id, NodeAcl};
use crate::jute::perms;
use crate::proto::{
    CreateMode, ErrorCode, EventType, OpResult, ReadOp, Stat, WatchedEvent, WriteOp, MAX_DATA_LEN,
};
use crate::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use watches::{WatchKind, WatchTable};

/// A client connection on this server.
pub type WatcherId = u64;

/// What every replica needs besides the op to apply it identically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    pub session: SessionId,
    pub zxid: Zxid,
    pub time_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    /// `None`: a null buffer (ZooKeeper keeps it apart from an empty one).
    data: Option<Vec<u8>>,
    stat: Stat,
    /// Child names; derivable from the paths but kept for O(log n) listing.
    children: BTreeSet<String>,
    /// Cached so that Stat-only changes don't rehash the data.
    data_hash: u64,
    /// This node's term in the digest sum.
    hash: u64,
    acl: NodeAcl,
}

impl Node {
    fn new(data: Option<Vec<u8>>, stat: Stat, acl: NodeAcl) -> Node {
        Node {
            data_hash: digest::data_hash(data.as_deref()),
            data,
            stat,
            children: BTreeSet::new(),
            hash: 0,
            acl,
        }
    }

    fn digest_term(&self, path: &str) -> u64 {
        digest::node_hash(path, self.data_hash, &self.stat) ^ digest::acl_hash(&self.acl)
    }
}

/// How many children were ever created under a node: its sequential
/// suffix. Stat's cversion counts creates and deletes (ZooKeeper keeps the
/// creates and reports 2 x creates - children), so the creates are
/// (cversion + children) / 2.
fn creates_under(stat: &Stat) -> i32 {
    ((i64::from(stat.cversion) + i64::from(stat.num_children)) / 2) as i32
}

/// A sequential child's suffix: the parent's creates. Injected bug (sim
/// only): its children now, which names a child after one already made
/// once any child is gone.
fn sequential_suffix(stat: &Stat) -> i32 {
    if crate::bugs::on(crate::bugs::Bug::SequentialNameReused) {
        stat.num_children
    } else {
        creates_under(stat)
    }
}

/// What a create makes.
struct NewNode<'a> {
    data: Option<&'a [u8]>,
    mode: CreateMode,
    acl: &'a NodeAcl,
}

/// Refuse unless `acl` grants `perm` to `ids` (ZooKeeper's NoAuth).
fn check_acl(acl: &NodeAcl, perm: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    match acl::node_allows(acl, perm, ids) {
        true => Ok(()),
        false => Err(ErrorCode::NoAuth),
    }
}

/// Reverses one mutation made while applying a write, so a failed multi can
/// be rolled back without cloning the tree.
enum Undo {
    Created(String),
    Deleted(String, Node),
    Stat(String, Stat),
    Data(String, Option<Vec<u8>>, Stat),
    Acl(String, NodeAcl, Stat),
}

/// What applying one write did (see [`DataTree::apply_write_at`]).
#[derive(Debug)]
pub struct WriteApplied {
    pub result: Result<OpResult, ErrorCode>,
    pub events: Vec<(WatcherId, WatchedEvent)>,
    /// The sub-op of a multi that failed.
    pub failed_at: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: BTreeMap<String, Node>,
    /// session -> timeout_ms
    sessions: BTreeMap<SessionId, u64>,
    /// Index of `nodes` by ephemeral owner (owners are never 0).
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    /// Wrapping sums of node / session hashes, maintained incrementally.
    node_sum: u64,
    session_sum: u64,
    watches: WatchTable,
}

impl Default for DataTree {
    /// Same as `new()`: a tree always has its root.
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for DataTree {
    /// Replicated content only; watches are ignored.
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes && self.sessions == other.sessions
    }
}

impl Eq for DataTree {}

/// A buffer's length, null counting as 0 (as dataLength does).
fn data_len(data: Option<&[u8]>) -> usize {
    data.map_or(0, <[u8]>::len)
}

fn check_data(data: &Option<Vec<u8>>) -> Result<(), ErrorCode> {
    if data_len(data.as_deref()) > MAX_DATA_LEN {
        Err(ErrorCode::BadArguments)
    } else {
        Ok(())
    }
}

/// A write's ACL must already be in stored form (`acl::canonical` of what
/// `acl::to_store` made of the request's ACL).
fn check_stored_acl(acl: &NodeAcl) -> Result<(), ErrorCode> {
    match acl {
        None => Ok(()),
        Some(list) => match acl::to_store(list, &[]) {
            Ok(stored) if stored == **list && **list != acl::open() => Ok(()),
            _ => Err(ErrorCode::InvalidAcl),
        },
    }
}

fn check_version(expected: i32, actual: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != actual {
        Err(ErrorCode::BadVersion)
    } else {
        Ok(())
    }
}

impl DataTree {
    /// A fresh tree: the root and ZooKeeper's own subtree (`system`).
    pub fn new() -> Self {
        let mut tree = Self::bare();
        system::add(&mut tree);
        tree
    }

    /// A tree holding only the root "/" (empty data, all-zero Stat).
    fn bare() -> Self {
        let mut tree = DataTree {
            nodes: BTreeMap::new(),
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            node_sum: 0,
            session_sum: 0,
            watches: WatchTable::default(),
        };
        tree.insert_node(
            "/".to_string(),
            Node::new(Some(Vec::new()), Stat::default(), None),
        );
        tree
    }

    /// BadArguments for malformed paths: empty, no leading '/', trailing '/'
    /// (except the root "/"; and allowed when `sequential` since the suffix is
    /// appended), empty component ("//"), "." or ".." components, NUL or other
    /// control chars. With `sequential`, the last component is checked as if
    /// the suffix were already appended (so "/a/." is fine then).
    pub fn validate_path(path: &str, sequential: bool) -> Result<(), ErrorCode> {
        path::validate(path, sequential)
    }

    /// Checks done before a write is proposed: every path valid, data <=
    /// MAX_DATA_LEN (else BadArguments), recursing into Multi (nested Multi is
    /// BadArguments). Deleting "/" is also rejected here.
    pub fn validate_write(op: &WriteOp) -> Result<(), ErrorCode> {
        Self::validate_one(op, false)
    }

    fn validate_one(op: &WriteOp, in_multi: bool) -> Result<(), ErrorCode> {
        match op {
            WriteOp::Create {
                path,
                data,
                mode,
                acl,
            } => {
                path::validate(path, mode.is_sequential())?;
                check_stored_acl(acl)?;
                check_data(data)
            }
            WriteOp::SetAcl { path, acl, .. } => {
                path::validate(path, false)?;
                check_stored_acl(acl)
            }
            WriteOp::Delete { path, .. } => {
                path::validate(path, false)?;
                if system::is_system(path) {
                    return Err(ErrorCode::BadArguments);
                }
                Ok(())
            }
            WriteOp::SetData { path, data, .. } => {
                path::validate(path, false)?;
                check_data(data)
            }
            WriteOp::Check { path, .. } => path::validate(path, false),
            WriteOp::Multi(ops) => {
                if in_multi {
                    return Err(ErrorCode::BadArguments);
                }
                ops.iter().try_for_each(|op| Self::validate_one(op, true))
            }
        }
    }

    /// Apply one replicated write deterministically. Same tree + same inputs
    /// => same result on every server, errors included. Returns the result and
    /// the watch events fired (watcher, event), sorted by (watcher, event) and
    /// deduplicated. A failed write changes nothing and fires nothing.
    pub fn apply_write(
        &mut self,
        hdr: &TxnHeader,
        op: &WriteOp,
    ) -> (Result<OpResult, ErrorCode>, Vec<(WatcherId, WatchedEvent)>) {
        let applied = self.apply_write_at(hdr, op, &[]);
        (applied.result, applied.events)
    }

    /// `apply_write` for a session holding `ids` (its ACL identities),
    /// also telling which sub-op of a failed multi failed (ZooKeeper
    /// answers each sub-op of a failed multi: ok before it, its error at
    /// it, RuntimeInconsistency after).
    pub fn apply_write_at(&mut self, hdr: &TxnHeader, op: &WriteOp, ids: &[Id]) -> WriteApplied {
        let mut undo = Vec::new();
        let mut triggers = Vec::new();
        let mut failed_at = None;
        let result = match op {
            WriteOp::Multi(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                let mut failed = None;
                for sub in ops {
                    match self.apply_one(hdr, sub, ids, &mut undo, &mut triggers) {
                        Ok(r) => results.push(r),
                        Err(e) => {
                            failed = Some(e);
                            failed_at = Some(results.len());
                            break;
                        }
                    }
                }
                match failed {
                    None => Ok(OpResult::Multi(results)),
                    Some(e) => Err(e),
                }
            }
            _ => self.apply_one(hdr, op, ids, &mut undo, &mut triggers),
        };
        if result.is_err() {
            self.rollback(undo);
            let events = Vec::new();
            return WriteApplied {
                result,
                events,
                failed_at,
            };
        }
        let events = self.fire(hdr.zxid, triggers);
        WriteApplied {
            result,
            events,
            failed_at: None,
        }
    }

    /// Applies one non-multi op. Every check happens before any mutation, so
    /// an Err leaves the tree as it was (earlier sub-ops of a multi are
    /// reverted by the caller through `undo`).
    fn apply_one(
        &mut self,
        hdr: &TxnHeader,
        op: &WriteOp,
        ids: &[Id],
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<(EventType, String)>,
    ) -> Result<OpResult, ErrorCode> {
        match op {
            WriteOp::Create {
                path,
                data,
                mode,
                acl,
            } => {
                let new = NewNode {
                    data: data.as_deref(),
                    mode: *mode,
                    acl,
                };
                self.create(hdr, path, new, ids, undo, triggers)
            }
            WriteOp::Delete { path, version } => {
                path::validate(path, false)?;
                if system::is_system(path) {
                    return Err(ErrorCode::BadArguments);
                }
                let (parent, _) = path::split(path);
                let parent = self.nodes.get(parent).ok_or(ErrorCode::NoNode)?;
                check_acl(&parent.acl, perms::DELETE, ids)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_version(*version, node.stat.version)?;
                if !node.children.is_empty() {
                    return Err(ErrorCode::NotEmpty);
                }
                let (parent, _) = path::split(path);
                let node = self.remove_node(path);
                undo.push(Undo::Deleted(path.clone(), node));
                self.bump_parent(parent, hdr.zxid, undo);
                triggers.push((EventType::NodeDeleted, path.clone()));
                triggers.push((EventType::NodeChildrenChanged, parent.to_string()));
                Ok(OpResult::Deleted)
            }
            WriteOp::SetData {
                path,
                data,
                version,
            } => {
                path::validate(path, false)?;
                check_data(data)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&node.acl, perms::WRITE, ids)?;
                check_version(*version, node.stat.version)?;
                let mut stat = node.stat;
                stat.version = stat.version.wrapping_add(1);
                stat.mzxid = hdr.zxid;
                stat.mtime = hdr.time_ms;
                stat.data_length = data_len(data.as_deref()) as i32;
                let (old_data, old_stat) = self.set_data(path, data.clone(), stat);
                undo.push(Undo::Data(path.clone(), old_data, old_stat));
                triggers.push((EventType::NodeDataChanged, path.clone()));
                Ok(OpResult::SetData { stat })
            }
            WriteOp::Check { path, version } => {
                path::validate(path, false)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&node.acl, perms::READ, ids)?;
                check_version(*version, node.stat.version)?;
                Ok(OpResult::Checked)
            }
            WriteOp::SetAcl { path, acl, version } => {
                path::validate(path, false)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&node.acl, perms::ADMIN, ids)?;
                check_version(*version, node.stat.aversion)?;
                let mut stat = node.stat;
                stat.aversion = stat.aversion.wrapping_add(1);
                let (old_acl, old_stat) = self.set_node_acl(path, acl.clone(), stat);
                undo.push(Undo::Acl(path.clone(), old_acl, old_stat));
                Ok(OpResult::AclSet { stat })
            }
            WriteOp::Multi(_) => Err(ErrorCode::BadArguments),
        }
    }

    fn create(
        &mut self,
        hdr: &TxnHeader,
        path: &str,
        new: NewNode,
        ids: &[Id],
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<(EventType, String)>,
    ) -> Result<OpResult, ErrorCode> {
        let NewNode { data, mode, acl } = new;
        path::validate(path, mode.is_sequential())?;
        if data_len(data) > MAX_DATA_LEN {
            return Err(ErrorCode::BadArguments);
        }
        // Owner 0 means "not ephemeral" in Stat, so session 0 can't own one.
        if mode.is_ephemeral() && (hdr.session == 0 || !self.sessions.contains_key(&hdr.session)) {
            return Err(ErrorCode::SessionExpired);
        }
        // The suffix has no '/', so the given path already names the parent.
        let (parent, _) = path::split(path);
        let parent_node = self.nodes.get(parent).ok_or(ErrorCode::NoNode)?;
        check_acl(&parent_node.acl, perms::CREATE, ids)?;
        let parent_stat = parent_node.stat;
        if parent_stat.ephemeral_owner != 0 {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let path = if mode.is_sequential() {
            format!("{path}{:010}", sequential_suffix(&parent_stat))
        } else {
            path.to_string()
        };
        // Also covers creating "/" (its "parent" is itself).
        if self.nodes.contains_key(&path) {
            return Err(ErrorCode::NodeExists);
        }
        let stat = Stat {
            czxid: hdr.zxid,
            mzxid: hdr.zxid,
            pzxid: hdr.zxid,
            ctime: hdr.time_ms,
            mtime: hdr.time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: if mode.is_ephemeral() { hdr.session } else { 0 },
            data_length: data_len(data) as i32,
            num_children: 0,
        };
        let data = data.map(<[u8]>::to_vec);
        self.insert_node(path.clone(), Node::new(data, stat, acl.clone()));
        undo.push(Undo::Created(path.clone()));
        self.bump_parent(parent, hdr.zxid, undo);
        triggers.push((EventType::NodeCreated, path.clone()));
        triggers.push((EventType::NodeChildrenChanged, parent.to_string()));
        Ok(OpResult::Created { path, stat })
    }

    /// After a child was added or removed: cversion+1, pzxid, num_children.
    fn bump_parent(&mut self, parent: &str, zxid: Zxid, undo: &mut Vec<Undo>) {
        let Some(node) = self.nodes.get(parent) else {
            return;
        };
        let old = node.stat;
        let mut stat = old;
        stat.cversion = stat.cversion.wrapping_add(1);
        stat.pzxid = zxid;
        stat.num_children = node.children.len() as i32;
        self.set_stat(parent, stat);
        undo.push(Undo::Stat(parent.to_string(), old));
    }

    fn rollback(&mut self, undo: Vec<Undo>) {
        for entry in undo.into_iter().rev() {
            match entry {
                Undo::Created(path) => {
                    self.remove_node(&path);
                }
                Undo::Deleted(path, node) => self.insert_node(path, node),
                Undo::Stat(path, stat) => {
                    self.set_stat(&path, stat);
                }
                Undo::Data(path, data, stat) => {
                    self.set_data(&path, data, stat);
                }
                Undo::Acl(path, acl, stat) => {
                    self.set_node_acl(&path, acl, stat);
                }
            }
        }
    }

    // The three primitives below are the only code that changes `nodes`; they
    // keep the children sets, the ephemeral index and the digest in step.

    fn insert_node(&mut self, path: String, mut node: Node) {
        node.hash = node.digest_term(&path);
        self.node_sum = self.node_sum.wrapping_add(node.hash);
        if node.stat.ephemeral_owner != 0 {
            self.ephemerals
                .entry(node.stat.ephemeral_owner)
                .or_default()
                .insert(path.clone());
        }
        if path != "/" {
            let (parent, name) = path::split(&path);
            if let Some(p) = self.nodes.get_mut(parent) {
                p.children.insert(name.to_string());
            }
        }
        self.nodes.insert(path, node);
    }

    /// The caller has checked that `path` exists.
    fn remove_node(&mut self, path: &str) -> Node {
        let Some(node) = self.nodes.remove(path) else {
            debug_assert!(false, "remove_node of missing {path}");
            return Node::new(Some(Vec::new()), Stat::default(), None);
        };
        self.node_sum = self.node_sum.wrapping_sub(node.hash);
        let owner = node.stat.ephemeral_owner;
        if let Some(set) = self.ephemerals.get_mut(&owner) {
            set.remove(path);
            if set.is_empty() {
                self.ephemerals.remove(&owner);
            }
        }
        let (parent, name) = path::split(path);
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.remove(name);
        }
        node
    }

    /// Changes a node, keeping the digest sum in step.
    fn update_node<T>(&mut self, path: &str, change: impl FnOnce(&mut Node) -> T) -> Option<T> {
        let node = self.nodes.get_mut(path)?;
        self.node_sum = self.node_sum.wrapping_sub(node.hash);
        let out = change(node);
        node.hash = node.digest_term(path);
        self.node_sum = self.node_sum.wrapping_add(node.hash);
        Some(out)
    }

    /// Replaces the Stat; returns the old one.
    fn set_stat(&mut self, path: &str, stat: Stat) -> Stat {
        self.update_node(path, |n| std::mem::replace(&mut n.stat, stat))
            .unwrap_or_default()
    }

    /// Replaces the data and the Stat; returns the old ones.
    fn set_data(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        stat: Stat,
    ) -> (Option<Vec<u8>>, Stat) {
        let change = |n: &mut Node| {
            n.data_hash = digest::data_hash(data.as_deref());
            let old_data = std::mem::replace(&mut n.data, data);
            (old_data, std::mem::replace(&mut n.stat, stat))
        };
        self.update_node(path, change).unwrap_or_default()
    }

    /// Replaces the ACL and the Stat; returns the old ones.
    fn set_node_acl(&mut self, path: &str, acl: NodeAcl, stat: Stat) -> (NodeAcl, Stat) {
        let change = |n: &mut Node| {
            let old_acl = std::mem::replace(&mut n.acl, acl);
            (old_acl, std::mem::replace(&mut n.stat, stat))
        };
        self.update_node(path, change).unwrap_or_default()
    }

    /// Turns the changes of a successful write into one-shot watch firings.
    fn fire(
        &mut self,
        zxid: Zxid,
        triggers: Vec<(EventType, String)>,
    ) -> Vec<(WatcherId, WatchedEvent)> {
        let mut out = Vec::new();
        if self.watches.is_empty() {
            return out;
        }
        for (event, path) in triggers {
            let watchers = match event {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    self.watches.take(WatchKind::Data, &path)
                }
                EventType::NodeChildrenChanged => self.watches.take(WatchKind::Child, &path),
                // Both kinds fire, but a watcher holding both hears it once.
                EventType::NodeDeleted => {
                    let mut w = self.watches.take(WatchKind::Data, &path);
                    w.extend(self.watches.take(WatchKind::Child, &path));
                    w
                }
            };
            for w in watchers {
                out.push((
                    w,
                    WatchedEvent {
                        event,
                        path: path.clone(),
                        zxid,
                    },
                ));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Registers (or refreshes) a session. No txn header: the session table
    /// is replicated content but not part of any node's Stat.
    pub fn create_session(&mut self, session: SessionId, timeout_ms: u64) {
        if let Some(old) = self.sessions.insert(session, timeout_ms) {
            self.session_sum = self
                .session_sum
                .wrapping_sub(digest::session_hash(session, old));
        }
        self.session_sum = self
            .session_sum
            .wrapping_add(digest::session_hash(session, timeout_ms));
    }

    /// Removes the session and deletes all its ephemeral nodes (in sorted path
    /// order) as one step; returns fired watches. Unknown session: no-op.
    pub fn close_session(
        &mut self,
        hdr: &TxnHeader,
        session: SessionId,
    ) -> Vec<(WatcherId, WatchedEvent)> {
        let Some(timeout) = self.sessions.remove(&session) else {
            return Vec::new();
        };
        self.session_sum = self
            .session_sum
            .wrapping_sub(digest::session_hash(session, timeout));
        let mut undo = Vec::new();
        let mut triggers = Vec::new();
        // Injected bug (sim only): the session's ephemerals stay.
        let ephemerals = if crate::bugs::on(crate::bugs::Bug::EphemeralOutlivesSession) {
            Vec::new()
        } else {
            self.ephemerals(session)
        };
        for path in ephemerals {
            // Ephemerals have no children, so each delete succeeds.
            let op = WriteOp::Delete { path, version: -1 };
            let _ = self.apply_one(hdr, &op, &[], &mut undo, &mut triggers);
        }
        self.fire(hdr.zxid, triggers)
    }

    /// session -> timeout_ms
    pub fn sessions(&self) -> &BTreeMap<SessionId, u64> {
        &self.sessions
    }

    /// The ephemeral nodes owned by `session`, sorted.
    pub fn ephemerals(&self, session: SessionId) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Local read; registers a one-shot watch for `watcher` when the op asks
    /// for it. Malformed paths are BadArguments and set no watch.
    pub fn read(&mut self, op: &ReadOp, watcher: WatcherId) -> Result<OpResult, ErrorCode> {
        self.read_as(op, watcher, &[])
    }

    /// A read by a connection holding `ids` (its ACL identities).
    pub fn read_as(
        &mut self,
        op: &ReadOp,
        watcher: WatcherId,
        ids: &[Id],
    ) -> Result<OpResult, ErrorCode> {
        match op {
            ReadOp::GetData { path, watch } => {
                path::validate(path, false)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&node.acl, perms::READ, ids)?;
                let result = OpResult::Data {
                    data: node.data.clone(),
                    stat: node.stat,
                };
                if *watch {
                    self.watches.add(WatchKind::Data, path, watcher);
                }
                Ok(result)
            }
            ReadOp::Exists { path, watch } => {
                path::validate(path, false)?;
                let stat = self.nodes.get(path).map(|n| n.stat);
                // Set even when missing, so a later create is seen.
                if *watch {
                    self.watches.add(WatchKind::Data, path, watcher);
                }
                Ok(OpResult::Exists(stat))
            }
            ReadOp::GetChildren { path, watch } => {
                path::validate(path, false)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&node.acl, perms::READ, ids)?;
                let result = OpResult::Children {
                    children: node.children.iter().cloned().collect(),
                    stat: node.stat,
                };
                if *watch {
                    self.watches.add(WatchKind::Child, path, watcher);
                }
                Ok(result)
            }
            ReadOp::GetAcl { path } => {
                path::validate(path, false)?;
                let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&node.acl, perms::READ | perms::ADMIN, ids)?;
                let mut acl = acl::expand(&node.acl);
                // Without ADMIN, digest ids show their user, not their hash.
                if !acl::node_allows(&node.acl, perms::ADMIN, ids) {
                    for a in acl.iter_mut().filter(|a| a.id.scheme == "digest") {
                        let user = a.id.id.split(':').next().unwrap_or_default();
                        a.id.id = format!("{user}:x");
                    }
                }
                let stat = node.stat;
                Ok(OpResult::Acl { acl, stat })
            }
        }
    }

    /// Drop all watches of a connection that went away.
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.watches.remove_watcher(watcher);
    }

    /// Number of registered watches, counting each (watcher, kind, path) once.
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// Each connection's data watches (getData and exists) by path: what
    /// ZooKeeper's `wchs`, `wchc` and `wchp` report (child watches are not).
    pub fn data_watches(&self) -> BTreeMap<WatcherId, BTreeSet<String>> {
        self.watches.data_paths_by_watcher()
    }

    /// Every session owning ephemerals, with their paths.
    pub fn ephemeral_owners(&self) -> Vec<(SessionId, Vec<String>)> {
        let own = |(s, p): (&SessionId, &BTreeSet<String>)| (*s, p.iter().cloned().collect());
        self.ephemerals.iter().map(own).collect()
    }

    /// Paths and data in bytes: ZooKeeper's approximate data size.
    pub fn approximate_data_size(&self) -> u64 {
        let size = |(p, n): (&String, &Node)| (p.len() + data_len(n.data.as_deref())) as u64;
        self.nodes.iter().map(size).sum()
    }

    /// Number of znodes, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// A deterministic 64-bit digest of the replicated content (nodes with
    /// data and Stat, sessions), not watches. O(1): maintained incrementally.
    pub fn digest(&self) -> u64 {
        let mut h = digest::Fnv::new();
        h.u64(self.node_sum);
        h.u64(self.nodes.len() as u64);
        h.u64(self.session_sum);
        h.u64(self.sessions.len() as u64);
        h.finish()
    }

    /// Serializes the replicated content (not watches).
    pub fn snapshot(&self) -> Vec<u8> {
        snapshot::encode(self)
    }

    /// Rebuilds a tree from `snapshot()` output. Bad, truncated or
    /// inconsistent bytes give MarshallingError, never a panic.
    pub fn restore(bytes: &[u8]) -> Result<DataTree, ErrorCode> {
        snapshot::decode(bytes)
    }
}
