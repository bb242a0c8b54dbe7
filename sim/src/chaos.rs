//! A complete run: an ensemble, client load, a nemesis injecting faults on a
//! schedule drawn from the seed, then a heal-and-settle phase and the checks.

use crate::check::{self, Violation};
use crate::cluster::{Cluster, ClusterConfig};
use crate::history::History;
use crate::workload::{run_client, WorkloadConfig};
use madsim::rand::{thread_rng, Rng};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::{sleep, Instant};
use zkstorm::types::Sid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    CrashLeader,
    CrashFollower,
    RestartCrashed,
    IsolateLeader,
    PartitionMinority,
    Heal,
}

#[derive(Clone, Debug)]
pub struct ChaosConfig {
    pub cluster: ClusterConfig,
    pub workload: WorkloadConfig,
    /// Load runs this long; faults stop at `faults_until`.
    pub duration: Duration,
    pub faults_until: Duration,
    /// Gap between faults, drawn uniformly.
    pub fault_gap_ms: (u64, u64),
    pub faults: Vec<Fault>,
    /// After load stops, how long the ensemble has to converge.
    pub settle: Duration,
}

impl ChaosConfig {
    pub fn new(servers: usize) -> ChaosConfig {
        ChaosConfig {
            cluster: ClusterConfig::new(servers),
            workload: WorkloadConfig::default(),
            duration: Duration::from_secs(30),
            faults_until: Duration::from_secs(20),
            fault_gap_ms: (1500, 4000),
            faults: vec![
                Fault::CrashLeader,
                Fault::CrashFollower,
                Fault::RestartCrashed,
                Fault::IsolateLeader,
                Fault::PartitionMinority,
                Fault::Heal,
            ],
            settle: Duration::from_secs(20),
        }
    }
}

#[derive(Clone)]
pub struct ChaosOutcome {
    pub trace_hash: u64,
    pub violations: Vec<Violation>,
    pub ops_ok: u64,
    pub ops_failed: u64,
    /// Ops completed by clients after the last fault healed.
    pub ops_ok_after_heal: u64,
    /// Did every server converge (same applied zxid and tree digest)?
    pub converged: bool,
    pub final_digests: BTreeMap<Sid, u64>,
    pub events: usize,
    pub sim_secs: f64,
    pub history: History,
}

fn apply_fault(cluster: &mut Cluster, fault: Fault) {
    let mut rng = thread_rng();
    match fault {
        Fault::CrashLeader => {
            if let Some(l) = cluster.leader() {
                cluster.crash(l);
            }
        }
        Fault::CrashFollower => {
            let f = cluster.followers();
            if !f.is_empty() {
                cluster.crash(f[rng.gen_range(0..f.len())]);
            }
        }
        Fault::RestartCrashed => {
            for sid in cluster.crashed() {
                cluster.restart(sid);
            }
        }
        Fault::IsolateLeader => {
            if let Some(l) = cluster.leader() {
                cluster.isolate(l);
            }
        }
        Fault::PartitionMinority => {
            let mut sids = cluster.sids();
            let minority = (sids.len() - 1) / 2;
            let mut group = Vec::new();
            for _ in 0..minority {
                group.push(sids.remove(rng.gen_range(0..sids.len())));
            }
            if !group.is_empty() {
                cluster.partition(&[group, sids]);
            }
        }
        Fault::Heal => cluster.heal(),
    }
}

/// Keep at most a minority down so the ensemble can make progress.
fn allowed(cluster: &Cluster, fault: Fault) -> bool {
    let n = cluster.sids().len();
    let down = cluster.crashed().len();
    match fault {
        Fault::CrashLeader | Fault::CrashFollower => down < (n - 1) / 2,
        _ => true,
    }
}

/// The body of one run; call inside a simulation (see `runner::run_seed`).
pub async fn run(cfg: ChaosConfig) -> ChaosOutcome {
    let history = History::new();
    let start = Instant::now();
    let mut cluster = Cluster::start(&cfg.cluster, history.clone());
    let until = start + cfg.duration;
    let mut clients = Vec::new();
    for n in 0..cfg.workload.clients {
        let node = cluster.client_node(n);
        let fut = run_client(
            n,
            cluster.client_addrs(),
            cfg.workload.clone(),
            history.clone(),
            until,
        );
        clients.push(node.spawn(fut));
    }
    let rng_gap = || thread_rng().gen_range(cfg.fault_gap_ms.0..=cfg.fault_gap_ms.1);
    // Let the first leader get established before the nemesis starts.
    sleep(Duration::from_millis(3000)).await;
    while !cfg.faults.is_empty() && start.elapsed() < cfg.faults_until {
        sleep(Duration::from_millis(rng_gap())).await;
        let fault = cfg.faults[thread_rng().gen_range(0..cfg.faults.len())];
        if allowed(&cluster, fault) {
            apply_fault(&mut cluster, fault);
        }
    }
    cluster.heal();
    for sid in cluster.crashed() {
        cluster.restart(sid);
    }
    let healed_at = history.len();
    let mut ok = 0;
    let mut failed = 0;
    for c in clients {
        let stats = c.await.expect("client task");
        ok += stats.ok;
        failed += stats.failed;
    }
    let converged = settle(&cluster, &history, cfg.settle).await;
    let records = history.records();
    let ops_ok_after_heal = records[healed_at.min(records.len())..]
        .iter()
        .filter(|r| matches!(&r.event, crate::history::Event::Complete { outcome, .. } if outcome == "ok"))
        .count() as u64;
    let final_digests = history
        .status()
        .into_iter()
        .filter_map(|(sid, s)| s.digest.map(|d| (sid, d)))
        .collect();
    ChaosOutcome {
        trace_hash: history.trace_hash(),
        violations: check::zab(&records),
        ops_ok: ok,
        ops_failed: failed,
        ops_ok_after_heal,
        converged,
        final_digests,
        events: records.len(),
        sim_secs: start.elapsed().as_secs_f64(),
        history,
    }
}

/// Wait until every server serves the same applied zxid with the same tree.
pub async fn settle(cluster: &Cluster, history: &History, limit: Duration) -> bool {
    history.want_digests(true);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        sleep(Duration::from_millis(250)).await;
        let status = history.status();
        let all: Vec<_> = cluster
            .sids()
            .iter()
            .filter_map(|s| status.get(s).cloned())
            .collect();
        if all.len() == cluster.sids().len()
            && all.iter().all(|s| s.serving && s.digest.is_some())
            && all
                .windows(2)
                .all(|w| w[0].applied == w[1].applied && w[0].digest == w[1].digest)
        {
            record_states(cluster, history);
            return true;
        }
    }
    record_states(cluster, history);
    false
}

/// Each server's state as the run ends, into the history (for `converged`).
fn record_states(cluster: &Cluster, history: &History) {
    let status = history.status();
    let stopped = cluster.stopped();
    for sid in cluster.sids() {
        let s = status.get(&sid);
        history.record(crate::history::Event::ServerState {
            sid,
            serving: s.is_some_and(|s| s.serving),
            stopped: stopped.contains(&sid),
            applied: s.map_or(0, |s| s.applied.0),
            digest: s.and_then(|s| s.digest),
        });
    }
}
