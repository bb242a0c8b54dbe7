//! Built-in topologies, usable from scenario files and tests. Word count
//! reads a replayable input (sentences by offset, as a durable log would
//! hold them) and writes each word's count to its store.

mod orders;
pub use orders::{expected_orders, orders, Orders};

use super::batch::{Aggregate, LogBatches, StateKind};
use super::collector::{BoltCollector, SpoutCollector};
use super::component::{Bolt, OutputDeclarer, Spout, TaskContext, TaskError};
use super::topology::{Topology, TopologyBuilder, TopologyConfig, TopologyError};
use super::tuple::{MsgId, Tuple};
use super::Value;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Reads sentences from a log by offset; each task owns the offsets equal
/// to its index modulo the task count. Failed offsets are emitted again.
/// It commits the first of its offsets not yet acked, so a restarted task
/// resumes there instead of at the start (as a Kafka spout does).
#[derive(Clone)]
pub struct SentenceSpout {
    log: Arc<Vec<String>>,
    reliable: bool,
    next: usize,
    stride: usize,
    retry: VecDeque<MsgId>,
    /// Sentences per second this task offers (None: as fast as it may).
    rate: Option<f64>,
    emitted: u64,
    /// Every offset of ours below `low` is acked; `done`: acked ones above.
    low: usize,
    done: BTreeSet<usize>,
    committed: usize,
    /// The field records are emitted as.
    field: &'static str,
}

impl SentenceSpout {
    pub fn new(log: Arc<Vec<String>>, reliable: bool) -> Self {
        SentenceSpout {
            log,
            reliable,
            next: 0,
            stride: 1,
            retry: VecDeque::new(),
            rate: None,
            emitted: 0,
            low: 0,
            done: BTreeSet::new(),
            committed: 0,
            field: "sentence",
        }
    }

    /// Emit records as `field` instead of `sentence`.
    pub fn field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }

    /// Offer at most `per_sec` new sentences a second (replays are not
    /// held back): the input streams in over the run instead of at once.
    pub fn paced(mut self, per_sec: f64) -> Self {
        self.rate = Some(per_sec).filter(|r| *r > 0.0);
        self
    }
}

impl Spout for SentenceSpout {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&[self.field]);
    }

    fn open(&mut self, ctx: &TaskContext) {
        self.stride = ctx.component_tasks.len().max(1);
        let start = ctx.committed.map_or(ctx.index(), |c| c as usize);
        (self.next, self.low, self.committed) = (start, start, start);
    }

    fn next_tuple(&mut self, out: &mut SpoutCollector) -> Result<(), TaskError> {
        if self.low != self.committed {
            out.commit(self.low as u64);
            self.committed = self.low;
        }
        let due = |rate: f64| (out.now().as_secs_f64() * rate) as u64 + 1;
        let offset = match self.retry.pop_front() {
            Some(o) => o as usize,
            None if self.rate.is_some_and(|r| self.emitted >= due(r)) => return Ok(()),
            None if self.next < self.log.len() => {
                self.emitted += 1;
                self.next += self.stride;
                self.next - self.stride
            }
            None => return Ok(()),
        };
        let values = vec![Value::from(self.log[offset].as_str())];
        if self.reliable {
            out.emit_with_id(values, offset as MsgId)?;
        } else {
            out.emit(values)?;
        }
        Ok(())
    }

    fn ack(&mut self, msg: MsgId) {
        if msg as usize >= self.low {
            self.done.insert(msg as usize);
        }
        while self.done.remove(&self.low) {
            self.low += self.stride;
        }
    }

    fn fail(&mut self, msg: MsgId) {
        self.retry.push_back(msg);
    }
}

/// Splits a sentence into words, anchored on the sentence.
#[derive(Clone, Default)]
pub struct SplitBolt;

impl Bolt for SplitBolt {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["word"]);
    }

    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let sentence = input.get_str("sentence").unwrap_or_default().to_string();
        for w in sentence.split_whitespace() {
            out.emit(&[input], vec![Value::from(w)])?;
        }
        out.ack(input);
        Ok(())
    }
}

/// Counts words: adds each to the store and emits its running count.
#[derive(Clone, Default)]
pub struct CountBolt {
    counts: BTreeMap<String, i64>,
}

impl Bolt for CountBolt {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["word", "count"]);
    }

    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let word = input.get_str("word").unwrap_or_default().to_string();
        let n = self.counts.entry(word.clone()).or_default();
        *n += 1;
        let n = *n;
        out.add(&word, 1);
        out.emit(&[input], vec![Value::from(word), Value::Int(n)])?;
        out.ack(input);
        Ok(())
    }
}

/// Counts each word of a sentence tuple (`word` field): what an
/// exactly-once count committer adds per tuple.
#[derive(Clone, Default)]
pub struct WordAgg;

impl Aggregate for WordAgg {
    fn update(&self, input: &Tuple) -> Option<(String, i64)> {
        Some((input.get_str("word")?.to_string(), 1))
    }
}

/// Exactly-once mode for a built-in topology: batches of `size` input
/// records, at most `window` in flight, committed to `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batches {
    pub state: StateKind,
    pub size: usize,
    pub window: u32,
}

/// Sizes for the word-count topology.
#[derive(Clone, Debug)]
pub struct WordCount {
    /// Sentences per second each spout task offers (None: unpaced).
    pub rate: Option<f64>,
    pub spouts: u32,
    pub splitters: u32,
    pub counters: u32,
    pub reliable: bool,
    /// Simulated time per word at the count bolt (None: the default).
    pub count_cost: Option<std::time::Duration>,
    /// Exactly-once batches instead of per-sentence tracking.
    pub batches: Option<Batches>,
}

impl Default for WordCount {
    fn default() -> Self {
        WordCount {
            rate: None,
            spouts: 2,
            splitters: 3,
            counters: 3,
            reliable: true,
            count_cost: None,
            batches: None,
        }
    }
}

impl WordCount {
    /// sentences -> split (shuffle) -> count (fields "word").
    pub fn build(
        &self,
        log: Arc<Vec<String>>,
        config: TopologyConfig,
    ) -> Result<Topology, TopologyError> {
        if let Some(batches) = self.batches {
            return self.build_batched(log, config, batches);
        }
        let mut b = TopologyBuilder::new();
        let mut spout = SentenceSpout::new(log, self.reliable);
        if let Some(r) = self.rate {
            spout = spout.paced(r);
        }
        b.set_spout("sentences", spout, self.spouts);
        b.set_bolt("split", SplitBolt, self.splitters)
            .shuffle_grouping("sentences");
        let count = b
            .set_bolt("count", CountBolt::default(), self.counters)
            .fields_grouping("split", &["word"]);
        if let Some(c) = self.count_cost {
            count.cost(c);
        }
        b.build("word-count", config)
    }
}

impl WordCount {
    /// sentences (batches) -> split (shuffle) -> count (fields "word",
    /// committing each batch's counts to state).
    fn build_batched(
        &self,
        log: Arc<Vec<String>>,
        config: TopologyConfig,
        batches: Batches,
    ) -> Result<Topology, TopologyError> {
        let source = LogBatches {
            log,
            size: batches.size,
            rate: self.rate.map(|r| r * f64::from(self.spouts.max(1))),
            field: "sentence",
        };
        let mut b = TopologyBuilder::new();
        b.set_batch_spout("sentences", source, self.spouts, batches.window);
        b.set_bolt("split", SplitBolt, self.splitters)
            .shuffle_grouping("sentences");
        let count = b
            .set_committer("count", WordAgg, batches.state, self.counters)
            .fields_grouping("split", &["word"]);
        if let Some(c) = self.count_cost {
            count.cost(c);
        }
        b.build("word-count", config)
    }
}

/// `n` sentences of 1 to 8 words drawn from a small vocabulary.
pub fn sentences(n: usize, seed: u64) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the", "cow", "jumped", "over", "moon", "an", "apple", "a", "day", "keeps", "doctor",
        "away", "four", "score", "and", "seven", "years", "ago", "snow", "white", "dwarfs", "i",
        "am", "at", "two", "with", "nature",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let len = rng.gen_range(1..=8);
            (0..len)
                .map(|_| *WORDS.choose(&mut rng).expect("non-empty"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Each word's exact count over `log`.
pub fn expected_counts(log: &[String]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for s in log {
        for w in s.split_whitespace() {
            *m.entry(w.to_string()).or_default() += 1;
        }
    }
    m
}

/// Maps a number to its key (`k<n mod keys>`), anchored on the input.
#[derive(Clone)]
pub struct BucketBolt {
    pub keys: u32,
}

impl Bolt for BucketBolt {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["key", "n"]);
    }

    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let text = input.get_str("number").unwrap_or_default();
        let n: i64 = text
            .parse()
            .map_err(|_| format!("not a number: {text:?}"))?;
        let key = format!("k{}", n.rem_euclid(i64::from(self.keys.max(1))));
        out.emit(&[input], vec![Value::from(key), Value::Int(n)])?;
        out.ack(input);
        Ok(())
    }
}

/// Adds each tuple's `n` to its `key`: what a sum committer adds.
#[derive(Clone, Default)]
pub struct SumAgg;

impl Aggregate for SumAgg {
    fn update(&self, input: &Tuple) -> Option<(String, i64)> {
        Some((input.get_str("key")?.to_string(), input.get_int("n")?))
    }
}

/// The exactly-once counter: numbers (batches) -> bucket (shuffle) -> sum
/// (fields "key", committing each batch's sums to state).
#[derive(Clone, Debug)]
pub struct Counter {
    /// Numbers a second the source offers (None: all at once).
    pub rate: Option<f64>,
    pub keys: u32,
    pub partitions: u32,
    pub buckets: u32,
    pub summers: u32,
    pub batches: Batches,
}

impl Counter {
    pub fn build(
        &self,
        log: Arc<Vec<String>>,
        config: TopologyConfig,
    ) -> Result<Topology, TopologyError> {
        let source = LogBatches {
            log,
            size: self.batches.size,
            rate: self.rate,
            field: "number",
        };
        let mut b = TopologyBuilder::new();
        b.set_batch_spout("numbers", source, self.partitions, self.batches.window);
        b.set_bolt("bucket", BucketBolt { keys: self.keys }, self.buckets)
            .shuffle_grouping("numbers");
        b.set_committer("sum", SumAgg, self.batches.state, self.summers)
            .fields_grouping("bucket", &["key"]);
        b.build("counter", config)
    }
}

/// `n` numbers from 1 to 1000.
pub fn numbers(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| rng.gen_range(1..=1000).to_string())
        .collect()
}

/// Each key's exact sum over `log` (see `BucketBolt`).
pub fn expected_sums(log: &[String], keys: u32) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for n in log.iter().filter_map(|s| s.parse::<i64>().ok()) {
        *m.entry(format!("k{}", n.rem_euclid(i64::from(keys.max(1)))))
            .or_default() += n;
    }
    m
}
