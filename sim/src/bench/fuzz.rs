//! Fuzz throughput and memory: the storm seeds `zkstorm fuzz` runs, on 1
//! and 2 threads, each measured in a child process of its own so that its
//! peak memory is its own.

use crate::scenario;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Simulated seconds of the "short fuzz-style seed" the goals speak of.
pub const SHORT_SEED_SECS: f64 = 20.0;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FuzzFigures {
    pub jobs: usize,
    pub seeds: u64,
    pub seeds_per_sec: f64,
    /// Simulated seconds per wall second, all threads together.
    pub sim_secs_per_wall_sec: f64,
    /// Seeds of `SHORT_SEED_SECS` simulated seconds per wall second per
    /// thread, at this simulated-time rate.
    pub short_seeds_per_sec_per_core: f64,
    pub peak_rss_mib: f64,
    /// Network payloads per simulated second over all these seeds: with
    /// the bare loop's rate, the most the fuzz goal can reach.
    #[serde(default)]
    pub msgs_per_sim_sec: f64,
    /// × real time if each payload cost what one costs the bare loop (0
    /// when the bare loop was not measured).
    #[serde(default)]
    pub ceiling_x_real_time: f64,
}

impl FuzzFigures {
    /// Fill in the ceiling from the bare loop's messages per wall second.
    pub fn with_ceiling(mut self, bare: f64) -> Self {
        self.ceiling_x_real_time = super::ring::ceiling(bare, self.msgs_per_sim_sec);
        self
    }
}

/// Peak resident memory of this process, in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Run storm seeds 0, 1, ... on `jobs` threads for about `secs` seconds.
pub fn run_here(jobs: usize, secs: f64) -> FuzzFigures {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let sim = Mutex::new((0.0f64, 0u64));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while started.elapsed().as_secs_f64() < secs {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    let sc = crate::generate::random_scenario(seed);
                    if let Ok((r, msgs)) = scenario::run_seed_counted(&sc, seed) {
                        done.fetch_add(1, Ordering::Relaxed);
                        let mut sim = sim.lock().expect("sim secs");
                        sim.0 += r.sim_secs;
                        sim.1 += msgs;
                    }
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let (sim_secs, msgs) = *sim.lock().expect("sim secs");
    let rate = sim_secs / wall;
    let seeds = done.load(Ordering::Relaxed);
    FuzzFigures {
        jobs,
        seeds,
        seeds_per_sec: seeds as f64 / wall,
        sim_secs_per_wall_sec: rate,
        short_seeds_per_sec_per_core: rate / SHORT_SEED_SECS / jobs as f64,
        peak_rss_mib: peak_rss_mib(),
        msgs_per_sim_sec: msgs as f64 / sim_secs.max(1e-9),
        ceiling_x_real_time: 0.0,
    }
}

/// `zkstorm bench --fuzz-child JOBS`: measure here and print the figures.
pub fn child(jobs: usize, secs: f64) -> u8 {
    match serde_json::to_string(&run_here(jobs, secs)) {
        Ok(line) => {
            println!("{line}");
            crate::cli::EXIT_PASS
        }
        Err(_) => crate::cli::EXIT_CRASHED,
    }
}

/// Measure with `jobs` threads in a child process (this executable).
pub fn measure(jobs: usize, secs: f64) -> Result<FuzzFigures, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this executable: {e}"))?;
    let out = std::process::Command::new(exe)
        .args(["bench", "--fuzz-child", &jobs.to_string()])
        .args(["--secs", &secs.to_string()])
        .output()
        .map_err(|e| format!("starting the fuzz measurement: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| {
        format!(
            "the fuzz measurement ({}) printed {line:?}: {e}; {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz ceiling rests on the payloads the storm seeds carried: a
    /// seed that counted none would claim an endless ceiling.
    #[test]
    fn the_fuzz_ceiling_is_the_bare_rate_over_the_payloads_storm_seeds_need() {
        let f = run_here(1, 1e-3);
        assert!(f.seeds >= 1);
        assert!(
            (50.0..50_000.0).contains(&f.msgs_per_sim_sec),
            "{} payloads per simulated second",
            f.msgs_per_sim_sec
        );
        assert_eq!(f.clone().with_ceiling(0.0).ceiling_x_real_time, 0.0);
        let c = f.clone().with_ceiling(1e6).ceiling_x_real_time;
        assert!((c * f.msgs_per_sim_sec - 1e6).abs() < 1e-3);
    }
}
