//! Builds an ensemble on simulated nodes and applies faults to it: crash
//! (with power loss of un-synced writes), restart, partitions and heals.

use crate::disk::SimDisk;
use crate::history::History;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
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

pub fn client_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, (n + 1) as u8))
}

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
    cut: BTreeSet<(madsim::task::NodeId, madsim::task::NodeId)>,
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
            let disk = SimDisk::new();
            let node_disk = disk.clone();
            let observer = history.clone();
            // The closure keeps only the config, the disk and the observer:
            // everything else is rebuilt from the disk on restart.
            let node = handle
                .create_node()
                .name(format!("zk{sid}"))
                .ip(server_ip(sid))
                .init(move || {
                    let sc = sc.clone();
                    let disk: Arc<dyn Disk> = Arc::new(node_disk.clone());
                    let observer: Arc<dyn Observer> = Arc::new(observer.clone());
                    async move {
                        if let Err(e) = zkstorm::server::run(sc, disk, observer).await {
                            tracing::warn!("server stopped: {e}");
                        }
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
            cut: BTreeSet::new(),
        }
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

    pub fn is_alive(&self, sid: Sid) -> bool {
        self.servers.get(&sid).is_some_and(|s| s.alive)
    }

    pub fn alive(&self) -> Vec<Sid> {
        self.servers
            .iter()
            .filter(|(_, s)| s.alive)
            .map(|(sid, _)| *sid)
            .collect()
    }

    pub fn crashed(&self) -> Vec<Sid> {
        self.servers
            .iter()
            .filter(|(_, s)| !s.alive)
            .map(|(sid, _)| *sid)
            .collect()
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

    /// The established leader, as the live servers report it.
    pub fn leader(&self) -> Option<Sid> {
        let status = self.history.status();
        self.alive().into_iter().find(|sid| {
            status
                .get(sid)
                .is_some_and(|s| s.serving && s.leader == Some(*sid))
        })
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
        self.history.forget_status(sid);
        self.history.fault(format!("crash {sid}"));
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
        self.history.forget_status(sid);
        self.history.fault(format!("crash {sid} (torn tail)"));
    }

    pub fn restart(&mut self, sid: Sid) {
        let Some(s) = self.servers.get_mut(&sid) else {
            return;
        };
        if s.alive {
            return;
        }
        self.handle.restart(s.node.id());
        s.alive = true;
        self.history.fault(format!("restart {sid}"));
    }

    fn node_of(&self, sid: Sid) -> madsim::task::NodeId {
        self.servers[&sid].node.id()
    }

    /// Cut every link between different groups (both directions). Servers not
    /// named stay connected to everyone; clients are untouched.
    pub fn partition(&mut self, groups: &[Vec<Sid>]) {
        let net = NetSim::current();
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for &x in a {
                    for &y in b {
                        let (nx, ny) = (self.node_of(x), self.node_of(y));
                        net.clog_link(nx, ny);
                        net.clog_link(ny, nx);
                        self.cut.insert((nx, ny));
                        self.cut.insert((ny, nx));
                    }
                }
            }
        }
        self.history.fault(format!("partition {groups:?}"));
    }

    /// Isolate a server from every other server and every client.
    pub fn isolate(&mut self, sid: Sid) {
        let others: Vec<Sid> = self.sids().into_iter().filter(|s| *s != sid).collect();
        self.partition(&[vec![sid], others]);
        let net = NetSim::current();
        let n = self.node_of(sid);
        for &c in &self.clients {
            net.clog_link(n, c);
            net.clog_link(c, n);
            self.cut.insert((n, c));
            self.cut.insert((c, n));
        }
    }

    /// Cut a client node (from `client_node`) off from every server, both
    /// directions, until `heal`: its pings stop reaching the ensemble.
    pub fn isolate_client(&mut self, client: madsim::task::NodeId) {
        let net = NetSim::current();
        let servers: Vec<_> = self.servers.values().map(|s| s.node.id()).collect();
        for n in servers {
            net.clog_link(n, client);
            net.clog_link(client, n);
            self.cut.insert((n, client));
            self.cut.insert((client, n));
        }
        self.history.fault(format!("isolate client {client}"));
    }

    pub fn heal(&mut self) {
        let net = NetSim::current();
        for (a, b) in std::mem::take(&mut self.cut) {
            net.unclog_link(a, b);
        }
        self.history.fault("heal");
    }
}
