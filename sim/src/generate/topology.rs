//! Topologies in campaigns (`zkstorm fuzz --topology`): a built-in
//! topology of drawn kind, mode and sizes, and faults on the Storm half,
//! added to a drawn fault schedule. Written as scenario text, so they pass the
//! same validation as a hand-written `[topology]`.

use proptest::prelude::*;
use proptest::sample::Index;
use std::fmt::Write;

/// What runs, and which modes: reliable word count, exactly-once word
/// count (transactional or opaque state), the counter, the orders DAG.
const KINDS: &[(&str, Option<&str>)] = &[
    ("word-count", None),
    ("word-count", Some("transactional")),
    ("word-count", Some("opaque")),
    ("counter", Some("transactional")),
    ("counter", Some("opaque")),
    ("orders", None),
];

/// A fault on the Storm half.
#[derive(Clone, Debug)]
enum StormKind {
    /// `acker`: a worker hosting one; else random.
    KillWorker(bool),
    /// `busy`: one running a worker; else random.
    CrashSupervisor(bool),
    /// `leader`; else random.
    CrashNimbus(bool),
    IsolateSupervisor,
    IsolateNimbus,
    /// All Storm nodes; else the supervisors.
    CutFromEnsemble(bool),
    Rebalance(u32),
    /// A supervisor's machine (and a Nimbus with it) from the rest.
    Split(Index, bool),
}

#[derive(Clone, Debug)]
struct DrawnFault {
    at: Index,
    len_ms: u64,
    kind: StormKind,
}

/// A drawn topology and its faults.
#[derive(Clone, Debug)]
pub(crate) struct TopologyDraw {
    kind: Index,
    records: usize,
    workers: u32,
    spouts: u32,
    nimbus: usize,
    timeout_s: u64,
    /// Max spout pending, and (word count) a slow count bolt's ms per word.
    pending: Option<u32>,
    count_cost_ms: Option<u64>,
    faults: Vec<DrawnFault>,
}

fn storm_process_kind() -> impl Strategy<Value = StormKind> {
    prop_oneof![
        3 => any::<bool>().prop_map(StormKind::KillWorker),
        2 => any::<bool>().prop_map(StormKind::CrashSupervisor),
        2 => any::<bool>().prop_map(StormKind::CrashNimbus),
        1 => Just(StormKind::IsolateSupervisor),
        1 => Just(StormKind::IsolateNimbus),
        1 => any::<bool>().prop_map(StormKind::CutFromEnsemble),
        1 => (1u32..=3).prop_map(StormKind::Rebalance),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(s, n)| StormKind::Split(s, n)),
    ]
}

pub(crate) fn topology() -> impl Strategy<Value = TopologyDraw> {
    let fault = (any::<Index>(), 500u64..=8_000, storm_process_kind())
        .prop_map(|(at, len_ms, kind)| DrawnFault { at, len_ms, kind });
    // A slow bolt only behind a pending limit small enough that a full
    // pipeline drains well within the timeout (else every tree times out
    // and the input never finishes: a misconfiguration, not a bug).
    let pace = prop_oneof![
        2 => Just((None, None)),
        1 => (5u32..=100).prop_map(|p| (Some(p), None)),
        1 => (5u32..=40, 1u64..=5).prop_map(|(p, c)| (Some(p), Some(c))),
    ];
    let sizes = (100usize..=400, (1u32..=3, 1u32..=2, 1usize..=2), 4u64..=10);
    (
        any::<Index>(),
        sizes,
        pace,
        prop::collection::vec(fault, 0..=4),
    )
        .prop_map(
            |(kind, (records, (workers, spouts, nimbus), timeout_s), (pending, cost), faults)| {
                TopologyDraw {
                    kind,
                    records,
                    workers,
                    spouts,
                    nimbus,
                    timeout_s,
                    pending,
                    count_cost_ms: cost,
                    faults,
                }
            },
        )
}

impl TopologyDraw {
    /// The `[topology]` section and the Storm faults, as scenario text, for
    /// a random schedule whose faults end by `faults_ms`: the input streams in over
    /// the first half of it.
    pub(crate) fn toml(&self, faults_ms: u64) -> String {
        let (kind, exactly_once) = KINDS[self.kind.index(KINDS.len())];
        let input = match kind {
            "counter" => "numbers",
            "orders" => "orders",
            _ => "sentences",
        };
        let per_task = self.records.div_ceil(self.spouts as usize) as f64;
        let rate = (per_task / (faults_ms as f64 / 2_000.0)).ceil().max(1.0);
        let mut t = format!(
            "\n[topology]\nkind = {kind:?}\n{input} = {}\nrate = {rate}\nworkers = {}\nspouts = {}\nnimbus = {}\nmessage_timeout = \"{}s\"\n",
            self.records, self.workers, self.spouts, self.nimbus, self.timeout_s
        );
        if let Some(state) = exactly_once {
            let _ = writeln!(t, "exactly_once = {state:?}");
        }
        if let Some(p) = self.pending {
            let _ = writeln!(t, "max_spout_pending = {p}");
        }
        if let Some(c) = self.count_cost_ms.filter(|_| kind == "word-count") {
            let _ = writeln!(t, "count_cost = \"{c}ms\"");
        }
        for f in &self.faults {
            let at = 1_000 + f.at.index((faults_ms - 1_500) as usize) as u64;
            let end = (at + f.len_ms).min(faults_ms).max(at + 1);
            let _ = write!(
                t,
                "\n[[fault]]\nat = \"{at}ms\"\n{}",
                f.kind.toml(end, self.nimbus)
            );
        }
        t
    }
}

impl StormKind {
    /// The fault's key and value, and when it is undone (`end`, in ms).
    fn toml(&self, end: u64, nimbus: usize) -> String {
        let pick = |yes: bool, a: &str, b: &str| if yes { a.to_string() } else { b.to_string() };
        match self {
            StormKind::KillWorker(acker) => {
                format!("kill_worker = {:?}\n", pick(*acker, "acker", "random"))
            }
            StormKind::CrashSupervisor(busy) => format!(
                "crash_supervisor = {:?}\nuntil = \"{end}ms\"\n",
                pick(*busy, "busy", "random")
            ),
            StormKind::CrashNimbus(leader) => format!(
                "crash_nimbus = {:?}\nuntil = \"{end}ms\"\n",
                pick(*leader, "leader", "random")
            ),
            StormKind::IsolateSupervisor => {
                format!("isolate_supervisor = \"busy\"\nheal_at = \"{end}ms\"\n")
            }
            StormKind::IsolateNimbus => {
                format!("isolate_nimbus = \"leader\"\nheal_at = \"{end}ms\"\n")
            }
            StormKind::CutFromEnsemble(all) => format!(
                "cut_from_ensemble = {:?}\nheal_at = \"{end}ms\"\n",
                pick(*all, "storm", "supervisors")
            ),
            StormKind::Rebalance(n) => format!("rebalance = {n}\n"),
            StormKind::Split(s, with_nimbus) => {
                // Two supervisors (the `[topology]` default).
                let sup = format!("\"sup{}\"", 1 + s.index(2));
                let group = match (with_nimbus, nimbus) {
                    (true, n) if n > 1 => format!("[{sup}, \"nimbus1\"]"),
                    _ => format!("[{sup}]"),
                };
                format!("storm_partition = [{group}, [\"rest\"]]\nheal_at = \"{end}ms\"\n")
            }
        }
    }
}
