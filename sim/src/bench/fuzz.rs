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
    let sim = Mutex::new(0.0f64);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while started.elapsed().as_secs_f64() < secs {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    let sc = crate::generate::storm_scenario(seed);
                    if let Ok(r) = scenario::run_seed(&sc, seed) {
                        done.fetch_add(1, Ordering::Relaxed);
                        *sim.lock().expect("sim secs") += r.sim_secs;
                    }
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let rate = *sim.lock().expect("sim secs") / wall;
    let seeds = done.load(Ordering::Relaxed);
    FuzzFigures {
        jobs,
        seeds,
        seeds_per_sec: seeds as f64 / wall,
        sim_secs_per_wall_sec: rate,
        short_seeds_per_sec_per_core: rate / SHORT_SEED_SECS / jobs as f64,
        peak_rss_mib: peak_rss_mib(),
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
