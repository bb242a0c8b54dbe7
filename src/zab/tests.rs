//! Transcript-style tests of the ZAB core: peers wired by an in-memory pump
//! (FIFO per link, persistence assumed immediate), no runtime involved.

use super::db::Db;
use super::msg::PeerMsg;
use super::peer::{Peer, PeerConfig};
use super::ready::{PersistOp, ZabEvent};
use super::txn::{Request, Txn, TxnBody};
use crate::proto::{CreateMode, WriteOp};
use crate::types::{Sid, Zxid};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

struct Pump {
    peers: BTreeMap<Sid, Peer>,
    queue: VecDeque<(Sid, Sid, PeerMsg)>,
    down: BTreeSet<Sid>,
    now: u64,
    events: Vec<(Sid, ZabEvent)>,
    persisted: BTreeMap<Sid, Vec<PersistOp>>,
}

impl Pump {
    fn new(n: u64) -> Pump {
        let voters: BTreeSet<Sid> = (1..=n).collect();
        let peers = voters
            .iter()
            .map(|&sid| {
                (
                    sid,
                    Peer::new(PeerConfig::new(sid, voters.clone()), 0, 0, Db::empty(), 0),
                )
            })
            .collect();
        let mut p = Pump {
            peers,
            queue: VecDeque::new(),
            down: BTreeSet::new(),
            now: 0,
            events: vec![],
            persisted: BTreeMap::new(),
        };
        p.collect();
        p
    }

    fn collect(&mut self) {
        for (&sid, peer) in self.peers.iter_mut() {
            let r = peer.take_ready();
            self.events.extend(r.events.into_iter().map(|e| (sid, e)));
            self.persisted.entry(sid).or_default().extend(r.persist);
            if r.snapshot_due {
                let snap = peer.take_snapshot();
                self.persisted.entry(sid).or_default().push(snap);
            }
            for (to, m) in r.send.into_iter().chain(r.send_after_persist) {
                self.queue.push_back((sid, to, m));
            }
            peer.persisted(r.log_mark);
        }
        // Persistence may release ACKs and commits.
        if self.peers.values().any(|p| p.has_ready()) {
            self.collect();
        }
    }

    /// Deliver messages and advance time in 10 ms steps for `ms`.
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            while let Some((from, to, m)) = self.queue.pop_front() {
                if self.down.contains(&from) || self.down.contains(&to) {
                    continue;
                }
                self.peers.get_mut(&to).unwrap().on_message(from, m);
                self.collect();
            }
            self.now += 10;
            for (sid, p) in self.peers.iter_mut() {
                if !self.down.contains(sid) {
                    p.tick(self.now);
                }
            }
            self.collect();
        }
    }

    fn leader(&self) -> Option<Sid> {
        self.peers
            .iter()
            .find(|(sid, p)| {
                !self.down.contains(sid) && p.is_serving() && p.leader() == Some(**sid)
            })
            .map(|(s, _)| *s)
    }

    fn write(&mut self, sid: Sid, cxid: u64, path: &str) {
        let req = Request {
            session: 0,
            cxid,
            body: TxnBody::Write {
                op: WriteOp::Create {
                    path: path.into(),
                    data: Some(vec![]),
                    mode: CreateMode::Persistent,
                    acl: None,
                },
                ids: None,
            },
        };
        self.peers.get_mut(&sid).unwrap().submit(req).unwrap();
        self.collect();
    }
}

#[test]
fn three_peers_elect_the_highest_sid_and_commit_in_order() {
    let mut p = Pump::new(3);
    p.run(2000);
    assert_eq!(p.leader(), Some(3));
    assert!(p.events.contains(&(
        3,
        ZabEvent::Established {
            epoch: 1,
            zxid: Zxid::ZERO
        }
    )));
    for i in 0..5 {
        p.write(1 + (i % 3), i, &format!("/n{i}"));
    }
    p.run(500);
    for peer in p.peers.values() {
        assert_eq!(peer.db().applied, Zxid::new(1, 5));
        assert_eq!(peer.db().tree.node_count(), 9);
    }
    let digests: BTreeSet<u64> = p.peers.values().map(|x| x.db().tree.digest()).collect();
    assert_eq!(digests.len(), 1);
}

#[test]
fn a_new_leader_is_elected_after_the_leader_dies_and_keeps_history() {
    let mut p = Pump::new(3);
    p.run(2000);
    p.write(1, 1, "/a");
    p.run(200);
    p.down.insert(3);
    for sid in [1, 2] {
        p.peers.get_mut(&sid).unwrap().on_peer_down(3);
    }
    p.collect();
    p.run(3000);
    assert_eq!(p.leader(), Some(2));
    let l = &p.peers[&2];
    assert_eq!(l.epochs(), (2, 2));
    assert_eq!(l.db().applied, Zxid::new(1, 1), "the committed /a survives");
    p.write(1, 2, "/b");
    p.run(200);
    assert_eq!(p.peers[&1].db().applied, Zxid::new(2, 1));
}

#[test]
fn follower_acks_newleader_only_after_synced_txns_and_epoch_are_persisted() {
    let mut p = Pump::new(3);
    p.run(2000);
    p.write(3, 1, "/a");
    p.run(200);
    // Peer 1 restarts empty-handed except for its log: drive it through a sync.
    let log: Vec<Txn> = p.peers[&1].db().log.iter().map(|t| Txn::clone(t)).collect();
    let voters: BTreeSet<Sid> = (1..=3).collect();
    let db = Db::recover(None, log[..0].to_vec()).unwrap();
    // It had accepted epoch 1 but crashed before making it current.
    p.peers
        .insert(1, Peer::new(PeerConfig::new(1, voters), 1, 0, db, p.now));
    for sid in [2, 3] {
        p.peers.get_mut(&sid).unwrap().on_peer_down(1);
    }
    p.persisted.clear();
    p.collect();
    p.run(3000);
    let ops = &p.persisted[&1];
    let append = ops
        .iter()
        .position(|o| matches!(o, PersistOp::Append(t) if t.zxid == Zxid::new(1, 1)));
    let epoch = ops
        .iter()
        .position(|o| matches!(o, PersistOp::Epochs { current: 1, .. }));
    assert!(append.is_some() && epoch.is_some(), "{ops:?}");
    assert!(
        append < epoch,
        "txns must be durable before currentEpoch: {ops:?}"
    );
    assert_eq!(p.peers[&1].db().applied, Zxid::new(1, 1));
}

/// A log of no-op txns at these (epoch, counter) zxids.
pub(super) fn db_with(zxids: &[(u32, u32)]) -> Db {
    let log = zxids
        .iter()
        .map(|&(e, c)| Txn {
            zxid: Zxid::new(e, c),
            session: 0,
            cxid: 0,
            time_ms: 0,
            body: TxnBody::Sync,
        })
        .collect();
    Db::recover(None, log).unwrap()
}

#[test]
fn sync_plan_picks_diff_trunc_or_snap() {
    let voters: BTreeSet<Sid> = (1..=3).collect();
    let db = db_with(&[(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]);
    let peer = Peer::new(PeerConfig::new(1, voters), 2, 2, db, 0);
    // Follower has a prefix: DIFF of the rest.
    let plan = peer.sync_plan_for_test(Zxid::new(1, 2));
    assert_eq!(plan.mode(), "DIFF");
    assert_eq!(plan.txns.len(), 3);
    // Follower is up to date: empty DIFF.
    assert!(peer.sync_plan_for_test(Zxid::new(2, 2)).txns.is_empty());
    // Follower logged (1,4),(1,5) that never committed: TRUNC to (1,3), then DIFF.
    let plan = peer.sync_plan_for_test(Zxid::new(1, 5));
    assert_eq!((plan.mode(), plan.trunc), ("TRUNC", Some(Zxid::new(1, 3))));
    assert_eq!(plan.txns.first().map(|t| t.zxid), Some(Zxid::new(2, 1)));
    // Follower's divergent txn is in an epoch we skipped: TRUNC would cross an
    // epoch, so SNAP.
    let db = db_with(&[(1, 1), (3, 1)]);
    let peer = Peer::new(PeerConfig::new(1, (1..=3).collect()), 3, 3, db, 0);
    assert_eq!(peer.sync_plan_for_test(Zxid::new(2, 4)).mode(), "SNAP");
}

/// A SNAP is the last snapshot and the log after it: the bytes the base
/// already has, nothing serialized while the core steps.
#[test]
fn snap_sends_the_base_snapshot_and_the_log_after_it() {
    let mut db = db_with(&[(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]);
    db.apply_upto(Zxid::new(1, 3), &mut Vec::new());
    db.compact();
    db.apply_upto(Zxid::new(1, 5), &mut Vec::new());
    let base = db.base_state.clone();
    let peer = Peer::new(PeerConfig::new(1, (1..=3).collect()), 1, 1, db, 0);
    let plan = peer.sync_plan_for_test(Zxid::ZERO);
    assert_eq!(plan.mode(), "SNAP");
    let (zxid, state) = plan.snap.expect("a snapshot");
    assert_eq!(zxid, Zxid::new(1, 3));
    assert!(std::sync::Arc::ptr_eq(&state, &base));
    let txns: Vec<Zxid> = plan.txns.iter().map(|t| t.zxid).collect();
    assert_eq!(txns, [Zxid::new(1, 4), Zxid::new(1, 5)]);
}

/// Every `snap_count` applied txns the core asks for a snapshot; the driver
/// takes it (`take_snapshot`), after that batch's own persistence.
#[test]
fn the_core_asks_for_snapshots_and_the_driver_takes_them() {
    let mut p = Pump::new(3);
    for peer in p.peers.values_mut() {
        peer.set_snap_count_for_test(2);
    }
    p.run(2000);
    let leader = p.leader().expect("a leader");
    for cxid in 1..=5 {
        let req = Request {
            session: 0,
            cxid,
            body: TxnBody::Sync,
        };
        p.peers.get_mut(&leader).unwrap().submit(req).unwrap();
        p.collect();
        p.run(200);
    }
    for (sid, ops) in &p.persisted {
        let snaps: Vec<Zxid> = ops
            .iter()
            .filter_map(|o| match o {
                PersistOp::Snapshot { zxid, .. } => Some(*zxid),
                _ => None,
            })
            .collect();
        assert!(snaps.len() >= 2, "server {sid}: {snaps:?}");
        assert_eq!(p.peers[sid].db().base_zxid, *snaps.last().unwrap());
    }
}

#[test]
fn zxid_counter_exhaustion_forces_a_new_epoch() {
    let mut p = Pump::new(1);
    p.run(1000);
    assert_eq!(p.leader(), Some(1));
    // Pretend a long epoch: the leader's last zxid sits at the counter's end.
    let txn = Txn {
        zxid: Zxid::new(1, u32::MAX),
        session: 0,
        cxid: 0,
        time_ms: 0,
        body: TxnBody::Sync,
    };
    let db = Db::recover(None, vec![txn]).unwrap();
    p.peers.insert(
        1,
        Peer::new(PeerConfig::new(1, [1].into()), 1, 1, db, p.now),
    );
    p.collect();
    p.run(1000);
    assert_eq!(p.leader(), Some(1));
    assert_eq!(p.peers[&1].epochs().1, 2, "re-election moved to epoch 2");
    p.write(1, 1, "/x");
    p.run(100);
    assert_eq!(p.peers[&1].db().applied, Zxid::new(2, 1));
}

#[test]
fn a_restarted_peer_with_an_older_epoch_joins_the_established_leader() {
    let mut p = Pump::new(3);
    p.run(2000);
    p.write(3, 1, "/a");
    p.run(200);
    // Peer 1 goes down; 3 dies too; 2 and 1 form epoch 2... simpler: restart 1
    // with a stale epoch after the others moved on.
    p.down.insert(1);
    p.down.insert(3);
    p.peers.get_mut(&2).unwrap().on_peer_down(3);
    p.collect();
    p.run(500);
    p.down.remove(&3);
    let voters: BTreeSet<Sid> = (1..=3).collect();
    p.peers.insert(
        3,
        Peer::new(PeerConfig::new(3, voters.clone()), 1, 1, Db::empty(), p.now),
    );
    p.collect();
    p.run(3000);
    let leader = p.leader().expect("2 and 3 elect");
    let epoch = p.peers[&leader].epochs().1;
    assert!(epoch >= 2);
    p.down.remove(&1);
    p.peers.insert(
        1,
        Peer::new(PeerConfig::new(1, voters), 1, 1, Db::empty(), p.now),
    );
    p.collect();
    p.run(3000);
    assert!(
        p.peers[&1].is_serving(),
        "1 joined: {:?}",
        p.peers[&1].state()
    );
}

#[test]
fn a_proposal_never_overtakes_the_sync_of_the_same_follower() {
    let mut p = Pump::new(3);
    p.run(2000);
    let leader = p.leader().unwrap();
    let l = p.peers.get_mut(&leader).unwrap();
    // Follower 1 re-joins: its ACKEPOCH and a client write land in one batch.
    l.on_message(
        1,
        PeerMsg::FollowerInfo {
            accepted_epoch: 1,
            last_zxid: Zxid::ZERO,
        },
    );
    l.on_message(
        1,
        PeerMsg::AckEpoch {
            epoch: l.epochs().1,
            current_epoch: 1,
            last_zxid: Zxid::ZERO,
            counts: true,
        },
    );
    let req = Request {
        session: 0,
        cxid: 9,
        body: TxnBody::Sync,
    };
    l.submit(req).unwrap();
    let ready = l.take_ready();
    let to_1: Vec<&PeerMsg> = ready
        .send
        .iter()
        .chain(ready.send_after_persist.iter())
        .filter(|(to, _)| *to == 1)
        .map(|(_, m)| m)
        .collect();
    let sync = to_1
        .iter()
        .position(|m| matches!(m, PeerMsg::Sync(_)))
        .expect("sync sent");
    let proposal = to_1
        .iter()
        .position(|m| matches!(m, PeerMsg::Proposal(_)))
        .expect("proposal sent");
    assert!(sync < proposal, "{to_1:?}");
    assert!(
        !ready.send.iter().any(|(to, _)| *to == 1),
        "nothing to 1 may leave before the persist"
    );
}

/// A request of a connection the session has left (delayed on its old
/// link) is refused once a reconnect is fenced, whatever its xid: ZooKeeper
/// clients restart their xids at 1 on every connection.
#[test]
fn a_request_from_a_connection_the_session_left_is_refused() {
    use crate::proto::{ErrorCode, OpResult};
    use crate::zab::txn::client_cxid;
    let mut db = Db::empty();
    let txn = |zxid: u32, session: u64, cxid: u64, body: TxnBody| Txn {
        zxid: Zxid::new(1, zxid),
        session,
        cxid,
        time_ms: 0,
        body,
    };
    let create = |path: &str| TxnBody::Write {
        op: WriteOp::Create {
            path: path.into(),
            data: Some(vec![]),
            mode: CreateMode::Persistent,
            acl: None,
        },
        ids: None,
    };
    db.append(txn(1, 7, 0, TxnBody::CreateSession { timeout_ms: 1000 }).into());
    db.append(txn(2, 7, client_cxid(1, 5), create("/first")).into());
    // The client reconnects: the server's fence moves the session on.
    db.append(txn(3, 7, 0, TxnBody::Sync).into());
    // Its xids start again at 1 on the new connection.
    db.append(txn(4, 7, client_cxid(2, 1), create("/next")).into());
    // The old connection's xid-6 request, delayed on a link it has left.
    db.append(txn(5, 7, client_cxid(1, 6), create("/late")).into());
    let mut out = Vec::new();
    db.apply_upto(Zxid::new(1, 5), &mut out);
    assert!(out[1].result.is_ok());
    assert_eq!(out[2].result, Ok(OpResult::Attached { generation: 2 }));
    assert!(out[3].result.is_ok(), "{:?}", out[3].result);
    assert_eq!(out[4].result, Err(ErrorCode::SessionMoved));
    assert_eq!(db.tree.node_count(), 6, "/late was not created");
    // The owner survives a snapshot (a SNAP-synced follower agrees).
    let mut db2 = Db::recover(Some((db.applied, db.state())), vec![]).unwrap();
    db2.append(txn(6, 7, client_cxid(1, 7), create("/old")).into());
    db2.append(txn(7, 7, client_cxid(2, 2), create("/new")).into());
    db2.append(txn(8, 7, client_cxid(1, 8), TxnBody::CloseSession).into());
    let mut out = Vec::new();
    db2.apply_upto(Zxid::new(1, 8), &mut out);
    assert_eq!(out[0].result, Err(ErrorCode::SessionMoved));
    assert!(out[1].result.is_ok());
    // A close needs no owner, as in ZooKeeper: the session ends.
    assert_eq!(out[2].result, Ok(OpResult::SessionClosed));
    assert!(!db2.tree.sessions().contains_key(&7));
}

/// Coverage lists every step-down reason: none in the code is missing.
#[test]
fn every_step_down_reason_is_listed() {
    let src = include_str!("peer.rs");
    let mut found = 0;
    for part in src.split("go_looking(Some(\"").skip(1) {
        let reason = part.split('"').next().unwrap();
        assert!(
            super::peer::STEP_DOWN_REASONS.contains(&reason),
            "{reason:?} is not in STEP_DOWN_REASONS"
        );
        found += 1;
    }
    assert!(found >= super::peer::STEP_DOWN_REASONS.len());
}

#[test]
fn the_leader_commits_once_a_quorum_has_a_txn_and_not_before() {
    let mut p = Pump::new(5);
    p.run(2000);
    assert_eq!(p.leader(), Some(5));
    // Messages to and from 1 and 2 are lost: the leader, 3 and 4 remain.
    p.down.extend([1, 2]);
    p.write(5, 1, "/a");
    p.run(100);
    assert_eq!(p.peers[&5].db().applied, Zxid::new(1, 1), "three of five");
    p.down.insert(3);
    p.write(5, 2, "/b");
    p.run(100);
    assert_eq!(p.peers[&5].db().applied, Zxid::new(1, 1), "two of five");
    assert_eq!(p.peers[&4].db().log.len(), 2, "4 has /b but no commit");
    assert_eq!(p.peers[&4].db().applied, Zxid::new(1, 1));
}
