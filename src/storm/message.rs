//! What tasks send each other, and what the engine reports for the history.

use super::grouping::TaskId;
use super::tuple::{MsgId, TupleMsg};
use std::sync::Arc;

/// A message for one task.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaskMsg {
    Tuple(TupleMsg),
    /// Spout -> acker: a new tree, the XOR of its first edges.
    AckInit {
        root: u64,
        val: u64,
        spout_task: TaskId,
    },
    /// Bolt -> acker: this tuple's edge XOR the edges of its children.
    Ack {
        root: u64,
        val: u64,
    },
    Fail {
        root: u64,
    },
    /// Acker -> spout: the tree is complete.
    Acked {
        root: u64,
    },
    /// Acker -> spout: the tree failed.
    Failed {
        root: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    pub to: TaskId,
    pub msg: TaskMsg,
}

/// What the engine did, for the history and the storm checkers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StormEvent {
    /// An executor started (fresh state: a restarted spout has nothing
    /// pending).
    Started { task: TaskId },
    /// A spout emitted a message: tracked under `root`, or untracked.
    SpoutEmitted {
        task: TaskId,
        msg: Option<MsgId>,
        root: Option<u64>,
    },
    /// A tuple left `from` for `to`, in the trees of `roots`.
    Sent {
        from: TaskId,
        to: TaskId,
        uid: u64,
        stream: Arc<str>,
        roots: Vec<u64>,
    },
    /// A bolt task acked (or failed) a tuple it received.
    BoltAcked {
        task: TaskId,
        uid: u64,
        roots: Vec<u64>,
    },
    BoltFailed {
        task: TaskId,
        uid: u64,
        roots: Vec<u64>,
    },
    /// The spout's ack callback ran for `msg` (rooted at `root`, or
    /// untracked in unreliable mode).
    SpoutAcked {
        task: TaskId,
        msg: MsgId,
        root: Option<u64>,
    },
    /// The spout's fail callback ran for `msg`.
    SpoutFailed {
        task: TaskId,
        msg: MsgId,
        root: u64,
        timed_out: bool,
    },
    /// A task's code returned an error: its worker dies.
    TaskError { task: TaskId, error: String },
    /// A spout task committed its position in its source (everything
    /// before it is done): a restarted task resumes there.
    Committed { task: TaskId, offset: u64 },
    /// The worker process ended (recorded by whoever saw it end).
    Stopped { why: String },
    /// The worker's queues filled up (on) or drained (off): it asks the
    /// other workers' spouts to hold back.
    Backpressure { on: bool },
    /// A sink added `delta` to `key` in the external store (which
    /// outlives workers: a replay adds again, a crash loses nothing added).
    StoreAdd {
        task: TaskId,
        key: String,
        delta: i64,
    },
    /// A task saved `value` under `key` in the topology's durable storage
    /// (`/transactional/<topology>/<key>` in the ensemble). The worker's
    /// messages of the same step leave only once it is durable.
    Saved {
        task: TaskId,
        key: String,
        value: String,
    },
}
