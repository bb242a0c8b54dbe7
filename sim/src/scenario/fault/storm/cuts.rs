//! Network faults on the Storm half: cut a supervisor's machine or a
//! Nimbus off from everything, Storm nodes off from the ensemble only, or
//! any groups of nodes from each other.

use super::{
    pick, pick_nimbus, pick_supervisor, slots, storm_fault, supervisors, supervisors_and_nimbuses,
    Pick, StormFault,
};
use crate::scenario::error::ErrorKind;
use crate::scenario::fault::{Cx, Fired, Firing, Kind, Lasts, Undo, R};
use crate::storm::{nimbus_id, supervisor_id, StormCluster};
use madsim::task::NodeId;
use toml::Spanned;

/// Both directions of every link from `a` to `b` (a node in both stays
/// connected).
fn links_between(a: &[NodeId], b: &[NodeId]) -> Vec<(NodeId, NodeId)> {
    a.iter()
        .flat_map(|m| {
            b.iter()
                .filter(|o| !a.contains(o))
                .flat_map(move |o| [(*m, *o), (*o, *m)])
        })
        .collect()
}

/// Cut `nodes` off from `others` until the fault's `heal_at`, recording
/// `what`.
fn cut_off(cx: &mut Firing, nodes: &[NodeId], others: &[NodeId], what: String) -> Fired {
    cut(cx, links_between(nodes, others), what)
}

/// Cut `links` until the fault's `heal_at`, recording `what`.
fn cut(cx: &mut Firing, links: Vec<(NodeId, NodeId)>, what: String) -> Fired {
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

/// Cut every link between groups of nodes, Storm's and the ensemble's
/// alike: `[["sup1:6700"], ["sup1", "nimbus1"], ["rest"]]` cuts one worker
/// off from its own supervisor, its machine and everything else.
#[derive(Clone, Debug, PartialEq)]
pub struct StormPartition(pub Vec<Vec<String>>);

/// Names a group can hold besides a supervisor, a slot or a Nimbus.
const GROUP_NAMES: &[&str] = &["ensemble", "clients", "supervisors", "nimbuses", "rest"];

impl Kind for StormPartition {
    const KEY: &'static str = "storm_partition";
    const VALUE: &'static str = "[[names], [names], ...]";
    const ABOUT: &'static str = "cut every link between groups of nodes: \"sup1\" (its machine), \"sup1:6700\" (one worker), \"nimbus1\", supervisors, nimbuses, ensemble, clients, rest";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = Vec<Vec<String>>;
    fn validate(raw: &Spanned<Vec<Vec<String>>>, cx: &Cx) -> R<Self> {
        let bad = |msg: String| Err(cx.v.at(raw, &cx.field, ErrorKind::Invalid, msg));
        let Some(t) = cx.topology else {
            return bad(format!(
                "{} acts on the Storm half, and the scenario has no [topology]",
                cx.key
            ));
        };
        let groups = raw.get_ref();
        if groups.len() < 2 || groups.iter().any(|g| g.is_empty()) {
            return bad("give at least two groups, none empty".into());
        }
        let mut known = supervisors_and_nimbuses(t);
        known.extend(slots(t));
        let mut seen = std::collections::BTreeSet::new();
        for name in groups.iter().flatten() {
            if !known.contains(name) && !GROUP_NAMES.contains(&name.as_str()) {
                let msg = format!(
                    "{name:?} is not one of {}, {}",
                    GROUP_NAMES.join(", "),
                    known.join(", ")
                );
                return Err(cx.v.at(raw, &cx.field, ErrorKind::UnknownTarget, msg));
            }
            if !seen.insert(name) {
                return bad(format!("{name:?} is in two groups"));
            }
        }
        Ok(StormPartition(groups.clone()))
    }
}

impl StormFault for StormPartition {
    fn value(&self) -> String {
        let group = |g: &Vec<String>| {
            format!(
                "[{}]",
                g.iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!(
            "[{}]",
            self.0.iter().map(group).collect::<Vec<_>>().join(", ")
        )
    }
    fn act(&self, storm: &mut StormCluster, cx: &mut Firing) -> Fired {
        let groups = resolve(&self.0, storm, cx);
        let links = groups
            .iter()
            .enumerate()
            .flat_map(|(i, a)| groups[i + 1..].iter().flat_map(|b| links_between(a, b)))
            .collect();
        cut(cx, links, format!("storm_partition={}", self.value()))
    }
}

/// The nodes of each group. A slot named on its own leaves its machine's
/// group; `rest` is every node no other group holds.
fn resolve(groups: &[Vec<String>], storm: &StormCluster, cx: &Firing) -> Vec<Vec<NodeId>> {
    let named: Vec<&String> = groups.iter().flatten().collect();
    let slot_node = |n: &str| storm.slot_node(n);
    let alone: Vec<NodeId> = named.iter().filter_map(|n| slot_node(n)).collect();
    let one = |name: &str| -> Vec<NodeId> {
        let sups = 0..storm.cfg.supervisors;
        match name {
            "ensemble" => servers(cx),
            "clients" => cx.cluster.client_ids(),
            "supervisors" => sups
                .flat_map(|s| storm.machine(s))
                .filter(|n| !alone.contains(n))
                .collect(),
            "nimbuses" => storm.nimbuses.iter().map(|n| n.id()).collect(),
            _ => match (
                slot_node(name),
                sups.clone().find(|s| supervisor_id(*s) == name),
            ) {
                (Some(n), _) => vec![n],
                (None, Some(s)) => storm
                    .machine(s)
                    .into_iter()
                    .filter(|n| !alone.contains(n))
                    .collect(),
                (None, None) => (0..storm.cfg.nimbuses)
                    .filter(|i| nimbus_id(*i) == name)
                    .map(|i| storm.nimbuses[i].id())
                    .collect(),
            },
        }
    };
    let mut out: Vec<Vec<NodeId>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .filter(|n| *n != "rest")
                .flat_map(|n| one(n))
                .collect()
        })
        .collect();
    let taken: Vec<NodeId> = out.iter().flatten().copied().collect();
    for (g, nodes) in groups.iter().zip(out.iter_mut()) {
        if g.iter().any(|n| n == "rest") {
            nodes.extend(
                everything(storm, cx)
                    .into_iter()
                    .filter(|n| !taken.contains(n)),
            );
        }
    }
    out
}

storm_fault!(
    IsolateSupervisor,
    IsolateNimbus,
    CutFromEnsemble,
    StormPartition
);
