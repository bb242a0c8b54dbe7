//! The ensemble under simulation: elections, commits, faults, durability,
//! determinism — generated scenarios (`zkstorm_sim::generate`) run through the
//! scenario pipeline, every check on. Seeds come from `ZKSTORM_SEEDS` (e.g.
//! `ZKSTORM_SEEDS=0..200`).

use proptest::strategy::BoxedStrategy;
use zkstorm_sim::generate::{calm, chaos, draw};
use zkstorm_sim::history::Event;
use zkstorm_sim::runner::seeds_from_env;
use zkstorm_sim::scenario::{run_seed, RunReport, Scenario};

fn run(seed: u64, sc: &Scenario) -> RunReport {
    run_seed(sc, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

/// What is wrong with a run, if anything, with the scenario and the command
/// that replays it.
fn problems(what: &str, seed: u64, sc: &Scenario, r: &RunReport) -> Option<String> {
    if r.passed() {
        return None;
    }
    let failed: Vec<String> = r
        .failures()
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    Some(format!(
        "seed {seed}: {}\n  replay: ZKSTORM_SEEDS={seed} cargo test --test ensemble {what}\n{}",
        failed.join("\n  "),
        sc.to_toml()
    ))
}

/// Run every seed of `strategy`, then fail with all the bad ones listed.
fn sweep(what: &str, seeds: std::ops::Range<u64>, strategy: BoxedStrategy<Scenario>) {
    let total = seeds.end - seeds.start;
    let bad: Vec<String> = seeds
        .filter_map(|seed| {
            let sc = draw(&strategy, seed);
            problems(what, seed, &sc, &run(seed, &sc))
        })
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
        let sc = calm(servers, 8);
        let r = run(servers as u64, &sc);
        if let Some(p) = problems("every_ensemble_size", servers as u64, &sc, &r) {
            panic!("{p}");
        }
        assert!(r.ops_ok > 100, "{servers} servers: only {} ops", r.ops_ok);
        let serving = r
            .history
            .records()
            .iter()
            .filter(|rec| matches!(rec.event, Event::ServerState { serving: true, .. }))
            .count();
        assert_eq!(serving, servers);
    }
}

#[test]
fn three_servers_survive_crashes_restarts_and_partitions() {
    sweep("three_servers", seeds_from_env(0..40), chaos(3, &[]));
}

#[test]
fn five_servers_survive_crashes_restarts_and_partitions() {
    sweep("five_servers", seeds_from_env(100..130), chaos(5, &[]));
}

#[test]
fn same_seed_same_trace_hash() {
    let sc = draw(&chaos(3, &[]), 42);
    let a = run(42, &sc);
    let b = run(42, &sc);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    let c = run(43, &sc);
    assert_ne!(a.trace_hash, c.trace_hash, "different seeds should differ");
}

#[test]
fn leader_crashes_alone_keep_the_ensemble_going() {
    sweep(
        "leader_crashes_alone",
        seeds_from_env(200..210),
        chaos(5, &["crash-leader", "restart"]),
    );
}
