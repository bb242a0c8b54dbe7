//! The ZAB peer: one sans-IO state machine per server covering election,
//! discovery, synchronization and broadcast. Inputs are `on_message`, `tick`,
//! `submit` and `touch`; every step leaves its effects in `Ready` (see ready.rs).

use super::db::Db;
use super::election::{Decision, Election, ElectionConfig, ElectionOutput, PeerState};
use super::msg::{PeerMsg, SyncPlan};
use super::ready::{LogMark, PersistOp, Ready, ZabEvent};
use super::txn::{Request, Txn, TxnBody};
use crate::types::{SessionId, Sid, Zxid};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub sid: Sid,
    pub voters: BTreeSet<Sid>,
    /// ZooKeeper's tickTime.
    pub tick_ms: u64,
    /// Ticks allowed for discovery + sync before giving up.
    pub init_limit: u64,
    /// Ticks a follower (or a leader's quorum) may stay silent.
    pub sync_limit: u64,
    /// Applied txns between snapshots.
    pub snap_count: u64,
    pub election: ElectionConfig,
    /// Session timeout bounds (minSessionTimeout, maxSessionTimeout);
    /// `None`: ZooKeeper's defaults, 2 and 20 ticks.
    pub session_timeout_ms: Option<(u64, u64)>,
}

impl PeerConfig {
    pub fn new(sid: Sid, voters: BTreeSet<Sid>) -> PeerConfig {
        PeerConfig {
            sid,
            voters,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 2000,
            election: ElectionConfig::default(),
            session_timeout_ms: None,
        }
    }
    fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }
    /// Session timeouts are clamped to 2..=20 ticks unless configured,
    /// as ZooKeeper does.
    pub fn clamp_session_timeout(&self, ms: u64) -> u64 {
        let (lo, hi) = self
            .session_timeout_ms
            .unwrap_or((2 * self.tick_ms, 20 * self.tick_ms));
        ms.clamp(lo, hi.max(lo))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Discovery,
    Sync,
    Broadcast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LearnerState {
    /// FOLLOWERINFO received.
    Info { accepted_epoch: u32 },
    /// ACKEPOCH received, waiting for the epoch quorum before sync. Only an
    /// ACKEPOCH that `counts` is a vote for the epoch.
    EpochAcked { last_zxid: Zxid, counts: bool },
    /// Sync and NEWLEADER sent; proposals are forwarded from here on.
    Syncing,
    /// NEWLEADER acknowledged.
    Active,
}

struct Learner {
    state: LearnerState,
    acked: Zxid,
    last_heard_ms: u64,
    /// When we last sent it a sync (a resent ACKEPOCH re-syncs only if that
    /// sync may really have been lost).
    synced_at_ms: u64,
    /// The zxid of the NEWLEADER we last sent it: only an ACK of that one
    /// answers its sync.
    newleader: Zxid,
}

struct LeaderState {
    epoch: Option<u32>,
    /// The election round in which we decided to lead.
    round: u64,
    phase: Phase,
    started_ms: u64,
    learners: BTreeMap<Sid, Learner>,
    last_proposed: Zxid,
    committed: Zxid,
    /// Session → (timeout, expiry deadline, close proposed).
    sessions: BTreeMap<SessionId, SessionTrack>,
    last_ping_ms: u64,
}

struct SessionTrack {
    timeout_ms: u64,
    deadline_ms: u64,
    closing: bool,
}

struct FollowerState {
    leader: Sid,
    /// The election round we decided in (or the leader's, from LEADERINFO,
    /// if later): a LOOKING notification from the leader of a later round
    /// says its leadership is over.
    round: u64,
    epoch: Option<u32>,
    phase: Phase,
    last_heard_ms: u64,
    commit_target: Zxid,
    /// NEWLEADER of this epoch accepted: the log is the leader's up to its
    /// tip then, so proposals may be logged and ACKed from here on.
    synced: bool,
    /// The highest zxid ACKed to this leader.
    acked: Zxid,
    /// The handshake message we wait to see answered, resent every tick: a
    /// connection reset can lose it, and the leader may not lead yet.
    pending: Option<PeerMsg>,
    last_sent_ms: u64,
}

/// An acceptedEpoch given to a would-be leader in discovery.
#[derive(Clone, Copy, Debug)]
struct Promise {
    to: Sid,
    /// The election round in which `to` decided to lead.
    round: u64,
    epoch: u32,
    /// Our acceptedEpoch before.
    before: u32,
}

enum Role {
    Looking,
    Leading(LeaderState),
    Following(FollowerState),
}

/// Every reason a server gives up its role (`ZabEvent::SteppedDown`), for
/// coverage: a campaign reports the ones it never reached.
pub const STEP_DOWN_REASONS: &[&str] = &[
    "NEWLEADER does not match synced log",
    "TRUNC below applied state",
    "UPTODATE before NEWLEADER",
    "bad snapshot from leader",
    "commit of an unlogged txn",
    "follower more recent than leader",
    "gap in proposals",
    "gap in the leader's sync",
    "leader is looking again",
    "leader proposed a stale epoch",
    "leader silent",
    "lost connection to leader",
    "lost quorum",
    "no quorum synced within initLimit",
    "zxid counter exhausted",
];

/// Ticks a follower waits for an answer before resending a handshake step.
const RESEND_TICKS: u64 = 2;
/// Ticks a leader lets a sync run before a resent ACKEPOCH makes it resend.
const RESYNC_AFTER_TICKS: u64 = 3;

/// Why a client request could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotServing {
    /// Not in broadcast phase (no established leader here).
    NoLeader,
}

pub struct Peer {
    cfg: PeerConfig,
    accepted_epoch: u32,
    current_epoch: u32,
    /// The replica's data: private, so that nothing outside a step changes it.
    db: Db,
    role: Role,
    election: Election,
    ready: Ready,
    /// Every logged txn up to here is durable (learned from `persisted`).
    durable: Zxid,
    /// Bumped when the log loses txns (TRUNC, SNAP): older marks are void.
    log_gen: u64,
    /// Whom our acceptedEpoch was promised to in discovery (not persisted: a
    /// restarted server keeps its promise, conservatively).
    promise: Option<Promise>,
    /// FOLLOWERINFOs that came while we were still looking (a follower can
    /// decide a moment before its leader): taken up if we come to lead this
    /// round, as ZooKeeper's leader finds such connections in its accept
    /// backlog.
    early: BTreeMap<Sid, PeerMsg>,
    now_ms: u64,
    applied_since_snap: u64,
    /// Sessions touched by local clients since the last ping reply.
    touched: BTreeSet<SessionId>,
}

impl Peer {
    /// A peer recovered from its durable state; it starts looking at once.
    pub fn new(
        cfg: PeerConfig,
        accepted_epoch: u32,
        current_epoch: u32,
        db: Db,
        now_ms: u64,
    ) -> Peer {
        let election = Election::new(cfg.sid, cfg.voters.clone(), cfg.election);
        let durable = db.last_logged();
        let mut p = Peer {
            cfg,
            accepted_epoch,
            current_epoch,
            db,
            role: Role::Looking,
            election,
            ready: Ready::default(),
            durable,
            log_gen: 0,
            promise: None,
            early: BTreeMap::new(),
            now_ms,
            applied_since_snap: 0,
            touched: BTreeSet::new(),
        };
        p.go_looking(None);
        p
    }

    pub fn sid(&self) -> Sid {
        self.cfg.sid
    }
    pub fn config(&self) -> &PeerConfig {
        &self.cfg
    }
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
    pub fn epochs(&self) -> (u32, u32) {
        (self.accepted_epoch, self.current_epoch)
    }
    pub fn last_logged(&self) -> Zxid {
        self.db.last_logged()
    }
    /// The last txn applied to the tree.
    pub fn applied(&self) -> Zxid {
        self.db.applied
    }
    /// The tree's digest (every server with the same applied zxid has the same).
    pub fn tree_digest(&self) -> u64 {
        self.db.tree.digest()
    }
    /// A read of the tree as applied here by a connection holding `ids`
    /// (its ACL identities); a watching read leaves a watch for `watcher`
    /// (a client connection).
    pub fn read(
        &mut self,
        op: &crate::proto::ReadOp,
        watcher: crate::tree::WatcherId,
        ids: &[crate::acl::Id],
    ) -> Result<crate::proto::OpResult, crate::proto::ErrorCode> {
        self.db.tree.read_as(op, watcher, ids)
    }
    pub fn node_count(&self) -> usize {
        self.db.tree.node_count()
    }
    /// The tree as applied here, to look at (the four-letter words).
    pub fn tree(&self) -> &crate::tree::DataTree {
        &self.db.tree
    }
    /// As leader: learners connected, those past NEWLEADER, those still
    /// syncing. (0, 0, 0) otherwise.
    pub fn learner_counts(&self) -> (u64, u64, u64) {
        let Role::Leading(l) = &self.role else {
            return (0, 0, 0);
        };
        let synced = l
            .learners
            .values()
            .filter(|x| x.state == LearnerState::Active)
            .count() as u64;
        let syncing = l
            .learners
            .values()
            .filter(|x| x.state == LearnerState::Syncing)
            .count() as u64;
        (l.learners.len() as u64, synced, syncing)
    }
    /// A client connection closed: its watches go.
    pub fn remove_watcher(&mut self, watcher: crate::tree::WatcherId) {
        self.db.tree.remove_watcher(watcher);
    }
    /// The replica's data, for tests to look at.
    #[cfg(test)]
    pub(super) fn db(&self) -> &Db {
        &self.db
    }
    pub fn state(&self) -> PeerState {
        match self.role {
            Role::Looking => PeerState::Looking,
            Role::Leading(_) => PeerState::Leading,
            Role::Following(_) => PeerState::Following,
        }
    }
    /// Serving clients: leader established, or follower past UPTODATE.
    pub fn is_serving(&self) -> bool {
        match &self.role {
            Role::Leading(l) => l.phase == Phase::Broadcast,
            Role::Following(f) => f.phase == Phase::Broadcast,
            Role::Looking => false,
        }
    }
    pub fn leader(&self) -> Option<Sid> {
        match &self.role {
            Role::Leading(_) => Some(self.cfg.sid),
            Role::Following(f) => Some(f.leader),
            Role::Looking => None,
        }
    }

    /// Everything the steps since the last call asked for.
    pub fn take_ready(&mut self) -> Ready {
        let mut ready = std::mem::take(&mut self.ready);
        ready.log_mark = LogMark {
            gen: self.log_gen,
            zxid: self.db.last_logged(),
        };
        ready
    }

    /// Only the committed txns applied since the last call: their answers
    /// and watch events may go ahead of the rest of the `Ready`.
    pub fn take_applied(&mut self) -> Vec<super::ready::Applied> {
        std::mem::take(&mut self.ready.applied)
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The driver made a `Ready`'s persistence durable (and every earlier
    /// one's): ACKs and commits that wait for the disk may go now.
    pub fn persisted(&mut self, mark: LogMark) {
        self.on_persisted(mark);
        self.check_invariants();
    }

    fn on_persisted(&mut self, mark: LogMark) {
        if mark.gen != self.log_gen || mark.zxid <= self.durable {
            return;
        }
        self.durable = mark.zxid;
        match self.role {
            Role::Leading(_) => {
                self.maybe_establish();
                self.try_commit();
            }
            Role::Following(_) => self.follower_ack(),
            Role::Looking => {}
        }
    }

    /// The log lost txns: nothing above `to` is known durable, and marks
    /// taken before now describe another log.
    fn log_cut(&mut self, to: Zxid) {
        self.log_gen += 1;
        self.durable = self.durable.min(to);
    }

    /// Send as soon as possible — but never ahead of a message to the same
    /// peer that waits for persistence (per-peer FIFO is what ZAB relies on).
    fn send(&mut self, to: Sid, msg: PeerMsg) {
        if self.ready.send_after_persist.iter().any(|(t, _)| *t == to) {
            self.ready.send_after_persist.push((to, msg));
        } else {
            self.ready.send.push((to, msg));
        }
    }
    fn send_durable(&mut self, to: Sid, msg: PeerMsg) {
        self.ready.send_after_persist.push((to, msg));
    }
    fn persist_epochs(&mut self) {
        self.ready.persist.push(PersistOp::Epochs {
            accepted: self.accepted_epoch,
            current: self.current_epoch,
        });
    }

    // ---------------------------------------------------------------- election

    fn go_looking(&mut self, reason: Option<&'static str>) {
        if let Some(reason) = reason {
            self.ready.events.push(ZabEvent::SteppedDown { reason });
        }
        if matches!(&self.role, Role::Leading(_))
            && self.promise.is_some_and(|p| p.to == self.cfg.sid)
        {
            self.release_promise();
        }
        self.role = Role::Looking;
        self.early.clear();
        let out = self
            .election
            .start(self.current_epoch, self.db.last_logged(), self.now_ms);
        self.ready.events.push(ZabEvent::Looking {
            round: self.election.round(),
        });
        self.election_output(out);
    }

    /// Accept `epoch` from the would-be leader `to`, which decided in `round`.
    fn promise(&mut self, to: Sid, round: u64, epoch: u32) {
        self.promise = Some(Promise {
            to,
            round,
            epoch,
            before: self.accepted_epoch,
        });
        self.accepted_epoch = epoch;
        self.persist_epochs();
    }

    /// The would-be leader our acceptedEpoch was promised to gave that
    /// leadership up in discovery: nobody can rely on the promise any more,
    /// and no server holds that epoch as its current one, so the number may
    /// even be used again. Take it back — kept, it would make an established
    /// leader of a lower epoch refuse us until that leader fails. Once the
    /// epoch is current (we synced with that leader) it stays.
    fn release_promise(&mut self) {
        let Some(p) = self.promise.take() else { return };
        self.ready.events.push(ZabEvent::PromiseReleased {
            to: p.to,
            epoch: p.epoch,
        });
        if self.accepted_epoch == p.epoch && self.current_epoch < p.epoch {
            self.accepted_epoch = p.before.max(self.current_epoch);
            self.persist_epochs();
        }
    }

    fn election_output(&mut self, out: ElectionOutput) {
        for (to, n) in out.send {
            let current_epoch = self.current_epoch;
            self.send(to, PeerMsg::Vote { n, current_epoch });
        }
        if let Some(d) = out.decided {
            self.decided(d);
        }
    }

    fn decided(&mut self, d: Decision) {
        let now = self.now_ms;
        if d.vote.leader == self.cfg.sid {
            self.ready.events.push(ZabEvent::Leading { round: d.round });
            self.role = Role::Leading(LeaderState {
                epoch: None,
                round: d.round,
                phase: Phase::Discovery,
                started_ms: now,
                learners: BTreeMap::new(),
                last_proposed: self.db.last_logged(),
                committed: self.db.applied,
                sessions: BTreeMap::new(),
                last_ping_ms: now,
            });
            for (from, msg) in std::mem::take(&mut self.early) {
                self.leader_on(from, msg);
            }
            // A lone voter is its own quorum.
            self.maybe_choose_epoch();
        } else {
            self.early.clear();
            self.ready.events.push(ZabEvent::Following {
                leader: d.vote.leader,
                round: d.round,
            });
            self.role = Role::Following(FollowerState {
                leader: d.vote.leader,
                round: d.round,
                epoch: None,
                phase: Phase::Discovery,
                last_heard_ms: now,
                commit_target: self.db.applied,
                synced: false,
                acked: Zxid::ZERO,
                pending: None,
                last_sent_ms: now,
            });
            let msg = PeerMsg::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
                last_zxid: self.db.last_logged(),
            };
            self.handshake(msg, false);
        }
    }

    fn on_vote(&mut self, from: Sid, n: super::election::Notification, its_epoch: u32) {
        // The leader we follow is electing again, in a later round than the
        // one it led in: a stepped-down ZooKeeper leader closes its learners'
        // sockets, so they look at once rather than after initLimit.
        if let Role::Following(f) = &self.role {
            if f.leader == from && n.state == PeerState::Looking && n.round > f.round {
                self.go_looking(Some("leader is looking again"));
            }
        }
        // Its round moved past the one it led in, and it never made our
        // epoch current: that leadership ended in discovery, before any
        // NEWLEADER of that epoch existed.
        if self
            .promise
            .is_some_and(|p| p.to == from && n.round > p.round && its_epoch < p.epoch)
        {
            self.release_promise();
        }
        if self.election.is_looking() {
            let out = self.election.on_notification(from, n, self.now_ms);
            self.election_output(out);
        } else if n.state == PeerState::Looking {
            // Tell a looking peer who leads here, so it can join.
            let n = self.election.settled_notification(self.state());
            let current_epoch = self.current_epoch;
            self.send(from, PeerMsg::Vote { n, current_epoch });
        }
    }

    // ---------------------------------------------------------------- inputs

    pub fn on_message(&mut self, from: Sid, msg: PeerMsg) {
        self.step_message(from, msg);
        self.check_invariants();
    }

    fn step_message(&mut self, from: Sid, msg: PeerMsg) {
        if !self.cfg.voters.contains(&from) || from == self.cfg.sid {
            return;
        }
        match msg {
            PeerMsg::Vote { n, current_epoch } => self.on_vote(from, n, current_epoch),
            msg => match self.role {
                Role::Leading(_) => self.leader_on(from, msg),
                Role::Following(_) => self.follower_on(from, msg),
                Role::Looking => {
                    if matches!(msg, PeerMsg::FollowerInfo { .. }) {
                        self.early.insert(from, msg);
                    }
                }
            },
        }
    }

    /// A peer's connection broke: a follower loses its leader; a leader drops
    /// the learner, which must resync.
    pub fn on_peer_down(&mut self, sid: Sid) {
        self.peer_down(sid);
        self.check_invariants();
    }

    fn peer_down(&mut self, sid: Sid) {
        match &mut self.role {
            Role::Following(f) if f.leader == sid => {
                self.go_looking(Some("lost connection to leader"))
            }
            Role::Leading(l) => {
                l.learners.remove(&sid);
            }
            _ => {}
        }
    }

    /// The replica's state invariants, checked after every input (as
    /// TigerBeetle does): a broken state stops the run where it broke, not
    /// later in a history checker. Each is a comparison or two.
    fn check_invariants(&self) {
        let db = &self.db;
        assert!(
            self.accepted_epoch >= self.current_epoch,
            "server {}: acceptedEpoch {} below currentEpoch {}",
            self.cfg.sid,
            self.accepted_epoch,
            self.current_epoch
        );
        assert!(
            db.base_zxid <= db.applied && db.applied <= db.last_logged(),
            "server {}: applied {:?} outside the log [{:?}, {:?}]",
            self.cfg.sid,
            db.applied,
            db.base_zxid,
            db.last_logged()
        );
        assert!(
            self.durable <= db.last_logged(),
            "server {}: durable {:?} past the last logged {:?}",
            self.cfg.sid,
            self.durable,
            db.last_logged()
        );
        if let Role::Leading(_) | Role::Following(_) = self.role {
            assert!(
                db.last_logged().epoch() <= self.accepted_epoch,
                "server {}: logged {:?} of an epoch past acceptedEpoch {}",
                self.cfg.sid,
                db.last_logged(),
                self.accepted_epoch
            );
        }
    }

    /// Let the core's clock follow the driver's without running timers.
    pub fn set_now(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    pub fn tick(&mut self, now_ms: u64) {
        self.step_tick(now_ms);
        self.check_invariants();
    }

    fn step_tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        if self.election.is_looking() {
            let out = self.election.tick(self.now_ms);
            self.election_output(out);
            return;
        }
        match self.role {
            Role::Leading(_) => self.leader_tick(),
            Role::Following(_) => self.follower_tick(),
            Role::Looking => {}
        }
    }

    /// A client write. Leader: propose; follower: forward to the leader.
    pub fn submit(&mut self, req: Request) -> Result<(), NotServing> {
        if !self.is_serving() {
            return Err(NotServing::NoLeader);
        }
        match &self.role {
            Role::Leading(_) => {
                self.propose(req);
            }
            Role::Following(f) => {
                let leader = f.leader;
                self.send(leader, PeerMsg::Request(req));
            }
            Role::Looking => unreachable!("serving implies a role"),
        }
        Ok(())
    }

    /// A local client showed it is alive.
    pub fn touch(&mut self, session: SessionId) {
        // Injected bug (sim only): a leader counts the touches its
        // followers report, not those of its own clients.
        if matches!(self.role, Role::Leading(_))
            && crate::bugs::on(crate::bugs::Bug::ExpireLiveSession)
        {
            return;
        }
        self.touched_now(session);
    }

    /// `session` was heard from now: here, or at a follower that says so.
    fn touched_now(&mut self, session: SessionId) {
        let now = self.now_ms;
        match &mut self.role {
            Role::Leading(l) => {
                if let Some(s) = l.sessions.get_mut(&session) {
                    s.deadline_ms = s.deadline_ms.max(now + s.timeout_ms);
                }
            }
            _ => {
                self.touched.insert(session);
            }
        }
    }

    /// Does the ensemble's state know this session (it was created and not closed)?
    pub fn session_timeout(&self, session: SessionId) -> Option<u64> {
        self.db.tree.sessions().get(&session).copied()
    }

    // ---------------------------------------------------------------- leader

    fn leading(&mut self) -> &mut LeaderState {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => unreachable!("leader step on a non-leader"),
        }
    }

    fn leader_on(&mut self, from: Sid, msg: PeerMsg) {
        let now = self.now_ms;
        if let Some(l) = self.leading().learners.get_mut(&from) {
            l.last_heard_ms = now;
        }
        match msg {
            PeerMsg::FollowerInfo { accepted_epoch, .. } => {
                if let Some(epoch) = self.leading().epoch.filter(|e| accepted_epoch > *e) {
                    // It promised a newer epoch to a leader that never got
                    // established, so it cannot follow us. As ZooKeeper does,
                    // refuse it (our older epoch sends it back to the election)
                    // and keep leading; it joins the next epoch.
                    let l = self.leading();
                    l.learners.remove(&from);
                    let round = l.round;
                    self.send_durable(from, PeerMsg::LeaderInfo { epoch, round });
                    return;
                }
                let l = self.leading();
                l.learners.insert(
                    from,
                    Learner {
                        state: LearnerState::Info { accepted_epoch },
                        acked: Zxid::ZERO,
                        last_heard_ms: now,
                        synced_at_ms: 0,
                        newleader: Zxid::ZERO,
                    },
                );
                // (A resent FOLLOWERINFO lands here too: it starts the learner over.)
                let round = l.round;
                match l.epoch {
                    Some(epoch) => self.send_durable(from, PeerMsg::LeaderInfo { epoch, round }),
                    None => self.maybe_choose_epoch(),
                }
            }
            // An answer to another leadership's LEADERINFO is not ours.
            PeerMsg::AckEpoch {
                epoch,
                current_epoch,
                last_zxid,
                counts,
            } if Some(epoch) == self.leading().epoch => {
                self.leader_on_ackepoch(from, (current_epoch, last_zxid), counts)
            }
            PeerMsg::AckNewLeader { epoch, zxid } => {
                self.leader_on_ack_newleader(from, epoch, zxid)
            }
            PeerMsg::Ack { zxid } => {
                if let Some(l) = self.leading().learners.get_mut(&from) {
                    if matches!(l.state, LearnerState::Syncing | LearnerState::Active) {
                        l.acked = l.acked.max(zxid);
                    }
                }
                self.try_commit();
            }
            PeerMsg::PingReply { last_zxid, touched } => {
                // Only a learner past NEWLEADER reports its synced log tip.
                if let Some(l) = self.leading().learners.get_mut(&from) {
                    if l.state == LearnerState::Active {
                        l.acked = l.acked.max(last_zxid);
                    }
                }
                for s in touched {
                    self.touched_now(s);
                }
                self.try_commit();
            }
            PeerMsg::Request(req) if self.is_serving() => self.propose(req),
            _ => {}
        }
    }

    fn maybe_choose_epoch(&mut self) {
        let quorum = self.cfg.quorum();
        let my_accepted = self.accepted_epoch;
        let l = self.leading();
        if l.epoch.is_some() {
            return;
        }
        let accepted: Vec<u32> = l
            .learners
            .values()
            .filter_map(|x| match x.state {
                LearnerState::Info { accepted_epoch } => Some(accepted_epoch),
                _ => None,
            })
            .collect();
        if accepted.len() + 1 < quorum {
            return;
        }
        let epoch = accepted.iter().copied().fold(my_accepted, u32::max) + 1;
        l.epoch = Some(epoch);
        let mut accepted = accepted;
        accepted.push(my_accepted);
        accepted.sort_unstable();
        self.ready
            .events
            .push(ZabEvent::EpochChosen { epoch, accepted });
        let l = self.leading();
        let to: Vec<Sid> = l.learners.keys().copied().collect();
        let round = l.round;
        let me = self.cfg.sid;
        self.promise(me, round, epoch);
        for sid in to {
            self.send_durable(sid, PeerMsg::LeaderInfo { epoch, round });
        }
        self.maybe_start_sync();
    }

    fn leader_on_ackepoch(&mut self, from: Sid, summary: (u32, Zxid), counts: bool) {
        let last_zxid = summary.1;
        let mine = (self.current_epoch, self.db.last_logged());
        let epoch = self.leading().epoch.unwrap_or(0);
        self.ready.events.push(ZabEvent::EpochAcked {
            from,
            current_epoch: summary.0,
            last_zxid,
            epoch,
            ours: mine.1,
        });
        if summary > mine {
            // A follower more recent than us: we must not lead.
            self.go_looking(Some("follower more recent than leader"));
            return;
        }
        let (now, resync_ms) = (self.now_ms, RESYNC_AFTER_TICKS * self.cfg.tick_ms);
        let l = self.leading();
        let Some(learner) = l.learners.get_mut(&from) else {
            return;
        };
        match learner.state {
            LearnerState::Info { .. } => {}
            // A resend: our sync may have been lost on a reset connection —
            // or is merely slow (big SNAP, slow disks): give it a few ticks.
            LearnerState::Syncing => {
                if now.saturating_sub(learner.synced_at_ms) >= resync_ms {
                    self.sync_learner(from, last_zxid);
                }
                return;
            }
            LearnerState::EpochAcked { .. } | LearnerState::Active => return,
        }
        learner.state = LearnerState::EpochAcked { last_zxid, counts };
        if l.phase == Phase::Discovery {
            self.maybe_start_sync();
        } else {
            self.sync_learner(from, last_zxid);
        }
    }

    /// With a quorum of ACKEPOCHs, adopt the epoch and sync everyone who acked.
    fn maybe_start_sync(&mut self) {
        let quorum = self.cfg.quorum();
        let l = self.leading();
        let Some(epoch) = l.epoch else { return };
        if l.phase != Phase::Discovery {
            return;
        }
        let acked: Vec<(Sid, Zxid, bool)> = l
            .learners
            .iter()
            .filter_map(|(sid, x)| match x.state {
                LearnerState::EpochAcked { last_zxid, counts } => Some((*sid, last_zxid, counts)),
                _ => None,
            })
            .collect();
        // Learners that had already accepted this epoch are synced, not counted.
        if acked.iter().filter(|a| a.2).count() + 1 < quorum {
            return;
        }
        l.phase = Phase::Sync;
        let last = self.db.last_logged();
        self.leading().last_proposed = last;
        self.current_epoch = epoch;
        self.persist_epochs();
        self.ready
            .events
            .push(ZabEvent::EpochAdopted { epoch, zxid: last });
        for (sid, last, _) in acked {
            self.sync_learner(sid, last);
        }
        self.maybe_establish();
    }

    /// Choose DIFF, TRUNC+DIFF or SNAP(+DIFF) for one learner, then NEWLEADER.
    fn sync_learner(&mut self, sid: Sid, peer_last: Zxid) {
        let epoch = self.current_epoch;
        let ours = self.db.last_logged();
        let plan = self.sync_plan(peer_last);
        self.ready.events.push(ZabEvent::SyncSent {
            follower: sid,
            mode: plan.mode(),
            from: peer_last,
            to: ours,
        });
        self.send_durable(sid, PeerMsg::Sync(plan));
        self.send_durable(sid, PeerMsg::NewLeader { epoch, zxid: ours });
        let now = self.now_ms;
        if let Some(l) = self.leading().learners.get_mut(&sid) {
            l.state = LearnerState::Syncing;
            l.acked = Zxid::ZERO;
            l.synced_at_ms = now;
            l.newleader = ours;
        }
    }

    fn sync_plan(&self, peer_last: Zxid) -> SyncPlan {
        let db = &self.db;
        let diff = |after: Zxid| SyncPlan {
            from: peer_last,
            trunc: None,
            snap: None,
            txns: db.txns_after(after),
        };
        if peer_last >= db.base_zxid && db.has(peer_last) {
            return diff(peer_last);
        }
        // Injected bug (sim only): the follower's tip is taken as a point of
        // our history, and the rest is sent after it.
        if peer_last > db.base_zxid && crate::bugs::on(crate::bugs::Bug::DiffInsteadOfTrunc) {
            return diff(peer_last);
        }
        if peer_last > db.base_zxid {
            // The follower logged txns we never had: they were not committed.
            // Cut back to our last point below them, if that stays in their epoch.
            let point = db.point_below(peer_last);
            if point.epoch() == peer_last.epoch() {
                return SyncPlan {
                    trunc: Some(point),
                    ..diff(point)
                };
            }
        }
        // SNAP: the last snapshot and the log after it — the same history as
        // the live tree, with nothing serialized inside a step.
        SyncPlan {
            from: peer_last,
            trunc: None,
            snap: Some((db.base_zxid, db.base_state.clone())),
            txns: db.txns_after(db.base_zxid),
        }
    }

    fn leader_on_ack_newleader(&mut self, from: Sid, epoch: u32, zxid: Zxid) {
        if Some(epoch) != self.leading().epoch {
            return;
        }
        let (now, resync_ms) = (self.now_ms, RESYNC_AFTER_TICKS * self.cfg.tick_ms);
        let l = self.leading();
        let Some(learner) = l.learners.get_mut(&from) else {
            return;
        };
        if zxid != learner.newleader {
            // It answers an earlier NEWLEADER, sent before a re-sync. If
            // that re-sync was lost with a replaced connection, these
            // resends are all the learner will ever send: sync it again,
            // from the tip it acknowledged (as a resent ACKEPOCH would).
            let lost = learner.state == LearnerState::Syncing
                && zxid < learner.newleader
                && now.saturating_sub(learner.synced_at_ms) >= resync_ms;
            if lost {
                self.sync_learner(from, zxid);
            }
            return;
        }
        if learner.state == LearnerState::Active && l.phase == Phase::Broadcast {
            // A resend: our UPTODATE was lost.
            let committed = l.committed;
            self.send_durable(from, PeerMsg::UpToDate { committed });
            return;
        }
        if learner.state != LearnerState::Syncing {
            return;
        }
        learner.state = LearnerState::Active;
        if l.phase == Phase::Broadcast {
            let committed = l.committed;
            self.send_durable(from, PeerMsg::UpToDate { committed });
        } else {
            self.maybe_establish();
        }
    }

    /// NEWLEADER acknowledged by a quorum: our whole history is committed.
    fn maybe_establish(&mut self) {
        let quorum = self.cfg.quorum();
        let now = self.now_ms;
        // Our own copy of the history counts once it is durable.
        let last = self.db.last_logged();
        let durable = self.durable;
        let l = self.leading();
        if l.phase != Phase::Sync {
            return;
        }
        let active = l
            .learners
            .values()
            .filter(|x| x.state == LearnerState::Active)
            .count();
        if active + 1 < quorum || durable < last {
            return;
        }
        l.phase = Phase::Broadcast;
        let epoch = self.current_epoch;
        self.apply_upto(last);
        let l = self.leading();
        l.committed = last;
        l.last_proposed = if last.epoch() == epoch {
            last
        } else {
            Zxid::new(epoch, 0)
        };
        let sessions: Vec<(SessionId, u64)> = self
            .db
            .tree
            .sessions()
            .iter()
            .map(|(s, t)| (*s, *t))
            .collect();
        let l = self.leading();
        l.sessions = sessions
            .into_iter()
            .map(|(s, timeout_ms)| {
                let track = SessionTrack {
                    timeout_ms,
                    deadline_ms: now + timeout_ms,
                    closing: false,
                };
                (s, track)
            })
            .collect();
        let active: Vec<Sid> = l
            .learners
            .iter()
            .filter(|(_, x)| x.state == LearnerState::Active)
            .map(|(s, _)| *s)
            .collect();
        for sid in active {
            self.send_durable(sid, PeerMsg::UpToDate { committed: last });
        }
        self.election.established(epoch);
        self.ready
            .events
            .push(ZabEvent::Established { epoch, zxid: last });
    }

    fn propose(&mut self, req: Request) {
        let now = self.now_ms;
        let epoch = self.current_epoch;
        let l = self.leading();
        let Some(zxid) = l.last_proposed.next() else {
            // ZooKeeper forces a new epoch when the counter would roll over.
            self.go_looking(Some("zxid counter exhausted"));
            return;
        };
        l.last_proposed = zxid;
        let forward: Vec<Sid> = l
            .learners
            .iter()
            .filter(|(_, x)| matches!(x.state, LearnerState::Syncing | LearnerState::Active))
            .map(|(s, _)| *s)
            .collect();
        // One copy of the txn, shared by the log, the disk and every follower.
        let txn = Arc::new(Txn {
            zxid,
            session: req.session,
            cxid: req.cxid,
            time_ms: now,
            body: req.body,
        });
        self.db.append(txn.clone());
        self.ready.persist.push(PersistOp::Append(txn.clone()));
        self.ready.events.push(ZabEvent::Proposed { zxid, epoch });
        for sid in forward {
            self.send(sid, PeerMsg::Proposal(txn.clone()));
        }
        self.try_commit();
    }

    /// Commit, strictly in zxid order, every proposal a quorum has logged.
    fn try_commit(&mut self) {
        let quorum = self.cfg.quorum();
        let durable = self.durable;
        let l = self.leading();
        if l.phase != Phase::Broadcast {
            return;
        }
        let mut acks: Vec<Zxid> = l
            .learners
            .values()
            .filter(|x| matches!(x.state, LearnerState::Syncing | LearnerState::Active))
            .map(|x| x.acked)
            .collect();
        // Our own log counts as far as the disk has confirmed it.
        acks.push(durable.min(l.last_proposed));
        acks.sort_unstable_by(|a, b| b.cmp(a));
        // Injected bug (sim only): our own copy is enough.
        let quorum = if crate::bugs::on(crate::bugs::Bug::CommitWithoutQuorum) {
            1
        } else {
            quorum
        };
        if acks.len() < quorum {
            return;
        }
        let target = acks[quorum - 1].min(l.last_proposed);
        if target <= l.committed {
            return;
        }
        l.committed = target;
        let to: Vec<Sid> = l
            .learners
            .iter()
            .filter(|(_, x)| matches!(x.state, LearnerState::Syncing | LearnerState::Active))
            .map(|(s, _)| *s)
            .collect();
        // Nothing to wait for: our own vote was already durable.
        for sid in to {
            self.send(sid, PeerMsg::Commit { zxid: target });
        }
        self.apply_upto(target);
    }

    fn leader_tick(&mut self) {
        let now = self.now_ms;
        let quorum = self.cfg.quorum();
        let tick = self.cfg.tick_ms;
        let (init_ms, sync_ms) = (tick * self.cfg.init_limit, tick * self.cfg.sync_limit);
        let l = self.leading();
        if l.phase != Phase::Broadcast {
            if now.saturating_sub(l.started_ms) > init_ms {
                self.go_looking(Some("no quorum synced within initLimit"));
            }
            return;
        }
        // Forget learners that went silent; step down without a live quorum.
        l.learners
            .retain(|_, x| now.saturating_sub(x.last_heard_ms) <= sync_ms);
        let live = l
            .learners
            .values()
            .filter(|x| x.state == LearnerState::Active)
            .count();
        if live + 1 < quorum {
            self.go_looking(Some("lost quorum"));
            return;
        }
        let ping_to: Vec<Sid> = if now.saturating_sub(l.last_ping_ms) >= tick / 2 {
            l.last_ping_ms = now;
            l.learners.keys().copied().collect()
        } else {
            Vec::new()
        };
        let expired: Vec<SessionId> = l
            .sessions
            .iter_mut()
            .filter(|(_, s)| !s.closing && s.deadline_ms <= now)
            .map(|(id, s)| {
                s.closing = true;
                *id
            })
            .collect();
        for sid in ping_to {
            self.send(sid, PeerMsg::Ping);
        }
        for session in expired {
            self.propose(Request {
                session,
                cxid: 0,
                body: TxnBody::CloseSession,
            });
            if !self.is_serving() {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- follower

    fn following(&mut self) -> &mut FollowerState {
        match &mut self.role {
            Role::Following(f) => f,
            _ => unreachable!("follower step on a non-follower"),
        }
    }

    fn follower_on(&mut self, from: Sid, msg: PeerMsg) {
        let now = self.now_ms;
        let f = self.following();
        if from != f.leader || !msg.is_from_leader() {
            return;
        }
        f.last_heard_ms = now;
        let (phase, synced) = (f.phase, f.synced);
        match msg {
            PeerMsg::LeaderInfo { epoch, round } if phase == Phase::Discovery => {
                f.round = f.round.max(round);
                if epoch < self.accepted_epoch {
                    self.go_looking(Some("leader proposed a stale epoch"));
                    return;
                }
                // Vouch for an epoch once: an equal one may be another
                // leader's, so that reply only asks for a sync.
                let counts = epoch > self.accepted_epoch;
                if counts {
                    self.promise(from, round, epoch);
                }
                self.following().epoch = Some(epoch);
                self.following().phase = Phase::Sync;
                let msg = self.ack_epoch(counts);
                // Injected bug (sim only): the promise leaves before the
                // accepted epoch is durable.
                let durable = !crate::bugs::on(crate::bugs::Bug::AckepochBeforeDurable);
                self.handshake(msg, durable);
            }
            PeerMsg::Sync(plan) if phase == Phase::Sync => self.follower_sync(plan),
            PeerMsg::NewLeader { epoch, zxid } if phase == Phase::Sync => {
                if Some(epoch) != self.following().epoch || zxid != self.db.last_logged() {
                    self.go_looking(Some("NEWLEADER does not match synced log"));
                    return;
                }
                // Synced txns first, then currentEpoch, then the ACK (ZK-3911,
                // ZK-4643). A repeated NEWLEADER (after a re-sync) needs no
                // second epoch write, but its txns may: the ACK waits for them.
                if self.current_epoch != epoch {
                    self.current_epoch = epoch;
                    self.persist_epochs();
                    self.ready
                        .events
                        .push(ZabEvent::EpochAdopted { epoch, zxid });
                }
                if crate::bugs::on(crate::bugs::Bug::ZxidBeforeDiff) && self.db.applied < zxid {
                    // ZOOKEEPER-2355 (sim only): a snapshot that claims the
                    // synced txns, taken before they are applied.
                    let state = std::sync::Arc::new(self.db.state());
                    self.ready.persist.push(PersistOp::Snapshot { zxid, state });
                }
                self.following().synced = true;
                // ZOOKEEPER-3911 (sim only): the ACK goes before the synced
                // txns are durable.
                let durable = !crate::bugs::on(crate::bugs::Bug::NewleaderAckBeforeSync);
                self.handshake(PeerMsg::AckNewLeader { epoch, zxid }, durable);
                self.follower_ack();
            }
            PeerMsg::UpToDate { committed } if phase == Phase::Sync => {
                if self.current_epoch != self.following().epoch.unwrap_or(0) {
                    self.go_looking(Some("UPTODATE before NEWLEADER"));
                    return;
                }
                let f = self.following();
                f.phase = Phase::Broadcast;
                f.pending = None;
                f.commit_target = f.commit_target.max(committed);
                let epoch = self.current_epoch;
                self.election.established(epoch);
                self.apply_commits();
                self.ready.events.push(ZabEvent::Serving {
                    epoch,
                    zxid: self.db.applied,
                });
            }
            // Before NEWLEADER the log may not be the leader's yet (its sync
            // was lost with a connection): wait for the re-sync.
            PeerMsg::Proposal(_) if !synced => {}
            PeerMsg::Proposal(txn) => {
                if !follows(self.db.last_logged(), txn.zxid) {
                    self.go_looking(Some("gap in proposals"));
                    return;
                }
                self.db.append(txn.clone());
                self.ready.persist.push(PersistOp::Append(txn));
                if crate::bugs::on(crate::bugs::Bug::AckBeforeFsync) {
                    self.follower_ack();
                }
            }
            PeerMsg::Commit { zxid } if phase != Phase::Discovery => {
                if zxid > self.db.last_logged() {
                    self.go_looking(Some("commit of an unlogged txn"));
                    return;
                }
                let f = self.following();
                f.commit_target = f.commit_target.max(zxid);
                if f.phase == Phase::Broadcast {
                    self.apply_commits();
                }
            }
            PeerMsg::Ping => {
                // Answered now, whatever the disk is doing: the tip it reports
                // counts as an ACK, so it is the durable one.
                let touched = std::mem::take(&mut self.touched).into_iter().collect();
                let last_zxid = self.durable.min(self.db.last_logged());
                self.send(from, PeerMsg::PingReply { last_zxid, touched });
            }
            _ => {}
        }
    }

    fn follower_sync(&mut self, plan: SyncPlan) {
        if plan.from != self.db.last_logged() {
            // Computed for a tip we no longer have (a stale ACKEPOCH resend):
            // the NEWLEADER after it tells whether the first plan sufficed.
            return;
        }
        if let Some((zxid, state)) = plan.snap {
            if let Err(e) = self.db.install_snapshot(zxid, state.clone()) {
                tracing::warn!(sid = self.cfg.sid, "bad snapshot from leader: {e}");
                self.go_looking(Some("bad snapshot from leader"));
                return;
            }
            self.ready
                .persist
                .push(PersistOp::InstallSnapshot { zxid, state });
            self.ready.events.push(ZabEvent::SnapshotInstalled { zxid });
            self.applied_since_snap = 0;
            self.log_cut(Zxid::ZERO);
        }
        if let Some(to) = plan.trunc {
            let from = self.db.last_logged();
            if !self.db.truncate(to) {
                self.go_looking(Some("TRUNC below applied state"));
                return;
            }
            self.ready.persist.push(PersistOp::Truncate(to));
            self.ready.events.push(ZabEvent::Truncated { from, to });
            self.log_cut(to);
        }
        for txn in plan.txns {
            if !follows(self.db.last_logged(), txn.zxid) {
                self.go_looking(Some("gap in the leader's sync"));
                return;
            }
            self.db.append(txn.clone());
            self.ready.persist.push(PersistOp::Append(txn));
        }
    }

    fn ack_epoch(&self, counts: bool) -> PeerMsg {
        let epoch = match &self.role {
            Role::Following(f) => f.epoch.unwrap_or(0),
            _ => 0,
        };
        PeerMsg::AckEpoch {
            epoch,
            current_epoch: self.current_epoch,
            last_zxid: self.db.last_logged(),
            counts,
        }
    }

    /// ACK what became durable since the last ACK, once synced.
    fn follower_ack(&mut self) {
        let upto = if crate::bugs::on(crate::bugs::Bug::AckBeforeFsync) {
            self.db.last_logged()
        } else {
            self.durable.min(self.db.last_logged())
        };
        let f = self.following();
        if !f.synced || upto <= f.acked {
            return;
        }
        f.acked = upto;
        let leader = f.leader;
        self.send(leader, PeerMsg::Ack { zxid: upto });
    }

    fn apply_commits(&mut self) {
        let target = self.following().commit_target;
        self.apply_upto(target);
    }

    /// Send a handshake step (after persisting, if `durable`) and keep it for resends.
    fn handshake(&mut self, msg: PeerMsg, durable: bool) {
        let now = self.now_ms;
        let f = self.following();
        let leader = f.leader;
        f.pending = Some(msg.clone());
        f.last_sent_ms = now;
        if durable {
            self.send_durable(leader, msg);
        } else {
            self.send(leader, msg);
        }
    }

    fn follower_tick(&mut self) {
        let now = self.now_ms;
        let tick = self.cfg.tick_ms;
        // At least one resend before initLimit runs out, however short.
        let every = RESEND_TICKS.min(self.cfg.init_limit / 2).max(1) * tick;
        let f = self.following();
        if f.pending.is_some() && now.saturating_sub(f.last_sent_ms) >= every {
            f.last_sent_ms = now;
            let (leader, mut msg) = (f.leader, f.pending.clone().expect("checked"));
            // An ACKEPOCH tells the log as it is now, so that a re-sync is
            // planned for it; it vouches for an epoch only as the first did.
            if let PeerMsg::AckEpoch { counts, .. } = msg {
                msg = self.ack_epoch(counts);
            }
            self.send_durable(leader, msg);
        }
        let (init_ms, sync_ms) = (tick * self.cfg.init_limit, tick * self.cfg.sync_limit);
        let f = self.following();
        let limit = if f.phase == Phase::Broadcast {
            sync_ms
        } else {
            init_ms
        };
        if now.saturating_sub(f.last_heard_ms) > limit {
            self.go_looking(Some("leader silent"));
        }
    }

    // ---------------------------------------------------------------- common

    /// Bookkeeping after txns are applied: session tracking on the leader,
    /// periodic snapshots everywhere.
    /// Apply what is committed up to `upto`, straight into this batch's
    /// output (a Vec per apply and a copy after it were a twentieth of a
    /// seed's instructions).
    fn apply_upto(&mut self, upto: Zxid) {
        let from = self.ready.applied.len();
        self.db.apply_upto(upto, &mut self.ready.applied);
        self.after_apply(from);
    }

    /// Bookkeeping for the txns applied since `from` in `ready.applied`.
    fn after_apply(&mut self, from: usize) {
        let now = self.now_ms;
        let applied = &self.ready.applied[from..];
        self.applied_since_snap += applied.len() as u64;
        if let Role::Leading(l) = &mut self.role {
            for a in applied {
                match a.txn.body {
                    TxnBody::CreateSession { timeout_ms } => {
                        l.sessions.insert(
                            a.txn.session,
                            SessionTrack {
                                timeout_ms,
                                deadline_ms: now + timeout_ms,
                                closing: false,
                            },
                        );
                    }
                    TxnBody::CloseSession => {
                        l.sessions.remove(&a.txn.session);
                    }
                    _ => {}
                }
            }
        }
        if self.applied_since_snap >= self.cfg.snap_count {
            self.applied_since_snap = 0;
            self.ready.snapshot_due = true;
        }
    }

    /// Serialize the applied state as the new base and forget the log up to
    /// it: the driver does this when a `Ready` says `snapshot_due` (a whole-
    /// tree serialization is its work, not a step's), and persists the op
    /// after that `Ready`'s own.
    pub fn take_snapshot(&mut self) -> PersistOp {
        let (zxid, state) = self.db.compact();
        PersistOp::Snapshot { zxid, state }
    }
}

#[cfg(test)]
impl Peer {
    pub(super) fn set_snap_count_for_test(&mut self, n: u64) {
        self.cfg.snap_count = n;
    }

    pub(super) fn sync_plan_for_test(&self, peer_last: Zxid) -> SyncPlan {
        self.sync_plan(peer_last)
    }

    /// The election's outcome, as a transcript wants it.
    pub(super) fn decide_for_test(&mut self, leader: Sid) {
        let vote = super::election::Vote {
            leader,
            zxid: self.db.last_logged(),
            epoch: self.current_epoch,
        };
        let state = if leader == self.cfg.sid {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        let out = self.election.force_for_test(Decision {
            vote,
            round: 1,
            state,
        });
        self.role = Role::Looking;
        self.election_output(out);
    }
}

/// Can `next` be logged right after `last`? The next counter of the same
/// epoch, or the first txn of a newer epoch.
fn follows(last: Zxid, next: Zxid) -> bool {
    if next.epoch() == last.epoch() {
        last.next() == Some(next)
    } else {
        next.epoch() > last.epoch() && next.counter() == 1
    }
}

#[cfg(test)]
mod invariant_tests {
    use super::*;

    /// The invariants stop a run whose state broke, at the next input.
    #[test]
    #[should_panic(expected = "acceptedEpoch 1 below currentEpoch 2")]
    fn a_broken_epoch_pair_stops_the_peer() {
        let mut p = Peer::new(PeerConfig::new(1, [1, 2, 3].into()), 1, 2, Db::empty(), 0);
        p.tick(1);
    }

    #[test]
    fn a_sound_peer_passes_its_invariants() {
        let mut p = Peer::new(PeerConfig::new(1, [1, 2, 3].into()), 2, 2, Db::empty(), 0);
        p.tick(1);
        p.on_peer_down(2);
    }
}
