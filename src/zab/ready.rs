//! What the core asks its driver to do after each step. The driver must, in
//! order: send `send`, perform `persist` (all of it durable), then send
//! `send_after_persist` and act on `applied` — acknowledgements and client
//! answers never leave before the state they vouch for is on disk.

use super::msg::PeerMsg;
use super::txn::Txn;
use crate::proto::ErrorCode;
use crate::proto::{OpResult, WatchedEvent};
use crate::tree::WatcherId;
use crate::types::{Sid, Zxid};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum PersistOp {
    /// Persist both epochs atomically — after any txns appended before it are synced.
    Epochs {
        accepted: u32,
        current: u32,
    },
    Append(Arc<Txn>),
    /// Drop logged txns above this zxid.
    Truncate(Zxid),
    /// Replace state and log by a snapshot (SNAP sync).
    InstallSnapshot {
        zxid: Zxid,
        state: Arc<Vec<u8>>,
    },
    /// Write a snapshot of applied state; log records up to `zxid` may go.
    Snapshot {
        zxid: Zxid,
        state: Arc<Vec<u8>>,
    },
}

/// A committed txn applied to this server's tree.
#[derive(Clone, Debug)]
pub struct Applied {
    pub txn: Arc<Txn>,
    pub result: Result<OpResult, ErrorCode>,
    pub watches: Vec<(WatcherId, WatchedEvent)>,
    /// Which sub-op of a failed multi failed.
    pub failed_at: Option<usize>,
}

impl Applied {
    /// Applying it refused it for its session (moved or gone), so it
    /// changed nothing: a refused close does not end its session.
    pub fn refused(&self) -> bool {
        matches!(
            self.result,
            Err(ErrorCode::SessionMoved | ErrorCode::SessionExpired)
        )
    }
}

/// Observable protocol events, for the history and the logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZabEvent {
    Looking {
        round: u64,
    },
    Following {
        leader: Sid,
        round: u64,
    },
    Leading {
        round: u64,
    },
    /// NEWLEADER acknowledged by a quorum: this leader's epoch is established.
    Established {
        epoch: u32,
        zxid: Zxid,
    },
    /// A follower finished sync (UPTODATE) and may serve clients.
    Serving {
        epoch: u32,
        zxid: Zxid,
    },
    /// Leader sent a follower its sync (mode DIFF/TRUNC/SNAP).
    SyncSent {
        follower: Sid,
        mode: &'static str,
        from: Zxid,
        to: Zxid,
    },
    Proposed {
        zxid: Zxid,
        epoch: u32,
    },
    /// TRUNC: the log ended at `from`; everything above `to` is dropped.
    Truncated {
        from: Zxid,
        to: Zxid,
    },
    SnapshotInstalled {
        zxid: Zxid,
    },
    /// Why this server gave up its role.
    SteppedDown {
        reason: &'static str,
    },
    /// This server made `epoch` its currentEpoch with its log ending at
    /// `zxid` (a follower at NEWLEADER, a leader entering sync): that log
    /// must be durable first (ZOOKEEPER-4643). Last, so older variants keep
    /// their hash.
    EpochAdopted {
        epoch: u32,
        zxid: Zxid,
    },
    /// A would-be leader chose `epoch`: one above every acceptedEpoch of
    /// the quorum that sent FOLLOWERINFO (`accepted`, its own included).
    EpochChosen {
        epoch: u32,
        accepted: Vec<u32>,
    },
    /// A leader heard ACKEPOCH from `from`: the follower's currentEpoch
    /// and log tip, beside the leader's own epoch and tip.
    EpochAcked {
        from: Sid,
        current_epoch: u32,
        last_zxid: Zxid,
        epoch: u32,
        ours: Zxid,
    },
    /// This server took back its promise of `epoch` to the would-be
    /// leader `to`, which gave that leadership up in discovery (see
    /// `Peer::release_promise`): it may vouch for that epoch again.
    PromiseReleased {
        to: Sid,
        epoch: u32,
    },
}

/// Where the log stood when a `Ready` was taken. Once that batch (and so every
/// earlier one) is durable, every txn of that log up to `zxid` is: the driver
/// hands the mark back through `Peer::persisted`. `gen` counts truncations and
/// snapshot installs, after which an older mark says nothing about the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogMark {
    pub gen: u64,
    pub zxid: Zxid,
}

#[derive(Debug, Default)]
pub struct Ready {
    pub send: Vec<(Sid, PeerMsg)>,
    pub persist: Vec<PersistOp>,
    pub send_after_persist: Vec<(Sid, PeerMsg)>,
    pub applied: Vec<Applied>,
    pub events: Vec<ZabEvent>,
    /// Report this to `Peer::persisted` once `persist` is durable.
    pub log_mark: LogMark,
    /// `snap_count` txns were applied since the last snapshot: take one
    /// (`Peer::take_snapshot`) and persist it after `persist`.
    pub snapshot_due: bool,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.send.is_empty()
            && self.persist.is_empty()
            && self.send_after_persist.is_empty()
            && self.applied.is_empty()
            && self.events.is_empty()
            && !self.snapshot_due
    }
}
