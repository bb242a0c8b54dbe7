//! `zab.ack_durable`: a server acknowledges a proposal (ACK, or ACK of
//! NEWLEADER) only once it is on stable storage, so a server that crashes
//! or loses power recovers at least as far as it had acknowledged. Checked
//! directly, this catches a follower that ACKs too early whenever one loses
//! power in the window, without needing the later election that would turn
//! it into a lost write.

use super::{v, zx, Violation};
use crate::history::{Event, Record};
use std::collections::BTreeMap;

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
