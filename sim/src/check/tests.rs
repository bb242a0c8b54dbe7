//! Each checker against hand-made histories: a correct one it accepts and
//! broken ones it rejects, naming what broke.

use super::testkit::*;
use super::{check_key, run, run_all, CheckOptions, Family, KeyOp, KeyOpKind, KeyOutcome};
use super::{Node, Verdict};
use super::{CHECKS, STEP_LIMIT};
use crate::history::{Call, ClientStatus, Event, Ret};
use zkstorm::types::SessionId;

// ------------------------------------------------------------------ zab

/// Three servers; leader 1 (epoch 1) commits two txns, server 3 lags; 1
/// crashes; 2 leads epoch 2 from 1's history; 1 recovers from a snapshot and
/// catches up.
fn zab_good() -> H {
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2, 3])
        .commit(1, z(1, 2), &[1, 2])
        .fault("crash 1")
        .established(2, 2, z(1, 2))
        .delivered(3, z(1, 2), z(1, 2))
        .commit(2, z(2, 1), &[2, 3])
        .recovered(1, z(1, 1), z(1, 2))
        .delivered(1, z(1, 2), z(1, 2))
        .delivered(1, z(2, 1), z(2, 1));
    h
}

const ZAB: &[&str] = &[
    "zab.integrity",
    "zab.total_order",
    "zab.agreement",
    "zab.local_primary_order",
    "zab.global_primary_order",
    "zab.primary_integrity",
    "zab.prefix_consistency",
    "zab.single_leader_per_epoch",
    "zab.durability",
    "zab.ack_durable",
    "zab.epoch_durable",
];

#[test]
fn zab_checks_accept_a_correct_history() {
    let h = zab_good();
    for check in ZAB {
        assert_eq!(h.verdict(check), Ok(()), "{check}");
    }
}

#[test]
fn integrity_rejects_a_txn_nobody_proposed_or_changed_on_the_way() {
    let mut h = zab_good();
    h.delivered(2, z(2, 2), 7);
    assert_fails(h.verdict("zab.integrity"), "which no leader proposed");

    let mut h = zab_good();
    h.proposed(2, z(2, 2), 5).delivered(2, z(2, 2), 6);
    assert_fails(h.verdict("zab.integrity"), "but server 2 proposed");
}

/// Server 3 vouches for epoch 2 to would-be leader 4 and then to 5:
/// fine only if it took the first promise back in between; and it must not
/// recover with an acceptedEpoch below a promise it still holds.
#[test]
fn epoch_promises_reject_one_epoch_vouched_to_two_leaders() {
    use crate::history::Event;
    use zkstorm::zab::ready::ZabEvent;
    let promise = |h: &mut H, leader: u64| {
        h.push(Event::Promised {
            sid: 3,
            leader,
            epoch: 2,
        });
    };
    let recovered = |h: &mut H, accepted_epoch: u32| {
        h.push(Event::Recovered {
            sid: 3,
            accepted_epoch,
            current_epoch: 1,
            base: 0,
            last_zxid: 0,
            torn_bytes: 0,
        });
    };
    let mut h = zab_good();
    promise(&mut h, 4);
    promise(&mut h, 4); // a resend
    recovered(&mut h, 2);
    assert_eq!(h.verdict("zab.epoch_promises"), Ok(()));
    promise(&mut h, 5);
    assert_fails(
        h.verdict("zab.epoch_promises"),
        "vouched for epoch 2 to server 4",
    );
    // Taken back (4 gave up in discovery): 5 may have it, and a restart
    // may come back below it.
    let mut h = zab_good();
    promise(&mut h, 4);
    h.push(Event::Zab {
        sid: 3,
        event: ZabEvent::PromiseReleased { to: 4, epoch: 2 },
    });
    recovered(&mut h, 1);
    promise(&mut h, 5);
    assert_eq!(h.verdict("zab.epoch_promises"), Ok(()));
    recovered(&mut h, 1);
    assert_fails(
        h.verdict("zab.epoch_promises"),
        "vouched for epoch 2 to server 5 at 21 ms, but recovered at 22 ms with acceptedEpoch 1",
    );
}

#[test]
fn ack_durable_rejects_a_server_that_recovers_short_of_its_acks() {
    use crate::history::{Event, NodeChange};
    let crash = |h: &mut H, through: u64| {
        h.push(Event::Acked { sid: 3, through }).push(Event::Node {
            sid: 3,
            change: NodeChange::PowerLost,
        });
    };
    // Acknowledged 1:3, recovered with 1:3: held.
    let mut h = zab_good();
    crash(&mut h, z(1, 3));
    h.recovered(3, z(1, 1), z(1, 3));
    assert_eq!(h.verdict("zab.ack_durable"), Ok(()));
    // Recovered with 1:2 only: the ACK of 1:3 was a lie.
    let mut h = zab_good();
    crash(&mut h, z(1, 3));
    h.recovered(3, z(1, 1), z(1, 2));
    assert_fails(
        h.verdict("zab.ack_durable"),
        "server 3 had acknowledged up to 0x100000003",
    );
    // Only the recovery after that crash is judged.
    let mut h = zab_good();
    crash(&mut h, z(1, 3));
    h.recovered(3, z(1, 1), z(1, 3))
        .recovered(3, z(1, 1), z(1, 1));
    assert_eq!(h.verdict("zab.ack_durable"), Ok(()));
}

#[test]
fn epoch_durable_rejects_an_epoch_without_its_history() {
    use crate::history::Event;
    use zkstorm::types::Zxid;
    use zkstorm::zab::ready::ZabEvent;
    let adopt = |h: &mut H, zxid: u64| {
        h.push(Event::Zab {
            sid: 3,
            event: ZabEvent::EpochAdopted {
                epoch: 2,
                zxid: Zxid(zxid),
            },
        });
    };
    let recovered = |h: &mut H, epoch: u32, last: u64| {
        h.push(Event::Recovered {
            sid: 3,
            accepted_epoch: epoch,
            current_epoch: epoch,
            base: 0,
            last_zxid: last,
            torn_bytes: 0,
        });
    };
    // Took epoch 2 at 1:3, recovered with epoch 2 and 1:3: held.
    let mut h = zab_good();
    adopt(&mut h, z(1, 3));
    recovered(&mut h, 2, z(1, 3));
    assert_eq!(h.verdict("zab.epoch_durable"), Ok(()));
    // Recovered with epoch 2 but only 1:2: the epoch vouches for a history
    // the server does not have.
    let mut h = zab_good();
    adopt(&mut h, z(1, 3));
    recovered(&mut h, 2, z(1, 2));
    assert_fails(h.verdict("zab.epoch_durable"), "took epoch 2");
    // A TRUNC the protocol chose afterwards lowers what is owed.
    let mut h = zab_good();
    adopt(&mut h, z(1, 3));
    h.push(Event::Truncated {
        sid: 3,
        to: z(1, 2),
        logged: z(1, 3),
    });
    recovered(&mut h, 2, z(1, 2));
    assert_eq!(h.verdict("zab.epoch_durable"), Ok(()));
    // Recovered with an older epoch: nothing was promised.
    let mut h = zab_good();
    adopt(&mut h, z(1, 3));
    recovered(&mut h, 1, z(1, 1));
    assert_eq!(h.verdict("zab.epoch_durable"), Ok(()));
}

#[test]
fn total_order_rejects_a_skipped_txn() {
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2, 3])
        .commit(1, z(1, 2), &[1, 2])
        .commit(1, z(1, 3), &[1, 2, 3]);
    assert_fails(h.verdict("zab.total_order"), "skipping 0x100000002");
}

#[test]
fn total_order_rejects_a_txn_delivered_out_of_order() {
    let mut h = H::new();
    h.established(1, 1, 0)
        .proposed(1, z(1, 1), 1)
        .proposed(1, z(1, 2), 2)
        .delivered(1, z(1, 1), 1)
        .delivered(1, z(1, 2), 2)
        .delivered(2, z(1, 2), 2)
        .delivered(2, z(1, 1), 1);
    assert_fails(
        h.verdict("zab.total_order"),
        "delivered 0x100000001 after 0x100000002",
    );
}

#[test]
fn agreement_rejects_two_txns_at_one_zxid() {
    let mut h = zab_good();
    h.delivered(3, z(2, 2), 1);
    h.proposed(2, z(2, 2), 2).delivered(2, z(2, 2), 2);
    assert_fails(h.verdict("zab.agreement"), "server 2 delivered txn");
}

#[test]
fn local_primary_order_rejects_a_proposal_delivered_without_its_predecessor() {
    // z(1,1) proposed but delivered by nobody: the global order never sees it,
    // only the leader's own proposal order does.
    let mut h = H::new();
    h.established(1, 1, 0)
        .proposed(1, z(1, 1), 1)
        .proposed(1, z(1, 2), 2)
        .delivered(1, z(1, 2), 2)
        .delivered(2, z(1, 2), 2);
    assert_fails(
        h.verdict("zab.local_primary_order"),
        "delivered 0x100000002 without 0x100000001",
    );
    assert_eq!(h.verdict("zab.total_order"), Ok(()));
}

#[test]
fn global_primary_order_rejects_a_leader_proposing_outside_its_epoch() {
    let mut h = zab_good();
    h.push(Event::Proposed {
        sid: 2,
        zxid: z(1, 9),
        epoch: 2,
        session: 1,
        cxid: 1,
        body: 1,
    });
    assert_fails(
        h.verdict("zab.global_primary_order"),
        "leader 2 of epoch 2 proposed 0x100000009 of epoch 1",
    );
}

#[test]
fn primary_integrity_rejects_a_leader_missing_a_delivered_txn() {
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2, 3])
        .commit(1, z(1, 2), &[1, 3])
        .fault("crash 1")
        .established(2, 2, z(1, 1));
    assert_fails(
        h.verdict("zab.primary_integrity"),
        "established epoch 2 with history only up to 0x100000001",
    );
}

#[test]
fn primary_integrity_rejects_proposing_before_establishing() {
    let mut h = zab_good();
    h.proposed(3, z(3, 1), 1).established(3, 3, z(2, 1));
    assert_fails(
        h.verdict("zab.primary_integrity"),
        "proposed 0x300000001 before establishing epoch 3",
    );
}

#[test]
fn prefix_consistency_rejects_resuming_past_a_gap() {
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2])
        .commit(1, z(1, 2), &[1, 2])
        .commit(1, z(1, 3), &[1, 2])
        .recovered(2, z(1, 1), z(1, 1))
        .delivered(2, z(1, 3), z(1, 3));
    assert_fails(
        h.verdict("zab.prefix_consistency"),
        "resumed at 0x100000001 with 0x100000003; the delivered history has 0x100000002 next",
    );
}

#[test]
fn single_leader_per_epoch_rejects_two_leaders_of_one_epoch() {
    let mut h = zab_good();
    h.established(3, 2, z(1, 2));
    assert_fails(
        h.verdict("zab.single_leader_per_epoch"),
        "epoch 2 established by server 2 and by server 3",
    );
}

#[test]
fn durability_rejects_a_lost_acknowledged_write() {
    let mut h = zab_good();
    h.invoke(0, 1, 1, create("/a", "x")).complete(
        0,
        1,
        1,
        "ok",
        z(2, 2),
        Ret::Stat {
            version: 0,
            owner: 0,
        },
    );
    assert_fails(
        h.verdict("zab.durability"),
        "client 0 op 1 acknowledged at 0x200000002 but no server delivered it",
    );
}

#[test]
fn durability_rejects_a_server_going_past_an_acknowledged_write() {
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2, 3])
        .commit(1, z(1, 2), &[1, 2])
        .invoke(0, 1, 1, create("/a", "x"))
        .complete(0, 1, 1, "ok", z(1, 2), stat(0, 0))
        .commit(1, z(1, 3), &[1, 2, 3]);
    assert_fails(
        h.verdict("zab.durability"),
        "server 3 delivered up to 0x100000003 without the acknowledged 0x100000002",
    );
}

#[test]
fn durability_rejects_truncating_a_committed_txn() {
    // The ZK-1154 shape: server 3 logged z(1,2), which 1 and 2 committed;
    // a new leader TRUNCs 3 below it.
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2, 3])
        .commit(1, z(1, 2), &[1, 2])
        .push(Event::Truncated {
            sid: 3,
            to: z(1, 1),
            logged: z(1, 2),
        });
    assert_fails(
        h.verdict("zab.durability"),
        "server 3 truncated its log to 0x100000001 dropping 0x100000002",
    );
    // Truncating an uncommitted tail is what TRUNC is for.
    let mut h = H::new();
    h.established(1, 1, 0)
        .commit(1, z(1, 1), &[1, 2, 3])
        .proposed(1, z(1, 2), 2)
        .push(Event::Truncated {
            sid: 3,
            to: z(1, 1),
            logged: z(1, 2),
        });
    assert_eq!(h.verdict("zab.durability"), Ok(()));
}

// ------------------------------------------------------------------ client.linearizable

#[test]
fn linearizable_accepts_writes_and_synced_reads_that_fit() {
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .invoke(1, 1, 11, set("/a", "y"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .complete(1, 1, 11, "ok", z(1, 2), stat(1, 0))
        .invoke(0, 2, 10, Call::Sync)
        .complete(0, 2, 10, "ok", z(1, 3), Ret::None)
        .invoke(0, 3, 10, get("/a", false))
        .complete(0, 3, 10, "ok", z(1, 3), node("y", 1, 0))
        .invoke(1, 2, 11, delete("/a"))
        .complete(1, 2, 11, "ok", z(1, 4), Ret::None)
        .invoke(1, 3, 11, delete("/a"))
        .complete(1, 3, 11, "NoNode", z(1, 5), Ret::None);
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
}

#[test]
fn linearizable_rejects_a_read_of_a_value_overwritten_before_it_began() {
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .invoke(1, 1, 11, set("/a", "y"))
        .complete(1, 1, 11, "ok", z(1, 2), stat(1, 0))
        .invoke(2, 1, 12, Call::Sync)
        .complete(2, 1, 12, "ok", z(1, 3), Ret::None)
        .invoke(2, 2, 12, get("/a", false))
        .complete(2, 2, 12, "ok", z(1, 3), node("x", 0, 0));
    assert_fails(h.verdict("client.linearizable"), "/a: not linearizable");
    assert_fails(h.verdict("client.linearizable"), "client 2 op 2");
}

/// A sequential create is a create of the znode it named: a synced read
/// that finds that znode absent afterwards is caught; a delete of it fits.
#[test]
fn linearizable_judges_a_sequential_create_by_the_name_it_got() {
    let run = |after: (&str, Ret)| {
        let mut h = H::new();
        h.invoke(0, 1, 10, create_seq("/q/s-", "x"))
            .complete(0, 1, 10, "ok", z(1, 1), named("/q/s-0000000000"))
            .invoke(1, 1, 11, Call::Sync)
            .complete(1, 1, 11, "ok", z(1, 2), Ret::None)
            .invoke(1, 2, 11, get("/q/s-0000000000", false))
            .complete(1, 2, 11, after.0, z(1, 2), after.1)
            .invoke(0, 2, 10, delete("/q/s-0000000000"))
            .complete(0, 2, 10, "ok", z(1, 3), Ret::None);
        h.verdict("client.linearizable")
    };
    assert_eq!(run(("ok", node("x", 0, 0))), Ok(()));
    assert_fails(
        run(("NoNode", Ret::None)),
        "/q/s-0000000000: not linearizable",
    );
}

/// A sequential create whose answer was lost but whose txn was applied
/// may have made any name: a znode only it can explain is not judged. (Not
/// applied anywhere, it made nothing, and the delete fits nowhere.)
#[test]
fn linearizable_leaves_alone_what_a_lost_sequential_create_may_have_made() {
    let run = |applied: bool| {
        let mut h = H::new();
        h.invoke(0, 1, 10, create_seq("/q/s-", "x"));
        h.complete_xid(0, 1, 10, "ConnectionLoss", z(1, 0), Ret::None, Some(1));
        if applied {
            h.applied(z(1, 1), 10, 1);
        }
        h.invoke(0, 2, 10, delete("/q/s-0000000003"))
            .complete(0, 2, 10, "ok", z(1, 3), Ret::None);
        h.verdict("client.linearizable")
    };
    assert_eq!(run(true), Ok(()));
    assert_fails(run(false), "/q/s-0000000003: not linearizable");
}

#[test]
fn linearizable_ignores_reads_without_a_sync() {
    // The same stale read, served locally without a sync, is allowed.
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .invoke(1, 1, 11, set("/a", "y"))
        .complete(1, 1, 11, "ok", z(1, 2), stat(1, 0))
        .invoke(2, 1, 12, get("/a", false))
        .complete(2, 1, 12, "ok", z(1, 1), node("x", 0, 0));
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
}

#[test]
fn linearizable_lets_a_lost_answer_have_taken_effect_or_not() {
    // The create's answer was lost; a later synced read sees its value: it
    // must have happened, and that is fine.
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ConnectionLoss", z(1, 0), Ret::None)
        .applied(z(1, 1), 10, 1)
        .invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 2), Ret::None)
        .invoke(1, 2, 11, get("/a", false))
        .complete(1, 2, 11, "ok", z(1, 2), node("x", 0, 0));
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
    // Seen missing first, then present: it took effect after its answer was lost.
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ConnectionLoss", z(1, 0), Ret::None)
        .invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 1), Ret::None)
        .invoke(1, 2, 11, get("/a", false))
        .complete(1, 2, 11, "NoNode", z(1, 1), Ret::None)
        .applied(z(1, 2), 10, 1)
        .invoke(1, 3, 11, Call::Sync)
        .complete(1, 3, 11, "ok", z(1, 3), Ret::None)
        .invoke(1, 4, 11, get("/a", false))
        .complete(1, 4, 11, "ok", z(1, 3), node("x", 0, 0));
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
    // Had the same create been answered NodeExists, the read is impossible.
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "NodeExists", z(1, 1), Ret::None)
        .invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 2), Ret::None)
        .invoke(1, 2, 11, get("/a", false))
        .complete(1, 2, 11, "ok", z(1, 2), node("x", 0, 0));
    assert_fails(h.verdict("client.linearizable"), "not linearizable");
}

/// A lost write whose txn no server applied did not happen: a read of its
/// value is then impossible — and if some server applied it, it is fine.
/// The txn is found by the request's identity (session, xid), nothing else.
#[test]
fn linearizable_reads_a_lost_writes_fate_from_the_deliveries() {
    let lost_create_sent = |xid: Option<u64>, applied: Option<(SessionId, u64)>| {
        let mut h = H::new();
        h.invoke(0, 1, 10, create("/a", "x"));
        h.complete_xid(0, 1, 10, "ConnectionLoss", z(1, 0), Ret::None, xid);
        if let Some((session, cxid)) = applied {
            h.applied(z(1, 1), session, cxid);
        }
        h.invoke(1, 1, 11, Call::Sync)
            .complete(1, 1, 11, "ok", z(1, 2), Ret::None)
            .invoke(1, 2, 11, get("/a", false))
            .complete(1, 2, 11, "ok", z(1, 2), node("x", 0, 0));
        h.verdict("client.linearizable")
    };
    assert_eq!(lost_create_sent(Some(1), Some((10, 1))), Ok(()));
    assert_fails(lost_create_sent(Some(1), None), "not linearizable");
    // Never sent: nothing can have applied it.
    assert_fails(lost_create_sent(None, None), "not linearizable");
    // Another request of the session, or the same xid of another session,
    // is not this one.
    assert_fails(lost_create_sent(Some(1), Some((10, 2))), "not linearizable");
    assert_fails(lost_create_sent(Some(1), Some((11, 1))), "not linearizable");
}

/// The same for two identical lost deletes: each txn names its request, so
/// the one with no application did not happen.
#[test]
fn linearizable_matches_repeated_lost_deletes_to_their_applications() {
    let two_deletes = |applied: usize| {
        let mut h = H::new();
        for round in 0..2u64 {
            let op = 1 + 3 * round;
            h.invoke(0, op, 10, create("/a", &format!("v{round}")))
                .complete(0, op, 10, "ok", z(1, 1 + 2 * round as u32), stat(0, 0));
            h.invoke(0, op + 1, 10, delete("/a"));
            h.complete(0, op + 1, 10, "ConnectionLoss", 0, Ret::None);
            if (round as usize) < applied {
                h.applied(z(1, 2 + 2 * round as u32), 10, op + 1);
            }
        }
        h.invoke(1, 1, 11, Call::Sync)
            .complete(1, 1, 11, "ok", z(1, 9), Ret::None)
            .invoke(1, 2, 11, get("/a", false))
            .complete(1, 2, 11, "NoNode", z(1, 9), Ret::None);
        h.verdict("client.linearizable")
    };
    // The second create needs the first delete applied; the read of an
    // absent /a needs the second.
    assert_eq!(two_deletes(2), Ok(()));
    assert_fails(two_deletes(1), "not linearizable");
}

/// Of two identical lost deletes, the application after the session's next
/// committed write belongs to the later one (power-loss-all seed 6 once
/// failed on this shape, when txns were matched by content).
#[test]
fn linearizable_never_matches_an_application_past_a_settled_op() {
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "v"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0));
    let lost_delete = |h: &mut H, op: u64| {
        h.invoke(0, op, 10, delete("/a"));
        h.complete(0, op, 10, "ConnectionLoss", 0, Ret::None);
    };
    lost_delete(&mut h, 2);
    // The session's next committed op settles delete 2: not applied by then.
    h.invoke(0, 3, 10, set("/b", "x"))
        .complete(0, 3, 10, "NoNode", z(1, 2), Ret::None)
        .invoke(2, 1, 12, Call::Sync)
        .complete(2, 1, 12, "ok", z(1, 2), Ret::None)
        .invoke(2, 2, 12, get("/a", false))
        .complete(2, 2, 12, "ok", z(1, 2), node("v", 0, 0));
    lost_delete(&mut h, 5);
    h.applied(z(1, 3), 10, 5);
    h.invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 4), Ret::None)
        .invoke(1, 2, 11, get("/a", false))
        .complete(1, 2, 11, "NoNode", z(1, 4), Ret::None);
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
}

/// SessionMoved / SessionExpired answered for the applied txn itself (the
/// answer's zxid is where it was applied) mean it did nothing; the same code
/// with no such delivery (the client library's) leaves the write open.
#[test]
fn linearizable_takes_a_refusal_of_the_applied_txn_as_a_no_op() {
    let refused_set = |outcome: &str, answer_zxid: u64| {
        let mut h = H::new();
        h.invoke(0, 1, 10, create("/a", "w"))
            .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0));
        h.invoke(0, 2, 10, set("/a", "x"));
        h.applied(z(1, 2), 10, 2);
        h.complete(0, 2, 10, outcome, answer_zxid, Ret::None)
            .invoke(1, 1, 11, Call::Sync)
            .complete(1, 1, 11, "ok", z(1, 3), Ret::None)
            .invoke(1, 2, 11, get("/a", false))
            .complete(1, 2, 11, "ok", z(1, 3), node("x", 1, 0));
        h.verdict("client.linearizable")
    };
    for outcome in ["SessionMoved", "SessionExpired"] {
        assert_fails(refused_set(outcome, z(1, 2)), "not linearizable");
        assert_eq!(
            refused_set(outcome, z(1, 1)),
            Ok(()),
            "{outcome} from the client"
        );
    }
}

/// A delete answered NotEmpty needs children; a znode nobody ever created a
/// child under has none.
#[test]
fn linearizable_rejects_not_empty_on_a_leaf() {
    let not_empty = |child: bool| {
        let mut h = H::new();
        h.invoke(0, 1, 10, create("/a", "w"))
            .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0));
        if child {
            h.invoke(0, 2, 10, create("/a/c", "v"))
                .complete(0, 2, 10, "ok", z(1, 2), stat(0, 0));
        }
        h.invoke(0, 3, 10, delete("/a"))
            .complete(0, 3, 10, "NotEmpty", z(1, 3), Ret::None);
        h.verdict("client.linearizable")
    };
    assert_fails(not_empty(false), "/a never had a child");
    assert_eq!(not_empty(true), Ok(()));
}

#[test]
fn linearizable_settles_a_lost_answer_by_the_sessions_next_commit() {
    // FIFO client order: the lost set of "x" cannot land after the same
    // session's next write "y" was committed.
    let lost_then_next = |h: &mut H| {
        h.invoke(0, 1, 10, create("/a", "w"))
            .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
            .invoke(0, 2, 10, set("/a", "x"))
            .complete(0, 2, 10, "ConnectionLoss", z(1, 1), Ret::None)
            .applied(z(1, 2), 10, 2)
            .invoke(0, 3, 10, set("/a", "y"))
            .complete(0, 3, 10, "ok", z(1, 3), stat(2, 0))
            .invoke(1, 1, 11, Call::Sync)
            .complete(1, 1, 11, "ok", z(1, 4), Ret::None);
    };
    let mut h = H::new();
    lost_then_next(&mut h);
    h.invoke(1, 2, 11, get("/a", false))
        .complete(1, 2, 11, "ok", z(1, 4), node("y", 2, 0));
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
    let mut h = H::new();
    lost_then_next(&mut h);
    h.invoke(1, 2, 11, get("/a", false))
        .complete(1, 2, 11, "ok", z(1, 4), node("x", 3, 0));
    assert_fails(h.verdict("client.linearizable"), "/a: not linearizable");
}

#[test]
fn linearizable_rejects_a_wrong_version_and_a_wrong_error() {
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 2, 10, set("/a", "y"))
        .complete(0, 2, 10, "ok", z(1, 2), stat(5, 0));
    assert_fails(h.verdict("client.linearizable"), "client 0 op 2");
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 2, 10, set("/a", "y"))
        .complete(0, 2, 10, "NoNode", z(1, 2), Ret::None);
    assert_fails(h.verdict("client.linearizable"), "client 0 op 2");
}

#[test]
fn linearizable_models_the_end_of_a_session_as_removing_its_ephemerals() {
    let mut h = H::new();
    h.invoke(0, 1, 10, create_eph("/e", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 10))
        .session_closed(1, 10, z(1, 2))
        .invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 3), Ret::None)
        .invoke(1, 2, 11, get("/e", false))
        .complete(1, 2, 11, "NoNode", z(1, 3), Ret::None);
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
    let mut h = H::new();
    h.invoke(0, 1, 10, create_eph("/e", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 10))
        .session_closed(1, 10, z(1, 2))
        .invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 3), Ret::None)
        .invoke(1, 2, 11, get("/e", false))
        .complete(1, 2, 11, "ok", z(1, 3), node("x", 0, 10));
    assert_fails(h.verdict("client.linearizable"), "/e: not linearizable");
}

#[test]
fn linearizable_checks_a_100k_op_history_over_100_keys() {
    let h = big_history(100_000, 10, 100, 7);
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
}

#[test]
fn linearizable_checks_a_history_with_many_lost_answers() {
    // A fifth of the writes lose their answer (half of those took effect).
    let h = big_history_lossy(20_000, 10, 20, 3, 20);
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
}

/// Give the last synced read of `h` a value its znode never had.
fn corrupt_last_synced_read(h: &mut H) {
    let synced = |h: &H, i: usize| {
        let Event::Complete { client, op, .. } = &h.records[i].event else {
            return false;
        };
        h.records.iter().any(|r| {
            matches!(&r.event, Event::Invoke { client: c, op: o, call: Call::Sync, .. }
                if c == client && *o + 1 == *op)
        })
    };
    let i = (0..h.records.len())
        .rev()
        .find(|&i| {
            matches!(
                &h.records[i].event,
                Event::Complete {
                    ret: Ret::Node { .. },
                    ..
                }
            ) && synced(h, i)
        })
        .expect("a synced read");
    if let Event::Complete {
        ret: Ret::Node { value, .. },
        ..
    } = &mut h.records[i].event
    {
        *value = "never-written".into();
    }
}

#[test]
fn linearizable_finds_one_bad_read_in_a_big_history() {
    let mut h = big_history(20_000, 10, 20, 11);
    corrupt_last_synced_read(&mut h);
    assert_fails(h.verdict("client.linearizable"), "not linearizable");
    assert_fails(h.verdict("client.sequential"), "never-written");
}

#[test]
fn linearizable_finds_one_bad_read_among_many_lost_answers() {
    let mut h = big_history_lossy(20_000, 10, 20, 5, 20);
    corrupt_last_synced_read(&mut h);
    assert_fails(h.verdict("client.linearizable"), "not linearizable");
}

// ------------------------------------------------------------------ client.sequential

fn sequential_good() -> H {
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/a", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 2, 10, get("/a", false))
        .complete(0, 2, 10, "ok", z(1, 1), node("x", 0, 0))
        .invoke(0, 3, 10, set("/a", "y"))
        .complete(0, 3, 10, "ok", z(1, 3), stat(1, 0))
        .invoke(0, 4, 10, get("/a", false))
        .complete(0, 4, 10, "ok", z(1, 4), node("y", 1, 0));
    h
}

#[test]
fn sequential_accepts_monotonic_fifo_answers() {
    assert_eq!(sequential_good().verdict("client.sequential"), Ok(()));
}

#[test]
fn sequential_rejects_going_back_in_time() {
    let mut h = sequential_good();
    h.invoke(0, 5, 10, get("/a", false))
        .complete(0, 5, 10, "ok", z(1, 2), node("x", 0, 0));
    assert_fails(
        h.verdict("client.sequential"),
        "answered at 0x100000002 after the session saw 0x100000004",
    );
}

#[test]
fn sequential_rejects_answers_out_of_order() {
    let mut h = sequential_good();
    h.invoke(0, 5, 10, set("/a", "p"))
        .invoke(0, 6, 10, set("/a", "q"))
        .complete(0, 6, 10, "ok", z(1, 5), stat(2, 0))
        .complete(0, 5, 10, "ok", z(1, 6), stat(3, 0));
    assert_fails(h.verdict("client.sequential"), "answered after op 6");
}

#[test]
fn sequential_rejects_writes_committed_against_issue_order() {
    let mut h = sequential_good();
    h.invoke(0, 5, 10, set("/a", "p"))
        .complete(0, 5, 10, "ok", z(1, 6), stat(2, 0))
        .invoke(0, 6, 10, set("/a", "q"))
        .complete(0, 6, 10, "ok", z(1, 6), stat(3, 0));
    assert_fails(h.verdict("client.sequential"), "not after op 5");
}

#[test]
fn sequential_rejects_reading_a_value_never_written_or_from_the_future() {
    let mut h = sequential_good();
    h.invoke(1, 1, 11, get("/a", false))
        .complete(1, 1, 11, "ok", z(1, 4), node("zzz", 1, 0));
    assert_fails(h.verdict("client.sequential"), "which no write of /a wrote");
    let mut h = sequential_good();
    h.invoke(1, 1, 11, get("/a", false))
        .complete(1, 1, 11, "ok", z(1, 2), node("y", 1, 0));
    assert_fails(
        h.verdict("client.sequential"),
        "which client 0 op 3 wrote at 0x100000003",
    );
}

/// A sequential create wrote the znode it named: reading that value there
/// is fine, reading another value there is not; a znode a lost sequential
/// create may have made is not judged (its writer's name is unknown).
#[test]
fn sequential_knows_what_a_sequential_create_wrote() {
    let run = |value: &str, lost: bool| {
        let mut h = H::new();
        h.invoke(0, 1, 10, create_seq("/q/s-", "x"));
        match lost {
            false => h.complete(0, 1, 10, "ok", z(1, 1), named("/q/s-0000000000")),
            true => h.complete(0, 1, 10, "ConnectionLoss", z(1, 0), Ret::None),
        };
        h.invoke(1, 1, 11, get("/q/s-0000000000", false)).complete(
            1,
            1,
            11,
            "ok",
            z(1, 1),
            node(value, 0, 0),
        );
        h.verdict("client.sequential")
    };
    assert_eq!(run("x", false), Ok(()));
    assert_eq!(run("x", true), Ok(()));
    assert_fails(run("y", false), "which no write of /q/s-0000000000 wrote");
}

#[test]
fn sequential_judges_events_and_answers_in_arrival_order() {
    // The answer at 0x..5, then an event at 0x..6: in order.
    let mut h = sequential_good();
    h.invoke(0, 5, 10, create("/a", "p"))
        .complete(0, 5, 10, "NodeExists", z(1, 5), Ret::None)
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 6));
    assert_eq!(h.verdict("client.sequential"), Ok(()));
    // The event first: the answer after it may not be older.
    let mut h = sequential_good();
    h.invoke(0, 5, 10, create("/a", "p"))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 6))
        .complete(0, 5, 10, "NodeExists", z(1, 5), Ret::None);
    assert_fails(
        h.verdict("client.sequential"),
        "after the session saw 0x100000006 (a watch event for /a)",
    );
}

// ------------------------------------------------------------------ client.watches

/// Client 0 watches /a; client 1 changes it; the event arrives before client
/// 0 reads the new data.
fn watches_good() -> H {
    let mut h = H::new();
    h.invoke(1, 1, 11, create("/a", "x"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, get("/a", true))
        .complete(0, 1, 10, "ok", z(1, 1), node("x", 0, 0))
        .invoke(1, 2, 11, set("/a", "y"))
        .complete(1, 2, 11, "ok", z(1, 2), stat(1, 0))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 2))
        .invoke(0, 2, 10, get("/a", false))
        .complete(0, 2, 10, "ok", z(1, 2), node("y", 1, 0));
    h
}

#[test]
fn watches_accept_one_event_before_the_new_data() {
    assert_eq!(watches_good().verdict("client.watches"), Ok(()));
}

#[test]
fn watches_reject_the_answer_to_the_watchers_own_change_before_the_event() {
    // ZooKeeper sends the event before the answer, even to the session
    // whose write fired it.
    let mut h = H::new();
    h.invoke(1, 1, 11, create("/a", "x"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, get("/a", true))
        .complete(0, 1, 10, "ok", z(1, 1), node("x", 0, 0))
        .invoke(0, 2, 10, set("/a", "y"))
        .complete(0, 2, 10, "ok", z(1, 2), stat(1, 0))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 2));
    assert_fails(
        h.verdict("client.watches"),
        "before the event of the watch on /a",
    );
}

/// Session 10 lists /q with a child watch; session 11 adds a sequential
/// child; the event reaches 10 before its next answer.
fn child_watch_good() -> H {
    let mut h = H::new();
    h.invoke(1, 1, 11, create("/q", "q"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, children("/q", true))
        .complete(0, 1, 10, "ok", z(1, 1), Ret::Children { children: vec![] })
        .invoke(1, 2, 11, create_seq("/q/s-", "s"))
        .complete(1, 2, 11, "ok", z(1, 2), stat(0, 0))
        .watch(0, 10, "/q", "NodeChildrenChanged", z(1, 2))
        .invoke(0, 2, 10, get("/q", false))
        .complete(0, 2, 10, "ok", z(1, 2), node("q", 0, 0));
    h
}

#[test]
fn child_watches_are_judged_like_data_watches() {
    assert_eq!(child_watch_good().verdict("client.watches"), Ok(()));
    // Fired twice.
    let mut twice = child_watch_good();
    twice.watch(0, 10, "/q", "NodeChildrenChanged", z(1, 2));
    assert_fails(twice.verdict("client.watches"), "with no watch outstanding");
    // The session sees a later zxid before the event.
    let mut late = H::new();
    late.invoke(1, 1, 11, create("/q", "q"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, children("/q", true))
        .complete(0, 1, 10, "ok", z(1, 1), Ret::Children { children: vec![] })
        .invoke(1, 2, 11, create_seq("/q/s-", "s"))
        .complete(1, 2, 11, "ok", z(1, 2), stat(0, 0))
        .invoke(0, 2, 10, get("/q", false))
        .complete(0, 2, 10, "ok", z(1, 2), node("q", 0, 0))
        .watch(0, 10, "/q", "NodeChildrenChanged", z(1, 2));
    assert_fails(
        late.verdict("client.watches"),
        "before the event of the watch on the children of /q",
    );
    // A data watch on /q does not answer for a child event.
    let mut wrong = H::new();
    wrong
        .invoke(1, 1, 11, create("/q", "q"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, get("/q", true))
        .complete(0, 1, 10, "ok", z(1, 1), node("q", 0, 0))
        .watch(0, 10, "/q", "NodeChildrenChanged", z(1, 2));
    assert_fails(wrong.verdict("client.watches"), "with no watch outstanding");
}

#[test]
fn watches_reject_a_second_event_for_one_watch() {
    let mut h = watches_good();
    h.invoke(1, 3, 11, set("/a", "z"))
        .complete(1, 3, 11, "ok", z(1, 3), stat(2, 0))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 3));
    assert_fails(h.verdict("client.watches"), "with no watch outstanding");
}

#[test]
fn watches_reject_new_data_before_the_event() {
    let mut h = H::new();
    h.invoke(1, 1, 11, create("/a", "x"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, get("/a", true))
        .complete(0, 1, 10, "ok", z(1, 1), node("x", 0, 0))
        .invoke(1, 2, 11, set("/a", "y"))
        .complete(1, 2, 11, "ok", z(1, 2), stat(1, 0))
        .invoke(0, 2, 10, get("/a", false))
        .complete(0, 2, 10, "ok", z(1, 2), node("y", 1, 0))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 2));
    assert_fails(
        h.verdict("client.watches"),
        "before the event of the watch on /a",
    );
}

#[test]
fn watches_reject_an_event_for_the_wrong_change() {
    let mut h = watches_good();
    // Re-arm, then an event older than the read that set it.
    h.invoke(0, 3, 10, get("/a", true))
        .complete(0, 3, 10, "ok", z(1, 2), node("y", 1, 0))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 2));
    assert_fails(h.verdict("client.watches"), "does not follow the read");
    // Skipping the first change after the watch.
    let mut h = watches_good();
    h.invoke(0, 3, 10, get("/a", true))
        .complete(0, 3, 10, "ok", z(1, 2), node("y", 1, 0))
        .invoke(1, 3, 11, set("/a", "p"))
        .complete(1, 3, 11, "ok", z(1, 3), stat(2, 0))
        .invoke(1, 4, 11, set("/a", "q"))
        .complete(1, 4, 11, "ok", z(1, 4), stat(3, 0))
        .watch(0, 10, "/a", "NodeDataChanged", z(1, 4));
    assert_fails(
        h.verdict("client.watches"),
        "the first change after the watch was set",
    );
}

#[test]
fn watches_can_be_scoped_to_a_connection() {
    // The watch is lost with the connection: an obligation under ZooKeeper's
    // semantics (re-registration), none when scoped to the connection.
    let mut h = H::new();
    h.invoke(1, 1, 11, create("/a", "x"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, get("/a", true))
        .complete(0, 1, 10, "ok", z(1, 1), node("x", 0, 0))
        .client_state(0, 10, ClientStatus::Disconnected)
        .invoke(1, 2, 11, set("/a", "y"))
        .complete(1, 2, 11, "ok", z(1, 2), stat(1, 0))
        .invoke(0, 2, 10, get("/a", false))
        .complete(0, 2, 10, "ok", z(1, 2), node("y", 1, 0));
    assert_fails(h.verdict("client.watches"), "before the event");
    let opts = CheckOptions {
        watches_survive_reconnect: false,
        ..CheckOptions::default()
    };
    assert_eq!(h.verdict_with("client.watches", &opts), Ok(()));
    // A disconnection recorded after the answer came after it (the history
    // keeps arrival order): it excuses nothing.
    let mut h = H::new();
    h.invoke(1, 1, 11, create("/a", "x"))
        .complete(1, 1, 11, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 1, 10, get("/a", true))
        .complete(0, 1, 10, "ok", z(1, 1), node("x", 0, 0))
        .invoke(1, 2, 11, set("/a", "y"))
        .complete(1, 2, 11, "ok", z(1, 2), stat(1, 0))
        .invoke(0, 2, 10, get("/a", false))
        .complete(0, 2, 10, "ok", z(1, 2), node("y", 1, 0))
        .client_state(0, 10, ClientStatus::Disconnected);
    assert_fails(h.verdict_with("client.watches", &opts), "before the event");
    assert_fails(h.verdict("client.watches"), "before the event");
}

// ------------------------------------------------------------------ client.sessions

/// Session 10 creates ephemeral /e; client 1 sees it; the session closes;
/// client 1 sees it gone.
fn sessions_good() -> H {
    let mut h = H::new();
    h.invoke(0, 1, 10, create_eph("/e", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 10))
        .invoke(1, 1, 11, get("/e", false))
        .complete(1, 1, 11, "ok", z(1, 1), node("x", 0, 10))
        .session_closed(1, 10, z(1, 2))
        .invoke(1, 2, 11, get("/e", false))
        .complete(1, 2, 11, "NoNode", z(1, 2), Ret::None);
    h
}

#[test]
fn sessions_accept_an_ephemeral_living_as_long_as_its_session() {
    assert_eq!(sessions_good().verdict("client.sessions"), Ok(()));
}

#[test]
fn sessions_reject_an_ephemeral_outliving_its_session() {
    let mut h = sessions_good();
    h.invoke(1, 3, 11, get("/e", false))
        .complete(1, 3, 11, "ok", z(1, 3), node("x", 0, 10));
    assert_fails(h.verdict("client.sessions"), "which ended at 0x100000002");
}

/// A close refused when applied (SessionMoved) does not end the session:
/// its ephemeral rightly stays, and an ephemeral seen after a real close
/// still fails both checks.
#[test]
fn a_refused_close_does_not_end_its_session() {
    let refused = || {
        let mut h = H::new();
        h.invoke(0, 1, 10, create_eph("/e", "x"))
            .complete(0, 1, 10, "ok", z(1, 1), stat(0, 10))
            .close_refused(1, 10, z(1, 2))
            .invoke(1, 1, 11, Call::Sync)
            .complete(1, 1, 11, "ok", z(1, 3), Ret::None)
            .invoke(1, 2, 11, get("/e", false))
            .complete(1, 2, 11, "ok", z(1, 3), node("x", 0, 10));
        h
    };
    let h = refused();
    assert_eq!(h.verdict("client.sessions"), Ok(()));
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
    let mut h = refused();
    h.session_closed(1, 10, z(1, 4))
        .invoke(1, 3, 11, Call::Sync)
        .complete(1, 3, 11, "ok", z(1, 5), Ret::None)
        .invoke(1, 4, 11, get("/e", false))
        .complete(1, 4, 11, "ok", z(1, 5), node("x", 0, 10));
    assert_fails(h.verdict("client.sessions"), "which ended at 0x100000004");
    assert_fails(h.verdict("client.linearizable"), "/e: not linearizable");
}

/// A session's own connection is never refused as moved: the server ends
/// the connection the session left instead of answering it.
#[test]
fn sessions_reject_a_session_moved_answer() {
    let mut h = sessions_good();
    assert_eq!(h.verdict("client.sessions"), Ok(()));
    h.invoke(1, 3, 11, set("/k", "v"))
        .complete(1, 3, 11, "SessionMoved", z(1, 3), Ret::None);
    assert_fails(
        h.verdict("client.sessions"),
        "answered SessionMoved on its session's own connection",
    );
}

#[test]
fn sessions_reject_an_ephemeral_gone_before_its_session() {
    let mut h = H::new();
    h.invoke(0, 1, 10, create_eph("/e", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 10))
        .invoke(1, 1, 11, get("/e", false))
        .complete(1, 1, 11, "NoNode", z(1, 2), Ret::None);
    assert_fails(h.verdict("client.sessions"), "found /e missing");
}

#[test]
fn sessions_reject_an_ephemeral_created_by_an_ended_session() {
    let mut h = H::new();
    h.session_closed(1, 10, z(1, 1))
        .invoke(0, 1, 10, create_eph("/e", "x"))
        .complete(0, 1, 10, "ok", z(1, 2), stat(0, 10));
    assert_fails(h.verdict("client.sessions"), "after its session 0xa ended");
}

// ------------------------------------------------------------------ client.sequential_names

/// /q exists; three sequential creates get growing names, and one between
/// them lost its answer (it may have used a number: a gap is fine).
fn sequential_names_good() -> H {
    let mut h = H::new();
    h.invoke(0, 1, 10, create("/q", "x"))
        .complete(0, 1, 10, "ok", z(1, 1), stat(0, 0))
        .invoke(0, 2, 10, create_seq("/q/s-", "a"))
        .complete(0, 2, 10, "ok", z(1, 2), named("/q/s-0000000001"))
        .invoke(1, 1, 11, create_seq("/q/s-", "b"))
        .complete(1, 1, 11, "ConnectionLoss", 0, Ret::None)
        .invoke(0, 3, 10, create_seq("/q/s-", "c"))
        .complete(0, 3, 10, "ok", z(1, 4), named("/q/s-0000000003"));
    h
}

/// `sequential_names_good` and client 1's op `op`: one more sequential
/// create under /q, answered `outcome` at `zxid` with `ret`.
fn plus_seq_create(op: u64, outcome: &str, zxid: u64, ret: Ret) -> H {
    let mut h = sequential_names_good();
    h.invoke(1, op, 11, create_seq("/q/s-", "d"))
        .complete(1, op, 11, outcome, zxid, ret);
    h
}

#[test]
fn sequential_names_accept_a_growing_counter_with_gaps() {
    let h = sequential_names_good();
    assert_eq!(h.verdict("client.sequential_names"), Ok(()));
    let v = h.full_verdict("client.sequential_names", &CheckOptions::default());
    assert_eq!(v, Verdict::Pass);
}

#[test]
fn sequential_names_reject_a_name_handed_out_twice() {
    // The next create is named from the child count (2), not the counter.
    let h = plus_seq_create(2, "ok", z(1, 5), named("/q/s-0000000003"));
    assert_fails(
        h.verdict("client.sequential_names"),
        "both got the name /q/s-0000000003",
    );
    let h = plus_seq_create(2, "ok", z(1, 5), named("/q/s-0000000002"));
    assert_fails(
        h.verdict("client.sequential_names"),
        "the later got /q/s-0000000002 after /q/s-0000000003",
    );
    // Or the name is taken, and the create fails.
    let h = plus_seq_create(2, "NodeExists", z(1, 5), Ret::None);
    assert_fails(
        h.verdict("client.sequential_names"),
        "a name handed out twice",
    );
}

#[test]
fn sequential_names_reject_a_name_not_of_the_counters_form() {
    let h = plus_seq_create(2, "ok", z(1, 5), named("/q/s-5"));
    assert_fails(
        h.verdict("client.sequential_names"),
        "not /q/s- followed by a 10-digit counter",
    );
}

/// A plain create of a name of the counter's form excuses a NodeExists; a
/// delete of the parent restarts its counter.
#[test]
fn sequential_names_excuse_what_another_road_explains() {
    let mut h = sequential_names_good();
    h.invoke(1, 2, 11, create("/q/s-0000000004", "p"))
        .complete(1, 2, 11, "ok", z(1, 5), stat(0, 0))
        .invoke(1, 3, 11, create_seq("/q/s-", "d"))
        .complete(1, 3, 11, "NodeExists", z(1, 6), Ret::None);
    assert_eq!(h.verdict("client.sequential_names"), Ok(()));
    let mut h = sequential_names_good();
    h.invoke(1, 2, 11, delete("/q"))
        .complete(1, 2, 11, "ok", z(1, 5), Ret::None)
        .invoke(1, 3, 11, create("/q", "y"))
        .complete(1, 3, 11, "ok", z(1, 6), stat(0, 0))
        .invoke(1, 4, 11, create_seq("/q/s-", "d"))
        .complete(1, 4, 11, "ok", z(1, 7), named("/q/s-0000000000"));
    assert_eq!(h.verdict("client.sequential_names"), Ok(()));
    // Without the delete, the same name is a violation.
    let h = plus_seq_create(4, "ok", z(1, 7), named("/q/s-0000000000"));
    assert_fails(h.verdict("client.sequential_names"), "under /q");
}

// ------------------------------------------------------------------ client.session_expiry

/// Leader 1 of epoch 1 has led for a while. Session 10 (timeout 3 s) sends
/// a set to server `sent_to`, and leader 1 proposes it; the client then
/// falls silent, and `silent_ms` later the leader expires the session.
fn expiry_after(silent_ms: u64, sent_to: u64) -> H {
    let mut h = H::new();
    h.established(1, 1, 0)
        .wait(10_000)
        .session_started(0, 10, 3000)
        .invoke(0, 1, 10, set("/a", "x"))
        .proposed_request(1, z(1, 1), 10, 1)
        .complete_on(sent_to, 0, 1, 10, z(1, 1))
        .wait(silent_ms)
        .session_closed(1, 10, z(1, 2));
    h
}

#[test]
fn session_expiry_accepts_expiring_a_silent_session() {
    let h = expiry_after(3000, 1);
    let v = h.full_verdict("client.session_expiry", &CheckOptions::default());
    assert_eq!(v, Verdict::Pass);
}

#[test]
fn session_expiry_rejects_a_leader_expiring_a_session_it_just_heard() {
    assert_fails(
        expiry_after(1000, 1).verdict("client.session_expiry"),
        "leader 1 expired session 0xa (timeout 3000 ms)",
    );
    assert_fails(
        expiry_after(1000, 1).verdict("client.session_expiry"),
        "after client 0 op 1 invoked a request it sent to that leader",
    );
    // Within the clock's lag of the timeout: not judged a violation.
    let lag = super::session_expiry::CLOCK_LAG_MS;
    assert_eq!(
        expiry_after(3000 - lag, 1).verdict("client.session_expiry"),
        Ok(())
    );
}

/// A leader sets every session's deadline a timeout ahead when it
/// establishes its epoch, and a new session's when it applies its creation.
#[test]
fn session_expiry_rejects_an_expiry_within_a_timeout_of_establishing_or_creating() {
    let mut h = H::new();
    h.session_started(0, 10, 3000)
        .established(2, 2, z(1, 1))
        .wait(1000)
        .session_closed(2, 10, z(2, 1));
    assert_fails(
        h.verdict("client.session_expiry"),
        "after it established epoch 2",
    );
    let mut h = H::new();
    h.established(1, 1, 0)
        .wait(10_000)
        .session_created(1, 10, z(1, 1), 3000)
        .session_started(0, 10, 3000)
        .wait(1000)
        .session_closed(1, 10, z(1, 2));
    assert_fails(
        h.verdict("client.session_expiry"),
        "after it applied the session's creation",
    );
}

/// What the leader may not have heard proves nothing: a request forwarded
/// by a follower (its touch rides a ping reply that can be lost); and a
/// session's own close is no expiry.
#[test]
fn session_expiry_judges_only_what_the_leader_surely_heard() {
    assert_eq!(
        expiry_after(1000, 2).verdict("client.session_expiry"),
        Ok(())
    );
    let mut h = H::new();
    h.established(1, 1, 0)
        .wait(10_000)
        .session_started(0, 10, 3000)
        .invoke(0, 1, 10, set("/a", "x"))
        .proposed_request(1, z(1, 1), 10, 1)
        .complete_on(1, 0, 1, 10, z(1, 1))
        .wait(1000)
        .client_closed(1, 10, z(1, 2), 2);
    assert_eq!(h.verdict("client.session_expiry"), Ok(()));
}

// ------------------------------------------------------------------ liveness

fn liveness_good() -> H {
    let mut h = H::new();
    h.established(1, 1, 0)
        .invoke(1, 1, 11, Call::Sync)
        .complete(1, 1, 11, "ok", z(1, 1), Ret::None)
        .fault("crash 1")
        .wait(1000)
        .fault("restart 1")
        .wait(2000)
        .established(2, 2, 0)
        .invoke(0, 2, 10, Call::Sync)
        .complete(0, 2, 10, "ok", z(2, 1), Ret::None)
        .invoke(1, 3, 11, delete("/k"))
        .complete(1, 3, 11, "NoNode", z(2, 2), Ret::None);
    h
}

#[test]
fn liveness_accepts_a_committed_write_from_every_client_within_the_bound() {
    assert_eq!(liveness_good().verdict("liveness"), Ok(()));
}

#[test]
fn liveness_needs_every_client_to_commit_a_write() {
    // Client 1 only gets ConnectionLoss after the heal.
    let mut h = H::new();
    h.established(1, 1, 0)
        .fault("heal")
        .invoke(0, 1, 10, Call::Sync)
        .complete(0, 1, 10, "ok", z(1, 1), Ret::None)
        .invoke(1, 2, 11, Call::Sync)
        .complete(1, 2, 11, "ConnectionLoss", 0, Ret::None);
    assert_fails(
        h.verdict("liveness"),
        "client 1 committed no write within 10000 ms of the last fault healing",
    );
    // A read served by a minority follower is no progress.
    let mut h = H::new();
    h.fault("heal").invoke(0, 1, 10, get("/k", false)).complete(
        0,
        1,
        10,
        "ok",
        z(1, 1),
        node("v", 0, 0),
    );
    assert_fails(h.verdict("liveness"), "client 0 committed no write");
    // A client stuck in a call across the heal never answers.
    let mut h = H::new();
    h.invoke(0, 1, 10, Call::Sync).fault("heal").wait(20_000);
    assert_fails(h.verdict("liveness"), "it never got an answer");
}

#[test]
fn liveness_judges_the_bound_not_leader_events() {
    let late = || {
        let mut h = H::new();
        h.established(1, 1, 0)
            .fault("crash 1")
            .wait(20_000)
            .invoke(0, 1, 10, Call::Sync)
            .complete(0, 1, 10, "ok", z(2, 1), Ret::None);
        h
    };
    assert_fails(
        late().verdict("liveness"),
        "committed no write within 10000 ms",
    );
    let opts = CheckOptions {
        liveness_bound_ms: 30_000,
        ..CheckOptions::default()
    };
    assert_eq!(late().verdict_with("liveness", &opts), Ok(()));
    // A leader paused and resumed before it lost its quorum keeps serving:
    // no new Established event, yet the commit is progress.
    let mut h = H::new();
    h.established(1, 1, 0)
        .fault("pause 1")
        .wait(500)
        .fault("resume 1")
        .invoke(0, 1, 10, Call::Sync)
        .complete(0, 1, 10, "ok", z(1, 1), Ret::None);
    assert_eq!(h.verdict("liveness"), Ok(()));
}

// ------------------------------------------------------------------ converged

fn state(h: &mut H, sid: u64, serving: bool, applied: u64, digest: Option<u64>) {
    h.push(Event::ServerState {
        sid,
        serving,
        stopped: false,
        applied,
        digest,
    });
}

#[test]
fn converged_accepts_servers_that_agree_at_the_end() {
    let mut h = H::new();
    // An earlier disagreement is overtaken by the last state of each server.
    state(&mut h, 1, false, z(1, 1), Some(7));
    for sid in 1..=3 {
        state(&mut h, sid, true, z(1, 2), Some(9));
    }
    assert_eq!(h.verdict("converged"), Ok(()));
}

#[test]
fn converged_rejects_a_different_tree_a_lagging_or_idle_server() {
    let cases: [(&str, bool, u64, Option<u64>); 4] = [
        ("digest=0000000000000008", true, z(1, 2), Some(8)),
        ("applied=0x100000001", true, z(1, 1), Some(9)),
        ("3: not serving", false, z(1, 2), Some(9)),
        ("digest=?", true, z(1, 2), None),
    ];
    for (needle, serving, applied, digest) in cases {
        let mut h = H::new();
        state(&mut h, 1, true, z(1, 2), Some(9));
        state(&mut h, 2, true, z(1, 2), Some(9));
        state(&mut h, 3, serving, applied, digest);
        assert_fails(h.verdict("converged"), needle);
    }
    let mut h = H::new();
    state(&mut h, 1, true, z(1, 2), Some(9));
    h.push(Event::ServerState {
        sid: 2,
        serving: false,
        stopped: true,
        applied: 0,
        digest: None,
    });
    assert_fails(h.verdict("converged"), "2: stopped");
    assert_fails(H::new().verdict("converged"), "no final server states");
}

// ------------------------------------------------------------------ the set

#[test]
fn run_all_reports_every_named_check() {
    let names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 28);
    let mut sorted = names.clone();
    sorted.sort();
    // No sequential create in that history: no names to judge.
    sorted.retain(|n| *n != "client.sequential_names");
    // storm.exactly_once is promised only by batch topologies.
    let batch = CheckOptions {
        storm: crate::check::StormSpec {
            exactly_once: Some(Default::default()),
            ..Default::default()
        },
        ..CheckOptions::default()
    };
    let with = run_all(&zab_good().records, &batch);
    assert_eq!(with.keys().copied().collect::<Vec<_>>(), sorted);
    let verdicts = run_all(&zab_good().records, &CheckOptions::default());
    sorted.retain(|n| *n != "storm.exactly_once");
    assert_eq!(verdicts.keys().copied().collect::<Vec<_>>(), sorted);
    // No client ops and no final states in that history: liveness and
    // converged fail, the client checks had nothing to judge, the rest pass.
    for (name, verdict) in verdicts {
        let fails = |needle: &str| {
            assert!(verdict.is_fail(), "{name}: {verdict:?}");
            assert_fails(Err(verdict.reason().unwrap_or("").into()), needle);
        };
        if name == "liveness" {
            fails("no client was at work");
        } else if name == "converged" {
            fails("no final server states");
        } else if name.starts_with("client.") || name.starts_with("storm.") {
            assert!(
                matches!(verdict, Verdict::Inconclusive(_)),
                "{name}: {verdict:?}"
            );
        } else {
            assert_eq!(verdict, Verdict::Pass, "{name}");
        }
    }
}

/// A family left out is neither run nor reported; the others are.
#[test]
fn run_reports_only_the_families_asked_for() {
    let mut h = zab_good();
    h.delivered(2, z(2, 2), 7).delivered(3, z(2, 2), 8);
    let only_client = run(&h.records, &CheckOptions::default(), |f| {
        f == Family::Client
    });
    let names: Vec<&str> = only_client.keys().copied().collect();
    assert_eq!(
        names,
        [
            "client.sequential",
            "client.session_expiry",
            "client.sessions",
            "client.watches"
        ]
    );
    let zab = run(&h.records, &CheckOptions::default(), |f| f == Family::Zab);
    assert!(zab["zab.agreement"].is_fail(), "{zab:?}");
    assert!(zab.keys().all(|k| k.starts_with("zab.")));
}

#[test]
fn every_violation_is_reported_under_a_listed_name() {
    let mut h = zab_good();
    h.delivered(2, z(2, 2), 7).delivered(3, z(2, 2), 8);
    h.invoke(0, 1, 10, get("/a", false))
        .complete(0, 1, 10, "ok", z(1, 1), node("zzz", 1, 0));
    for viol in h.all() {
        assert!(
            CHECKS.iter().any(|c| c.name == viol.check),
            "{} is not in CHECKS",
            viol.check
        );
    }
}

/// Each judge reports only checks registered with it: a violation under a
/// check another judge owns would be dropped when only that one's family
/// runs.
#[test]
fn every_violation_comes_from_the_judge_its_check_names() {
    let mut h = zab_good();
    h.delivered(2, z(2, 2), 7).delivered(3, z(2, 2), 8);
    h.invoke(0, 1, 10, get("/a", false))
        .complete(0, 1, 10, "ok", z(1, 1), node("zzz", 1, 0));
    let mut seen = 0;
    for c in CHECKS {
        for viol in (c.judge.run)(&h.records, &CheckOptions::default()) {
            let owner = CHECKS
                .iter()
                .find(|k| k.name == viol.check)
                .map(|k| k.judge.name);
            assert_eq!(
                owner,
                Some(c.judge.name),
                "{} from judge {}",
                viol.check,
                c.judge.name
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "the history broke nothing");
}

/// A hot znode as `client.linearizable` hands it to the search: `n` ops,
/// 30% with a lost answer. Half of those were never applied (their txns
/// appear nowhere, so they are left out); the other half took effect right
/// after their call and are open until their first delivery, a few steps
/// later — and the last 6 (one per client) are still in flight at the end,
/// open for good. A synced read follows every third op.
fn hot_znode(n: usize, seed: u64) -> (Vec<KeyOp>, Vec<String>) {
    let mut rng = Rng(seed);
    let mut ops = Vec::new();
    let mut state: Option<Node> = None;
    let mut value = 0u32;
    for call in 1..=n {
        value += 1;
        let kind = match rng.below(4) {
            0 => KeyOpKind::Create { value, owner: 0 },
            1 | 2 => KeyOpKind::Set { value, version: -1 },
            _ => KeyOpKind::Delete { version: -1 },
        };
        let lost = rng.below(100) < 30;
        let applied = !lost || rng.below(2) == 0;
        let in_flight = lost && call + 6 > n;
        if !applied && !in_flight {
            continue;
        }
        let mut outcome = KeyOutcome::Ok { version: None };
        if applied {
            let (next, error) = match (&kind, state) {
                (KeyOpKind::Create { .. }, Some(_)) => (state, Some(KeyOutcome::NodeExists)),
                (KeyOpKind::Create { .. }, None) => (
                    Some(Node {
                        value,
                        version: 0,
                        owner: 0,
                    }),
                    None,
                ),
                (KeyOpKind::Set { .. }, Some(n)) => (
                    Some(Node {
                        value,
                        version: n.version + 1,
                        owner: 0,
                    }),
                    None,
                ),
                (KeyOpKind::Delete { .. }, Some(_)) => (None, None),
                _ => (None, Some(KeyOutcome::NoNode)),
            };
            state = next;
            outcome = error.unwrap_or(outcome);
        }
        let ret = match (lost, in_flight) {
            (false, _) => Some(call + 2 + rng.below(6) as usize),
            (true, false) => Some(call + 1 + rng.below(3) as usize),
            (true, true) => None,
        };
        if lost {
            outcome = KeyOutcome::Unknown;
        }
        ops.push(KeyOp {
            call,
            ret,
            kind,
            outcome,
        });
        if call % 3 == 0 {
            let seen = KeyOpKind::Read { seen: state };
            let ok = KeyOutcome::Ok { version: None };
            ops.push(KeyOp {
                call,
                ret: Some(call + 2),
                kind: seen,
                outcome: ok,
            });
        }
    }
    (ops, (0..=value).map(|v| format!("v{v}")).collect())
}

#[test]
fn linearizable_decides_a_hot_znode_with_many_lost_answers() {
    for seed in 0..5 {
        let (mut ops, values) = hot_znode(1300, seed);
        assert_eq!(
            check_key(&ops, None, &values, STEP_LIMIT),
            Ok(()),
            "seed {seed}"
        );
        // The last read sees a value nobody wrote: found, not given up on.
        let last = ops
            .iter()
            .rposition(|o| matches!(o.kind, KeyOpKind::Read { .. }))
            .unwrap();
        ops[last].kind = KeyOpKind::Read {
            seen: Some(Node {
                value: 0,
                version: 7,
                owner: 0,
            }),
        };
        let f = check_key(&ops, None, &values, STEP_LIMIT).unwrap_err();
        assert!(f.op.is_some(), "seed {seed}: {f:?}");
    }
}

/// A search that gives up is undecided — not a pass, and not a failure; a
/// violation found on another znode still fails the check.
#[test]
fn linearizable_is_undecided_when_its_search_gives_up() {
    let h = big_history_lossy(300, 6, 1, 9, 30);
    let tight = CheckOptions {
        linearizable_steps: 5,
        ..CheckOptions::default()
    };
    assert_eq!(h.verdict("client.linearizable"), Ok(()));
    let v = h.full_verdict("client.linearizable", &tight);
    assert!(
        matches!(&v, Verdict::Undecided(why) if why.contains("gave up after 5 steps")),
        "{v:?}"
    );
    let mut h = h;
    h.invoke(7, 1, 17, create("/a", "x"))
        .complete(7, 1, 17, "ok", z(9, 1), stat(0, 0))
        .invoke(8, 1, 18, Call::Sync)
        .complete(8, 1, 18, "ok", z(9, 2), Ret::None)
        .invoke(8, 2, 18, get("/a", false))
        .complete(8, 2, 18, "NoNode", z(9, 2), Ret::None);
    let v = h.full_verdict("client.linearizable", &tight);
    assert!(
        matches!(&v, Verdict::Fail(why) if why.contains("/a: not linearizable")),
        "{v:?}"
    );
}

// ------------------------------------------------------------------ evidence

/// A history with nothing in it for a check never passes it: the verdict is
/// inconclusive, and turns to a pass once the evidence is there.
#[test]
fn too_little_evidence_is_inconclusive_not_a_pass() {
    let empty = H::new();
    let opts = CheckOptions::default();
    for check in [
        "zab.agreement",
        "client.linearizable",
        "client.watches",
        "client.sessions",
        "client.session_expiry",
    ] {
        let v = empty.full_verdict(check, &opts);
        assert!(matches!(v, Verdict::Inconclusive(_)), "{check}: {v:?}");
    }
    // Sequential names: not judged without sequential creates, inconclusive
    // with fewer than two named.
    assert!(!run_all(&empty.records, &opts).contains_key("client.sequential_names"));
    let mut seq = H::new();
    seq.invoke(0, 1, 7, create_seq("/q/s-", "a")).complete(
        0,
        1,
        7,
        "ok",
        z(1, 1),
        named("/q/s-0000000000"),
    );
    assert!(matches!(
        seq.full_verdict("client.sequential_names", &opts),
        Verdict::Inconclusive(why) if why.contains("1 named sequential creates (needs 2)")
    ));
    // Deliveries are what the ZAB checks judge.
    let zab = zab_good();
    assert_eq!(zab.full_verdict("zab.agreement", &opts), Verdict::Pass);
    // Ten answered writes for linearizability; a fired watch for watches.
    let mut h = H::new();
    h.invoke(0, 1, 7, create("/a", "v1"))
        .complete(0, 1, 7, "ok", z(1, 1), stat(0, 0));
    for op in 2..=10u64 {
        let version = op as i32 - 1;
        h.invoke(0, op, 7, set("/a", &format!("v{op}"))).complete(
            0,
            op,
            7,
            "ok",
            z(1, op as u32),
            stat(version, 0),
        );
    }
    assert_eq!(h.full_verdict("client.linearizable", &opts), Verdict::Pass);
    assert!(matches!(
        h.full_verdict("client.watches", &opts),
        Verdict::Inconclusive(why) if why.contains("no watch fired")
    ));
    let mut w = H::new();
    w.invoke(0, 1, 7, get("/a", true))
        .complete(0, 1, 7, "ok", z(1, 1), node("v", 0, 0))
        .invoke(0, 2, 7, set("/a", "v2"))
        .watch(0, 7, "/a", "NodeDataChanged", z(1, 2))
        .complete(0, 2, 7, "ok", z(1, 2), stat(1, 0));
    assert_eq!(w.full_verdict("client.watches", &opts), Verdict::Pass);
    // Overall: inconclusive only where nothing worse is.
    let all = [Verdict::Pass, Verdict::Inconclusive("x".into())];
    assert!(matches!(Verdict::overall(&all), Verdict::Inconclusive(_)));
    let worse = [Verdict::Inconclusive("x".into()), Verdict::Fail("y".into())];
    assert!(matches!(Verdict::overall(&worse), Verdict::Fail(_)));
}
