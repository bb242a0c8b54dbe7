//! Applies a scenario's fault timeline to a running cluster: resolves
//! targets against the live state when each fault fires, records what they
//! resolved to, undoes faults at their `until`, and heals everything at the
//! end of the timeline.

use super::schema::{Action, Scenario, Target};
use super::validate::expiry_cut;
use crate::cluster::{Cluster, Link};
use madsim::net::NetSim;
use rand::rngs::StdRng;
use rand::Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};
use zkstorm::types::Sid;

/// What a fault did, so its `until` can undo exactly that.
enum Undo {
    /// Nodes taken down: restart them (if still down).
    Down(Vec<Sid>),
    Paused(Vec<Sid>),
    Links(Vec<Link>),
    SlowDisk(Vec<Sid>),
    FullDisk(Vec<Sid>),
    Latency,
    PacketLoss,
}

pub(crate) struct Nemesis<'a> {
    sc: &'a Scenario,
    start: Instant,
    clients: Vec<madsim::task::NodeId>,
    undo: BTreeMap<usize, Undo>,
    /// What each fired fault picked (one group, or a partition's groups);
    /// a skipped fault is not here.
    pub picked: BTreeMap<usize, Vec<Vec<Sid>>>,
    pub applied: usize,
    pub skipped: usize,
    /// Role targets resolve with draws from here (`streams`).
    rng: RefCell<StdRng>,
}

/// A resolved target list: the nodes, and how each target resolved
/// (`leader=3`, `follower=none`).
struct Picked {
    sids: Vec<Sid>,
    desc: Vec<String>,
}

fn show(sids: &[Sid]) -> String {
    if sids.is_empty() {
        "none".into()
    } else {
        sids.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn d(x: Duration) -> String {
    super::duration::format(x)
}

/// `k` distinct elements of `from`, drawn from the fault injector's stream.
fn sample(rng: &RefCell<StdRng>, from: &[Sid], k: usize) -> Vec<Sid> {
    let mut v = from.to_vec();
    let mut rng = rng.borrow_mut();
    let k = k.min(v.len());
    for i in 0..k {
        let j = rng.gen_range(i..v.len());
        v.swap(i, j);
    }
    v.truncate(k);
    v.sort_unstable();
    v
}

/// Targets that name fixed nodes: resolved before roles, so roles pick around them.
fn fixed(t: &Target) -> bool {
    matches!(t, Target::Node(_) | Target::Fault { .. })
}

fn latency_range(min: Duration, max: Duration) -> std::ops::Range<Duration> {
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

/// Apply a scenario's base disk settings to one server's disk.
pub(crate) fn set_disk(sc: &Scenario, cluster: &Cluster, sid: Sid) {
    let k = &sc.disk;
    let disk = cluster.disk(sid);
    disk.set_fsync_latency_ms(
        k.fsync_latency.0.as_millis() as u64,
        k.fsync_latency.1.as_millis() as u64,
    );
    disk.set_tear_probability(k.tear_probability, k.garbage_probability);
}

impl<'a> Nemesis<'a> {
    pub fn new(sc: &'a Scenario, start: Instant, clients: Vec<madsim::task::NodeId>) -> Self {
        Nemesis {
            sc,
            start,
            clients,
            undo: BTreeMap::new(),
            picked: BTreeMap::new(),
            applied: 0,
            skipped: 0,
            rng: RefCell::new(crate::streams::stream("faults", 0)),
        }
    }

    /// Fire every fault (and undo) at its time; returns when the timeline ends.
    pub async fn run(&mut self, cluster: &mut Cluster) {
        // (time, 0 = undo / 1 = fire, index): undos first at equal times, so
        // `until = 10s` then `at = 10s` cuts, heals, cuts again in file order.
        let mut events: Vec<(Duration, u8, usize)> = Vec::new();
        for (i, f) in self.sc.faults.iter().enumerate() {
            events.push((f.at, 1, i));
            let end = f.end(&self.sc.workload);
            if end > f.at {
                events.push((end, 0, i));
            }
        }
        events.sort();
        for (t, kind, i) in events {
            // A reached deadline still costs madsim a timer tick: skip it, so
            // faults due at the same instant fire at that instant.
            if Instant::now() < self.start + t {
                sleep_until(self.start + t).await;
            }
            if kind == 1 {
                self.fire(cluster, i);
            } else {
                self.revert(cluster, i);
            }
        }
    }

    fn record(&self, cluster: &Cluster, what: String) {
        cluster.history.fault(what);
    }

    /// Resolve a target list for an action whose candidates are `pool`.
    fn pick(
        &self,
        cluster: &Cluster,
        targets: &[Target],
        pool: &[Sid],
        chosen: &mut BTreeSet<Sid>,
    ) -> Picked {
        let n = self.sc.ensemble.servers;
        let mut out = Picked {
            sids: Vec::new(),
            desc: Vec::new(),
        };
        let free = |chosen: &BTreeSet<Sid>, c: Vec<Sid>| -> Vec<Sid> {
            c.into_iter()
                .filter(|s| pool.contains(s) && !chosen.contains(s))
                .collect()
        };
        // Node ids first, so roles resolve around them.
        let order: Vec<&Target> = targets
            .iter()
            .filter(|t| fixed(t))
            .chain(targets.iter().filter(|t| !fixed(t)))
            .collect();
        for t in order {
            let got: Vec<Sid> = match t {
                Target::Node(s) => free(chosen, vec![*s]),
                Target::Leader => free(chosen, cluster.leader().into_iter().collect()),
                Target::Follower => sample(&self.rng, &free(chosen, cluster.followers()), 1),
                Target::Random => sample(&self.rng, &free(chosen, pool.to_vec()), 1),
                Target::Minority => sample(&self.rng, &free(chosen, pool.to_vec()), (n - 1) / 2),
                Target::Majority => sample(&self.rng, &free(chosen, pool.to_vec()), n / 2 + 1),
                Target::Crashed => free(chosen, cluster.crashed()),
                Target::All => free(chosen, pool.to_vec()),
                Target::Fault { index, group } => {
                    let groups = self.picked.get(index).cloned().unwrap_or_default();
                    let nodes: Vec<Sid> = match group {
                        Some(g) => groups.get(*g).cloned().unwrap_or_default(),
                        None => groups.into_iter().flatten().collect(),
                    };
                    free(chosen, nodes)
                }
                // Resolved by the partition itself.
                Target::Rest => continue,
            };
            chosen.extend(got.iter().copied());
            out.desc.push(match t {
                Target::Node(s) if got.is_empty() => format!("{s}=unavailable"),
                Target::Node(s) => s.to_string(),
                other => format!("{other}={}", show(&got)),
            });
            out.sids.extend(got);
        }
        out
    }

    /// Resolve the groups of a partition / one_way: node ids everywhere
    /// first, then roles in order, then `rest`.
    fn pick_groups(&self, cluster: &Cluster, groups: &[Vec<Target>]) -> Vec<Picked> {
        let all = cluster.sids();
        let mut chosen = BTreeSet::new();
        let ids: Vec<Vec<Target>> = groups
            .iter()
            .map(|g| g.iter().filter(|t| fixed(t)).copied().collect())
            .collect();
        let mut picked: Vec<Picked> = ids
            .iter()
            .map(|g| self.pick(cluster, g, &all, &mut chosen))
            .collect();
        for (i, g) in groups.iter().enumerate() {
            let roles: Vec<Target> = g
                .iter()
                .filter(|t| !fixed(t) && **t != Target::Rest)
                .copied()
                .collect();
            let p = self.pick(cluster, &roles, &all, &mut chosen);
            picked[i].sids.extend(p.sids);
            picked[i].desc.extend(p.desc);
        }
        for (i, g) in groups.iter().enumerate() {
            if g.contains(&Target::Rest) {
                let rest: Vec<Sid> = all
                    .iter()
                    .copied()
                    .filter(|s| !chosen.contains(s))
                    .collect();
                chosen.extend(rest.iter().copied());
                picked[i].desc.push(format!("rest={}", show(&rest)));
                picked[i].sids.extend(rest);
            }
        }
        for p in &mut picked {
            p.sids.sort_unstable();
        }
        picked
    }

    fn fire(&mut self, cluster: &mut Cluster, i: usize) {
        let f = &self.sc.faults[i];
        let head = format!("fault[{i}] at {}: {}", d(f.at), f.action.key());
        let all = cluster.sids();
        let alive = cluster.alive();
        let paused = cluster.paused();
        let pick = |nem: &Self, targets: &[Target], pool: &[Sid]| {
            nem.pick(cluster, targets, pool, &mut BTreeSet::new())
        };
        // Resolve first (needs only &Cluster), then act.
        enum Plan {
            Nodes(Picked),
            Groups(Vec<Picked>),
            Nothing,
        }
        let plan = match &f.action {
            Action::Crash(t) | Action::Kill(t) | Action::PowerLoss(t) => {
                Plan::Nodes(pick(self, t, &alive))
            }
            Action::Pause(t) => {
                let pool: Vec<Sid> = alive
                    .iter()
                    .copied()
                    .filter(|s| !paused.contains(s))
                    .collect();
                Plan::Nodes(pick(self, t, &pool))
            }
            Action::Resume(t) => Plan::Nodes(pick(self, t, &paused)),
            Action::Restart(t) | Action::Isolate(t) => Plan::Nodes(pick(self, t, &all)),
            Action::SlowFsync { targets, .. }
            | Action::FsyncError { targets, .. }
            | Action::DiskFull { targets, .. } => Plan::Nodes(pick(self, targets, &all)),
            Action::Partition(groups) => Plan::Groups(self.pick_groups(cluster, groups)),
            Action::OneWay { from, to } => {
                Plan::Groups(self.pick_groups(cluster, &[from.clone(), to.clone()]))
            }
            Action::Heal
            | Action::ExpireSession { .. }
            | Action::Latency { .. }
            | Action::PacketLoss(_) => Plan::Nothing,
        };
        let (desc, sids) = match &plan {
            Plan::Nodes(p) => (p.desc.join(" "), p.sids.clone()),
            Plan::Groups(g) => (
                g.iter()
                    .map(|p| format!("[{}]", p.desc.join(" ")))
                    .collect::<Vec<_>>()
                    .join(" | "),
                Vec::new(),
            ),
            Plan::Nothing => (String::new(), Vec::new()),
        };
        let skip = |nem: &mut Self, cluster: &Cluster, why: &str| {
            nem.skipped += 1;
            nem.picked.remove(&i);
            nem.record(cluster, format!("{head} {desc} — skipped ({why})"));
        };
        match &plan {
            Plan::Nodes(p) => {
                self.picked.insert(i, vec![p.sids.clone()]);
            }
            Plan::Groups(g) => {
                self.picked
                    .insert(i, g.iter().map(|p| p.sids.clone()).collect());
            }
            Plan::Nothing => {}
        }
        if matches!(plan, Plan::Nodes(_)) && sids.is_empty() {
            skip(self, cluster, "no target resolved");
            return;
        }
        let until = f
            .until
            .map(|u| format!(" until {}", d(u)))
            .unwrap_or_default();
        let line = |extra: String| {
            [head.as_str(), desc.as_str(), extra.trim(), until.trim()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let undo = match &f.action {
            Action::Crash(_) | Action::Kill(_) | Action::PowerLoss(_) => {
                self.record(cluster, line(String::new()));
                for &s in &sids {
                    match &f.action {
                        Action::Crash(_) => cluster.crash(s),
                        Action::Kill(_) => cluster.kill(s),
                        _ => cluster.power_loss(s),
                    }
                }
                Some(Undo::Down(sids))
            }
            Action::Restart(_) => {
                self.record(cluster, line(String::new()));
                for &s in &sids {
                    cluster.reboot(s);
                }
                None
            }
            Action::Pause(_) => {
                self.record(cluster, line(String::new()));
                for &s in &sids {
                    cluster.pause(s);
                }
                Some(Undo::Paused(sids))
            }
            Action::Resume(_) => {
                self.record(cluster, line(String::new()));
                for &s in &sids {
                    cluster.resume(s);
                }
                None
            }
            Action::Isolate(_) => {
                let mut links: Vec<Link> = sids
                    .iter()
                    .flat_map(|s| cluster.isolate_links(*s))
                    .collect();
                links.sort_unstable();
                links.dedup();
                self.record(cluster, line(String::new()));
                cluster.cut_links(&links);
                Some(Undo::Links(links))
            }
            Action::Partition(_) | Action::OneWay { .. } => {
                let Plan::Groups(groups) = &plan else {
                    unreachable!()
                };
                let nonempty = groups.iter().filter(|g| !g.sids.is_empty()).count();
                let one_way = matches!(f.action, Action::OneWay { .. });
                if (one_way && groups.iter().any(|g| g.sids.is_empty()))
                    || (!one_way && nonempty < 2)
                {
                    skip(self, cluster, "fewer than two non-empty sides");
                    return;
                }
                let g: Vec<Vec<Sid>> = groups.iter().map(|p| p.sids.clone()).collect();
                let links = if one_way {
                    cluster.one_way_links(&g[0], &g[1])
                } else {
                    cluster.partition_links(&g)
                };
                self.record(cluster, line(String::new()));
                cluster.cut_links(&links);
                Some(Undo::Links(links))
            }
            Action::Heal => {
                self.record(cluster, line(String::new()));
                cluster.heal();
                set_network(self.sc);
                // Everything network-related is undone; forget it.
                self.undo
                    .retain(|_, u| !matches!(u, Undo::Links(_) | Undo::Latency | Undo::PacketLoss));
                None
            }
            Action::SlowFsync { min, max, .. } => {
                self.record(cluster, line(format!(" fsync {}..{}", d(*min), d(*max))));
                for &s in &sids {
                    cluster
                        .disk(s)
                        .set_fsync_latency_ms(min.as_millis() as u64, max.as_millis() as u64);
                }
                Some(Undo::SlowDisk(sids))
            }
            Action::FsyncError { count, .. } => {
                self.record(cluster, line(format!(" count={count}")));
                for &s in &sids {
                    cluster.disk(s).fail_fsyncs(*count);
                }
                None
            }
            Action::DiskFull { on, .. } => {
                self.record(cluster, line(format!(" on={on}")));
                for &s in &sids {
                    cluster.disk(s).set_full(*on);
                }
                Some(Undo::FullDisk(sids))
            }
            Action::ExpireSession { client } => {
                let node = self.clients[*client];
                let links = cluster.client_links(node);
                let until = f.until.unwrap_or(f.at + expiry_cut(&self.sc.workload));
                self.record(
                    cluster,
                    format!("{head} client {client} (cut off until {})", d(until)),
                );
                cluster.cut_links(&links);
                Some(Undo::Links(links))
            }
            Action::Latency { min, max } => {
                self.record(cluster, line(format!(" {}..{}", d(*min), d(*max))));
                let r = latency_range(*min, *max);
                NetSim::current().update_config(|c| c.send_latency = r);
                Some(Undo::Latency)
            }
            Action::PacketLoss(p) => {
                self.record(cluster, line(format!(" {p}")));
                let p = *p;
                NetSim::current().update_config(|c| c.packet_loss_rate = p);
                Some(Undo::PacketLoss)
            }
        };
        self.applied += 1;
        if let Some(u) = undo {
            if f.end(&self.sc.workload) > f.at {
                self.undo.insert(i, u);
            }
        }
    }

    fn revert(&mut self, cluster: &mut Cluster, i: usize) {
        let Some(u) = self.undo.remove(&i) else {
            return;
        };
        let f = &self.sc.faults[i];
        let head = format!(
            "fault[{i}] until {}: undo {}",
            d(f.end(&self.sc.workload)),
            f.action.key()
        );
        match u {
            Undo::Down(sids) => {
                let down: Vec<Sid> = cluster.crashed();
                let sids: Vec<Sid> = sids.into_iter().filter(|s| down.contains(s)).collect();
                self.record(cluster, format!("{head}: restart {}", show(&sids)));
                for s in sids {
                    cluster.restart(s);
                }
            }
            Undo::Paused(sids) => {
                self.record(cluster, format!("{head}: resume {}", show(&sids)));
                for s in sids {
                    cluster.resume(s);
                }
            }
            Undo::Links(links) => {
                self.record(cluster, format!("{head}: reconnect"));
                cluster.restore_links(&links);
            }
            Undo::SlowDisk(sids) => {
                self.record(
                    cluster,
                    format!("{head}: fsync latency back on {}", show(&sids)),
                );
                for s in sids {
                    let k = &self.sc.disk;
                    cluster.disk(s).set_fsync_latency_ms(
                        k.fsync_latency.0.as_millis() as u64,
                        k.fsync_latency.1.as_millis() as u64,
                    );
                }
            }
            Undo::FullDisk(sids) => {
                self.record(cluster, format!("{head}: disk not full on {}", show(&sids)));
                for s in sids {
                    cluster.disk(s).set_full(false);
                }
            }
            Undo::Latency => {
                self.record(cluster, format!("{head}: base latency"));
                let lat = self.sc.network.latency;
                NetSim::current().update_config(|c| c.send_latency = latency_range(lat.0, lat.1));
            }
            Undo::PacketLoss => {
                self.record(cluster, format!("{head}: base packet loss"));
                let p = self.sc.network.packet_loss;
                NetSim::current().update_config(|c| c.packet_loss_rate = p);
            }
        }
    }

    /// The end of the timeline: undo everything — network cuts and settings,
    /// disk faults, pauses — then restart every crashed or stopped server.
    pub async fn heal_all(&mut self, cluster: &mut Cluster) {
        self.undo.clear();
        cluster.history.fault("timeline over: heal everything");
        cluster.heal();
        set_network(self.sc);
        let mut slowest = self.sc.disk.fsync_latency.1;
        for f in &self.sc.faults {
            if let Action::SlowFsync { max, .. } = f.action {
                slowest = slowest.max(max);
            }
        }
        for sid in cluster.sids() {
            let disk = cluster.disk(sid);
            disk.fail_fsyncs(0);
            disk.set_full(false);
            set_disk(self.sc, cluster, sid);
        }
        for sid in cluster.paused() {
            cluster.resume(sid);
        }
        // An fsync that was already failing or slow when we healed may still
        // stop its server: wait it out before restarting what is down.
        if self.sc.faults.iter().any(|f| {
            matches!(
                f.action,
                Action::SlowFsync { .. } | Action::FsyncError { .. } | Action::DiskFull { .. }
            )
        }) {
            tokio::time::sleep(slowest + Duration::from_millis(100)).await;
        }
        for sid in cluster.crashed() {
            cluster.restart(sid);
        }
    }
}
