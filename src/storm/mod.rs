//! The Storm half (issue 7): a stream topology engine whose cluster state
//! lives in the ensemble. Protocol cores are sans-IO, like `zab`.
//!
//! - `topology`, `validate`: building a topology and checking it;
//! - `component`, `tuple`, `collector`: what users write against;
//! - `grouping`: which of a bolt's tasks get each tuple;
//! - `acker`, `pending`: tuple-tree tracking and the spout's timeouts;
//! - `executor`, `worker`: running tasks on virtual clocks (sans-IO);
//! - `local`: an in-process driver of several workers (tests, the
//!   fault-free reference run).

pub mod acker;
pub mod batch;
pub mod builtin;
pub mod collector;
pub mod component;
pub mod executor;
pub mod grouping;
pub mod layout;
pub mod local;
pub mod message;
pub mod nimbus;
pub mod observe;
pub mod pending;
pub mod saved;
pub mod scheduler;
pub mod supervisor;
pub mod topology;
pub mod tuple;
mod validate;
pub mod worker;
pub mod worker_node;

pub use collector::{BoltCollector, EmitError, SpoutCollector};
pub use component::{Bolt, OutputDeclarer, Spout, TaskContext, TaskError};
pub use grouping::{Grouping, TaskId, Value};
pub use message::StormEvent;
pub use topology::{Topology, TopologyBuilder, TopologyConfig, TopologyError};
pub use tuple::{MsgId, Tuple};
pub use validate::check_connect_string;
