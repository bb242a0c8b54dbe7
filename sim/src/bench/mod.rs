//! `zkstorm bench`: how fast the simulation runs and how its cost grows,
//! each figure beside its goal, against a bare madsim message loop
//! measured in the same process (our ceiling).

mod checkers;
mod fuzz;
mod growth;
mod report;
mod ring;
mod seeds;

pub use fuzz::{child as fuzz_child, peak_rss_mib, FuzzFigures};
pub use ring::bare_loop;
pub use seeds::Figures;

use crate::scenario::Scenario;
use std::path::PathBuf;

/// The scenarios measured when none are named.
pub const STANDARD: &[&str] = &[
    "scenarios/leader-crash.toml",
    "scenarios/steady-state.toml",
    "scenarios/word-count-steady.toml",
];

/// Everything one bench run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub bare_loop_msgs_per_sec: f64,
    pub scenarios: Vec<Figures>,
    pub fuzz: Vec<FuzzFigures>,
    pub growth_servers: Vec<growth::Point>,
    pub growth_clients: Vec<growth::Point>,
    pub linearizable: Vec<checkers::Timing>,
    pub peak_rss_mib: f64,
}

pub struct Options {
    pub scenarios: Vec<PathBuf>,
    /// Wall seconds per scenario and per fuzz measurement.
    pub secs: f64,
    pub json: bool,
    /// Parts to measure (`scenarios`, `fuzz`, `growth`, `checkers`); all
    /// when empty.
    pub only: Vec<String>,
}

impl Options {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

pub fn run(opts: &Options) -> u8 {
    let paths: Vec<PathBuf> = if opts.scenarios.is_empty() {
        STANDARD.iter().map(PathBuf::from).collect()
    } else {
        opts.scenarios.clone()
    };
    let mut loaded = Vec::new();
    for p in &paths {
        match Scenario::load(p) {
            Ok(sc) => loaded.push((p.clone(), sc)),
            Err(e) => {
                eprintln!("error: {e}");
                return crate::cli::EXIT_BAD_INPUT;
            }
        }
    }
    match measure_all(&loaded, opts) {
        Ok(m) => {
            if opts.json {
                let goals = report::goals(&m);
                let v = serde_json::json!({ "measured": m, "goals": goals });
                println!("{v}");
            } else {
                report::print(&m);
            }
            crate::cli::EXIT_PASS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            crate::cli::EXIT_CRASHED
        }
    }
}

fn measure_all(loaded: &[(PathBuf, Scenario)], opts: &Options) -> Result<Measured, String> {
    let secs = opts.secs;
    let bare = if opts.wants("scenarios") {
        bare_loop(200_000)
    } else {
        0.0
    };
    let mut scenarios = Vec::new();
    for (p, sc) in loaded.iter().filter(|_| opts.wants("scenarios")) {
        let f = seeds::measure(p, sc, secs, bare).map_err(|e| format!("{}: {e}", p.display()))?;
        scenarios.push(f);
    }
    let mut fuzz = Vec::new();
    if opts.wants("fuzz") {
        for jobs in [1, 2] {
            fuzz.push(fuzz::measure(jobs, secs)?.with_ceiling(bare));
        }
    }
    let (growth_servers, growth_clients) = if opts.wants("growth") {
        growth::measure()?
    } else {
        Default::default()
    };
    let mut linearizable = Vec::new();
    if opts.wants("checkers") {
        linearizable = checkers::SIZES
            .iter()
            .map(|&n| checkers::measure(n))
            .collect();
    }
    Ok(Measured {
        bare_loop_msgs_per_sec: bare,
        scenarios,
        fuzz,
        growth_servers,
        growth_clients,
        linearizable,
        peak_rss_mib: peak_rss_mib(),
    })
}
