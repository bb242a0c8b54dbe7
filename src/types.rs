//! Identifiers shared by every layer.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server id in the ensemble (ZooKeeper's `myid`).
pub type Sid = u64;
/// A client session id, unique across the ensemble's life.
pub type SessionId = u64;

/// A ZooKeeper transaction id: epoch in the high 32 bits, counter in the low 32.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Zxid(pub u64);

impl Zxid {
    pub const ZERO: Zxid = Zxid(0);

    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as u64) << 32) | counter as u64)
    }
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn counter(self) -> u32 {
        self.0 as u32
    }
    /// The next zxid in the same epoch, or `None` when the counter would overflow
    /// (ZooKeeper then forces a new election, so a new epoch).
    pub fn next(self) -> Option<Zxid> {
        self.counter()
            .checked_add(1)
            .map(|c| Zxid::new(self.epoch(), c))
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_parts() {
        let z = Zxid::new(3, 7);
        assert_eq!(z.epoch(), 3);
        assert_eq!(z.counter(), 7);
        assert_eq!(z.next(), Some(Zxid::new(3, 8)));
        assert_eq!(Zxid::new(3, u32::MAX).next(), None);
        assert!(Zxid::new(2, u32::MAX) < Zxid::new(3, 0));
    }
}
