//! The `zkstorm` commands. Exit codes (see [`Exit`]): 0 every check held,
//! 1 a safety check failed (or a seed was not deterministic), 2 bad input
//! (scenario file, arguments), 3 only liveness failed, 4 the run crashed (a
//! panic) or hung, 5 nothing failed but a check could not decide.

use crate::check::Verdict;
use crate::history::History;
use crate::runner::{on_threads, RunError};
use crate::scenario::{self, RunReport, Scenario};
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Instant;

pub const EXIT_PASS: u8 = 0;
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_LIVENESS: u8 = 3;
pub const EXIT_CRASHED: u8 = 4;
pub const EXIT_UNDECIDED: u8 = 5;

/// What a run came to, least severe first: several seeds exit with the most
/// severe of theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Pass,
    /// Nothing failed, but some check had too little to judge.
    Inconclusive,
    Undecided,
    Liveness,
    Crashed,
    Safety,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => EXIT_PASS,
            Exit::Inconclusive | Exit::Undecided => EXIT_UNDECIDED,
            Exit::Liveness => EXIT_LIVENESS,
            Exit::Crashed => EXIT_CRASHED,
            Exit::Safety => EXIT_FAIL,
        }
    }

    /// A run's checks: any failure but liveness is a safety failure.
    pub fn of(r: &RunReport) -> Exit {
        let failed = |live: bool| {
            r.checks
                .iter()
                .any(|(k, v)| v.is_fail() && (k == "liveness") == live)
        };
        if failed(false) {
            Exit::Safety
        } else if failed(true) {
            Exit::Liveness
        } else if r
            .checks
            .values()
            .any(|v| matches!(v, Verdict::Undecided(_)))
        {
            Exit::Undecided
        } else if r.checks.values().any(|v| !v.is_pass()) {
            Exit::Inconclusive
        } else {
            Exit::Pass
        }
    }

    fn label(self) -> &'static str {
        match self {
            Exit::Pass => "PASS",
            Exit::Inconclusive => "INCONCLUSIVE",
            Exit::Undecided => "UNDECIDED",
            Exit::Liveness => "FAIL (liveness only)",
            Exit::Crashed => "CRASHED",
            Exit::Safety => "FAIL",
        }
    }
}

/// Most seeds run at once (`--jobs`): each is an OS thread with a runtime.
pub const MAX_JOBS: usize = 256;

/// Longest `bench --secs` per scenario.
pub const MAX_BENCH_SECS: f64 = 3600.0;

/// `--jobs`: 1..=[`MAX_JOBS`] (0 used to mean 1, and any number started that
/// many threads).
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!("expected 1..={MAX_JOBS} seeds run at once")),
    }
}

/// `bench --secs`: a finite number of seconds, more than 0, at most
/// [`MAX_BENCH_SECS`] (`inf` used to bench forever).
pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= MAX_BENCH_SECS => Ok(x),
        _ => Err(format!(
            "expected wall seconds per scenario, more than 0 and at most {MAX_BENCH_SECS}"
        )),
    }
}

fn load(path: &Path) -> Result<Scenario, u8> {
    Scenario::load(path).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })
}

struct Outcome {
    report: RunReport,
    wall_secs: f64,
}

/// One seed; a panic or a run past [`WALL_LIMIT`] of wall time is an error.
fn run_one(sc: &Scenario, seed: u64) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let report = scenario::run_seed(sc, seed)?;
    Ok(Outcome {
        report,
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

fn replay_command(path: &Path, seed: u64) -> String {
    scenario::replay_command(&path.display().to_string(), seed)
}

fn print_report(path: &Path, seed: u64, o: &Outcome) {
    let r = &o.report;
    println!("scenario {} ({})  seed {seed}", r.name, path.display());
    for (name, verdict) in &r.checks {
        match verdict {
            Verdict::Pass => println!("  {name:<28} pass"),
            Verdict::Fail(why) => println!("  {name:<28} FAIL: {why}"),
            Verdict::Undecided(why) => println!("  {name:<28} UNDECIDED: {why}"),
            Verdict::Inconclusive(why) => println!("  {name:<28} INCONCLUSIVE: {why}"),
        }
    }
    println!(
        "sim {:.1} s  wall {:.3} s  events {}  ops ok {}  txns {}  trace hash {:016x}",
        r.sim_secs, o.wall_secs, r.events, r.ops_ok, r.txns_committed, r.trace_hash
    );
}

fn json_line(path: &Path, seed: u64, o: &Outcome) -> String {
    json_value(path, seed, o).to_string()
}

fn json_value(path: &Path, seed: u64, o: &Outcome) -> serde_json::Value {
    let r = &o.report;
    let checks: serde_json::Map<String, serde_json::Value> = r
        .checks
        .iter()
        .map(|(k, v)| {
            let verdict = match v.reason() {
                None => v.label().to_string(),
                Some(why) => format!("{}: {why}", v.label()),
            };
            (k.clone(), serde_json::Value::String(verdict))
        })
        .collect();
    serde_json::json!({
        "scenario": path.display().to_string(),
        "seed": seed,
        "verdict": r.verdict().label(),
        "exit": Exit::of(r).code(),
        // Fault index → the node groups its targets resolved to.
        "resolved": r
            .resolved
            .iter()
            .map(|(i, g)| (i.to_string(), serde_json::json!(g)))
            .collect::<serde_json::Map<_, _>>(),
        "checks": checks,
        "sim_secs": r.sim_secs,
        "wall_secs": o.wall_secs,
        "events": r.events,
        "ops_ok": r.ops_ok,
        "txns_committed": r.txns_committed,
        "trace_hash": format!("{:016x}", r.trace_hash),
    })
}

/// `zkstorm run`: one seed, or every seed of `seeds` on `jobs` threads
/// (1..=[`MAX_JOBS`], see [`parse_jobs`]); `determinism` runs each seed twice.
pub fn run(
    path: &Path,
    seed: Option<u64>,
    seeds: Option<RangeInclusive<u64>>,
    jobs: usize,
    json: bool,
    determinism: bool,
) -> u8 {
    let sc = match load(path) {
        Ok(sc) => sc,
        Err(code) => return code,
    };
    if let Some(range) = seeds {
        let opts = Many {
            jobs,
            json,
            determinism,
        };
        return run_many(path, &sc, range, &opts);
    }
    let seed = seed.unwrap_or(0);
    let first = match run_one(&sc, seed) {
        Ok(o) => o,
        Err(e) => {
            println!("seed {seed}: the simulation {e}");
            println!("replay: {}", replay_command(path, seed));
            println!("{}", Exit::Crashed.label());
            return EXIT_CRASHED;
        }
    };
    print_report(path, seed, &first);
    let mut exit = Exit::of(&first.report);
    if determinism {
        let (same, says) = same_again(&sc, seed, first.report.trace_hash);
        println!("determinism: {says}");
        if !same {
            exit = Exit::Safety;
        }
    }
    if exit != Exit::Pass {
        println!("replay: {}", replay_command(path, seed));
    }
    println!("{}", exit.label());
    if json {
        println!("{}", json_line(path, seed, &first));
    }
    exit.code()
}

struct Many {
    jobs: usize,
    json: bool,
    determinism: bool,
}

fn run_many(path: &Path, sc: &Scenario, range: RangeInclusive<u64>, opts: &Many) -> u8 {
    // Counted in u128: 0..=u64::MAX has 2^64 seeds.
    let total = u128::from(range.end() - range.start()) + 1;
    // RangeInclusive hands out its last seed too, even u64::MAX.
    let results = on_threads(range, threads(opts.jobs, total), |seed| {
        let (line, exit) = seed_line(path, sc, seed, opts);
        println!("{line}");
        let _ = std::io::stdout().flush();
        exit
    });
    let count = |e: Exit| results.iter().filter(|(_, x)| *x == e).count();
    let mut summary = format!("{} of {total} seeds passed", count(Exit::Pass));
    for (e, what) in [
        (Exit::Safety, "failed"),
        (Exit::Liveness, "failed liveness only"),
        (Exit::Crashed, "crashed or hung"),
        (Exit::Undecided, "undecided"),
        (Exit::Inconclusive, "inconclusive"),
    ] {
        if count(e) > 0 {
            summary.push_str(&format!(", {} {what}", count(e)));
        }
    }
    println!("{summary}");
    for (seed, _) in results.iter().filter(|(_, x)| *x != Exit::Pass) {
        println!("replay: {}", replay_command(path, *seed));
    }
    // A seed that did not run is never a pass.
    if (results.len() as u128) < total {
        return EXIT_FAIL;
    }
    results
        .iter()
        .map(|(_, x)| *x)
        .max()
        .unwrap_or(Exit::Pass)
        .code()
}

/// Threads for `total` seeds: no more than there are seeds (2^64 seeds
/// must not wrap to none).
pub(crate) fn threads(jobs: usize, total: u128) -> usize {
    let seeds = usize::try_from(total).unwrap_or(usize::MAX);
    jobs.clamp(1, MAX_JOBS).min(seeds)
}

/// One seed of a range: its summary line and what it came to (with
/// `determinism`, a different trace hash on a second run fails it).
fn seed_line(path: &Path, sc: &Scenario, seed: u64, opts: &Many) -> (String, Exit) {
    let o = match run_one(sc, seed) {
        Ok(o) => o,
        Err(e) => return (format!("seed {seed:>6}  CRASHED  {e}"), Exit::Crashed),
    };
    let mut exit = Exit::of(&o.report);
    let again = opts
        .determinism
        .then(|| same_again(sc, seed, o.report.trace_hash));
    if let Some((false, _)) = &again {
        exit = Exit::Safety;
    }
    let line = match (opts.json, again) {
        (true, again) => {
            let mut v = json_value(path, seed, &o);
            if let Some((_, says)) = again {
                v["determinism"] = says.into();
            }
            v.to_string()
        }
        (false, Some((_, says))) => format!("{}  determinism: {says}", summary(seed, &o)),
        (false, None) => summary(seed, &o),
    };
    (line, exit)
}

fn summary(seed: u64, o: &Outcome) -> String {
    let named = |label: &str| -> Vec<&str> {
        o.report
            .checks
            .iter()
            .filter(|(_, v)| v.label() == label)
            .map(|(k, _)| k.as_str())
            .collect()
    };
    let mut tail = String::new();
    for (label, checks) in [
        ("failed", named("fail")),
        ("undecided", named("undecided")),
        ("inconclusive", named("inconclusive")),
    ] {
        if !checks.is_empty() {
            tail.push_str(&format!("  {label}: {}", checks.join(", ")));
        }
    }
    let exit = Exit::of(&o.report);
    format!(
        "seed {seed:>6}  {}  sim {:.1}s  wall {:.3}s  ops {}  hash {:016x}{tail}",
        if exit == Exit::Pass {
            "pass"
        } else {
            exit.label()
        },
        o.report.sim_secs,
        o.wall_secs,
        o.report.ops_ok,
        o.report.trace_hash,
    )
}

/// Runs `seed` again: whether the trace hash is `hash` again, and what to say.
fn same_again(sc: &Scenario, seed: u64, hash: u64) -> (bool, String) {
    match run_one(sc, seed) {
        Ok(o) if o.report.trace_hash == hash => (true, "same trace hash twice".into()),
        Ok(o) => (
            false,
            format!(
                "FAIL: trace hash {hash:016x} then {:016x}",
                o.report.trace_hash
            ),
        ),
        Err(e) => (false, format!("FAIL: the second run {e}")),
    }
}

pub fn replay(path: &Path, seed: u64, trace: Option<&Path>, html: Option<&Path>) -> u8 {
    let sc = match load(path) {
        Ok(sc) => sc,
        Err(code) => return code,
    };
    init_logging();
    let outcome = match run_one(&sc, seed) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("the simulation {e}");
            return EXIT_CRASHED;
        }
    };
    if let Some(trace) = trace {
        if let Err(e) = write_trace(&outcome.report.history, trace) {
            eprintln!("error: writing {}: {e}", trace.display());
            return EXIT_BAD_INPUT;
        }
    }
    if let Some(html) = html {
        let replay = crate::scenario::replay_command(&path.display().to_string(), seed);
        let page = crate::html::page(&sc, &outcome.report, seed, &replay);
        if let Err(e) = std::fs::write(html, page) {
            eprintln!("error: writing {}: {e}", html.display());
            return EXIT_BAD_INPUT;
        }
    }
    print_report(path, seed, &outcome);
    if let Some(trace) = trace {
        println!(
            "trace: {} ({} events)",
            trace.display(),
            outcome.report.events
        );
    }
    if let Some(html) = html {
        println!("page: {}", html.display());
    }
    Exit::of(&outcome.report).code()
}

fn write_trace(history: &History, path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for rec in history.records() {
        serde_json::to_writer(&mut out, &rec)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// `RUST_LOG`-filtered logs; inside the simulation the clock is simulated, so
/// the timestamps are simulated time.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

fn list_scenarios(dir: &Path) -> std::io::Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "toml"));
    files.sort();
    println!("scenarios:");
    for f in files {
        match Scenario::load(&f) {
            Ok(sc) => println!("  {:<40} {}", f.display(), sc.about),
            Err(e) => println!("  {:<40} (invalid: {e})", f.display()),
        }
    }
    Ok(())
}

/// `zkstorm list`: the scenarios in `dir` (default `scenarios`, skipped
/// when there is no such folder here), then what every build knows.
pub fn list(dir: Option<&Path>) -> u8 {
    let default = Path::new("scenarios");
    match dir {
        Some(d) => {
            if let Err(e) = list_scenarios(d) {
                eprintln!("error: {}: {e}", d.display());
                return EXIT_BAD_INPUT;
            }
        }
        None if default.is_dir() => {
            let _ = list_scenarios(default);
        }
        None => {}
    }
    println!("faults (one action per [[fault]]; * = undone by until):");
    for k in crate::scenario::KINDS {
        let lasts = if matches!(k.lasts, crate::scenario::Lasts::Instant(_)) {
            " "
        } else {
            "*"
        };
        println!("  {:<15}{lasts} {:<34} {}", k.key, k.value, k.about);
    }
    println!("checkers:");
    for c in crate::check::CHECKS {
        println!("  {:<28} {}", c.name, c.about);
    }
    println!("injectable bugs (zkstorm fuzz --bug NAME, or bugs = [...] in a scenario):");
    for b in zkstorm::bugs::Bug::ALL {
        println!("  {:<28} {}", b.name(), b.about());
    }
    EXIT_PASS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(checks: &[(&str, Verdict)]) -> RunReport {
        RunReport {
            name: "t".into(),
            seed: 0,
            checks: checks
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            sim_secs: 0.0,
            events: 0,
            ops_ok: 0,
            ops_failed: 0,
            txns_committed: 0,
            trace_hash: 0,
            healed_at: Duration::ZERO,
            faults_applied: 0,
            faults_skipped: 0,
            resolved: Default::default(),
            history: History::new(),
            healed_at_ms: 0,
            storm_spec: Default::default(),
            users_hung: Vec::new(),
        }
    }

    #[test]
    fn exit_codes_say_what_happened() {
        let fail = || Verdict::Fail("x".into());
        let open = || Verdict::Undecided("x".into());
        let of = |c: &[(&str, Verdict)]| Exit::of(&report(c)).code();
        assert_eq!(of(&[("zab.agreement", Verdict::Pass)]), 0);
        assert_eq!(of(&[("zab.agreement", fail()), ("liveness", fail())]), 1);
        assert_eq!(of(&[("converged", fail())]), 1);
        assert_eq!(
            of(&[("liveness", fail()), ("client.linearizable", open())]),
            3
        );
        assert_eq!(of(&[("client.linearizable", open())]), 5);
        // Several seeds: the most severe.
        let worst = [
            Exit::Pass,
            Exit::Undecided,
            Exit::Liveness,
            Exit::Crashed,
            Exit::Safety,
        ];
        for (i, e) in worst.iter().enumerate() {
            assert_eq!(worst[..=i].iter().max(), Some(e));
        }
        assert_eq!(Exit::Crashed.code(), 4);
    }

    #[test]
    fn jobs_within_limits() {
        assert_eq!(parse_jobs("1"), Ok(1));
        assert_eq!(parse_jobs("256"), Ok(MAX_JOBS));
        for bad in ["0", "257", "100000", "-1", "", "x", "1.5"] {
            let e = parse_jobs(bad).unwrap_err();
            assert!(e.contains("1..=256"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn threads_for_a_range() {
        assert_eq!(threads(4, 2), 2);
        assert_eq!(threads(4, 1), 1);
        assert_eq!(threads(4, 1 << 64), 4);
        assert_eq!(threads(0, 10), 1);
    }

    #[test]
    fn bench_seconds_finite_and_positive() {
        assert_eq!(parse_secs("5"), Ok(5.0));
        assert_eq!(parse_secs("0.5"), Ok(0.5));
        assert_eq!(parse_secs("3600"), Ok(MAX_BENCH_SECS));
        for bad in [
            "inf", "-inf", "nan", "0", "-0", "-1", "1e400", "3600.5", "", "x",
        ] {
            let e = parse_secs(bad).unwrap_err();
            assert!(e.contains("more than 0"), "{bad:?}: {e}");
        }
    }
}
