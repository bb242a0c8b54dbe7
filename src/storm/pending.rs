//! A spout task's messages in flight, by root id, in two rotating buckets:
//! rotating once per message timeout fails a message between one and two
//! timeouts after it was emitted, as Storm's spout executor does.

use super::tuple::MsgId;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug)]
pub struct Pending {
    buckets: VecDeque<BTreeMap<u64, MsgId>>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            buckets: (0..2).map(|_| BTreeMap::new()).collect(),
        }
    }
}

impl Pending {
    pub fn insert(&mut self, root: u64, msg: MsgId) {
        self.buckets[0].insert(root, msg);
    }

    /// The message of `root`, if it is still in flight.
    pub fn remove(&mut self, root: u64) -> Option<MsgId> {
        self.buckets.iter_mut().find_map(|b| b.remove(&root))
    }

    /// Turn the buckets: what falls out has timed out (by root order).
    pub fn rotate(&mut self) -> Vec<(u64, MsgId)> {
        let expired = self.buckets.pop_back().unwrap_or_default();
        self.buckets.push_front(BTreeMap::new());
        expired.into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_times_out_on_the_second_rotation() {
        let mut p = Pending::default();
        p.insert(1, 100);
        assert!(p.rotate().is_empty());
        p.insert(2, 200);
        assert_eq!(p.rotate(), vec![(1, 100)]);
        assert_eq!(p.remove(2), Some(200));
        assert_eq!(p.remove(2), None);
        assert!(p.is_empty());
    }
}
