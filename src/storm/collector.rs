//! Output collectors: how spouts and bolts emit, ack and fail. They route
//! each tuple through the stream's groupings and keep the tuple-tree
//! bookkeeping (root ids, edge ids, XORs) the acker relies on.

use super::acker::acker_for;
use super::component::StreamDecl;
use super::grouping::{Router, TaskId, Value};
use super::message::{Envelope, StormEvent, TaskMsg};
use super::pending::Pending;
use super::tuple::{MsgId, Tuple, TupleMsg, DEFAULT_STREAM};
use rand::rngs::StdRng;
use rand::RngCore;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A misuse of `emit`: the task's code is wrong, not the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitError(pub String);

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for EmitError {}
impl From<EmitError> for super::component::TaskError {
    fn from(e: EmitError) -> Self {
        super::component::TaskError(e.0)
    }
}

/// An output stream of one task: its declaration and one router per
/// subscribing bolt.
pub(crate) struct OutStream {
    pub name: Arc<str>,
    pub decl: StreamDecl,
    pub routers: Vec<Router>,
}

/// What both collectors share: routing, ids, and what to send.
pub(crate) struct Emitter {
    pub task: TaskId,
    pub streams: BTreeMap<String, OutStream>,
    pub ackers: Vec<TaskId>,
    pub rng: StdRng,
    pub out: Vec<Envelope>,
    pub events: Vec<StormEvent>,
    /// Tracking is on: ackers exist.
    pub reliable: bool,
    /// The executor's virtual time (since its worker started).
    pub now: std::time::Duration,
}

impl Emitter {
    fn save(&mut self, key: &str, value: String) -> Result<(), EmitError> {
        super::layout::check_saved_key(key)
            .map_err(|e| EmitError(format!("task {}: {e}", self.task)))?;
        let (task, key) = (self.task, key.to_string());
        self.events.push(StormEvent::Saved { task, key, value });
        Ok(())
    }

    /// A fresh nonzero 64-bit id.
    fn id(&mut self) -> u64 {
        loop {
            let x = self.rng.next_u64();
            if x != 0 {
                return x;
            }
        }
    }

    /// The tasks a tuple on `stream` goes to, checking the emit is legal.
    fn targets(
        &mut self,
        stream: &str,
        values: &[Value],
        direct: Option<TaskId>,
    ) -> Result<(Arc<str>, Vec<TaskId>), EmitError> {
        let task = self.task;
        let s = self.streams.get_mut(stream).ok_or_else(|| {
            EmitError(format!("task {task} emits on undeclared stream {stream:?}"))
        })?;
        if values.len() != s.decl.fields.len() {
            return Err(EmitError(format!(
                "task {task} emits {} values on stream {stream:?}, which declares {} fields {:?}",
                values.len(),
                s.decl.fields.len(),
                s.decl.fields
            )));
        }
        let mut to = Vec::new();
        match direct {
            None if s.decl.direct => {
                return Err(EmitError(format!(
                    "task {task} emits on direct stream {stream:?} without naming a task (use emit_direct)"
                )))
            }
            None => {
                for r in &mut s.routers {
                    to.extend(r.route(values).map_err(EmitError)?);
                }
            }
            Some(_) if !s.decl.direct => {
                return Err(EmitError(format!(
                    "task {task} calls emit_direct on stream {stream:?}, which is not declared direct"
                )))
            }
            Some(t) => {
                if !s.routers.iter().any(|r| r.direct(t).is_ok()) {
                    return Err(EmitError(format!(
                        "task {task} calls emit_direct to task {t}, which does not subscribe to stream {stream:?}"
                    )));
                }
                to.push(t);
            }
        }
        Ok((s.name.clone(), to))
    }

    fn send(&mut self, to: TaskId, msg: TaskMsg) {
        self.out.push(Envelope { to, msg });
    }

    fn send_tuple(
        &mut self,
        to: TaskId,
        stream: &Arc<str>,
        values: Vec<Value>,
        anchors: Vec<(u64, u64)>,
    ) {
        let uid = self.rng.next_u64();
        self.events.push(StormEvent::Sent {
            from: self.task,
            to,
            uid,
            stream: stream.clone(),
            roots: anchors.iter().map(|(r, _)| *r).collect(),
        });
        let msg = TupleMsg {
            source_task: self.task,
            stream: stream.clone(),
            values,
            anchors,
            uid,
        };
        self.send(to, TaskMsg::Tuple(msg));
    }
}

/// A spout's collector: `emit_*` with a message id makes a tracked tuple
/// tree; without one the tuple is fire-and-forget.
pub struct SpoutCollector<'a> {
    pub(crate) em: &'a mut Emitter,
    pub(crate) pending: &'a mut Pending,
    /// Messages to ack at once (tracked ids in unreliable mode).
    pub(crate) ack_now: &'a mut Vec<MsgId>,
}

impl SpoutCollector<'_> {
    /// Time since this task's worker started (simulated in a simulation):
    /// what a spout paces its source by.
    pub fn now(&self) -> std::time::Duration {
        self.em.now
    }
    /// Commit this task's position in its source: a later life of the
    /// task gets it back in `TaskContext::committed` (the cluster keeps it
    /// in the ensemble, as storm-kafka kept its offsets in ZooKeeper).
    pub fn commit(&mut self, offset: u64) {
        let task = self.em.task;
        self.em.events.push(StormEvent::Committed { task, offset });
    }

    /// Save `value` under `key` (`dir/name`) in the topology's durable
    /// storage: what this step sends leaves the worker only once it is
    /// saved, and later lives of every task find it in
    /// `TaskContext::saved`.
    pub fn save(&mut self, key: &str, value: String) -> Result<(), EmitError> {
        self.em.save(key, value)
    }

    /// Emit on the default stream, untracked.
    pub fn emit(&mut self, values: Vec<Value>) -> Result<Vec<TaskId>, EmitError> {
        self.emit_to(DEFAULT_STREAM, None, values, None)
    }
    /// Emit on the default stream, tracked as `msg`: `ack(msg)` or
    /// `fail(msg)` follows.
    pub fn emit_with_id(
        &mut self,
        values: Vec<Value>,
        msg: MsgId,
    ) -> Result<Vec<TaskId>, EmitError> {
        self.emit_to(DEFAULT_STREAM, None, values, Some(msg))
    }
    pub fn emit_stream(
        &mut self,
        stream: &str,
        values: Vec<Value>,
        msg: Option<MsgId>,
    ) -> Result<Vec<TaskId>, EmitError> {
        self.emit_to(stream, None, values, msg)
    }
    pub fn emit_direct(
        &mut self,
        task: TaskId,
        stream: &str,
        values: Vec<Value>,
        msg: Option<MsgId>,
    ) -> Result<(), EmitError> {
        self.emit_to(stream, Some(task), values, msg).map(|_| ())
    }

    fn emit_to(
        &mut self,
        stream: &str,
        direct: Option<TaskId>,
        values: Vec<Value>,
        msg: Option<MsgId>,
    ) -> Result<Vec<TaskId>, EmitError> {
        let (name, to) = self.em.targets(stream, &values, direct)?;
        let tracked = msg.filter(|_| self.em.reliable);
        let root = tracked.map(|_| self.em.id());
        let mut xor = 0;
        for &t in &to {
            let anchors = match root {
                Some(r) => {
                    let e = self.em.id();
                    xor ^= e;
                    vec![(r, e)]
                }
                None => Vec::new(),
            };
            self.em.send_tuple(t, &name, values.clone(), anchors);
        }
        let task = self.em.task;
        self.em
            .events
            .push(StormEvent::SpoutEmitted { task, msg, root });
        match (root, msg) {
            (Some(root), Some(m)) => {
                self.pending.insert(root, m);
                // After the tuples: their acks may reach the acker first.
                let acker = acker_for(root, &self.em.ackers).expect("reliable means ackers");
                self.em.send(
                    acker,
                    TaskMsg::AckInit {
                        root,
                        val: xor,
                        spout_task: task,
                    },
                );
            }
            (None, Some(m)) => self.ack_now.push(m),
            _ => {}
        }
        Ok(to)
    }
}

/// A received tuple not yet acked or failed: the XOR of the edges of the
/// children anchored on it.
#[derive(Debug, Default)]
pub(crate) struct Open {
    pub ack_val: u64,
}

/// A bolt's collector: emit anchored on inputs (or on none), ack, fail,
/// and write to the bolt's external store.
pub struct BoltCollector<'a> {
    pub(crate) em: &'a mut Emitter,
    pub(crate) open: &'a mut BTreeMap<u64, Open>,
}

impl BoltCollector<'_> {
    /// Emit on the default stream, anchored on `anchors` (none: untracked).
    pub fn emit(
        &mut self,
        anchors: &[&Tuple],
        values: Vec<Value>,
    ) -> Result<Vec<TaskId>, EmitError> {
        self.emit_to(DEFAULT_STREAM, None, anchors, values)
    }
    pub fn emit_stream(
        &mut self,
        stream: &str,
        anchors: &[&Tuple],
        values: Vec<Value>,
    ) -> Result<Vec<TaskId>, EmitError> {
        self.emit_to(stream, None, anchors, values)
    }
    pub fn emit_direct(
        &mut self,
        task: TaskId,
        stream: &str,
        anchors: &[&Tuple],
        values: Vec<Value>,
    ) -> Result<(), EmitError> {
        self.emit_to(stream, Some(task), anchors, values)
            .map(|_| ())
    }

    fn emit_to(
        &mut self,
        stream: &str,
        direct: Option<TaskId>,
        anchors: &[&Tuple],
        values: Vec<Value>,
    ) -> Result<Vec<TaskId>, EmitError> {
        for a in anchors.iter().filter(|a| !a.msg.anchors.is_empty()) {
            if !self.open.contains_key(&a.id) {
                return Err(EmitError(format!(
                    "task {} anchors on a tuple it has already acked or failed",
                    self.em.task
                )));
            }
        }
        let (name, to) = self.em.targets(stream, &values, direct)?;
        for &t in &to {
            let mut edges: BTreeMap<u64, u64> = BTreeMap::new();
            for a in anchors.iter().filter(|a| !a.msg.anchors.is_empty()) {
                // One edge per (target, anchor), XORed into each of its roots.
                let e = self.em.id();
                if !crate::bugs::on(crate::bugs::Bug::StormEdgeNotXored) {
                    self.open.get_mut(&a.id).expect("checked above").ack_val ^= e;
                }
                for (root, _) in &a.msg.anchors {
                    *edges.entry(*root).or_default() ^= e;
                }
            }
            self.em
                .send_tuple(t, &name, values.clone(), edges.into_iter().collect());
        }
        Ok(to)
    }

    /// Done with `input`: its trees no longer wait on it. Acking twice (or
    /// after a fail) does nothing.
    pub fn ack(&mut self, input: &Tuple) {
        let Some(open) = self.open.remove(&input.id) else {
            return;
        };
        for (root, edge) in &input.msg.anchors {
            let acker = acker_for(*root, &self.em.ackers).expect("anchored means ackers");
            self.em.send(
                acker,
                TaskMsg::Ack {
                    root: *root,
                    val: edge ^ open.ack_val,
                },
            );
        }
        let (task, uid) = (self.em.task, input.msg.uid);
        let roots = input.roots().collect();
        self.em
            .events
            .push(StormEvent::BoltAcked { task, uid, roots });
    }

    /// `input` failed: its trees fail at once, and their spouts see it.
    pub fn fail(&mut self, input: &Tuple) {
        if self.open.remove(&input.id).is_none() {
            return;
        }
        for (root, _) in &input.msg.anchors {
            let acker = acker_for(*root, &self.em.ackers).expect("anchored means ackers");
            self.em.send(acker, TaskMsg::Fail { root: *root });
        }
        let (task, uid) = (self.em.task, input.msg.uid);
        let roots = input.roots().collect();
        self.em
            .events
            .push(StormEvent::BoltFailed { task, uid, roots });
    }

    /// `SpoutCollector::save`, for a bolt.
    pub fn save(&mut self, key: &str, value: String) -> Result<(), EmitError> {
        self.em.save(key, value)
    }

    /// Add `delta` to `key` in the external store (a sink's result, which
    /// the checkers read back; it outlives workers).
    pub fn add(&mut self, key: &str, delta: i64) {
        let task = self.em.task;
        let key = key.to_string();
        self.em
            .events
            .push(StormEvent::StoreAdd { task, key, delta });
    }
}
