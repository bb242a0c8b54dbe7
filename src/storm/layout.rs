//! The cluster's state in the ensemble, laid out as Storm lays it out in
//! ZooKeeper (see docs/storm.md's table), with JSON in the znodes so zkCli
//! users can read it.

use super::grouping::TaskId;
use super::scheduler::{Placement, Slot};
use super::topology::Topology;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const ROOT: &str = "/storm";
/// Nimbus election (`recipes::LeaderLatch`): `latch-<session>-<seq>`
/// ephemeral-sequential children; the lowest leads, each watches its
/// predecessor.
pub const LEADER_LOCK: &str = "/storm/leader-lock";
/// The current leader's id, written when it gains leadership.
pub const LEADER_INFO: &str = "/storm/leader-info";
/// `<nimbus id>`, ephemeral, one per running Nimbus.
pub const NIMBUSES: &str = "/storm/nimbuses";
/// `<supervisor id>`, ephemeral: `SupervisorInfo`.
pub const SUPERVISORS: &str = "/storm/supervisors";
/// `<topology>`: `StormBase`.
pub const STORMS: &str = "/storm/storms";
/// `<topology>`: `Assignment`, written by the leader only (fenced).
pub const ASSIGNMENTS: &str = "/storm/assignments";
/// `<topology>/<supervisor>-<port>`: `WorkerBeat`.
pub const WORKERBEATS: &str = "/storm/workerbeats";

/// `<topology>/<task>`: a spout task's committed position in its source
/// (as storm-kafka kept its offsets in ZooKeeper).
pub const OFFSETS: &str = "/storm/offsets";

/// `<topology>/<dir>/<name>`: what tasks saved (`save` on a collector):
/// the batch coordinator's `coordinator/currtx` and
/// `coordinator/currattempts`, committed state under `state/`.
pub const TRANSACTIONAL: &str = "/transactional";

/// The persistent directories, parents first.
pub const DIRS: &[&str] = &[
    ROOT,
    LEADER_LOCK,
    NIMBUSES,
    SUPERVISORS,
    STORMS,
    ASSIGNMENTS,
    WORKERBEATS,
    OFFSETS,
];

pub fn storm_path(topology: &str) -> String {
    format!("{STORMS}/{topology}")
}
pub fn assignment_path(topology: &str) -> String {
    format!("{ASSIGNMENTS}/{topology}")
}
pub fn beats_dir(topology: &str) -> String {
    format!("{WORKERBEATS}/{topology}")
}
pub fn offsets_dir(topology: &str) -> String {
    format!("{OFFSETS}/{topology}")
}
pub fn offset_path(topology: &str, task: TaskId) -> String {
    format!("{OFFSETS}/{topology}/{task}")
}
pub fn transactional_dir(topology: &str) -> String {
    format!("{TRANSACTIONAL}/{topology}")
}
/// A saved key (`dir/name`) of `topology` as a znode path.
pub fn saved_path(topology: &str, key: &str) -> String {
    format!("{TRANSACTIONAL}/{topology}/{key}")
}
/// Whether `key` can be saved: `dir/name`, each a plain znode name.
pub fn check_saved_key(key: &str) -> Result<(), String> {
    let ok = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\0');
    match key.split_once('/') {
        Some((d, n)) if ok(d) && ok(n) && !n.contains('/') => Ok(()),
        _ => Err(format!(
            "saved key {key:?} must be \"dir/name\" (two non-empty znode names)"
        )),
    }
}
pub fn beat_path(topology: &str, slot: &Slot) -> String {
    format!("{WORKERBEATS}/{topology}/{}-{}", slot.supervisor, slot.port)
}

/// A supervisor's registration: its slots and where their workers listen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorInfo {
    pub id: String,
    pub slots: BTreeMap<u16, SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Killed,
}

/// A topology's status (`/storm/storms/<topology>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormBase {
    pub name: String,
    pub status: Status,
    pub workers: u32,
}

/// Where a topology's tasks run (`/storm/assignments/<topology>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub topology: String,
    pub placement: Placement,
    /// Where each used slot's worker listens.
    pub addrs: Vec<(Slot, SocketAddr)>,
    /// The Nimbus that wrote it, and its leader-lock node (the fence).
    pub nimbus: String,
    pub latch: String,
}

impl Assignment {
    pub fn addr(&self, slot: &Slot) -> Option<SocketAddr> {
        self.addrs.iter().find(|(s, _)| s == slot).map(|(_, a)| *a)
    }
    pub fn tasks_of(&self, slot: &Slot) -> Vec<TaskId> {
        self.placement
            .iter()
            .filter(|(_, s)| *s == slot)
            .map(|(t, _)| *t)
            .collect()
    }
}

/// A worker's heartbeat: a counter that changes with every beat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerBeat {
    pub beat: u64,
    pub tasks: Vec<TaskId>,
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("layout types encode")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Topology code, by name: what Storm's blobstore holds (the jar). Every
/// node of a run shares one; the ensemble holds only the cluster state.
#[derive(Clone, Default)]
pub struct Blobs(Arc<Mutex<BTreeMap<String, Topology>>>);

impl Blobs {
    pub fn put(&self, t: Topology) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(t.name.clone(), t);
    }
    pub fn get(&self, name: &str) -> Option<Topology> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The topologies held, by name.
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}
