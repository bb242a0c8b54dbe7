//! The replica's database: the last snapshot (base), the txn log after it, and
//! the data tree with everything up to `applied` applied. Logged txns above
//! `applied` are not known to be committed yet.

use super::ready::Applied;
use super::txn::{generation_of, is_server_cxid, Txn, TxnBody};
use crate::proto::{ErrorCode, OpResult};
use crate::tree::{DataTree, TxnHeader};
use crate::types::SessionId;
use crate::types::Zxid;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub struct Db {
    pub tree: DataTree,
    /// Per session, the generation of the connection that owns it: 1 at
    /// creation, one more each time a reconnect is confirmed (the server's
    /// fence, a `Sync` with cxid 0). A request of an older generation —
    /// delayed on a link the client has since left — is refused
    /// (SessionMoved): FIFO client order holds across failover without
    /// relying on the client's xids, which ZooKeeper clients restart at 1
    /// on every connection.
    owners: BTreeMap<SessionId, u32>,
    /// Zxid and bytes of the snapshot the log starts after.
    pub base_zxid: Zxid,
    pub base_state: Arc<Vec<u8>>,
    pub log: VecDeque<Arc<Txn>>,
    pub applied: Zxid,
}

impl Db {
    pub fn empty() -> Db {
        let tree = DataTree::new();
        let owners = BTreeMap::new();
        let state = Arc::new(encode_state(&tree, &owners));
        Db {
            tree,
            owners,
            base_zxid: Zxid::ZERO,
            base_state: state,
            log: VecDeque::new(),
            applied: Zxid::ZERO,
        }
    }

    /// Rebuild from what the store recovered: snapshot, then the log (not applied).
    pub fn recover(snapshot: Option<(Zxid, Vec<u8>)>, log: Vec<Txn>) -> Result<Db, String> {
        let mut db = Db::empty();
        if let Some((zxid, bytes)) = snapshot {
            (db.tree, db.owners) = decode_state(&bytes)?;
            db.base_zxid = zxid;
            db.base_state = Arc::new(bytes);
            db.applied = zxid;
        }
        db.log = log
            .into_iter()
            .filter(|t| t.zxid > db.base_zxid)
            .map(Arc::new)
            .collect();
        Ok(db)
    }

    pub fn last_logged(&self) -> Zxid {
        self.log.back().map_or(self.base_zxid, |t| t.zxid)
    }

    /// Is `zxid` a point of this replica's history (the base or a logged txn)?
    pub fn has(&self, zxid: Zxid) -> bool {
        zxid == self.base_zxid || self.position(zxid).is_ok()
    }

    /// Where `zxid` sits in the log (`Err`: where it would go). Nearly every
    /// lookup is for one of the last few txns (the next one to apply), so
    /// the tail is scanned first: a search of the whole log touches a txn
    /// behind a pointer per step.
    fn position(&self, zxid: Zxid) -> Result<usize, usize> {
        const TAIL: usize = 16;
        let from = self.log.len().saturating_sub(TAIL);
        if self.log.get(from).is_none_or(|t| t.zxid > zxid) {
            return self.log.binary_search_by(|t| t.zxid.cmp(&zxid));
        }
        let at = (from..self.log.len())
            .rev()
            .find(|&i| self.log[i].zxid <= zxid)
            .unwrap_or(from);
        if self.log[at].zxid == zxid {
            Ok(at)
        } else {
            Err(at + 1)
        }
    }

    /// Logged txns strictly above `zxid`.
    pub fn txns_after(&self, zxid: Zxid) -> Vec<Arc<Txn>> {
        let start = match self.position(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.log.range(start..).cloned().collect()
    }

    /// The highest point of the history strictly below `zxid`.
    pub fn point_below(&self, zxid: Zxid) -> Zxid {
        let i = match self.position(zxid) {
            Ok(i) | Err(i) => i,
        };
        if i == 0 {
            self.base_zxid
        } else {
            self.log[i - 1].zxid
        }
    }

    pub fn append(&mut self, txn: Arc<Txn>) {
        assert!(
            txn.zxid > self.last_logged(),
            "log order: {} after {}",
            txn.zxid,
            self.last_logged()
        );
        self.log.push_back(txn);
    }

    /// Drop logged txns above `zxid`. Returns false when that would undo applied
    /// (committed) state, which ZAB never asks for.
    pub fn truncate(&mut self, zxid: Zxid) -> bool {
        if zxid < self.applied {
            return false;
        }
        while self.log.back().is_some_and(|t| t.zxid > zxid) {
            self.log.pop_back();
        }
        true
    }

    pub fn install_snapshot(&mut self, zxid: Zxid, state: Arc<Vec<u8>>) -> Result<(), String> {
        (self.tree, self.owners) = decode_state(&state)?;
        self.base_zxid = zxid;
        self.base_state = state;
        self.log.clear();
        self.applied = zxid;
        Ok(())
    }

    /// Apply logged txns up to `upto` (inclusive) that are not applied yet.
    pub fn apply_upto(&mut self, upto: Zxid, out: &mut Vec<Applied>) {
        let start = match self.position(self.applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let mut i = start;
        while i < self.log.len() && self.log[i].zxid <= upto {
            let txn = self.log[i].clone();
            out.push(self.apply(txn));
            i += 1;
        }
    }

    fn apply(&mut self, txn: Arc<Txn>) -> Applied {
        let hdr = TxnHeader {
            session: txn.session,
            zxid: txn.zxid,
            time_ms: txn.time_ms,
        };
        let mut failed_at = None;
        let (result, watches) = match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                self.tree.create_session(txn.session, *timeout_ms);
                self.owners.insert(txn.session, 1);
                (
                    Ok(OpResult::SessionCreated {
                        timeout_ms: *timeout_ms,
                    }),
                    vec![],
                )
            }
            // No owner check: ZooKeeper closes a session from whichever
            // connection asks (its PrepRequestProcessor skips the check).
            TxnBody::CloseSession => {
                self.owners.remove(&txn.session);
                let w = self.tree.close_session(&hdr, txn.session);
                (Ok(OpResult::SessionClosed), w)
            }
            // Nothing of a session may land after its close or expiry (what
            // makes expiry safe for locks); deciding it here, at apply time,
            // gives every replica the same answer.
            TxnBody::Write { .. } | TxnBody::Sync if !self.session_live(txn.session) => {
                (Err(ErrorCode::SessionExpired), vec![])
            }
            _ if !self.owns(txn.session, txn.cxid) => (Err(ErrorCode::SessionMoved), vec![]),
            TxnBody::Write { op, ids } => {
                let ids = ids.as_deref().map_or(&[][..], Vec::as_slice);
                let w = self.tree.apply_write_at(&hdr, op, ids);
                failed_at = w.failed_at;
                (w.result, w.events)
            }
            TxnBody::Sync if is_server_cxid(txn.cxid) && txn.session != 0 => {
                let generation = self.owners.entry(txn.session).or_insert(1);
                *generation += 1;
                let generation = *generation;
                (Ok(OpResult::Attached { generation }), vec![])
            }
            TxnBody::Sync => (Ok(OpResult::Synced), vec![]),
        };
        self.applied = txn.zxid;
        Applied {
            txn,
            result,
            watches,
            failed_at,
        }
    }

    /// Requests of the server itself (generation 0: session create, expiry,
    /// the reconnect fence) belong to no connection; a client's must come
    /// from the connection that owns its session now.
    fn owns(&self, session: SessionId, cxid: u64) -> bool {
        is_server_cxid(cxid)
            || session == 0
            || self.owners.get(&session).copied().unwrap_or(1) == generation_of(cxid)
    }

    /// The replicated state as snapshot bytes: the tree and the client order.
    pub fn state(&self) -> Vec<u8> {
        encode_state(&self.tree, &self.owners)
    }

    /// Session 0 is the ensemble itself (internal txns, tests); any other
    /// session must have been created and not closed.
    fn session_live(&self, session: SessionId) -> bool {
        session == 0 || self.tree.sessions().contains_key(&session)
    }

    /// Take a snapshot of applied state and forget the log up to it.
    pub fn compact(&mut self) -> (Zxid, Arc<Vec<u8>>) {
        let state = Arc::new(self.state());
        while self.log.front().is_some_and(|t| t.zxid <= self.applied) {
            self.log.pop_front();
        }
        self.base_zxid = self.applied;
        self.base_state = state.clone();
        (self.applied, state)
    }
}

fn encode_state(tree: &DataTree, owners: &BTreeMap<SessionId, u32>) -> Vec<u8> {
    bincode::serialize(&(tree.snapshot(), owners)).expect("state encodes")
}

fn decode_state(bytes: &[u8]) -> Result<(DataTree, BTreeMap<SessionId, u32>), String> {
    let (tree, owners): (Vec<u8>, BTreeMap<SessionId, u32>) =
        bincode::deserialize(bytes).map_err(|e| format!("snapshot: {e}"))?;
    let tree = DataTree::restore(&tree).map_err(|e| format!("snapshot: {e}"))?;
    Ok((tree, owners))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_in_the_log_is_what_a_binary_search_finds() {
        for len in [0u32, 1, 5, 16, 17, 40] {
            let mut db = Db::empty();
            // Zxids 2, 4, 6, ...: every other one is missing.
            for c in 1..=len {
                let txn = Txn {
                    zxid: Zxid::new(1, 2 * c),
                    session: 0,
                    cxid: 0,
                    time_ms: 0,
                    body: TxnBody::Sync,
                };
                db.append(Arc::new(txn));
            }
            for c in 0..=2 * len + 2 {
                let z = Zxid::new(1, c);
                let want = db.log.binary_search_by(|t| t.zxid.cmp(&z));
                assert_eq!(db.position(z), want, "log of {len}, zxid {z}");
            }
        }
    }
}
