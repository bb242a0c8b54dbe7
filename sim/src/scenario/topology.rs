//! The `[topology]` section: which built-in topology runs on the Storm
//! half of the cluster, its sizes, and the cluster's Nimbus, supervisor
//! and slot counts.

use super::duration::{format as d, Dur};
use super::error::ErrorKind;
use super::fault::float;
use super::schema::{Int, Num};
use super::validate::V;
use super::ScenarioError;
use crate::check::StormSpec;
use crate::storm::StormConfig;
use serde::Deserialize;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;
use zkstorm::storm::batch::{reference_state, StateKind};
use zkstorm::storm::builtin::{
    expected_counts, expected_orders, numbers, orders, sentences, Batches, Counter, Orders,
    WordCount,
};
use zkstorm::storm::{Topology, TopologyConfig};

/// The built-in topologies a scenario can name.
pub const KINDS: &[&str] = &["word-count", "counter", "orders"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopology {
    pub kind: Spanned<String>,
    pub sentences: Option<Spanned<Int>>,
    pub numbers: Option<Spanned<Int>>,
    pub keys: Option<Spanned<Int>>,
    pub orders: Option<Spanned<Int>>,
    pub parallelism: Option<Spanned<Int>>,
    pub rate: Option<Spanned<Num>>,
    pub reliable: Option<bool>,
    pub workers: Option<Spanned<Int>>,
    pub spouts: Option<Spanned<Int>>,
    pub splitters: Option<Spanned<Int>>,
    pub counters: Option<Spanned<Int>>,
    pub ackers: Option<Spanned<Int>>,
    pub message_timeout: Option<Spanned<Dur>>,
    pub max_spout_pending: Option<Spanned<Int>>,
    pub nimbus: Option<Spanned<Int>>,
    pub supervisors: Option<Spanned<Int>>,
    pub slots: Option<Spanned<Int>>,
    pub count_cost: Option<Spanned<Dur>>,
    pub exactly_once: Option<Spanned<String>>,
    pub batch_size: Option<Spanned<Int>>,
    pub batch_window: Option<Spanned<Int>>,
}

/// A validated `[topology]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TopologySpec {
    pub kind: String,
    /// Records in the input log: sentences (word count) or numbers
    /// (counter).
    pub records: usize,
    /// Counter: the keys numbers are summed under (`n mod keys`).
    pub keys: u32,
    /// Orders: tasks of each bolt.
    pub parallelism: u32,
    /// New records per second each spout task (source partition) offers.
    pub rate: f64,
    pub reliable: bool,
    pub workers: u32,
    pub spouts: u32,
    pub splitters: u32,
    pub counters: u32,
    /// None: one per worker (Storm's default).
    pub ackers: Option<u32>,
    pub message_timeout: Duration,
    pub max_spout_pending: Option<u32>,
    pub nimbus: usize,
    pub supervisors: usize,
    pub slots: usize,
    /// Simulated CPU time per word at the count bolt (a slow bolt).
    pub count_cost: Option<Duration>,
    /// Exactly-once batches (None: each sentence tracked on its own).
    pub batches: Option<Batches>,
    /// A topology built in code (`testing::World::topology`), in place of
    /// the built-in `kind`.
    pub code: Option<Code>,
}

/// Builds a topology of a user's own from the run's config, with what the
/// storm checks hold it to.
pub type Build = Arc<dyn Fn(TopologyConfig) -> Result<(Topology, StormSpec), String> + Send + Sync>;

/// A topology built in code; a scenario file cannot name one (its kind is
/// [`CODE`]).
#[derive(Clone)]
pub struct Code(pub Build);

/// The kind of a topology built in code.
pub const CODE: &str = "code";

impl PartialEq for Code {
    fn eq(&self, other: &Code) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(..)")
    }
}

impl TopologySpec {
    /// When the input has all been offered, at the configured rate.
    pub fn input_time(&self) -> Duration {
        let per_task = self.records.div_ceil(self.spouts as usize);
        Duration::from_secs_f64(per_task as f64 / self.rate)
    }

    /// The cluster's Storm half.
    pub fn storm_config(&self) -> StormConfig {
        StormConfig {
            nimbuses: self.nimbus,
            supervisors: self.supervisors,
            slots: self.slots,
            ..StormConfig::default()
        }
    }

    /// The topology to submit and what the storm checks hold it to. The
    /// input is drawn from `seed` (the run's `topology` stream).
    pub fn build(&self, seed: u64, zookeeper: &str) -> Result<(Topology, StormSpec), String> {
        let cfg = TopologyConfig {
            workers: self.workers,
            ackers: if self.reliable { self.ackers } else { Some(0) },
            message_timeout: self.message_timeout,
            max_spout_pending: self.max_spout_pending,
            zookeeper: zookeeper.to_string(),
            ..TopologyConfig::default()
        };
        if let Some(Code(build)) = &self.code {
            return build(cfg);
        }
        match self.kind.as_str() {
            "counter" => return self.build_counter(seed, cfg),
            "orders" => return self.build_orders(seed, cfg),
            _ => {}
        }
        let log = sentences(self.records, seed);
        let wc = WordCount {
            rate: Some(self.rate),
            spouts: self.spouts,
            splitters: self.splitters,
            counters: self.counters,
            reliable: self.reliable,
            count_cost: self.count_cost,
            batches: self.batches,
        };
        let t = wc
            .build(Arc::new(log.clone()), cfg)
            .map_err(|e| e.to_string())?;
        let mut spec = StormSpec::of(&t);
        if self.batches.is_some() {
            // What the same input commits with no fault, run in-process.
            let reference = reference_state(&t, seed, self.input_time() * 2)?;
            spec.exactly_once = Some(reference);
            spec.counts = Some((expected_counts(&log), true));
        } else if self.reliable {
            spec.inputs
                .insert("sentences".into(), (0..self.records as u64).collect());
            spec.counts = Some((expected_counts(&log), false));
        }
        Ok((t, spec))
    }
}

impl TopologySpec {
    /// The orders DAG over `records` orders: every offset acked, every
    /// order counted for its customer at least once.
    fn build_orders(
        &self,
        seed: u64,
        cfg: TopologyConfig,
    ) -> Result<(Topology, StormSpec), String> {
        let log = orders(self.records, seed);
        let o = Orders {
            rate: Some(self.rate),
            spouts: self.spouts,
            parallelism: self.parallelism,
        };
        let t = o
            .build(Arc::new(log.clone()), cfg)
            .map_err(|e| e.to_string())?;
        let mut spec = StormSpec::of(&t);
        if self.reliable {
            spec.inputs
                .insert("orders".into(), (0..self.records as u64).collect());
            spec.counts = Some((expected_orders(&log), false));
        }
        Ok((t, spec))
    }

    /// The exactly-once counter over `records` numbers.
    fn build_counter(
        &self,
        seed: u64,
        cfg: TopologyConfig,
    ) -> Result<(Topology, StormSpec), String> {
        let log = numbers(self.records, seed);
        let counter = Counter {
            rate: Some(self.rate * f64::from(self.spouts)),
            keys: self.keys,
            partitions: self.spouts,
            buckets: self.splitters,
            summers: self.counters,
            batches: self.batches.ok_or("the counter runs in batches")?,
        };
        let t = counter
            .build(Arc::new(log), cfg)
            .map_err(|e| e.to_string())?;
        let mut spec = StormSpec::of(&t);
        spec.exactly_once = Some(reference_state(&t, seed, self.input_time() * 2)?);
        Ok((t, spec))
    }
}

type R<T> = Result<T, ScenarioError>;

pub(crate) fn validate(raw: &RawTopology, duration: Duration, v: &V) -> R<TopologySpec> {
    let kind = raw.kind.get_ref();
    if !KINDS.contains(&kind.as_str()) {
        let code = match kind.as_str() {
            CODE => {
                " (\"code\" is a topology built by zkstorm_sim::testing, which a file cannot hold)"
            }
            _ => "",
        };
        return Err(v.at(
            &raw.kind,
            "topology.kind",
            ErrorKind::Invalid,
            format!(
                "unknown topology {kind:?}{code}; the built-in ones are: {}",
                KINDS.join(", ")
            ),
        ));
    }
    let int = |x: &Option<Spanned<Int>>, f: &str, lo: i64, hi: i64, dflt: i64| -> R<i64> {
        match x {
            Some(x) => v.int(x, &format!("topology.{f}"), lo, hi),
            None => Ok(dflt),
        }
    };
    let supervisors = int(&raw.supervisors, "supervisors", 1, 16, 2)? as usize;
    let slots = int(&raw.slots, "slots", 1, 8, 2)? as usize;
    let spouts = int(&raw.spouts, "spouts", 1, 64, 2)? as u32;
    let rate = match &raw.rate {
        Some(r) => {
            let x = r.get_ref().0;
            if !(x > 0.0 && x <= 100_000.0) {
                return Err(v.at(r, "topology.rate", ErrorKind::OutOfRange, format!("{x} is out of range (expected more than 0, at most 100000 sentences a second per spout task)")));
            }
            x
        }
        None => 20.0,
    };
    let timeout = match &raw.message_timeout {
        Some(t) => {
            let x = v.whole_ms(t, "topology.message_timeout")?;
            if x < Duration::from_secs(1) || x > Duration::from_secs(600) {
                return Err(v.at(
                    t,
                    "topology.message_timeout",
                    ErrorKind::OutOfRange,
                    format!("{} is out of range (expected 1s..=10m)", t.get_ref()),
                ));
            }
            x
        }
        None => Duration::from_secs(10),
    };
    let counter = kind == "counter";
    kind_keys(raw, kind, v)?;
    let batches = match batches(raw, v)? {
        // The counter is the exactly-once one: batches by default.
        None if counter => Some(Batches {
            state: StateKind::Transactional,
            size: 20,
            window: 3,
        }),
        b => b,
    };
    if counter && untracked(raw) {
        let msg = "the counter runs exactly-once batches, which need ackers: drop reliable = false and ackers = 0";
        return Err(v.at(
            &raw.kind,
            "topology.kind",
            ErrorKind::Invalid,
            msg.to_string(),
        ));
    }
    let spec = TopologySpec {
        kind: kind.clone(),
        records: match kind.as_str() {
            "counter" => int(&raw.numbers, "numbers", 1, 100_000, 400)? as usize,
            "orders" => int(&raw.orders, "orders", 1, 100_000, 400)? as usize,
            _ => int(&raw.sentences, "sentences", 1, 100_000, 200)? as usize,
        },
        parallelism: int(&raw.parallelism, "parallelism", 1, 64, 2)? as u32,
        keys: int(&raw.keys, "keys", 1, 10_000, 7)? as u32,
        rate,
        reliable: raw.reliable.unwrap_or(true),
        workers: int(&raw.workers, "workers", 1, 64, 2)? as u32,
        spouts,
        splitters: int(&raw.splitters, "splitters", 1, 64, 3)? as u32,
        counters: int(&raw.counters, "counters", 1, 64, 3)? as u32,
        ackers: raw
            .ackers
            .as_ref()
            .map(|a| v.int(a, "topology.ackers", 0, 64))
            .transpose()?
            .map(|a| a as u32),
        message_timeout: timeout,
        max_spout_pending: raw
            .max_spout_pending
            .as_ref()
            .map(|m| v.int(m, "topology.max_spout_pending", 1, 1_000_000))
            .transpose()?
            .map(|m| m as u32),
        nimbus: int(&raw.nimbus, "nimbus", 1, 5, 2)? as usize,
        supervisors,
        slots,
        count_cost: match &raw.count_cost {
            Some(c) => {
                let x = c.get_ref().0;
                if x.is_zero() || x > Duration::from_secs(1) {
                    return Err(v.at(
                        c,
                        "topology.count_cost",
                        ErrorKind::OutOfRange,
                        format!(
                            "{} is out of range (expected more than 0s, at most 1s per word)",
                            c.get_ref()
                        ),
                    ));
                }
                Some(x)
            }
            None => None,
        },
        batches,
        code: None,
    };
    if spec.input_time() > duration {
        let at = raw
            .rate
            .as_ref()
            .map_or(raw.kind.span().start, |r| r.span().start);
        return Err(v.err(
            at,
            "topology.rate",
            ErrorKind::OutOfRange,
            format!(
                "{} records over {} spout task(s) at {} a second take {}, longer than the load runs (duration = {}): raise the rate or lengthen duration",
                spec.records, spec.spouts, float(spec.rate), d(spec.input_time()), d(duration)
            ),
        ));
    }
    Ok(spec)
}

/// Tracking is off (`reliable = false` or `ackers = 0`): no batches.
fn untracked(raw: &RawTopology) -> bool {
    raw.reliable == Some(false) || raw.ackers.as_ref().is_some_and(|a| a.get_ref().0 == 0)
}

/// A size key, its name, and the kinds that have it.
type KindKey<'a> = (&'a Option<Spanned<Int>>, &'a str, &'a [&'a str]);

/// A key of one kind given to another.
fn kind_keys(raw: &RawTopology, kind: &str, v: &V) -> R<()> {
    let only: [KindKey; 7] = [
        (&raw.sentences, "sentences", &["word-count"]),
        (&raw.splitters, "splitters", &["word-count", "counter"]),
        (&raw.counters, "counters", &["word-count", "counter"]),
        (&raw.numbers, "numbers", &["counter"]),
        (&raw.keys, "keys", &["counter"]),
        (&raw.orders, "orders", &["orders"]),
        (&raw.parallelism, "parallelism", &["orders"]),
    ];
    for (x, f, kinds) in only {
        if let Some(x) = x.as_ref().filter(|_| !kinds.contains(&kind)) {
            let msg = format!("{kind} has no {f}; it is a key of {}", kinds.join(" and "));
            return Err(v.at(x, &format!("topology.{f}"), ErrorKind::Invalid, msg));
        }
    }
    if let Some(c) = raw.count_cost.as_ref().filter(|_| kind != "word-count") {
        let msg = format!("{kind} has no count_cost; it is a key of word-count");
        return Err(v.at(c, "topology.count_cost", ErrorKind::Invalid, msg));
    }
    let batched = raw.exactly_once.as_ref().filter(|_| kind == "orders");
    if let Some(x) = batched {
        let msg =
            "the orders topology is at-least-once; exactly_once is for word-count and counter";
        return Err(v.at(
            x,
            "topology.exactly_once",
            ErrorKind::Invalid,
            msg.to_string(),
        ));
    }
    Ok(())
}

/// `exactly_once`, `batch_size`, `batch_window`: batches need tracking,
/// and the sizes mean nothing without batches.
fn batches(raw: &RawTopology, v: &V) -> R<Option<Batches>> {
    let Some(mode) = &raw.exactly_once else {
        let stray = [
            (&raw.batch_size, "batch_size"),
            (&raw.batch_window, "batch_window"),
        ];
        if let Some((Some(x), f)) = stray.into_iter().find(|(x, _)| x.is_some()) {
            let msg = format!("{f} sizes exactly-once batches; set exactly_once = \"transactional\" or \"opaque\"");
            return Err(v.at(x, &format!("topology.{f}"), ErrorKind::Invalid, msg));
        }
        return Ok(None);
    };
    let state = match mode.get_ref().as_str() {
        "transactional" => StateKind::Transactional,
        "opaque" => StateKind::Opaque,
        m => {
            let msg = format!("unknown state {m:?}; expected \"transactional\" or \"opaque\"");
            return Err(v.at(mode, "topology.exactly_once", ErrorKind::Invalid, msg));
        }
    };
    if untracked(raw) {
        let msg =
            "exactly-once batches need ackers: drop reliable = false and ackers = 0".to_string();
        return Err(v.at(mode, "topology.exactly_once", ErrorKind::Invalid, msg));
    }
    let int = |x: &Option<Spanned<Int>>, f: &str, hi: i64, dflt: i64| -> R<i64> {
        x.as_ref()
            .map_or(Ok(dflt), |x| v.int(x, &format!("topology.{f}"), 1, hi))
    };
    Ok(Some(Batches {
        state,
        size: int(&raw.batch_size, "batch_size", 10_000, 20)? as usize,
        window: int(&raw.batch_window, "batch_window", 64, 3)? as u32,
    }))
}

pub(crate) fn render(t: &TopologySpec, o: &mut String) {
    let input = match t.kind.as_str() {
        "counter" => format!(
            "numbers = {}\nkeys = {}\nsplitters = {}\ncounters = {}",
            t.records, t.keys, t.splitters, t.counters
        ),
        "orders" => format!("orders = {}\nparallelism = {}", t.records, t.parallelism),
        _ => format!(
            "sentences = {}\nsplitters = {}\ncounters = {}",
            t.records, t.splitters, t.counters
        ),
    };
    let _ =
        writeln!(
        o,
        "\n[topology]\nkind = \"{}\"\n{input}\nrate = {}\nreliable = {}\nworkers = {}\nspouts = {}",
        t.kind, float(t.rate), t.reliable, t.workers, t.spouts
    );
    if let Some(a) = t.ackers {
        let _ = writeln!(o, "ackers = {a}");
    }
    let _ = writeln!(o, "message_timeout = \"{}\"", d(t.message_timeout));
    if let Some(m) = t.max_spout_pending {
        let _ = writeln!(o, "max_spout_pending = {m}");
    }
    let _ = writeln!(
        o,
        "nimbus = {}\nsupervisors = {}\nslots = {}",
        t.nimbus, t.supervisors, t.slots
    );
    if let Some(c) = t.count_cost {
        let _ = writeln!(o, "count_cost = \"{}\"", d(c));
    }
    if let Some(b) = &t.batches {
        let _ = writeln!(
            o,
            "exactly_once = \"{}\"\nbatch_size = {}\nbatch_window = {}",
            b.state.name(),
            b.size,
            b.window
        );
    }
}
