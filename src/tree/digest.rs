//! Fixed-key hashing for the tree digest. The digest is a wrapping sum of
//! per-node and per-session hashes, so it can be maintained incrementally
//! (subtract the old hash, add the new) instead of rehashing the whole tree.

use crate::proto::Stat;
use crate::types::SessionId;

/// FNV-1a 64, written out so the digest never depends on a seeded hasher.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// FNV's low bits mix poorly, and the digest sums hashes, so finish with
    /// the splitmix64 finalizer.
    pub(crate) fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A null buffer hashes apart from an empty one.
pub(crate) fn data_hash(data: Option<&[u8]>) -> u64 {
    let mut h = Fnv::new();
    h.u64(data.map_or(u64::MAX, |d| d.len() as u64));
    h.bytes(data.unwrap_or_default());
    h.finish()
}

/// Takes the data's hash rather than the data so that bumping a parent's
/// Stat costs O(path), not O(data).
pub(crate) fn node_hash(path: &str, data_hash: u64, stat: &Stat) -> u64 {
    let mut h = Fnv::new();
    h.u64(path.len() as u64);
    h.bytes(path.as_bytes());
    h.u64(data_hash);
    h.u64(stat.czxid.0);
    h.u64(stat.mzxid.0);
    h.u64(stat.pzxid.0);
    h.u64(stat.ctime);
    h.u64(stat.mtime);
    h.u64(stat.version as u32 as u64);
    h.u64(stat.cversion as u32 as u64);
    h.u64(stat.aversion as u32 as u64);
    h.u64(stat.ephemeral_owner);
    h.u64(stat.data_length as u32 as u64);
    h.u64(stat.num_children as u32 as u64);
    h.finish()
}

/// The open ACL (`None`) adds nothing, so trees without ACLs keep their
/// digests.
pub(crate) fn acl_hash(acl: &crate::acl::NodeAcl) -> u64 {
    let Some(list) = acl else { return 0 };
    let mut h = Fnv::new();
    h.u64(list.len() as u64);
    for a in list.iter() {
        h.u64(a.perms as u32 as u64);
        for s in [&a.id.scheme, &a.id.id] {
            h.u64(s.len() as u64);
            h.bytes(s.as_bytes());
        }
    }
    h.finish()
}

pub(crate) fn session_hash(session: SessionId, timeout_ms: u64) -> u64 {
    let mut h = Fnv::new();
    h.u64(session);
    h.u64(timeout_ms);
    h.finish()
}
