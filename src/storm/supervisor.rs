//! A supervisor: registers its slots in the ensemble (a new ephemeral for
//! every session), and keeps its slots' workers as the assignments say:
//! launches what is assigned, restarts what died, kills what moved away.

use super::layout::{self, Assignment, Blobs, SupervisorInfo};
use super::observe::{StormObserver, SupervisorEvent};
use super::scheduler::Slot;
use super::worker_node::WorkerSpec;
use crate::client::{Client, ClientConfig, ClientEvent, ConnState, Zk};
use crate::proto::{CreateMode, ErrorCode};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Starts and stops worker processes (the simulation's nodes, or tasks).
pub trait Launcher: Send + Sync + 'static {
    /// (Re)start the worker of `spec.slot`.
    fn launch(&self, spec: WorkerSpec);
    fn kill(&self, slot: &Slot);
    /// Its process is running.
    fn running(&self, slot: &Slot) -> bool;
    /// The topology of the worker running in `slot`, if the launcher can
    /// tell: a restarted supervisor adopts it instead of starting it again.
    fn topology_in(&self, _slot: &Slot) -> Option<String> {
        None
    }
}

#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    pub id: String,
    pub zookeeper: Vec<SocketAddr>,
    /// Port -> where that slot's worker listens.
    pub slots: BTreeMap<u16, SocketAddr>,
    /// How often it checks its workers even without a watch firing.
    pub monitor_every: Duration,
    pub session_timeout_ms: u64,
    pub beat_every: Duration,
    pub seed: u64,
}

/// What runs in a slot: (topology, tasks).
type Want = (String, Vec<u32>);

pub async fn run_supervisor(
    cfg: SupervisorConfig,
    blobs: Blobs,
    launcher: Arc<dyn Launcher>,
    obs: Arc<dyn StormObserver>,
) {
    let mut running: BTreeMap<u16, Want> = BTreeMap::new();
    let mut launches = 0u64;
    loop {
        let Some((zk, mut events)) = connect(&cfg).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        if register(&zk, &cfg).await.is_err() {
            continue;
        }
        obs.supervisor(
            &cfg.id,
            &SupervisorEvent::Registered {
                session: zk.session_id(),
            },
        );
        loop {
            if let Ok(want) = desired(&zk, &cfg).await {
                for port in cfg.slots.keys() {
                    let slot = Slot {
                        supervisor: cfg.id.clone(),
                        port: *port,
                    };
                    let w = want.get(port);
                    let r = running.get(port);
                    let dead = r.is_some() && !launcher.running(&slot);
                    let moved = w != r && !crate::bugs::on(crate::bugs::Bug::StormZombieWorker);
                    if r.is_some() && (moved || dead) {
                        launcher.kill(&slot);
                        let why = if dead {
                            "its process died"
                        } else {
                            "its assignment changed"
                        };
                        obs.supervisor(
                            &cfg.id,
                            &SupervisorEvent::Killed {
                                slot: slot.clone(),
                                why: why.into(),
                            },
                        );
                        running.remove(port);
                    }
                    // A worker an earlier life of this supervisor started goes
                    // on (as Storm's workers outlive their supervisor); it
                    // leaves by itself if its tasks moved meanwhile.
                    if let (Some(w), None) = (w, running.get(port)) {
                        if launcher.topology_in(&slot).as_ref() == Some(&w.0) {
                            let ev = SupervisorEvent::Adopted {
                                slot: slot.clone(),
                                topology: w.0.clone(),
                            };
                            obs.supervisor(&cfg.id, &ev);
                            running.insert(*port, w.clone());
                            continue;
                        }
                    }
                    if let (Some(w), None) = (w, running.get(port)) {
                        // (With the zombie bug a moved worker still holds its port.)
                        let Some(topology) = blobs.get(&w.0) else {
                            continue;
                        };
                        launches += 1;
                        let spec = WorkerSpec {
                            topology,
                            slot: slot.clone(),
                            listen: cfg.slots[port],
                            zookeeper: cfg.zookeeper.clone(),
                            seed: worker_seed(cfg.seed, zk.session_id(), launches, *port),
                            beat_every: cfg.beat_every,
                            session_timeout_ms: cfg.session_timeout_ms,
                        };
                        launcher.launch(spec);
                        let ev = SupervisorEvent::Launched {
                            slot,
                            topology: w.0.clone(),
                            tasks: w.1.clone(),
                        };
                        obs.supervisor(&cfg.id, &ev);
                        running.insert(*port, w.clone());
                    }
                }
            }
            if !wait(&mut events, cfg.monitor_every).await {
                break;
            }
        }
    }
}

/// A worker's seed: new for every launch in every life of the supervisor
/// (its session tells its lives apart), so no two lives of a worker draw
/// the same tuple and tree ids (STORM-17's shape).
fn worker_seed(seed: u64, session: u64, launch: u64, port: u16) -> u64 {
    let mut z = seed ^ session.rotate_left(17) ^ launch.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z ^= u64::from(port) << 48;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn connect(cfg: &SupervisorConfig) -> Option<(Client, mpsc::UnboundedReceiver<ClientEvent>)> {
    let mut c = ClientConfig::new(cfg.zookeeper.clone());
    c.session_timeout_ms = cfg.session_timeout_ms;
    c.seed = cfg.seed;
    Client::connect(c).await.ok()
}

/// A new session's own ephemeral: one left by an older session is deleted
/// and created again, never updated in place (STORM-1941's shape).
async fn register(zk: &Client, cfg: &SupervisorConfig) -> Result<(), ErrorCode> {
    for dir in layout::DIRS {
        let _ = zk.create(dir, b"", CreateMode::Persistent).await;
    }
    let path = format!("{}/{}", layout::SUPERVISORS, cfg.id);
    let info = SupervisorInfo {
        id: cfg.id.clone(),
        slots: cfg.slots.clone(),
    };
    let data = layout::encode(&info);
    if let Some(stat) = zk.exists(&path, false).await? {
        if stat.ephemeral_owner != zk.session_id() {
            let _ = zk.delete(&path, -1).await;
        }
    }
    match zk.create(&path, &data, CreateMode::Ephemeral).await {
        Ok(_) | Err(ErrorCode::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// This supervisor's slots as the assignments have them, watching them.
async fn desired(zk: &Client, cfg: &SupervisorConfig) -> Result<BTreeMap<u16, Want>, ErrorCode> {
    let mut out = BTreeMap::new();
    for topo in zk.get_children(layout::ASSIGNMENTS, true).await? {
        let Ok((data, _)) = zk.get_data(&layout::assignment_path(&topo), true).await else {
            continue;
        };
        let Ok(a) = layout::decode::<Assignment>(&data) else {
            continue;
        };
        for port in cfg.slots.keys() {
            let slot = Slot {
                supervisor: cfg.id.clone(),
                port: *port,
            };
            let tasks = a.tasks_of(&slot);
            if !tasks.is_empty() {
                out.insert(*port, (a.topology.clone(), tasks));
            }
        }
    }
    Ok(out)
}

/// Wait for a watch, a state change or the monitor period; false when the
/// session is gone.
async fn wait(events: &mut mpsc::UnboundedReceiver<ClientEvent>, period: Duration) -> bool {
    tokio::select! {
        // `biased`: deterministic runs (see server::run).
        biased;
        ev = events.recv() => !matches!(ev, None | Some(ClientEvent::State(ConnState::Expired | ConnState::Closed))),
        _ = tokio::time::sleep(period) => true,
    }
}
