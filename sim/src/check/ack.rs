//! `zab.epoch_durable`: a server makes an epoch its currentEpoch only once
//! the history it has then is durable, so one that recovers with that epoch
//! has at least that history (ZOOKEEPER-4643's promise).
//!
//! `zab.ack_durable`: a server acknowledges a proposal (ACK, or ACK of
//! NEWLEADER) only once it is on stable storage, so a server that crashes
//! or loses power recovers at least as far as it had acknowledged. Checked
//! directly, this catches a follower that ACKs too early whenever one loses
//! power in the window, without needing the later election that would turn
//! it into a lost write.

use super::{v, zx, Violation};
use crate::history::{Event, Record};
use std::collections::BTreeMap;
use zkstorm::zab::ready::ZabEvent;

/// `zab.epoch_durable`.
pub fn check_epochs(records: &[Record], out: &mut Vec<Violation>) {
    // Per server: the epoch it last adopted and its log's end then (lowered
    // by later truncations and snapshots, which the protocol decided).
    let mut owed: BTreeMap<u64, (u32, u64, u64)> = BTreeMap::new();
    for r in records {
        match &r.event {
            Event::Zab {
                sid,
                event: ZabEvent::EpochAdopted { epoch, zxid },
            } => {
                owed.insert(*sid, (*epoch, zxid.0, r.t_ms));
            }
            Event::Truncated { sid, to, .. } | Event::Reset { sid, base: to } => {
                if let Some(o) = owed.get_mut(sid) {
                    o.1 = o.1.min(*to);
                }
            }
            Event::Recovered {
                sid,
                current_epoch,
                last_zxid,
                ..
            } => {
                if let Some(&(epoch, zxid, t)) = owed.get(sid) {
                    if *current_epoch == epoch && *last_zxid < zxid {
                        out.push(v(
                            "zab.epoch_durable",
                            format!(
                                "server {sid} took epoch {epoch} at {t} ms with its log at {}, \
                                 but recovered with that epoch and its log only at {} ({} ms)",
                                zx(zxid),
                                zx(*last_zxid),
                                r.t_ms
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

pub fn check(records: &[Record], out: &mut Vec<Violation>) {
    // Per server: what it had acknowledged when it last went down.
    let mut owed: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for r in records {
        match &r.event {
            Event::Acked { sid, through } => {
                owed.insert(*sid, (*through, r.t_ms));
            }
            Event::Recovered { sid, last_zxid, .. } => {
                if let Some((through, t)) = owed.remove(sid) {
                    if *last_zxid < through {
                        out.push(v(
                            "zab.ack_durable",
                            format!(
                                "server {sid} had acknowledged up to {} when it went down at {t} ms, \
                                 but recovered only up to {} at {} ms",
                                zx(through),
                                zx(*last_zxid),
                                r.t_ms
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}
