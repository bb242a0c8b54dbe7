//! Transactions: what ZAB replicates. A txn is a client request stamped by the
//! leader with a zxid and a time; applying it is deterministic, so every
//! server computes the same result (errors included) from the same log.

use crate::acl::Id;
use crate::proto::WriteOp;
use crate::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnBody {
    CreateSession {
        timeout_ms: u64,
    },
    CloseSession,
    /// A write, with the ACL identities its connection held (the tree
    /// checks permissions as it applies the write, so every replica
    /// decides alike and an ACL change orders against it).
    Write {
        op: WriteOp,
        /// `None`: no identities (boxed, to keep the message small).
        ids: Option<Box<Vec<Id>>>,
    },
    /// A no-op that orders a client's `sync`: once applied on a server, that
    /// server has seen every txn committed before the sync was issued.
    Sync,
}

/// A request on its way to the leader (from a local client or forwarded by a follower).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub session: SessionId,
    /// The client's request id, echoed so the originating server can answer
    /// ([`client_cxid`]: the owning connection's generation and the xid).
    pub cxid: u64,
    pub body: TxnBody,
}

/// A client request's cxid: the generation of the connection it came on
/// (high 32 bits, at least 1, so never the server's own 0) and the client's
/// xid (low 32 bits).
pub fn client_cxid(generation: u32, xid: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(xid)
}

pub fn generation_of(cxid: u64) -> u32 {
    (cxid >> 32) as u32
}

/// The cxid of a reconnect's fence (a `Sync` the server submits under the
/// session): generation 0, the server's own, and a token naming the
/// reconnect, so the server answers the connection that asked for it.
pub fn fence_cxid(token: u32) -> u64 {
    u64::from(token)
}

/// A request of the server itself (a session's creation, its close by
/// expiry, a reconnect's fence), not of a client's connection.
pub fn is_server_cxid(cxid: u64) -> bool {
    generation_of(cxid) == 0
}

/// The client's own xid inside a cxid.
pub fn xid_of(cxid: u64) -> u32 {
    cxid as u32
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
