//! Applies a scenario's fault timeline to a running cluster: resolves
//! targets against the live state when each fault fires, records what they
//! resolved to, undoes faults at their `until`, and heals everything at the
//! end of the timeline.

use super::fault::{d, show, Fired, Firing, Picks, Undo};
use super::schema::{Scenario, Target};
use crate::cluster::Cluster;
use rand::rngs::StdRng;
use rand::Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};
use zkstorm::types::Sid;

pub(crate) use super::fault::{set_disk, set_network};

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
    /// Actions of matched messages still to come (`on_message` with a delay).
    deferred: Vec<(Instant, crate::messages::Trigger)>,
}

/// A resolved target list: the nodes, and how each target resolved
/// (`leader=3`, `follower=none`).
struct Picked {
    sids: Vec<Sid>,
    desc: Vec<String>,
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
            deferred: Vec::new(),
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
        let messages = cluster.history.messages.clone();
        for (t, kind, i) in events {
            // A reached deadline still costs madsim a timer tick: skip it, so
            // faults due at the same instant fire at that instant. Messages
            // that armed rules match are handled as they come.
            while Instant::now() < self.start + t {
                let wake = self.deferred.iter().map(|(at, _)| *at).min();
                let until = wake.map_or(self.start + t, |w| w.min(self.start + t));
                tokio::select! {
                    biased;
                    _ = messages.matched() => {}
                    _ = sleep_until(until) => {}
                }
                self.on_matches(cluster);
            }
            self.on_matches(cluster);
            if kind == 1 {
                self.fire(cluster, i);
            } else {
                self.revert(cluster, i);
            }
        }
    }

    /// Record the messages armed rules matched and act on them, and do the
    /// deferred actions that are due.
    fn on_matches(&mut self, cluster: &mut Cluster) {
        let now = Instant::now();
        for t in cluster.history.messages.take() {
            let f = &self.sc.faults[t.fault];
            let mut cx = self.firing(cluster, t.fault);
            if let Some(after) = f.action.fault().matched(&t, &mut cx) {
                self.deferred.push((now + after, t));
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.deferred = later;
        for (_, t) in due {
            let mut cx = self.firing(cluster, t.fault);
            self.sc.faults[t.fault].action.fault().act(&t, &mut cx);
        }
    }

    /// What a fault's match handler gets.
    fn firing<'c>(&'c self, cluster: &'c mut Cluster, i: usize) -> Firing<'c> {
        Firing {
            cluster,
            sc: self.sc,
            clients: &self.clients,
            fault: &self.sc.faults[i],
            head: format!("fault[{i}]"),
            desc: String::new(),
            forget_network: false,
        }
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
                Target::Candidate => sample(&self.rng, &free(chosen, cluster.candidates()), 1),
                Target::DiscoveringLeader => free(chosen, cluster.discovering_leaders()),
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
        let fault = f.action.fault();
        let head = format!("fault[{i}] at {}: {}", d(f.at), f.action.key());
        let (groups, desc) = match fault.picks() {
            Picks::Nothing => (Vec::new(), String::new()),
            Picks::Nodes(t) => {
                let p = self.pick(cluster, &t, &fault.pool(cluster), &mut BTreeSet::new());
                (vec![p.sids], p.desc.join(" "))
            }
            Picks::Groups(_) | Picks::Sides(_) => {
                let picked = match fault.picks() {
                    Picks::Sides(g) => {
                        let all = cluster.sids();
                        g.iter()
                            .map(|side| self.pick(cluster, side, &all, &mut BTreeSet::new()))
                            .collect()
                    }
                    Picks::Groups(g) => self.pick_groups(cluster, &g),
                    _ => unreachable!("matched above"),
                };
                let desc = picked
                    .iter()
                    .map(|p| format!("[{}]", p.desc.join(" ")))
                    .collect::<Vec<_>>()
                    .join(" | ");
                (picked.into_iter().map(|p| p.sids).collect(), desc)
            }
        };
        let skip = |nem: &mut Self, cluster: &Cluster, why: &str| {
            nem.skipped += 1;
            nem.picked.remove(&i);
            cluster
                .history
                .fault(format!("{head} {desc} — skipped ({why})"));
        };
        if !groups.is_empty() {
            self.picked.insert(i, groups.clone());
        }
        if matches!(fault.picks(), Picks::Nodes(_)) && groups[0].is_empty() {
            skip(self, cluster, "no target resolved");
            return;
        }
        let mut cx = Firing {
            cluster,
            sc: self.sc,
            clients: &self.clients,
            fault: f,
            head: head.clone(),
            desc: desc.clone(),
            forget_network: false,
        };
        let undo = match fault.fire(&groups, &mut cx) {
            Fired::Done(undo) => undo,
            Fired::Skipped(why) => {
                skip(self, cluster, why);
                return;
            }
        };
        if cx.forget_network {
            // Everything network-related is undone; forget it.
            self.undo.retain(|_, u| !u.network);
        }
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
        (u.run)(cluster, self.sc, &head);
        // Actions its message rule deferred go with the rule.
        self.deferred.retain(|(_, t)| t.fault != i);
    }

    /// The end of the timeline: undo everything — network cuts and settings,
    /// disk faults, pauses — then restart every crashed or stopped server.
    pub async fn heal_all(&mut self, cluster: &mut Cluster) {
        self.on_matches(cluster);
        cluster.history.messages.disarm(None);
        self.deferred.clear();
        self.undo.clear();
        cluster.history.fault("timeline over: heal everything");
        cluster.heal();
        set_network(self.sc);
        // An fsync that was already failing or slow when we healed may still
        // stop its server: wait it out before restarting what is down.
        let wait = self
            .sc
            .faults
            .iter()
            .filter_map(|f| f.action.fault().heal_wait(self.sc))
            .max();
        for sid in cluster.sids() {
            let disk = cluster.disk(sid);
            disk.fail_fsyncs(0);
            disk.set_full(false);
            set_disk(self.sc, cluster, sid);
        }
        for sid in cluster.paused() {
            cluster.resume(sid);
        }
        if let Some(wait) = wait {
            tokio::time::sleep(wait + Duration::from_millis(100)).await;
        }
        for sid in cluster.crashed() {
            cluster.restart(sid);
        }
    }
}
