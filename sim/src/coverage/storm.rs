//! Coverage of the Storm half: the states a topology run reached, from
//! its engine, Nimbus and supervisor records.

use crate::history::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};
use zkstorm::storm::observe::{NimbusEvent, SupervisorEvent};
use zkstorm::storm::StormEvent;

/// Every Storm cell there is.
pub const CELLS: &[&str] = &[
    "storm:replayed",
    "storm:timed_out",
    "storm:backpressure",
    "storm:worker_restarted",
    "storm:nimbus_failover",
    "storm:reassigned",
    "storm:batch_retried",
    "storm:save_failed",
    "storm:supervisor_new_session",
    "storm:adopted",
];

/// The Storm cells `records` reach.
pub fn reach(records: &[Record], cells: &mut BTreeSet<String>) {
    let mut started: BTreeSet<(&str, u32)> = BTreeSet::new();
    let mut leaders: BTreeSet<&str> = BTreeSet::new();
    let mut assigned = 0;
    let mut sessions: BTreeMap<&str, usize> = BTreeMap::new();
    let mut hit = |c: &str| {
        cells.insert(c.to_string());
    };
    for r in records {
        match &r.event {
            Event::Storm { worker, event } => match event {
                StormEvent::SpoutFailed { timed_out, .. } => {
                    hit("storm:replayed");
                    if *timed_out {
                        hit("storm:timed_out");
                    }
                }
                StormEvent::Backpressure { on: true } => hit("storm:backpressure"),
                StormEvent::Started { task } if !started.insert((worker.as_str(), *task)) => {
                    hit("storm:worker_restarted")
                }
                StormEvent::Stopped { why } if why.starts_with("saving") => {
                    hit("storm:save_failed")
                }
                StormEvent::Saved { key, value, .. }
                    if key == "coordinator/currattempts" && retried(value) =>
                {
                    hit("storm:batch_retried")
                }
                _ => {}
            },
            Event::Nimbus { id, event } => match event {
                NimbusEvent::Leading { .. } => {
                    leaders.insert(id);
                    if leaders.len() > 1 {
                        hit("storm:nimbus_failover");
                    }
                }
                NimbusEvent::Assigned { error: None, .. } => {
                    assigned += 1;
                    if assigned > 1 {
                        hit("storm:reassigned");
                    }
                }
                _ => {}
            },
            Event::Supervisor { id, event } => match event {
                SupervisorEvent::Registered { .. } => {
                    let n = sessions.entry(id).or_default();
                    *n += 1;
                    if *n > 1 {
                        hit("storm:supervisor_new_session");
                    }
                }
                SupervisorEvent::Adopted { .. } => hit("storm:adopted"),
                _ => {}
            },
            _ => {}
        }
    }
}

/// A coordinator's attempts (JSON, txid -> attempt) with one past the first.
fn retried(attempts: &str) -> bool {
    serde_json::from_str::<BTreeMap<String, u32>>(attempts)
        .is_ok_and(|a| a.values().any(|n| *n > 0))
}
