//! Testing your own code under the simulation: the documented way in.
//!
//! A [`World`] is an ensemble with its settings, faults in the scenario
//! files' vocabulary, optionally the scenario's own generated load, and your
//! code on clients of its own. Each of your clients is a [`Client`] whose
//! calls land in the history, so the client checks (`client.linearizable`,
//! `client.sequential`, `client.sessions`, `client.watches`, ...) judge your
//! calls; [`World::invariant`] adds checks of your own over the history
//! (your clients' [`Client::note`]s among it). A run goes through the same
//! pipeline as `zkstorm run` and gives a [`Report`]: every verdict, the
//! trace hash, and the command that replays the seed.
//!
//! ```ignore
//! World::new(3)
//!     .faults(r#"[[fault]]
//!                at = "2s"
//!                crash = "leader"
//!                until = "6s""#)
//!     .client(|c| async move { c.create("/x", b"1", CreateMode::Persistent).await.ok(); })
//!     .invariant("x exists", |records| Ok(()))
//!     .check(0..4); // seeds from ZKSTORM_SEEDS, else these; panics on a failure
//! ```

use crate::check::{StormSpec, Verdict};
use crate::generate::{random_scenario_with, Intensity};
use crate::runner::{run_seed_within, seeds_from_env, RunError, WALL_LIMIT};
use crate::scenario::topology::{Code, CODE};
use crate::scenario::RunReport;
use crate::scenario::{run_with, FaultSpec, Scenario, Users};
use crate::shrink::{render_as, shrink_with, Failure};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use crate::history::{Event, Record};
pub use crate::recorder::RecordedClient as Client;
pub use crate::scenario::{Action, Target};
pub use zkstorm::client::{Events, Zk};
pub use zkstorm::storm::{MsgId, Topology, TopologyConfig};

type BuildTopology = Arc<dyn Fn(TopologyConfig) -> Result<Topology, String> + Send + Sync>;

/// A topology of the user's own on the world's Storm half, and what it
/// promises.
#[derive(Clone)]
struct Storm {
    build: BuildTopology,
    /// `[topology]` keys (workers, message_timeout, nimbus, ...).
    settings: String,
    /// Per spout component, the message ids it must see acked.
    acked: BTreeMap<String, BTreeSet<MsgId>>,
    /// The store's expected contents, and whether exactly.
    counts: Option<(BTreeMap<String, i64>, bool)>,
}

type Invariant = Arc<dyn Fn(&[Record]) -> Result<(), String> + Send + Sync>;

/// An ensemble, its faults and load, your clients and your invariants.
#[derive(Clone)]
pub struct World {
    servers: usize,
    duration: Duration,
    /// `[[fault]]` entries, as in a scenario file.
    faults: String,
    /// Faults as typed values: (at, until, what).
    typed: Vec<(Duration, Option<Duration>, Action)>,
    /// The scenario's own generated load: (clients, ops per second each).
    load: (usize, f64),
    users: Users,
    invariants: Vec<(String, Invariant)>,
    storm: Option<Storm>,
}

/// One seed's outcome.
#[derive(Clone, Debug)]
pub struct Report {
    pub seed: u64,
    /// Check name → verdict: the built-in checks, `user.<name>` for yours,
    /// `user.returned` (your clients' code returned within two minutes of
    /// the faults' end), and `run` when the run itself crashed or hung.
    pub checks: BTreeMap<String, Verdict>,
    pub trace_hash: u64,
}

impl World {
    /// `servers` servers (1 to 9), no load of their own, 30 simulated
    /// seconds of faults (the run lasts until your clients return), and
    /// the ZAB, client and linearizability checks.
    pub fn new(servers: usize) -> World {
        World {
            servers,
            duration: Duration::from_secs(30),
            faults: String::new(),
            typed: Vec::new(),
            load: (0, 0.0),
            users: Users::default(),
            invariants: Vec::new(),
            storm: None,
        }
    }

    /// How long the fault timeline (and the generated load) lasts.
    pub fn duration(mut self, d: Duration) -> World {
        self.duration = d;
        self
    }

    /// Faults as `[[fault]]` entries of a scenario file (see
    /// `docs/scenarios.md`); checked when the world runs.
    pub fn faults(mut self, toml: &str) -> World {
        self.faults.push_str(toml);
        self.faults.push('\n');
        self
    }

    /// A fault as a typed value: the kinds of the scenario files'
    /// vocabulary (`scenario::{Crash, Partition, Isolate, OneWay,
    /// PowerLoss, ...}`, each `Into<Action>`), firing at `at` and undone at
    /// `until` (for the kinds that last). Checked when the world runs.
    ///
    /// ```ignore
    /// World::new(3).fault(secs(1), Some(secs(4)), Crash(vec![Target::Leader]))
    /// ```
    pub fn fault(
        mut self,
        at: Duration,
        until: Option<Duration>,
        what: impl Into<Action>,
    ) -> World {
        self.typed.push((at, until, what.into()));
        self
    }

    /// The scenario's own generated load beside your clients.
    pub fn load(mut self, clients: usize, rate: f64) -> World {
        self.load = (clients, rate);
        self
    }

    /// Your code on a client of its own, connected and recorded. Use the
    /// client from this one task.
    pub fn client<F, Fut>(mut self, code: F) -> World
    where
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.users.during.push(Arc::new(move |c| Box::pin(code(c))));
        self
    }

    /// Code that runs once every `client` has returned, the faults have
    /// healed and the ensemble has settled: to read the state they left
    /// (and `note` it for an invariant). It has a minute.
    pub fn finally<F, Fut>(mut self, code: F) -> World
    where
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.users.finally = Some(Arc::new(move |c| Box::pin(code(c))));
        self
    }

    /// A check of your own over the history, reported as `user.<name>`.
    pub fn invariant<F>(mut self, name: &str, check: F) -> World
    where
        F: Fn(&[Record]) -> Result<(), String> + Send + Sync + 'static,
    {
        self.invariants.push((name.to_string(), Arc::new(check)));
        self
    }

    /// A topology of your own, submitted to a Storm half (Nimbus,
    /// supervisors, workers keeping their state in the ensemble) when the
    /// world starts; the storm checks judge it. `build` gets the run's
    /// config (workers, message timeout, the ensemble's address) for
    /// `TopologyBuilder::build`.
    pub fn topology<F, E>(mut self, build: F) -> World
    where
        F: Fn(TopologyConfig) -> Result<Topology, E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.storm = Some(Storm {
            build: Arc::new(move |cfg| build(cfg).map_err(|e| e.to_string())),
            settings: String::new(),
            acked: BTreeMap::new(),
            counts: None,
        });
        self
    }

    /// `[topology]` settings of a scenario file for the topology and its
    /// cluster: `workers`, `ackers`, `message_timeout`,
    /// `max_spout_pending`, `nimbus`, `supervisors`, `slots`.
    pub fn storm_settings(mut self, toml: &str) -> World {
        let st = self.storm.as_mut().expect("storm_settings after topology");
        st.settings.push_str(toml);
        st.settings.push('\n');
        self
    }

    /// Every message `spout` emits with one of these ids must be acked in
    /// the end (`storm.at_least_once`).
    pub fn expect_acked(mut self, spout: &str, ids: impl IntoIterator<Item = MsgId>) -> World {
        let st = self.storm.as_mut().expect("expect_acked after topology");
        st.acked.entry(spout.into()).or_default().extend(ids);
        self
    }

    /// What the bolts' store holds in the end: at least these counts, or
    /// (`exact`) exactly these (`storm.word_count`).
    pub fn expect_counts<K: Into<String>>(
        mut self,
        counts: impl IntoIterator<Item = (K, i64)>,
        exact: bool,
    ) -> World {
        let st = self.storm.as_mut().expect("expect_counts after topology");
        let counts = counts.into_iter().map(|(k, n)| (k.into(), n)).collect();
        st.counts = Some((counts, exact));
        self
    }

    /// The scenario this world runs (what `zkstorm run` would take).
    pub fn scenario(&self) -> Scenario {
        let (clients, rate) = self.load;
        let rate = if clients > 0 {
            format!("rate = {rate}\n")
        } else {
            String::new()
        };
        let text = format!(
            "name = \"world\"\nabout = \"a world built in code (zkstorm_sim::testing)\"\n\
             duration = \"{}ms\"\n[ensemble]\nservers = {}\n[workload]\nclients = {clients}\n\
             {rate}[check]\nzab = true\nclient = true\nlinearizable = true\n{}\n{}",
            self.duration.as_millis(),
            self.servers,
            self.faults,
            self.storm.as_ref().map_or(String::new(), |st| format!(
                "[topology]\nkind = \"word-count\"\n{}",
                st.settings
            )),
        );
        let mut sc = Scenario::parse(&text, "world").unwrap_or_else(|e| panic!("the world: {e}"));
        if let (Some(st), Some(t)) = (&self.storm, sc.topology.as_mut()) {
            t.kind = CODE.into();
            t.code = Some(Code(st.builder()));
        }
        if self.typed.is_empty() {
            return sc;
        }
        for (at, until, action) in &self.typed {
            let (index, line) = (sc.faults.len(), 0);
            let (at, until, action) = (*at, *until, action.clone());
            sc.faults.push(FaultSpec {
                index,
                line,
                at,
                until,
                action,
            });
        }
        sc.reparsed()
            .unwrap_or_else(|e| panic!("the world's faults: {e}"))
    }

    /// Run one seed.
    pub fn run(&self, seed: u64) -> Report {
        Report::of(seed, self.run_scenario(&self.scenario(), seed))
    }

    /// Run `sc` (this world's scenario, or one drawn or shrunk from it) on
    /// `seed` with this world's code; the report's checks hold yours.
    fn run_scenario(&self, sc: &Scenario, seed: u64) -> Result<RunReport, RunError> {
        let (run, users) = (sc.clone(), self.users.clone());
        let limit = sc.duration + Duration::from_secs(600);
        let mut report = run_seed_within(seed, limit, WALL_LIMIT, move || async move {
            run_with(&run, &users).await
        })?;
        let returned = match report.users_hung.as_slice() {
            [] => Verdict::Pass,
            hung => Verdict::Fail(format!(
                "client(s) {hung:?} did not return (two minutes after the faults ended; a minute for `finally`)"
            )),
        };
        let mut checks = std::mem::take(&mut report.checks);
        checks.insert("user.returned".into(), returned);
        report.history.with_records(|records| {
            for (name, check) in &self.invariants {
                let verdict = check(records).map_or_else(Verdict::Fail, |()| Verdict::Pass);
                checks.insert(format!("user.{name}"), verdict);
            }
        });
        report.checks = checks;
        Ok(report)
    }

    /// Run every seed of `ZKSTORM_SEEDS` (else `default`); panic at the
    /// first that fails a check, with the command that replays it.
    pub fn check(&self, default: std::ops::Range<u64>) {
        for seed in seeds_from_env(default) {
            let r = self.run(seed);
            let failed = r.failures();
            if !failed.is_empty() {
                panic!(
                    "seed {seed}:\n  {}\n  replay: ZKSTORM_SEEDS={seed} cargo test {}",
                    failed.join("\n  "),
                    test_name()
                );
            }
        }
    }

    /// Fuzz this world as `zkstorm fuzz` fuzzes scenarios: each seed of
    /// `ZKSTORM_SEEDS` (else `default`) runs with a timing profile and a
    /// swarm fault schedule drawn for this world's servers, on top of the
    /// world's own faults. The first seed that fails a check is shrunk (at
    /// most `SHRINK_RUNS` runs), written to
    /// `target/zkstorm-failures/<test>-seed-<N>.toml`, and the test panics
    /// with both replays. With `ZKSTORM_REPLAY=FILE`, the seeds run that
    /// file's scenario instead (a shrunk failure, or one edited by hand).
    pub fn fuzz(&self, default: std::ops::Range<u64>) {
        let replay = std::env::var("ZKSTORM_REPLAY").ok();
        for seed in seeds_from_env(default) {
            let sc = match &replay {
                Some(file) => self.replayed(file),
                None => self.drawn(seed),
            };
            let first = self.run_scenario(&sc, seed);
            let Some(failure) = Failure::of(&first) else {
                continue;
            };
            let test = test_name();
            let msg = format!("seed {seed} fails {}", failure.name());
            match &replay {
                Some(file) => panic!(
                    "{msg} ({file})\n  replay: {}",
                    replay_command(file, seed, &test)
                ),
                None => panic!(
                    "{msg}{}\n  replay the drawn schedule: ZKSTORM_SEEDS={seed} cargo test {test}",
                    self.shrunk(&sc, seed, &first, &test)
                ),
            }
        }
    }

    /// Shrink `sc`'s failure on `seed` into a file; what to say of it.
    fn shrunk(&self, sc: &Scenario, seed: u64, first: &Ran, test: &str) -> String {
        let run = |c: &Scenario, s: u64| self.run_scenario(c, s);
        let Some(shrunk) = shrink_with(sc, seed, first, SHRINK_RUNS, &run) else {
            return String::new();
        };
        let dir = "target/zkstorm-failures";
        let file = format!("{dir}/{}-seed-{seed}.toml", test.replace("::", "-"));
        let replay = replay_command(&file, seed, test);
        let origin = format!("Found by `World::fuzz` in {test}");
        let text = render_as(&shrunk, seed, &origin, &replay);
        let (reason, faults, runs) = (&shrunk.reason, shrunk.scenario.faults.len(), shrunk.runs);
        match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, text)) {
            Ok(()) => format!(
                ": {reason}\n  shrunk to {faults} fault(s) in {runs} runs: {file}\n  replay it: {replay}"
            ),
            Err(e) => format!(": {reason}\n  (not written: {file}: {e})"),
        }
    }

    /// This world with seed `seed`'s drawn timing profile and faults.
    fn drawn(&self, seed: u64) -> Scenario {
        let knobs = Intensity {
            servers: Some(self.servers),
            ..Intensity::default()
        };
        let random = random_scenario_with(seed, &knobs);
        let mut sc = self.scenario();
        sc.ensemble = random.ensemble;
        (sc.network, sc.disk) = (random.network, random.disk);
        sc.workload.session_timeout = random.workload.session_timeout;
        sc.faults.extend(random.faults);
        sc.duration = sc.duration.max(random.duration);
        if sc.topology.is_some() {
            // As `zkstorm fuzz --topology` draws: sessions of a few
            // seconds for the Storm daemons, a network they can finish on.
            sc.ensemble.tick = sc.ensemble.tick.max(Duration::from_millis(100));
            let cap = Duration::from_millis(100);
            sc.network.latency = (sc.network.latency.0.min(cap), sc.network.latency.1.min(cap));
            sc.network.packet_loss = 0.0;
        }
        sc.reparsed()
            .unwrap_or_else(|e| panic!("a drawn world is invalid: {e}"))
    }

    /// Run the scenario of a file `fuzz` wrote (or one edited from it)
    /// with this world's code, on `seed`.
    pub fn run_file(&self, file: &str, seed: u64) -> Report {
        Report::of(seed, self.run_scenario(&self.replayed(file), seed))
    }

    /// The scenario in `file`, with this world's topology code.
    fn replayed(&self, file: &str) -> Scenario {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let code = self.scenario().topology.and_then(|t| t.code);
        Scenario::parse_with_code(&text, file, code).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Most runs `World::fuzz` spends shrinking a failure.
pub const SHRINK_RUNS: usize = 100;

/// A run's outcome.
type Ran = Result<RunReport, RunError>;

/// The command that replays `file` on `seed` with the test's code.
fn replay_command(file: &str, seed: u64, test: &str) -> String {
    format!("ZKSTORM_REPLAY={file} ZKSTORM_SEEDS={seed} cargo test {test}")
}

/// The running test's name (its thread's), for replay commands.
fn test_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

impl Report {
    /// A run's outcome as a report: a crash or hang is the check `run`.
    fn of(seed: u64, ran: Result<RunReport, RunError>) -> Report {
        match ran {
            Ok(r) => Report {
                seed,
                checks: r.checks,
                trace_hash: r.trace_hash,
            },
            Err(e) => Report {
                seed,
                checks: [("run".to_string(), Verdict::Fail(e.to_string()))].into(),
                trace_hash: 0,
            },
        }
    }

    /// The checks that failed or could not decide, with their reasons.
    pub fn failures(&self) -> Vec<String> {
        let bad = |(name, v): (&String, &Verdict)| match v {
            Verdict::Fail(why) | Verdict::Undecided(why) => Some(format!("{name}: {why}")),
            _ => None,
        };
        self.checks.iter().filter_map(bad).collect()
    }

    /// The verdict of one check.
    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.checks.get(name)
    }
}

/// At most one client between an `open` note and its `close` at any point
/// of the history (one lock holder, one leader): an invariant ready made.
pub fn one_at_a_time(records: &[Record], open: &str, close: &str) -> Result<(), String> {
    let mut inside: Option<usize> = None;
    for (client, what) in notes(records) {
        if what == open {
            if let Some(other) = inside {
                return Err(format!(
                    "client {client} got in while client {other} was in"
                ));
            }
            inside = Some(client);
        } else if what == close && inside == Some(client) {
            inside = None;
        }
    }
    Ok(())
}

/// The notes your clients wrote, in history order: (client, text).
pub fn notes(records: &[Record]) -> Vec<(usize, &str)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { client, text } => Some((*client, text.as_str())),
            _ => None,
        })
        .collect()
}

impl Storm {
    /// The user's build with what the checks hold it to.
    fn builder(&self) -> crate::scenario::topology::Build {
        let st = self.clone();
        Arc::new(move |cfg| {
            let t = (st.build)(cfg)?;
            let mut spec = StormSpec::of(&t);
            spec.inputs = st.acked.clone();
            spec.counts = st.counts.clone();
            Ok((t, spec))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Crash, Partition};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn typed_faults_are_the_files_faults() {
        let typed = World::new(3)
            .fault(secs(1), Some(secs(3)), Crash(vec![Target::Leader]))
            .fault(
                secs(4),
                Some(secs(6)),
                Partition(vec![
                    vec![Target::Node(1)],
                    vec![Target::Node(2), Target::Node(3)],
                ]),
            )
            .scenario();
        let written = World::new(3)
            .faults("[[fault]]\nat = \"1s\"\ncrash = \"leader\"\nuntil = \"3s\"")
            .faults("[[fault]]\nat = \"4s\"\npartition = [[1], [2, 3]]\nuntil = \"6s\"")
            .scenario();
        let key = |sc: &Scenario| -> Vec<(Duration, Option<Duration>, Action)> {
            sc.faults
                .iter()
                .map(|f| (f.at, f.until, f.action.clone()))
                .collect()
        };
        assert_eq!(key(&typed), key(&written));
        assert_eq!(typed.to_toml(), written.to_toml());
    }

    #[test]
    fn a_typed_fault_out_of_range_is_refused_with_the_files_message() {
        let w = World::new(3).fault(secs(1), None, Crash(vec![Target::Node(7)]));
        let built = std::panic::AssertUnwindSafe(|| w.scenario());
        let err = std::panic::catch_unwind(built).expect_err("server 7 of 3");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("the world's faults") && msg.contains('7'),
            "{msg}"
        );
    }
}
