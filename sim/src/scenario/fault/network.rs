//! Faults on the network: isolate, partition, one_way, heal, latency,
//! packet_loss.

use super::targets::{first, float, nodes, render_list, render_targets};
use super::{d, Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::cluster::Link;
use crate::scenario::duration::Dur;
use crate::scenario::error::ErrorKind;
use crate::scenario::schema::{Num, RawOneWay, RawTargets, Scenario, Target};
use crate::scenario::validate::limits::{MAX_LATENCY, MAX_PACKET_LOSS};
use madsim::net::NetSim;
use std::time::Duration;
use toml::Spanned;
use zkstorm::types::Sid;

pub(crate) fn latency_range(min: Duration, max: Duration) -> std::ops::Range<Duration> {
    // madsim draws from a half-open range, which must not be empty.
    min..max.max(min) + Duration::from_nanos(1)
}

/// Apply a scenario's base network settings.
pub(crate) fn set_network(sc: &Scenario) {
    let (lat, loss) = (sc.network.latency, sc.network.packet_loss);
    NetSim::current().update_config(|c| {
        c.send_latency = latency_range(lat.0, lat.1);
        c.packet_loss_rate = loss;
    });
}

/// Cut `links` now; the undo reconnects them.
fn cut(links: Vec<Link>, cx: &mut Firing) -> Fired {
    cx.record("");
    cx.cluster.cut_links(&links);
    Fired::Done(Some(Undo::new(true, move |cluster, _, head| {
        cluster.history.fault(format!("{head}: reconnect"));
        cluster.restore_links(&links);
    })))
}

/// Cut the node off from every other server and every client.
#[derive(Clone, Debug, PartialEq)]
pub struct Isolate(pub Vec<Target>);

impl Kind for Isolate {
    const KEY: &'static str = "isolate";
    const VALUE: &'static str = "targets";
    const ABOUT: &'static str = "cut the nodes off from every other server and every client";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = RawTargets;
    fn validate(raw: &Spanned<RawTargets>, cx: &Cx) -> R<Self> {
        cx.targets(raw).map(Isolate)
    }
}

impl Fault for Isolate {
    fn picks(&self) -> Picks {
        Picks::Nodes(self.0.clone())
    }
    fn render(&self) -> String {
        render_targets(&self.0)
    }
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        Action::Isolate(Isolate(first(groups)))
    }
    fn fire(&self, nodes: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let mut links: Vec<Link> = nodes[0]
            .iter()
            .flat_map(|s| cx.cluster.isolate_links(*s))
            .collect();
        links.sort_unstable();
        links.dedup();
        cut(links, cx)
    }
}

/// Cut every server-to-server link between different groups, both ways.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition(pub Vec<Vec<Target>>);

impl Kind for Partition {
    const KEY: &'static str = "partition";
    const VALUE: &'static str = "[[group], [group], ...]";
    const ABOUT: &'static str = "cut every server-to-server link between groups, both ways";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = Vec<Spanned<RawTargets>>;
    fn validate(raw: &Spanned<Self::Raw>, cx: &Cx) -> R<Self> {
        let groups = raw.get_ref();
        if groups.len() < 2 {
            return Err(cx.v.at(
                raw,
                &cx.field,
                ErrorKind::Invalid,
                "a partition needs at least two groups, as in [[\"leader\"], [\"rest\"]] (to cut one node off from everyone, use isolate)",
            ));
        }
        let named: Vec<_> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g, format!("{}[{i}]", cx.field)))
            .collect();
        cx.groups(&named, "the partition").map(Partition)
    }
}

impl Fault for Partition {
    fn picks(&self) -> Picks {
        Picks::Groups(self.0.clone())
    }
    fn render(&self) -> String {
        let groups: Vec<String> = self.0.iter().map(|g| render_list(g)).collect();
        format!("[{}]", groups.join(", "))
    }
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        Action::Partition(Partition(
            groups
                .iter()
                .filter(|g| !g.is_empty())
                .map(|g| nodes(g))
                .collect(),
        ))
    }
    fn fire(&self, groups: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        if groups.iter().filter(|g| !g.is_empty()).count() < 2 {
            return Fired::Skipped("fewer than two non-empty sides");
        }
        let links = cx.cluster.partition_links(groups);
        cut(links, cx)
    }
}

/// Cut the links from every `from` node to every `to` node, one way only.
#[derive(Clone, Debug, PartialEq)]
pub struct OneWay {
    pub from: Vec<Target>,
    pub to: Vec<Target>,
}

impl Kind for OneWay {
    const KEY: &'static str = "one_way";
    const VALUE: &'static str = "{ from = targets, to = targets }";
    const ABOUT: &'static str = "cut the links from every `from` node to every `to` node, one way";
    const LASTS: Lasts = Lasts::Cut;
    type Raw = RawOneWay;
    fn validate(raw: &Spanned<RawOneWay>, cx: &Cx) -> R<Self> {
        let o = raw.get_ref();
        let groups = cx.groups(
            &[
                (&o.from, format!("{}.from", cx.field)),
                (&o.to, format!("{}.to", cx.field)),
            ],
            "one_way",
        )?;
        let [from, to]: [Vec<Target>; 2] = groups.try_into().expect("two groups in, two out");
        Ok(OneWay { from, to })
    }
}

impl Fault for OneWay {
    fn picks(&self) -> Picks {
        Picks::Groups(vec![self.from.clone(), self.to.clone()])
    }
    fn render(&self) -> String {
        format!(
            "{{ from = {}, to = {} }}",
            render_list(&self.from),
            render_list(&self.to)
        )
    }
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        Action::OneWay(OneWay {
            from: first(groups),
            to: nodes(groups.get(1).map_or(&[][..], |g| g.as_slice())),
        })
    }
    fn fire(&self, groups: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        if groups.iter().any(|g| g.is_empty()) {
            return Fired::Skipped("fewer than two non-empty sides");
        }
        let links = cx.cluster.one_way_links(&groups[0], &groups[1]);
        cut(links, cx)
    }
}

/// Undo every network cut and restore the base network settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Heal;

impl Kind for Heal {
    const KEY: &'static str = "heal";
    const VALUE: &'static str = "true";
    const ABOUT: &'static str = "undo every network cut and restore the [network] settings";
    const LASTS: Lasts = Lasts::Instant("");
    type Raw = bool;
    fn validate(raw: &Spanned<bool>, cx: &Cx) -> R<Self> {
        if !*raw.get_ref() {
            return Err(cx.v.at(
                raw,
                &cx.field,
                ErrorKind::Invalid,
                "heal = false does nothing: write heal = true or remove the entry",
            ));
        }
        Ok(Heal)
    }
}

impl Fault for Heal {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        "true".into()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::Heal(Heal)
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        cx.record("");
        cx.cluster.heal();
        set_network(cx.sc);
        cx.forget_network = true;
        Fired::Done(None)
    }
}

/// One-way latency of every message, drawn from [min, max].
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    pub min: Duration,
    pub max: Duration,
}

impl Kind for Latency {
    const KEY: &'static str = "latency";
    const VALUE: &'static str = "[min, max]";
    const ABOUT: &'static str = "every message's one-way latency, uniform in [min, max]";
    const LASTS: Lasts = Lasts::Until;
    type Raw = Vec<Spanned<Dur>>;
    fn validate(raw: &Spanned<Self::Raw>, cx: &Cx) -> R<Self> {
        let (min, max) = cx.v.range(raw, &cx.field, MAX_LATENCY, false)?;
        Ok(Latency { min, max })
    }
}

impl Fault for Latency {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn weaker(&self) -> Vec<Action> {
        if self.max.as_millis() < 2 {
            return Vec::new();
        }
        vec![Action::Latency(Latency {
            min: self.min / 2,
            max: self.max / 2,
        })]
    }
    fn render(&self) -> String {
        format!("[\"{}\", \"{}\"]", d(self.min), d(self.max))
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::Latency(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        cx.record(&format!("{}..{}", d(self.min), d(self.max)));
        let r = latency_range(self.min, self.max);
        NetSim::current().update_config(|c| c.send_latency = r);
        Fired::Done(Some(Undo::new(true, |cluster, sc, head| {
            cluster.history.fault(format!("{head}: base latency"));
            let lat = sc.network.latency;
            NetSim::current().update_config(|c| c.send_latency = latency_range(lat.0, lat.1));
        })))
    }
}

/// The chance a send is lost (retried by madsim's TCP; see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct PacketLoss(pub f64);

impl Kind for PacketLoss {
    const KEY: &'static str = "packet_loss";
    const VALUE: &'static str = "0..=0.9";
    const ABOUT: &'static str = "the chance a send is lost (TCP retries it: latency spikes)";
    const LASTS: Lasts = Lasts::Until;
    type Raw = Num;
    fn validate(raw: &Spanned<Num>, cx: &Cx) -> R<Self> {
        cx.v.prob(raw, &cx.field, MAX_PACKET_LOSS).map(PacketLoss)
    }
}

impl Fault for PacketLoss {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn weaker(&self) -> Vec<Action> {
        if self.0 < 0.02 {
            return Vec::new();
        }
        vec![Action::PacketLoss(PacketLoss(
            (self.0 * 50.0).round() / 100.0,
        ))]
    }
    fn render(&self) -> String {
        float(self.0)
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::PacketLoss(self.clone())
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        cx.record(&self.0.to_string());
        let p = self.0;
        NetSim::current().update_config(|c| c.packet_loss_rate = p);
        Fired::Done(Some(Undo::new(true, |cluster, sc, head| {
            cluster.history.fault(format!("{head}: base packet loss"));
            let p = sc.network.packet_loss;
            NetSim::current().update_config(|c| c.packet_loss_rate = p);
        })))
    }
}
