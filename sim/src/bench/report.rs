//! Bench's figures as text, and each target beside its goal (issue 9).

use super::growth::{self, Point};
use super::{checkers, fuzz, Figures, Measured};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Goal {
    pub target: String,
    pub measured: f64,
    /// How `measured` reads, e.g. "1234x" or "0.42".
    pub shown: String,
    pub goal: String,
    pub met: bool,
}

fn at_least(target: String, measured: f64, shown: String, min: f64, goal: &str) -> Goal {
    Goal {
        target,
        measured,
        shown,
        goal: goal.to_string(),
        met: measured >= min,
    }
}

fn at_most(target: String, measured: f64, shown: String, max: f64, goal: &str) -> Goal {
    Goal {
        target,
        measured,
        shown,
        goal: goal.to_string(),
        met: measured <= max,
    }
}

fn named<'a>(m: &'a Measured, file: &str) -> Option<&'a Figures> {
    m.scenarios.iter().find(|f| f.name.ends_with(file))
}

/// The worst of (cost growth / message growth) along a sweep, the cost
/// in CPU time (wall time on a shared machine measures its neighbours).
fn growth_ratio(sweep: &[Point]) -> f64 {
    let Some(first) = sweep.first() else {
        return 0.0;
    };
    sweep
        .iter()
        .map(|p| (p.cpu_us_per_txn / first.cpu_us_per_txn) / (p.msgs_per_txn / first.msgs_per_txn))
        .fold(0.0, f64::max)
}

pub fn goals(m: &Measured) -> Vec<Goal> {
    let mut out = Vec::new();
    if let Some(f) = named(m, "leader-crash.toml") {
        let x = f.sim_secs_per_wall_sec;
        out.push(at_least(
            "leader-crash, x real time".into(),
            x,
            format!("{x:.0}x"),
            1000.0,
            ">= 1000x",
        ));
        let r = f.ratio_to_bare;
        out.push(at_least(
            "leader-crash, messages/s of the bare loop's".into(),
            r,
            format!("{r:.2}"),
            0.5,
            ">= 0.5",
        ));
    }
    if let Some(f) = named(m, "word-count-steady.toml") {
        let x = f.sim_secs_per_wall_sec;
        out.push(at_least(
            "word-count-steady (topology), x real time".into(),
            x,
            format!("{x:.0}x"),
            1000.0,
            ">= 1000x",
        ));
    }
    if let [one, two] = &m.fuzz[..] {
        let s = one.short_seeds_per_sec_per_core;
        let short = format!(
            "fuzz: {:.0} s seeds per second per core",
            fuzz::SHORT_SEED_SECS
        );
        out.push(at_least(short, s, format!("{s:.1}"), 50.0, ">= 50"));
        let speedup = two.sim_secs_per_wall_sec / one.sim_secs_per_wall_sec.max(1e-9);
        out.push(at_least(
            "fuzz: --jobs 2 over --jobs 1".into(),
            speedup,
            format!("{speedup:.2}x"),
            1.8,
            ">= 1.8x",
        ));
        for f in [one, two] {
            let per = f.peak_rss_mib / f.jobs as f64;
            let what = format!("peak memory per concurrent seed, --jobs {}", f.jobs);
            out.push(at_most(
                what,
                per,
                format!("{per:.0} MiB"),
                64.0,
                "<= 64 MiB",
            ));
        }
    }
    for (sweep, what) in [
        (&m.growth_servers, "servers 3 to 15"),
        (&m.growth_clients, "clients 1 to 64"),
    ] {
        if sweep.is_empty() {
            continue;
        }
        let r = growth_ratio(sweep);
        let target = format!("cost per txn over messages per txn, {what}");
        let goal = format!("<= {:.2}", growth::SLACK);
        out.push(at_most(target, r, format!("{r:.2}"), growth::SLACK, &goal));
    }
    if let Some(t) = m.linearizable.iter().find(|t| t.ops == 1_000_000) {
        let ms = if t.passed { t.wall_ms } else { f64::INFINITY };
        let shown = if t.passed {
            format!("{ms:.0} ms")
        } else {
            "wrong verdict".into()
        };
        out.push(at_most(
            "client.linearizable on 1M ops".into(),
            ms,
            shown,
            checkers::GOAL_MS_1M,
            "<= 1000 ms",
        ));
    }
    out
}

pub fn print(m: &Measured) {
    if m.bare_loop_msgs_per_sec > 0.0 {
        println!(
            "bare madsim loop: {:.0} messages per wall second",
            m.bare_loop_msgs_per_sec
        );
    }
    for f in &m.scenarios {
        println!(
            "{:<36} {:>5} seeds {:>7.2} seeds/s {:>6.0}x real time {:>8.0} msgs/s  {:.2} of bare  checkers {:.1} ms/seed ({:.0} records)",
            f.name, f.seeds, f.seeds_per_sec, f.sim_secs_per_wall_sec, f.msgs_per_wall_sec,
            f.ratio_to_bare, f.checker_ms_per_seed, f.events_per_seed
        );
    }
    for f in m
        .scenarios
        .iter()
        .filter(|_| m.bare_loop_msgs_per_sec > 0.0)
    {
        println!(
            "{:<36} needs {:.0} msgs per simulated second: at the bare loop's cost per message it would run {:.0}x real time",
            f.name, f.msgs_per_sim_sec, f.ceiling_x_real_time
        );
    }
    for f in m.scenarios.iter().filter(|f| f.acked_per_wall_sec > 0.0) {
        println!(
            "{:<36} topology: {:.0} acked spout tuples and {:.0} tuples sent per wall second",
            f.name, f.acked_per_wall_sec, f.tuples_per_wall_sec
        );
    }
    for f in &m.fuzz {
        println!(
            "fuzz --jobs {}: {:.1} seeds/s, {:.0}x real time, peak memory {:.0} MiB",
            f.jobs, f.seeds_per_sec, f.sim_secs_per_wall_sec, f.peak_rss_mib
        );
    }
    if let Some(f) = m.fuzz.first().filter(|f| f.ceiling_x_real_time > 0.0) {
        let x = f.ceiling_x_real_time;
        println!(
            "fuzz seeds need {:.0} msgs per simulated second: at the bare loop's cost per message they would run {x:.0}x real time ({:.1} short seeds per second per core)",
            f.msgs_per_sim_sec,
            x / fuzz::SHORT_SEED_SECS
        );
    }
    if !m.growth_servers.is_empty() {
        print_growth(m);
    }
    for t in &m.linearizable {
        println!(
            "client.linearizable on {} ops ({} records): {:.0} ms{}",
            t.ops,
            t.records,
            t.wall_ms,
            if t.passed { "" } else { " (WRONG VERDICT)" }
        );
    }
    println!("peak memory of this process: {:.0} MiB", m.peak_rss_mib);
    println!();
    println!("{:<56} {:>12}  {:<12} met", "target", "measured", "goal");
    for g in goals(m) {
        let met = if g.met { "yes" } else { "no" };
        println!("{:<56} {:>12}  {:<12} {met}", g.target, g.shown, g.goal);
    }
}

fn print_growth(m: &Measured) {
    println!(
        "growth (steady load, 50 ops/s per client, 10 simulated seconds, 3 seeds each, the cheapest of 3 rounds per seed):"
    );
    println!(
        "  servers clients   txns  msgs/txn  wall ms/sim s  wall us/txn  cpu ms/sim s  cpu us/txn"
    );
    for p in m.growth_servers.iter().chain(&m.growth_clients) {
        println!(
            "  {:>7} {:>7} {:>6} {:>9.1} {:>14.2} {:>12.1} {:>13.2} {:>11.1}",
            p.servers,
            p.clients,
            p.txns,
            p.msgs_per_txn,
            p.wall_ms_per_sim_sec,
            p.wall_us_per_txn,
            p.cpu_ms_per_sim_sec,
            p.cpu_us_per_txn
        );
    }
}
