//! Builds an ensemble on simulated nodes and applies faults to it: crash
//! (with power loss of un-synced writes), kill (process only), restart,
//! pause/resume, partitions (symmetric or one-way), isolation and heals.
//!
//! Network cuts are counted per directed link, so overlapping faults can be
//! undone one at a time (`cut_links` / `restore_links`); `heal` undoes all.
//! A server whose `run` returns (its disk failed) is *stopped*: it counts as
//! crashed (`crashed()`, not `alive()`) until it is restarted.

use crate::disk::SimDisk;
use crate::history::{History, NodeChange};
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use zkstorm::server::{Observer, ServerConfig};
use zkstorm::store::Disk;
use zkstorm::types::Sid;

pub const PEER_PORT: u16 = 2888;
pub const CLIENT_PORT: u16 = 2181;

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub servers: usize,
    pub tick_ms: u64,
    pub init_limit: u64,
    pub sync_limit: u64,
    pub snap_count: u64,
}

impl ClusterConfig {
    pub fn new(servers: usize) -> ClusterConfig {
        ClusterConfig {
            servers,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 2000,
        }
    }
}

pub fn server_ip(sid: Sid) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, sid as u8))
}

/// The server at `ip` (`server_ip` backwards).
pub fn server_sid(ip: IpAddr) -> Option<Sid> {
    match ip {
        IpAddr::V4(v4) if v4.octets()[..3] == [10, 0, 0] => Some(Sid::from(v4.octets()[3])),
        _ => None,
    }
}

pub fn client_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, (n + 1) as u8))
}

/// A directed link between two simulated nodes (servers or clients).
pub type Link = (madsim::task::NodeId, madsim::task::NodeId);

struct Server {
    node: NodeHandle,
    disk: SimDisk,
    alive: bool,
}

pub struct Cluster {
    handle: Handle,
    servers: BTreeMap<Sid, Server>,
    /// Client nodes, so partitions can cut clients off too.
    clients: Vec<madsim::task::NodeId>,
    pub history: History,
    /// How many active faults cut each directed link.
    cut: BTreeMap<Link, u32>,
    /// Servers whose `run` returned (disk failure), until restarted.
    stopped: Arc<Mutex<BTreeSet<Sid>>>,
    paused: BTreeSet<Sid>,
    /// The Storm half (Nimbus, supervisors, workers), when a topology runs.
    pub storm: Option<crate::storm::StormCluster>,
}

impl Cluster {
    /// Create and start the servers (sids 1..=n). Call inside the runtime.
    pub fn start(cfg: &ClusterConfig, history: History) -> Cluster {
        assert!(cfg.servers >= 1 && cfg.servers < 250, "ensemble size");
        let handle = Handle::current();
        let peers: BTreeMap<Sid, SocketAddr> = (1..=cfg.servers as Sid)
            .map(|sid| (sid, SocketAddr::new(server_ip(sid), PEER_PORT)))
            .collect();
        let mut servers = BTreeMap::new();
        let stopped: Arc<Mutex<BTreeSet<Sid>>> = Arc::default();
        for &sid in peers.keys() {
            let mut sc = ServerConfig::new(
                sid,
                peers.clone(),
                SocketAddr::new(server_ip(sid), CLIENT_PORT),
            );
            sc.tick_ms = cfg.tick_ms;
            sc.init_limit = cfg.init_limit;
            sc.sync_limit = cfg.sync_limit;
            sc.snap_count = cfg.snap_count;
            let disk = SimDisk::with_rng(crate::streams::stream("disk", sid));
            let node_disk = disk.clone();
            let observer = history.clone();
            let node_stopped = stopped.clone();
            // The closure keeps only the config, the disk and the observer
            // (and where to say it stopped): everything else is rebuilt from
            // the disk on restart.
            let node = handle
                .create_node()
                .name(format!("zk{sid}"))
                .ip(server_ip(sid))
                .init(move || {
                    let sc = sc.clone();
                    let disk: Arc<dyn Disk> = Arc::new(node_disk.clone());
                    let history = observer.clone();
                    let observer: Arc<dyn Observer> = Arc::new(observer.clone());
                    let stopped = node_stopped.clone();
                    async move {
                        let result = zkstorm::server::run(sc, disk, observer).await;
                        let why = match result {
                            Ok(()) => "returned".to_string(),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!("server stopped: {why}");
                        stopped
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(sid);
                        history.node(
                            sid,
                            NodeChange::Stopped {
                                why: why.to_string(),
                            },
                        );
                    }
                })
                .build();
            servers.insert(
                sid,
                Server {
                    node,
                    disk,
                    alive: true,
                },
            );
        }
        Cluster {
            handle,
            servers,
            clients: Vec::new(),
            history,
            cut: BTreeMap::new(),
            stopped,
            paused: BTreeSet::new(),
            storm: None,
        }
    }

    /// Start the Storm half against this ensemble.
    pub fn start_storm(&mut self, cfg: &crate::storm::StormConfig) {
        let storm =
            crate::storm::StormCluster::start(cfg, self.client_addrs(), self.history.clone());
        self.storm = Some(storm);
    }

    /// The ensemble's client addresses as a connect string.
    pub fn connect_string(&self) -> String {
        self.client_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn sids(&self) -> Vec<Sid> {
        self.servers.keys().copied().collect()
    }

    pub fn client_addrs(&self) -> Vec<SocketAddr> {
        self.servers
            .keys()
            .map(|&sid| SocketAddr::new(server_ip(sid), CLIENT_PORT))
            .collect()
    }

    pub fn disk(&self, sid: Sid) -> &SimDisk {
        &self.servers[&sid].disk
    }

    fn stopped_set(&self) -> BTreeSet<Sid> {
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Running: not crashed, killed or stopped (a paused server is alive).
    pub fn is_alive(&self, sid: Sid) -> bool {
        self.servers.get(&sid).is_some_and(|s| s.alive) && !self.stopped_set().contains(&sid)
    }

    pub fn alive(&self) -> Vec<Sid> {
        let stopped = self.stopped_set();
        self.servers
            .iter()
            .filter(|(sid, s)| s.alive && !stopped.contains(sid))
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// Crashed, killed, or stopped by a disk failure.
    pub fn crashed(&self) -> Vec<Sid> {
        let stopped = self.stopped_set();
        self.servers
            .iter()
            .filter(|(sid, s)| !s.alive || stopped.contains(sid))
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// Servers whose `run` returned (disk failure) and that were not restarted.
    pub fn stopped(&self) -> Vec<Sid> {
        self.stopped_set().into_iter().collect()
    }

    pub fn paused(&self) -> Vec<Sid> {
        self.paused.iter().copied().collect()
    }

    /// The simulated node a server runs on.
    pub fn node_id(&self, sid: Sid) -> madsim::task::NodeId {
        self.node_of(sid)
    }

    /// Client nodes made by `client_node`, in creation order.
    pub fn client_ids(&self) -> Vec<madsim::task::NodeId> {
        self.clients.clone()
    }

    /// A node for a client, so it has its own address and can be partitioned.
    pub fn client_node(&mut self, n: usize) -> madsim::runtime::NodeHandle {
        let node = self
            .handle
            .create_node()
            .name(format!("client{n}"))
            .ip(client_ip(n))
            .build();
        self.clients.push(node.id());
        node
    }

    /// The established leader, as the live servers report it. A paused
    /// server's last report is stale, so it is not counted; if two claim
    /// leadership (an old leader that has not noticed yet), the newer epoch.
    pub fn leader(&self) -> Option<Sid> {
        let status = self.history.status();
        self.alive()
            .into_iter()
            .filter(|sid| !self.paused.contains(sid))
            .filter_map(|sid| {
                status
                    .get(&sid)
                    .filter(|s| s.serving && s.leader == Some(sid))
                    .map(|s| (s.current_epoch, std::cmp::Reverse(sid), sid))
            })
            .max()
            .map(|(_, _, sid)| sid)
    }

    /// Live, unpaused servers whose last reported state matches `pick`
    /// (reports come every half tick).
    fn reported(&self, pick: impl Fn(Sid, &zkstorm::server::Status) -> bool) -> Vec<Sid> {
        let status = self.history.status();
        self.alive()
            .into_iter()
            .filter(|sid| !self.paused.contains(sid))
            .filter(|sid| status.get(sid).is_some_and(|s| pick(*sid, s)))
            .collect()
    }

    /// Servers in the election (LOOKING).
    pub fn candidates(&self) -> Vec<Sid> {
        self.reported(|_, s| s.leader.is_none())
    }

    /// Servers that lead but have not established their epoch (discovery
    /// or sync).
    pub fn discovering_leaders(&self) -> Vec<Sid> {
        self.reported(|sid, s| s.leader == Some(sid) && !s.serving)
    }

    pub fn followers(&self) -> Vec<Sid> {
        let leader = self.leader();
        self.alive()
            .into_iter()
            .filter(|s| Some(*s) != leader)
            .collect()
    }

    /// Power loss: the node dies and loses whatever it had not fsynced.
    pub fn crash(&mut self, sid: Sid) {
        let Some(s) = self.servers.get_mut(&sid) else {
            return;
        };
        if !s.alive {
            return;
        }
        self.handle.kill(s.node.id());
        s.disk.power_loss();
        s.alive = false;
        self.after_down(sid);
        self.history.node(sid, NodeChange::Crashed);
    }

    fn after_down(&mut self, sid: Sid) {
        self.paused.remove(&sid);
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&sid);
        self.history.forget_status(sid);
    }

    /// Kill the process only (kill -9): the OS survives, so data written but
    /// not fsynced stays in the page cache and is read back on restart.
    pub fn kill(&mut self, sid: Sid) {
        let Some(s) = self.servers.get_mut(&sid) else {
            return;
        };
        if !s.alive {
            return;
        }
        self.handle.kill(s.node.id());
        s.alive = false;
        self.after_down(sid);
        self.history.node(sid, NodeChange::Killed);
    }

    /// Power loss that tears every un-synced appended tail at a random byte
    /// (random garbage after it with probability 1/2).
    pub fn power_loss(&mut self, sid: Sid) {
        let Some(s) = self.servers.get_mut(&sid) else {
            return;
        };
        if !s.alive {
            return;
        }
        self.handle.kill(s.node.id());
        let (tear, garbage) = s.disk.tear_probability();
        s.disk.set_tear_probability(1.0, 0.5);
        s.disk.power_loss();
        s.disk.set_tear_probability(tear, garbage);
        s.alive = false;
        self.after_down(sid);
        self.history.node(sid, NodeChange::PowerLost);
    }

    /// Stop scheduling the server's tasks (a long GC pause, SIGSTOP).
    pub fn pause(&mut self, sid: Sid) {
        if !self.is_alive(sid) || self.paused.contains(&sid) {
            return;
        }
        self.handle.pause(self.node_of(sid));
        self.paused.insert(sid);
        self.history.node(sid, NodeChange::Paused);
    }

    pub fn resume(&mut self, sid: Sid) {
        if !self.paused.remove(&sid) {
            return;
        }
        self.handle.resume(self.node_of(sid));
        self.history.node(sid, NodeChange::Resumed);
    }

    /// Power loss with a chosen tear of the un-synced log tail.
    pub fn crash_torn(&mut self, sid: Sid, tear: zkstorm::store::TearSpec) {
        let Some(s) = self.servers.get_mut(&sid) else {
            return;
        };
        if !s.alive {
            return;
        }
        self.handle.kill(s.node.id());
        s.disk.power_loss_with(Some(tear));
        s.alive = false;
        self.after_down(sid);
        self.history.node(sid, NodeChange::CrashedTorn);
    }

    /// Start a crashed (or stopped) server again; a running one is left alone.
    pub fn restart(&mut self, sid: Sid) {
        let stopped = self.stopped_set().contains(&sid);
        let Some(s) = self.servers.get_mut(&sid) else {
            return;
        };
        if s.alive && !stopped {
            return;
        }
        let node = s.node.id();
        if stopped {
            // Its tasks may linger (listeners): end them, as a process exit would.
            self.handle.kill(node);
        }
        self.handle.restart(node);
        s.alive = true;
        self.after_down(sid);
        self.history.node(sid, NodeChange::Restarted);
    }

    /// Kill a running server's process and start it again at once.
    pub fn reboot(&mut self, sid: Sid) {
        if self.is_alive(sid) {
            self.kill(sid);
        }
        self.restart(sid);
    }

    fn node_of(&self, sid: Sid) -> madsim::task::NodeId {
        self.servers[&sid].node.id()
    }

    /// The links (both directions) between servers of different groups.
    pub fn partition_links(&self, groups: &[Vec<Sid>]) -> Vec<Link> {
        let mut out = Vec::new();
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for &x in a {
                    for &y in b {
                        let (nx, ny) = (self.node_of(x), self.node_of(y));
                        out.push((nx, ny));
                        out.push((ny, nx));
                    }
                }
            }
        }
        out
    }

    /// The links from every server in `from` to every server in `to`.
    pub fn one_way_links(&self, from: &[Sid], to: &[Sid]) -> Vec<Link> {
        let mut out = Vec::new();
        for &x in from {
            for &y in to {
                if x != y {
                    out.push((self.node_of(x), self.node_of(y)));
                }
            }
        }
        out
    }

    /// The links (both directions) between a server and every other server
    /// and every client.
    pub fn isolate_links(&self, sid: Sid) -> Vec<Link> {
        let others: Vec<Sid> = self.sids().into_iter().filter(|s| *s != sid).collect();
        let mut out = self.partition_links(&[vec![sid], others]);
        let n = self.node_of(sid);
        for &c in &self.clients {
            out.push((n, c));
            out.push((c, n));
        }
        out
    }

    /// The links (both directions) between a client node and every server.
    pub fn client_links(&self, client: madsim::task::NodeId) -> Vec<Link> {
        let mut out = Vec::new();
        for s in self.servers.values() {
            out.push((s.node.id(), client));
            out.push((client, s.node.id()));
        }
        out
    }

    /// Cut links (one more fault holding each). Records nothing.
    pub fn cut_links(&mut self, links: &[Link]) {
        let net = NetSim::current();
        for &(a, b) in links {
            let n = self.cut.entry((a, b)).or_insert(0);
            if *n == 0 {
                net.clog_link(a, b);
            }
            *n += 1;
        }
    }

    /// Undo one `cut_links` of these links; a link reopens when no fault
    /// holds it any more. Records nothing.
    pub fn restore_links(&mut self, links: &[Link]) {
        let net = NetSim::current();
        for l in links {
            if let Some(n) = self.cut.get_mut(l) {
                *n -= 1;
                if *n == 0 {
                    self.cut.remove(l);
                    net.unclog_link(l.0, l.1);
                }
            }
        }
    }

    /// Cut every link between different groups (both directions). Servers not
    /// named stay connected to everyone; clients are untouched.
    pub fn partition(&mut self, groups: &[Vec<Sid>]) {
        let links = self.partition_links(groups);
        self.cut_links(&links);
        self.history.fault(format!("partition {groups:?}"));
    }

    /// Isolate a server from every other server and every client.
    pub fn isolate(&mut self, sid: Sid) {
        let links = self.isolate_links(sid);
        self.cut_links(&links);
        let others: Vec<Sid> = self.sids().into_iter().filter(|s| *s != sid).collect();
        self.history
            .fault(format!("partition {:?}", [vec![sid], others]));
    }

    /// Cut a client node (from `client_node`) off from every server, both
    /// directions, until `heal`: its pings stop reaching the ensemble.
    pub fn isolate_client(&mut self, client: madsim::task::NodeId) {
        let links = self.client_links(client);
        self.cut_links(&links);
        self.history.fault(format!("isolate client {client}"));
    }

    pub fn heal(&mut self) {
        let net = NetSim::current();
        for ((a, b), _) in std::mem::take(&mut self.cut) {
            net.unclog_link(a, b);
        }
        self.history.fault("heal");
    }
}
