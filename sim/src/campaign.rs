//! Random scenarios for campaigns: every seed draws its own timing profile
//! (tick, init and sync limits, session timeouts, latency, loss, fsync times)
//! and a storm of faults, written as a scenario file. The file is what runs —
//! through the same parser and pipeline as a hand-written one — so a failure
//! is handed back as a file to read, edit and replay.
//!
//! One timing profile for every run is how thousands of seeds missed bugs that
//! random timing found in minutes; so nothing here is fixed per campaign.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

/// The scenario file that seed `seed` of a campaign runs (with that seed).
pub fn random_scenario(seed: u64) -> String {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed ^ 0x5eed_ca4b_a16e),
        text: String::new(),
    };
    g.generate(seed);
    g.text
}

struct Gen {
    rng: StdRng,
    text: String,
}

/// What a fault storm may do, with relative weights.
const FAULTS: [(&str, u32); 10] = [
    ("isolate", 3),
    ("partition", 3),
    ("one_way", 3),
    ("latency", 2),
    ("packet_loss", 1),
    ("crash", 2),
    ("kill", 1),
    ("restart", 1),
    ("pause", 1),
    ("slow_fsync", 2),
];

impl Gen {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }

    fn generate(&mut self, seed: u64) {
        let servers = [3, 3, 5, 5, 5, 7][self.rng.gen_range(0..6)];
        let tick_ms: u64 = self.rng.gen_range(10..=200);
        let sync_limit = self.rng.gen_range(2..=15u64);
        let init_limit = self.rng.gen_range(sync_limit..=40u64);
        // A profile a ZooKeeper operator could run: a round trip fits in the
        // sync limit with room to spare, and discovery plus sync (six trips,
        // fresh connections, fsyncs) in the init limit; faults then break
        // that on purpose.
        let latency_max_ms = (tick_ms * sync_limit / 4)
            .min(tick_ms * init_limit / 12)
            .max(1);
        // Faults end by `storm_ms`; then liveness has its bound, long enough
        // to elect and sync after the heal whatever the profile.
        let storm_ms: u64 = self.rng.gen_range(8_000..=25_000);
        let liveness_ms = (3 * init_limit * tick_ms).max(12_000);
        self.line(format!("name = \"campaign-{seed}\""));
        self.line("about = \"A random timing profile and fault storm (campaign generator).\"");
        self.line(format!(
            "duration = \"{}ms\"",
            storm_ms + liveness_ms + 1_000
        ));
        self.line("[ensemble]");
        self.line(format!("servers = {servers}"));
        self.line(format!("tick = \"{tick_ms}ms\""));
        self.line(format!("init_limit = {init_limit}"));
        self.line(format!("sync_limit = {sync_limit}"));
        // Loss delays messages (TCP retransmits): only where sessions may
        // outlast a second of it.
        let lossy = 20 * tick_ms >= 1_000 && self.rng.gen_bool(0.3);
        let hi_ms = self.network(latency_max_ms, lossy);
        let floor_ms = if lossy { 1_000 } else { 6 * hi_ms };
        let clients = self.workload(tick_ms, floor_ms);
        let n = self.rng.gen_range(0..=12);
        for _ in 0..n {
            let at = self.rng.gen_range(1_000..storm_ms - 500);
            self.fault(at, servers, storm_ms);
        }
        self.line("[check]");
        self.line("zab = true");
        self.line("linearizable = true");
        if clients > 0 {
            self.line(format!("liveness = \"{liveness_ms}ms\""));
        }
    }

    /// The `[workload]` table; returns the number of clients.
    fn workload(&mut self, tick_ms: u64, session_min_ms: u64) -> usize {
        let clients = self.rng.gen_range(0..=7);
        self.line("[workload]");
        self.line(format!("clients = {clients}"));
        let (rate, keys) = (self.rng.gen_range(5..=40), self.rng.gen_range(1..=8));
        self.line(format!("rate = {rate}"));
        self.line(format!("keys = {keys}"));
        // Within the 2..=20 ticks the servers grant, and long enough for the
        // network (three round trips at least), or the client's pings cannot
        // keep the session.
        let ticks_min = session_min_ms.div_ceil(tick_ms).clamp(2, 20);
        let ticks = self.rng.gen_range(ticks_min..=20u64);
        self.line(format!("session_timeout = \"{}ms\"", ticks * tick_ms));
        clients
    }

    /// The `[network]` table; returns the highest one-way latency.
    fn network(&mut self, latency_max_ms: u64, lossy: bool) -> u64 {
        let lo = self.rng.gen_range(1..=latency_max_ms.min(20));
        let hi = (lo + self.rng.gen_range(0..=30u64)).min(latency_max_ms);
        self.line("[network]");
        self.line(format!("latency = [\"{lo}ms\", \"{hi}ms\"]"));
        if lossy {
            let loss = self.rng.gen_range(1..=25) as f64 / 100.0;
            self.line(format!("packet_loss = {loss}"));
        }
        hi
    }

    fn pick_fault(&mut self) -> &'static str {
        let total: u32 = FAULTS.iter().map(|f| f.1).sum();
        let mut x = self.rng.gen_range(0..total);
        for (name, w) in FAULTS {
            if x < w {
                return name;
            }
            x -= w;
        }
        unreachable!("weights cover the range")
    }

    fn fault(&mut self, at: u64, servers: usize, storm_ms: u64) {
        let until = (at + self.rng.gen_range(100..=4_000)).min(storm_ms);
        let kind = self.pick_fault();
        let target = self.target(servers);
        let mut f = String::new();
        let _ = writeln!(f, "[[fault]]\nat = \"{at}ms\"");
        let body = match kind {
            "isolate" | "crash" | "kill" | "pause" => format!("{kind} = {target}"),
            "restart" => format!("restart = {}", self.node(servers)),
            "partition" => format!("partition = {}", self.groups(servers)),
            "one_way" => {
                let from = self.node(servers);
                let to = (from + self.rng.gen_range(0..servers - 1)) % servers + 1;
                format!("one_way = {{ from = [{from}], to = [{to}] }}")
            }
            "latency" => {
                let lo = self.rng.gen_range(10..=300u64);
                let hi = lo + self.rng.gen_range(0..=700u64);
                format!("latency = [\"{lo}ms\", \"{hi}ms\"]")
            }
            "packet_loss" => format!(
                "packet_loss = {}",
                self.rng.gen_range(5..=40) as f64 / 100.0
            ),
            "slow_fsync" => {
                let lo = self.rng.gen_range(10..=2_500u64);
                let hi = lo + self.rng.gen_range(0..=500u64);
                format!("slow_fsync = {{ target = {target}, min = \"{lo}ms\", max = \"{hi}ms\" }}")
            }
            other => unreachable!("fault kind {other}"),
        };
        let _ = writeln!(f, "{body}");
        if kind != "restart" {
            let _ = writeln!(f, "until = \"{until}ms\"");
        }
        self.text.push_str(&f);
    }

    fn node(&mut self, servers: usize) -> usize {
        self.rng.gen_range(1..=servers)
    }

    fn target(&mut self, servers: usize) -> String {
        match self.rng.gen_range(0..4) {
            0 => "\"leader\"".into(),
            1 => "\"follower\"".into(),
            2 => "\"random\"".into(),
            _ => self.node(servers).to_string(),
        }
    }

    /// Two or three groups of node ids covering the ensemble.
    fn groups(&mut self, servers: usize) -> String {
        let k = self.rng.gen_range(2..=3usize.min(servers));
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
        for sid in 1..=servers {
            let g = self.rng.gen_range(0..k);
            groups[g].push(sid);
        }
        groups.retain(|g| !g.is_empty());
        if groups.len() == 1 {
            let last = groups[0].pop().expect("servers >= 2");
            groups.push(vec![last]);
        }
        let shown: Vec<String> = groups
            .iter()
            .map(|g| {
                let ids: Vec<String> = g.iter().map(|s| s.to_string()).collect();
                format!("[{}]", ids.join(", "))
            })
            .collect();
        format!("[{}]", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn every_generated_scenario_parses_and_the_seed_decides_it() {
        for seed in 0..500 {
            let text = random_scenario(seed);
            if let Err(e) = Scenario::parse(&text, "generated.toml") {
                panic!("seed {seed}: {e}\n{text}");
            }
            assert_eq!(text, random_scenario(seed));
        }
        assert_ne!(random_scenario(1), random_scenario(2));
    }
}
