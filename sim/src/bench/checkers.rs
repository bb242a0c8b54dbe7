//! What `client.linearizable` costs on big histories: a linearizable
//! history of N client ops by 10 clients over 100 znodes (with lost
//! answers), generated outside the simulation and judged on its own.

use crate::check::{self, testkit, CheckOptions, Family, Verdict};
use std::time::Instant;

/// History sizes measured, in client ops.
pub const SIZES: &[usize] = &[100_000, 1_000_000];

/// The goal for the largest: judged within this many wall milliseconds.
pub const GOAL_MS_1M: f64 = 1_000.0;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    pub ops: usize,
    pub records: usize,
    pub wall_ms: f64,
    /// The verdict: a generated history is linearizable, so anything but
    /// a pass is a checker bug and bench says so.
    pub passed: bool,
}

pub fn measure(ops: usize) -> Timing {
    let h = testkit::big_history(ops, 10, 100, 7);
    let opts = CheckOptions::default();
    let started = Instant::now();
    let verdicts = check::run(&h.records, &opts, |f| f == Family::Linearizable);
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let passed = matches!(
        verdicts.get("client.linearizable"),
        Some(Verdict::Pass | Verdict::Inconclusive(_))
    );
    Timing {
        ops,
        records: h.records.len(),
        wall_ms,
        passed,
    }
}
