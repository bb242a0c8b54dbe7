//! Faults on Storm processes: kill a worker, crash a supervisor or a
//! Nimbus (restarted at `until`), ask for a rebalance.

use super::{
    choose, nimbuses, pick, pick_nimbus, pick_supervisor, slots, storm_fault, supervisors, Pick,
    StormFault,
};
use crate::scenario::error::ErrorKind;
use crate::scenario::fault::{Cx, Fired, Firing, Kind, Lasts, Undo, R};
use crate::scenario::schema::Int;
use crate::storm::{nimbus_id, supervisor_id, StormCluster};
use toml::Spanned;
use zkstorm::storm::nimbus::NimbusRequest;
use zkstorm::storm::topology::ACKER;

/// Kill a worker process (kill -9): its supervisor restarts it.
#[derive(Clone, Debug, PartialEq)]
pub struct KillWorker(pub Pick);

impl Kind for KillWorker {
    const KEY: &'static str = "kill_worker";
    const VALUE: &'static str = "random | acker | \"sup1:6700\"";
    const ABOUT: &'static str = "kill a worker process (its supervisor starts it again)";
    const LASTS: Lasts = Lasts::Instant("its supervisor restarts a killed worker");
    type Raw = String;
    fn validate(raw: &Spanned<String>, cx: &Cx) -> R<Self> {
        pick(raw, cx, &["random", "acker"], slots).map(KillWorker)
    }
}

impl StormFault for KillWorker {
    fn value(&self) -> String {
        self.0.render()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let hosting = storm.slots_hosting((self.0 == Pick::Acker).then_some(ACKER));
        let Some(slot) = choose(storm, &self.0, &hosting, |s| s.to_string()) else {
            return Fired::Skipped("no such worker is running");
        };
        cx.desc = format!("worker={slot}");
        cx.record("");
        storm.kill_worker(&slot);
        Fired::Done(None)
    }
}

/// Crash a supervisor process; restarted at `until` (or the final heal).
#[derive(Clone, Debug, PartialEq)]
pub struct CrashSupervisor(pub Pick);

impl Kind for CrashSupervisor {
    const KEY: &'static str = "crash_supervisor";
    const VALUE: &'static str = "random | busy | \"sup1\"";
    const ABOUT: &'static str =
        "crash a supervisor process (busy: one running a worker; its workers keep running); restart at until";
    const LASTS: Lasts = Lasts::Until;
    type Raw = String;
    fn validate(raw: &Spanned<String>, cx: &Cx) -> R<Self> {
        pick(raw, cx, &["random", "busy"], supervisors).map(CrashSupervisor)
    }
}

impl StormFault for CrashSupervisor {
    fn value(&self) -> String {
        self.0.render()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let Some(s) = pick_supervisor(storm, &self.0) else {
            return Fired::Skipped("no such supervisor is up");
        };
        cx.desc = format!("supervisor={}", supervisor_id(s));
        cx.record("");
        storm.crash_supervisor(s);
        Fired::Done(Some(Undo::new(false, move |cluster, _, head| {
            cluster
                .history
                .fault(format!("{head}: restart {}", supervisor_id(s)));
            if let Some(storm) = cluster.storm.as_mut() {
                storm.restart_supervisor(s);
            }
        })))
    }
}

/// Crash a Nimbus machine; restarted at `until` (or the final heal).
#[derive(Clone, Debug, PartialEq)]
pub struct CrashNimbus(pub Pick);

impl Kind for CrashNimbus {
    const KEY: &'static str = "crash_nimbus";
    const VALUE: &'static str = "leader | random | \"nimbus1\"";
    const ABOUT: &'static str =
        "crash a Nimbus (leader: the one acting as leader); restart at until";
    const LASTS: Lasts = Lasts::Until;
    type Raw = String;
    fn validate(raw: &Spanned<String>, cx: &Cx) -> R<Self> {
        pick(raw, cx, &["leader", "random"], nimbuses).map(CrashNimbus)
    }
}

impl StormFault for CrashNimbus {
    fn value(&self) -> String {
        self.0.render()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let Some(n) = pick_nimbus(storm, &self.0) else {
            return Fired::Skipped("no such Nimbus is up");
        };
        cx.desc = format!("nimbus={}", nimbus_id(n));
        cx.record("");
        storm.crash_nimbus(n);
        Fired::Done(Some(Undo::new(false, move |cluster, _, head| {
            cluster
                .history
                .fault(format!("{head}: restart {}", nimbus_id(n)));
            if let Some(storm) = cluster.storm.as_mut() {
                storm.restart_nimbus(n);
            }
        })))
    }
}

/// Ask the Nimbus leader to spread the topology over this many workers
/// (Storm's `rebalance -n`); every task is placed afresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Rebalance(pub u32);

impl Kind for Rebalance {
    const KEY: &'static str = "rebalance";
    const VALUE: &'static str = "workers";
    const ABOUT: &'static str =
        "ask the Nimbus leader to rebalance the topology over this many workers";
    const LASTS: Lasts = Lasts::Instant("a rebalance is not undone");
    type Raw = Int;
    fn validate(raw: &Spanned<Int>, cx: &Cx) -> R<Self> {
        if cx.topology.is_none() {
            let msg = "rebalance acts on the Storm half, and the scenario has no [topology]";
            return Err(cx.v.at(raw, &cx.field, ErrorKind::Invalid, msg));
        }
        cx.v.int(raw, &cx.field, 1, 64).map(|n| Rebalance(n as u32))
    }
}

impl StormFault for Rebalance {
    fn value(&self) -> String {
        self.0.to_string()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let Some(name) = storm.topology_name() else {
            return Fired::Skipped("no topology was submitted");
        };
        cx.desc = format!("workers={}", self.0);
        cx.record("");
        let req = NimbusRequest::Rebalance {
            name,
            workers: self.0,
        };
        let answer = storm.request_task(req, std::time::Duration::from_secs(10));
        let (history, head) = (cx.cluster.history.clone(), cx.head.clone());
        madsim::task::spawn(async move {
            let what = match answer.await {
                Ok(Ok(())) => "done".to_string(),
                Ok(Err(e)) => format!("refused: {e}"),
                Err(e) => format!("lost: {e}"),
            };
            history.fault(format!("{head}: rebalance {what}"));
        });
        Fired::Done(None)
    }
}

storm_fault!(KillWorker, CrashSupervisor, CrashNimbus, Rebalance);
