//! One task's executor: its spout, bolt or acker, its receive queue, and
//! the virtual clock that spends `cost` per unit of work.

use super::acker::Acker;
use super::collector::{BoltCollector, Emitter, Open, SpoutCollector};
use super::component::{Bolt, Spout, TaskError};
use super::grouping::TaskId;
use super::message::{StormEvent, TaskMsg};
use super::pending::Pending;
use super::tuple::{MsgId, Tuple, TupleMsg, SYSTEM, TICK_STREAM};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How long a spout that emitted nothing waits before it is asked again
/// (Storm's sleep wait strategy).
pub const SPOUT_WAIT: Duration = Duration::from_millis(1);

pub(crate) enum Queued {
    Msg(TaskMsg),
    Tick,
}

pub(crate) enum Run {
    Spout {
        spout: Box<dyn Spout>,
        pending: Pending,
        max_pending: Option<u32>,
        ack_now: Vec<MsgId>,
        /// Timed-out messages, kept only by an injected bug.
        expired: BTreeMap<u64, MsgId>,
    },
    Bolt {
        bolt: Box<dyn Bolt>,
        open: BTreeMap<u64, Open>,
        next_id: u64,
    },
    Acker(Acker),
}

/// Looks up where a received tuple came from and its field names.
pub(crate) trait Catalog {
    fn source(&self, task: TaskId, stream: &str) -> (Arc<str>, Arc<[String]>);
}

pub(crate) struct Executor {
    pub task: TaskId,
    pub run: Run,
    pub em: Emitter,
    pub queue: VecDeque<Queued>,
    /// Virtual time this executor is busy until.
    pub clock: Duration,
    pub cost: Duration,
    pub tick_every: Option<Duration>,
    pub next_tick: Option<Duration>,
}

impl Executor {
    /// A spout may be asked for more: nothing queued, under its pending
    /// limit, and nothing downstream full (`throttled`).
    pub fn spout_ready(&self, throttled: bool) -> bool {
        match &self.run {
            Run::Spout {
                pending,
                max_pending,
                ..
            } => {
                !throttled
                    && self.queue.is_empty()
                    && (max_pending.is_none_or(|m| pending.len() < m as usize)
                        || crate::bugs::on(crate::bugs::Bug::StormPendingLimitIgnored))
            }
            _ => false,
        }
    }

    pub fn has_work(&self, throttled: bool) -> bool {
        !self.queue.is_empty() || self.spout_ready(throttled)
    }

    /// Do one unit of work; returns the virtual time it took.
    pub fn work(&mut self, throttled: bool, cat: &dyn Catalog) -> Result<Duration, TaskError> {
        if let Some(q) = self.queue.pop_front() {
            self.handle(q, cat)?;
            return Ok(self.cost);
        }
        if !self.spout_ready(throttled) {
            return Ok(Duration::ZERO);
        }
        let Run::Spout {
            spout,
            pending,
            ack_now,
            ..
        } = &mut self.run
        else {
            return Ok(Duration::ZERO);
        };
        let sent = self.em.events.len();
        let mut out = SpoutCollector {
            em: &mut self.em,
            pending,
            ack_now,
        };
        spout.next_tuple(&mut out)?;
        for msg in std::mem::take(ack_now) {
            spout.ack(msg);
            let task = self.task;
            self.em.events.push(StormEvent::SpoutAcked {
                task,
                msg,
                root: None,
            });
        }
        let emitted = self.em.events[sent..]
            .iter()
            .any(|e| matches!(e, StormEvent::SpoutEmitted { .. }));
        Ok(if emitted { self.cost } else { SPOUT_WAIT })
    }

    fn handle(&mut self, q: Queued, cat: &dyn Catalog) -> Result<(), TaskError> {
        let task = self.task;
        match (&mut self.run, q) {
            (
                Run::Spout {
                    pending,
                    spout,
                    expired,
                    ..
                },
                Queued::Tick,
            ) => {
                for (root, msg) in pending.rotate() {
                    if crate::bugs::on(crate::bugs::Bug::StormLateAckAfterTimeout) {
                        expired.insert(root, msg);
                    }
                    if crate::bugs::on(crate::bugs::Bug::StormTimeoutFailDropped) {
                        continue;
                    }
                    spout.fail(msg);
                    let ev = StormEvent::SpoutFailed {
                        task,
                        msg,
                        root,
                        timed_out: true,
                    };
                    self.em.events.push(ev);
                }
            }
            (
                Run::Spout {
                    pending,
                    spout,
                    expired,
                    ..
                },
                Queued::Msg(TaskMsg::Acked { root }),
            ) => {
                if let Some(msg) = pending.remove(root).or_else(|| expired.remove(&root)) {
                    spout.ack(msg);
                    let root = Some(root);
                    self.em
                        .events
                        .push(StormEvent::SpoutAcked { task, msg, root });
                }
            }
            (Run::Spout { pending, spout, .. }, Queued::Msg(TaskMsg::Failed { root })) => {
                if let Some(msg) = pending.remove(root) {
                    spout.fail(msg);
                    let ev = StormEvent::SpoutFailed {
                        task,
                        msg,
                        root,
                        timed_out: false,
                    };
                    self.em.events.push(ev);
                }
            }
            (Run::Acker(acker), Queued::Tick) => {
                acker.rotate();
            }
            (Run::Acker(acker), Queued::Msg(m)) => {
                let done = match m {
                    TaskMsg::AckInit {
                        root,
                        val,
                        spout_task,
                    } => acker.init(root, val, spout_task),
                    TaskMsg::Ack { root, val } => acker.ack(root, val),
                    TaskMsg::Fail { root } => acker.fail(root),
                    _ => None,
                };
                if let Some(d) = done {
                    let msg = if d.acked {
                        TaskMsg::Acked { root: d.root }
                    } else {
                        TaskMsg::Failed { root: d.root }
                    };
                    self.em.out.push(super::message::Envelope {
                        to: d.spout_task,
                        msg,
                    });
                }
            }
            (
                Run::Bolt {
                    bolt,
                    open,
                    next_id,
                },
                q,
            ) => {
                let msg = match q {
                    Queued::Msg(TaskMsg::Tuple(m)) => m,
                    Queued::Tick => tick_msg(),
                    Queued::Msg(_) => return Ok(()),
                };
                *next_id += 1;
                let (source_component, fields) = if msg.stream.as_ref() == TICK_STREAM {
                    (Arc::from(SYSTEM), Arc::from(Vec::new()))
                } else {
                    cat.source(msg.source_task, &msg.stream)
                };
                if !msg.anchors.is_empty() {
                    open.insert(*next_id, Open::default());
                }
                let tuple = Tuple {
                    id: *next_id,
                    source_component,
                    fields,
                    msg,
                };
                let mut out = BoltCollector {
                    em: &mut self.em,
                    open,
                };
                bolt.execute(&tuple, &mut out)?;
            }
            // A message of the wrong kind for this task: ignore it.
            _ => {}
        }
        Ok(())
    }
}

fn tick_msg() -> TupleMsg {
    TupleMsg {
        source_task: 0,
        stream: Arc::from(TICK_STREAM),
        values: Vec::new(),
        anchors: Vec::new(),
        uid: 0,
    }
}
