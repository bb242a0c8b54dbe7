//! Hand-driven transcripts of the ZAB core: each test decides who leads, which
//! message is delivered, held or lost, and when time passes — the interleavings
//! the outside campaigns found, replayed step by step without a runtime.

use super::db::Db;
use super::msg::PeerMsg;
use super::peer::{Peer, PeerConfig};
use super::ready::{PersistOp, ZabEvent};
use super::tests::db_with;
use super::txn::{Request, TxnBody};
use crate::types::{Sid, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// Peers and the messages between them; nothing moves unless a test says so.
/// Persistence completes at once (each `collect` reports the batch durable).
struct Net {
    peers: BTreeMap<Sid, Peer>,
    /// In send order; per link this is FIFO.
    queue: Vec<(Sid, Sid, PeerMsg)>,
    events: Vec<(Sid, ZabEvent)>,
    persisted: BTreeMap<Sid, Vec<PersistOp>>,
    /// Peers whose disk has not finished: their batches are not yet durable.
    slow_disk: BTreeSet<Sid>,
    now: u64,
}

impl Net {
    fn new(n: u64) -> Net {
        Net::with(n, |_| (0, 0, Db::empty()))
    }

    /// Peers 1..=n, each recovered from `(accepted, current, db)`.
    fn with(n: u64, state: impl Fn(Sid) -> (u32, u32, Db)) -> Net {
        let voters: BTreeSet<Sid> = (1..=n).collect();
        let peers = voters
            .iter()
            .map(|&sid| {
                let (acc, cur, db) = state(sid);
                let cfg = PeerConfig::new(sid, voters.clone());
                (sid, Peer::new(cfg, acc, cur, db, 0))
            })
            .collect();
        let mut net = Net {
            peers,
            queue: vec![],
            events: vec![],
            persisted: BTreeMap::new(),
            slow_disk: BTreeSet::new(),
            now: 0,
        };
        net.collect();
        // Election traffic is not what these transcripts are about.
        net.queue.clear();
        net
    }

    fn peer(&mut self, sid: Sid) -> &mut Peer {
        self.peers.get_mut(&sid).expect("a voter")
    }

    fn collect(&mut self) {
        for (&sid, peer) in self.peers.iter_mut() {
            let r = peer.take_ready();
            self.events.extend(r.events.into_iter().map(|e| (sid, e)));
            let mark = r.log_mark;
            self.persisted.entry(sid).or_default().extend(r.persist);
            for (to, m) in r.send.into_iter().chain(r.send_after_persist) {
                self.queue.push((sid, to, m));
            }
            if !self.slow_disk.contains(&sid) {
                peer.persisted(mark);
            }
        }
        // `persisted` may have produced more (ACKs, commits).
        if self.peers.values().any(|p| p.has_ready()) {
            self.collect();
        }
    }

    /// The election outcome, as a test wants it: `sid` decides for `leader`.
    fn decide(&mut self, sid: Sid, leader: Sid) {
        self.peer(sid).decide_for_test(leader);
        self.collect();
    }

    /// Deliver every queued message from `from` to `to`, in order.
    fn deliver(&mut self, from: Sid, to: Sid) {
        while let Some(i) = self.queue.iter().position(|m| m.0 == from && m.1 == to) {
            let (_, _, msg) = self.queue.remove(i);
            self.peer(to).on_message(from, msg);
            self.collect();
        }
    }

    /// Let `leader` and each of `followers` answer each other until the
    /// handshake settles (a few rounds of FIFO delivery both ways).
    fn exchange(&mut self, leader: Sid, followers: &[Sid]) {
        for _ in 0..4 {
            for &f in followers {
                self.deliver(f, leader);
                self.deliver(leader, f);
            }
        }
    }

    /// Lose what is queued on one link (a connection that was replaced).
    fn lose(&mut self, from: Sid, to: Sid) {
        self.queue.retain(|m| !(m.0 == from && m.1 == to));
    }

    /// Let `ms` pass for the given peers only.
    fn tick(&mut self, sids: &[Sid], ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 10;
            for sid in sids {
                let now = self.now;
                self.peer(*sid).tick(now);
            }
            self.collect();
        }
    }

    fn established(&self, epoch: u32) -> Vec<Sid> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, ZabEvent::Established { epoch: x, .. } if *x == epoch))
            .map(|(s, _)| *s)
            .collect()
    }

    fn queued(&self, from: Sid, to: Sid) -> Vec<&PeerMsg> {
        self.queue
            .iter()
            .filter(|m| m.0 == from && m.1 == to)
            .map(|m| &m.2)
            .collect()
    }

    fn write(&mut self, leader: Sid, cxid: u64) {
        let req = Request {
            session: 0,
            cxid,
            body: TxnBody::Sync,
        };
        self.peer(leader).submit(req).expect("serving");
        self.collect();
    }
}

/// ZooKeeper's learner answers a LEADERINFO whose epoch equals its
/// acceptedEpoch with an ACKEPOCH the leader does not count: it already vouched
/// for that epoch, maybe to another leader. Here voter 3 moves between would-be
/// leaders 4 and 5, which both propose epoch 1.
#[test]
fn one_voter_never_vouches_for_one_epoch_to_two_leaders() {
    let mut net = Net::new(5);
    // 4 hears FOLLOWERINFO from 2 and 3 and proposes epoch 1; 2 acks it.
    net.decide(4, 4);
    net.decide(2, 4);
    net.decide(3, 4);
    net.deliver(2, 4);
    net.deliver(3, 4);
    net.deliver(4, 2);
    net.deliver(2, 4);
    net.lose(4, 3); // 3 has not seen 4's LEADERINFO yet.
                    // 3 moves to 5, which proposes epoch 1 too; 1 and 3 ack it.
    net.decide(5, 5);
    net.decide(1, 5);
    net.decide(3, 5);
    for f in [1, 3] {
        net.deliver(f, 5);
    }
    for f in [1, 3] {
        net.deliver(5, f);
        net.deliver(f, 5);
    }
    assert_eq!(net.peers[&3].epochs(), (1, 0), "3 accepted epoch 1 from 5");
    net.lose(5, 3);
    net.deliver(5, 1);
    net.deliver(1, 5); // 5 is one NEWLEADER ACK short.
                       // 3 goes back to 4, then once more to 5.
    for leader in [4, 5] {
        net.decide(3, leader);
        net.exchange(leader, &[2, 3]);
    }
    assert!(
        net.established(1).len() <= 1,
        "two leaders established epoch 1: {:?}",
        net.established(1)
    );
    assert_eq!(net.established(1), vec![5], "5 has 1 and 3 behind it");
}

/// Leader 3 in epoch 2; follower 1 holds an uncommitted 1:3 the leader never
/// had, so it is synced with TRUNC to 1:2. Its ACKEPOCH resend (sent before the
/// sync arrived) reaches the leader after the sync was applied and a new
/// proposal logged; a second plan computed from that stale tip must not be
/// applied over what the follower holds now.
#[test]
fn a_resent_ackepoch_never_makes_a_follower_truncate_what_it_acked() {
    let mut net = Net::with(3, |sid| match sid {
        1 => (1, 1, db_with(&[(1, 1), (1, 2), (1, 3)])),
        _ => (1, 1, db_with(&[(1, 1), (1, 2)])),
    });
    net.decide(3, 3);
    net.decide(2, 3);
    net.exchange(3, &[2]);
    assert_eq!(net.established(2), vec![3]);
    net.decide(1, 3);
    net.deliver(1, 3); // FOLLOWERINFO
    net.deliver(3, 1); // LEADERINFO 2
    net.deliver(1, 3); // ACKEPOCH(1, 1:3): TRUNC to 1:2 planned
    assert!(matches!(
        net.queued(3, 1)[..],
        [PeerMsg::Sync(_), PeerMsg::NewLeader { .. }]
    ));
    // The sync is slow; 1 resends its ACKEPOCH meanwhile.
    net.tick(&[1], 500);
    assert!(matches!(net.queued(1, 3)[..], [PeerMsg::AckEpoch { .. }]));
    net.write(3, 1); // 2:1, forwarded to the syncing learner
    net.deliver(3, 1); // Sync, NEWLEADER, PROPOSAL 2:1
    assert_eq!(net.peers[&1].last_logged(), Zxid::new(2, 1));
    net.tick(&[3], 200); // the resend arrives late
    net.deliver(1, 3);
    net.deliver(3, 1);
    let truncs: Vec<Zxid> = net
        .events
        .iter()
        .filter_map(|(s, e)| match e {
            ZabEvent::Truncated { to, .. } if *s == 1 => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        truncs,
        vec![Zxid::new(1, 2)],
        "one TRUNC, before 2:1 was logged"
    );
    // The event says what the log held before: the history judges from it.
    let cut = ZabEvent::Truncated {
        from: Zxid::new(1, 3),
        to: Zxid::new(1, 2),
    };
    assert!(net.events.contains(&(1, cut)));
    assert_eq!(net.peers[&1].last_logged(), Zxid::new(2, 1));
}

/// A Sync and NEWLEADER lost with a replaced connection: the follower must not
/// log a new-epoch PROPOSAL before any sync was applied, and the re-sync that
/// follows must leave no hole.
#[test]
fn a_follower_never_logs_a_proposal_before_its_sync() {
    let mut net = Net::with(3, |sid| match sid {
        1 => (1, 1, db_with(&[(1, 1)])),
        _ => (1, 1, db_with(&[(1, 1), (1, 2)])),
    });
    net.decide(3, 3);
    net.decide(2, 3);
    net.exchange(3, &[2]);
    net.decide(1, 3);
    net.deliver(1, 3);
    net.deliver(3, 1);
    net.deliver(1, 3); // ACKEPOCH(1, 1:1): DIFF 1:2
    net.lose(3, 1); // Sync + NEWLEADER gone with the connection
    net.write(3, 1); // 2:1 reaches 1 on the new connection
    net.deliver(3, 1);
    assert_eq!(
        net.peers[&1].last_logged(),
        Zxid::new(1, 1),
        "a proposal before the sync would leave 1:2 out"
    );
    assert!(net.queued(1, 3).is_empty(), "no ACK for an unsynced log");
    // The resend brings a fresh sync; the follower ends with the whole history.
    net.tick(&[1, 3], 700);
    net.exchange(3, &[1]);
    let zxids: Vec<Zxid> = net.peers[&1].db().log.iter().map(|t| t.zxid).collect();
    assert_eq!(
        zxids,
        vec![Zxid::new(1, 1), Zxid::new(1, 2), Zxid::new(2, 1)]
    );
    assert!(net.peers[&1].is_serving());
}

/// A learner that promised a newer epoch to a leader that never got
/// established is refused (it goes back to the election); the established
/// leader keeps leading.
#[test]
fn a_straggler_with_a_newer_accepted_epoch_does_not_depose_the_leader() {
    let mut net = Net::new(3);
    net.decide(3, 3);
    net.decide(2, 3);
    net.exchange(3, &[2]);
    assert_eq!(net.established(1), vec![3]);
    // 1 accepted epoch 5 from a would-be leader that never made it.
    net.peers.insert(
        1,
        Peer::new(PeerConfig::new(1, (1..=3).collect()), 5, 0, Db::empty(), 0),
    );
    net.queue.clear();
    net.decide(1, 3);
    net.deliver(1, 3);
    assert!(net.peers[&3].is_serving(), "the leader stepped down");
    net.deliver(3, 1);
    assert!(!net.peers[&1].is_serving());
    assert_eq!(net.peers[&1].leader(), None, "1 looks again");
}

/// After the NEWLEADER quorum a leader commits only what is durable on its
/// own disk: it learns that from `persisted`, not from having asked.
#[test]
fn the_leader_counts_its_own_ack_only_once_persisted() {
    let mut net = Net::new(3);
    net.decide(3, 3);
    net.decide(2, 3);
    net.exchange(3, &[2]);
    // A proposal: the follower ACKs it, but the leader's fsync is still running.
    net.slow_disk.insert(3);
    net.write(3, 1);
    net.deliver(3, 2);
    net.deliver(2, 3); // ACK 1:1 from 2
    assert_eq!(
        net.peers[&3].db().applied,
        Zxid::ZERO,
        "committed with one durable copy of three"
    );
    net.slow_disk.clear();
    net.collect();
    assert_eq!(net.peers[&3].db().applied, Zxid::new(1, 1));
}

/// Leader 4 establishes epoch 1 with 1 and 2; `vouched` accepted epoch 2 from
/// would-be leader 5 (or proposed it itself, as 5) before 5 gave up.
fn leader_4_in_epoch_1(net: &mut Net) {
    net.decide(4, 4);
    net.decide(1, 4);
    net.decide(2, 4);
    net.exchange(4, &[1, 2]);
    assert_eq!(net.established(1), vec![4]);
}

/// A follower that accepted epoch 2 from a would-be leader that then gave
/// up is refused by the leader established in epoch 1 — until it sees the
/// would-be leader in a later election round: then nobody relies on its
/// promise, it takes it back, and joins.
#[test]
fn a_promise_to_a_leader_that_gave_up_is_taken_back() {
    let mut net = Net::with(5, |sid| match sid {
        3 | 5 => (1, 0, Db::empty()),
        _ => (0, 0, Db::empty()),
    });
    net.decide(5, 5);
    net.decide(1, 5);
    net.decide(3, 5);
    net.deliver(1, 5);
    net.deliver(3, 5); // 5 proposes epoch 2
    net.lose(5, 1);
    net.deliver(5, 3);
    assert_eq!(net.peers[&3].epochs().0, 2);
    net.tick(&[5], 2100); // no quorum within initLimit: 5 looks again
    net.queue.retain(|m| m.0 != 5 || m.1 == 3);
    leader_4_in_epoch_1(&mut net);
    net.decide(3, 4);
    net.deliver(3, 4);
    net.deliver(4, 3);
    assert_eq!(net.peers[&3].leader(), None, "refused: 2 is above epoch 1");
    assert!(net.peers[&4].is_serving(), "the leader stays");
    net.deliver(5, 3); // 5's notification from its next round
    assert_eq!(
        net.peers[&3].epochs().0,
        1,
        "the promise to 5 is taken back"
    );
    net.decide(3, 4);
    net.exchange(4, &[3]);
    assert!(net.peers[&3].is_serving());
}

/// The same for the would-be leader itself: giving up its leadership
/// releases the epoch it accepted from itself.
#[test]
fn a_would_be_leader_that_gives_up_takes_its_epoch_back() {
    let mut net = Net::with(5, |sid| match sid {
        5 => (1, 0, Db::empty()),
        _ => (0, 0, Db::empty()),
    });
    net.decide(5, 5);
    net.decide(1, 5);
    net.decide(3, 5);
    net.deliver(1, 5);
    net.deliver(3, 5);
    assert_eq!(net.peers[&5].epochs().0, 2);
    net.queue.clear(); // its LEADERINFOs are lost
    net.tick(&[5], 2100);
    assert_eq!(net.peers[&5].epochs().0, 1);
    net.queue.clear();
    leader_4_in_epoch_1(&mut net);
    net.decide(5, 4);
    net.exchange(4, &[5]);
    assert!(net.peers[&5].is_serving());
}

/// But a would-be leader that got past discovery made the epoch current (its
/// NEWLEADER may be out there): the promise stays, so the epoch number is
/// never used for a second history.
#[test]
fn a_promise_to_a_leader_that_reached_sync_is_kept() {
    let mut net = Net::new(5);
    net.decide(5, 5);
    net.decide(1, 5);
    net.decide(3, 5);
    net.deliver(1, 5);
    net.deliver(3, 5);
    for f in [1, 3] {
        net.deliver(5, f);
        net.deliver(f, 5);
    }
    assert_eq!(net.peers[&5].epochs(), (1, 1), "5 is in sync with epoch 1");
    net.lose(5, 1);
    net.lose(5, 3); // its Sync and NEWLEADER
    net.tick(&[5], 2100);
    net.deliver(5, 3); // its notification from its next round
    assert_eq!(net.peers[&3].epochs(), (1, 0), "the promise to 5 stays");
}

/// Two servers that each decided to follow the other keep resending
/// FOLLOWERINFO to each other; that is no sign of a leader, and both give up
/// within initLimit.
#[test]
fn followers_of_each_other_both_give_up() {
    let mut net = Net::new(3);
    net.decide(2, 3);
    net.decide(3, 2);
    for _ in 0..25 {
        net.tick(&[2, 3], 100);
        net.deliver(2, 3);
        net.deliver(3, 2);
    }
    for sid in [2, 3] {
        assert!(
            net.events.contains(&(
                sid,
                ZabEvent::SteppedDown {
                    reason: "leader silent"
                }
            )),
            "{sid} still waits for a leader that follows it"
        );
    }
}

/// A follower that decides a moment before its leader: its FOLLOWERINFO
/// reaches the leader while that one is still looking. ZooKeeper's leader
/// finds such a learner's connection waiting in its accept backlog; here the
/// message is kept, and taken once the server leads — else, with an
/// initLimit no longer than the resend interval, the handshake never
/// completes and the ensemble re-elects forever (a `zkstorm fuzz` find).
#[test]
fn a_followerinfo_that_arrives_before_its_leader_decides_is_kept() {
    let mut net = Net::new(3);
    net.decide(2, 3);
    net.decide(1, 3);
    net.deliver(2, 3); // 3 is still looking
    net.deliver(1, 3);
    net.decide(3, 3);
    assert!(
        net.queued(3, 2)
            .iter()
            .any(|m| matches!(m, PeerMsg::LeaderInfo { .. })),
        "the early FOLLOWERINFO was dropped"
    );
    net.exchange(3, &[1, 2]);
    assert_eq!(net.established(1), vec![3]);
}

/// Found by `zkstorm fuzz --liveness 1s` (seed 18): a leader that steps
/// down in discovery goes on voting LOOKING in a later round, and its
/// followers waited out initLimit before they noticed. A stepped-down
/// ZooKeeper leader closes its learners' sockets, so they look at once;
/// here the leader's own LOOKING notification of a later round says it.
#[test]
fn followers_leave_a_leader_that_is_looking_again() {
    let mut net = Net::new(5);
    net.decide(5, 5);
    net.decide(1, 5);
    net.deliver(1, 5);
    net.lose(5, 1);
    // 5 hears from no one else and gives up: no quorum in discovery.
    net.tick(&[5], 20_000);
    assert!(
        net.events
            .iter()
            .any(|(s, e)| *s == 5 && matches!(e, ZabEvent::Looking { .. })),
        "the leader never gave up"
    );
    assert!(
        net.queued(5, 1)
            .iter()
            .any(|m| matches!(m, PeerMsg::Vote { .. })),
        "no LOOKING notification to 1"
    );
    net.deliver(5, 1);
    assert!(
        net.events
            .iter()
            .any(|(s, e)| *s == 1 && matches!(e, ZabEvent::SteppedDown { .. })),
        "1 still follows a leader that is looking: {:?}",
        net.events
            .iter()
            .filter(|(s, _)| *s == 1)
            .collect::<Vec<_>>()
    );
}

/// Leader 3 re-syncs follower 1 on a stale ACKEPOCH resend while 1's ACK of
/// the first NEWLEADER is on its way: that ACK answers the first NEWLEADER,
/// not the second, which 1 has not seen. The leader must not take it as the
/// answer to the re-sync (1 would be sent UPTODATE, and a history would
/// credit it with txns it never logged — seed 520 of the ack-durable repro).
/// Leader 3 with 2; follower 1 joins and answers NEWLEADER(a) after a
/// resent ACKEPOCH; the leader's log grows; the stale ACKEPOCH re-syncs 1
/// to NEWLEADER(b), and then 1's ACK(a) arrives. Returns a's zxid.
fn resync_crossing_an_ack_of_newleader(net: &mut Net) -> Zxid {
    net.decide(3, 3);
    net.decide(2, 3);
    net.exchange(3, &[2]);
    net.decide(1, 3);
    net.deliver(1, 3); // FOLLOWERINFO
    net.deliver(3, 1); // LEADERINFO
    net.deliver(1, 3); // ACKEPOCH: Sync + NEWLEADER(a)
    net.tick(&[1], 500); // 1 resends its ACKEPOCH
    net.deliver(3, 1); // 1 takes NEWLEADER(a) and answers it
    let first = match net.queued(1, 3)[..] {
        [PeerMsg::AckEpoch { .. }, PeerMsg::AckNewLeader { zxid, .. }] => *zxid,
        ref other => panic!("expected ACKEPOCH then ACKNEWLEADER, got {other:?}"),
    };
    net.write(3, 1); // the leader's log grows past NEWLEADER(a)
    net.tick(&[3], 200);
    net.deliver(1, 3); // the stale ACKEPOCH re-syncs; then ACKNEWLEADER(a)
    first
}

#[test]
fn an_ack_of_an_earlier_newleader_does_not_answer_a_re_sync() {
    let mut net = Net::new(3);
    let first = resync_crossing_an_ack_of_newleader(&mut net);
    let second = net.queued(3, 1).iter().find_map(|m| match m {
        PeerMsg::NewLeader { zxid, .. } => Some(*zxid),
        _ => None,
    });
    assert!(second > Some(first), "a re-sync to a newer NEWLEADER");
    assert!(
        !net.queued(3, 1)
            .iter()
            .any(|m| matches!(m, PeerMsg::UpToDate { .. })),
        "UPTODATE on an ACK of the earlier NEWLEADER"
    );
    net.deliver(3, 1);
    net.deliver(1, 3);
    assert!(net
        .queued(3, 1)
        .iter()
        .any(|m| matches!(m, PeerMsg::UpToDate { .. })));
}

/// Fuzz seed 4108 (`converged`): as above, a stale ACKEPOCH re-syncs
/// follower 1 to NEWLEADER(b) while its ACK of NEWLEADER(a) is in flight —
/// and the re-sync is lost with a replaced connection. 1 only ever resends
/// ACK(a); a leader that ignored those forever left 1 out of the ensemble
/// for good. Once the re-sync may have been lost, an ACK(a) gets a new one.
#[test]
fn a_lost_re_sync_is_repeated_for_a_resent_ack_of_the_earlier_newleader() {
    let mut net = Net::new(3);
    resync_crossing_an_ack_of_newleader(&mut net);
    // The re-sync to b is lost with a replaced connection.
    net.queue.retain(|(f, t, m)| {
        !(*f == 3 && *t == 1 && matches!(m, PeerMsg::Sync(_) | PeerMsg::NewLeader { .. }))
    });
    for _ in 0..80 {
        net.tick(&[1, 2, 3], 50);
        for f in [1, 2] {
            net.deliver(f, 3);
            net.deliver(3, f);
        }
    }
    assert!(
        net.peers[&1].is_serving(),
        "1 stuck in sync: the leader ignores its resent ACK of the earlier NEWLEADER"
    );
}
