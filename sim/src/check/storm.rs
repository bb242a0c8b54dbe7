//! Storm checks over the engine's events (`Event::Storm`), judged against
//! what the topology promises (`StormSpec`):
//!
//! - `storm.at_least_once`: every message a source holds is acked in the
//!   end (through replays);
//! - `storm.tree_complete`: no root is acked while a tuple of its tree was
//!   sent to a task that had not acked it;
//! - `storm.single_callback`: at most one ack or fail per emission, and only
//!   for a root the task emitted in its current life;
//! - `storm.max_pending`: a spout task never has more tracked messages in
//!   flight than its limit;
//! - `storm.word_count`: the store holds exactly the input's word counts
//!   (exactly-once) or at least them (at-least-once), and no other word;
//! - `storm.exactly_once`: a batch topology ends with the state the
//!   fault-free run of the same input commits, each key saved in txid
//!   order;
//! - `storm.assignment`: when the run ends (faults healed, settled), every
//!   task runs in exactly one running worker: none missing, none doubled;
//! - `storm.single_nimbus` (from `Event::Nimbus`): at most one Nimbus acts
//!   as leader at any instant, it writes assignments only while acting,
//!   and no write of an older leader lands after one of a newer.

use super::{v, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zkstorm::storm::batch::state::key_of;
use zkstorm::storm::batch::{Stored, COORDINATOR};
use zkstorm::storm::message::StormEvent;
use zkstorm::storm::observe::NimbusEvent;
use zkstorm::storm::topology::{Kind, Topology};
use zkstorm::storm::{MsgId, TaskId};

/// What a run's topology promises, for the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StormSpec {
    /// Spout tasks and their component.
    pub spouts: BTreeMap<TaskId, String>,
    /// Per spout task, its max pending (absent: unbounded).
    pub max_pending: BTreeMap<TaskId, u32>,
    /// Per spout component, the message ids its source holds.
    pub inputs: BTreeMap<String, BTreeSet<MsgId>>,
    /// The store's expected contents, and whether exactly.
    pub counts: Option<(BTreeMap<String, i64>, bool)>,
    /// Every task of the topology (`storm.assignment`).
    pub tasks: Vec<TaskId>,
    pub topology: String,
    /// A batch topology: the state the same input commits with no fault
    /// (`storm.exactly_once`; the run reads the state it ended with).
    pub exactly_once: Option<BTreeMap<String, i64>>,
}

impl StormSpec {
    /// The spouts and their limits; inputs and counts are the caller's.
    pub fn of(topology: &Topology) -> StormSpec {
        let mut spec = StormSpec {
            topology: topology.name.clone(),
            ..StormSpec::default()
        };
        for (task, c) in topology.tasks() {
            spec.tasks.push(task);
            if let Kind::Spout(_) = c.kind {
                spec.spouts.insert(task, c.id.clone());
                if let Some(m) = c.max_spout_pending {
                    spec.max_pending.insert(task, m);
                }
            }
        }
        spec
    }
}

/// An event with its time (ms) and the worker (slot) that reported it: a
/// task id names one executor per worker, and while a cut-off worker still
/// runs, its tasks may already run elsewhere too.
pub type Ev<'a> = (u64, &'a str, &'a StormEvent);

/// A Nimbus event with its time (ms) and the Nimbus's id.
pub type NimbusEv<'a> = (u64, &'a str, &'a NimbusEvent);

/// The state a batch topology ended with, as read from the ensemble
/// (`Err`: why it could not be read; `None`: not read).
pub type Ended<'a> = Option<Result<&'a BTreeMap<String, i64>, &'a str>>;

/// Every storm check.
pub fn check(events: &[Ev], nimbus: &[NimbusEv], ended: Ended, spec: &StormSpec) -> Vec<Violation> {
    let mut out = Vec::new();
    exactly_once(events, ended, spec, &mut out);
    single_nimbus(nimbus, &mut out);
    at_least_once(events, spec, &mut out);
    tree_complete(events, &mut out);
    single_callback(events, &mut out);
    max_pending(events, spec, &mut out);
    word_count(events, ended, spec, &mut out);
    assignment(events, spec, &mut out);
    out
}

fn assignment(events: &[Ev], spec: &StormSpec, out: &mut Vec<Violation>) {
    if spec.tasks.is_empty() {
        return;
    }
    let mut running: BTreeMap<&str, BTreeSet<TaskId>> = BTreeMap::new();
    let mut end = 0;
    for (t, w, e) in events {
        end = *t;
        match e {
            StormEvent::Started { task } => {
                running.entry(*w).or_default().insert(*task);
            }
            StormEvent::Stopped { .. } => {
                running.remove(*w);
            }
            _ => {}
        }
    }
    let mut wrong = Vec::new();
    for task in &spec.tasks {
        let on: Vec<&str> = running
            .iter()
            .filter(|(_, ts)| ts.contains(task))
            .map(|(w, _)| *w)
            .collect();
        match on.len() {
            1 => {}
            0 => wrong.push(format!("task {task} runs nowhere")),
            _ => wrong.push(format!("task {task} runs on {}", on.join(" and "))),
        }
    }
    if !wrong.is_empty() {
        out.push(v(
            "storm.assignment",
            format!(
                "when the run ended ({end} ms), {} of {} tasks were not on exactly one worker: {}",
                wrong.len(),
                spec.tasks.len(),
                wrong[..wrong.len().min(4)].join("; ")
            ),
        ));
    }
}

fn at_least_once(events: &[Ev], spec: &StormSpec, out: &mut Vec<Violation>) {
    let mut acked: BTreeMap<&str, BTreeSet<MsgId>> = BTreeMap::new();
    let mut emitted: BTreeMap<&str, BTreeSet<MsgId>> = BTreeMap::new();
    for (_, _, e) in events {
        let (task, msg, into) = match e {
            StormEvent::SpoutAcked { task, msg, .. } => (task, msg, &mut acked),
            StormEvent::SpoutEmitted {
                task,
                msg: Some(msg),
                ..
            } => (task, msg, &mut emitted),
            _ => continue,
        };
        if let Some(c) = spec.spouts.get(task) {
            into.entry(c.as_str()).or_default().insert(*msg);
        }
    }
    // A batch coordinator's messages are attempts: a failed one is never
    // acked, its batch is (storm.exactly_once judges batches).
    let components: BTreeSet<&str> = spec
        .spouts
        .values()
        .map(|s| s.as_str())
        .filter(|c| *c != COORDINATOR)
        .collect();
    for c in components {
        // Without a declared input, what was emitted is what is owed.
        let owed = spec.inputs.get(c).or_else(|| emitted.get(c));
        let Some(owed) = owed else { continue };
        let got = acked.get(c);
        let missing: Vec<&MsgId> = owed
            .iter()
            .filter(|m| !got.is_some_and(|g| g.contains(m)))
            .collect();
        if !missing.is_empty() {
            out.push(v(
                "storm.at_least_once",
                format!(
                    "{} of {} messages of spout {c:?} were never acked, e.g. {:?}",
                    missing.len(),
                    owed.len(),
                    &missing[..missing.len().min(5)]
                ),
            ));
        }
    }
}

/// A sent tuple: where it went and when.
struct SentTuple {
    to: TaskId,
    t_ms: u64,
    acked: bool,
}

fn tree_complete(events: &[Ev], out: &mut Vec<Violation>) {
    let mut sent: BTreeMap<u64, SentTuple> = BTreeMap::new();
    let mut trees: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (t, _, e) in events {
        match e {
            StormEvent::Sent { to, uid, roots, .. } if !roots.is_empty() => {
                sent.insert(
                    *uid,
                    SentTuple {
                        to: *to,
                        t_ms: *t,
                        acked: false,
                    },
                );
                for r in roots {
                    trees.entry(*r).or_default().push(*uid);
                }
            }
            StormEvent::BoltAcked { uid, .. } => {
                if let Some(s) = sent.get_mut(uid) {
                    s.acked = true;
                }
            }
            StormEvent::SpoutAcked {
                task,
                root: Some(r),
                ..
            } => {
                let open = trees
                    .remove(r)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|u| sent.get(&u).filter(|s| !s.acked).map(|s| (u, s)))
                    .next();
                if let Some((uid, s)) = open {
                    out.push(v(
                        "storm.tree_complete",
                        format!(
                            "root {r:#x} of spout task {task} was acked at {t} ms while tuple {uid:#x}, \
                             sent to task {} at {} ms, was not acked",
                            s.to, s.t_ms
                        ),
                    ));
                }
            }
            StormEvent::SpoutFailed { root, .. } => {
                trees.remove(root);
            }
            _ => {}
        }
    }
}

fn single_callback(events: &[Ev], out: &mut Vec<Violation>) {
    // Per (worker, task): roots emitted in its current life; per root, its
    // first callback.
    let mut live: BTreeMap<(&str, TaskId), BTreeSet<u64>> = BTreeMap::new();
    let mut done: BTreeMap<u64, (u64, &'static str)> = BTreeMap::new();
    for (t, w, e) in events {
        let (task, root, what) = match e {
            StormEvent::Started { task } => {
                live.remove(&(*w, *task));
                continue;
            }
            StormEvent::SpoutEmitted {
                task,
                root: Some(r),
                ..
            } => {
                live.entry((*w, *task)).or_default().insert(*r);
                continue;
            }
            StormEvent::SpoutAcked {
                task,
                root: Some(r),
                ..
            } => (task, r, "ack"),
            StormEvent::SpoutFailed { task, root, .. } => (task, root, "fail"),
            _ => continue,
        };
        if let Some((t0, first)) = done.get(root) {
            out.push(v(
                "storm.single_callback",
                format!("root {root:#x} of spout task {task} on {w} got a {what} at {t} ms after a {first} at {t0} ms"),
            ));
        } else if !live.get(&(*w, *task)).is_some_and(|l| l.contains(root)) {
            out.push(v(
                "storm.single_callback",
                format!("spout task {task} on {w} got a {what} at {t} ms for root {root:#x}, which it did not emit in this life"),
            ));
        }
        done.insert(*root, (*t, what));
    }
}

fn max_pending(events: &[Ev], spec: &StormSpec, out: &mut Vec<Violation>) {
    let mut in_flight: BTreeMap<(&str, TaskId), u32> = BTreeMap::new();
    for (t, w, e) in events {
        match e {
            StormEvent::Started { task } => {
                in_flight.remove(&(*w, *task));
            }
            StormEvent::SpoutEmitted {
                task,
                root: Some(_),
                ..
            } => {
                let n = in_flight.entry((*w, *task)).or_default();
                *n += 1;
                if let Some(limit) = spec.max_pending.get(task).filter(|l| *n > **l) {
                    out.push(v(
                        "storm.max_pending",
                        format!("spout task {task} on {w} had {n} messages in flight at {t} ms, over its limit of {limit}"),
                    ));
                }
            }
            StormEvent::SpoutAcked {
                task,
                root: Some(_),
                ..
            }
            | StormEvent::SpoutFailed { task, .. } => {
                let n = in_flight.entry((*w, *task)).or_default();
                *n = n.saturating_sub(1);
            }
            _ => {}
        }
    }
}

fn word_count(events: &[Ev], ended: Ended, spec: &StormSpec, out: &mut Vec<Violation>) {
    let Some((expected, exact)) = &spec.counts else {
        return;
    };
    let mut store: BTreeMap<&str, i64> = BTreeMap::new();
    if spec.exactly_once.is_some() {
        // Batches commit state; what counts is what the run ended with.
        let Some(Ok(ended)) = ended else { return };
        store.extend(ended.iter().map(|(k, v)| (k.as_str(), *v)));
    }
    for (_, _, e) in events {
        if let StormEvent::StoreAdd { key, delta, .. } = e {
            *store.entry(key.as_str()).or_default() += delta;
        }
    }
    let mut wrong = Vec::new();
    for (w, n) in expected {
        let got = store.get(w.as_str()).copied().unwrap_or(0);
        if got < *n || (*exact && got != *n) {
            wrong.push(format!("{w:?}: {got}, expected {n}"));
        }
    }
    for (w, got) in &store {
        if !expected.contains_key(*w) {
            wrong.push(format!("{w:?}: {got}, not in the input"));
        }
    }
    if !wrong.is_empty() {
        let mode = if *exact { "exactly" } else { "at least" };
        out.push(v(
            "storm.word_count",
            format!(
                "{} keys of the store are not counted {mode} as in the input: {}",
                wrong.len(),
                wrong[..wrong.len().min(5)].join(", ")
            ),
        ));
    }
}

/// A batch topology: the state it ended with equals the fault-free
/// reference, and each key's state was saved in txid order.
fn exactly_once(events: &[Ev], ended: Ended, spec: &StormSpec, out: &mut Vec<Violation>) {
    let Some(reference) = &spec.exactly_once else {
        return;
    };
    let name = "storm.exactly_once";
    let mut last: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (t, w, e) in events {
        let StormEvent::Saved { task, key, value } = e else {
            continue;
        };
        let Some(s) = key_of(key).and(serde_json::from_str::<Stored>(value).ok()) else {
            continue;
        };
        match last.insert(key, (s.txid, *t)) {
            Some((prev, t0)) if prev > s.txid => out.push(v(name, format!(
                "task {task} on {w} saved {key:?} for batch {} at {t} ms, after batch {prev} had been saved (at {t0} ms): batches committed out of order",
                s.txid
            ))),
            _ => {}
        }
    }
    let Some(Ok(ended)) = ended else { return };
    let keys: BTreeSet<&String> = reference.keys().chain(ended.keys()).collect();
    let wrong: Vec<String> = keys
        .into_iter()
        .filter(|k| reference.get(*k) != ended.get(*k))
        .map(|k| {
            format!(
                "{k:?}: {:?}, fault-free {:?}",
                ended.get(k),
                reference.get(k)
            )
        })
        .collect();
    if !wrong.is_empty() {
        out.push(v(name, format!(
            "{} of {} keys of the committed state differ from the fault-free run of the same input: {}",
            wrong.len(),
            reference.len().max(ended.len()),
            wrong[..wrong.len().min(5)].join(", ")
        )));
    }
}

/// The sequence number of a leader-lock node (`.../latch-<session>-0000000007`).
fn latch_seq(latch: &str) -> u64 {
    latch
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn single_nimbus(events: &[NimbusEv], out: &mut Vec<Violation>) {
    let name = "storm.single_nimbus";
    // Who acts now, since when.
    let mut acting: BTreeMap<&str, u64> = BTreeMap::new();
    // Successful writes: (zxid, latch sequence, nimbus, time).
    let mut writes: Vec<(u64, u64, &str, u64)> = Vec::new();
    for (t, id, e) in events {
        match e {
            NimbusEvent::Leading { .. } => {
                if let Some((other, since)) = acting.iter().find(|(o, _)| **o != *id) {
                    out.push(v(name, format!("{id} began to lead at {t} ms while {other} was still acting as leader (since {since} ms)")));
                }
                acting.entry(id).or_insert(*t);
            }
            NimbusEvent::Stepped { .. } => {
                acting.remove(id);
            }
            NimbusEvent::Assigned {
                zxid,
                latch,
                error: None,
                topology,
            } => {
                if !acting.contains_key(id) {
                    out.push(v(name, format!("{id} wrote the assignment of {topology} at {t} ms (zxid {zxid:#x}) while not acting as leader")));
                }
                writes.push((*zxid, latch_seq(latch), id, *t));
            }
            _ => {}
        }
    }
    writes.sort_unstable();
    let mut newest: Option<(u64, &str, u64)> = None;
    for (zxid, seq, id, t) in writes {
        match newest {
            Some((s0, id0, t0)) if seq < s0 => out.push(v(
                name,
                format!("{id} (leader-lock {seq}) wrote at zxid {zxid:#x} ({t} ms), after {id0} (leader-lock {s0}) had written ({t0} ms): a deposed leader's write landed"),
            )),
            _ => newest = Some((seq, id, t)),
        }
    }
}

#[cfg(test)]
mod tests;
