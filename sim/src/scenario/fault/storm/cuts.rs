//! Network faults on the Storm half: cut a supervisor's machine or a
//! Nimbus off from everything, or Storm nodes off from the ensemble only.

use super::{
    pick, pick_nimbus, pick_supervisor, storm_fault, supervisors, supervisors_and_nimbuses, Pick,
    StormFault,
};
use crate::scenario::fault::{Cx, Fired, Firing, Kind, Lasts, Undo, R};
use crate::storm::{nimbus_id, supervisor_id, StormCluster};
use madsim::task::NodeId;
use toml::Spanned;

/// Cut `nodes` off from `others` (both directions) until the fault's
/// `heal_at`, recording `what`.
fn cut_off(cx: &mut Firing, nodes: &[NodeId], others: &[NodeId], what: String) -> Fired {
    let links: Vec<_> = nodes
        .iter()
        .flat_map(|m| {
            others
                .iter()
                .filter(|o| !nodes.contains(o))
                .flat_map(move |o| [(*m, *o), (*o, *m)])
        })
        .collect();
    cx.desc = what.clone();
    cx.record("");
    cx.cluster.cut_links(&links);
    Fired::Done(Some(Undo::new(true, move |cluster, _, head| {
        cluster.history.fault(format!("{head}: reconnect {what}"));
        cluster.restore_links(&links);
    })))
}

/// The ensemble's server nodes.
fn servers(cx: &Firing) -> Vec<NodeId> {
    cx.cluster
        .sids()
        .into_iter()
        .map(|sid| cx.cluster.node_id(sid))
        .collect()
}

/// Every node but the Storm node set: servers, clients, other Storm nodes.
fn everything(storm: &StormCluster, cx: &Firing) -> Vec<NodeId> {
    let mut all = storm.nodes();
    all.extend(servers(cx));
    all.extend(cx.cluster.client_ids());
    all
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
        pick(raw, cx, &["random", "busy"], supervisors).map(IsolateSupervisor)
    }
}

impl StormFault for IsolateSupervisor {
    fn value(&self) -> String {
        self.0.render()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let Some(s) = pick_supervisor(storm, &self.0) else {
            return Fired::Skipped("no such supervisor is up");
        };
        let others = everything(storm, cx);
        cut_off(
            cx,
            &storm.machine(s),
            &others,
            format!("supervisor={}", supervisor_id(s)),
        )
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
        pick(raw, cx, &["leader", "random"], super::nimbuses).map(IsolateNimbus)
    }
}

impl StormFault for IsolateNimbus {
    fn value(&self) -> String {
        self.0.render()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let Some(n) = pick_nimbus(storm, &self.0) else {
            return Fired::Skipped("no such Nimbus is up");
        };
        let others = everything(storm, cx);
        cut_off(
            cx,
            &[storm.nimbuses[n].id()],
            &others,
            format!("nimbus={}", nimbus_id(n)),
        )
    }
}

/// Cut Storm nodes off from the ensemble only (they still reach each
/// other): a supervisor's whole machine, a Nimbus, or every Storm node.
#[derive(Clone, Debug, PartialEq)]
pub struct CutFromEnsemble(pub Pick);

impl Kind for CutFromEnsemble {
    const KEY: &'static str = "cut_from_ensemble";
    const VALUE: &'static str = "storm | supervisors | \"sup1\" | \"nimbus1\"";
    const ABOUT: &'static str =
        "cut Storm nodes (a machine, a Nimbus, every supervisor machine, or all) off from the ensemble only";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = String;
    fn validate(raw: &Spanned<String>, cx: &Cx) -> R<Self> {
        pick(raw, cx, &["storm", "supervisors"], supervisors_and_nimbuses).map(CutFromEnsemble)
    }
}

impl StormFault for CutFromEnsemble {
    fn value(&self) -> String {
        self.0.render()
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let machine = |s: usize| storm.machine(s);
        let nodes: Vec<NodeId> = match &self.0 {
            Pick::Storm => storm.nodes(),
            Pick::Supervisors => (0..storm.cfg.supervisors).flat_map(machine).collect(),
            Pick::Named(n) => match (0..storm.cfg.supervisors).find(|s| supervisor_id(*s) == *n) {
                Some(s) => machine(s),
                None => (0..storm.cfg.nimbuses)
                    .filter(|i| nimbus_id(*i) == *n)
                    .map(|i| storm.nimbuses[i].id())
                    .collect(),
            },
            _ => Vec::new(),
        };
        let servers = servers(cx);
        cut_off(
            cx,
            &nodes,
            &servers,
            format!("{} storm nodes from the ensemble", nodes.len()),
        )
    }
}

storm_fault!(IsolateSupervisor, IsolateNimbus, CutFromEnsemble);
