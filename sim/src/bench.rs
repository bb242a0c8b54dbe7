//! `zkstorm bench`: how fast the simulation runs, against a bare madsim
//! message loop measured in the same process (our ceiling).

use crate::history::Event;
use crate::runner::run_seed;
use crate::scenario::{self, Scenario};
use madsim::net::NetSim;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zkstorm::storm::StormEvent;

/// The scenarios measured when none are named.
pub const STANDARD: &[&str] = &[
    "scenarios/leader-crash.toml",
    "scenarios/steady-state.toml",
    "scenarios/word-count-steady.toml",
];

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
    /// Topology runs: spout messages whose trees completed, per wall second.
    pub acked_per_wall_sec: f64,
    /// Topology runs: tuples sent between tasks, per wall second.
    pub tuples_per_wall_sec: f64,
}

/// Network payloads delivered per wall second by 5 nodes passing tokens
/// around a ring over simulated TCP, one flush per message.
pub fn bare_loop(msgs_per_node: u64) -> f64 {
    let started = Instant::now();
    let msgs = run_seed(0, Duration::from_secs(600), move || async move {
        let handle = madsim::runtime::Handle::current();
        let addr =
            |i: usize| -> SocketAddr { format!("10.9.0.{}:7000", i + 1).parse().expect("addr") };
        let n = 5;
        let mut tasks = Vec::new();
        for i in 0..n {
            let node = handle
                .create_node()
                .name(format!("ring{i}"))
                .ip(addr(i).ip())
                .build();
            let (me, next) = (addr(i), addr((i + 1) % n));
            tasks.push(node.spawn(async move {
                let listener = tokio::net::TcpListener::bind(me).await.expect("bind");
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut out = tokio::net::TcpStream::connect(next).await.expect("connect");
                let (mut inp, _) = listener.accept().await.expect("accept");
                if i == 0 {
                    // Many tokens in flight, so the ring is never idle.
                    for _ in 0..64 {
                        out.write_all(&[1u8; 8]).await.expect("write");
                        out.flush().await.expect("flush");
                    }
                }
                let mut buf = [0u8; 8];
                for _ in 0..msgs_per_node {
                    if inp.read_exact(&mut buf).await.is_err() {
                        break;
                    }
                    if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
                        break;
                    }
                }
            }));
        }
        let _ = tasks.remove(0).await;
        NetSim::current().stat().msg_count
    })
    .unwrap_or(0);
    msgs as f64 / started.elapsed().as_secs_f64()
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

fn measure(path: &Path, sc: &Scenario, secs: f64, bare: f64) -> Result<Figures, String> {
    let started = Instant::now();
    let (mut seeds, mut sim_secs, mut msgs) = (0u64, 0.0, 0u64);
    let (mut acked, mut tuples) = (0u64, 0u64);
    while seeds == 0 || started.elapsed().as_secs_f64() < secs {
        let sc = sc.clone();
        let (report, m) = run_seed(seeds, Duration::from_secs(3600), move || async move {
            let report = scenario::run(&sc).await;
            (report, NetSim::current().stat().msg_count)
        })?;
        seeds += 1;
        sim_secs += report.sim_secs;
        msgs += m;
        for r in report.history.records() {
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
    }
    let wall = started.elapsed().as_secs_f64();
    let msgs_per_sec = msgs as f64 / wall;
    Ok(Figures {
        name: path.display().to_string(),
        seeds,
        wall_secs: wall,
        seeds_per_sec: seeds as f64 / wall,
        sim_secs_per_wall_sec: sim_secs / wall,
        msgs_per_wall_sec: msgs_per_sec,
        ratio_to_bare: if bare > 0.0 { msgs_per_sec / bare } else { 0.0 },
        acked_per_wall_sec: acked as f64 / wall,
        tuples_per_wall_sec: tuples as f64 / wall,
    })
}

/// Fuzz throughput: random storm seeds (as `zkstorm fuzz` runs them) done
/// per wall second on `jobs` threads, for about `secs` seconds.
pub fn fuzz_seeds_per_sec(jobs: usize, secs: f64) -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while started.elapsed().as_secs_f64() < secs {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    let sc = crate::generate::storm_scenario(seed);
                    if scenario::run_seed(&sc, seed).is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

pub fn run(scenarios: &[PathBuf], secs: f64, json: bool) -> u8 {
    let paths: Vec<PathBuf> = if scenarios.is_empty() {
        STANDARD.iter().map(PathBuf::from).collect()
    } else {
        scenarios.to_vec()
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
    let bare = bare_loop(200_000);
    let mut all = Vec::new();
    for (p, sc) in &loaded {
        match measure(p, sc, secs, bare) {
            Ok(f) => all.push(f),
            Err(e) => {
                eprintln!("{}: the simulation panicked: {e}", p.display());
                return crate::cli::EXIT_CRASHED;
            }
        }
    }
    let fuzz: Vec<(usize, f64)> = [1, 2]
        .iter()
        .map(|&j| (j, fuzz_seeds_per_sec(j, secs)))
        .collect();
    let peak = peak_rss_mib();
    if json {
        let fuzz: Vec<serde_json::Value> = fuzz
            .iter()
            .map(|(j, r)| serde_json::json!({ "jobs": j, "seeds_per_sec": r }))
            .collect();
        let v = serde_json::json!({ "bare_loop_msgs_per_sec": bare, "peak_rss_mib": peak, "scenarios": all, "fuzz": fuzz });
        println!("{v}");
    } else {
        println!("bare madsim loop: {:.0} messages per wall second", bare);
        for f in &all {
            println!(
                "{:<36} {:>6} seeds  {:>7.2} seeds/s  {:>8.0}x real time  {:>10.0} msgs/s  {:.2} of bare",
                f.name, f.seeds, f.seeds_per_sec, f.sim_secs_per_wall_sec, f.msgs_per_wall_sec, f.ratio_to_bare
            );
        }
        for f in all.iter().filter(|f| f.acked_per_wall_sec > 0.0) {
            println!(
                "{:<36} topology: {:.0} acked sentences and {:.0} tuples per wall second",
                f.name, f.acked_per_wall_sec, f.tuples_per_wall_sec
            );
        }
        for (j, r) in &fuzz {
            println!("fuzz (random storm seeds), --jobs {j}: {r:.1} seeds/s");
        }
        if let [(_, one), (_, two)] = fuzz[..] {
            println!("fuzz speedup with --jobs 2: {:.2}x", two / one.max(1e-9));
        }
        println!("peak memory: {peak:.0} MiB");
    }
    crate::cli::EXIT_PASS
}
