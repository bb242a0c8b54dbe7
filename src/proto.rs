//! The client-facing data model: operations, results, Stat, error codes and
//! watch events, shaped after ZooKeeper's wire protocol (jute) but serde-encoded.

use crate::acl::{Acl, NodeAcl};
use crate::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};

/// ZooKeeper's error codes (`KeeperException.Code`), with their numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[repr(i32)]
pub enum ErrorCode {
    #[error("system error")]
    SystemError = -1,
    #[error("runtime inconsistency")]
    RuntimeInconsistency = -2,
    #[error("connection loss")]
    ConnectionLoss = -4,
    #[error("marshalling error")]
    MarshallingError = -5,
    #[error("unimplemented")]
    Unimplemented = -6,
    #[error("operation timeout")]
    OperationTimeout = -7,
    #[error("bad arguments")]
    BadArguments = -8,
    #[error("no node")]
    NoNode = -101,
    #[error("not authorized")]
    NoAuth = -102,
    #[error("bad version")]
    BadVersion = -103,
    #[error("no children for ephemerals")]
    NoChildrenForEphemerals = -108,
    #[error("node exists")]
    NodeExists = -110,
    #[error("directory not empty")]
    NotEmpty = -111,
    #[error("session expired")]
    SessionExpired = -112,
    #[error("invalid ACL")]
    InvalidAcl = -114,
    #[error("authentication failed")]
    AuthFailed = -115,
    #[error("session moved")]
    SessionMoved = -118,
}

impl ErrorCode {
    /// The numeric code ZooKeeper uses on the wire.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// ZooKeeper's Stat structure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub pzxid: Zxid,
    pub ctime: u64,
    pub mtime: u64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    /// The owning session for an ephemeral node, 0 otherwise.
    pub ephemeral_owner: SessionId,
    pub data_length: i32,
    pub num_children: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
}

impl CreateMode {
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential
        )
    }
}

/// A state-changing operation. Replicated through ZAB as part of a txn and
/// applied deterministically by every server (errors included).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WriteOp {
    Create {
        path: String,
        /// `None`: a null buffer, which ZooKeeper keeps apart from an empty
        /// one (both have dataLength 0).
        data: Option<Vec<u8>>,
        mode: CreateMode,
        /// `None`: the open ACL (see `acl::NodeAcl`).
        acl: NodeAcl,
    },
    /// `version = -1` matches any version.
    Delete { path: String, version: i32 },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// Passes when the node exists at `version` (-1: any); only meaningful inside multi.
    Check { path: String, version: i32 },
    /// Replace a node's ACL if its aversion is `version` (-1: any).
    SetAcl {
        path: String,
        acl: NodeAcl,
        version: i32,
    },
    /// All or nothing.
    Multi(Vec<WriteOp>),
}

/// A read, served locally by the server the client is connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    GetData { path: String, watch: bool },
    Exists { path: String, watch: bool },
    GetChildren { path: String, watch: bool },
    GetAcl { path: String },
}

/// The result of a successful operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// The created path (with its sequence suffix, if any) and its Stat.
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    SetData {
        stat: Stat,
    },
    Checked,
    /// One result per sub-op; on failure the whole multi fails with the first
    /// error and its index (see `MultiError`).
    Multi(Vec<OpResult>),
    Data {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    /// `None` when the node does not exist (exists is not an error then).
    Exists(Option<Stat>),
    Children {
        children: Vec<String>,
        stat: Stat,
    },
    Synced,
    Acl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    AclSet {
        stat: Stat,
    },
    /// A reconnect was confirmed: the session now belongs to the connection
    /// of this generation (the server's own fence; never sent to a client).
    Attached {
        generation: u32,
    },
    SessionCreated {
        timeout_ms: u64,
    },
    SessionClosed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// A one-shot watch firing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WatchedEvent {
    pub event: EventType,
    pub path: String,
    /// The zxid of the txn that fired the watch.
    pub zxid: Zxid,
}

/// Largest znode payload accepted (ZooKeeper's default jute.maxbuffer).
pub const MAX_DATA_LEN: usize = 1024 * 1024;
