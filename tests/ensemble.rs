//! The ensemble under simulation: elections, commits, faults, durability,
//! determinism. Seeds come from `ZKSTORM_SEEDS` (e.g. `ZKSTORM_SEEDS=0..200`).

use std::time::Duration;
use zkstorm_sim::chaos::{self, ChaosConfig, ChaosOutcome, Fault};
use zkstorm_sim::runner::{run_seed, seeds_from_env};

const LIMIT: Duration = Duration::from_secs(600);

fn run_chaos(seed: u64, cfg: ChaosConfig) -> ChaosOutcome {
    run_seed(seed, LIMIT, move || chaos::run(cfg))
        .unwrap_or_else(|e| panic!("seed {seed} panicked: {e}"))
}

/// What is wrong with a run, if anything, with the command that replays it.
fn problems(what: &str, seed: u64, o: &ChaosOutcome) -> Option<String> {
    let problem = if !o.violations.is_empty() {
        format!("{:#?}", o.violations)
    } else if !o.converged {
        format!("servers did not converge: {:?}", o.final_digests)
    } else if o.ops_ok_after_heal == 0 {
        "no progress after the faults healed".to_string()
    } else {
        return None;
    };
    Some(format!(
        "seed {seed}: {problem}\n  replay: ZKSTORM_SEEDS={seed} cargo test --test ensemble {what}"
    ))
}

fn assert_healthy(what: &str, seed: u64, o: &ChaosOutcome) {
    if let Some(p) = problems(what, seed, o) {
        panic!("{p}");
    }
}

/// Run every seed, then fail with all the bad ones listed.
fn sweep(what: &str, seeds: std::ops::Range<u64>, cfg: impl Fn() -> ChaosConfig) {
    let total = seeds.end - seeds.start;
    let bad: Vec<String> = seeds
        .filter_map(|seed| problems(what, seed, &run_chaos(seed, cfg())))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {total} seeds failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_ensemble_size_elects_and_commits() {
    for servers in [1, 3, 5, 7] {
        let mut cfg = ChaosConfig::new(servers);
        cfg.faults.clear();
        cfg.duration = Duration::from_secs(8);
        let o = run_chaos(servers as u64, cfg);
        assert_healthy("every_ensemble_size", servers as u64, &o);
        assert!(o.ops_ok > 100, "{servers} servers: only {} ops", o.ops_ok);
        assert_eq!(o.final_digests.len(), servers);
    }
}

#[test]
fn three_servers_survive_crashes_restarts_and_partitions() {
    sweep("three_servers", seeds_from_env(0..40), || {
        ChaosConfig::new(3)
    });
}

#[test]
fn five_servers_survive_crashes_restarts_and_partitions() {
    sweep("five_servers", seeds_from_env(100..130), || {
        ChaosConfig::new(5)
    });
}

#[test]
fn same_seed_same_trace_hash() {
    let a = run_chaos(42, ChaosConfig::new(3));
    let b = run_chaos(42, ChaosConfig::new(3));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    let c = run_chaos(43, ChaosConfig::new(3));
    assert_ne!(a.trace_hash, c.trace_hash, "different seeds should differ");
}

#[test]
fn leader_crashes_alone_keep_the_ensemble_going() {
    sweep("leader_crashes_alone", seeds_from_env(200..210), || {
        let mut cfg = ChaosConfig::new(5);
        cfg.faults = vec![Fault::CrashLeader, Fault::RestartCrashed];
        cfg
    });
}
