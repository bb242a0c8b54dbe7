//! Fast Leader Election (FLE) as ZooKeeper runs it, as a sans-IO state machine.
//!
//! The driver feeds notifications and time in and sends what comes out. A peer
//! votes for the best (currentEpoch, lastZxid, sid) it has heard of in its round,
//! and decides once its vote holds a quorum for a short finalize wait — or at once
//! when a quorum of settled (Following/Leading) peers name a leader that confirmed
//! it leads. FLE only picks a candidate; ZAB's discovery phase makes it safe.
//!
//! Where this differs from ZooKeeper's `FastLeaderElection` (all deliberate):
//! - A Looking notification removes its sender from the out-of-election set: a
//!   peer that is looking no longer follows anyone, so its old claim is stale.
//! - The finalize wait is a deadline checked on `tick` and on every notification,
//!   rather than a blocking poll; notifications that are not better than my vote
//!   are still used during the wait (same round: recorded; lower round: answered;
//!   settled peers: considered), except a higher round, which ZooKeeper would
//!   drop too (consumed by its poll) — honouring it would abandon a finished vote.
//! - Resends run on their own backoff schedule instead of "after a silent poll",
//!   so they also happen while unrelated traffic keeps arriving (lossy networks).
//! - Once decided, a notification from a Looking voter is answered with
//!   `settled_notification` of the decided state, as ZooKeeper's receiver thread
//!   does; the driver need not answer on its own (a second answer is harmless).

use crate::types::{Sid, Zxid};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// What a peer says it is doing (ZooKeeper's `ServerState`, without observers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

/// A proposed leader and its credentials. `epoch` is the proposed leader's
/// currentEpoch (ZooKeeper's peerEpoch).
///
/// Ordered by (epoch, zxid, leader), higher wins. Every field takes part, so two
/// votes compare equal only when they are equal: a partial order here is how an
/// election fails to settle (ZOOKEEPER-1419).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub leader: Sid,
    pub zxid: Zxid,
    pub epoch: u32,
}

impl Vote {
    fn key(&self) -> (u32, Zxid, Sid) {
        (self.epoch, self.zxid, self.leader)
    }
}

impl Ord for Vote {
    fn cmp(&self, other: &Self) -> Ordering {
        if crate::bugs::on(crate::bugs::Bug::VoteOrderNotTotal) {
            return partial_order_cmp(self, other);
        }
        self.key().cmp(&other.key())
    }
}

/// Injected bug (sim only): ZOOKEEPER-1419's predicate, whose sid tiebreak
/// forgets to require equal epochs — not transitive, so not an order.
fn partial_order_cmp(a: &Vote, b: &Vote) -> Ordering {
    let beats = |x: &Vote, y: &Vote| {
        x.epoch > y.epoch
            || (x.epoch == y.epoch && x.zxid > y.zxid)
            || (x.zxid == y.zxid && x.leader > y.leader)
    };
    // Both can beat each other (lower epoch, same zxid, higher sid): then
    // whichever vote is asked about wins, as the broken predicate answered.
    if beats(a, b) {
        Ordering::Greater
    } else if beats(b, a) {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

impl PartialOrd for Vote {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One election message. `round` is ZooKeeper's electionEpoch (logicalclock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub vote: Vote,
    pub round: u64,
    pub state: PeerState,
}

/// What one input produced: messages to send and, at most once per election,
/// the decision.
#[derive(Debug, Default, PartialEq)]
pub struct ElectionOutput {
    pub send: Vec<(Sid, Notification)>,
    pub decided: Option<Decision>,
}

/// The end of an election: `state` is `Leading` if `vote.leader` is me, else
/// `Following`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub vote: Vote,
    pub round: u64,
    pub state: PeerState,
}

/// Timing knobs.
///
/// Defaults (200, 200, 2000) suit a simulated LAN with millisecond latencies:
/// the 200 ms finalize wait and 200 ms first resend are ZooKeeper's; the resend
/// ceiling is 2 s instead of ZooKeeper's 60 s so that a healed partition is
/// noticed within seconds of simulated time. A resend interval of 0 is treated
/// as 1 ms, and a ceiling below the floor as the floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    /// How long a vote must hold a quorum, with no better vote arriving, before
    /// the peer decides.
    pub finalize_wait_ms: u64,
    /// First resend interval; doubles after each resend.
    pub resend_min_ms: u64,
    /// Ceiling of the resend interval.
    pub resend_max_ms: u64,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        ElectionConfig {
            finalize_wait_ms: 200,
            resend_min_ms: 200,
            resend_max_ms: 2000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Created, `start` not yet called: nothing to say to anyone.
    Idle,
    Looking,
    Decided(Decision),
}

/// A vote as recorded from one sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Recorded {
    vote: Vote,
    state: PeerState,
}

impl Recorded {
    /// ZooKeeper's `Vote.equals`: settled peers agree when they name the same
    /// leader and epoch — their zxids and rounds differ with when each joined;
    /// a looking vote must match exactly.
    fn agrees(&self, other: &Recorded) -> bool {
        if self.state == PeerState::Looking || other.state == PeerState::Looking {
            self.vote == other.vote
        } else {
            self.vote.leader == other.vote.leader && self.vote.epoch == other.vote.epoch
        }
    }
}

/// One peer's leader election.
#[derive(Clone, Debug)]
pub struct Election {
    me: Sid,
    voters: BTreeSet<Sid>,
    cfg: ElectionConfig,
    phase: Phase,
    round: u64,
    /// My own credentials for this election: the fallback when a higher round
    /// resets the vote.
    own: Vote,
    /// My current vote; after deciding, the decided vote.
    proposal: Vote,
    /// Latest vote per sender in my round, mine included.
    votes: BTreeMap<Sid, Recorded>,
    /// Latest settled (Following/Leading) notification per sender, any round.
    out_of_election: BTreeMap<Sid, Recorded>,
    finalize_at: Option<u64>,
    resend_at: u64,
    resend_interval: u64,
}

impl Election {
    pub fn new(me: Sid, voters: BTreeSet<Sid>, cfg: ElectionConfig) -> Self {
        let own = Vote {
            leader: me,
            zxid: Zxid::ZERO,
            epoch: 0,
        };
        Election {
            me,
            voters,
            cfg,
            phase: Phase::Idle,
            round: 0,
            own,
            proposal: own,
            votes: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalize_at: None,
            resend_at: 0,
            resend_interval: 0,
        }
    }

    /// Begin (or re-begin) looking: round += 1, vote for myself with my
    /// (current_epoch, last_zxid), send the notification to every other voter.
    pub fn start(&mut self, current_epoch: u32, last_zxid: Zxid, now_ms: u64) -> ElectionOutput {
        let mut out = ElectionOutput::default();
        self.phase = Phase::Looking;
        self.round += 1;
        self.own = Vote {
            leader: self.me,
            zxid: last_zxid,
            epoch: current_epoch,
        };
        // Each election starts from nothing: old votes and old claims of
        // settled peers may describe an ensemble that no longer exists.
        self.votes.clear();
        self.out_of_election.clear();
        self.finalize_at = None;
        self.resend_interval = self.resend_floor();
        self.set_proposal(self.own);
        self.broadcast(now_ms, &mut out);
        // A single voter is its own quorum.
        self.check_quorum(now_ms, &mut out);
        out
    }

    /// A notification from voter `from`. Looking: FLE's rules. Decided: a
    /// Looking sender is answered with my settled notification. Before the
    /// first `start`, and from non-voters or about non-voters: ignored.
    pub fn on_notification(&mut self, from: Sid, n: Notification, now_ms: u64) -> ElectionOutput {
        let mut out = ElectionOutput::default();
        if from == self.me || !self.voters.contains(&from) || !self.voters.contains(&n.vote.leader)
        {
            return out;
        }
        // A wait that ran out before this message arrived has already decided.
        if self.phase == Phase::Looking && self.finalize_at.is_some_and(|t| now_ms >= t) {
            self.decide(self.proposal, self.round, &mut out);
        }
        match self.phase {
            Phase::Idle => {}
            Phase::Decided(d) => {
                // Tell a looking peer where the ensemble is.
                if n.state == PeerState::Looking {
                    out.send.push((from, self.settled_notification(d.state)));
                }
            }
            Phase::Looking => {
                if n.state == PeerState::Looking {
                    self.on_looking(from, n, now_ms, &mut out);
                } else {
                    self.on_settled(from, n, &mut out);
                }
                self.check_quorum(now_ms, &mut out);
            }
        }
        out
    }

    /// Time passes: decide once the finalize wait has elapsed with no better
    /// vote; re-send my notification with exponential backoff between
    /// resend_min_ms and resend_max_ms while no decision.
    pub fn tick(&mut self, now_ms: u64) -> ElectionOutput {
        let mut out = ElectionOutput::default();
        if self.phase != Phase::Looking {
            return out;
        }
        if self.finalize_at.is_some_and(|t| now_ms >= t) {
            self.decide(self.proposal, self.round, &mut out);
        } else if now_ms >= self.resend_at {
            let ceiling = self.cfg.resend_max_ms.max(self.resend_floor());
            self.resend_interval = self.resend_interval.saturating_mul(2).min(ceiling);
            self.broadcast(now_ms, &mut out);
        }
        out
    }

    pub fn is_looking(&self) -> bool {
        self.phase == Phase::Looking
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    pub fn current_vote(&self) -> Vote {
        self.proposal
    }

    /// After deciding (or when a non-looking peer is asked): the notification a
    /// peer in `state` with this settled vote sends back to a Looking peer.
    pub fn settled_notification(&self, state: PeerState) -> Notification {
        Notification {
            vote: self.proposal,
            round: self.round,
            state,
        }
    }

    /// The leader I decided for established `epoch`. Looking peers hear that
    /// from me from now on, so every member of one ensemble names the same
    /// (leader, epoch), however and in whichever round each joined it — a late
    /// joiner needs a quorum of agreeing claims (ZOOKEEPER-1732's shape).
    pub fn established(&mut self, epoch: u32) {
        if let Phase::Decided(d) = &mut self.phase {
            d.vote.epoch = epoch;
            self.proposal.epoch = epoch;
        }
    }

    /// Decide as a test says, whatever was heard.
    #[cfg(test)]
    pub(super) fn force_for_test(&mut self, d: Decision) -> ElectionOutput {
        let mut out = ElectionOutput::default();
        self.decide(d.vote, d.round, &mut out);
        out
    }

    fn on_looking(&mut self, from: Sid, n: Notification, now_ms: u64, out: &mut ElectionOutput) {
        // It is looking, so it no longer backs any established leader.
        self.out_of_election.remove(&from);
        if self.finalize_at.is_some() {
            if n.vote > self.proposal {
                self.finalize_at = None;
            } else if n.round > self.round {
                // Not better: ZooKeeper's finalize poll swallows it. Once decided
                // we answer its resend with where the ensemble is.
                return;
            }
        }
        match n.round.cmp(&self.round) {
            Ordering::Less => {
                // It lags: pull it into my round, and only it.
                out.send.push((from, self.looking_notification()));
                return;
            }
            Ordering::Greater => {
                // A newer election: what I heard in mine is void, and my vote
                // starts over from the better of its vote and my own.
                self.round = n.round;
                self.votes.clear();
                self.set_proposal(n.vote.max(self.own));
                self.broadcast(now_ms, out);
            }
            Ordering::Equal => {
                if n.vote > self.proposal {
                    self.set_proposal(n.vote);
                    self.broadcast(now_ms, out);
                }
            }
        }
        self.votes.insert(
            from,
            Recorded {
                vote: n.vote,
                state: PeerState::Looking,
            },
        );
    }

    fn on_settled(&mut self, from: Sid, n: Notification, out: &mut ElectionOutput) {
        if self.finalize_at.is_some() && n.vote > self.proposal {
            self.finalize_at = None;
        }
        let rec = Recorded {
            vote: n.vote,
            state: n.state,
        };
        if n.round == self.round {
            self.votes.insert(from, rec);
            if self.has_quorum(self.votes.iter().map(|(s, r)| (*s, *r)), &rec)
                && self.leader_confirmed(n.vote.leader, n.round, |s| {
                    self.votes.get(&s).map(|r| r.state)
                })
            {
                self.decide(n.vote, n.round, out);
                return;
            }
        }
        // Kept across rounds: a peer that (re)starts late joins the ensemble
        // when a quorum already follows one confirmed leader.
        self.out_of_election.insert(from, rec);
        if self.has_quorum(self.out_of_election.iter().map(|(s, r)| (*s, *r)), &rec)
            && self.leader_confirmed(n.vote.leader, n.round, |s| {
                self.out_of_election.get(&s).map(|r| r.state)
            })
        {
            self.decide(n.vote, n.round, out);
        }
    }

    /// Arm the finalize wait when my vote has a quorum, disarm it when it lost
    /// one, and decide when the wait is already over (a zero wait).
    fn check_quorum(&mut self, now_ms: u64, out: &mut ElectionOutput) {
        if self.phase != Phase::Looking {
            return;
        }
        let mine = Recorded {
            vote: self.proposal,
            state: PeerState::Looking,
        };
        if self.has_quorum(self.votes.iter().map(|(s, r)| (*s, *r)), &mine) {
            let at = *self
                .finalize_at
                .get_or_insert(now_ms.saturating_add(self.cfg.finalize_wait_ms));
            if now_ms >= at {
                self.decide(self.proposal, self.round, out);
            }
        } else {
            self.finalize_at = None;
        }
    }

    /// A strict majority of voters recorded a vote agreeing with `reference`.
    fn has_quorum(
        &self,
        recorded: impl Iterator<Item = (Sid, Recorded)>,
        reference: &Recorded,
    ) -> bool {
        let agreeing = recorded
            .filter(|(sid, r)| self.voters.contains(sid) && r.agrees(reference))
            .count();
        agreeing * 2 > self.voters.len()
    }

    /// ZooKeeper's checkLeader: never follow a leader that has not said it leads
    /// (it may have crashed while the others still name it); lead myself only
    /// from my own round.
    fn leader_confirmed(
        &self,
        leader: Sid,
        round: u64,
        state_of: impl Fn(Sid) -> Option<PeerState>,
    ) -> bool {
        if leader == self.me {
            self.round == round
        } else {
            state_of(leader) == Some(PeerState::Leading)
        }
    }

    fn decide(&mut self, vote: Vote, round: u64, out: &mut ElectionOutput) {
        let state = if vote.leader == self.me {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        let d = Decision { vote, round, state };
        self.proposal = vote;
        self.round = round;
        self.finalize_at = None;
        self.phase = Phase::Decided(d);
        out.decided = Some(d);
    }

    fn set_proposal(&mut self, vote: Vote) {
        self.proposal = vote;
        // My own vote counts towards the quorum like anyone's.
        self.votes.insert(
            self.me,
            Recorded {
                vote,
                state: PeerState::Looking,
            },
        );
    }

    fn looking_notification(&self) -> Notification {
        Notification {
            vote: self.proposal,
            round: self.round,
            state: PeerState::Looking,
        }
    }

    fn broadcast(&mut self, now_ms: u64, out: &mut ElectionOutput) {
        let n = self.looking_notification();
        out.send.extend(
            self.voters
                .iter()
                .filter(|&&sid| sid != self.me)
                .map(|&sid| (sid, n)),
        );
        self.resend_at = now_ms.saturating_add(self.resend_interval);
    }

    fn resend_floor(&self) -> u64 {
        self.cfg.resend_min_ms.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: ElectionConfig = ElectionConfig {
        finalize_wait_ms: 200,
        resend_min_ms: 200,
        resend_max_ms: 2000,
    };

    fn voters(n: u64) -> BTreeSet<Sid> {
        (1..=n).collect()
    }

    fn vote(leader: Sid, epoch: u32, zxid: Zxid) -> Vote {
        Vote {
            leader,
            zxid,
            epoch,
        }
    }

    fn looking(v: Vote, round: u64) -> Notification {
        Notification {
            vote: v,
            round,
            state: PeerState::Looking,
        }
    }

    fn settled(v: Vote, round: u64, state: PeerState) -> Notification {
        Notification {
            vote: v,
            round,
            state,
        }
    }

    fn recipients(out: &ElectionOutput) -> Vec<Sid> {
        out.send.iter().map(|(to, _)| *to).collect()
    }

    // ---- the vote order -------------------------------------------------

    #[test]
    fn vote_order_is_total_and_uses_every_field() {
        // Exhaustive over a small domain: equal only when identical (the
        // ZOOKEEPER-1419 shape is two distinct votes neither of which wins),
        // antisymmetric and transitive.
        let mut all = Vec::new();
        for leader in 1..=3 {
            for epoch in 0..=2 {
                for zxid in [
                    Zxid::ZERO,
                    Zxid::new(1, 0),
                    Zxid::new(1, 5),
                    Zxid::new(2, 0),
                ] {
                    all.push(vote(leader, epoch, zxid));
                }
            }
        }
        for a in &all {
            for b in &all {
                assert_eq!(a.cmp(b) == Ordering::Equal, a == b, "{a:?} vs {b:?}");
                assert_eq!(a.cmp(b), b.cmp(a).reverse());
                for c in &all {
                    if a < b && b < c {
                        assert!(a < c);
                    }
                }
            }
        }
    }

    #[test]
    fn epoch_then_zxid_then_sid() {
        // A higher currentEpoch beats a higher zxid ...
        assert!(vote(1, 3, Zxid::new(2, 1)) > vote(2, 2, Zxid::new(2, 900)));
        // ... a higher zxid beats a higher sid ...
        assert!(vote(1, 2, Zxid::new(2, 8)) > vote(3, 2, Zxid::new(2, 7)));
        // ... and the sid breaks the remaining tie.
        assert!(vote(3, 2, Zxid::new(2, 7)) > vote(1, 2, Zxid::new(2, 7)));
    }

    // ---- one peer, by hand ----------------------------------------------

    #[test]
    fn start_votes_for_myself_and_tells_every_other_voter() {
        let mut e = Election::new(2, voters(3), CFG);
        assert!(!e.is_looking());
        let out = e.start(4, Zxid::new(4, 10), 0);
        assert!(e.is_looking());
        assert_eq!(e.round(), 1);
        let mine = vote(2, 4, Zxid::new(4, 10));
        assert_eq!(e.current_vote(), mine);
        assert_eq!(out.send, vec![(1, looking(mine, 1)), (3, looking(mine, 1))]);
        assert_eq!(out.decided, None);
        // Starting again is a new round.
        e.start(4, Zxid::new(4, 10), 5);
        assert_eq!(e.round(), 2);
    }

    #[test]
    fn a_lower_round_is_answered_to_that_peer_only() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(1, Zxid::new(1, 3), 0);
        e.start(1, Zxid::new(1, 3), 0);
        assert_eq!(e.round(), 2);
        let better = vote(4, 9, Zxid::new(9, 9));
        let out = e.on_notification(4, looking(better, 1), 10);
        // Only 4 hears from me, in my round with my vote, and my vote stands.
        assert_eq!(out.send, vec![(4, looking(vote(1, 1, Zxid::new(1, 3)), 2))]);
        assert_eq!(e.current_vote(), vote(1, 1, Zxid::new(1, 3)));
        assert_eq!(e.round(), 2);
    }

    #[test]
    fn a_higher_round_is_joined_with_the_better_of_its_vote_and_my_own() {
        let mine = vote(1, 2, Zxid::new(2, 5));
        // Its vote is worse than mine: I move to its round but keep my vote.
        let mut e = Election::new(1, voters(3), CFG);
        e.start(2, Zxid::new(2, 5), 0);
        let out = e.on_notification(2, looking(vote(2, 2, Zxid::new(2, 1)), 7), 1);
        assert_eq!(e.round(), 7);
        assert_eq!(e.current_vote(), mine);
        assert_eq!(out.send, vec![(2, looking(mine, 7)), (3, looking(mine, 7))]);

        // Its vote is better: I move to its round and adopt it.
        let mut e = Election::new(1, voters(3), CFG);
        e.start(2, Zxid::new(2, 5), 0);
        let theirs = vote(3, 3, Zxid::new(3, 0));
        let out = e.on_notification(2, looking(theirs, 7), 1);
        assert_eq!(e.round(), 7);
        assert_eq!(e.current_vote(), theirs);
        assert_eq!(recipients(&out), vec![2, 3]);
    }

    #[test]
    fn a_higher_round_resets_to_my_own_vote_not_the_one_i_adopted() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(1, Zxid::new(1, 1), 0);
        e.on_notification(5, looking(vote(5, 9, Zxid::new(9, 0)), 1), 1);
        assert_eq!(e.current_vote().leader, 5);
        // In round 2 nobody has vouched for 5 yet.
        e.on_notification(2, looking(vote(2, 1, Zxid::new(1, 0)), 2), 2);
        assert_eq!(e.current_vote(), vote(1, 1, Zxid::new(1, 1)));
    }

    #[test]
    fn same_round_better_vote_is_adopted_and_worse_is_only_recorded() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(1, Zxid::new(1, 5), 0);
        let worse = vote(2, 1, Zxid::new(1, 4));
        let out = e.on_notification(2, looking(worse, 1), 1);
        assert!(out.send.is_empty());
        let better = vote(3, 1, Zxid::new(1, 6));
        let out = e.on_notification(3, looking(better, 1), 2);
        assert_eq!(e.current_vote(), better);
        assert_eq!(recipients(&out), vec![2, 3, 4, 5]);
    }

    #[test]
    fn a_quorum_decides_after_the_finalize_wait() {
        // Three voters: my vote plus one more is a quorum.
        let mut e = Election::new(3, voters(3), CFG);
        e.start(1, Zxid::new(1, 9), 0);
        let mine = e.current_vote();
        let out = e.on_notification(1, looking(mine, 1), 10);
        assert_eq!(out.decided, None);
        assert_eq!(e.tick(209).decided, None);
        let out = e.tick(210);
        assert_eq!(
            out.decided,
            Some(Decision {
                vote: mine,
                round: 1,
                state: PeerState::Leading
            })
        );
        assert!(!e.is_looking());
        // Decided peers stay quiet on ticks.
        assert_eq!(e.tick(10_000), ElectionOutput::default());
    }

    #[test]
    fn a_better_vote_during_the_finalize_wait_keeps_me_looking() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(1, Zxid::new(1, 1), 0);
        let four = vote(4, 1, Zxid::new(1, 2));
        e.on_notification(4, looking(four, 1), 1);
        e.on_notification(2, looking(four, 1), 2);
        // Me, 2 and 4 vote for 4: quorum of five, the wait runs until 202.
        let five = vote(5, 1, Zxid::new(1, 2));
        let out = e.on_notification(5, looking(five, 1), 100);
        assert_eq!(e.current_vote(), five);
        assert_eq!(recipients(&out), vec![2, 3, 4, 5]);
        assert_eq!(e.tick(202).decided, None);
        assert!(e.is_looking());
        // Once 5's vote has its quorum, a fresh wait decides for it.
        e.on_notification(2, looking(five, 1), 150);
        assert_eq!(e.tick(349).decided, None);
        assert_eq!(e.tick(350).decided.map(|d| d.vote), Some(five));
    }

    #[test]
    fn a_worse_higher_round_during_the_finalize_wait_is_swallowed() {
        let mut e = Election::new(3, voters(3), CFG);
        e.start(1, Zxid::new(1, 9), 0);
        let mine = e.current_vote();
        e.on_notification(1, looking(mine, 1), 1);
        let out = e.on_notification(2, looking(vote(2, 1, Zxid::new(1, 0)), 5), 50);
        assert!(out.send.is_empty());
        assert_eq!(e.round(), 1);
        assert!(e.tick(201).decided.is_some());
        // Its resend now gets the settled answer.
        let out = e.on_notification(2, looking(vote(2, 1, Zxid::new(1, 0)), 5), 400);
        assert_eq!(out.send, vec![(2, settled(mine, 1, PeerState::Leading))]);
    }

    #[test]
    fn a_notification_after_the_deadline_finds_me_decided() {
        let mut e = Election::new(3, voters(3), CFG);
        e.start(1, Zxid::new(1, 9), 0);
        let mine = e.current_vote();
        e.on_notification(1, looking(mine, 1), 0);
        // No tick came at 200; the message at 250 arrives after the wait ended.
        let out = e.on_notification(2, looking(vote(2, 1, Zxid::new(1, 0)), 1), 250);
        assert_eq!(out.decided.map(|d| d.state), Some(PeerState::Leading));
        assert_eq!(out.send, vec![(2, settled(mine, 1, PeerState::Leading))]);
    }

    #[test]
    fn a_single_voter_elects_itself() {
        let mut e = Election::new(7, [7].into(), CFG);
        let out = e.start(0, Zxid::ZERO, 0);
        assert!(out.send.is_empty());
        assert_eq!(e.tick(199).decided, None);
        assert_eq!(
            e.tick(200).decided.map(|d| d.state),
            Some(PeerState::Leading)
        );
    }

    #[test]
    fn a_zero_finalize_wait_decides_at_once() {
        let cfg = ElectionConfig {
            finalize_wait_ms: 0,
            ..CFG
        };
        let mut e = Election::new(2, voters(3), cfg);
        e.start(1, Zxid::ZERO, 0);
        let three = vote(3, 1, Zxid::ZERO);
        let out = e.on_notification(3, looking(three, 1), 1);
        assert_eq!(out.decided.map(|d| d.vote), Some(three));
    }

    #[test]
    fn in_round_settled_votes_decide_at_once_only_with_the_leader_confirmed() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(1, Zxid::new(1, 1), 0);
        let five = vote(5, 2, Zxid::new(2, 0));
        // Two followers of 5 in my round: no word from 5 itself yet.
        assert_eq!(
            e.on_notification(2, settled(five, 1, PeerState::Following), 1)
                .decided,
            None
        );
        assert_eq!(
            e.on_notification(3, settled(five, 1, PeerState::Following), 2)
                .decided,
            None
        );
        // 5 says it leads: 2, 3 and 5 are a quorum of five, no finalize wait.
        let out = e.on_notification(5, settled(five, 1, PeerState::Leading), 3);
        assert_eq!(
            out.decided,
            Some(Decision {
                vote: five,
                round: 1,
                state: PeerState::Following
            })
        );
        assert_eq!(
            e.settled_notification(PeerState::Following),
            settled(five, 1, PeerState::Following)
        );
    }

    /// Two followers of leader 3 decided in different rounds, with votes of
    /// different epochs (one joined an older leadership of 3 and was synced
    /// into the new one). Once both tell the epoch 3 established, a late
    /// joiner sees a quorum; before, it never would (ZOOKEEPER-1732's shape).
    #[test]
    fn settled_votes_carry_the_established_epoch() {
        let round_of = |e: &mut Election, v: Vote, round: u64| {
            e.start(0, Zxid::ZERO, 0);
            e.decide(v, round, &mut ElectionOutput::default());
        };
        let mut old = Election::new(1, voters(5), CFG);
        round_of(&mut old, vote(3, 2, Zxid::ZERO), 4);
        let mut new = Election::new(2, voters(5), CFG);
        round_of(&mut new, vote(3, 3, Zxid::ZERO), 7);
        let joiner = |a: Notification, b: Notification| {
            let mut e = Election::new(4, voters(5), CFG);
            e.start(0, Zxid::ZERO, 0);
            e.on_notification(1, a, 1);
            e.on_notification(2, b, 1);
            let leader = settled(vote(3, 5, Zxid::ZERO), 8, PeerState::Leading);
            e.on_notification(3, leader, 1).decided
        };
        let (a, b) = (
            old.settled_notification(PeerState::Following),
            new.settled_notification(PeerState::Following),
        );
        assert_eq!(joiner(a, b), None, "old and new votes do not agree");
        old.established(5);
        new.established(5);
        let (a, b) = (
            old.settled_notification(PeerState::Following),
            new.settled_notification(PeerState::Following),
        );
        assert!(joiner(a, b).is_some_and(|d| d.vote.leader == 3));
    }

    #[test]
    fn a_late_peer_joins_the_established_leader_out_of_election() {
        // I restarted (round 1); the ensemble settled on 3 in round 6, even
        // though my own vote is better.
        let mut e = Election::new(1, voters(5), CFG);
        e.start(9, Zxid::new(9, 9), 0);
        let three = vote(3, 4, Zxid::new(4, 2));
        // Followers that joined later carry other zxids and rounds, but the
        // same leader and epoch: they count.
        let joined_later = vote(3, 4, Zxid::new(4, 7));
        let joined_last = vote(3, 4, Zxid::new(4, 8));
        let out = e.on_notification(2, settled(three, 6, PeerState::Following), 1);
        assert_eq!(out.decided, None);
        let out = e.on_notification(4, settled(joined_later, 8, PeerState::Following), 2);
        assert_eq!(out.decided, None);
        // Three of five follow 3 but 3 has not spoken: stay looking.
        let out = e.on_notification(5, settled(joined_last, 9, PeerState::Following), 3);
        assert_eq!(out.decided, None);
        let out = e.on_notification(3, settled(three, 6, PeerState::Leading), 4);
        assert_eq!(
            out.decided,
            Some(Decision {
                vote: three,
                round: 6,
                state: PeerState::Following
            })
        );
        assert_eq!(e.round(), 6);
    }

    #[test]
    fn half_of_an_even_ensemble_is_not_a_quorum() {
        let mut e = Election::new(4, voters(4), CFG);
        e.start(1, Zxid::new(1, 1), 0);
        let mine = e.current_vote();
        e.on_notification(3, looking(mine, 1), 1);
        assert_eq!(e.tick(1_000).decided, None);
        e.on_notification(2, looking(mine, 1), 1_001);
        assert_eq!(e.tick(1_200).decided, None);
        assert_eq!(e.tick(1_201).decided.map(|d| d.vote), Some(mine));
    }

    #[test]
    fn votes_from_an_old_round_do_not_count_in_a_new_one() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(1, Zxid::new(1, 1), 0);
        let five = vote(5, 2, Zxid::new(2, 0));
        e.on_notification(2, looking(five, 1), 1);
        // Round 2 begins: 2's round-1 vote is void, so me and 4 are not three.
        e.on_notification(4, looking(five, 2), 2);
        assert_eq!(e.current_vote(), five);
        assert_eq!(e.tick(1_000).decided, None);
        assert!(e.is_looking());
    }

    #[test]
    fn a_peer_that_looks_again_no_longer_counts_as_following() {
        let mut e = Election::new(1, voters(5), CFG);
        e.start(0, Zxid::ZERO, 0);
        let three = vote(3, 4, Zxid::new(4, 2));
        e.on_notification(3, settled(three, 6, PeerState::Leading), 1);
        e.on_notification(2, settled(three, 6, PeerState::Following), 2);
        // 2 is looking now: its old claim is gone, so 4 alone does not make 3.
        e.on_notification(2, looking(vote(2, 0, Zxid::ZERO), 1), 3);
        let out = e.on_notification(4, settled(three, 6, PeerState::Following), 4);
        assert_eq!(out.decided, None);
        assert!(e.is_looking());
    }

    #[test]
    fn decided_peers_answer_looking_peers_and_nobody_else() {
        let mut e = Election::new(3, voters(3), CFG);
        e.start(1, Zxid::new(1, 9), 0);
        let mine = e.current_vote();
        e.on_notification(2, looking(mine, 1), 0);
        e.tick(200);
        let out = e.on_notification(1, looking(vote(1, 0, Zxid::ZERO), 1), 300);
        assert_eq!(out.send, vec![(1, settled(mine, 1, PeerState::Leading))]);
        let out = e.on_notification(2, settled(mine, 1, PeerState::Following), 301);
        assert_eq!(out, ElectionOutput::default());
    }

    #[test]
    fn strangers_and_votes_for_strangers_are_ignored() {
        let mut e = Election::new(1, voters(3), CFG);
        e.start(1, Zxid::ZERO, 0);
        let before = e.clone();
        let strong = vote(9, 99, Zxid::new(99, 0));
        assert_eq!(
            e.on_notification(9, looking(strong, 50), 1),
            ElectionOutput::default()
        );
        assert_eq!(
            e.on_notification(2, looking(strong, 50), 1),
            ElectionOutput::default()
        );
        assert_eq!(
            e.on_notification(1, looking(vote(1, 5, Zxid::ZERO), 50), 1),
            ElectionOutput::default()
        );
        assert_eq!(e.round(), before.round());
        assert_eq!(e.current_vote(), before.current_vote());
        // Before start there is nothing to say at all.
        let mut idle = Election::new(1, voters(3), CFG);
        assert_eq!(
            idle.on_notification(2, looking(strong, 1), 0),
            ElectionOutput::default()
        );
        assert_eq!(idle.tick(10_000), ElectionOutput::default());
    }

    #[test]
    fn resends_back_off_exponentially_up_to_the_ceiling() {
        let mut e = Election::new(1, voters(3), CFG);
        e.start(1, Zxid::ZERO, 0);
        let mut at = Vec::new();
        for now in 1..=12_000 {
            let out = e.tick(now);
            if !out.send.is_empty() {
                assert_eq!(recipients(&out), vec![2, 3]);
                at.push(now);
            }
        }
        assert_eq!(at, vec![200, 600, 1400, 3000, 5000, 7000, 9000, 11000]);
    }

    // ---- a cluster over a fake network ----------------------------------

    /// xorshift64: deterministic drops and delays.
    struct XorShift(u64);

    impl XorShift {
        fn new(seed: u64) -> Self {
            XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// How long after a peer decided ZAB gives up on a leader that is not
    /// leading a quorum (ZooKeeper's initLimit/syncLimit, roughly).
    const ZAB_TIMEOUT_MS: u64 = 2_000;

    /// N peers, a message queue ordered by delivery time, a 1 ms clock, and a
    /// crude model of what ZAB does after the election: a follower whose leader
    /// is not leading, or a leader without a quorum of followers, looks again
    /// after `ZAB_TIMEOUT_MS`.
    struct Cluster {
        now: u64,
        voters: BTreeSet<Sid>,
        creds: BTreeMap<Sid, (u32, Zxid)>,
        /// Running peers; a crashed peer is absent and loses its messages.
        peers: BTreeMap<Sid, Election>,
        decisions: BTreeMap<Sid, (Decision, u64)>,
        queue: BTreeMap<(u64, u64), (Sid, Sid, Notification)>,
        seq: u64,
        /// Some: drop per mille and maximum delay (so reordering).
        lossy: Option<(XorShift, u64, u64)>,
        reelections: u64,
    }

    impl Cluster {
        /// Peers `1..=creds.len()` with (currentEpoch, lastZxid); none started.
        fn new(creds: &[(u32, Zxid)]) -> Self {
            let voters: BTreeSet<Sid> = (1..=creds.len() as Sid).collect();
            Cluster {
                now: 0,
                peers: voters
                    .iter()
                    .map(|&s| (s, Election::new(s, voters.clone(), CFG)))
                    .collect(),
                creds: voters.iter().copied().zip(creds.iter().copied()).collect(),
                voters,
                decisions: BTreeMap::new(),
                queue: BTreeMap::new(),
                seq: 0,
                lossy: None,
                reelections: 0,
            }
        }

        fn uniform(n: u64) -> Self {
            Self::new(&vec![(1, Zxid::new(1, 0)); n as usize])
        }

        fn start(&mut self, sid: Sid) {
            let (epoch, zxid) = self.creds[&sid];
            let peer = self
                .peers
                .entry(sid)
                .or_insert_with(|| Election::new(sid, self.voters.clone(), CFG));
            let out = peer.start(epoch, zxid, self.now);
            self.decisions.remove(&sid);
            self.apply(sid, out);
        }

        fn start_all(&mut self) {
            for sid in self.voters.clone() {
                self.start(sid);
            }
        }

        fn crash(&mut self, sid: Sid) {
            self.peers.remove(&sid);
            self.decisions.remove(&sid);
        }

        /// A crashed peer comes back with fresh in-memory state, as a process does.
        fn restart(&mut self, sid: Sid) {
            self.peers
                .insert(sid, Election::new(sid, self.voters.clone(), CFG));
            self.start(sid);
        }

        fn apply(&mut self, from: Sid, out: ElectionOutput) {
            for (to, n) in out.send {
                let delay = match &mut self.lossy {
                    None => 1,
                    Some((rng, drop, max_delay)) => {
                        if rng.below(1000) < *drop {
                            continue;
                        }
                        1 + rng.below(*max_delay)
                    }
                };
                self.seq += 1;
                self.queue
                    .insert((self.now + delay, self.seq), (from, to, n));
            }
            if let Some(d) = out.decided {
                self.decisions.insert(from, (d, self.now));
            }
        }

        fn step(&mut self) {
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let (from, to, n) = entry.remove();
                if let Some(peer) = self.peers.get_mut(&to) {
                    let out = peer.on_notification(from, n, self.now);
                    self.apply(to, out);
                }
            }
            for sid in self.peers.keys().copied().collect::<Vec<_>>() {
                let out = self.peers.get_mut(&sid).unwrap().tick(self.now);
                self.apply(sid, out);
            }
            self.zab();
            self.now += 1;
        }

        /// Whether ZAB could establish what this peer decided.
        fn holds(&self, sid: Sid) -> bool {
            let Some((d, _)) = self.decisions.get(&sid) else {
                return false;
            };
            match d.state {
                PeerState::Leading => {
                    let backers = self
                        .decisions
                        .values()
                        .filter(|(o, _)| o.vote.leader == sid)
                        .count();
                    backers * 2 > self.voters.len()
                }
                _ => self
                    .decisions
                    .get(&d.vote.leader)
                    .is_some_and(|(l, _)| l.state == PeerState::Leading),
            }
        }

        fn zab(&mut self) {
            let give_up: Vec<Sid> = self
                .decisions
                .iter()
                .filter(|&(&sid, &(_, at))| self.now >= at + ZAB_TIMEOUT_MS && !self.holds(sid))
                .map(|(&sid, _)| sid)
                .collect();
            for sid in give_up {
                self.reelections += 1;
                self.start(sid);
            }
        }

        fn settled(&self) -> bool {
            self.peers.keys().all(|&sid| self.holds(sid))
        }

        /// Run until every running peer is settled under one leader; that leader.
        fn run_until_settled(&mut self, limit_ms: u64) -> Option<Sid> {
            let end = self.now + limit_ms;
            while self.now < end {
                self.step();
                if self.settled() {
                    let leaders: BTreeSet<Sid> = self
                        .decisions
                        .values()
                        .map(|(d, _)| d.vote.leader)
                        .collect();
                    assert_eq!(leaders.len(), 1, "split brain: {:?}", self.decisions);
                    return leaders.first().copied();
                }
            }
            None
        }

        fn run_for(&mut self, ms: u64) {
            for _ in 0..ms {
                self.step();
            }
        }
    }

    /// All peers start at once on a clean network; the one with the highest
    /// (epoch, zxid, sid) must lead and everyone must agree, first time round.
    fn elects(creds: &[(u32, Zxid)]) -> Sid {
        let mut c = Cluster::new(creds);
        c.start_all();
        let leader = c.run_until_settled(5_000).expect("no leader");
        assert_eq!(c.reelections, 0);
        let best = c.voters.iter().copied().max_by_key(|s| {
            let (e, z) = c.creds[s];
            vote(*s, e, z)
        });
        assert_eq!(Some(leader), best);
        for (d, _) in c.decisions.values() {
            assert_eq!(d.round, 1);
        }
        leader
    }

    #[test]
    fn three_five_and_seven_voters_elect_the_highest_sid_when_logs_are_equal() {
        for n in [3, 5, 7] {
            let c = Cluster::uniform(n);
            assert_eq!(elects(&c.creds.values().copied().collect::<Vec<_>>()), n);
        }
    }

    #[test]
    fn a_higher_zxid_beats_a_higher_sid() {
        let z = |c| Zxid::new(3, c);
        assert_eq!(elects(&[(3, z(5)), (3, z(9)), (3, z(2))]), 2);
        assert_eq!(
            elects(&[(3, z(5)), (3, z(9)), (3, z(9)), (3, z(10)), (3, z(1))]),
            4
        );
    }

    #[test]
    fn a_higher_epoch_beats_a_higher_zxid() {
        // Peer 2 accepted epoch 4 but logged nothing in it yet; 5 has more
        // transactions from epoch 3 in its log.
        let creds = [
            (3, Zxid::new(3, 1)),
            (4, Zxid::new(3, 2)),
            (3, Zxid::new(3, 8)),
            (3, Zxid::new(3, 8)),
            (3, Zxid::new(3, 9)),
            (3, Zxid::new(3, 7)),
            (3, Zxid::new(3, 3)),
        ];
        assert_eq!(elects(&creds), 2);
    }

    #[test]
    fn staggered_starts_still_agree() {
        let mut c = Cluster::uniform(5);
        for sid in [2, 5, 1, 4, 3] {
            c.start(sid);
            c.run_for(17);
        }
        assert_eq!(c.run_until_settled(5_000), Some(5));
        assert_eq!(c.reelections, 0);
    }

    #[test]
    fn a_minority_never_decides_and_the_rest_is_joined_on_arrival() {
        let mut c = Cluster::uniform(5);
        c.crash(3);
        c.crash(4);
        c.crash(5);
        c.start(1);
        c.start(2);
        c.run_for(30_000);
        assert!(c.decisions.is_empty());
        assert!(c.peers.values().all(|p| p.is_looking()));
        // A third voter makes a majority.
        c.restart(3);
        assert_eq!(c.run_until_settled(10_000), Some(3));
        c.restart(4);
        c.restart(5);
        // 4 and 5 join 3: they do not unseat it, though 5 has the higher sid.
        assert_eq!(c.run_until_settled(10_000), Some(3));
        assert_eq!(c.reelections, 0);
    }

    #[test]
    fn a_restarted_peer_joins_the_existing_leader_out_of_election() {
        // 5 leads round 1; it crashes; the rest elect 4 in a later round; 5
        // comes back with a fresh round 1 and the best log, and follows 4.
        let mut c = Cluster::uniform(5);
        c.creds.insert(5, (1, Zxid::new(1, 50)));
        c.start_all();
        assert_eq!(c.run_until_settled(5_000), Some(5));
        c.crash(5);
        assert_eq!(c.run_until_settled(20_000), Some(4));
        let round = c.decisions[&4].0.round;
        assert!(round > 1);
        let before = c.reelections;
        c.restart(5);
        assert_eq!(c.peers[&5].round(), 1);
        assert_eq!(c.run_until_settled(5_000), Some(4));
        let (d, _) = c.decisions[&5];
        assert_eq!(d.state, PeerState::Following);
        // It adopted the ensemble's round: the out-of-election path.
        assert_eq!(d.round, round);
        assert_eq!(c.reelections, before);
    }

    #[test]
    fn drops_and_reordering_still_converge_once_delivery_resumes() {
        let mut settled_only_after_resume = 0;
        for n in [3, 5, 7] {
            for seed in 0..24 {
                let mut c = Cluster::uniform(n);
                // Mixed logs so the best peer is not just the highest sid.
                let mut rng = XorShift::new(seed ^ 0xE1EC);
                for sid in 1..=n {
                    let epoch = 1 + rng.below(2) as u32;
                    c.creds
                        .insert(sid, (epoch, Zxid::new(epoch, rng.below(4) as u32)));
                }
                // Lose 40%, 80% or 97% of messages, delay each by up to 300 ms
                // so that they overtake one another.
                let drop = [400, 800, 970][seed as usize % 3];
                c.lossy = Some((XorShift::new(seed), drop, 300));
                c.start_all();
                c.run_for(8_000);
                if !c.settled() {
                    settled_only_after_resume += 1;
                }
                c.lossy = None;
                let leader = c.run_until_settled(60_000);
                assert!(leader.is_some(), "n={n} seed={seed}: no leader");
                assert_eq!(c.decisions.len(), n as usize, "n={n} seed={seed}");
            }
        }
        // The heavy-loss runs must really have waited for delivery to resume.
        assert!(
            settled_only_after_resume >= 10,
            "{settled_only_after_resume}"
        );
    }
}
