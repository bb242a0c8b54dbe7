//! What Storm's daemons tell the outside world (the simulation's history,
//! logs): the engine's events, Nimbus's leadership and writes, and
//! supervisors' workers.

use super::message::StormEvent;
use super::scheduler::Slot;

/// What a Nimbus did.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NimbusEvent {
    /// It holds the lowest leader-lock node and acts as leader from now.
    Leading { latch: String },
    /// It stopped acting as leader: `why` (session lost, disconnected).
    Stepped { why: String },
    /// It wrote a topology's assignment (fenced by its latch): the zxid of
    /// the write, or the error that refused it.
    Assigned {
        topology: String,
        latch: String,
        zxid: u64,
        error: Option<String>,
    },
    /// A request it handled as leader (submit, kill, rebalance): done, or
    /// refused with the error.
    Handled {
        request: String,
        topology: String,
        error: Option<String>,
    },
}

/// What a supervisor did.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SupervisorEvent {
    /// Registered under a session (a new ephemeral for each session).
    Registered {
        session: u64,
    },
    Launched {
        slot: Slot,
        topology: String,
        tasks: Vec<u32>,
    },
    Killed {
        slot: Slot,
        why: String,
    },
    /// A restarted supervisor found a worker of its assignment still
    /// running (started by its earlier life) and left it running.
    Adopted {
        slot: Slot,
        topology: String,
    },
}

pub trait StormObserver: Send + Sync + 'static {
    fn engine(&self, _worker: &Slot, _event: &StormEvent) {}
    fn nimbus(&self, _id: &str, _event: &NimbusEvent) {}
    fn supervisor(&self, _id: &str, _event: &SupervisorEvent) {}
}

/// An observer that only logs.
pub struct LogStorm;
impl StormObserver for LogStorm {
    fn nimbus(&self, id: &str, event: &NimbusEvent) {
        tracing::info!(nimbus = id, ?event, "nimbus");
    }
    fn supervisor(&self, id: &str, event: &SupervisorEvent) {
        tracing::info!(supervisor = id, ?event, "supervisor");
    }
}
