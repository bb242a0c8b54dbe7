//! Checkers over the recorded history. Each returns the violations it found,
//! one line each; an empty list means the property held.

use crate::history::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};
use zkstorm::types::{SessionId, Sid, Zxid};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
}

fn v(check: &'static str, detail: String) -> Violation {
    Violation { check, detail }
}

type TxnId = (SessionId, u64, u64);

/// Every delivered zxid carries the same txn on every server (agreement,
/// integrity), and each server delivers a gap-free run of the global order
/// from where its state last restarted (total order, prefix consistency).
pub fn delivery_order(records: &[Record]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut global: BTreeMap<u64, TxnId> = BTreeMap::new();
    for r in records {
        if let Event::Delivered {
            sid,
            zxid,
            session,
            cxid,
            body,
        } = &r.event
        {
            let id = (*session, *cxid, *body);
            if let Some(prev) = global.insert(*zxid, id) {
                if prev != id {
                    out.push(v(
                        "zab.agreement",
                        format!(
                            "server {sid} delivered a different txn at {:?}",
                            Zxid(*zxid)
                        ),
                    ));
                }
            }
        }
    }
    let order: Vec<u64> = global.keys().copied().collect();
    let index: BTreeMap<u64, usize> = order.iter().enumerate().map(|(i, z)| (*z, i)).collect();
    // Per server: the last delivered zxid of the current run (None: fresh start).
    let mut last: BTreeMap<Sid, u64> = BTreeMap::new();
    for r in records {
        match &r.event {
            Event::Recovered { sid, base, .. } | Event::Reset { sid, base } => {
                last.insert(*sid, *base);
            }
            Event::Delivered { sid, zxid, .. } => {
                let prev = last.get(sid).copied().unwrap_or(0);
                let expected_prev = match index[zxid] {
                    0 => 0,
                    i => order[i - 1],
                };
                if prev != expected_prev {
                    out.push(v(
                        "zab.total_order",
                        format!(
                            "server {sid} delivered {:?} after {:?}; the global order has {:?} before it",
                            Zxid(*zxid),
                            Zxid(prev),
                            Zxid(expected_prev)
                        ),
                    ));
                }
                last.insert(*sid, *zxid);
            }
            _ => {}
        }
    }
    out
}

/// At most one established leader per epoch, and no txn of an earlier epoch
/// beyond what the new leader's history held is ever delivered (nothing lost
/// comes back, nothing uncommitted sneaks in).
pub fn leadership(records: &[Record]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut leaders: BTreeMap<u32, Sid> = BTreeMap::new();
    let mut established: BTreeMap<u32, u64> = BTreeMap::new();
    for r in records {
        if let Event::Established { sid, epoch, zxid } = &r.event {
            if let Some(other) = leaders.insert(*epoch, *sid) {
                if other != *sid {
                    out.push(v(
                        "zab.single_leader_per_epoch",
                        format!("epoch {epoch} established by {other} and {sid}"),
                    ));
                }
            }
            established.entry(*epoch).or_insert(*zxid);
        }
    }
    let delivered: BTreeSet<u64> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::Delivered { zxid, .. } => Some(zxid),
            _ => None,
        })
        .collect();
    for (&epoch, &tip) in &established {
        for &z in &delivered {
            if Zxid(z).epoch() < epoch && z > tip {
                out.push(v(
                    "zab.primary_integrity",
                    format!("{:?} of an older epoch delivered beyond epoch {epoch}'s starting history {:?}", Zxid(z), Zxid(tip)),
                ));
            }
        }
    }
    out
}

/// Every write a client saw succeed is in the delivered history with its session.
pub fn durability(records: &[Record]) -> Vec<Violation> {
    let mut out = Vec::new();
    let delivered: BTreeMap<u64, SessionId> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::Delivered { zxid, session, .. } => Some((zxid, session)),
            _ => None,
        })
        .collect();
    for r in records {
        if let Event::Complete {
            client,
            op,
            session,
            outcome,
            zxid,
            write: true,
        } = &r.event
        {
            if outcome == "ok" && delivered.get(zxid) != Some(session) {
                out.push(v(
                    "zab.durability",
                    format!(
                        "client {client} op {op} acknowledged at {:?} but not in the history",
                        Zxid(*zxid)
                    ),
                ));
            }
        }
    }
    out
}

/// All the ZAB checks.
pub fn zab(records: &[Record]) -> Vec<Violation> {
    let mut out = delivery_order(records);
    out.extend(leadership(records));
    out.extend(durability(records));
    out
}
