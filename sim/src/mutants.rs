//! `zkstorm mutants`: the testbed's own score. For each bug in the
//! catalogue, a fuzz campaign on generated schedules (not a scenario written
//! for the bug) runs until the first failure, which is then shrunk; the
//! table says whether it was caught, after how many seeds, by which check,
//! and how many faults the shrunk file keeps.

use crate::cli::{threads, EXIT_FAIL, EXIT_PASS};
use crate::fuzz::{one, FuzzOptions};
use crate::runner::on_threads;
use clap::Args;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Clone, Debug)]
pub struct MutantsOptions {
    /// Seeds each bug's campaign may use: `A..B`, `A..=B` or `N`.
    #[arg(long, default_value = "0..300", allow_hyphen_values = true, value_parser = crate::runner::parse_seeds)]
    pub seeds: RangeInclusive<u64>,
    /// Seeds run in parallel (1..=256).
    #[arg(long, default_value = "1", allow_hyphen_values = true, value_parser = crate::cli::parse_jobs)]
    pub jobs: usize,
    /// Where each bug's shrunk first failure is written.
    #[arg(long, default_value = "mutants")]
    pub out: PathBuf,
    /// Most runs spent shrinking one failure.
    #[arg(long, default_value = "200")]
    pub shrink_runs: usize,
    /// Only these bugs (default: the whole catalogue).
    #[arg(long = "bug", value_parser = crate::fuzz::parse_bug)]
    pub bugs: Vec<String>,
}

/// One bug's row.
struct Row {
    bug: &'static str,
    /// (seeds run up to and including the first failure, the check, faults
    /// drawn -> kept after shrinking, the file)
    caught: Option<(u64, String, (usize, usize), PathBuf)>,
    seeds_run: u64,
}

/// The first failing seed of `bug`'s campaign, in chunks of `jobs` seeds.
fn hunt(bug: zkstorm::bugs::Bug, opts: &MutantsOptions) -> Row {
    let search = FuzzOptions {
        seeds: opts.seeds.clone(),
        jobs: opts.jobs,
        out: opts.out.clone(),
        json: None,
        shrink_runs: 0,
        liveness: None,
        shard: (1, 1),
        recheck: 0,
        bugs: vec![bug.name().to_string()],
        guided: false,
        // A bug of the topology engine is hunted by campaigns that run one.
        intensity: crate::generate::Intensity {
            topology: zkstorm::bugs::is_storm(bug),
            ..Default::default()
        },
        time_limit: crate::runner::WALL_LIMIT,
        report_only: true,
    };
    let (first, last) = (*opts.seeds.start(), *opts.seeds.end());
    let chunk = threads(opts.jobs, u128::MAX) as u64;
    let mut from = first;
    while from <= last {
        let to = from.saturating_add(chunk - 1).min(last);
        let mut found: Vec<u64> = on_threads(from..=to, chunk as usize, |s| one(s, &search))
            .into_iter()
            .filter(|(_, r)| r.failure.is_some())
            .map(|(s, _)| s)
            .collect();
        found.sort_unstable();
        if let Some(&seed) = found.first() {
            let shrink = FuzzOptions {
                shrink_runs: opts.shrink_runs,
                report_only: false,
                ..search
            };
            let r = one(seed, &shrink);
            return Row {
                bug: bug.name(),
                caught: Some((
                    seed - first + 1,
                    r.failure.unwrap_or_default(),
                    r.faults,
                    r.file.unwrap_or_default(),
                )),
                seeds_run: seed - first + 1,
            };
        }
        from = to.saturating_add(1);
        if to == last {
            break;
        }
    }
    Row {
        bug: bug.name(),
        caught: None,
        seeds_run: last - first + 1,
    }
}

/// `zkstorm mutants`: exits 0 when every bug was caught, 1 otherwise.
pub fn mutants(opts: &MutantsOptions) -> u8 {
    let started = Instant::now();
    let bugs: Vec<zkstorm::bugs::Bug> = zkstorm::bugs::Bug::ALL
        .iter()
        .copied()
        .filter(|k| opts.bugs.is_empty() || opts.bugs.iter().any(|b| b == k.name()))
        .collect();
    println!(
        "| bug | caught | seeds to the first failure | check | faults drawn → after shrinking |"
    );
    println!("|---|---|---|---|---|");
    let mut missed = 0;
    for bug in bugs {
        let row = hunt(bug, opts);
        match &row.caught {
            Some((n, check, (drawn, kept), _)) => {
                println!("| `{}` | yes | {n} | {check} | {drawn} → {kept} |", row.bug)
            }
            None => {
                missed += 1;
                println!(
                    "| `{}` | **no** (in {} seeds) | — | — | — |",
                    row.bug, row.seeds_run
                );
            }
        }
    }
    println!(
        "\nseeds {}..={}, {:.1} s; shrunk first failures are in {}",
        opts.seeds.start(),
        opts.seeds.end(),
        started.elapsed().as_secs_f64(),
        opts.out.display()
    );
    if missed == 0 {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}
