//! Nimbus: one of several, elected by the leader-latch recipe
//! (`recipes::LeaderLatch`: ephemeral-sequential nodes under
//! `/storm/leader-lock`, lowest leads, each watches its predecessor). Only the leader submits, kills and assigns; a non-leader
//! answers "not a leader".
//!
//! Fencing (a question Storm leaves open): every write the leader makes is
//! a multi that first checks its own leader-lock node. Once its session
//! ends, that node is gone, so no write of a deposed leader can land after
//! the ensemble moved on; and a leader that loses its connection stops
//! acting at once (before its session can expire and another take over).

use super::layout::{self, Assignment, Blobs, Status, StormBase, SupervisorInfo, WorkerBeat};
use super::observe::{NimbusEvent, StormObserver};
use super::scheduler::{self, Heartbeats, Slot};
use crate::client::{Client, ClientConfig, ClientEvent, ConnState, Zk};
use crate::net::{read_frame, write_frame};
use crate::proto::{CreateMode, ErrorCode, OpResult, WriteOp};
use crate::recipes::{LeaderLatch, Turn};
use crate::server::wire::ClientOp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A request to Nimbus (Storm's Thrift calls).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NimbusRequest {
    /// Deploy the topology of that name from the blobstore.
    Submit {
        name: String,
    },
    Kill {
        name: String,
    },
    Rebalance {
        name: String,
        workers: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NimbusReply {
    Ok,
    /// Ask the leader instead (if one is known).
    NotLeader {
        leader: Option<String>,
    },
    Refused(String),
}

#[derive(Clone, Debug)]
pub struct NimbusConfig {
    pub id: String,
    pub zookeeper: Vec<SocketAddr>,
    pub listen: SocketAddr,
    pub monitor_every: Duration,
    /// A worker whose heartbeat stops changing this long is dead.
    pub task_timeout: Duration,
    /// A newly assigned worker's time to send its first heartbeat.
    pub launch_timeout: Duration,
    pub session_timeout_ms: u64,
    pub seed: u64,
}

type Rpc = (NimbusRequest, oneshot::Sender<NimbusReply>);

pub async fn run_nimbus(cfg: NimbusConfig, blobs: Blobs, obs: Arc<dyn StormObserver>) {
    let (rpc_tx, mut rpc) = mpsc::unbounded_channel();
    if let Ok(l) = TcpListener::bind(cfg.listen).await {
        tokio::spawn(serve(l, rpc_tx));
    }
    loop {
        let mut c = ClientConfig::new(cfg.zookeeper.clone());
        c.session_timeout_ms = cfg.session_timeout_ms;
        c.seed = cfg.seed;
        let Ok((zk, mut events)) = Client::connect(c).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        if let Ok(latch) = join(&cfg, &zk).await {
            let mut n = Nimbus {
                cfg: &cfg,
                zk,
                blobs: &blobs,
                obs: &*obs,
                latch,
            };
            n.elect(&mut events, &mut rpc).await;
            let _ = n.zk.close().await;
        } else {
            let _ = zk.close().await;
        }
    }
}

async fn serve(l: TcpListener, rpc: mpsc::UnboundedSender<Rpc>) {
    while let Ok((mut s, _)) = l.accept().await {
        let rpc = rpc.clone();
        tokio::spawn(async move {
            while let Ok(Some(req)) = read_frame::<_, NimbusRequest>(&mut s).await {
                let (tx, rx) = oneshot::channel();
                if rpc.send((req, tx)).is_err() {
                    return;
                }
                let reply = rx
                    .await
                    .unwrap_or(NimbusReply::Refused("nimbus stopped".into()));
                if write_frame(&mut s, &reply).await.is_err() || s.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

struct Nimbus<'a> {
    cfg: &'a NimbusConfig,
    zk: Client,
    blobs: &'a Blobs,
    obs: &'a dyn StormObserver,
    /// This session's candidacy under the leader lock.
    latch: LeaderLatch,
}

/// Register as a Nimbus and stand for leader (Storm's leader latch).
async fn join(cfg: &NimbusConfig, zk: &Client) -> Result<LeaderLatch, ErrorCode> {
    for dir in layout::DIRS {
        let _ = zk.create(dir, b"", CreateMode::Persistent).await;
    }
    let me = format!("{}/{}", layout::NIMBUSES, cfg.id);
    let _ = zk.delete(&me, -1).await;
    let _ = zk.create(&me, b"", CreateMode::Ephemeral).await;
    LeaderLatch::join(zk, layout::LEADER_LOCK, cfg.id.as_bytes()).await
}

impl Nimbus<'_> {
    /// Wait for our turn, lead while it lasts; returns when the session
    /// is gone (the caller starts a new one and joins again).
    async fn elect(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<ClientEvent>,
        rpc: &mut mpsc::UnboundedReceiver<Rpc>,
    ) {
        loop {
            let leader = match self.latch.turn(&self.zk).await {
                Ok(Turn::Leading) => {
                    self.lead(events, rpc).await;
                    return;
                }
                Ok(Turn::Waiting { leader }) => leader.and_then(|d| String::from_utf8(d).ok()),
                Err(ErrorCode::NoNode) => return, // our node is gone: the session ended
                Err(_) if self.session_over() => return,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            loop {
                tokio::select! {
                    // `biased`: deterministic runs (see server::run).
                    biased;
                    ev = events.recv() => match ev {
                        Some(ClientEvent::Watch(_)) => break,
                        Some(ClientEvent::State(ConnState::Expired | ConnState::Closed)) | None => return,
                        Some(ClientEvent::State(_)) => {}
                    },
                    r = rpc.recv() => if let Some((_, reply)) = r {
                        let _ = reply.send(NimbusReply::NotLeader { leader: leader.clone() });
                    },
                }
            }
        }
    }

    fn session_over(&self) -> bool {
        matches!(self.zk.state(), ConnState::Expired | ConnState::Closed)
    }

    async fn lead(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<ClientEvent>,
        rpc: &mut mpsc::UnboundedReceiver<Rpc>,
    ) {
        let obs = self.obs;
        let id = self.cfg.id.clone();
        obs.nimbus(
            &id,
            &NimbusEvent::Leading {
                latch: self.latch.node(),
            },
        );
        let mut acting = true;
        let start = Instant::now();
        let mut beats = Heartbeats::new(self.cfg.task_timeout, self.cfg.launch_timeout);
        let _ = self.fenced(layout::LEADER_INFO, id.as_bytes()).await;
        let mut next_round = Instant::now();
        loop {
            tokio::select! {
                // `biased`: deterministic runs (see server::run).
                biased;
                ev = events.recv() => match ev {
                    Some(ClientEvent::State(ConnState::Expired | ConnState::Closed)) | None => {
                        if acting {
                            obs.nimbus(&id, &NimbusEvent::Stepped { why: "session ended".into() });
                        }
                        return;
                    }
                    Some(ClientEvent::State(ConnState::Connected)) if !acting => {
                        acting = true;
                        obs.nimbus(&id, &NimbusEvent::Leading { latch: self.latch.node() });
                    }
                    Some(ClientEvent::State(ConnState::Disconnected | ConnState::Connecting))
                        if acting && !crate::bugs::on(crate::bugs::Bug::StormNimbusKeepsLeading) =>
                    {
                        acting = false;
                        obs.nimbus(&id, &NimbusEvent::Stepped { why: "disconnected".into() });
                    }
                    _ => {}
                },
                r = rpc.recv() => if let Some((req, reply)) = r {
                    let answer = if acting {
                        self.handle(req, &mut beats, start.elapsed()).await
                    } else {
                        NimbusReply::NotLeader { leader: None }
                    };
                    let _ = reply.send(answer);
                },
                _ = tokio::time::sleep_until(next_round) => {
                    next_round = Instant::now() + self.cfg.monitor_every;
                    if acting {
                        self.assign_all(&mut beats, start.elapsed()).await;
                    }
                },
            }
        }
    }

    async fn handle(
        &mut self,
        req: NimbusRequest,
        beats: &mut Heartbeats,
        now: Duration,
    ) -> NimbusReply {
        let (request, name, result) = match req {
            NimbusRequest::Submit { name } => {
                let r = self.submit(&name, beats, now).await;
                ("submit", name, r)
            }
            NimbusRequest::Kill { name } => {
                let r = self.kill(&name).await;
                ("kill", name, r)
            }
            NimbusRequest::Rebalance { name, workers } => {
                let r = self.rebalance(&name, workers, beats, now).await;
                ("rebalance", name, r)
            }
        };
        let error = result.as_ref().err().cloned();
        self.obs.nimbus(
            &self.cfg.id,
            &NimbusEvent::Handled {
                request: request.into(),
                topology: name,
                error,
            },
        );
        match result {
            Ok(()) => NimbusReply::Ok,
            Err(e) => NimbusReply::Refused(e),
        }
    }

    async fn submit(
        &mut self,
        name: &str,
        beats: &mut Heartbeats,
        now: Duration,
    ) -> Result<(), String> {
        let t = self
            .blobs
            .get(name)
            .ok_or_else(|| format!("no code for topology {name:?} in the blobstore"))?;
        if self
            .zk
            .exists(&layout::storm_path(name), false)
            .await
            .map_err(|e| format!("{e:?}"))?
            .is_some()
        {
            return Err(format!("topology {name:?} is already running"));
        }
        let base = StormBase {
            name: name.into(),
            status: Status::Active,
            workers: t.config.workers,
        };
        self.fenced(&layout::storm_path(name), &layout::encode(&base))
            .await?;
        self.assign(&base, false, beats, now).await
    }

    async fn kill(&mut self, name: &str) -> Result<(), String> {
        let base = self.base(name).await?;
        let killed = StormBase {
            status: Status::Killed,
            ..base
        };
        self.fenced(&layout::storm_path(name), &layout::encode(&killed))
            .await?;
        let ops = vec![
            WriteOp::Check {
                path: self.latch.node(),
                version: -1,
            },
            WriteOp::Delete {
                path: layout::assignment_path(name),
                version: -1,
            },
        ];
        self.zk
            .multi(ops)
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    async fn rebalance(
        &mut self,
        name: &str,
        workers: u32,
        beats: &mut Heartbeats,
        now: Duration,
    ) -> Result<(), String> {
        if workers == 0 {
            return Err("a topology needs at least one worker".into());
        }
        let base = StormBase {
            workers,
            ..self.base(name).await?
        };
        self.fenced(&layout::storm_path(name), &layout::encode(&base))
            .await?;
        self.assign(&base, true, beats, now).await
    }

    async fn base(&self, name: &str) -> Result<StormBase, String> {
        let (data, _) = self
            .zk
            .get_data(&layout::storm_path(name), false)
            .await
            .map_err(|_| format!("no topology {name:?}"))?;
        layout::decode(&data)
    }

    /// Reassign every active topology whose workers died or are missing.
    async fn assign_all(&mut self, beats: &mut Heartbeats, now: Duration) {
        let Ok(names) = self.zk.get_children(layout::STORMS, false).await else {
            return;
        };
        for name in names {
            if let Ok(base) = self.base(&name).await {
                if base.status == Status::Active {
                    let _ = self.assign(&base, false, beats, now).await;
                }
            }
        }
    }

    async fn assign(
        &mut self,
        base: &StormBase,
        rebalance: bool,
        beats: &mut Heartbeats,
        now: Duration,
    ) -> Result<(), String> {
        let t = self
            .blobs
            .get(&base.name)
            .ok_or("no code in the blobstore")?;
        let sups = self.supervisors().await;
        let current = self.assignment(&base.name).await;
        let placement = current
            .as_ref()
            .map(|a| a.placement.clone())
            .unwrap_or_default();
        let used_here: BTreeSet<Slot> = placement.values().cloned().collect();
        for s in &used_here {
            if let Ok((data, _)) = self
                .zk
                .get_data(&layout::beat_path(&base.name, s), false)
                .await
            {
                if let Ok(b) = layout::decode::<WorkerBeat>(&data) {
                    beats.observe(s, b.beat, now);
                }
            }
        }
        let registered: BTreeSet<Slot> = sups
            .values()
            .flat_map(|i| {
                i.slots.keys().map(|p| Slot {
                    supervisor: i.id.clone(),
                    port: *p,
                })
            })
            .collect();
        let alive: BTreeSet<Slot> = used_here
            .iter()
            .filter(|s| registered.contains(*s) && beats.is_alive(s, now))
            .cloned()
            .collect();
        let taken = self.slots_of_others(&base.name).await;
        let free: BTreeSet<Slot> = registered.difference(&taken).cloned().collect();
        let tasks: Vec<u32> = t.tasks().map(|(id, _)| id).collect();
        let next = scheduler::schedule(&tasks, base.workers, &placement, &alive, &free, rebalance);
        if current.is_some() && next == placement {
            return Ok(());
        }
        for s in next.values().collect::<BTreeSet<_>>() {
            if !alive.contains(s) {
                beats.assigned(s, now);
            }
        }
        let addrs = next
            .values()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|s| {
                sups.get(&s.supervisor)
                    .and_then(|i| i.slots.get(&s.port))
                    .map(|a| (s.clone(), *a))
            })
            .collect();
        let a = Assignment {
            topology: base.name.clone(),
            placement: next,
            addrs,
            nimbus: self.cfg.id.clone(),
            latch: self.latch.node(),
        };
        let r = self
            .fenced(&layout::assignment_path(&base.name), &layout::encode(&a))
            .await;
        let (zxid, error) = match &r {
            Ok(z) => (*z, None),
            Err(e) => (0, Some(e.clone())),
        };
        let ev = NimbusEvent::Assigned {
            topology: base.name.clone(),
            latch: self.latch.node(),
            zxid,
            error,
        };
        self.obs.nimbus(&self.cfg.id, &ev);
        r.map(|_| ())
    }

    async fn supervisors(&self) -> BTreeMap<String, SupervisorInfo> {
        let mut out = BTreeMap::new();
        for id in self
            .zk
            .get_children(layout::SUPERVISORS, false)
            .await
            .unwrap_or_default()
        {
            let path = format!("{}/{id}", layout::SUPERVISORS);
            if let Ok((data, _)) = self.zk.get_data(&path, false).await {
                if let Ok(info) = layout::decode::<SupervisorInfo>(&data) {
                    out.insert(id, info);
                }
            }
        }
        out
    }

    async fn assignment(&self, name: &str) -> Option<Assignment> {
        let (data, _) = self
            .zk
            .get_data(&layout::assignment_path(name), false)
            .await
            .ok()?;
        layout::decode(&data).ok()
    }

    async fn slots_of_others(&self, name: &str) -> BTreeSet<Slot> {
        let mut out = BTreeSet::new();
        for other in self
            .zk
            .get_children(layout::ASSIGNMENTS, false)
            .await
            .unwrap_or_default()
        {
            if other != name {
                if let Some(a) = self.assignment(&other).await {
                    out.extend(a.placement.into_values());
                }
            }
        }
        out
    }

    /// Create or overwrite `path`, only while our leader-lock node exists;
    /// returns the write's zxid.
    async fn fenced(&self, path: &str, data: &[u8]) -> Result<u64, String> {
        let fence = WriteOp::Check {
            path: self.latch.node(),
            version: -1,
        };
        let exists = self
            .zk
            .exists(path, false)
            .await
            .map_err(|e| format!("{e:?}"))?
            .is_some();
        let write = if exists {
            WriteOp::SetData {
                path: path.into(),
                data: Some(data.into()),
                version: -1,
            }
        } else {
            WriteOp::Create {
                path: path.into(),
                data: Some(data.into()),
                mode: CreateMode::Persistent,
                acl: None,
            }
        };
        let (result, zxid) = self
            .zk
            .call_traced(ClientOp::Write(WriteOp::Multi(vec![fence, write])))
            .await
            .answer;
        match result {
            Ok(OpResult::Multi(_)) => Ok(zxid.0),
            Ok(other) => Err(format!("unexpected {other:?}")),
            Err(e) => Err(format!("{e:?}")),
        }
    }
}
