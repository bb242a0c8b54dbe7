//! `zkstorm server --config zoo.cfg`: a server configured as ZooKeeper's
//! are, speaking ZooKeeper's protocol on its client port.

use super::four_letter::About;
use super::zoo_cfg::ZooCfg;
use super::{ClientProtocol, ServerConfig};
use crate::types::Sid;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

/// The server `id` of the ensemble `zoo` describes (standalone when it
/// lists no `server.N` lines: a peer port on loopback that nobody dials).
pub fn server_config(zoo: &ZooCfg, id: Sid) -> Result<ServerConfig, String> {
    let mut peers = BTreeMap::new();
    for (sid, line) in &zoo.servers {
        peers.insert(*sid, resolve(&line.host, line.peer_port, *sid)?);
    }
    if peers.is_empty() {
        peers.insert(id, SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    if !peers.contains_key(&id) {
        let known: Vec<String> = peers.keys().map(|s| s.to_string()).collect();
        return Err(format!(
            "server id {id} has no server.{id} line (the config lists {})",
            known.join(", ")
        ));
    }
    let client_addr = client_addr(zoo, id)?;
    let mut cfg = ServerConfig::new(id, peers, client_addr);
    cfg.tick_ms = zoo.tick_ms;
    cfg.init_limit = zoo.init_limit;
    cfg.sync_limit = zoo.sync_limit;
    cfg.snap_count = zoo.snap_count;
    cfg.session_timeout_ms = Some((zoo.min_session_timeout_ms, zoo.max_session_timeout_ms));
    cfg.client_protocol = ClientProtocol::Jute;
    cfg.four_letter_words = zoo.four_letter_words.clone();
    cfg.max_client_cnxns = zoo.max_client_cnxns;
    cfg.about = about(zoo, id, client_addr.port());
    tracing::debug!(?cfg, "server config");
    Ok(cfg)
}

/// What `conf` and `envi` report: the config as ZooKeeper prints it, and
/// the machine the server runs on.
fn about(zoo: &ZooCfg, id: Sid, client_port: u16) -> About {
    let data_dir = zoo.data_dir.display().to_string();
    let data_log_dir = zoo
        .data_log_dir
        .as_ref()
        .map_or(data_dir.clone(), |d| d.display().to_string());
    let quorum = zoo.servers.get(&id).map(|me| {
        let members = zoo.servers.iter().map(|(sid, l)| member_line(*sid, l));
        let members = members.collect();
        (
            zoo.init_limit,
            zoo.sync_limit,
            me.election_port,
            me.peer_port,
            members,
        )
    });
    About {
        server_id: if zoo.servers.is_empty() { 0 } else { id },
        client_port,
        data_dir,
        data_log_dir,
        tick_ms: zoo.tick_ms,
        max_client_cnxns: zoo.max_client_cnxns,
        session_timeout_ms: (zoo.min_session_timeout_ms, zoo.max_session_timeout_ms),
        quorum,
        env: machine(),
    }
}

/// `server.N=host:peer:election:participant[;client]`, as ZooKeeper lists
/// its membership.
fn member_line(sid: Sid, l: &super::zoo_cfg::ServerLine) -> String {
    let mut line = format!(
        "server.{sid}={}:{}:{}:participant",
        l.host, l.peer_port, l.election_port
    );
    if let Some((addr, port)) = &l.client {
        line += &format!(";{}:{port}", addr.as_deref().unwrap_or("0.0.0.0"));
    }
    line
}

/// `envi`'s lines after the version, in ZooKeeper's order (its java.*
/// lines have no counterpart here).
fn machine() -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let os = match std::env::consts::OS {
        "linux" => "Linux".to_string(),
        other => other.to_string(),
    };
    let cwd = std::env::current_dir().map(|d| d.display().to_string());
    [
        (
            "host.name",
            read("/proc/sys/kernel/hostname").unwrap_or_default(),
        ),
        ("os.name", os),
        ("os.arch", std::env::consts::ARCH.to_string()),
        (
            "os.version",
            read("/proc/sys/kernel/osrelease").unwrap_or_default(),
        ),
        ("user.name", env("USER")),
        ("user.home", env("HOME")),
        ("user.dir", cwd.unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// clientPort (with clientPortAddress), or the client part of this
/// server's `server.N` line.
fn client_addr(zoo: &ZooCfg, id: Sid) -> Result<SocketAddr, String> {
    let from_line = zoo.servers.get(&id).and_then(|l| l.client.clone());
    let (host, port) = match (from_line, zoo.client_port) {
        (Some((host, port)), _) => (host, port),
        (None, Some(port)) => (zoo.client_port_address.clone(), port),
        (None, None) => return Err("clientPort: missing: where clients connect".into()),
    };
    let host = host.unwrap_or_else(|| "0.0.0.0".into());
    resolve(&host, port, id)
}

fn resolve(host: &str, port: u16, sid: Sid) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("server.{sid}: {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("server.{sid}: {host}:{port}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoo(text: &str) -> ZooCfg {
        ZooCfg::parse(text, "zoo.cfg").expect("parses")
    }

    #[test]
    fn an_ensemble_config_gives_each_server_its_peers_and_client_port() {
        let z = zoo(
            "tickTime=500\ninitLimit=4\nsyncLimit=2\ndataDir=/tmp/z\nclientPort=2181\n\
             server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
             server.3=127.0.0.1:2890:3890;127.0.0.1:2183\n4lw.commands.whitelist=ruok,srvr\n",
        );
        let c = server_config(&z, 2).unwrap();
        assert_eq!(c.sid, 2);
        assert_eq!(c.peers.len(), 3);
        assert_eq!(c.peers[&2], "127.0.0.1:2889".parse().unwrap());
        assert_eq!(c.client_addr, "0.0.0.0:2181".parse().unwrap());
        assert_eq!((c.tick_ms, c.init_limit, c.sync_limit), (500, 4, 2));
        assert_eq!(c.client_protocol, ClientProtocol::Jute);
        assert!(c.four_letter_words.contains("ruok"));
        let (init, sync, election, quorum, members) = c.about.quorum.clone().unwrap();
        assert_eq!((init, sync, election, quorum), (4, 2, 3889, 2889));
        assert_eq!(
            members[2],
            "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183"
        );
        assert_eq!((c.about.server_id, c.about.client_port), (2, 2181));
        let c3 = server_config(&z, 3).unwrap();
        assert_eq!(c3.client_addr, "127.0.0.1:2183".parse().unwrap());
        let e = server_config(&z, 4).unwrap_err();
        assert!(e.contains("server.4"), "{e}");
    }

    #[test]
    fn a_config_without_servers_is_standalone() {
        let z = zoo("dataDir=/tmp/z\nclientPort=2181\nclientPortAddress=127.0.0.1\n");
        let c = server_config(&z, 1).unwrap();
        assert_eq!(c.peers.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(c.client_addr, "127.0.0.1:2181".parse().unwrap());
        let none = zoo("dataDir=/tmp/z\n");
        assert!(server_config(&none, 1).unwrap_err().contains("clientPort"));
    }
}
