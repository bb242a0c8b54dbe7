//! A worker process: the thin async shell around the sans-IO `Worker`. It
//! reads its tasks from the assignment, listens for tuples from other
//! workers, sends its own over TCP (one connection per peer, FIFO), tells
//! peers when its queues are full, and heartbeats into the ensemble.

use super::layout::{self, Assignment, WorkerBeat};
use super::message::{Envelope, StormEvent};
use super::observe::StormObserver;
use super::saved::SavedStore;
use super::scheduler::Slot;
use super::topology::{Kind, Topology};
use super::worker::{Durable, Worker};
use crate::client::{Client, ClientConfig, ClientEvent, ConnState, Zk};
use crate::net::{write_batch, FrameReader, MAX_FRAME};
use crate::proto::{CreateMode, ErrorCode, WriteOp};
use crate::server::wire::ClientOp;
use crate::timer::Deadline;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What workers send each other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WireMsg {
    Tuples(Vec<Envelope>),
    /// The sender's queues are full (or no longer are).
    Backpressure {
        from: Slot,
        congested: bool,
    },
}

/// Everything a worker process starts from.
#[derive(Clone)]
pub struct WorkerSpec {
    pub topology: Topology,
    pub slot: Slot,
    pub listen: SocketAddr,
    pub zookeeper: Vec<SocketAddr>,
    pub seed: u64,
    pub beat_every: Duration,
    pub session_timeout_ms: u64,
}

/// Run until the worker's code fails or the ensemble says its slot no
/// longer runs anything; the error says why it stopped.
pub async fn run_worker(spec: WorkerSpec, obs: Arc<dyn StormObserver>) -> Result<(), String> {
    let mut cfg = ClientConfig::new(spec.zookeeper.clone());
    cfg.session_timeout_ms = spec.session_timeout_ms;
    cfg.seed = spec.seed;
    let (zk, mut zk_events) = Client::connect(cfg)
        .await
        .map_err(|e| format!("zookeeper: {e:?}"))?;
    let zk = Arc::new(zk);
    let name = spec.topology.name.clone();
    let mut assignment = read_assignment(&zk, &name).await?;
    let mine = assignment.tasks_of(&spec.slot);
    if mine.is_empty() {
        return Err(format!("slot {} runs no task of {name}", spec.slot));
    }
    let spouts: Vec<u32> = mine
        .iter()
        .copied()
        .filter(|t| {
            matches!(
                spec.topology.component_of(*t).map(|c| &c.kind),
                Some(Kind::Spout(_))
            )
        })
        .collect();
    let (mut store, saved) = SavedStore::open(&zk, &name).await?;
    let durable = Durable {
        offsets: read_offsets(&zk, &name, &spouts).await,
        saved: Arc::new(saved),
    };
    let start = Instant::now();
    let mut worker = Worker::resume(&spec.topology, &mine, spec.seed, Duration::ZERO, &durable)?;
    let listener = TcpListener::bind(spec.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", spec.listen))?;
    let (in_tx, mut inbox) = mpsc::unbounded_channel();
    tokio::spawn(accept_loop(listener, in_tx));
    ensure_beats_dir(&zk, &name).await;
    let mut links = Links::default();
    let mut congested_peers: BTreeSet<Slot> = BTreeSet::new();
    let mut congested = false;
    let mut wake = Some(Duration::ZERO);
    let mut beat = 0u64;
    let mut next_beat = Duration::ZERO;
    let mut timer = Deadline::at(start);
    loop {
        let now = start.elapsed();
        let until = wake.map_or(next_beat, |w| w.min(next_beat));
        timer.reset(start + until.max(now));
        tokio::select! {
            // `biased`: deterministic runs (see server::run).
            biased;
            m = inbox.recv() => match m {
                Some(WireMsg::Tuples(envs)) => {
                    for e in envs {
                        worker.deliver(e);
                    }
                }
                Some(WireMsg::Backpressure { from, congested }) => {
                    if congested {
                        congested_peers.insert(from);
                    } else {
                        congested_peers.remove(&from);
                    }
                    worker.set_throttled(!congested_peers.is_empty());
                }
                None => return Err("listener closed".into()),
            },
            ev = zk_events.recv() => match ev {
                Some(ClientEvent::Watch(_)) => {
                    assignment = read_assignment(&zk, &name).await?;
                    if assignment.tasks_of(&spec.slot) != mine && !crate::bugs::on(crate::bugs::Bug::StormZombieWorker) {
                        return Err(format!("slot {}'s tasks were reassigned", spec.slot));
                    }
                }
                Some(ClientEvent::State(ConnState::Expired | ConnState::Closed)) | None => {
                    return Err("zookeeper session ended".into());
                }
                Some(ClientEvent::State(_)) => {}
            },
            _ = &mut timer => {}
        }
        let now = start.elapsed();
        let ready = worker.step(now);
        let saved = report(&spec.slot, &ready.events, obs.as_ref(), &zk, &name);
        // Persist before send: nothing of this step leaves the worker until
        // what it saved is durable; if it cannot be saved, the worker dies.
        // A save is reported once durable (one that never landed is not in
        // the history).
        if !saved.is_empty() {
            let entries: Vec<(String, String)> = saved
                .iter()
                .filter_map(|e| match e {
                    StormEvent::Saved { key, value, .. } => Some((key.clone(), value.clone())),
                    _ => None,
                })
                .collect();
            store.write(&zk, &entries).await?;
            for e in &saved {
                obs.engine(&spec.slot, e);
            }
        }
        links.send(&assignment, ready.sends);
        wake = ready.next_wake;
        if let Some((task, e)) = ready.died {
            return Err(format!("task {task} failed: {e}"));
        }
        if worker.congested() != congested {
            congested = !congested;
            obs.engine(&spec.slot, &StormEvent::Backpressure { on: congested });
            let msg = WireMsg::Backpressure {
                from: spec.slot.clone(),
                congested,
            };
            links.broadcast(&assignment, &spec.slot, msg);
        }
        if now >= next_beat {
            beat += 1;
            next_beat = now + spec.beat_every;
            let wb = WorkerBeat {
                beat,
                tasks: mine.clone(),
            };
            tokio::spawn(write_beat(
                zk.clone(),
                layout::beat_path(&name, &spec.slot),
                wb,
            ));
        }
    }
}

/// Report a step's events, and queue its spout commits (in this session's
/// order, so a later commit is never overtaken by an earlier one; the
/// answer is not awaited). Saves are handed back, to report once durable.
fn report(
    slot: &Slot,
    events: &[StormEvent],
    obs: &dyn StormObserver,
    zk: &Client,
    topology: &str,
) -> Vec<StormEvent> {
    let mut saved = Vec::new();
    for e in events {
        match e {
            StormEvent::Saved { .. } => {
                saved.push(e.clone());
                continue;
            }
            StormEvent::Committed { task, offset } => {
                let op = WriteOp::SetData {
                    path: layout::offset_path(topology, *task),
                    data: Some(offset.to_string().into_bytes()),
                    version: -1,
                };
                drop(zk.submit(ClientOp::Write(op)));
            }
            _ => {}
        }
        obs.engine(slot, e);
    }
    saved
}

async fn read_assignment(zk: &Client, topology: &str) -> Result<Assignment, String> {
    let (data, _) = zk
        .get_data(&layout::assignment_path(topology), true)
        .await
        .map_err(|e| format!("assignment of {topology}: {e:?}"))?;
    layout::decode(&data)
}

async fn ensure_beats_dir(zk: &Client, topology: &str) {
    let _ = zk
        .create(&layout::beats_dir(topology), b"", CreateMode::Persistent)
        .await;
}

/// The committed positions of spout `tasks` (creating their nodes empty
/// where there are none yet, so later commits are plain setData).
async fn read_offsets(zk: &Client, topology: &str, tasks: &[u32]) -> BTreeMap<u32, u64> {
    let _ = zk
        .create(&layout::offsets_dir(topology), b"", CreateMode::Persistent)
        .await;
    let mut out = BTreeMap::new();
    for &task in tasks {
        let path = layout::offset_path(topology, task);
        match zk.get_data(&path, false).await {
            Ok((data, _)) => {
                if let Some(o) = std::str::from_utf8(&data).ok().and_then(|s| s.parse().ok()) {
                    out.insert(task, o);
                }
            }
            Err(_) => {
                let _ = zk.create(&path, b"", CreateMode::Persistent).await;
            }
        }
    }
    out
}

async fn write_beat(zk: Arc<Client>, path: String, beat: WorkerBeat) {
    let data = layout::encode(&beat);
    if let Err(ErrorCode::NoNode) = zk.set_data(&path, &data, -1).await {
        let _ = zk.create(&path, &data, CreateMode::Persistent).await;
    }
}

async fn accept_loop(listener: TcpListener, inbox: mpsc::UnboundedSender<WireMsg>) {
    while let Ok((stream, _)) = listener.accept().await {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let mut frames = FrameReader::new(stream, MAX_FRAME);
            while let Ok(Some(m)) = frames.next::<WireMsg>().await {
                if inbox.send(m).is_err() {
                    return;
                }
            }
        });
    }
}

/// One writer task per peer worker: FIFO, and what cannot be delivered
/// (the peer is down) is dropped, its trees to time out and replay.
#[derive(Default)]
struct Links {
    to: BTreeMap<SocketAddr, mpsc::UnboundedSender<WireMsg>>,
}

impl Links {
    fn send(&mut self, a: &Assignment, sends: Vec<Envelope>) {
        let mut batches: BTreeMap<SocketAddr, Vec<Envelope>> = BTreeMap::new();
        for env in sends {
            let addr = a.placement.get(&env.to).and_then(|s| a.addr(s));
            if let Some(addr) = addr {
                batches.entry(addr).or_default().push(env);
            }
        }
        for (addr, envs) in batches {
            self.link(addr).send(WireMsg::Tuples(envs)).ok();
        }
    }

    fn broadcast(&mut self, a: &Assignment, me: &Slot, msg: WireMsg) {
        let peers: BTreeSet<SocketAddr> = a
            .addrs
            .iter()
            .filter(|(s, _)| s != me)
            .map(|(_, x)| *x)
            .collect();
        for addr in peers {
            self.link(addr).send(msg.clone()).ok();
        }
    }

    fn link(&mut self, addr: SocketAddr) -> &mpsc::UnboundedSender<WireMsg> {
        self.to.entry(addr).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(addr, rx));
            tx
        })
    }
}

/// How long a link keeps what it could not deliver while it tries to
/// (re)connect: a peer that starts a moment later (or restarts) gets it
/// all, in order; past this the peer is taken as gone and the queue is
/// dropped (those trees time out and replay).
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// One peer's link: FIFO, buffering while it connects. What was written
/// to a connection that then broke is lost, never sent twice (a tuple
/// delivered twice would XOR its edge out of the tree twice).
async fn writer(addr: SocketAddr, mut rx: mpsc::UnboundedReceiver<WireMsg>) {
    let mut stream: Option<TcpStream> = None;
    let mut queue: std::collections::VecDeque<WireMsg> = Default::default();
    let mut unreachable_since: Option<Instant> = None;
    let mut buf = Vec::new();
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(m) => queue.push_back(m),
                None => return,
            }
        }
        while let Ok(m) = rx.try_recv() {
            queue.push_back(m);
        }
        if stream.is_none() {
            let connect = TcpStream::connect(addr);
            stream = tokio::time::timeout(RETRY_EVERY, connect)
                .await
                .ok()
                .and_then(|r| r.ok());
        }
        let Some(s) = stream.as_mut() else {
            let since = *unreachable_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= CONNECT_PATIENCE {
                queue.clear();
                unreachable_since = None;
            }
            tokio::time::sleep(RETRY_EVERY).await;
            continue;
        };
        unreachable_since = None;
        // One write per batch, through a buffer kept across batches.
        if write_batch(s, &mut buf, queue.drain(..)).await.is_err() {
            stream = None;
        }
    }
}
