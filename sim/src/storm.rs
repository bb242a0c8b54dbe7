//! The Storm half of a simulated cluster: Nimbus nodes, supervisor
//! machines, and a node per worker slot (a worker is its own process, so
//! killing it is separate from killing its supervisor; a machine's
//! supervisor and slots are cut off together).

use crate::history::{Event, History};
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zkstorm::client::{Client, ClientConfig, Zk};
use zkstorm::net::{read_frame, write_frame};
use zkstorm::storm::batch::{committed, CURRTX_KEY};
use zkstorm::storm::layout::Blobs;
use zkstorm::storm::message::StormEvent;
use zkstorm::storm::nimbus::{run_nimbus, NimbusConfig, NimbusReply, NimbusRequest};
use zkstorm::storm::observe::{NimbusEvent, StormObserver, SupervisorEvent};
use zkstorm::storm::saved::SavedStore;
use zkstorm::storm::scheduler::Slot;
use zkstorm::storm::supervisor::{run_supervisor, Launcher, SupervisorConfig};
use zkstorm::storm::worker_node::{run_worker, WorkerSpec};
use zkstorm::storm::Topology;

pub const NIMBUS_PORT: u16 = 6627;
pub const FIRST_SLOT_PORT: u16 = 6700;

pub fn nimbus_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, (n + 1) as u8))
}
pub fn supervisor_ip(s: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 3, (s + 1) as u8))
}
pub fn slot_ip(s: usize, k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 4 + s as u8, (k + 1) as u8))
}
pub fn supervisor_id(s: usize) -> String {
    format!("sup{}", s + 1)
}

/// Sizes and timings of the Storm half.
#[derive(Clone, Debug)]
pub struct StormConfig {
    pub nimbuses: usize,
    pub supervisors: usize,
    pub slots: usize,
    pub monitor_every: Duration,
    pub supervisor_every: Duration,
    pub task_timeout: Duration,
    pub launch_timeout: Duration,
    pub beat_every: Duration,
    pub session_timeout_ms: u64,
}

impl Default for StormConfig {
    fn default() -> Self {
        // Storm's defaults scaled down (nimbus.monitor.freq 10 s, task
        // timeout 30 s, launch 120 s, supervisor.monitor 3 s, session 20 s)
        // so a run shows several rounds of each in a minute.
        StormConfig {
            nimbuses: 2,
            supervisors: 2,
            slots: 2,
            monitor_every: Duration::from_secs(2),
            supervisor_every: Duration::from_secs(1),
            task_timeout: Duration::from_secs(6),
            launch_timeout: Duration::from_secs(10),
            beat_every: Duration::from_secs(1),
            session_timeout_ms: 4000,
        }
    }
}

impl StormObserver for History {
    fn engine(&self, worker: &Slot, event: &StormEvent) {
        self.record(Event::Storm {
            worker: self.slot_name(worker),
            event: event.clone(),
        });
    }
    fn nimbus(&self, id: &str, event: &NimbusEvent) {
        tracing::info!(target: "zkstorm::storm", nimbus = id, ?event);
        self.record(Event::Nimbus {
            id: id.to_string(),
            event: event.clone(),
        });
    }
    fn supervisor(&self, id: &str, event: &SupervisorEvent) {
        tracing::info!(target: "zkstorm::storm", supervisor = id, ?event);
        self.record(Event::Supervisor {
            id: id.to_string(),
            event: event.clone(),
        });
    }
}

/// One slot's process: the spec it was launched with, and whether it runs.
struct SlotNode {
    node: NodeId,
    spec: Arc<Mutex<Option<WorkerSpec>>>,
    running: Arc<AtomicBool>,
}

/// Starts and kills worker nodes for the supervisors.
pub struct SimLauncher {
    slots: BTreeMap<Slot, SlotNode>,
    history: History,
}

impl SimLauncher {
    /// Kill the slot's process, recording that it stopped if it ran.
    fn stop(&self, slot: &Slot, why: &str) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        if s.running.swap(false, Ordering::SeqCst) {
            let event = StormEvent::Stopped { why: why.into() };
            self.history.record(Event::Storm {
                worker: slot.to_string(),
                event,
            });
        }
        Handle::current().kill(s.node);
    }
}

impl Launcher for SimLauncher {
    fn launch(&self, spec: WorkerSpec) {
        let Some(s) = self.slots.get(&spec.slot) else {
            return;
        };
        let slot = spec.slot.clone();
        *s.spec.lock().unwrap_or_else(|e| e.into_inner()) = Some(spec);
        self.stop(&slot, "replaced by its supervisor");
        s.running.store(true, Ordering::SeqCst);
        Handle::current().restart(s.node);
    }
    fn kill(&self, slot: &Slot) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        *s.spec.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.stop(slot, "killed by its supervisor");
    }
    fn running(&self, slot: &Slot) -> bool {
        self.slots
            .get(slot)
            .is_some_and(|s| s.running.load(Ordering::SeqCst))
    }
    fn topology_in(&self, slot: &Slot) -> Option<String> {
        let s = self.slots.get(slot).filter(|_| self.running(slot))?;
        let spec = s.spec.lock().unwrap_or_else(|e| e.into_inner());
        spec.as_ref().map(|w| w.topology.name.clone())
    }
}

pub struct StormCluster {
    pub cfg: StormConfig,
    pub blobs: Blobs,
    pub nimbuses: Vec<NodeHandle>,
    pub supervisors: Vec<NodeHandle>,
    launcher: Arc<SimLauncher>,
    client: NodeHandle,
    history: History,
    down_nimbus: std::collections::BTreeSet<usize>,
    down_supervisors: std::collections::BTreeSet<usize>,
    rng: std::cell::RefCell<rand::rngs::StdRng>,
}

pub fn nimbus_id(n: usize) -> String {
    format!("nimbus{}", n + 1)
}

impl StormCluster {
    /// Start Nimbus and supervisor nodes against the ensemble at `zk`.
    pub fn start(cfg: &StormConfig, zk: Vec<SocketAddr>, history: History) -> StormCluster {
        let handle = Handle::current();
        let blobs = Blobs::default();
        let mut slots = BTreeMap::new();
        for s in 0..cfg.supervisors {
            for k in 0..cfg.slots {
                let slot = Slot {
                    supervisor: supervisor_id(s),
                    port: FIRST_SLOT_PORT + k as u16,
                };
                slots.insert(slot.clone(), slot_node(&handle, s, k, &history));
            }
        }
        let launcher = Arc::new(SimLauncher {
            slots,
            history: history.clone(),
        });
        let nimbuses = (0..cfg.nimbuses)
            .map(|n| nimbus_node(&handle, n, cfg, &zk, &blobs, &history))
            .collect();
        let supervisors = (0..cfg.supervisors)
            .map(|s| supervisor_node(&handle, s, cfg, &zk, &blobs, &launcher, &history))
            .collect();
        let client = handle
            .create_node()
            .name("storm-client")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 200)))
            .build();
        StormCluster {
            cfg: cfg.clone(),
            blobs,
            nimbuses,
            supervisors,
            launcher,
            client,
            history,
            down_nimbus: Default::default(),
            down_supervisors: Default::default(),
            rng: std::cell::RefCell::new(crate::streams::stream("storm-faults", 0)),
        }
    }

    /// Put the topology's code in the blobstore and submit it to whichever
    /// Nimbus leads (trying each in turn until one accepts, for `within`).
    pub async fn submit(&self, t: Topology, within: Duration) -> Result<(), String> {
        self.submit_task(t, within)
            .await
            .map_err(|e| format!("submit task: {e}"))?
    }

    /// `submit`, as a task of its own on the storm client's node.
    pub fn submit_task(
        &self,
        t: Topology,
        within: Duration,
    ) -> madsim::task::JoinHandle<Result<(), String>> {
        self.blobs.put(t.clone());
        self.request_task(NimbusRequest::Submit { name: t.name }, within)
    }

    /// Send `req` to whichever Nimbus leads (each in turn, for `within`),
    /// as a task of its own on the storm client's node. A refusal for a
    /// passing reason (the leader lost the ensemble mid-request) is tried
    /// again, as an operator would; a submit refused as "already running"
    /// landed on an earlier try.
    pub fn request_task(
        &self,
        req: NimbusRequest,
        within: Duration,
    ) -> madsim::task::JoinHandle<Result<(), String>> {
        let n = self.cfg.nimbuses;
        self.client.spawn(async move {
            let deadline = tokio::time::Instant::now() + within;
            let mut last = String::from("no nimbus answered");
            // A try refused midway may have landed.
            let mut maybe_landed = false;
            while tokio::time::Instant::now() < deadline {
                for i in 0..n {
                    let addr = SocketAddr::new(nimbus_ip(i), NIMBUS_PORT);
                    match call(addr, req.clone()).await {
                        Ok(NimbusReply::Ok) => return Ok(()),
                        Ok(NimbusReply::Refused(e)) if e.contains("already running") => {
                            let submit = matches!(req, NimbusRequest::Submit { .. });
                            return if submit && maybe_landed {
                                Ok(())
                            } else {
                                Err(e)
                            };
                        }
                        Ok(NimbusReply::Refused(e)) if !passing(&e) => return Err(e),
                        Ok(NimbusReply::Refused(e)) => {
                            maybe_landed = true;
                            last = e;
                        }
                        Ok(other) => last = format!("{other:?}"),
                        Err(e) => last = e,
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(last)
        })
    }

    /// The topology whose code was put in the blobstore (one per run).
    pub fn topology_name(&self) -> Option<String> {
        self.blobs.names().into_iter().next()
    }

    /// Kill the worker process of `slot` (the supervisor restarts it).
    pub fn kill_worker(&self, slot: &Slot) {
        if self.launcher.slots.contains_key(slot) {
            self.history.fault(format!("kill worker {slot}"));
            self.launcher.stop(slot, "killed");
        }
    }

    /// Slots whose worker runs now and hosts a task of `component`
    /// (any task if `None`), by their latest launch.
    pub fn slots_hosting(&self, component: Option<&str>) -> Vec<Slot> {
        let mut tasks: BTreeMap<Slot, Vec<u32>> = BTreeMap::new();
        let mut topology = None;
        for r in self.history.records() {
            if let Event::Supervisor {
                event:
                    SupervisorEvent::Launched {
                        slot,
                        tasks: t,
                        topology: name,
                    },
                ..
            } = r.event
            {
                tasks.insert(slot, t);
                topology = Some(name);
            }
        }
        let wanted: Option<Vec<u32>> = component.map(|c| {
            topology
                .and_then(|n| self.blobs.get(&n))
                .and_then(|t| t.components.get(c).map(|c| c.tasks.clone()))
                .unwrap_or_default()
        });
        self.running_slots()
            .into_iter()
            .filter(|s| match (&wanted, tasks.get(s)) {
                (None, _) => true,
                (Some(w), Some(t)) => t.iter().any(|x| w.contains(x)),
                (Some(_), None) => false,
            })
            .collect()
    }

    /// The Nimbus acting as leader by its own last report, among those up.
    pub fn leader_nimbus(&self) -> Option<usize> {
        let mut last: BTreeMap<String, bool> = BTreeMap::new();
        let mut order = Vec::new();
        for r in self.history.records() {
            if let Event::Nimbus { id, event } = r.event {
                match event {
                    NimbusEvent::Leading { .. } => {
                        last.insert(id.clone(), true);
                        order.push(id);
                    }
                    NimbusEvent::Stepped { .. } => {
                        last.insert(id, false);
                    }
                    _ => {}
                }
            }
        }
        order
            .iter()
            .rev()
            .find(|id| last.get(*id) == Some(&true))
            .and_then(|id| (0..self.cfg.nimbuses).find(|n| nimbus_id(*n) == **id))
            .filter(|n| !self.down_nimbus.contains(n))
    }

    /// Crash a Nimbus's machine (its leader-lock node goes with its session).
    pub fn crash_nimbus(&mut self, n: usize) {
        if self.down_nimbus.insert(n) {
            Handle::current().kill(self.nimbuses[n].id());
            self.history.record(Event::Nimbus {
                id: nimbus_id(n),
                event: NimbusEvent::Stepped {
                    why: "crashed".into(),
                },
            });
        }
    }

    pub fn restart_nimbus(&mut self, n: usize) {
        if self.down_nimbus.remove(&n) {
            Handle::current().restart(self.nimbuses[n].id());
        }
    }

    /// Crash a supervisor's process; its workers keep running (they are
    /// processes of their own), as in Storm.
    pub fn crash_supervisor(&mut self, s: usize) {
        if self.down_supervisors.insert(s) {
            Handle::current().kill(self.supervisors[s].id());
        }
    }

    pub fn restart_supervisor(&mut self, s: usize) {
        if self.down_supervisors.remove(&s) {
            Handle::current().restart(self.supervisors[s].id());
        }
    }

    pub fn nimbus_down(&self) -> Vec<usize> {
        self.down_nimbus.iter().copied().collect()
    }

    pub fn supervisors_down(&self) -> Vec<usize> {
        self.down_supervisors.iter().copied().collect()
    }

    /// A supervisor's machine: its node and its slots' nodes.
    pub fn machine(&self, s: usize) -> Vec<NodeId> {
        let id = supervisor_id(s);
        let mut out = vec![self.supervisors[s].id()];
        out.extend(
            self.launcher
                .slots
                .iter()
                .filter(|(k, _)| k.supervisor == id)
                .map(|(_, v)| v.node),
        );
        out
    }

    /// The node of slot `name` (`sup1:6700`).
    pub fn slot_node(&self, name: &str) -> Option<NodeId> {
        self.launcher
            .slots
            .iter()
            .find(|(k, _)| k.to_string() == name)
            .map(|(_, v)| v.node)
    }

    /// Every storm node: Nimbus, supervisors, slots, the storm client.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self.nimbuses.iter().map(|n| n.id()).collect();
        out.extend(self.supervisors.iter().map(|n| n.id()));
        out.extend(self.launcher.slots.values().map(|v| v.node));
        out.push(self.client.id());
        out
    }

    /// Draws for storm fault targets (`random`), from their own stream.
    pub fn draw(&self, n: usize) -> usize {
        use rand::Rng;
        self.rng.borrow_mut().gen_range(0..n.max(1))
    }

    /// Slots whose worker process runs now.
    pub fn running_slots(&self) -> Vec<Slot> {
        self.launcher
            .slots
            .keys()
            .filter(|s| self.launcher.running(s))
            .cloned()
            .collect()
    }
}

/// What a batch topology's committers saved (`/transactional/<topology>/
/// state`), read through a fresh session when the run ends: the state
/// `storm.exactly_once` and `storm.word_count` judge. It is read once the
/// coordinator has committed batch `last` (or `wait` has passed: a
/// topology still replaying is judged as it stands), and read again until
/// two reads agree, so no commit lands half-way through the reading.
pub async fn read_committed(
    servers: Vec<SocketAddr>,
    topology: String,
    seed: u64,
    last: u64,
    wait: Duration,
) -> Event {
    let read = async {
        let mut cfg = ClientConfig::new(servers);
        cfg.seed = seed;
        let (zk, _events) = Client::connect(cfg)
            .await
            .map_err(|e| format!("connecting: {e:?}"))?;
        let give_up = tokio::time::Instant::now() + wait;
        let saved = loop {
            zk.sync().await.map_err(|e| format!("sync: {e:?}"))?;
            let (_, first) = SavedStore::open(&zk, &topology).await?;
            let (_, again) = SavedStore::open(&zk, &topology).await?;
            let currtx = first.get(CURRTX_KEY).and_then(|t| t.parse::<u64>().ok());
            let drained = currtx.is_some_and(|t| t > last);
            if first == again && (drained || tokio::time::Instant::now() >= give_up) {
                break first;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let _ = zk.close().await;
        Ok(committed(&saved))
    };
    let limit = wait + Duration::from_secs(30);
    let (entries, error) = match tokio::time::timeout(limit, read).await {
        Ok(Ok(entries)) => (entries, None),
        Ok(Err(e)) => (BTreeMap::new(), Some(e)),
        Err(_) => (BTreeMap::new(), Some(format!("no answer in {limit:?}"))),
    };
    Event::StoreRead { entries, error }
}

/// A refusal that another try may not meet: the ensemble was out of
/// reach or the Nimbus lost its leadership while it worked.
fn passing(error: &str) -> bool {
    [
        "ConnectionLoss",
        "OperationTimeout",
        "SessionExpired",
        "NoNode",
        "not a leader",
    ]
    .iter()
    .any(|e| error.contains(e))
}

async fn call(addr: SocketAddr, req: NimbusRequest) -> Result<NimbusReply, String> {
    use tokio::io::AsyncWriteExt;
    let connect = tokio::net::TcpStream::connect(addr);
    let mut s = tokio::time::timeout(Duration::from_secs(1), connect)
        .await
        .map_err(|_| format!("{addr}: connect timed out"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    write_frame(&mut s, &req).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    let reply = tokio::time::timeout(Duration::from_secs(5), read_frame::<_, NimbusReply>(&mut s))
        .await
        .map_err(|_| format!("{addr}: no reply"))?;
    reply
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{addr}: closed"))
}

fn slot_node(handle: &Handle, s: usize, k: usize, history: &History) -> SlotNode {
    let spec: Arc<Mutex<Option<WorkerSpec>>> = Arc::default();
    let running = Arc::new(AtomicBool::new(false));
    let (node_spec, node_running, obs) = (spec.clone(), running.clone(), history.clone());
    let node = handle
        .create_node()
        .name(format!(
            "{}-w{}",
            supervisor_id(s),
            FIRST_SLOT_PORT + k as u16
        ))
        .ip(slot_ip(s, k))
        .init(move || {
            let spec = node_spec.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let running = node_running.clone();
            let obs: Arc<dyn StormObserver> = Arc::new(obs.clone());
            async move {
                let Some(spec) = spec else { return };
                let slot = spec.slot.clone();
                let r = run_worker(spec, obs.clone()).await;
                tracing::warn!(target: "zkstorm::storm", %slot, "worker stopped: {r:?}");
                running.store(false, Ordering::SeqCst);
                let why = r.err().unwrap_or_else(|| "returned".into());
                obs.engine(&slot, &StormEvent::Stopped { why });
            }
        })
        .build();
    SlotNode {
        node: node.id(),
        spec,
        running,
    }
}

fn nimbus_node(
    handle: &Handle,
    n: usize,
    cfg: &StormConfig,
    zk: &[SocketAddr],
    blobs: &Blobs,
    history: &History,
) -> NodeHandle {
    let nc = NimbusConfig {
        id: nimbus_id(n),
        zookeeper: zk.to_vec(),
        listen: SocketAddr::new(nimbus_ip(n), NIMBUS_PORT),
        monitor_every: cfg.monitor_every,
        task_timeout: cfg.task_timeout,
        launch_timeout: cfg.launch_timeout,
        session_timeout_ms: cfg.session_timeout_ms,
        seed: rand::RngCore::next_u64(&mut crate::streams::stream("nimbus", n as u64)),
    };
    let (blobs, obs) = (blobs.clone(), history.clone());
    handle
        .create_node()
        .name(nc.id.clone())
        .ip(nimbus_ip(n))
        .init(move || {
            let obs: Arc<dyn StormObserver> = Arc::new(obs.clone());
            run_nimbus(nc.clone(), blobs.clone(), obs)
        })
        .build()
}

fn supervisor_node(
    handle: &Handle,
    s: usize,
    cfg: &StormConfig,
    zk: &[SocketAddr],
    blobs: &Blobs,
    launcher: &Arc<SimLauncher>,
    history: &History,
) -> NodeHandle {
    let slots = (0..cfg.slots)
        .map(|k| {
            let port = FIRST_SLOT_PORT + k as u16;
            (port, SocketAddr::new(slot_ip(s, k), port))
        })
        .collect();
    let sc = SupervisorConfig {
        id: supervisor_id(s),
        zookeeper: zk.to_vec(),
        slots,
        monitor_every: cfg.supervisor_every,
        session_timeout_ms: cfg.session_timeout_ms,
        beat_every: cfg.beat_every,
        seed: rand::RngCore::next_u64(&mut crate::streams::stream("supervisor", s as u64)),
    };
    let (blobs, obs) = (blobs.clone(), history.clone());
    let launcher: Arc<dyn Launcher> = launcher.clone();
    handle
        .create_node()
        .name(sc.id.clone())
        .ip(supervisor_ip(s))
        .init(move || {
            let obs: Arc<dyn StormObserver> = Arc::new(obs.clone());
            run_supervisor(sc.clone(), blobs.clone(), launcher.clone(), obs)
        })
        .build()
}
