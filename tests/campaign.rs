//! Random campaigns: each seed runs its own random scenario (timing profile
//! and fault schedule, see `zkstorm_sim::generate::random`) under that seed. A failure
//! writes the scenario to `target/campaign/seed-N.toml` and prints the command
//! that replays it. Seeds come from `ZKSTORM_SEEDS`, e.g.
//! `ZKSTORM_SEEDS=0..5000 cargo test --release --test campaign -- --ignored`.
#![cfg(madsim)]

use std::path::Path;
use zkstorm_sim::generate::random_scenario;
use zkstorm_sim::runner::seeds_from_env;
use zkstorm_sim::scenario::{replay_command, run_seed};

fn campaign(default: std::ops::Range<u64>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/campaign");
    let mut bad = Vec::new();
    let seeds = seeds_from_env(default);
    let runs = seeds.end - seeds.start;
    for seed in seeds {
        let file = format!("target/campaign/seed-{seed}.toml");
        let mut s = random_scenario(seed);
        s.file = file.clone();
        let text = s.to_toml();
        let verdict = match run_seed(&s, seed) {
            // Inconclusive (a check had too little evidence) is not a failure.
            Ok(r)
                if r.checks
                    .values()
                    .all(|v| v.is_pass() || v.label() == "inconclusive") =>
            {
                continue
            }
            Ok(r) => r
                .failures()
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => e.to_string(),
        };
        std::fs::create_dir_all(&dir).expect("target/campaign");
        std::fs::write(dir.join(format!("seed-{seed}.toml")), &text).expect("write scenario");
        let line = format!(
            "seed {seed}: {verdict}\n  replay: {}",
            replay_command(&file, seed)
        );
        eprintln!("FAIL {line}");
        bad.push(line);
    }
    assert!(
        bad.is_empty(),
        "{} of {runs} seeds failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// A short sweep on every test run.
#[test]
fn random_timing_and_fault_storms_hold() {
    campaign(0..12);
}

/// The long sweep: run it with --ignored (and --release).
#[test]
#[ignore]
fn random_timing_and_fault_storms_hold_long() {
    campaign(0..2000);
}
