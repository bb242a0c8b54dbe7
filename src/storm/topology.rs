//! Building a topology: components, their streams and subscriptions, the
//! config, and the checks a topology passes before anything is deployed.

use super::component::{Bolt, OutputDeclarer, Spout, StreamDecl};
use super::grouping::{Grouping, TaskId};
use super::tuple::DEFAULT_STREAM;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub type SpoutFactory = Arc<dyn Fn() -> Box<dyn Spout> + Send + Sync>;
pub type BoltFactory = Arc<dyn Fn() -> Box<dyn Bolt> + Send + Sync>;

/// The component id of the acker tasks, as in Storm.
pub const ACKER: &str = "__acker";

/// Simulated CPU time per unit of work, unless a component sets its own.
pub const DEFAULT_COST: Duration = Duration::from_micros(20);
/// An acker's update is a map lookup and an XOR.
pub const ACKER_COST: Duration = Duration::from_micros(5);

/// What runs a component's tasks.
#[derive(Clone)]
pub enum Kind {
    Spout(SpoutFactory),
    Bolt(BoltFactory),
    /// Tracks tuple trees (system component).
    Acker,
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Spout(_) => "Spout",
            Kind::Bolt(_) => "Bolt",
            Kind::Acker => "Acker",
        })
    }
}

/// A bolt's subscription to one stream of one component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub source: String,
    pub stream: String,
    pub grouping: Grouping,
}

/// A spout or bolt as declared.
#[derive(Clone, Debug)]
pub struct Component {
    pub id: String,
    pub kind: Kind,
    pub parallelism: u32,
    pub streams: BTreeMap<String, StreamDecl>,
    pub inputs: Vec<Input>,
    /// Spouts: at most this many tracked messages in flight per task.
    pub max_spout_pending: Option<u32>,
    /// Bolts: a tick tuple this often.
    pub tick_every: Option<Duration>,
    /// Simulated CPU time per tuple (or per `next_tuple` that emits):
    /// what makes a bolt slow in a scenario.
    pub cost: Duration,
    /// Task ids, ascending; fixed for the topology's life.
    pub tasks: Vec<TaskId>,
    declare_errors: Vec<String>,
    /// Added by the engine (the batch coordinator), so its id may be
    /// reserved.
    pub(crate) system: bool,
}

/// Topology-wide settings (Storm's `topology.*` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Worker processes (`topology.workers`).
    pub workers: u32,
    /// Acker tasks; `None` is one per worker, Storm's default; 0 turns
    /// tracking off (unreliable mode: spouts' messages are acked at once).
    pub ackers: Option<u32>,
    /// `topology.message.timeout.secs`: a tree not complete by then fails
    /// (the spout sees the fail between one and two timeouts).
    pub message_timeout: Duration,
    /// `topology.max.spout.pending`, per spout task; per-spout settings win.
    pub max_spout_pending: Option<u32>,
    /// `topology.tick.tuple.freq.secs` for every bolt without its own.
    pub tick_every: Option<Duration>,
    /// Capacity of each executor's receive queue: a full queue holds back
    /// the spouts (backpressure), nothing is dropped.
    pub queue_capacity: usize,
    /// The ensemble the cluster keeps its state in (`storm.zookeeper.servers`
    /// as a connect string: `host:port,host:port[/chroot]`).
    pub zookeeper: String,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            workers: 1,
            ackers: None,
            message_timeout: Duration::from_secs(30),
            max_spout_pending: None,
            tick_every: None,
            queue_capacity: 1024,
            zookeeper: "127.0.0.1:2181".into(),
        }
    }
}

impl TopologyConfig {
    /// The number of acker tasks this config gives.
    pub fn acker_count(&self) -> u32 {
        self.ackers.unwrap_or(self.workers)
    }
}

/// Declares a topology, as Storm's `TopologyBuilder` does. Mistakes are
/// collected and reported together by `build`.
#[derive(Default)]
pub struct TopologyBuilder {
    components: Vec<Component>,
}

impl TopologyBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A spout with `parallelism` tasks; each task runs its own copy.
    pub fn set_spout<S: Spout + Clone + Sync>(
        &mut self,
        id: &str,
        spout: S,
        parallelism: u32,
    ) -> SpoutDeclarer<'_> {
        let mut out = OutputDeclarer::default();
        spout.declare_outputs(&mut out);
        let factory: SpoutFactory = Arc::new(move || Box::new(spout.clone()));
        let c = self.add(id, Kind::Spout(factory), parallelism, out);
        SpoutDeclarer { c }
    }

    /// A bolt with `parallelism` tasks; subscribe it with the returned
    /// declarer's groupings.
    pub fn set_bolt<B: Bolt + Clone + Sync>(
        &mut self,
        id: &str,
        bolt: B,
        parallelism: u32,
    ) -> BoltDeclarer<'_> {
        let mut out = OutputDeclarer::default();
        bolt.declare_outputs(&mut out);
        let factory: BoltFactory = Arc::new(move || Box::new(bolt.clone()));
        let c = self.add(id, Kind::Bolt(factory), parallelism, out);
        BoltDeclarer { c }
    }

    fn add(
        &mut self,
        id: &str,
        kind: Kind,
        parallelism: u32,
        out: OutputDeclarer,
    ) -> &mut Component {
        self.components.push(Component {
            id: id.to_string(),
            kind,
            parallelism,
            streams: out.streams,
            inputs: Vec::new(),
            max_spout_pending: None,
            tick_every: None,
            cost: DEFAULT_COST,
            tasks: Vec::new(),
            declare_errors: out.errors,
            system: false,
        });
        self.components.last_mut().expect("just pushed")
    }

    pub(crate) fn has_component(&self, id: &str) -> bool {
        self.components.iter().any(|c| c.id == id)
    }

    /// A spout the engine adds, with one task.
    pub(crate) fn set_system_spout<S: Spout + Clone + Sync>(&mut self, id: &str, spout: S) {
        self.set_spout(id, spout, 1);
        self.components.last_mut().expect("just added").system = true;
    }

    /// Check everything and number the tasks; nothing is half-built.
    pub fn build(self, name: &str, config: TopologyConfig) -> Result<Topology, TopologyError> {
        let problems = super::validate::problems(name, &self.components, &config);
        if !problems.is_empty() {
            return Err(TopologyError {
                topology: name.to_string(),
                problems,
            });
        }
        Ok(Topology::assemble(name, self.components, config))
    }
}

/// Settings for a spout.
pub struct SpoutDeclarer<'a> {
    c: &'a mut Component,
}

impl SpoutDeclarer<'_> {
    pub fn max_spout_pending(self, n: u32) -> Self {
        self.c.max_spout_pending = Some(n);
        self
    }
    /// Simulated CPU time per `next_tuple` that emits.
    pub fn cost(self, cost: Duration) -> Self {
        self.c.cost = cost;
        self
    }
}

/// Subscriptions and settings for a bolt.
pub struct BoltDeclarer<'a> {
    c: &'a mut Component,
}

impl BoltDeclarer<'_> {
    /// Subscribe to `stream` of `source` with `grouping`.
    pub fn grouping(self, source: &str, stream: &str, grouping: Grouping) -> Self {
        self.c.inputs.push(Input {
            source: source.to_string(),
            stream: stream.to_string(),
            grouping,
        });
        self
    }
    pub fn shuffle_grouping(self, source: &str) -> Self {
        self.grouping(source, DEFAULT_STREAM, Grouping::Shuffle)
    }
    pub fn fields_grouping(self, source: &str, fields: &[&str]) -> Self {
        let f = fields.iter().map(|s| s.to_string()).collect();
        self.grouping(source, DEFAULT_STREAM, Grouping::Fields(f))
    }
    pub fn partial_key_grouping(self, source: &str, fields: &[&str]) -> Self {
        let f = fields.iter().map(|s| s.to_string()).collect();
        self.grouping(source, DEFAULT_STREAM, Grouping::PartialKey(f))
    }
    pub fn all_grouping(self, source: &str) -> Self {
        self.grouping(source, DEFAULT_STREAM, Grouping::All)
    }
    pub fn global_grouping(self, source: &str) -> Self {
        self.grouping(source, DEFAULT_STREAM, Grouping::Global)
    }
    pub fn none_grouping(self, source: &str) -> Self {
        self.grouping(source, DEFAULT_STREAM, Grouping::None)
    }
    pub fn direct_grouping(self, source: &str, stream: &str) -> Self {
        self.grouping(source, stream, Grouping::Direct)
    }
    pub fn local_or_shuffle_grouping(self, source: &str) -> Self {
        self.grouping(source, DEFAULT_STREAM, Grouping::LocalOrShuffle)
    }
    /// A mistake found while declaring, reported by `build`.
    pub(crate) fn problem(self, message: String) -> Self {
        self.c.declare_errors.push(message);
        self
    }
    /// Simulated CPU time per tuple: a slow bolt.
    pub fn cost(self, cost: Duration) -> Self {
        self.c.cost = cost;
        self
    }
    /// A tick tuple every `every` (Storm's per-component tick frequency).
    pub fn tick_every(self, every: Duration) -> Self {
        self.c.tick_every = Some(every);
        self
    }
}

/// A checked topology with its tasks numbered: components in id order,
/// tasks from 1 upward, the ackers included as component `__acker`.
#[derive(Clone, Debug)]
pub struct Topology {
    pub name: String,
    pub config: TopologyConfig,
    pub components: BTreeMap<String, Component>,
}

impl Topology {
    fn assemble(name: &str, list: Vec<Component>, config: TopologyConfig) -> Topology {
        let mut components: BTreeMap<String, Component> =
            list.into_iter().map(|c| (c.id.clone(), c)).collect();
        let ackers = config.acker_count();
        if ackers > 0 {
            components.insert(ACKER.to_string(), acker_component(ackers));
        }
        let mut next: TaskId = 1;
        for c in components.values_mut() {
            c.tasks = (next..next + c.parallelism).collect();
            next += c.parallelism;
            if c.tick_every.is_none() && matches!(c.kind, Kind::Bolt(_)) {
                c.tick_every = config.tick_every;
            }
            if c.max_spout_pending.is_none() && matches!(c.kind, Kind::Spout(_)) {
                c.max_spout_pending = config.max_spout_pending;
            }
        }
        Topology {
            name: name.to_string(),
            config,
            components,
        }
    }

    /// Every task id with its component, ascending.
    pub fn tasks(&self) -> impl Iterator<Item = (TaskId, &Component)> {
        self.components
            .values()
            .flat_map(|c| c.tasks.iter().map(move |t| (*t, c)))
    }

    pub fn task_count(&self) -> u32 {
        self.components.values().map(|c| c.parallelism).sum()
    }

    /// The component that owns `task`.
    pub fn component_of(&self, task: TaskId) -> Option<&Component> {
        self.components.values().find(|c| c.tasks.contains(&task))
    }

    /// The acker tasks, ascending (empty in unreliable mode).
    pub fn acker_tasks(&self) -> &[TaskId] {
        self.components.get(ACKER).map_or(&[], |c| &c.tasks)
    }

    /// Who subscribes to `stream` of `source`: (bolt, grouping), by bolt id.
    pub fn consumers<'a>(
        &'a self,
        source: &'a str,
        stream: &'a str,
    ) -> impl Iterator<Item = (&'a Component, &'a Grouping)> + 'a {
        self.components.values().flat_map(move |c| {
            c.inputs
                .iter()
                .filter(move |i| i.source == source && i.stream == stream)
                .map(move |i| (c, &i.grouping))
        })
    }
}

fn acker_component(parallelism: u32) -> Component {
    Component {
        id: ACKER.to_string(),
        kind: Kind::Acker,
        parallelism,
        streams: BTreeMap::new(),
        inputs: Vec::new(),
        max_spout_pending: None,
        tick_every: None,
        cost: ACKER_COST,
        tasks: Vec::new(),
        declare_errors: Vec::new(),
        system: true,
    }
}

impl Component {
    pub(crate) fn declare_errors(&self) -> &[String] {
        &self.declare_errors
    }
}

/// One thing wrong with a topology, naming the component it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The component, or "" for the topology itself.
    pub component: String,
    pub message: String,
}

/// Why a topology was refused: every problem found, not just the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyError {
    pub topology: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "topology {:?} is invalid:", self.topology)?;
        for p in &self.problems {
            if p.component.is_empty() {
                write!(f, "\n  {}", p.message)?;
            } else {
                write!(f, "\n  component {:?}: {}", p.component, p.message)?;
            }
        }
        Ok(())
    }
}
impl std::error::Error for TopologyError {}
