//! Transactions: what ZAB replicates. A txn is a client request stamped by the
//! leader with a zxid and a time; applying it is deterministic, so every
//! server computes the same result (errors included) from the same log.

use crate::proto::WriteOp;
use crate::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnBody {
    CreateSession {
        timeout_ms: u64,
    },
    CloseSession,
    Write(WriteOp),
    /// A no-op that orders a client's `sync`: once applied on a server, that
    /// server has seen every txn committed before the sync was issued.
    Sync,
}

/// A request on its way to the leader (from a local client or forwarded by a follower).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub session: SessionId,
    /// Client's request id, echoed so the originating server can answer.
    pub cxid: u64,
    pub body: TxnBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub zxid: Zxid,
    pub session: SessionId,
    pub cxid: u64,
    /// Leader's clock when proposed; becomes ctime/mtime.
    pub time_ms: u64,
    pub body: TxnBody,
}

impl Txn {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("txn encodes")
    }
    pub fn decode(bytes: &[u8]) -> Option<Txn> {
        bincode::deserialize(bytes).ok()
    }
}
