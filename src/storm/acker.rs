//! The acker: tracks each tuple tree by its root id as the XOR of the edge
//! ids sent and acked; the tree is complete when the value is 0 and the
//! spout's init has arrived. Sans-IO: callers pass what arrived and send
//! what comes back.

use super::grouping::TaskId;
use std::collections::{BTreeMap, VecDeque};

/// How a tree ended, for the spout task that rooted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    pub root: u64,
    pub spout_task: TaskId,
    pub acked: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    val: u64,
    /// Set by the init; until then the tree cannot end (acks and fails may
    /// arrive before it, as they travel on other links).
    spout_task: Option<TaskId>,
    failed: bool,
}

/// Entries in rotating buckets: each update moves an entry to the newest
/// bucket; `rotate` drops the oldest, silently (the spout times the
/// message out on its own clock).
#[derive(Debug)]
pub struct Acker {
    buckets: VecDeque<BTreeMap<u64, Entry>>,
}

impl Acker {
    /// Storm's acker rotates 3 buckets, one per message timeout.
    pub fn new(buckets: usize) -> Acker {
        Acker {
            buckets: (0..buckets.max(2)).map(|_| BTreeMap::new()).collect(),
        }
    }

    pub fn init(&mut self, root: u64, val: u64, spout_task: TaskId) -> Option<Done> {
        self.update(root, |e| {
            e.val ^= val;
            e.spout_task = Some(spout_task);
        })
    }

    pub fn ack(&mut self, root: u64, val: u64) -> Option<Done> {
        self.update(root, |e| e.val ^= val)
    }

    pub fn fail(&mut self, root: u64) -> Option<Done> {
        self.update(root, |e| e.failed = true)
    }

    /// Drop the oldest bucket; returns how many trees were forgotten.
    pub fn rotate(&mut self) -> usize {
        let dropped = self.buckets.pop_back().map_or(0, |b| b.len());
        self.buckets.push_front(BTreeMap::new());
        dropped
    }

    /// Trees being tracked.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update(&mut self, root: u64, change: impl FnOnce(&mut Entry)) -> Option<Done> {
        let mut entry = self
            .buckets
            .iter_mut()
            .find_map(|b| b.remove(&root))
            .unwrap_or_default();
        change(&mut entry);
        match entry.spout_task {
            Some(spout_task) if entry.val == 0 || entry.failed => Some(Done {
                root,
                spout_task,
                // A failed tree fails even if its value came to 0.
                acked: !entry.failed,
            }),
            _ => {
                self.buckets[0].insert(root, entry);
                None
            }
        }
    }
}

/// Which acker task tracks `root`.
pub fn acker_for(root: u64, ackers: &[TaskId]) -> Option<TaskId> {
    if ackers.is_empty() {
        return None;
    }
    Some(ackers[(root % ackers.len() as u64) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_completes_when_every_edge_is_acked_after_init() {
        let mut a = Acker::new(3);
        // spout emits edges 5 and 9; a bolt acks 5 and emits child 12.
        assert_eq!(a.init(1, 5 ^ 9, 7), None);
        assert_eq!(a.ack(1, 5 ^ 12), None);
        assert_eq!(a.ack(1, 9), None);
        let done = a.ack(1, 12);
        assert_eq!(
            done,
            Some(Done {
                root: 1,
                spout_task: 7,
                acked: true
            })
        );
        assert!(a.is_empty());
    }

    #[test]
    fn acks_before_init_wait_for_it() {
        let mut a = Acker::new(3);
        // All acks arrive first: value 0 but no init yet.
        assert_eq!(a.ack(1, 5), None);
        assert_eq!(a.ack(1, 9), None);
        assert_eq!(a.len(), 1);
        assert!(a.init(1, 5 ^ 9, 2).unwrap().acked);
    }

    #[test]
    fn a_fail_before_init_is_held_until_init() {
        let mut a = Acker::new(3);
        assert_eq!(a.fail(4), None);
        // Even an init whose value completes the tree reports the fail.
        let done = a.init(4, 0, 3).unwrap();
        assert!(!done.acked);
        assert_eq!(done.spout_task, 3);
    }

    #[test]
    fn an_init_of_zero_acks_at_once() {
        let mut a = Acker::new(3);
        assert!(a.init(8, 0, 1).unwrap().acked);
    }

    #[test]
    fn idle_trees_expire_after_the_buckets_turn_but_updates_keep_them() {
        let mut a = Acker::new(3);
        a.init(1, 5, 1);
        a.init(2, 6, 1);
        assert_eq!(a.rotate(), 0);
        assert_eq!(a.rotate(), 0);
        // Root 2 is touched: it moves to the newest bucket.
        a.ack(2, 3);
        assert_eq!(a.rotate(), 1, "root 1 has been idle for three rotations");
        assert_eq!(a.len(), 1);
        assert_eq!(a.ack(1, 5), None, "a late ack starts a stray entry");
    }

    #[test]
    fn roots_spread_over_the_acker_tasks() {
        assert_eq!(acker_for(7, &[]), None);
        assert_eq!(acker_for(7, &[10, 11, 12]), Some(11));
        assert_eq!(acker_for(9, &[10, 11, 12]), Some(10));
    }
}
