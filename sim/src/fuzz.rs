//! `zkstorm fuzz`: every seed runs its own random scenario (a timing
//! profile and a fault schedule, `generate::random`); every failure is shrunk to
//! a small scenario file that `zkstorm run` replays with the same seed.

use crate::cli::{threads, Exit, EXIT_BAD_INPUT};
use crate::coverage;
use crate::generate;
use crate::runner::on_threads;
use crate::scenario::Scenario;
use crate::scenario::{check_determinism, run_seed_for};
use crate::shrink::{self, Failure};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct FuzzOptions {
    /// Seeds: `A..B` (B excluded), `A..=B`, or one seed `N`.
    #[arg(long, default_value = "0..100", allow_hyphen_values = true, value_parser = crate::runner::parse_seeds)]
    pub seeds: RangeInclusive<u64>,
    /// Seeds run in parallel (1..=256).
    #[arg(long, default_value = "1", allow_hyphen_values = true, value_parser = crate::cli::parse_jobs)]
    pub jobs: usize,
    /// Where shrunk failures are written, as `<check>-seed-<N>.toml`.
    #[arg(long, default_value = "failures")]
    pub out: PathBuf,
    /// Write one JSON line per seed to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Most runs spent shrinking one failure.
    #[arg(long, default_value = "200")]
    pub shrink_runs: usize,
    /// Require progress this soon after the heal (e.g. `500ms`) instead of
    /// each scenario's own bound (for runs with clients): hunts for slow
    /// recoveries.
    #[arg(long, value_parser = crate::scenario::parse_duration)]
    pub liveness: Option<Duration>,
    /// Run only this machine's share of the seeds: `K/N` (1-based), every
    /// seed whose offset from the first is K-1 modulo N.
    #[arg(long, default_value = "1/1", value_parser = parse_shard)]
    pub shard: (u64, u64),
    /// Percent of seeds checked for determinism (0..=100): run twice more
    /// under madsim's `Runtime::check_determinism` (the same random draws
    /// in the same order) and compared by trace hash.
    #[arg(long, default_value = "5", value_parser = clap::value_parser!(u64).range(0..=100))]
    pub recheck: u64,
    /// Inject this bug from the catalogue (`zkstorm list`) into every run.
    #[arg(long = "bug", value_parser = parse_bug)]
    pub bugs: Vec<String>,
    /// Keep the seeds that reach coverage cells no earlier seed reached, and
    /// run mutations of them for half the seeds (see `coverage`). The
    /// scenario a seed runs then depends on what ran before it: failures
    /// are replayed from their files, as always.
    #[arg(long)]
    pub guided: bool,
    #[command(flatten)]
    pub intensity: generate::Intensity,
    /// Wall-clock time one seed may take (e.g. `2m`) before it counts as
    /// hung (exit 4); a seed normally takes well under a second.
    #[arg(long, default_value = "10m", value_parser = parse_time_limit)]
    pub time_limit: Duration,
    /// Report failures without shrinking or writing them (`zkstorm
    /// mutants` searches this way, then shrinks the first failure alone).
    #[arg(skip)]
    pub report_only: bool,
}

/// `--time-limit`: a duration of at least a second.
fn parse_time_limit(s: &str) -> Result<Duration, String> {
    let d = crate::scenario::parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err("at least 1s: a seed takes milliseconds to seconds".into());
    }
    Ok(d)
}

/// `--bug NAME`: a name from the catalogue.
pub fn parse_bug(s: &str) -> Result<String, String> {
    match s.parse::<zkstorm::bugs::Bug>() {
        Ok(b) => Ok(b.name().to_string()),
        Err(_) => Err(format!(
            "unknown bug; the catalogue has: {}",
            zkstorm::bugs::names().join(", ")
        )),
    }
}

/// `--shard K/N`: 1 <= K <= N.
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let expected = "expected K/N with 1 <= K <= N (this machine's share of the seeds)";
    let (k, n) = s.split_once('/').ok_or(expected)?;
    let (k, n): (u64, u64) = (
        k.parse().map_err(|_| expected)?,
        n.parse().map_err(|_| expected)?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(expected.into());
    }
    Ok((k, n))
}

/// Is `seed` in shard `(k, n)` of a range starting at `first`?
pub fn in_shard(seed: u64, first: u64, (k, n): (u64, u64)) -> bool {
    (seed - first) % n == k - 1
}

/// Is `seed` one of the `percent` rechecked for determinism? A fixed pick,
/// so a campaign rechecks the same seeds every time.
fn rechecked(seed: u64, percent: u64) -> bool {
    let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    x % 100 < percent
}

/// What one seed came to.
pub(crate) struct SeedResult {
    pub seed: u64,
    pub exit: Exit,
    pub failure: Option<String>,
    pub file: Option<PathBuf>,
    pub faults: (usize, usize),
    pub line: String,
    /// The coverage cells the run reached.
    pub cells: BTreeSet<String>,
    /// The largest value of each coverage measure (`coverage::MEASURES`).
    pub measures: BTreeMap<&'static str, u64>,
    /// The seed whose scenario this one mutated (`--guided`).
    pub parent: Option<u64>,
}

/// The seeds of a guided campaign that reached new cells or came closer to
/// an unreached one, and every cell reached so far.
struct Corpus {
    inner: Mutex<Kept>,
    intensity: generate::Intensity,
}

/// The kept (seed, scenario) pairs, the union of their cells, and the
/// largest value of each measure so far.
type Kept = (
    Vec<(u64, Scenario)>,
    BTreeSet<String>,
    BTreeMap<&'static str, u64>,
);

impl Corpus {
    /// Seed `seed`'s scenario: for half the seeds a mutation of a kept one,
    /// else a fresh storm.
    fn pick(&self, seed: u64) -> (Scenario, Option<u64>) {
        let mix = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let kept = self.inner.lock().expect("corpus").0.clone();
        if !kept.is_empty() && mix >> 63 == 1 {
            let (parent, sc) = &kept[(mix >> 32) as usize % kept.len()];
            if let Some(m) = generate::mutate(sc, seed) {
                return (m, Some(*parent));
            }
        }
        (generate::random_scenario_with(seed, &self.intensity), None)
    }

    /// Keep `sc` if it reached a cell no earlier seed did, or came closer
    /// than any to a measured cell none has reached (a larger epoch gap
    /// while `epoch_gap:2+` is unreached, ...).
    fn offer(&self, seed: u64, sc: &Scenario, reach: &coverage::Reach) {
        let mut inner = self.inner.lock().expect("corpus");
        let (_, seen, best) = &mut *inner;
        let new_cell = !reach.cells.is_subset(seen);
        let mut closer = false;
        for (name, cell, _) in coverage::MEASURES {
            let v = reach.measures.get(name).copied().unwrap_or(0);
            let b = best.entry(name).or_default();
            if v > *b {
                closer |= !seen.contains(*cell);
                *b = v;
            }
        }
        if new_cell || closer {
            seen.extend(reach.cells.iter().cloned());
            inner.0.push((seed, sc.clone()));
        }
    }
}

/// Run one seed's fresh storm; shrink and write it out if it fails.
pub(crate) fn one(seed: u64, opts: &FuzzOptions) -> SeedResult {
    run_scenario(
        seed,
        generate::random_scenario_with(seed, &opts.intensity),
        None,
        opts,
    )
}

/// Run `sc` on `seed`; shrink and write it out if it fails.
fn run_scenario(
    seed: u64,
    mut sc: Scenario,
    parent: Option<u64>,
    opts: &FuzzOptions,
) -> SeedResult {
    sc.name = format!("fuzz-{seed}");
    sc.bugs = opts.bugs.clone();
    if let (Some(bound), Some(_)) = (opts.liveness, sc.check.liveness) {
        sc.check.liveness = Some(bound);
    }
    let r = run_seed_for(&sc, seed, opts.time_limit);
    let exit = match &r {
        Ok(report) => Exit::of(report),
        Err(_) => Exit::Crashed,
    };
    let coverage::Reach { cells, measures } = match &r {
        Ok(report) => report.history.with_records(|r| coverage::reach(&sc, r)),
        Err(_) => coverage::Reach::default(),
    };
    let from = parent
        .map(|p| format!("  (mutant of {p})"))
        .unwrap_or_default();
    if let (true, Ok(first)) = (rechecked(seed, opts.recheck), &r) {
        // Twice more under madsim's own check, then the trace hash.
        let again = check_determinism(&sc, seed);
        if again != Ok(first.trace_hash) {
            return SeedResult {
                seed,
                exit: Exit::Safety,
                failure: Some("determinism".into()),
                file: None,
                faults: (sc.faults.len(), sc.faults.len()),
                line: format!(
                    "seed {seed:>6}  FAIL  determinism: trace hash {:016x}, then {again:x?}",
                    first.trace_hash
                ),
                cells,
                measures,
                parent,
            };
        }
    }
    let mut out = SeedResult {
        seed,
        exit,
        failure: None,
        file: None,
        faults: (sc.faults.len(), sc.faults.len()),
        line: format!("seed {seed:>6}  pass  faults {}{from}", sc.faults.len()),
        cells,
        measures,
        parent,
    };
    let Some(failure) = Failure::of(&r) else {
        return out;
    };
    if opts.report_only {
        out.failure = Some(failure.name().to_string());
        return out;
    }
    let path = opts
        .out
        .join(format!("{}-seed-{seed}.toml", failure.name()));
    sc.file = path.display().to_string();
    let text = match shrink::shrink(&sc, seed, &r, opts.shrink_runs) {
        Some(s) => {
            out.faults.1 = s.scenario.faults.len();
            shrink::render(&s, seed, &sc.file)
        }
        None => sc.to_toml(),
    };
    let written = std::fs::create_dir_all(&opts.out).and_then(|_| std::fs::write(&path, text));
    out.line = match written {
        Ok(()) => format!(
            "seed {seed:>6}  {}  {}  faults {} -> {}  {}{from}",
            exit_word(exit),
            failure.name(),
            out.faults.0,
            out.faults.1,
            path.display()
        ),
        Err(e) => format!(
            "seed {seed:>6}  {}  {}  (cannot write {}: {e})",
            exit_word(exit),
            failure.name(),
            path.display()
        ),
    };
    out.failure = Some(failure.name().to_string());
    out.file = Some(path);
    out
}

fn exit_word(e: Exit) -> &'static str {
    match e {
        Exit::Pass => "pass",
        Exit::Inconclusive => "INCONCLUSIVE",
        Exit::Undecided => "UNDECIDED",
        Exit::Liveness => "FAIL liveness",
        Exit::Crashed => "CRASHED",
        Exit::Safety => "FAIL",
    }
}

fn json_line(r: &SeedResult) -> String {
    serde_json::json!({
        "seed": r.seed,
        "exit": r.exit.code(),
        "failure": r.failure,
        "file": r.file.as_ref().map(|p| p.display().to_string()),
        "faults": r.faults.0,
        "faults_shrunk": r.faults.1,
        "cells": r.cells.len(),
        "parent": r.parent,
    })
    .to_string()
}

/// `zkstorm fuzz`: exits with the most severe seed's code.
pub fn fuzz(opts: &FuzzOptions) -> u8 {
    let mut json = match &opts.json {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: --json {}: {e}", p.display());
                return EXIT_BAD_INPUT;
            }
        },
        None => None,
    };
    let started = Instant::now();
    let first = *opts.seeds.start();
    let total = (u128::from(opts.seeds.end() - first) + 1 + u128::from(opts.shard.1)
        - u128::from(opts.shard.0))
        / u128::from(opts.shard.1);
    let bar = progress(total);
    let failed = AtomicUsize::new(0);
    let mine = opts
        .seeds
        .clone()
        .filter(|s| in_shard(*s, first, opts.shard));
    let corpus = Corpus {
        inner: Mutex::default(),
        intensity: opts.intensity.clone(),
    };
    let results = on_threads(mine, threads(opts.jobs, total), |seed| {
        let r = if opts.guided {
            let (sc, parent) = corpus.pick(seed);
            let r = run_scenario(seed, sc.clone(), parent, opts);
            let reach = coverage::Reach {
                cells: r.cells.clone(),
                measures: r.measures.clone(),
            };
            corpus.offer(seed, &sc, &reach);
            r
        } else {
            one(seed, opts)
        };
        // Above the bar on a terminal; plain lines otherwise.
        if bar.is_hidden() {
            println!("{}", r.line);
            let _ = std::io::stdout().flush();
        } else {
            bar.println(&r.line);
        }
        if r.exit != Exit::Pass {
            failed.fetch_add(1, Ordering::Relaxed);
        }
        bar.set_message(format!("{} failed", failed.load(Ordering::Relaxed)));
        bar.inc(1);
        r
    });
    bar.finish_and_clear();
    let results: Vec<SeedResult> = results.into_iter().map(|(_, r)| r).collect();
    if let Some(out) = json.as_mut() {
        for r in &results {
            let _ = writeln!(out, "{}", json_line(r));
        }
        let _ = out.flush();
    }
    let topology = opts.intensity.topology;
    summary(&results, total, started.elapsed(), &opts.out, topology);
    if (results.len() as u128) < total {
        return crate::cli::EXIT_FAIL;
    }
    results
        .iter()
        .map(|r| r.exit)
        .max()
        .unwrap_or(Exit::Pass)
        .code()
}

/// Seeds done, failures, seeds/s and time left, on stderr when it is a
/// terminal (hidden otherwise).
fn progress(total: u128) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} seeds  {msg}  {per_sec}  ETA {eta}",
    )
    .expect("a valid template");
    bar.set_style(style);
    bar
}

fn summary(results: &[SeedResult], total: u128, took: Duration, out: &Path, topology: bool) {
    let passed = results.iter().filter(|r| r.exit == Exit::Pass).count();
    let mut by_check: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in results {
        if let Some(f) = &r.failure {
            *by_check.entry(f.as_str()).or_default() += 1;
        }
    }
    let mut line = format!("{passed} of {total} seeds passed");
    for e in [Exit::Undecided, Exit::Inconclusive] {
        let n = results.iter().filter(|r| r.exit == e).count();
        if n > 0 {
            line.push_str(&format!(", {n} {}", exit_word(e).to_lowercase()));
        }
    }
    println!(
        "{line} ({:.1} seeds/s)",
        results.len() as f64 / took.as_secs_f64().max(1e-9)
    );
    for (check, n) in &by_check {
        println!("  {check}: {n} failed");
    }
    if !by_check.is_empty() {
        println!("shrunk failures are in {}", out.display());
    }
    coverage_summary(results, topology);
}

/// Cells reached (by how many seeds), and the ones never reached.
fn coverage_summary(results: &[SeedResult], topology: bool) {
    let universe = coverage::universe_for(topology);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        for c in &r.cells {
            *seen.entry(c.as_str()).or_default() += 1;
        }
    }
    let reached = universe
        .iter()
        .filter(|c| seen.contains_key(c.as_str()))
        .count();
    println!("coverage: {reached} of {} cells reached", universe.len());
    let rare: Vec<String> = seen
        .iter()
        .filter(|(_, n)| **n <= 2)
        .map(|(c, n)| format!("{c} ({n})"))
        .collect();
    if !rare.is_empty() {
        println!("  reached by at most 2 seeds: {}", rare.join(", "));
    }
    let never: Vec<&str> = universe
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !seen.contains_key(c))
        .collect();
    if !never.is_empty() {
        println!("  never reached: {}", never.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guided campaign keeps a seed that reached a new cell, or came
    /// closer to a measured cell nobody reached; not one that did neither.
    #[test]
    fn the_corpus_keeps_new_cells_and_steps_toward_unreached_ones() {
        let corpus = Corpus {
            inner: Mutex::default(),
            intensity: Default::default(),
        };
        let sc = generate::random_scenario(1);
        let reach = |cells: &[&str], gap: u64| coverage::Reach {
            cells: cells.iter().map(|c| c.to_string()).collect(),
            measures: [("epoch_gap", gap)].into_iter().collect(),
        };
        let kept = || corpus.inner.lock().unwrap().0.len();
        corpus.offer(1, &sc, &reach(&["sync:DIFF", "epoch_gap:0"], 0));
        assert_eq!(kept(), 1, "new cells");
        corpus.offer(2, &sc, &reach(&["sync:DIFF"], 0));
        assert_eq!(kept(), 1, "nothing new");
        corpus.offer(3, &sc, &reach(&["sync:DIFF", "epoch_gap:1"], 1));
        assert_eq!(kept(), 2, "a new cell, and closer to epoch_gap:2+");
        corpus.offer(4, &sc, &reach(&["epoch_gap:1"], 1));
        assert_eq!(kept(), 2, "no closer than seed 3");
        corpus.offer(5, &sc, &reach(&["epoch_gap:2+"], 2));
        assert_eq!(kept(), 3, "reached it");
        corpus.offer(6, &sc, &reach(&["epoch_gap:2+"], 3));
        assert_eq!(
            kept(),
            3,
            "a larger gap no longer counts: the cell is reached"
        );
    }

    /// The shards of a range are disjoint and together cover it, and the
    /// count `fuzz` reports is each shard's own.
    #[test]
    fn shards_split_a_range_exactly() {
        for (first, last) in [(0u64, 99u64), (7, 7), (5, 16), (1000, 1003)] {
            for n in 1..=5u64 {
                let mut seen = std::collections::BTreeMap::new();
                for k in 1..=n {
                    let mine: Vec<u64> = (first..=last)
                        .filter(|s| in_shard(*s, first, (k, n)))
                        .collect();
                    let total = (u128::from(last - first) + 1 + u128::from(n) - u128::from(k))
                        / u128::from(n);
                    assert_eq!(mine.len() as u128, total, "{first}..={last} shard {k}/{n}");
                    for s in mine {
                        assert!(seen.insert(s, k).is_none(), "seed {s} in two shards");
                    }
                }
                assert_eq!(seen.len() as u64, last - first + 1);
            }
        }
    }

    #[test]
    fn shard_arguments() {
        assert_eq!(parse_shard("1/1"), Ok((1, 1)));
        assert_eq!(parse_shard("3/8"), Ok((3, 8)));
        for bad in ["0/4", "5/4", "1/0", "1", "a/b", "1/2/3", "-1/2", ""] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rechecks_take_about_their_share() {
        let picked = (0..10_000).filter(|s| rechecked(*s, 5)).count();
        assert!((350..650).contains(&picked), "{picked}");
        assert_eq!((0..1000).filter(|s| rechecked(*s, 0)).count(), 0);
        assert_eq!((0..1000).filter(|s| rechecked(*s, 100)).count(), 1000);
    }
}
