//! `zab.epoch_promises`: a counted ACKEPOCH is a promise — the server
//! accepted the would-be leader's epoch (durably, before the ACKEPOCH left)
//! and will vouch for it to no other would-be leader (ZooKeeper's learner
//! answers an epoch equal to its acceptedEpoch with -1, which the leader does
//! not count). Two leaders established in one epoch need such a double
//! promise, and a whole double election to show; this judges the promises
//! themselves, from the trace:
//! - no server vouches for one epoch to two would-be leaders, unless it took
//!   the first promise back in between (`ZabEvent::PromiseReleased`: the
//!   would-be leader gave that leadership up in discovery);
//! - a server that restarts recovers an acceptedEpoch at least as high as
//!   every promise it still held when it went down.

use super::{v, Violation};
use crate::history::{Event, Record};
use std::collections::BTreeMap;
use zkstorm::zab::ready::ZabEvent;

/// Per server: the promises it holds, epoch → (leader, when).
type Held = BTreeMap<u64, BTreeMap<u32, (u64, u64)>>;

pub fn check(records: &[Record], out: &mut Vec<Violation>) {
    let mut held: Held = BTreeMap::new();
    for r in records {
        match &r.event {
            Event::Promised { sid, leader, epoch } => {
                let promises = held.entry(*sid).or_default();
                match promises.get(epoch) {
                    Some(&(first, t)) if first != *leader => out.push(v(
                        "zab.epoch_promises",
                        format!(
                            "server {sid} vouched for epoch {epoch} to server {first} at {t} ms \
                             and, without taking that back, to server {leader} at {} ms",
                            r.t_ms
                        ),
                    )),
                    Some(_) => {}
                    None => {
                        promises.insert(*epoch, (*leader, r.t_ms));
                    }
                }
            }
            Event::Zab {
                sid,
                event: ZabEvent::PromiseReleased { to, epoch },
            } => {
                let promises = held.entry(*sid).or_default();
                if promises.get(epoch).is_some_and(|(l, _)| l == to) {
                    promises.remove(epoch);
                }
            }
            Event::Recovered {
                sid,
                accepted_epoch,
                ..
            } => recovered(*sid, *accepted_epoch, r.t_ms, &held, out),
            _ => {}
        }
    }
}

/// A restarted server must not have forgotten an epoch it still promised.
fn recovered(sid: u64, accepted: u32, t_ms: u64, held: &Held, out: &mut Vec<Violation>) {
    let Some((&epoch, &(leader, t))) = held.get(&sid).and_then(|p| p.last_key_value()) else {
        return;
    };
    if accepted < epoch {
        out.push(v(
            "zab.epoch_promises",
            format!(
                "server {sid} vouched for epoch {epoch} to server {leader} at {t} ms, \
                 but recovered at {t_ms} ms with acceptedEpoch {accepted}"
            ),
        ));
    }
}
