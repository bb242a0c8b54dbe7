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

fn assert_healthy(what: &str, seed: u64, o: &ChaosOutcome) {
    let replay = format!("replay: ZKSTORM_SEEDS={seed} cargo test --test ensemble {what}");
    assert!(
        o.violations.is_empty(),
        "seed {seed}: {:#?}\n{replay}",
        o.violations
    );
    assert!(
        o.converged,
        "seed {seed}: servers did not converge: {:?}\n{replay}",
        o.final_digests
    );
    assert!(
        o.ops_ok_after_heal > 0,
        "seed {seed}: no progress after the faults healed\n{replay}"
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
    for seed in seeds_from_env(0..4) {
        let o = run_chaos(seed, ChaosConfig::new(3));
        assert_healthy("three_servers", seed, &o);
    }
}

#[test]
fn five_servers_survive_crashes_restarts_and_partitions() {
    for seed in seeds_from_env(100..104) {
        let o = run_chaos(seed, ChaosConfig::new(5));
        assert_healthy("five_servers", seed, &o);
    }
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
    for seed in seeds_from_env(200..203) {
        let mut cfg = ChaosConfig::new(5);
        cfg.faults = vec![Fault::CrashLeader, Fault::RestartCrashed];
        let o = run_chaos(seed, cfg);
        assert_healthy("leader_crashes_alone", seed, &o);
    }
}
