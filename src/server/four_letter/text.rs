//! Each word's answer, laid out as ZooKeeper 3.8 lays it out.

use super::{About, Mode, Snapshot, VERSION};
use std::collections::BTreeMap;
use std::fmt::Write;

/// An average as Java prints a double rounded to four places ("0.0", "1.8333").
fn avg(total: u64, count: u64) -> String {
    if count == 0 {
        return "0.0".into();
    }
    let s = format!("{:.4}", total as f64 / count as f64);
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

fn latency(s: &Snapshot) -> (u64, String, u64) {
    let (min, total, count, max) = s.latency;
    (min, avg(total, count), max)
}

pub(super) fn srvr(s: &Snapshot, mode: Mode, clients: bool) -> String {
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if clients {
        out.push_str("Clients:\n");
        for c in &s.conns {
            let _ = writeln!(out, "{}", conn_line(c, false));
        }
        out.push('\n');
    }
    let (min, avg, max) = latency(s);
    let _ = write!(
        out,
        "Latency min/avg/max: {min}/{avg}/{max}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: {}\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        s.received,
        s.sent,
        s.conns.len(),
        s.outstanding,
        s.zxid,
        mode.name(),
        s.node_count
    );
    out
}

/// ` /addr[interest](queued=..,recved=..,sent=..[,sid=..,to=..])`.
fn conn_line(c: &super::ConnInfo, full: bool) -> String {
    let interest = u8::from(c.session.is_some());
    let mut line = format!(
        " /{}[{interest}](queued={},recved={},sent={}",
        c.addr, c.queued, c.received, c.sent
    );
    if let (true, Some((id, to))) = (full, c.session) {
        let _ = write!(line, ",sid={id:#x},to={to}");
    }
    line.push(')');
    line
}

pub(super) fn cons(s: &Snapshot) -> String {
    let mut out = String::new();
    for c in &s.conns {
        let _ = writeln!(out, "{}", conn_line(c, true));
    }
    out.push('\n');
    out
}

pub(super) fn mntr(s: &Snapshot, mode: Mode) -> String {
    let (min, avg, max) = latency(s);
    let ephemerals: usize = s.ephemerals.iter().map(|(_, p)| p.len()).sum();
    let mut lines = vec![
        ("zk_version", VERSION.to_string()),
        ("zk_server_state", mode.name().to_string()),
        ("zk_avg_latency", avg),
        ("zk_max_latency", max.to_string()),
        ("zk_min_latency", min.to_string()),
        ("zk_packets_received", s.received.to_string()),
        ("zk_packets_sent", s.sent.to_string()),
        ("zk_num_alive_connections", s.conns.len().to_string()),
        ("zk_outstanding_requests", s.outstanding.to_string()),
        ("zk_znode_count", s.node_count.to_string()),
        ("zk_watch_count", s.watch_count.to_string()),
        ("zk_ephemerals_count", ephemerals.to_string()),
        ("zk_approximate_data_size", s.data_size.to_string()),
        ("zk_global_sessions", s.sessions.len().to_string()),
        ("zk_local_sessions", "0".into()),
        ("zk_uptime", s.uptime_ms.to_string()),
    ];
    if mode == Mode::Leader {
        lines.push(("zk_learners", s.followers.to_string()));
        lines.push(("zk_followers", s.followers.to_string()));
        lines.push(("zk_synced_followers", s.synced_followers.to_string()));
        lines.push(("zk_synced_non_voting_followers", "0".into()));
        lines.push(("zk_synced_observers", "0".into()));
        lines.push(("zk_pending_syncs", s.pending_syncs.to_string()));
    }
    lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect()
}

pub(super) fn envi(about: &About) -> String {
    let mut out = format!("Environment:\nzookeeper.version={VERSION}\n");
    for (k, v) in &about.env {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

pub(super) fn conf(a: &About, s: &Snapshot) -> String {
    let (min, max) = a.session_timeout_ms;
    let mut out = format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\n\
         dataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={min}\n\
         maxSessionTimeout={max}\nclientPortListenBacklog=-1\nserverId={}\n",
        a.client_port,
        a.data_dir,
        s.dir_sizes.0,
        a.data_log_dir,
        s.dir_sizes.1,
        a.tick_ms,
        a.max_client_cnxns,
        a.server_id
    );
    if let Some((init, sync, election, quorum, members)) = &a.quorum {
        // electionAlg 3 is ZooKeeper's only one (fast leader election);
        // peerType 0 is a participant.
        let _ = write!(
            out,
            "initLimit={init}\nsyncLimit={sync}\nelectionAlg=3\nelectionPort={election}\n\
             quorumPort={quorum}\npeerType=0\nmembership: \n"
        );
        for m in members {
            let _ = writeln!(out, "{m}");
        }
        out.push_str("version=0\n");
    }
    out
}

pub(super) fn dump(s: &Snapshot) -> String {
    let mut out = format!(
        "SessionTracker dump:\nSession Sets ({}):\n",
        s.sessions.len()
    );
    for (id, to) in &s.sessions {
        let _ = writeln!(out, "\t{id:#x} (timeout {to} ms)");
    }
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        s.ephemerals.len()
    );
    for (id, paths) in &s.ephemerals {
        let _ = writeln!(out, "{id:#x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    let _ = writeln!(out, "Connections dump:\nConnections ({}):", s.conns.len());
    for c in &s.conns {
        let id = c.session.map_or(0, |(id, _)| id);
        let _ = writeln!(out, "\tip: /{} sessionId: {id:#x}", c.addr);
    }
    out
}

pub(super) fn wchs(s: &Snapshot) -> String {
    let paths: std::collections::BTreeSet<&String> =
        s.watches.iter().flat_map(|(_, p)| p.iter()).collect();
    let total: usize = s.watches.iter().map(|(_, p)| p.len()).sum();
    format!(
        "{} connections watching {} paths\nTotal watches:{total}\n",
        s.watches.len(),
        paths.len(),
    )
}

pub(super) fn wchc(s: &Snapshot) -> String {
    let mut out = String::new();
    for (id, paths) in &s.watches {
        let _ = writeln!(out, "{id:#x}");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push('\n');
    out
}

pub(super) fn wchp(s: &Snapshot) -> String {
    let mut by_path: BTreeMap<&String, Vec<u64>> = BTreeMap::new();
    for (id, paths) in &s.watches {
        for p in paths {
            by_path.entry(p).or_default().push(*id);
        }
    }
    let mut out = String::new();
    for (p, ids) in by_path {
        let _ = writeln!(out, "{p}");
        for id in ids {
            let _ = writeln!(out, "\t{id:#x}");
        }
    }
    out.push('\n');
    out
}
