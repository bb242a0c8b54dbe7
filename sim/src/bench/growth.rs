//! How the cost of a seed grows with the ensemble and with the load: wall
//! time per simulated second and per committed txn, for a steady load on
//! ensembles of 3 to 15 servers and on 1 to 64 clients.

use crate::runner::run_seed;
use crate::scenario::{self, Scenario};
use madsim::net::NetSim;
use std::time::{Duration, Instant};

/// Ensemble sizes measured with 4 clients, and client counts measured with
/// 5 servers; every client starts 50 ops per simulated second.
pub const SERVERS: &[usize] = &[3, 5, 7, 9, 15];
pub const CLIENTS: &[usize] = &[1, 4, 16, 64];
const RATE: u32 = 50;
const SIM_SECS: u64 = 10;

/// Cost per txn may grow this much faster than the messages a txn needs
/// before the growth counts as worse than linear.
pub const SLACK: f64 = 1.25;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    pub servers: usize,
    pub clients: usize,
    pub txns: u64,
    pub msgs_per_txn: f64,
    pub wall_ms_per_sim_sec: f64,
    pub wall_us_per_txn: f64,
}

fn steady(servers: usize, clients: usize) -> Scenario {
    let text = format!(
        "name = \"growth-{servers}-{clients}\"\nduration = \"{SIM_SECS}s\"\nsettle = \"1s\"\n\
         [ensemble]\nservers = {servers}\n[workload]\nclients = {clients}\nrate = {RATE}\n\
         [check]\nzab = false\nclient = false\nlinearizable = false\n"
    );
    Scenario::parse(&text, "growth.toml").expect("a valid growth scenario")
}

/// Seeds per point: each point keeps its cheapest seed, as the least
/// disturbed by whatever else the machine was doing.
const SEEDS: u64 = 3;

/// A steady load on `servers` and `clients`: its cheapest of [`SEEDS`] seeds.
pub fn point(servers: usize, clients: usize) -> Result<Point, String> {
    let mut best: Option<Point> = None;
    for seed in 1..=SEEDS {
        let p = one_seed(servers, clients, seed)?;
        if best
            .as_ref()
            .is_none_or(|b| p.wall_us_per_txn < b.wall_us_per_txn)
        {
            best = Some(p);
        }
    }
    best.ok_or_else(|| "no seed".to_string())
}

fn one_seed(servers: usize, clients: usize, seed: u64) -> Result<Point, String> {
    let sc = steady(servers, clients);
    let started = Instant::now();
    let (report, msgs) = run_seed(seed, Duration::from_secs(600), move || async move {
        let report = scenario::run(&sc).await;
        (report, NetSim::current().stat().msg_count)
    })?;
    let wall = started.elapsed().as_secs_f64();
    let txns = report.txns_committed.max(1);
    Ok(Point {
        servers,
        clients,
        txns: report.txns_committed,
        msgs_per_txn: msgs as f64 / txns as f64,
        wall_ms_per_sim_sec: wall * 1e3 / report.sim_secs,
        wall_us_per_txn: wall * 1e6 / txns as f64,
    })
}

/// (the servers sweep, the clients sweep).
pub fn measure() -> Result<(Vec<Point>, Vec<Point>), String> {
    let servers = SERVERS
        .iter()
        .map(|&s| point(s, 4))
        .collect::<Result<_, _>>()?;
    let clients = CLIENTS
        .iter()
        .map(|&c| point(5, c))
        .collect::<Result<_, _>>()?;
    Ok((servers, clients))
}
