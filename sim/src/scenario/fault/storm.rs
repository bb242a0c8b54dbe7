//! Faults on the Storm half: kill a worker, crash a supervisor or a
//! Nimbus, cut a supervisor's machine off. Their targets are Storm
//! processes, named or drawn when the fault fires from the storm fault
//! stream.

use super::{Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::scenario::error::ErrorKind;
use crate::storm::{nimbus_id, supervisor_id, FIRST_SLOT_PORT};
use toml::Spanned;
use zkstorm::storm::topology::ACKER;
use zkstorm::types::Sid;

/// A Storm process as a fault names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// One at random among those up.
    Random,
    /// The acting Nimbus leader (crash_nimbus).
    Leader,
    /// A worker hosting an acker task (kill_worker).
    Acker,
    /// A supervisor running a worker (crash_supervisor, isolate_supervisor).
    Busy,
    /// `sup1`, `sup1:6700`, `nimbus2`.
    Named(String),
}

impl Pick {
    fn render(&self) -> String {
        match self {
            Pick::Random => "\"random\"".into(),
            Pick::Leader => "\"leader\"".into(),
            Pick::Acker => "\"acker\"".into(),
            Pick::Busy => "\"busy\"".into(),
            Pick::Named(n) => format!("{n:?}"),
        }
    }
}

/// Parse a pick: one of `roles`, or one of `names`.
fn pick(
    raw: &Spanned<String>,
    cx: &Cx,
    roles: &[&str],
    names: &dyn Fn(&crate::scenario::TopologySpec) -> Vec<String>,
) -> R<Pick> {
    let Some(t) = cx.topology else {
        return Err(cx.v.at(
            raw,
            &cx.field,
            ErrorKind::Invalid,
            format!(
                "{} acts on the Storm half, and the scenario has no [topology]",
                cx.key
            ),
        ));
    };
    let s = raw.get_ref().as_str();
    let known = names(t);
    match s {
        "random" if roles.contains(&"random") => Ok(Pick::Random),
        "leader" if roles.contains(&"leader") => Ok(Pick::Leader),
        "acker" if roles.contains(&"acker") => Ok(Pick::Acker),
        "busy" if roles.contains(&"busy") => Ok(Pick::Busy),
        _ if known.iter().any(|k| k == s) => Ok(Pick::Named(s.to_string())),
        _ => Err(cx.v.at(
            raw,
            &cx.field,
            ErrorKind::UnknownTarget,
            format!(
                "{s:?} is not {}, nor one of {}",
                roles.join(" or "),
                known.join(", ")
            ),
        )),
    }
}

fn supervisors(t: &crate::scenario::TopologySpec) -> Vec<String> {
    (0..t.supervisors).map(supervisor_id).collect()
}

fn slots(t: &crate::scenario::TopologySpec) -> Vec<String> {
    let mut out = Vec::new();
    for s in 0..t.supervisors {
        for k in 0..t.slots {
            out.push(format!(
                "{}:{}",
                supervisor_id(s),
                FIRST_SLOT_PORT + k as u16
            ));
        }
    }
    out
}

fn nimbuses(t: &crate::scenario::TopologySpec) -> Vec<String> {
    (0..t.nimbus).map(nimbus_id).collect()
}

/// Draw one of `candidates`, or find the named one.
fn choose<T: Clone>(
    cx: &Firing,
    p: &Pick,
    candidates: &[T],
    name: impl Fn(&T) -> String,
) -> Option<T> {
    let storm = cx.cluster.storm.as_ref()?;
    match p {
        Pick::Named(n) => candidates.iter().find(|c| name(c) == *n).cloned(),
        _ if candidates.is_empty() => None,
        _ => Some(candidates[storm.draw(candidates.len())].clone()),
    }
}

/// Supervisors with a running worker.
fn busy_supervisors(storm: &crate::storm::StormCluster) -> Vec<usize> {
    let hosts: Vec<String> = storm
        .slots_hosting(None)
        .into_iter()
        .map(|s| s.supervisor)
        .collect();
    (0..storm.cfg.supervisors)
        .filter(|s| hosts.contains(&supervisor_id(*s)))
        .collect()
}

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
        pick(raw, cx, &["random", "acker"], &slots).map(KillWorker)
    }
}

impl Fault for KillWorker {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.0.render()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::KillWorker(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let hosting = storm.slots_hosting((self.0 == Pick::Acker).then_some(ACKER));
        let Some(slot) = choose(cx, &self.0, &hosting, |s| s.to_string()) else {
            return Fired::Skipped("no such worker is running");
        };
        cx.desc = format!("worker={slot}");
        cx.record("");
        if let Some(storm) = cx.cluster.storm.as_ref() {
            storm.kill_worker(&slot);
        }
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
        pick(raw, cx, &["random", "busy"], &supervisors).map(CrashSupervisor)
    }
}

impl Fault for CrashSupervisor {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.0.render()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::CrashSupervisor(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let down = storm.supervisors_down();
        let busy = busy_supervisors(storm);
        let up: Vec<usize> = (0..storm.cfg.supervisors)
            .filter(|s| !down.contains(s))
            .filter(|s| self.0 != Pick::Busy || busy.contains(s))
            .collect();
        let Some(s) = choose(cx, &self.0, &up, |s| supervisor_id(*s)) else {
            return Fired::Skipped("no such supervisor is up");
        };
        cx.desc = format!("supervisor={}", supervisor_id(s));
        cx.record("");
        if let Some(storm) = cx.cluster.storm.as_mut() {
            storm.crash_supervisor(s);
        }
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
        pick(raw, cx, &["leader", "random"], &nimbuses).map(CrashNimbus)
    }
}

impl Fault for CrashNimbus {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.0.render()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::CrashNimbus(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let down = storm.nimbus_down();
        let up: Vec<usize> = match self.0 {
            Pick::Leader => storm.leader_nimbus().into_iter().collect(),
            _ => (0..storm.cfg.nimbuses)
                .filter(|n| !down.contains(n))
                .collect(),
        };
        let Some(n) = choose(cx, &self.0, &up, |n| nimbus_id(*n)) else {
            return Fired::Skipped("no such Nimbus is up");
        };
        cx.desc = format!("nimbus={}", nimbus_id(n));
        cx.record("");
        if let Some(storm) = cx.cluster.storm.as_mut() {
            storm.crash_nimbus(n);
        }
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

/// Cut a supervisor's machine (the supervisor and its workers) off from
/// every other node, ensemble included, until `heal_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolateSupervisor(pub Pick);

impl Kind for IsolateSupervisor {
    const KEY: &'static str = "isolate_supervisor";
    const VALUE: &'static str = "random | busy | \"sup1\"";
    const ABOUT: &'static str =
        "cut a supervisor's machine (it and its workers) off from every other node";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = String;
    fn validate(raw: &Spanned<String>, cx: &Cx) -> R<Self> {
        pick(raw, cx, &["random", "busy"], &supervisors).map(IsolateSupervisor)
    }
}

impl Fault for IsolateSupervisor {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.0.render()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::IsolateSupervisor(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let busy = busy_supervisors(storm);
        let all: Vec<usize> = (0..storm.cfg.supervisors)
            .filter(|s| self.0 != Pick::Busy || busy.contains(s))
            .collect();
        let Some(s) = choose(cx, &self.0, &all, |s| supervisor_id(*s)) else {
            return Fired::Skipped("no such supervisor");
        };
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let machine = storm.machine(s);
        let mut others: Vec<_> = storm
            .nodes()
            .into_iter()
            .filter(|n| !machine.contains(n))
            .collect();
        others.extend(
            cx.cluster
                .sids()
                .into_iter()
                .map(|sid| cx.cluster.node_id(sid)),
        );
        others.extend(cx.cluster.client_ids());
        let links: Vec<_> = machine
            .iter()
            .flat_map(|m| others.iter().flat_map(move |o| [(*m, *o), (*o, *m)]))
            .collect();
        cx.desc = format!("supervisor={}", supervisor_id(s));
        cx.record("");
        cx.cluster.cut_links(&links);
        Fired::Done(Some(Undo::new(true, move |cluster, _, head| {
            cluster
                .history
                .fault(format!("{head}: reconnect {}", supervisor_id(s)));
            cluster.restore_links(&links);
        })))
    }
}

/// Cut a Nimbus off from every other node (the ensemble included) until
/// `heal_at`: its session expires and another Nimbus takes over.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolateNimbus(pub Pick);

impl Kind for IsolateNimbus {
    const KEY: &'static str = "isolate_nimbus";
    const VALUE: &'static str = "leader | random | \"nimbus1\"";
    const ABOUT: &'static str = "cut a Nimbus off from every other node, the ensemble included";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = String;
    fn validate(raw: &Spanned<String>, cx: &Cx) -> R<Self> {
        pick(raw, cx, &["leader", "random"], &nimbuses).map(IsolateNimbus)
    }
}

impl Fault for IsolateNimbus {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.0.render()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::IsolateNimbus(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let down = storm.nimbus_down();
        let up: Vec<usize> = match self.0 {
            Pick::Leader => storm.leader_nimbus().into_iter().collect(),
            _ => (0..storm.cfg.nimbuses)
                .filter(|n| !down.contains(n))
                .collect(),
        };
        let Some(n) = choose(cx, &self.0, &up, |n| nimbus_id(*n)) else {
            return Fired::Skipped("no such Nimbus is up");
        };
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let me = storm.nimbuses[n].id();
        let mut others: Vec<_> = storm.nodes().into_iter().filter(|x| *x != me).collect();
        others.extend(
            cx.cluster
                .sids()
                .into_iter()
                .map(|sid| cx.cluster.node_id(sid)),
        );
        others.extend(cx.cluster.client_ids());
        let links: Vec<_> = others.iter().flat_map(|o| [(me, *o), (*o, me)]).collect();
        cx.desc = format!("nimbus={}", nimbus_id(n));
        cx.record("");
        cx.cluster.cut_links(&links);
        Fired::Done(Some(Undo::new(true, move |cluster, _, head| {
            cluster
                .history
                .fault(format!("{head}: reconnect {}", nimbus_id(n)));
            cluster.restore_links(&links);
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
    type Raw = crate::scenario::schema::Int;
    fn validate(raw: &Spanned<crate::scenario::schema::Int>, cx: &Cx) -> R<Self> {
        if cx.topology.is_none() {
            return Err(cx.v.at(
                raw,
                &cx.field,
                ErrorKind::Invalid,
                "rebalance acts on the Storm half, and the scenario has no [topology]",
            ));
        }
        cx.v.int(raw, &cx.field, 1, 64).map(|n| Rebalance(n as u32))
    }
}

impl Fault for Rebalance {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.0.to_string()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::Rebalance(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let Some(storm) = cx.cluster.storm.as_ref() else {
            return Fired::Skipped("no topology runs");
        };
        let Some(name) = storm.topology_name() else {
            return Fired::Skipped("no topology was submitted");
        };
        cx.desc = format!("workers={}", self.0);
        cx.record("");
        let req = zkstorm::storm::nimbus::NimbusRequest::Rebalance {
            name,
            workers: self.0,
        };
        let answer = storm.request_task(req, std::time::Duration::from_secs(10));
        let history = cx.cluster.history.clone();
        let head = cx.head.clone();
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
