//! A worker: the executors of some of a topology's tasks, run on virtual
//! clocks. Sans-IO: the driver delivers envelopes, calls `step` with the
//! time, and sends what comes back to the workers that host the targets.

use super::acker::Acker;
use super::collector::Emitter;
use super::component::{TaskContext, TaskError};
use super::executor::{Catalog, Executor, Queued, Run};
use super::grouping::{Router, TaskId};
use super::message::{Envelope, StormEvent};
use super::pending::Pending;
use super::topology::{Component, Kind, Topology};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The worker runs its executors in slices of at least this much virtual
/// time: coarse enough to batch, fine enough for millisecond timeouts.
pub const QUANTUM: Duration = Duration::from_millis(1);

/// Acker buckets, one message timeout each (Storm's).
const ACKER_BUCKETS: usize = 3;

/// What a step produced.
#[derive(Debug, Default)]
pub struct Ready {
    /// Envelopes for tasks in other workers.
    pub sends: Vec<Envelope>,
    pub events: Vec<StormEvent>,
    /// Call `step` again at this time (or when an envelope arrives).
    pub next_wake: Option<Duration>,
    /// A task's code failed: the worker is dead and must be restarted.
    pub died: Option<(TaskId, TaskError)>,
}

/// What the cluster keeps durably for a topology's tasks across their
/// lives: spout positions (`SpoutCollector::commit`) and saved entries
/// (`save` on either collector).
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub offsets: BTreeMap<TaskId, u64>,
    pub saved: Arc<BTreeMap<String, String>>,
}

impl Durable {
    /// Take in what a step reported committing or saving.
    pub fn absorb(&mut self, events: &[StormEvent]) {
        for e in events {
            match e {
                StormEvent::Committed { task, offset } => {
                    self.offsets.insert(*task, *offset);
                }
                StormEvent::Saved { key, value, .. } => {
                    Arc::make_mut(&mut self.saved).insert(key.clone(), value.clone());
                }
                _ => {}
            }
        }
    }
}

struct Names {
    component: BTreeMap<TaskId, Arc<str>>,
    fields: BTreeMap<(Arc<str>, String), Arc<[String]>>,
}

impl Catalog for Names {
    fn source(&self, task: TaskId, stream: &str) -> (Arc<str>, Arc<[String]>) {
        let comp = self
            .component
            .get(&task)
            .cloned()
            .unwrap_or_else(|| Arc::from("?"));
        let fields = self
            .fields
            .get(&(comp.clone(), stream.to_string()))
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()));
        (comp, fields)
    }
}

pub struct Worker {
    names: Names,
    executors: BTreeMap<TaskId, Executor>,
    capacity: usize,
    /// Some other worker's queues are full.
    throttled: bool,
    last_step: Duration,
    dead: bool,
    /// `Started` events, reported by the first step.
    started: Vec<StormEvent>,
}

impl Worker {
    /// Start the executors of `tasks` (opening spouts, preparing bolts).
    pub fn new(
        topology: &Topology,
        tasks: &[TaskId],
        seed: u64,
        now: Duration,
    ) -> Result<Worker, String> {
        Worker::resume(topology, tasks, seed, now, &Durable::default())
    }

    /// `new`, with what earlier lives of the tasks left durably, handed to
    /// them in their context.
    pub fn resume(
        topology: &Topology,
        tasks: &[TaskId],
        seed: u64,
        now: Duration,
        durable: &Durable,
    ) -> Result<Worker, String> {
        let mut tasks = tasks.to_vec();
        tasks.sort_unstable();
        tasks.dedup();
        let mut executors = BTreeMap::new();
        for &task in &tasks {
            let c = topology
                .component_of(task)
                .ok_or_else(|| format!("task {task} is not in topology {:?}", topology.name))?;
            let start = (mix(seed, task), now);
            let ex = executor(topology, c, task, &tasks, start, durable)?;
            executors.insert(task, ex);
        }
        Ok(Worker {
            names: names(topology),
            executors,
            capacity: topology.config.queue_capacity,
            throttled: false,
            last_step: now,
            dead: false,
            started: tasks
                .iter()
                .map(|&task| StormEvent::Started { task })
                .collect(),
        })
    }

    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.executors.keys().copied()
    }

    /// An envelope arrived for one of this worker's tasks. Envelopes for a
    /// task it does not host (moved elsewhere) are dropped: their trees time
    /// out and are replayed.
    pub fn deliver(&mut self, env: Envelope) -> bool {
        match self.executors.get_mut(&env.to) {
            Some(ex) => {
                ex.queue.push_back(Queued::Msg(env.msg));
                true
            }
            None => false,
        }
    }

    /// Some executor's receive queue is at capacity: spouts everywhere
    /// should hold back (Storm's backpressure).
    pub fn congested(&self) -> bool {
        self.executors
            .values()
            .any(|e| e.queue.len() >= self.capacity)
    }

    /// Another worker is congested (or no longer is). Returns whether that
    /// changed: if so, step the worker now (its spouts may go on).
    pub fn set_throttled(&mut self, throttled: bool) -> bool {
        std::mem::replace(&mut self.throttled, throttled) != throttled
    }

    /// Run every executor up to `now`.
    pub fn step(&mut self, now: Duration) -> Ready {
        let mut ready = Ready {
            events: std::mem::take(&mut self.started),
            ..Ready::default()
        };
        if self.dead {
            return ready;
        }
        let start = self.last_step.max(now.saturating_sub(QUANTUM));
        self.last_step = now;
        for ex in self.executors.values_mut() {
            while let (Some(t), Some(every)) = (ex.next_tick, ex.tick_every) {
                if t > now {
                    break;
                }
                ex.queue.push_back(Queued::Tick);
                ex.next_tick = Some(t + every);
            }
        }
        if let Err(died) = self.run_until(start, now, &mut ready) {
            ready.events.push(StormEvent::TaskError {
                task: died.0,
                error: died.1 .0.clone(),
            });
            ready.died = Some(died);
            self.dead = true;
            return ready;
        }
        ready.next_wake = self.next_wake(now);
        ready
    }

    fn run_until(
        &mut self,
        start: Duration,
        now: Duration,
        ready: &mut Ready,
    ) -> Result<(), (TaskId, TaskError)> {
        let tasks: Vec<TaskId> = self.executors.keys().copied().collect();
        loop {
            let mut progressed = false;
            // Whether any queue is full, known until a unit of work changes
            // the queues (a scan per task was most of a step's cost).
            let mut full: Option<bool> = None;
            for &task in &tasks {
                let throttled = self.throttled || *full.get_or_insert_with(|| self.congested());
                let ex = self.executors.get_mut(&task).expect("own task");
                if !ex.has_work(throttled) {
                    continue;
                }
                ex.clock = ex.clock.max(start);
                if ex.clock > now {
                    continue;
                }
                ex.em.now = ex.clock;
                let took = ex.work(throttled, &self.names).map_err(|e| (task, e))?;
                ex.clock += took.max(Duration::from_nanos(1));
                progressed = true;
                full = None;
                ready.events.append(&mut ex.em.events);
                let out = std::mem::take(&mut ex.em.out);
                for env in out {
                    if let Some(to) = self.executors.get_mut(&env.to) {
                        to.queue.push_back(Queued::Msg(env.msg));
                    } else {
                        ready.sends.push(env);
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn next_wake(&self, now: Duration) -> Option<Duration> {
        let throttled = self.throttled || self.congested();
        let work = self
            .executors
            .values()
            .filter(|e| e.has_work(throttled))
            .map(|e| e.clock.max(now + QUANTUM))
            .min();
        let tick = self.executors.values().filter_map(|e| e.next_tick).min();
        match (work, tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn names(topology: &Topology) -> Names {
    let mut component = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for c in topology.components.values() {
        let id: Arc<str> = Arc::from(c.id.as_str());
        for t in &c.tasks {
            component.insert(*t, id.clone());
        }
        for (s, d) in &c.streams {
            fields.insert((id.clone(), s.clone()), Arc::from(d.fields.clone()));
        }
    }
    Names { component, fields }
}

fn executor(
    topology: &Topology,
    c: &Component,
    task: TaskId,
    worker_tasks: &[TaskId],
    (seed, now): (u64, Duration),
    durable: &Durable,
) -> Result<Executor, String> {
    let ctx = TaskContext {
        topology: topology.name.clone(),
        component: c.id.clone(),
        task,
        component_tasks: c.tasks.clone(),
        worker_tasks: worker_tasks.to_vec(),
        committed: durable.offsets.get(&task).copied(),
        saved: durable.saved.clone(),
    };
    let timeout = topology.config.message_timeout;
    let (run, tick_every) = match &c.kind {
        Kind::Spout(f) => {
            let mut spout = f();
            spout.open(&ctx);
            let run = Run::Spout {
                spout,
                pending: Pending::default(),
                max_pending: c.max_spout_pending,
                ack_now: Vec::new(),
                expired: BTreeMap::new(),
            };
            (run, Some(timeout))
        }
        Kind::Bolt(f) => {
            let mut bolt = f();
            bolt.prepare(&ctx);
            let run = Run::Bolt {
                bolt,
                open: BTreeMap::new(),
                next_id: 0,
            };
            (run, c.tick_every)
        }
        Kind::Acker => (Run::Acker(Acker::new(ACKER_BUCKETS)), Some(timeout)),
    };
    let mut streams = BTreeMap::new();
    for (name, decl) in &c.streams {
        let mut routers = Vec::new();
        for (bolt, grouping) in topology.consumers(&c.id, name) {
            let seed = mix(seed, bolt.tasks[0]);
            let r = Router::new(
                grouping.clone(),
                &bolt.tasks,
                &decl.fields,
                worker_tasks,
                seed,
            )
            .map_err(|e| format!("{} -> {}: {e}", c.id, bolt.id))?;
            routers.push(r);
        }
        let out = super::collector::OutStream {
            name: Arc::from(name.as_str()),
            decl: decl.clone(),
            routers,
        };
        streams.insert(name.clone(), out);
    }
    let em = Emitter {
        task,
        streams,
        ackers: topology.acker_tasks().to_vec(),
        rng: StdRng::seed_from_u64(seed),
        out: Vec::new(),
        events: Vec::new(),
        reliable: !topology.acker_tasks().is_empty(),
        now,
    };
    Ok(Executor {
        task,
        run,
        em,
        queue: Default::default(),
        clock: now,
        cost: c.cost,
        tick_every,
        next_tick: tick_every.map(|e| now + e),
    })
}

/// A per-task seed from the worker's (splitmix64 of both).
fn mix(seed: u64, task: TaskId) -> u64 {
    let mut z = seed ^ (u64::from(task)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
