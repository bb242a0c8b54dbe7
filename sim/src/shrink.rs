//! Shrinking a failing run to a small scenario file. Every candidate is a
//! scenario (written out and parsed back, so it is valid) run on the same
//! seed, and kept only if it still fails the same way: the same check fails,
//! or it crashes again. In order: role targets become the nodes they
//! resolved to (so removing a fault does not change whom the others hit),
//! faults are removed (delta debugging: halves, quarters, ... single
//! faults), then fewer clients, a shorter run, a smaller ensemble, milder
//! faults (shorter, and each kind's own weaker versions) and a lighter load
//! — and again from the top while a round changes something.

use crate::runner::RunError;
use crate::scenario::{run_seed, Action, ExpireSession, RunReport, Scenario, Target};
use std::time::Duration;

/// How a run failed: what a candidate must reproduce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// This check failed (the first failing one, safety before liveness).
    Check(String),
    /// The run panicked or hung: how (`hung`, or the panic message's first
    /// clause without its numbers, e.g. `livelock`).
    Crashed(String),
}

/// What kind of crash `e` is, so a candidate must crash the same way.
fn crash_kind(e: &RunError) -> String {
    match e {
        RunError::Hung(_) => "hung".into(),
        RunError::Panicked(p) => p
            .split(':')
            .next()
            .unwrap_or(p)
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

impl Failure {
    /// The failure a report shows, if any.
    pub fn of(r: &Result<RunReport, RunError>) -> Option<Failure> {
        let r = match r {
            Err(e) => return Some(Failure::Crashed(crash_kind(e))),
            Ok(r) => r,
        };
        let failed: Vec<&String> = r
            .checks
            .iter()
            .filter(|(_, v)| v.is_fail())
            .map(|(k, _)| k)
            .collect();
        let first = failed
            .iter()
            .find(|k| k.as_str() != "liveness")
            .or(failed.first())?;
        Some(Failure::Check((*first).clone()))
    }

    /// For file names: the check, or "crash".
    pub fn name(&self) -> &str {
        match self {
            Failure::Check(c) => c,
            Failure::Crashed(_) => "crash",
        }
    }

    fn reproduced_by(&self, r: &Result<RunReport, RunError>) -> bool {
        match (self, r) {
            (Failure::Crashed(kind), Err(e)) => crash_kind(e) == *kind,
            (Failure::Crashed(_), Ok(_)) => false,
            (Failure::Check(c), Ok(r)) => r.checks.get(c).is_some_and(|v| v.is_fail()),
            (Failure::Check(_), Err(_)) => false,
        }
    }
}

/// The result of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    pub failure: Failure,
    /// The last failing run's verdict on that check (its evidence).
    pub reason: String,
    pub faults_before: usize,
    pub clients_before: usize,
    pub servers_before: usize,
    /// Ops per client per second before.
    pub rate_before: f64,
    /// Answered client ops in the first failing run, and in the last.
    pub ops: (u64, u64),
    /// Candidates run.
    pub runs: usize,
}

/// Runs a candidate on a seed: `run_seed`, or a world's own run.
pub type RunFn<'a> = &'a dyn Fn(&Scenario, u64) -> Result<RunReport, RunError>;

struct Shrinker<'a> {
    run: RunFn<'a>,
    seed: u64,
    failure: Failure,
    best: Scenario,
    reason: String,
    runs: usize,
    budget: usize,
    /// Answered client ops of the last failing run.
    ops: u64,
}

impl Shrinker<'_> {
    /// Keep `cand` if it is valid and still fails the same way.
    fn try_keep(&mut self, cand: Scenario) -> bool {
        if self.runs >= self.budget || cand == self.best {
            return false;
        }
        let Ok(cand) = cand.reparsed() else {
            return false;
        };
        // Liveness is judged from the heal: a candidate that moves it would
        // fail (or pass) for another reason, e.g. no leader yet at the start.
        if self.failure == Failure::Check("liveness".into())
            && cand.heal_time() != self.best.heal_time()
        {
            return false;
        }
        self.runs += 1;
        let r = (self.run)(&cand, self.seed);
        if !self.failure.reproduced_by(&r) {
            return false;
        }
        match (&self.failure, &r) {
            (Failure::Check(c), Ok(r)) => {
                self.reason = r.checks[c].reason().unwrap_or_default().to_string();
                self.ops = r.ops_ok;
            }
            (_, Err(e)) => self.reason = e.to_string(),
            _ => {}
        }
        self.best = cand;
        true
    }

    /// Delta debugging over the fault list: remove chunks, halving the
    /// chunk size when no chunk can go.
    fn faults(&mut self) {
        let mut chunk = self.best.faults.len().div_ceil(2).max(1);
        while !self.best.faults.is_empty() && self.runs < self.budget {
            let mut removed = false;
            let mut start = 0;
            while start < self.best.faults.len() {
                let mut cand = self.best.clone();
                let end = (start + chunk).min(cand.faults.len());
                cand.faults.drain(start..end);
                if self.try_keep(cand) {
                    removed = true;
                } else {
                    start += chunk;
                }
            }
            if !removed {
                if chunk == 1 {
                    break;
                }
                chunk = chunk.div_ceil(2);
            }
        }
    }

    /// Milder faults: each fault's `until` brought halfway to its `at`, and
    /// each kind's own weaker versions (half the latency, loss or fsync
    /// time; a rule or fsync error that fires once).
    fn weaker(&mut self) {
        for i in 0..self.best.faults.len() {
            loop {
                let f = self.best.faults[i].clone();
                let mut cands: Vec<Scenario> = Vec::new();
                if let Some(u) = f.until {
                    let span = u.saturating_sub(f.at);
                    if span >= Duration::from_millis(200) {
                        let mut c = self.best.clone();
                        // Whole milliseconds, as a person would write it.
                        let half = Duration::from_millis((span / 2).as_millis() as u64);
                        c.faults[i].until = Some(f.at + half);
                        cands.push(c);
                    }
                }
                for action in f.action.fault().weaker() {
                    let mut c = self.best.clone();
                    c.faults[i].action = action;
                    cands.push(c);
                }
                if !cands.into_iter().any(|c| self.try_keep(c)) {
                    break;
                }
            }
        }
    }

    /// A lighter load: half the rate, down to one op per second.
    fn load(&mut self) {
        while self.best.workload.rate >= 2.0 {
            let mut cand = self.best.clone();
            cand.workload.rate = (self.best.workload.rate / 2.0).floor();
            if !self.try_keep(cand) {
                break;
            }
        }
    }

    /// Fewer clients (none referenced by a fault is dropped).
    fn clients(&mut self) {
        let needed = self
            .best
            .faults
            .iter()
            .filter_map(|f| match f.action {
                Action::ExpireSession(ExpireSession { client }) => Some(client + 1),
                _ => None,
            })
            .max()
            .unwrap_or(1);
        while self.best.workload.clients > needed {
            let mut cand = self.best.clone();
            cand.workload.clients -= 1;
            if !self.try_keep(cand) {
                break;
            }
        }
    }

    /// The shortest run that still judges liveness: the heal, the bound,
    /// and a second.
    fn duration(&mut self) {
        let heal = self.best.heal_time();
        let bound = self.best.check.liveness.unwrap_or_default();
        let shortest = heal + bound + Duration::from_secs(1);
        if shortest < self.best.duration {
            let mut cand = self.best.clone();
            cand.duration = shortest;
            self.try_keep(cand);
        }
    }

    /// A smaller ensemble, if no fault names a server beyond it.
    fn servers(&mut self) {
        let highest = self
            .best
            .faults
            .iter()
            .flat_map(|f| f.action.targets())
            .filter_map(|t| match t {
                Target::Node(s) => Some(s as usize),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        for n in [1, 3, 5, 7] {
            if n >= self.best.ensemble.servers || n < highest {
                continue;
            }
            let mut cand = self.best.clone();
            cand.ensemble.servers = n;
            if self.try_keep(cand) {
                return;
            }
        }
    }
}

/// Shrink `sc`, which failed on `seed` as `first` shows, re-running at most
/// `budget` candidates.
pub fn shrink(
    sc: &Scenario,
    seed: u64,
    first: &Result<RunReport, RunError>,
    budget: usize,
) -> Option<Shrunk> {
    shrink_with(sc, seed, first, budget, &run_seed)
}

/// `shrink`, running each candidate with `run`.
pub fn shrink_with(
    sc: &Scenario,
    seed: u64,
    first: &Result<RunReport, RunError>,
    budget: usize,
    run: RunFn,
) -> Option<Shrunk> {
    let failure = Failure::of(first)?;
    let reason = match (&failure, first) {
        (Failure::Check(c), Ok(r)) => r.checks[c].reason().unwrap_or_default().to_string(),
        (_, Err(e)) => e.to_string(),
        (Failure::Crashed(_), Ok(_)) => String::new(),
    };
    let ops_before = first.as_ref().map_or(0, |r| r.ops_ok);
    let mut s = Shrinker {
        run,
        seed,
        failure,
        best: sc.clone(),
        reason,
        runs: 0,
        budget,
        ops: ops_before,
    };
    // Concrete nodes first: only then can faults go without changing whom
    // the rest hit. If that alone loses the failure (the run's timing
    // shifts), remove faults from the role-based file all the same: a
    // candidate is kept only if it still fails, so this is sound, just less
    // often fruitful. Not when faults name earlier faults (`fault[N]`):
    // removing one would change what the others mean.
    // A crashed run resolved nothing that was reported: its roles stay.
    let concrete = first.as_ref().ok().map(|r| sc.resolved(&r.resolved));
    let removable = concrete.is_some_and(|c| s.try_keep(c)) || !names_faults(sc);
    // Round after round while one changes something: a fault made milder,
    // or a smaller cluster, can let another go.
    loop {
        let before = s.best.clone();
        if removable {
            s.faults();
        }
        s.clients();
        s.duration();
        s.servers();
        s.weaker();
        s.load();
        if s.best == before || s.runs >= s.budget {
            break;
        }
    }
    Some(Shrunk {
        failure: s.failure,
        reason: s.reason,
        faults_before: sc.faults.len(),
        clients_before: sc.workload.clients,
        rate_before: sc.workload.rate,
        ops: (ops_before, s.ops),
        servers_before: sc.ensemble.servers,
        runs: s.runs,
        scenario: s.best,
    })
}

fn names_faults(sc: &Scenario) -> bool {
    sc.faults
        .iter()
        .flat_map(|f| f.action.targets())
        .any(|t| matches!(t, Target::Fault { .. }))
}

/// The shrunk scenario as a commented file: what fails, how it was shrunk,
/// and the command that replays it.
pub fn render(s: &Shrunk, seed: u64, file: &str) -> String {
    let replay = format!("zkstorm run {file} --seed {seed}");
    render_as(s, seed, "Found by `zkstorm fuzz`", &replay)
}

/// `render`, saying where the failure came from and how to replay it.
pub fn render_as(s: &Shrunk, seed: u64, origin: &str, replay: &str) -> String {
    let sc = &s.scenario;
    let mut out = String::new();
    out.push_str(&format!(
        "# {origin} (seed {seed}) and shrunk in {} runs:\n",
        s.runs
    ));
    out.push_str(&format!(
        "#   faults {} -> {}, clients {} -> {}, servers {} -> {}, rate {} -> {} ops/s per client, \
         answered ops {} -> {}\n",
        s.faults_before,
        sc.faults.len(),
        s.clients_before,
        sc.workload.clients,
        s.servers_before,
        sc.ensemble.servers,
        s.rate_before,
        sc.workload.rate,
        s.ops.0,
        s.ops.1
    ));
    match &s.failure {
        Failure::Check(c) => out.push_str(&format!("# Fails {c}: {}\n", one_line(&s.reason))),
        Failure::Crashed(_) => out.push_str(&format!(
            "# The run crashes (a panic) or hangs: {}\n",
            one_line(&s.reason)
        )),
    }
    out.push_str(&format!("# Replay: {replay}\n\n"));
    out.push_str(&sc.to_toml());
    out
}

fn one_line(s: &str) -> String {
    let line: String = s.chars().take(300).collect();
    line.replace('\n', " ")
}

/// `zkstorm shrink FILE --seed N`: shrink a scenario file that fails on a
/// seed, whoever wrote it, into `out` (default: beside it, as
/// `<name>.shrunk-seed-<N>.toml`). The exit code is the run's, as `run`'s:
/// the shrunk file fails the same way; a passing seed has nothing to shrink.
pub fn shrink_file(
    path: &std::path::Path,
    seed: u64,
    out: Option<&std::path::Path>,
    runs: usize,
) -> u8 {
    use crate::cli::{Exit, EXIT_BAD_INPUT, EXIT_CRASHED};
    let mut sc = match Scenario::load(path) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let first = run_seed(&sc, seed);
    let exit = first.as_ref().map_or(EXIT_CRASHED, |r| Exit::of(r).code());
    let Some(shrunk) = shrink(&sc, seed, &first, runs) else {
        println!(
            "{}: seed {seed} fails no check: nothing to shrink",
            path.display()
        );
        return exit;
    };
    let stem = path
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy());
    let target = out.map_or_else(
        || path.with_file_name(format!("{stem}.shrunk-seed-{seed}.toml")),
        |o| o.to_path_buf(),
    );
    sc.file = target.display().to_string();
    let origin = format!("Failing `{}`", path.display());
    let replay = format!("zkstorm run {} --seed {seed}", sc.file);
    let text = render_as(&shrunk, seed, &origin, &replay);
    if let Err(e) = std::fs::write(&target, text) {
        eprintln!("error: {}: {e}", target.display());
        return EXIT_BAD_INPUT;
    }
    let s = &shrunk.scenario;
    println!(
        "{}: {} shrunk in {} runs: faults {} -> {}, clients {} -> {}, servers {} -> {}\n\
         wrote {}\nreplay: zkstorm run {} --seed {seed}",
        path.display(),
        shrunk.failure.name(),
        shrunk.runs,
        shrunk.faults_before,
        s.faults.len(),
        shrunk.clients_before,
        s.workload.clients,
        shrunk.servers_before,
        s.ensemble.servers,
        target.display(),
        target.display()
    );
    exit
}
