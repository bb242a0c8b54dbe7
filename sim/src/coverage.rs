//! State coverage: the abstract protocol states a run reached, as named
//! cells, judged from its recorded history like a checker. A campaign
//! counts them per cell and lists the cells it never reached; `--guided`
//! keeps the seeds that reached new cells and mutates them.
//!
//! Cells: `sync:DIFF|TRUNC|SNAP` (a sync of that mode was sent);
//! `step_down:<reason>` (each way a server gives up its role);
//! `fault:<kind>@<phase>` (a fault fired while the ensemble was electing, in
//! discovery, in sync or broadcasting — the phase of the newest leader, or
//! `election` if none); `leaders_in_discovery:2+` (two would-be leaders in
//! discovery at once); `epoch_gap:0|1|2+` (epochs skipped by a new
//! leader); `recovered:torn|snapshot`; `client:<state>`; from what a
//! leader hears in ACKEPOCH, `ackepoch:behind:0|1|2+` (epochs a follower
//! missed: the new epoch less its currentEpoch, less one) and
//! `ackepoch:log_ahead` (its log reaches past the leader's); from FOLLOWERINFO,
//! `epoch_chosen:accepted_differ` (the quorum a leader chose its epoch from
//! had accepted different epochs: a would-be leader failed in between).
//!
//! Some cells are thresholds of a number (`MEASURES`); a run reports the
//! largest it reached, so `--guided` can keep runs that come closer to such
//! a cell before any run reaches it.

use crate::history::{ClientStatus, Event, NodeChange, Record};
use crate::scenario::{Scenario, ACTION_KEYS, STORM_KEYS};
use std::collections::{BTreeMap, BTreeSet};
use zkstorm::zab::peer::STEP_DOWN_REASONS;
use zkstorm::zab::ready::ZabEvent;

/// A server's phase, as the history shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Election,
    Discovery,
    Sync,
    Broadcast,
    Down,
}

const PHASES: &[&str] = &["election", "discovery", "sync", "broadcast"];
const CLIENT_STATES: &[&str] = &["connected", "disconnected", "expired", "connect_failed"];

mod storm;

/// Every cell a campaign can reach: with topologies (`--topology`), the
/// Storm faults' cells and the Storm half's own too.
pub fn universe_for(topology: bool) -> BTreeSet<String> {
    let mut u = universe();
    if topology {
        for k in STORM_KEYS {
            for p in PHASES {
                u.insert(format!("fault:{k}@{p}"));
            }
        }
        u.extend(storm::CELLS.iter().map(|c| c.to_string()));
    }
    u
}

/// Every cell a campaign without topologies can reach.
pub fn universe() -> BTreeSet<String> {
    let mut u = BTreeSet::new();
    for m in ["DIFF", "TRUNC", "SNAP"] {
        u.insert(format!("sync:{m}"));
    }
    for r in STEP_DOWN_REASONS {
        u.insert(format!("step_down:{r}"));
    }
    for k in ACTION_KEYS.iter().filter(|k| !STORM_KEYS.contains(k)) {
        for p in PHASES {
            u.insert(format!("fault:{k}@{p}"));
        }
    }
    u.insert("leaders_in_discovery:2+".into());
    for g in ["0", "1", "2+"] {
        u.insert(format!("epoch_gap:{g}"));
    }
    u.insert("recovered:torn".into());
    u.insert("recovered:snapshot".into());
    for b in ["0", "1", "2+"] {
        u.insert(format!("ackepoch:behind:{b}"));
    }
    u.insert("ackepoch:log_ahead".into());
    u.insert("epoch_chosen:accepted_differ".into());
    for c in CLIENT_STATES {
        u.insert(format!("client:{c}"));
    }
    u
}

/// Numbers whose thresholds are cells: (measure, the cell, its threshold).
pub const MEASURES: &[(&str, &str, u64)] = &[
    ("epoch_gap", "epoch_gap:2+", 2),
    ("ackepoch_behind", "ackepoch:behind:2+", 2),
    ("leaders_in_discovery", "leaders_in_discovery:2+", 2),
];

/// What one run reached: its cells, and the largest value of each measure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reach {
    pub cells: BTreeSet<String>,
    pub measures: BTreeMap<&'static str, u64>,
}

impl Reach {
    fn measure(&mut self, name: &'static str, value: u64) {
        let m = self.measures.entry(name).or_default();
        *m = (*m).max(value);
    }
}

/// A count as a cell name: 0, 1, or 2+.
fn bucket(n: u64) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        _ => "2+",
    }
}

/// The cells one run reached.
pub fn cells(sc: &Scenario, records: &[Record]) -> BTreeSet<String> {
    reach(sc, records).cells
}

/// The cells one run reached, and its measures. Faults fire at their `at`,
/// so their cells come from the scenario's timeline (the faults a run
/// skipped included: the moment was reached).
pub fn reach(sc: &Scenario, records: &[Record]) -> Reach {
    let mut reach = Reach::default();
    let mut phase: BTreeMap<u64, Phase> = BTreeMap::new();
    let mut leading: BTreeSet<u64> = BTreeSet::new();
    let mut newest_leader: Option<u64> = None;
    let mut last_epoch: Option<u32> = None;
    let mut faults: Vec<(u64, &'static str)> = sc
        .faults
        .iter()
        .map(|f| (f.at.as_millis() as u64, f.action.key()))
        .collect();
    faults.sort();
    let mut next_fault = 0;
    for r in records {
        while next_fault < faults.len() && faults[next_fault].0 <= r.t_ms {
            let p = newest_leader
                .and_then(|l| phase.get(&l).copied())
                .filter(|p| *p != Phase::Down)
                .unwrap_or(Phase::Election);
            let cell = format!("fault:{}@{}", faults[next_fault].1, name(p));
            reach.cells.insert(cell);
            next_fault += 1;
        }
        let mut state = (
            &mut phase,
            &mut leading,
            &mut newest_leader,
            &mut last_epoch,
        );
        step(&r.event, &mut state, &mut reach);
        let in_discovery = leading
            .iter()
            .filter(|s| phase.get(s) == Some(&Phase::Discovery))
            .count() as u64;
        reach.measure("leaders_in_discovery", in_discovery);
        if in_discovery >= 2 {
            reach.cells.insert("leaders_in_discovery:2+".into());
        }
    }
    if sc.topology.is_some() {
        storm::reach(records, &mut reach.cells);
    }
    reach
}

/// What the servers are doing, as the history shows it: each one's phase,
/// who leads, the newest leader, the newest established epoch.
type State<'a> = (
    &'a mut BTreeMap<u64, Phase>,
    &'a mut BTreeSet<u64>,
    &'a mut Option<u64>,
    &'a mut Option<u32>,
);

fn name(p: Phase) -> &'static str {
    match p {
        Phase::Election | Phase::Down => "election",
        Phase::Discovery => "discovery",
        Phase::Sync => "sync",
        Phase::Broadcast => "broadcast",
    }
}

/// One record's effect on the phases, and the cells it reaches.
fn step(e: &Event, state: &mut State, reach: &mut Reach) {
    let (phase, leading, newest_leader, last_epoch) = state;
    match e {
        Event::Zab { sid, event } => match event {
            ZabEvent::Looking { .. } => {
                phase.insert(*sid, Phase::Election);
                leading.remove(sid);
            }
            ZabEvent::Leading { .. } => {
                phase.insert(*sid, Phase::Discovery);
                leading.insert(*sid);
                **newest_leader = Some(*sid);
            }
            ZabEvent::Following { .. } => {
                phase.insert(*sid, Phase::Discovery);
            }
            ZabEvent::SyncSent { mode, .. } => {
                phase.insert(*sid, Phase::Sync);
                reach.cells.insert(format!("sync:{mode}"));
            }
            ZabEvent::Serving { .. } => {
                phase.insert(*sid, Phase::Broadcast);
            }
            ZabEvent::SteppedDown { reason } => {
                reach.cells.insert(format!("step_down:{reason}"));
            }
            ZabEvent::EpochAcked {
                current_epoch,
                last_zxid,
                epoch,
                ours,
                ..
            } if *epoch > 0 => {
                let behind = u64::from(epoch.saturating_sub(*current_epoch).saturating_sub(1));
                reach.measure("ackepoch_behind", behind);
                reach
                    .cells
                    .insert(format!("ackepoch:behind:{}", bucket(behind)));
                if last_zxid > ours {
                    reach.cells.insert("ackepoch:log_ahead".into());
                }
            }
            ZabEvent::EpochChosen { accepted, .. } if accepted.first() != accepted.last() => {
                reach.cells.insert("epoch_chosen:accepted_differ".into());
            }
            _ => {}
        },
        Event::Established { sid, epoch, .. } => {
            phase.insert(*sid, Phase::Broadcast);
            if let Some(prev) = **last_epoch {
                let gap = u64::from(epoch.saturating_sub(prev).saturating_sub(1));
                reach.measure("epoch_gap", gap);
                reach.cells.insert(format!("epoch_gap:{}", bucket(gap)));
            }
            **last_epoch = Some(last_epoch.map_or(*epoch, |p| p.max(*epoch)));
        }
        Event::Truncated { sid, .. } | Event::Reset { sid, .. } => {
            phase.insert(*sid, Phase::Sync);
        }
        Event::Recovered {
            sid,
            base,
            torn_bytes,
            ..
        } => {
            phase.insert(*sid, Phase::Election);
            leading.remove(sid);
            if *torn_bytes > 0 {
                reach.cells.insert("recovered:torn".into());
            }
            if *base > 0 {
                reach.cells.insert("recovered:snapshot".into());
            }
        }
        Event::Node { sid, change }
            if !matches!(
                change,
                NodeChange::Paused | NodeChange::Resumed | NodeChange::Restarted
            ) =>
        {
            phase.insert(*sid, Phase::Down);
            leading.remove(sid);
        }
        Event::ClientState { state, .. } => {
            let cell = match state {
                ClientStatus::Connected => Some("connected"),
                ClientStatus::Disconnected => Some("disconnected"),
                ClientStatus::Expired => Some("expired"),
                ClientStatus::ConnectFailed { .. } => Some("connect_failed"),
                _ => None,
            };
            if let Some(c) = cell {
                reach.cells.insert(format!("client:{c}"));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::run_seed;

    #[test]
    fn a_topology_run_reaches_storm_cells_within_the_topology_universe() {
        let sc = crate::scenario::Scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/word-count-exactly-once.toml"
        )))
        .unwrap();
        let r = run_seed(&sc, 1).unwrap();
        let got = cells(&sc, &r.history.records());
        let u = universe_for(true);
        for c in &got {
            assert!(u.contains(c), "{c} is not in the universe");
        }
        for c in [
            "fault:kill_worker@broadcast",
            "storm:worker_restarted",
            "storm:batch_retried",
        ] {
            assert!(got.contains(c), "{c} missing from {got:?}");
        }
        assert!(!got.contains("storm:adopted"), "{got:?}");
        assert!(universe().iter().all(|c| !c.starts_with("storm:")));
    }

    #[test]
    fn a_leader_crash_reaches_its_cells_and_no_cell_outside_the_universe() {
        let sc = crate::scenario::Scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/leader-crash.toml"
        )))
        .unwrap();
        let r = run_seed(&sc, 7).unwrap();
        let got = cells(&sc, &r.history.records());
        let u = universe();
        for c in &got {
            assert!(u.contains(c), "{c} is not in the universe");
        }
        for c in [
            "sync:DIFF",
            "fault:crash@broadcast",
            "step_down:lost connection to leader",
            "epoch_gap:0",
            "client:connected",
        ] {
            assert!(got.contains(c), "{c} missing from {got:?}");
        }
        assert!(!got.contains("step_down:zxid counter exhausted"), "{got:?}");
        // What the leaders heard in ACKEPOCH, and the measures.
        let r2 = reach(&sc, &r.history.records());
        assert!(r2.cells.contains("ackepoch:behind:0"), "{:?}", r2.cells);
        assert_eq!(r2.measures.get("ackepoch_behind"), Some(&0));
        assert!(r2.measures.get("leaders_in_discovery") >= Some(&1));
    }
}
