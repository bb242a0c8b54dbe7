//! What a user writes: spouts and bolts, the streams they declare, and the
//! context a task is opened with.

use super::collector::{BoltCollector, SpoutCollector};
use super::grouping::TaskId;
use super::tuple::{MsgId, Tuple, DEFAULT_STREAM};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A source of tuples. `next_tuple` is called whenever the spout may emit
/// (it is not called while `max_spout_pending` tuples are in flight, or
/// while a downstream queue is full). Storm never replays on its own: a
/// spout that wants a failed message again emits it again.
pub trait Spout: Send + 'static {
    fn declare_outputs(&self, out: &mut OutputDeclarer);
    fn open(&mut self, _ctx: &TaskContext) {}
    fn next_tuple(&mut self, out: &mut SpoutCollector) -> Result<(), TaskError>;
    /// The tree of the message emitted with `msg` was fully processed.
    fn ack(&mut self, _msg: MsgId) {}
    /// It failed or timed out.
    fn fail(&mut self, _msg: MsgId) {}
}

/// A processing step: `execute` is called once per input tuple (and per
/// tick tuple, if ticks are configured). In a reliable topology every
/// input must be acked or failed through the collector.
pub trait Bolt: Send + 'static {
    fn declare_outputs(&self, out: &mut OutputDeclarer);
    fn prepare(&mut self, _ctx: &TaskContext) {}
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError>;
}

/// An error from a task: the worker hosting it dies, as a Storm worker
/// does on an exception, and the error is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError(pub String);

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TaskError {}
impl From<String> for TaskError {
    fn from(s: String) -> Self {
        TaskError(s)
    }
}
impl From<&str> for TaskError {
    fn from(s: &str) -> Self {
        TaskError(s.to_string())
    }
}

/// A declared output stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamDecl {
    pub fields: Vec<String>,
    /// Only `emit_direct` may send on it, and only direct groupings read it.
    pub direct: bool,
}

/// Where a component declares its output streams.
#[derive(Clone, Debug, Default)]
pub struct OutputDeclarer {
    pub(crate) streams: BTreeMap<String, StreamDecl>,
    pub(crate) errors: Vec<String>,
}

impl OutputDeclarer {
    /// The default stream, with these fields.
    pub fn declare(&mut self, fields: &[&str]) {
        self.declare_stream(DEFAULT_STREAM, fields);
    }
    pub fn declare_stream(&mut self, stream: &str, fields: &[&str]) {
        self.add(stream, fields, false);
    }
    pub fn declare_direct_stream(&mut self, stream: &str, fields: &[&str]) {
        self.add(stream, fields, true);
    }

    fn add(&mut self, stream: &str, fields: &[&str], direct: bool) {
        if stream.is_empty() || stream.starts_with("__") {
            self.errors.push(format!(
                "stream id {stream:?} is empty or reserved (\"__\")"
            ));
        }
        if self.streams.contains_key(stream) {
            self.errors
                .push(format!("stream {stream:?} is declared twice"));
        }
        let mut seen = fields.to_vec();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            self.errors
                .push(format!("stream {stream:?} declares field {:?} twice", w[0]));
        }
        let fields = fields.iter().map(|f| f.to_string()).collect();
        self.streams
            .insert(stream.to_string(), StreamDecl { fields, direct });
    }
}

/// What a task knows about where it runs.
#[derive(Clone, Debug)]
pub struct TaskContext {
    pub topology: String,
    pub component: String,
    pub task: TaskId,
    /// All tasks of this component, ascending.
    pub component_tasks: Vec<TaskId>,
    /// The tasks in this task's worker, ascending.
    pub worker_tasks: Vec<TaskId>,
    /// A spout's position as it last committed it (`SpoutCollector::commit`)
    /// in an earlier life of the task, kept durably by the cluster.
    pub committed: Option<u64>,
    /// The topology's durable storage (`save` on a collector) as this
    /// task's worker found it when it started: key -> value.
    pub saved: Arc<BTreeMap<String, String>>,
}

impl TaskContext {
    /// This task's position among its component's tasks (0-based).
    pub fn index(&self) -> usize {
        self.component_tasks
            .iter()
            .position(|t| *t == self.task)
            .unwrap_or(0)
    }
}
