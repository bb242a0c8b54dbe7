//! The client ↔ server protocol.

use crate::proto::{ErrorCode, OpResult, ReadOp, WatchedEvent, WriteOp};
use crate::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientOp {
    Read(ReadOp),
    Write(WriteOp),
    Sync,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// `session = 0` asks for a new session. `last_zxid_seen` lets the server
    /// refuse a client that has seen a newer state than it has.
    Connect {
        session: SessionId,
        timeout_ms: u64,
        last_zxid_seen: Zxid,
    },
    Request {
        xid: u64,
        op: ClientOp,
    },
    Ping,
    /// Add an identity to this connection (ZooKeeper's addAuth): digest
    /// `user:password` gives `digest:user:hash`. An unknown scheme adds
    /// nothing.
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    Close {
        xid: u64,
    },
    /// After reconnecting with an existing session: the watches the client
    /// still holds, as of the newest zxid it has seen. The server fires those
    /// whose change it has already applied and re-arms the rest (ZooKeeper's
    /// SetWatches), so no change is missed across a failover.
    SetWatches {
        relative_zxid: Zxid,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    Connected {
        session: SessionId,
        timeout_ms: u64,
    },
    /// The session is gone (expired or closed); the client must start anew.
    Expired,
    /// This server is behind the client (or not serving); try another.
    Refused,
    /// `zxid`: the write's txn, or the server's applied zxid for a read.
    Reply {
        xid: u64,
        zxid: Zxid,
        result: Result<OpResult, ErrorCode>,
        /// Which sub-op of a failed multi failed (ZooKeeper's clients get
        /// a result per sub-op).
        failed_at: Option<u32>,
    },
    Watch(WatchedEvent),
    Pong {
        zxid: Zxid,
    },
}
