//! The replica's database: the last snapshot (base), the txn log after it, and
//! the data tree with everything up to `applied` applied. Logged txns above
//! `applied` are not known to be committed yet.

use super::ready::Applied;
use super::txn::{Txn, TxnBody};
use crate::proto::{ErrorCode, OpResult};
use crate::tree::{DataTree, TxnHeader};
use crate::types::SessionId;
use crate::types::Zxid;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub struct Db {
    pub tree: DataTree,
    /// Per session, the highest client request id applied. A request that
    /// arrives after a later one of its session (delayed on a link the client
    /// has since left) is refused: FIFO client order holds across failover.
    last_cxid: BTreeMap<SessionId, u64>,
    /// Zxid and bytes of the snapshot the log starts after.
    pub base_zxid: Zxid,
    pub base_state: Arc<Vec<u8>>,
    pub log: VecDeque<Txn>,
    pub applied: Zxid,
}

impl Db {
    pub fn empty() -> Db {
        let tree = DataTree::new();
        let last_cxid = BTreeMap::new();
        let state = Arc::new(encode_state(&tree, &last_cxid));
        Db {
            tree,
            last_cxid,
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
            (db.tree, db.last_cxid) = decode_state(&bytes)?;
            db.base_zxid = zxid;
            db.base_state = Arc::new(bytes);
            db.applied = zxid;
        }
        db.log = log.into_iter().filter(|t| t.zxid > db.base_zxid).collect();
        Ok(db)
    }

    pub fn last_logged(&self) -> Zxid {
        self.log.back().map_or(self.base_zxid, |t| t.zxid)
    }

    /// Is `zxid` a point of this replica's history (the base or a logged txn)?
    pub fn has(&self, zxid: Zxid) -> bool {
        zxid == self.base_zxid || self.position(zxid).is_ok()
    }

    fn position(&self, zxid: Zxid) -> Result<usize, usize> {
        self.log.binary_search_by(|t| t.zxid.cmp(&zxid))
    }

    /// Logged txns strictly above `zxid`.
    pub fn txns_after(&self, zxid: Zxid) -> Vec<Txn> {
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

    pub fn append(&mut self, txn: Txn) {
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
        (self.tree, self.last_cxid) = decode_state(&state)?;
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

    fn apply(&mut self, txn: Txn) -> Applied {
        let hdr = TxnHeader {
            session: txn.session,
            zxid: txn.zxid,
            time_ms: txn.time_ms,
        };
        let (result, watches) = match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                self.tree.create_session(txn.session, *timeout_ms);
                (
                    Ok(OpResult::SessionCreated {
                        timeout_ms: *timeout_ms,
                    }),
                    vec![],
                )
            }
            TxnBody::CloseSession => {
                self.last_cxid.remove(&txn.session);
                let w = self.tree.close_session(&hdr, txn.session);
                (Ok(OpResult::SessionClosed), w)
            }
            // Nothing of a session may land after its close or expiry (what
            // makes expiry safe for locks); deciding it here, at apply time,
            // gives every replica the same answer.
            TxnBody::Write(_) | TxnBody::Sync if !self.session_live(txn.session) => {
                (Err(ErrorCode::SessionExpired), vec![])
            }
            _ if !self.in_client_order(txn.session, txn.cxid) => {
                (Err(ErrorCode::SessionMoved), vec![])
            }
            TxnBody::Write(op) => self.tree.apply_write(&hdr, op),
            TxnBody::Sync => (Ok(OpResult::Synced), vec![]),
        };
        self.applied = txn.zxid;
        Applied {
            txn,
            result,
            watches,
        }
    }

    /// Requests of the server itself (cxid 0: session create, expiry) are
    /// outside client order; a client's must come in increasing cxid.
    fn in_client_order(&mut self, session: SessionId, cxid: u64) -> bool {
        if cxid == 0 || session == 0 {
            return true;
        }
        let last = self.last_cxid.entry(session).or_insert(0);
        if cxid <= *last {
            return false;
        }
        *last = cxid;
        true
    }

    /// The replicated state as snapshot bytes: the tree and the client order.
    pub fn state(&self) -> Vec<u8> {
        encode_state(&self.tree, &self.last_cxid)
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

fn encode_state(tree: &DataTree, last_cxid: &BTreeMap<SessionId, u64>) -> Vec<u8> {
    bincode::serialize(&(tree.snapshot(), last_cxid)).expect("state encodes")
}

fn decode_state(bytes: &[u8]) -> Result<(DataTree, BTreeMap<SessionId, u64>), String> {
    let (tree, last_cxid): (Vec<u8>, BTreeMap<SessionId, u64>) =
        bincode::deserialize(bytes).map_err(|e| format!("snapshot: {e}"))?;
    let tree = DataTree::restore(&tree).map_err(|e| format!("snapshot: {e}"))?;
    Ok((tree, last_cxid))
}
