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
    match measure_all(&loaded, opts.secs) {
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

fn measure_all(loaded: &[(PathBuf, Scenario)], secs: f64) -> Result<Measured, String> {
    let bare = bare_loop(200_000);
    let mut scenarios = Vec::new();
    for (p, sc) in loaded {
        let f = seeds::measure(p, sc, secs, bare)
            .map_err(|e| format!("{}: the simulation panicked: {e}", p.display()))?;
        scenarios.push(f);
    }
    let fuzz = [1, 2]
        .iter()
        .map(|&j| fuzz::measure(j, secs))
        .collect::<Result<Vec<_>, _>>()?;
    let (growth_servers, growth_clients) = growth::measure()?;
    let linearizable = checkers::SIZES
        .iter()
        .map(|&n| checkers::measure(n))
        .collect();
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
