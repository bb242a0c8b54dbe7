//! Running a scenario inside a simulation, and judging the history.

use super::nemesis::{self, Nemesis};
use super::schema::{CheckSpec, Scenario};
use crate::check::Family;
use crate::check::{self, Verdict};
use crate::cluster::Cluster;
use crate::history::{Event, History, Record};
use crate::runner::{run_seed_within, RunError, WALL_LIMIT};
use crate::workload::run_client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::{sleep, Instant};
use zkstorm::types::Sid;

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
    /// What each fault with targets resolved to when it fired (fault index
    /// → its node groups); a skipped fault is missing. See
    /// `Scenario::resolved`.
    pub resolved: BTreeMap<usize, Vec<Vec<Sid>>>,
    pub history: History,
    /// History time of the heal, and what the topology promised: what the
    /// checks were given (for judging the history again, as bench does).
    pub healed_at_ms: u64,
    pub storm_spec: check::StormSpec,
    /// User clients (`testing`) whose code had not returned two minutes
    /// after the fault timeline's end, by history client number.
    pub users_hung: Vec<usize>,
}

impl RunReport {
    /// Run `sc`'s checks on this history again.
    pub fn rejudge(&self, sc: &Scenario, records: &[Record]) -> BTreeMap<String, Verdict> {
        judge(sc, records, self.healed_at_ms, &self.storm_spec)
    }

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

/// Is a check of this family asked for by the scenario's `[check]` section?
pub fn wanted(spec: &CheckSpec, family: Family) -> bool {
    match family {
        Family::Zab => spec.zab,
        Family::Linearizable => spec.linearizable,
        Family::Client => spec.client,
        Family::Converged => true,
        Family::Liveness => spec.liveness.is_some(),
        Family::Storm => spec.storm,
    }
}

/// The options the history checkers take for this scenario, healed at
/// `healed_at_ms` (history time), its topology promising `storm`.
pub fn check_options(
    sc: &Scenario,
    healed_at_ms: u64,
    storm: &check::StormSpec,
) -> check::CheckOptions {
    check::CheckOptions {
        liveness_bound_ms: sc.check.liveness.unwrap_or_default().as_millis() as u64,
        healed_at_ms: Some(healed_at_ms),
        linearizable_steps: sc.check.linearizable_steps,
        storm: storm.clone(),
        ..check::CheckOptions::default()
    }
}

/// Every check the scenario asks for, over the history.
pub fn judge(
    sc: &Scenario,
    records: &[Record],
    healed_at_ms: u64,
    storm: &check::StormSpec,
) -> BTreeMap<String, Verdict> {
    let opts = check_options(sc, healed_at_ms, storm);
    check::run(records, &opts, |f| wanted(&sc.check, f))
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Run the scenario; call inside a simulation (see [`run_seed`]).
///
/// Starts the ensemble with the scenario's settings, the clients, and the
/// nemesis; heals everything when the timeline ends; waits for the load to
/// stop; lets the ensemble settle; then runs the checks.
pub async fn run(scenario: &Scenario) -> RunReport {
    run_with(scenario, &Users::default()).await
}

/// A user's code for one recorded client (`testing`): it gets the client
/// once connected and runs beside the scenario's own load and faults.
pub type UserClient = std::sync::Arc<
    dyn Fn(
            crate::recorder::RecordedClient,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// A user's code for a run (`testing`): clients that run beside the load
/// and faults, and one that runs once they have returned and the
/// ensemble has settled (to read the state the others left).
#[derive(Clone, Default)]
pub struct Users {
    pub during: Vec<UserClient>,
    pub finally: Option<UserClient>,
}

/// `run`, with `users` on client nodes of their own, each recorded in the
/// history; the run waits for them before it settles.
pub async fn run_with(scenario: &Scenario, users: &Users) -> RunReport {
    let sc = scenario;
    let seed = madsim::runtime::Handle::current().seed();
    zkstorm::bugs::enable(&sc.bugs).expect("validated bug names");
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

    let storm_spec = start_topology(sc, &mut cluster);
    let user_tasks = spawn_users(
        sc,
        &mut cluster,
        &history,
        &users.during,
        0,
        &mut client_ids,
    );

    let mut nem = Nemesis::new(sc, start, client_ids);
    nem.run(&mut cluster).await;
    let (healed_at, healed_at_ms) = if sc.faults.is_empty() {
        (Duration::ZERO, 0)
    } else {
        // Liveness counts from the moment the heal starts (restarting what
        // is down may wait for a slow disk).
        let at = history.now_ms();
        nem.heal_all(&mut cluster).await;
        (sc.heal_time(), at)
    };

    let mut ops_ok = 0;
    let mut ops_failed = 0;
    for c in clients {
        if let Ok(stats) = c.await {
            ops_ok += stats.ok;
            ops_failed += stats.failed;
        }
    }
    // User code that does not return by then is left running and named.
    let users_by = start + sc.duration + Duration::from_secs(120);
    let mut users_hung = Vec::new();
    for (n, task) in user_tasks {
        let left = users_by.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, task).await.is_err() {
            users_hung.push(n);
        }
    }
    if let Some(t) = &sc.topology {
        quiesce(&history, 2 * t.message_timeout + Duration::from_secs(1)).await;
    }
    settle(&cluster, &history, sc.settle).await;
    if let Some(last) = &users.finally {
        let at = users.during.len();
        let (n, task) = spawn_users(
            sc,
            &mut cluster,
            &history,
            std::slice::from_ref(last),
            at,
            &mut Vec::new(),
        )
        .remove(0);
        if tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .is_err()
        {
            users_hung.push(n);
        }
    }
    if storm_spec.exactly_once.is_some() {
        let node = cluster.client_node(sc.workload.clients);
        let t = sc.topology.as_ref().expect("a batch topology");
        let last = t.batches.as_ref().map_or(0, |b| t.records.div_ceil(b.size)) as u64;
        // Long enough for a restarted life to replay what was in flight
        // and take in the rest of the input again.
        let wait = t.input_time() + 4 * t.message_timeout;
        let name = storm_spec.topology.clone();
        let read = crate::storm::read_committed(cluster.client_addrs(), name, seed, last, wait);
        if let Ok(ev) = node.spawn(read).await {
            history.record(ev);
        }
    }
    let (checks, txns_committed, events) = history.with_records(|records| {
        let checks = judge(sc, records, healed_at_ms, &storm_spec);
        let txns = records
            .iter()
            .filter_map(|r| match r.event {
                Event::Delivered { zxid, .. } => Some(zxid),
                _ => None,
            })
            .collect::<BTreeSet<u64>>()
            .len() as u64;
        (checks, txns, records.len())
    });
    RunReport {
        name: sc.name.clone(),
        seed,
        checks,
        sim_secs: start.elapsed().as_secs_f64(),
        events,
        ops_ok,
        ops_failed,
        txns_committed,
        trace_hash: history.trace_hash(),
        healed_at,
        faults_applied: nem.applied,
        faults_skipped: nem.skipped,
        resolved: nem.picked.clone(),
        history,
        healed_at_ms,
        storm_spec,
        users_hung,
    }
}

/// Start each user's code on a client node of its own (after the load's
/// clients and the one that reads a batch topology's state), connected and
/// recorded as client `workload.clients + 1 + i`, `i` counting from `first`.
fn spawn_users(
    sc: &Scenario,
    cluster: &mut Cluster,
    history: &History,
    users: &[UserClient],
    first: usize,
    client_ids: &mut Vec<madsim::task::NodeId>,
) -> Vec<(usize, madsim::task::JoinHandle<()>)> {
    let mut tasks = Vec::new();
    for (i, user) in (first..).zip(users) {
        let n = sc.workload.clients + 1 + i;
        let node = cluster.client_node(n);
        client_ids.push(node.id());
        let mut cfg = zkstorm::client::ClientConfig::new(cluster.client_addrs());
        cfg.session_timeout_ms = sc.workload.session_timeout.as_millis() as u64;
        cfg.seed = rand::Rng::gen(&mut crate::streams::stream("user", i as u64));
        let (user, history) = (user.clone(), history.clone());
        let task = node.spawn(async move {
            loop {
                let c = crate::recorder::RecordedClient::connect(n, cfg.clone(), history.clone());
                match tokio::time::timeout(Duration::from_secs(5), c).await {
                    Ok(Ok(client)) => return user(client).await,
                    _ => sleep(Duration::from_millis(200)).await,
                }
            }
        });
        tasks.push((n, task));
    }
    tasks
}

/// Run `scenario` on `seed` in a fresh simulation (its own OS thread).
/// `Err`: it panicked, or hung past the wall-clock watchdog.
pub fn run_seed(scenario: &Scenario, seed: u64) -> Result<RunReport, RunError> {
    run_seed_for(scenario, seed, WALL_LIMIT)
}

/// `run_seed` with its own wall-clock limit (`zkstorm fuzz --time-limit`).
pub fn run_seed_for(scenario: &Scenario, seed: u64, wall: Duration) -> Result<RunReport, RunError> {
    let sc = scenario.clone();
    run_seed_within(
        seed,
        sim_limit(&sc),
        wall,
        move || async move { run(&sc).await },
    )
}

/// `run_seed`, and the network payloads madsim carried (`bench`).
pub fn run_seed_counted(scenario: &Scenario, seed: u64) -> Result<(RunReport, u64), RunError> {
    let sc = scenario.clone();
    run_seed_within(seed, sim_limit(&sc), WALL_LIMIT, move || async move {
        let report = run(&sc).await;
        (report, madsim::net::NetSim::current().stat().msg_count)
    })
}

/// The simulated time a run may take before it counts as hung.
fn sim_limit(sc: &Scenario) -> Duration {
    sc.duration + sc.settle + Duration::from_secs(300)
}

/// Scenarios waiting for `check_determinism`, by seed: madsim's check takes
/// a plain `fn()`, which finds its scenario through the runtime's seed.
static PENDING: std::sync::Mutex<BTreeMap<u64, Scenario>> = std::sync::Mutex::new(BTreeMap::new());

/// Test only: when on, every other run draws one random number more.
#[cfg(test)]
static PERTURB: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
#[cfg(test)]
static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn pending_run() -> u64 {
    let seed = madsim::runtime::Handle::current().seed();
    #[cfg(test)]
    if PERTURB.load(std::sync::atomic::Ordering::Relaxed)
        && RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2 == 1
    {
        use rand::Rng;
        let _: u64 = madsim::rand::thread_rng().gen();
    }
    let sc = PENDING
        .lock()
        .expect("pending scenarios")
        .get(&seed)
        .cloned()
        .expect("registered before the check");
    run(&sc).await.trace_hash
}

/// Run `scenario` on `seed` twice under madsim's own determinism check
/// (`Runtime::check_determinism`: the second run must draw the same random
/// numbers in the same order as the first); the trace hash of the second.
/// A divergence is `RunError::Panicked("non-determinism detected ...")`.
pub fn check_determinism(scenario: &Scenario, seed: u64) -> Result<u64, RunError> {
    PENDING
        .lock()
        .expect("pending scenarios")
        .insert(seed, scenario.clone());
    // Not inside a simulation: the check starts a runtime on a fresh
    // thread for each run itself.
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("determinism-{seed}"))
        .spawn(move || {
            let r = std::panic::catch_unwind(|| {
                madsim::runtime::Runtime::check_determinism(
                    seed,
                    madsim::Config::default(),
                    pending_run,
                )
            });
            let _ = tx.send(r.map_err(|p| crate::runner::panic_message(&*p)));
        });
    let r = match spawned {
        Err(e) => Err(RunError::Panicked(format!("spawn: {e}"))),
        Ok(_) => match rx.recv_timeout(WALL_LIMIT) {
            Ok(r) => r.map_err(RunError::Panicked),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RunError::Hung(WALL_LIMIT)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(RunError::Panicked("the check's thread died".into()))
            }
        },
    };
    PENDING.lock().expect("pending scenarios").remove(&seed);
    r
}

/// The longest a topology gets, after the faults healed and the load
/// stopped, to finish what they held up.
pub const TOPOLOGY_SETTLE: Duration = Duration::from_secs(120);

/// Let a topology finish: wait until its engine has reported nothing for
/// `quiet` (every replay done; an idle spout reports nothing), at most
/// `TOPOLOGY_SETTLE`. The storm checks then judge a topology that had its
/// chance, not one cut short.
async fn quiesce(history: &History, quiet: Duration) {
    let deadline = Instant::now() + TOPOLOGY_SETTLE;
    let quiet_ms = quiet.as_millis() as u64;
    while Instant::now() < deadline {
        let since = history.now_ms().saturating_sub(history.last_storm_ms());
        if since >= quiet_ms {
            return;
        }
        sleep(Duration::from_millis(quiet_ms - since)).await;
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
        history.record(Event::ServerState {
            sid,
            serving: s.is_some_and(|s| s.serving),
            stopped: stopped.contains(&sid),
            applied: s.map_or(0, |s| s.applied.0),
            digest: s.and_then(|s| s.digest),
        });
    }
}

/// The command that replays one seed of a scenario file.
pub fn replay_command(file: &str, seed: u64) -> String {
    format!("cargo run --release -- run {file} --seed {seed}")
}

/// Start the Storm half and submit the scenario's topology (in the
/// background: the fault timeline starts at once); what the storm checks
/// hold it to. No topology: nothing, and an empty spec.
fn start_topology(sc: &Scenario, cluster: &mut Cluster) -> check::StormSpec {
    let Some(t) = &sc.topology else {
        return check::StormSpec::default();
    };
    let seed = rand::RngCore::next_u64(&mut crate::streams::stream("topology", 0));
    let (topology, spec) = t
        .build(seed, &cluster.connect_string())
        .expect("a validated [topology] builds");
    cluster.start_storm(&t.storm_config());
    let storm = cluster.storm.as_ref().expect("just started");
    let history = cluster.history.clone();
    let submitted = storm.submit_task(topology, sc.duration);
    madsim::task::spawn(async move {
        let why = match submitted.await {
            Ok(Ok(())) => "submitted".to_string(),
            Ok(Err(e)) => format!("not submitted: {e}"),
            Err(e) => format!("not submitted: {e}"),
        };
        history.fault(format!("topology {why}"));
    });
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recheck catches a run that differs from itself: madsim's check
    /// fails at the first extra random draw.
    #[test]
    fn check_determinism_catches_a_run_that_differs() {
        let sc = crate::generate::calm(3, 3);
        let first = run_seed(&sc, 4).unwrap().trace_hash;
        assert_eq!(check_determinism(&sc, 4), Ok(first));
        RUNS.store(0, std::sync::atomic::Ordering::Relaxed);
        PERTURB.store(true, std::sync::atomic::Ordering::Relaxed);
        let r = check_determinism(&sc, 4);
        PERTURB.store(false, std::sync::atomic::Ordering::Relaxed);
        match r {
            Err(RunError::Panicked(p)) => assert!(p.contains("non-determinism"), "{p}"),
            other => panic!("not caught: {other:?}"),
        }
    }
}
