//! Running a scenario inside a simulation, and judging the history.

use super::nemesis::{self, Nemesis};
use super::schema::{CheckSpec, Scenario};
use crate::check::{self, Verdict};
use crate::cluster::Cluster;
use crate::history::{Event, History, Record};
use crate::workload::run_client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// Everything a run produced: verdicts, figures and the history.
#[derive(Clone)]
pub struct RunReport {
    pub name: String,
    /// The simulation's seed.
    pub seed: u64,
    /// Check name → verdict.
    pub checks: BTreeMap<String, Verdict>,
    /// Simulated seconds from start to the end of the checks.
    pub sim_secs: f64,
    /// Records in the history.
    pub events: usize,
    /// Client ops answered (ok or a data-model error such as NoNode).
    pub ops_ok: u64,
    /// Client ops that failed (connection loss, timeouts, expired sessions).
    pub ops_failed: u64,
    /// Distinct zxids delivered by any server.
    pub txns_committed: u64,
    pub trace_hash: u64,
    /// When the fault timeline ended and everything was healed.
    pub healed_at: Duration,
    pub faults_applied: usize,
    pub faults_skipped: usize,
    pub history: History,
}

impl RunReport {
    /// Did every check hold?
    pub fn passed(&self) -> bool {
        self.checks.values().all(|v| v.is_pass())
    }

    /// All the checks together: any failure fails, else any undecided.
    pub fn verdict(&self) -> Verdict {
        Verdict::overall(self.checks.values())
    }

    /// The checks that did not pass, with their reasons (failed or undecided).
    pub fn failures(&self) -> Vec<(&str, &str)> {
        self.checks
            .iter()
            .filter_map(|(k, v)| v.reason().map(|e| (k.as_str(), e)))
            .collect()
    }
}

impl std::fmt::Debug for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunReport")
            .field("name", &self.name)
            .field("seed", &self.seed)
            .field("checks", &self.checks)
            .field("sim_secs", &self.sim_secs)
            .field("events", &self.events)
            .field("ops_ok", &self.ops_ok)
            .field("ops_failed", &self.ops_failed)
            .field("txns_committed", &self.txns_committed)
            .field("trace_hash", &format_args!("{:016x}", self.trace_hash))
            .finish()
    }
}

/// What a checker sees.
pub struct CheckInput<'a> {
    pub scenario: &'a Scenario,
    pub records: &'a [Record],
    /// History time (ms) when the timeline ended and everything was healed.
    pub healed_at_ms: u64,
}

/// A named checker a scenario can ask for: `wanted` reads the `[check]`
/// section; `run` gives one or more named verdicts.
pub struct Checker {
    pub name: &'static str,
    pub about: &'static str,
    pub wanted: fn(&CheckSpec) -> bool,
    pub run: fn(&CheckInput) -> BTreeMap<String, Verdict>,
}

/// Every checker the runner knows, in report order. Add new ones here.
pub const CHECKERS: &[Checker] = &[
    Checker {
        name: "zab",
        about: "the zab.* delivery properties (agreement, total order, primary integrity, durability, ...)",
        wanted: |c| c.zab,
        run: |i| named(&check::zab(i.records), |n| n.starts_with("zab.")),
    },
    Checker {
        name: "client.linearizable",
        about: "writes, and reads after a sync, linearize per znode",
        wanted: |c| c.linearizable,
        run: |i| {
            named(&check::linearizable(i.records, &i.options()), |n| {
                n == "client.linearizable"
            })
        },
    },
    Checker {
        name: "client",
        about: "client.sequential, client.watches, client.sessions: what each client was promised",
        wanted: |c| c.client,
        run: |i| {
            let mut v = check::sequential(i.records);
            v.extend(check::watches(i.records, &i.options()));
            v.extend(check::sessions(i.records));
            named(&v, |n| n.starts_with("client.") && n != "client.linearizable")
        },
    },
    Checker {
        name: "converged",
        about: "after the load stops, every server serves the same applied zxid and tree within `settle`",
        wanted: |_| true,
        run: |i| named(&check::converged(i.records), |n| n == "converged"),
    },
    Checker {
        name: "liveness",
        about: "after the last fault heals, a client operation is invoked and answered within the bound",
        wanted: |c| c.liveness.is_some(),
        run: liveness,
    },
];

/// The names of every checker, for listings.
pub fn checker_names() -> Vec<&'static str> {
    CHECKERS.iter().map(|c| c.name).collect()
}

/// Group violations by check name: every name `keep` accepts from the
/// registry of checks passes unless a violation names it.
fn named(
    violations: &[check::Violation],
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, Verdict> {
    check::verdicts(violations)
        .into_iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

impl CheckInput<'_> {
    /// The options the history checkers take.
    pub fn options(&self) -> check::CheckOptions {
        check::CheckOptions {
            liveness_bound_ms: self.scenario.check.liveness.unwrap_or_default().as_millis() as u64,
            healed_at_ms: Some(self.healed_at_ms),
            linearizable_steps: self.scenario.check.linearizable_steps,
            ..check::CheckOptions::default()
        }
    }
}

/// Progress after the heal, within the bound: a leader is established
/// (`check::liveness`), and some client op invoked at or after the heal is
/// answered (ok or a data-model error) — a write if the mix has writes.
fn liveness(i: &CheckInput) -> BTreeMap<String, Verdict> {
    let mut out = named(&check::liveness(i.records, &i.options()), |n| {
        n == "liveness"
    });
    let mine = invoked_and_answered(i);
    if let (Some(Verdict::Pass), Verdict::Fail(_)) = (out.get("liveness"), &mine) {
        out.insert("liveness".to_string(), mine.clone());
    }
    out.entry("liveness".to_string()).or_insert(mine);
    out
}

fn invoked_and_answered(i: &CheckInput) -> Verdict {
    let bound = i.scenario.check.liveness.unwrap_or_default();
    let from = i.healed_at_ms;
    let to = from + bound.as_millis() as u64;
    let mix = i.scenario.workload.mix;
    let want_write = mix[0] + mix[1] + mix[3] > 0;
    let mut invoked: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut first: Option<u64> = None;
    for r in i.records {
        if r.t_ms > to {
            break;
        }
        match &r.event {
            Event::Invoke { client, op, .. } if r.t_ms >= from => {
                invoked.insert((*client, *op));
            }
            Event::Complete {
                client,
                op,
                outcome,
                write,
                ..
            } if invoked.contains(&(*client, *op))
                && (*write || !want_write)
                && (outcome == "ok" || check_model_error(outcome)) =>
            {
                first = Some(r.t_ms);
                break;
            }
            _ => {}
        }
    }
    match first {
        Some(_) => Verdict::Pass,
        None => Verdict::Fail(format!(
            "no client {}was invoked and answered between {} and {} (the heal and {} after)",
            if want_write { "write " } else { "op " },
            ms(from),
            ms(to),
            super::duration::format(bound)
        )),
    }
}

fn check_model_error(outcome: &str) -> bool {
    matches!(outcome, "NoNode" | "NodeExists" | "BadVersion" | "NotEmpty")
}

fn ms(t: u64) -> String {
    format!("{}.{:03}s", t / 1000, t % 1000)
}

/// Run the scenario; call inside a simulation (see [`run_seed`]).
///
/// Starts the ensemble with the scenario's settings, the clients, and the
/// nemesis; heals everything when the timeline ends; waits for the load to
/// stop; lets the ensemble settle; then runs the checks.
pub async fn run(scenario: &Scenario) -> RunReport {
    let sc = scenario;
    let seed = madsim::runtime::Handle::current().seed();
    let history = History::new();
    let start = Instant::now();
    nemesis::set_network(sc);
    let mut cluster = Cluster::start(&sc.cluster_config(), history.clone());
    for sid in cluster.sids() {
        nemesis::set_disk(sc, &cluster, sid);
    }
    let until = start + sc.duration;
    let wcfg = sc.workload_config();
    let mut clients = Vec::new();
    let mut client_ids = Vec::new();
    for n in 0..sc.workload.clients {
        let node = cluster.client_node(n);
        client_ids.push(node.id());
        let fut = run_client(
            n,
            cluster.client_addrs(),
            wcfg.clone(),
            history.clone(),
            until,
        );
        clients.push(node.spawn(fut));
    }

    let mut nem = Nemesis::new(sc, start, client_ids);
    nem.run(&mut cluster).await;
    let healed_at = if sc.faults.is_empty() {
        Duration::ZERO
    } else {
        nem.heal_all(&mut cluster).await;
        sc.heal_time()
    };
    let healed_at_ms = if sc.faults.is_empty() {
        0
    } else {
        history
            .records()
            .iter()
            .rev()
            .find(
                |r| matches!(&r.event, Event::Fault { what } if what.starts_with("timeline over")),
            )
            .map(|r| r.t_ms)
            .unwrap_or(0)
    };

    let mut ops_ok = 0;
    let mut ops_failed = 0;
    for c in clients {
        if let Ok(stats) = c.await {
            ops_ok += stats.ok;
            ops_failed += stats.failed;
        }
    }
    crate::chaos::settle(&cluster, &history, sc.settle).await;
    let records = history.records();
    let input = CheckInput {
        scenario: sc,
        records: &records,
        healed_at_ms,
    };
    let mut checks = BTreeMap::new();
    for c in CHECKERS {
        if (c.wanted)(&sc.check) {
            checks.extend((c.run)(&input));
        }
    }
    let txns_committed = records
        .iter()
        .filter_map(|r| match r.event {
            Event::Delivered { zxid, .. } => Some(zxid),
            _ => None,
        })
        .collect::<BTreeSet<u64>>()
        .len() as u64;
    RunReport {
        name: sc.name.clone(),
        seed,
        checks,
        sim_secs: start.elapsed().as_secs_f64(),
        events: records.len(),
        ops_ok,
        ops_failed,
        txns_committed,
        trace_hash: history.trace_hash(),
        healed_at,
        faults_applied: nem.applied,
        faults_skipped: nem.skipped,
        history,
    }
}

/// Run `scenario` on `seed` in a fresh simulation (its own OS thread).
/// `Err` is a panic inside the simulation, with its message.
pub fn run_seed(scenario: &Scenario, seed: u64) -> Result<RunReport, String> {
    let sc = scenario.clone();
    let limit = sc.duration + sc.settle + Duration::from_secs(300);
    crate::runner::run_seed(seed, limit, move || async move { run(&sc).await })
}

/// The command that replays one seed of a scenario file.
pub fn replay_command(file: &str, seed: u64) -> String {
    format!("cargo run --release -- run {file} --seed {seed}")
}
