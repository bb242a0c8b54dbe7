//! Messages between peers, as ZooKeeper's quorum packets.

use super::election::Notification;
use super::txn::{Request, Txn};
use crate::types::{SessionId, Zxid};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerMsg {
    /// Fast leader election traffic, with the sender's currentEpoch (which
    /// tells whether a leadership it gave up ever got past discovery).
    Vote {
        n: Notification,
        current_epoch: u32,
    },
    /// Follower → leader: start of discovery.
    FollowerInfo {
        accepted_epoch: u32,
        last_zxid: Zxid,
    },
    /// Leader → follower: the proposed new epoch, and the election round in
    /// which the leader decided (its leadership's name: once the leader's
    /// notifications show a later round, that leadership is over).
    LeaderInfo {
        epoch: u32,
        round: u64,
    },
    /// Follower → leader: epoch accepted (and persisted); my history's tip.
    /// `counts` is false when the epoch equals the one I had already accepted:
    /// I may have vouched for it to another leader, so this reply only asks
    /// for a sync (ZooKeeper sends -1 as the epoch for this).
    /// `epoch`: the LEADERINFO's epoch it answers.
    AckEpoch {
        epoch: u32,
        current_epoch: u32,
        last_zxid: Zxid,
        counts: bool,
    },
    /// Leader → follower: bring the log in line with the leader's history.
    Sync(SyncPlan),
    /// Leader → follower: sync done; ACK once synced txns and the epoch are durable.
    NewLeader {
        epoch: u32,
        zxid: Zxid,
    },
    /// Follower → leader: the synced txns and the epoch are durable;
    /// `zxid` names the NEWLEADER it answers (a resend can cross a
    /// re-sync's newer NEWLEADER, which it does not vouch for).
    AckNewLeader {
        epoch: u32,
        zxid: Zxid,
    },
    /// Leader → follower: serve clients; everything up to `committed` is committed.
    UpToDate {
        committed: Zxid,
    },
    Proposal(Arc<Txn>),
    /// Follower → leader: everything up to `zxid` is durable in my log.
    Ack {
        zxid: Zxid,
    },
    Commit {
        zxid: Zxid,
    },
    Ping,
    /// Follower → leader: liveness, log tip and the sessions its clients touched.
    PingReply {
        last_zxid: Zxid,
        touched: Vec<SessionId>,
    },
    /// Follower → leader: a client write to propose.
    Request(Request),
}

impl PeerMsg {
    /// Every kind's name, as ZooKeeper's packet types (SYNC is our DIFF /
    /// TRUNC / SNAP packet; ACKNEWLEADER is ZooKeeper's ACK of NEWLEADER).
    pub const KINDS: &'static [&'static str] = &[
        "VOTE",
        "FOLLOWERINFO",
        "LEADERINFO",
        "ACKEPOCH",
        "SYNC",
        "NEWLEADER",
        "ACKNEWLEADER",
        "UPTODATE",
        "PROPOSAL",
        "ACK",
        "COMMIT",
        "PING",
        "PINGREPLY",
        "REQUEST",
    ];

    /// This message's kind, one of [`PeerMsg::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            PeerMsg::Vote { .. } => "VOTE",
            PeerMsg::FollowerInfo { .. } => "FOLLOWERINFO",
            PeerMsg::LeaderInfo { .. } => "LEADERINFO",
            PeerMsg::AckEpoch { .. } => "ACKEPOCH",
            PeerMsg::Sync(_) => "SYNC",
            PeerMsg::NewLeader { .. } => "NEWLEADER",
            PeerMsg::AckNewLeader { .. } => "ACKNEWLEADER",
            PeerMsg::UpToDate { .. } => "UPTODATE",
            PeerMsg::Proposal(_) => "PROPOSAL",
            PeerMsg::Ack { .. } => "ACK",
            PeerMsg::Commit { .. } => "COMMIT",
            PeerMsg::Ping => "PING",
            PeerMsg::PingReply { .. } => "PINGREPLY",
            PeerMsg::Request(_) => "REQUEST",
        }
    }

    /// Is this what a leader sends its followers? Only these show that the
    /// peer we follow really leads (a FOLLOWERINFO resent by a peer that
    /// follows someone else says the opposite).
    pub fn is_from_leader(&self) -> bool {
        matches!(
            self,
            PeerMsg::LeaderInfo { .. }
                | PeerMsg::Sync(_)
                | PeerMsg::NewLeader { .. }
                | PeerMsg::UpToDate { .. }
                | PeerMsg::Proposal(_)
                | PeerMsg::Commit { .. }
                | PeerMsg::Ping
        )
    }
}

/// How the leader brings one follower up to date (DIFF, TRUNC+DIFF or SNAP+DIFF).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncPlan {
    /// The follower's log tip this plan was computed for: applied to any
    /// other log it would be wrong (a stale resend asked for it).
    pub from: Zxid,
    /// TRUNC: drop every logged txn above this zxid first.
    pub trunc: Option<Zxid>,
    /// SNAP: replace state and log by this snapshot first.
    pub snap: Option<(Zxid, Arc<Vec<u8>>)>,
    /// DIFF: txns to log after that, in order.
    pub txns: Vec<Arc<Txn>>,
}

impl SyncPlan {
    pub fn mode(&self) -> &'static str {
        match (&self.snap, &self.trunc) {
            (Some(_), _) => "SNAP",
            (None, Some(_)) => "TRUNC",
            (None, None) => "DIFF",
        }
    }
}
