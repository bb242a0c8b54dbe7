//! The batch coordinator (Trident's master batch coordinator): a spout
//! with one task that starts batches, each a tuple tree rooted at its
//! `batch` tuple, and commits them strictly in txid order. Its current txid
//! and the attempt of each active batch are saved in the ensemble
//! (`coordinator/currtx`, `coordinator/currattempts`) before any batch or
//! commit they cover leaves its worker.

use super::source::BatchSource;
use super::{ATTEMPTS_KEY, BATCH_STREAM, COMMIT_STREAM, CURRTX_KEY};
use crate::storm::collector::SpoutCollector;
use crate::storm::component::{OutputDeclarer, Spout, TaskContext, TaskError};
use crate::storm::tuple::MsgId;
use crate::storm::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Failed (or a later batch failed): to be emitted again.
    Replay,
    Processing,
    Processed,
    Committing,
}

#[derive(Clone, Copy, Debug)]
struct Active {
    attempt: u32,
    phase: Phase,
}

#[derive(Clone)]
pub struct Coordinator<S: BatchSource> {
    source: S,
    /// Batches in flight at once (Trident's max spout pending).
    window: usize,
    /// The first txid not yet committed.
    currtx: u64,
    /// The next txid to start.
    next: u64,
    active: BTreeMap<u64, Active>,
    /// Attempts of the active batches, as saved.
    attempts: BTreeMap<u64, u32>,
    /// What is saved lags what is known.
    dirty: bool,
}

/// A message id names a txid, an attempt, and batch or commit.
fn msg_id(txid: u64, attempt: u32, commit: bool) -> MsgId {
    txid << 21 | u64::from(attempt & 0xf_ffff) << 1 | u64::from(commit)
}
fn decode(msg: MsgId) -> (u64, u32, bool) {
    (msg >> 21, ((msg >> 1) & 0xf_ffff) as u32, msg & 1 == 1)
}

impl<S: BatchSource> Coordinator<S> {
    pub fn new(source: S, window: u32) -> Self {
        Coordinator {
            source,
            window: window.max(1) as usize,
            currtx: 1,
            next: 1,
            active: BTreeMap::new(),
            attempts: BTreeMap::new(),
            dirty: false,
        }
    }

    fn save(&mut self, out: &mut SpoutCollector) -> Result<(), TaskError> {
        let attempts = serde_json::to_string(&self.attempts).expect("a map of numbers");
        out.save(CURRTX_KEY, self.currtx.to_string())?;
        out.save(ATTEMPTS_KEY, attempts)?;
        self.dirty = false;
        Ok(())
    }

    /// The batch to commit now: the oldest, once processed (with the
    /// out-of-order bug, any processed one).
    fn to_commit(&self) -> Option<u64> {
        if self.active.values().any(|a| a.phase == Phase::Committing) {
            return None;
        }
        if crate::bugs::on(crate::bugs::Bug::StormCommitOutOfOrder) {
            let mut done = self
                .active
                .iter()
                .filter(|(_, a)| a.phase == Phase::Processed);
            return done.next_back().map(|(t, _)| *t);
        }
        let (&t, a) = self.active.first_key_value()?;
        (t == self.currtx && a.phase == Phase::Processed).then_some(t)
    }

    /// The batch to emit now: a replay, or a new one if the window and the
    /// source allow.
    fn to_start(&self, now: std::time::Duration) -> Option<u64> {
        if let Some((&t, _)) = self.active.iter().find(|(_, a)| a.phase == Phase::Replay) {
            return Some(t);
        }
        let room = self.active.len() < self.window;
        // A batch an earlier life started had its input then: a replay
        // does not wait for it to arrive again (the source's clock starts
        // with each life).
        let started = self.attempts.contains_key(&self.next);
        let ready = started || self.source.ready(self.next, now);
        (room && self.source.exists(self.next) && ready).then_some(self.next)
    }

    fn emit(
        out: &mut SpoutCollector,
        stream: &str,
        txid: u64,
        attempt: u32,
    ) -> Result<(), TaskError> {
        let values = vec![Value::Int(txid as i64), Value::Int(i64::from(attempt))];
        let msg = msg_id(txid, attempt, stream == COMMIT_STREAM);
        out.emit_stream(stream, values, Some(msg))?;
        Ok(())
    }
}

impl<S: BatchSource> Spout for Coordinator<S> {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare_stream(BATCH_STREAM, &["txid", "attempt"]);
        out.declare_stream(COMMIT_STREAM, &["txid", "attempt"]);
    }

    fn open(&mut self, ctx: &TaskContext) {
        let saved = |k: &str| ctx.saved.get(k).map(String::as_str);
        self.currtx = saved(CURRTX_KEY).and_then(|s| s.parse().ok()).unwrap_or(1);
        self.attempts = saved(ATTEMPTS_KEY)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        self.attempts.retain(|t, _| *t >= self.currtx);
        self.next = self.currtx;
    }

    fn next_tuple(&mut self, out: &mut SpoutCollector) -> Result<(), TaskError> {
        if self.dirty {
            self.save(out)?;
        }
        if let Some(t) = self.to_commit() {
            let a = self.active.get_mut(&t).expect("active");
            a.phase = Phase::Committing;
            return Self::emit(out, COMMIT_STREAM, t, a.attempt);
        }
        let Some(t) = self.to_start(out.now()) else {
            return Ok(());
        };
        // A new life never reuses an attempt an earlier one may have sent.
        let attempt = self.attempts.get(&t).map_or(0, |a| a + 1);
        self.attempts.insert(t, attempt);
        let phase = Phase::Processing;
        self.active.insert(t, Active { attempt, phase });
        self.next = self.next.max(t + 1);
        self.save(out)?;
        Self::emit(out, BATCH_STREAM, t, attempt)
    }

    fn ack(&mut self, msg: MsgId) {
        let (t, attempt, commit) = decode(msg);
        let Some(a) = self.active.get_mut(&t).filter(|a| a.attempt == attempt) else {
            return; // an earlier attempt's tree, overtaken by a replay
        };
        match (a.phase, commit) {
            (Phase::Processing, false) => a.phase = Phase::Processed,
            (Phase::Committing, true) => {
                self.active.remove(&t);
                self.attempts.remove(&t);
                self.currtx = self.currtx.max(t + 1);
                self.dirty = true;
            }
            _ => {}
        }
    }

    /// A batch (or its commit) failed: it and every later active batch are
    /// emitted again, each as a new attempt of the same txid.
    fn fail(&mut self, msg: MsgId) {
        let (t, attempt, _) = decode(msg);
        if self.active.get(&t).is_none_or(|a| a.attempt != attempt) {
            return;
        }
        for (_, a) in self.active.range_mut(t..) {
            a.phase = Phase::Replay;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip() {
        for (t, a, c) in [(1, 0, false), (7, 3, true), (1 << 40, 0xf_ffff, true)] {
            assert_eq!(decode(msg_id(t, a, c)), (t, a, c));
        }
    }
}
