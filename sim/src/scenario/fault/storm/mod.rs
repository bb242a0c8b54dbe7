//! Faults on the Storm half. Their targets are Storm processes, named or
//! drawn when the fault fires (from the storm fault stream):
//! `process.rs` kills, crashes and rebalances; `cuts.rs` cuts nodes off.

mod cuts;
mod process;

pub use cuts::{CutFromEnsemble, IsolateNimbus, IsolateSupervisor, StormPartition};
pub use process::{CrashNimbus, CrashSupervisor, KillWorker, Rebalance};

use super::{Cx, Firing, Kind, R};
use crate::scenario::error::ErrorKind;
use crate::scenario::TopologySpec;
use crate::storm::{nimbus_id, supervisor_id, StormCluster, FIRST_SLOT_PORT};
use toml::Spanned;

/// The Storm fault keys: a campaign that draws no topology never reaches
/// them, so coverage leaves them out of its universe.
pub const STORM_KEYS: &[&str] = &[
    KillWorker::KEY,
    CrashSupervisor::KEY,
    CrashNimbus::KEY,
    Rebalance::KEY,
    IsolateSupervisor::KEY,
    IsolateNimbus::KEY,
    CutFromEnsemble::KEY,
    StormPartition::KEY,
];

/// A Storm process as a fault names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// One at random among those up.
    Random,
    /// The acting Nimbus leader.
    Leader,
    /// A worker hosting an acker task.
    Acker,
    /// A supervisor running a worker.
    Busy,
    /// Every Storm node.
    Storm,
    /// Every supervisor machine.
    Supervisors,
    /// `sup1`, `sup1:6700`, `nimbus2`.
    Named(String),
}

const ROLES: &[(&str, Pick)] = &[
    ("random", Pick::Random),
    ("leader", Pick::Leader),
    ("acker", Pick::Acker),
    ("busy", Pick::Busy),
    ("storm", Pick::Storm),
    ("supervisors", Pick::Supervisors),
];

impl Pick {
    fn render(&self) -> String {
        match self {
            Pick::Named(n) => format!("{n:?}"),
            role => {
                let name = ROLES
                    .iter()
                    .find(|(_, p)| p == role)
                    .map_or("?", |(n, _)| n);
                format!("{name:?}")
            }
        }
    }
}

/// A Storm fault's value as written, and what it does when it fires (the
/// `Fault` impl around it comes from `storm_fault!`).
pub(crate) trait StormFault {
    fn value(&self) -> String;
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> super::Fired;
}

/// The `Fault` impl of a Storm fault kind: no server targets, rendered by
/// `value`, skipped when no topology runs, else `act`.
macro_rules! storm_fault {
    ($($T:ident),*) => {$(
        impl crate::scenario::fault::Fault for $T {
            fn picks(&self) -> crate::scenario::fault::Picks {
                crate::scenario::fault::Picks::Nothing
            }
            fn render(&self) -> String {
                StormFault::value(self)
            }
            fn with_nodes(&self, _: &[Vec<zkstorm::types::Sid>]) -> crate::scenario::fault::Action {
                crate::scenario::fault::Action::$T(self.clone())
            }
            fn fire(&self, _: &[Vec<zkstorm::types::Sid>], cx: &mut crate::scenario::fault::Firing) -> crate::scenario::fault::Fired {
                // The Storm half is taken out for the call so `act` may
                // change the rest of the cluster (cut links) beside it.
                let Some(mut storm) = cx.cluster.storm.take() else {
                    return crate::scenario::fault::Fired::Skipped("no topology runs");
                };
                let fired = StormFault::act(self, &mut storm, cx);
                cx.cluster.storm = Some(storm);
                fired
            }
        }
    )*};
}
pub(crate) use storm_fault;

/// Parse a pick: one of `roles`, or one of `names`.
fn pick(
    raw: &Spanned<String>,
    cx: &Cx,
    roles: &[&str],
    names: fn(&TopologySpec) -> Vec<String>,
) -> R<Pick> {
    let Some(t) = cx.topology else {
        let msg = format!(
            "{} acts on the Storm half, and the scenario has no [topology]",
            cx.key
        );
        return Err(cx.v.at(raw, &cx.field, ErrorKind::Invalid, msg));
    };
    let s = raw.get_ref().as_str();
    if let Some((_, p)) = ROLES.iter().find(|(n, _)| *n == s && roles.contains(n)) {
        return Ok(p.clone());
    }
    let known = names(t);
    if known.iter().any(|k| k == s) {
        return Ok(Pick::Named(s.to_string()));
    }
    let msg = format!(
        "{s:?} is not {}, nor one of {}",
        roles.join(" or "),
        known.join(", ")
    );
    Err(cx.v.at(raw, &cx.field, ErrorKind::UnknownTarget, msg))
}

fn supervisors(t: &TopologySpec) -> Vec<String> {
    (0..t.supervisors).map(supervisor_id).collect()
}

fn slots(t: &TopologySpec) -> Vec<String> {
    (0..t.supervisors)
        .flat_map(|s| {
            (0..t.slots)
                .map(move |k| format!("{}:{}", supervisor_id(s), FIRST_SLOT_PORT + k as u16))
        })
        .collect()
}

fn nimbuses(t: &TopologySpec) -> Vec<String> {
    (0..t.nimbus).map(nimbus_id).collect()
}

fn supervisors_and_nimbuses(t: &TopologySpec) -> Vec<String> {
    let mut n = supervisors(t);
    n.extend(nimbuses(t));
    n
}

/// Draw one of `candidates`, or find the named one.
fn choose<T: Clone>(
    storm: &StormCluster,
    p: &Pick,
    candidates: &[T],
    name: impl Fn(&T) -> String,
) -> Option<T> {
    match p {
        Pick::Named(n) => candidates.iter().find(|c| name(c) == *n).cloned(),
        _ if candidates.is_empty() => None,
        _ => Some(candidates[storm.draw(candidates.len())].clone()),
    }
}

/// The supervisor a pick names among those up (`busy`: with a worker).
fn pick_supervisor(storm: &StormCluster, p: &Pick) -> Option<usize> {
    let hosts: Vec<String> = storm
        .slots_hosting(None)
        .into_iter()
        .map(|s| s.supervisor)
        .collect();
    let down = storm.supervisors_down();
    let up: Vec<usize> = (0..storm.cfg.supervisors)
        .filter(|s| !down.contains(s))
        .filter(|s| *p != Pick::Busy || hosts.contains(&supervisor_id(*s)))
        .collect();
    choose(storm, p, &up, |s| supervisor_id(*s))
}

/// The Nimbus a pick names among those up (`leader`: the acting one).
fn pick_nimbus(storm: &StormCluster, p: &Pick) -> Option<usize> {
    let down = storm.nimbus_down();
    let up: Vec<usize> = match p {
        Pick::Leader => storm.leader_nimbus().into_iter().collect(),
        _ => (0..storm.cfg.nimbuses)
            .filter(|n| !down.contains(n))
            .collect(),
    };
    choose(storm, p, &up, |n| nimbus_id(*n))
}
