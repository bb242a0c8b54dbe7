//! A committer: a bolt that sums what each batch adds to each key and,
//! when the coordinator commits the batch, applies the sums to its state
//! under the batch's txid (`state::apply`), saving each key in the
//! ensemble before the commit is acked.
//!
//! A batch is its tree: every tuple of a batch descends from the batch's
//! `batch` tuple, which reaches every committer task too. So a task sums
//! by root, and learns from that `batch` tuple which txid and attempt the
//! root is. A task acks a batch's data only once it holds the batch's
//! `batch` tuple: data that comes first waits. So a batch completes only
//! if one life of each task saw its `batch` tuple and all its data; a
//! commit for an attempt this life never saw (it restarted since) fails,
//! and the batch is replayed.

use super::state::{apply, state_key, StateKind, Stored};
use super::{BATCH_STREAM, COMMIT_STREAM, COORDINATOR};
use crate::storm::collector::BoltCollector;
use crate::storm::component::{Bolt, OutputDeclarer, TaskContext, TaskError};
use crate::storm::Tuple;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a tuple adds, and to which key.
pub trait Aggregate: Clone + Send + Sync + 'static {
    /// None: the tuple adds nothing.
    fn update(&self, input: &Tuple) -> Option<(String, i64)>;
}

#[derive(Clone)]
pub struct Committer<A: Aggregate> {
    agg: A,
    kind: StateKind,
    saved: Arc<BTreeMap<String, String>>,
    /// Keys this life has written (newer than `saved`).
    mine: BTreeMap<String, Stored>,
    /// Sums per batch root, per key.
    partials: BTreeMap<u64, BTreeMap<String, i64>>,
    /// (txid, attempt) -> the root of that attempt's tree.
    markers: BTreeMap<(u64, u32), u64>,
    /// Data whose `batch` tuple has not come, with the commits seen when
    /// it came.
    waiting: BTreeMap<u64, (u64, Vec<Tuple>)>,
    commits: u64,
}

impl<A: Aggregate> Committer<A> {
    pub fn new(agg: A, kind: StateKind) -> Self {
        Committer {
            agg,
            kind,
            saved: Arc::default(),
            mine: BTreeMap::new(),
            partials: BTreeMap::new(),
            markers: BTreeMap::new(),
            waiting: BTreeMap::new(),
            commits: 0,
        }
    }

    fn add(&mut self, root: u64, input: &Tuple, out: &mut BoltCollector) {
        if let Some((key, delta)) = self.agg.update(input) {
            *self
                .partials
                .entry(root)
                .or_default()
                .entry(key)
                .or_default() += delta;
        }
        out.ack(input);
    }

    fn marker(&mut self, batch: (u64, u32), root: u64, input: &Tuple, out: &mut BoltCollector) {
        self.markers.insert(batch, root);
        out.ack(input);
        for t in self.waiting.remove(&root).map(|w| w.1).unwrap_or_default() {
            self.add(root, &t, out);
        }
    }

    /// Data that waited past two commits for its `batch` tuple belongs to
    /// an attempt that is over: fail it (the replay comes with a new root).
    fn expire_waiting(&mut self, out: &mut BoltCollector) {
        let old: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, (at, _))| at + 2 <= self.commits)
            .map(|(r, _)| *r)
            .collect();
        for r in old {
            for t in self.waiting.remove(&r).map(|w| w.1).unwrap_or_default() {
                out.fail(&t);
            }
        }
    }

    fn stored(&self, key: &str) -> Result<Option<Stored>, TaskError> {
        if let Some(s) = self.mine.get(key) {
            return Ok(Some(*s));
        }
        match self.saved.get(&state_key(key)) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| TaskError(format!("state of {key:?} is unreadable: {e}"))),
        }
    }

    fn commit(
        &mut self,
        (txid, attempt): (u64, u32),
        input: &Tuple,
        out: &mut BoltCollector,
    ) -> Result<(), TaskError> {
        let Some(&root) = self.markers.get(&(txid, attempt)) else {
            out.fail(input);
            return Ok(());
        };
        for (key, delta) in self.partials.remove(&root).unwrap_or_default() {
            if let Some(new) = apply(self.kind, self.stored(&key)?, txid, delta)? {
                let text = serde_json::to_string(&new).expect("numbers");
                out.save(&state_key(&key), text)?;
                self.mine.insert(key, new);
            }
        }
        out.ack(input);
        // Batches up to this one are done; a replay of one comes as a new
        // attempt with a new root.
        let done: Vec<(u64, u32)> = self
            .markers
            .range(..=(txid, u32::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            if let Some(r) = self.markers.remove(&k) {
                self.partials.remove(&r);
            }
        }
        self.commits += 1;
        self.expire_waiting(out);
        Ok(())
    }
}

fn batch_of(input: &Tuple) -> Result<(u64, u32), TaskError> {
    let txid = input
        .get_int("txid")
        .ok_or("a coordinator tuple without a txid")?;
    let attempt = input
        .get_int("attempt")
        .ok_or("a coordinator tuple without an attempt")?;
    Ok((txid as u64, attempt as u32))
}

impl<A: Aggregate> Bolt for Committer<A> {
    fn declare_outputs(&self, _out: &mut OutputDeclarer) {}

    fn prepare(&mut self, ctx: &TaskContext) {
        self.saved = ctx.saved.clone();
    }

    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        if input.is_tick() {
            return Ok(());
        }
        let root = input
            .roots()
            .next()
            .ok_or("a committer got an untracked tuple (batches need ackers)")?;
        if input.source_component() == COORDINATOR {
            let batch = batch_of(input)?;
            match input.stream() {
                BATCH_STREAM => self.marker(batch, root, input, out),
                COMMIT_STREAM => self.commit(batch, input, out)?,
                s => return Err(format!("unexpected coordinator stream {s:?}").into()),
            }
            return Ok(());
        }
        // Its `batch` tuple is here: one of the markers is its root.
        if self.markers.values().any(|r| *r == root) {
            self.add(root, input, out);
        } else {
            let commits = self.commits;
            let w = self.waiting.entry(root).or_insert((commits, Vec::new()));
            w.1.push(input.clone());
        }
        Ok(())
    }
}
