//! Exactly-once batches, as Trident makes them on Storm's primitives: a
//! coordinator spout numbers batches (txids) and commits them strictly in
//! order; an emitter bolt reads each batch from a transactional source;
//! committers apply each batch's sums to state stored with its txid, so a
//! replayed batch is never applied twice. Everything the coordinator and
//! the committers must not forget is saved in the ensemble under
//! `/transactional/<topology>/`.
//!
//! - `coordinator`: the txids, attempts, and the commit order;
//! - `source`, `emitter`: which tuples a batch holds;
//! - `committer`, `state`: the transactional and opaque rules.

pub mod committer;
pub mod coordinator;
pub mod emitter;
pub mod source;
pub mod state;

pub use committer::{Aggregate, Committer};
pub use source::{BatchSource, LogBatches};
pub use state::{committed, StateKind, Stored};

/// The state a batch topology commits when nothing goes wrong: `topology`
/// run in-process (`LocalCluster`, no faults) for `time` of simulated
/// time. What a faulty run must end with, too.
pub fn reference_state(
    topology: &super::Topology,
    seed: u64,
    time: std::time::Duration,
) -> Result<std::collections::BTreeMap<String, i64>, String> {
    let mut c = super::local::LocalCluster::start(topology, seed)?;
    c.run_until(time);
    Ok(committed(c.saved()))
}

use super::grouping::Grouping;
use super::topology::{BoltDeclarer, TopologyBuilder};

/// The coordinator's component id (a system component, like the acker).
pub const COORDINATOR: &str = "__coordinator";
/// Coordinator -> emitters and committers: start batch (txid, attempt).
pub const BATCH_STREAM: &str = "batch";
/// Coordinator -> committers: commit batch (txid, attempt).
pub const COMMIT_STREAM: &str = "commit";
/// Saved keys of the coordinator.
pub const CURRTX_KEY: &str = "coordinator/currtx";
pub const ATTEMPTS_KEY: &str = "coordinator/currattempts";

impl TopologyBuilder {
    /// An exactly-once source: the coordinator (one task, at most `window`
    /// batches in flight) and the emitter bolt `id`, one task per
    /// partition of `source`. Bolts subscribe to `id` as to any spout.
    pub fn set_batch_spout<S: BatchSource>(
        &mut self,
        id: &str,
        source: S,
        partitions: u32,
        window: u32,
    ) -> BoltDeclarer<'_> {
        let second = self.has_component(COORDINATOR);
        if !second {
            let coordinator = coordinator::Coordinator::new(source.clone(), window);
            self.set_system_spout(COORDINATOR, coordinator);
        }
        let d = self
            .set_bolt(id, emitter::BatchEmitter::new(source), partitions)
            .grouping(COORDINATOR, BATCH_STREAM, Grouping::All);
        if second {
            d.problem("a topology has one batch spout; this is a second".into())
        } else {
            d
        }
    }

    /// A committer bolt: sums per batch with `agg`, and commits the sums
    /// to `kind` state when the coordinator commits the batch. Subscribe
    /// it to its inputs with the returned declarer.
    pub fn set_committer<A: Aggregate>(
        &mut self,
        id: &str,
        agg: A,
        kind: StateKind,
        parallelism: u32,
    ) -> BoltDeclarer<'_> {
        self.set_bolt(id, Committer::new(agg, kind), parallelism)
            .grouping(COORDINATOR, BATCH_STREAM, Grouping::All)
            .grouping(COORDINATOR, COMMIT_STREAM, Grouping::All)
    }
}

#[cfg(test)]
mod tests;
