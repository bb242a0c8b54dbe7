//! One scenario run seed after seed for a few wall seconds: seeds, simulated
//! seconds and messages per wall second, and what the checkers cost.

use crate::history::Event;
use crate::scenario::{self, Scenario};
use std::path::Path;
use std::time::{Duration, Instant};
use zkstorm::storm::StormEvent;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Figures {
    pub name: String,
    pub seeds: u64,
    pub wall_secs: f64,
    pub seeds_per_sec: f64,
    pub sim_secs_per_wall_sec: f64,
    pub msgs_per_wall_sec: f64,
    /// Our messages per second over the bare loop's.
    pub ratio_to_bare: f64,
    /// Network payloads the scenario needs per simulated second.
    pub msgs_per_sim_sec: f64,
    /// Times real time this scenario would run if each of its payloads
    /// cost what one costs the bare loop: the most speed can reach while
    /// the network stays madsim's simulated TCP.
    pub ceiling_x_real_time: f64,
    /// Topology runs: spout messages whose trees completed, per wall second.
    pub acked_per_wall_sec: f64,
    /// Topology runs: tuples sent between tasks, per wall second.
    pub tuples_per_wall_sec: f64,
    /// Wall milliseconds the scenario's checkers take on one seed's
    /// history (judged again outside the simulation), on average.
    pub checker_ms_per_seed: f64,
    /// History records per seed, on average.
    pub events_per_seed: f64,
}

/// Run `sc` on seeds 0, 1, ... for about `secs` wall seconds (at least one
/// seed). The checkers are timed apart: their time is in the seeds' wall
/// time as well, since every run judges its own history.
pub fn measure(path: &Path, sc: &Scenario, secs: f64, bare: f64) -> Result<Figures, String> {
    let started = Instant::now();
    let (mut seeds, mut sim_secs, mut msgs) = (0u64, 0.0, 0u64);
    let (mut acked, mut tuples, mut events) = (0u64, 0u64, 0usize);
    let mut checking = Duration::ZERO;
    while seeds == 0 || started.elapsed().as_secs_f64() < secs {
        let (report, m) = scenario::run_seed_counted(sc, seeds).map_err(|e| e.to_string())?;
        seeds += 1;
        sim_secs += report.sim_secs;
        msgs += m;
        events += report.events;
        let (a, t) = report.history.with_records(storm_counts);
        acked += a;
        tuples += t;
        let judging = Instant::now();
        report
            .history
            .with_records(|r| std::hint::black_box(report.rejudge(sc, r)));
        checking += judging.elapsed();
    }
    // The rejudging is ours, not the seeds'.
    let wall = started.elapsed().as_secs_f64() - checking.as_secs_f64();
    let msgs_per_sec = msgs as f64 / wall;
    let msgs_per_sim_sec = msgs as f64 / sim_secs.max(1e-9);
    Ok(Figures {
        name: path.display().to_string(),
        seeds,
        wall_secs: wall,
        seeds_per_sec: seeds as f64 / wall,
        sim_secs_per_wall_sec: sim_secs / wall,
        msgs_per_wall_sec: msgs_per_sec,
        ratio_to_bare: if bare > 0.0 { msgs_per_sec / bare } else { 0.0 },
        msgs_per_sim_sec,
        ceiling_x_real_time: super::ring::ceiling(bare, msgs_per_sim_sec),
        acked_per_wall_sec: acked as f64 / wall,
        tuples_per_wall_sec: tuples as f64 / wall,
        checker_ms_per_seed: checking.as_secs_f64() * 1e3 / seeds as f64,
        events_per_seed: events as f64 / seeds as f64,
    })
}

/// (spout messages fully acked, tuples sent between tasks).
fn storm_counts(records: &[crate::history::Record]) -> (u64, u64) {
    let (mut acked, mut tuples) = (0, 0);
    for r in records {
        match r.event {
            Event::Storm {
                event: StormEvent::SpoutAcked { .. },
                ..
            } => acked += 1,
            Event::Storm {
                event: StormEvent::Sent { .. },
                ..
            } => tuples += 1,
            _ => {}
        }
    }
    (acked, tuples)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ceiling and the share of the bare loop are one measurement seen
    /// two ways: x real time = share of the bare loop × ceiling.
    #[test]
    fn the_ceiling_is_the_bare_loops_rate_over_the_messages_a_second_needs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/steady-state.toml");
        let sc = Scenario::load(&path).expect("loads");
        let bare = 1_000_000.0;
        let f = measure(&path, &sc, 0.0, bare).expect("one seed");
        assert_eq!(f.seeds, 1);
        assert!(f.msgs_per_sim_sec > 100.0, "{f:?}");
        let x = f.ratio_to_bare * f.ceiling_x_real_time;
        assert!((x / f.sim_secs_per_wall_sec - 1.0).abs() < 1e-9, "{f:?}");
        assert!((f.ceiling_x_real_time * f.msgs_per_sim_sec - bare).abs() < 1e-3);
    }
}
