//! ZooKeeper's four-letter words on the client port (`ruok`, `srvr`,
//! `stat`, `mntr`): a connection whose first four bytes spell one gets a
//! text answer and is closed. Sans-IO: the words and their answers.

use std::collections::BTreeSet;
use std::fmt::Write;

/// The words we answer (`4lw.commands.whitelist` picks among them).
pub const WORDS: &[&str] = &["ruok", "srvr", "stat", "mntr"];

/// A connection's first four bytes, if they spell a word we know (they
/// would otherwise be a frame's length prefix).
pub fn word(prefix: [u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == prefix)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Leader,
    Follower,
    /// Not serving (electing, syncing, or cut off).
    NotServing,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::NotServing => "not serving",
        }
    }
}

/// What the server knows of itself when a word comes in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub mode: Option<Mode>,
    pub zxid: u64,
    pub node_count: u64,
    /// (address, requests received, replies sent) per client connection.
    pub clients: Vec<(String, u64, u64)>,
    pub received: u64,
    pub sent: u64,
    pub outstanding: u64,
    /// Request latency in ms: (min, avg, max).
    pub latency_ms: (u64, u64, u64),
    pub followers: u64,
}

pub const VERSION: &str = concat!("zkstorm-", env!("CARGO_PKG_VERSION"));

/// The answer to `word`, given the words allowed.
pub fn answer(word: &str, allowed: &BTreeSet<String>, s: &Snapshot) -> String {
    if !allowed.contains(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    let mode = s.mode.unwrap_or(Mode::NotServing);
    if word == "ruok" {
        return "imok".into();
    }
    if mode == Mode::NotServing {
        return "This ZooKeeper instance is not currently serving requests\n".into();
    }
    match word {
        "srvr" => srvr(s, mode, false),
        "stat" => srvr(s, mode, true),
        "mntr" => mntr(s, mode),
        _ => format!("{word} is not a command we answer\n"),
    }
}

fn srvr(s: &Snapshot, mode: Mode, clients: bool) -> String {
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if clients {
        out.push_str("Clients:\n");
        for (addr, recved, sent) in &s.clients {
            let _ = writeln!(out, " /{addr}[1](queued=0,recved={recved},sent={sent})");
        }
        out.push('\n');
    }
    let (min, avg, max) = s.latency_ms;
    let _ = write!(
        out,
        "Latency min/avg/max: {min}/{avg}/{max}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: {}\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        s.received,
        s.sent,
        s.clients.len(),
        s.outstanding,
        s.zxid,
        mode.name(),
        s.node_count
    );
    out
}

fn mntr(s: &Snapshot, mode: Mode) -> String {
    let (min, avg, max) = s.latency_ms;
    let mut lines = vec![
        ("zk_version", VERSION.to_string()),
        ("zk_server_state", mode.name().to_string()),
        ("zk_avg_latency", avg.to_string()),
        ("zk_max_latency", max.to_string()),
        ("zk_min_latency", min.to_string()),
        ("zk_packets_received", s.received.to_string()),
        ("zk_packets_sent", s.sent.to_string()),
        ("zk_num_alive_connections", s.clients.len().to_string()),
        ("zk_outstanding_requests", s.outstanding.to_string()),
        ("zk_znode_count", s.node_count.to_string()),
    ];
    if mode == Mode::Leader {
        lines.push(("zk_followers", s.followers.to_string()));
        lines.push(("zk_synced_followers", s.followers.to_string()));
    }
    lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> BTreeSet<String> {
        WORDS.iter().map(|w| w.to_string()).collect()
    }

    fn leader() -> Snapshot {
        Snapshot {
            mode: Some(Mode::Leader),
            zxid: 0x1_0000_0003,
            node_count: 5,
            clients: vec![("127.0.0.1:5000".into(), 3, 4)],
            received: 10,
            sent: 11,
            latency_ms: (0, 1, 7),
            followers: 2,
            ..Snapshot::default()
        }
    }

    #[test]
    fn words_are_recognised_from_the_first_four_bytes() {
        assert_eq!(word(*b"ruok"), Some("ruok"));
        assert_eq!(word(*b"mntr"), Some("mntr"));
        assert_eq!(word([0, 0, 0, 44]), None, "a frame's length prefix");
        assert_eq!(word(*b"kill"), None);
    }

    #[test]
    fn answers_read_like_zookeepers() {
        let s = leader();
        assert_eq!(answer("ruok", &all(), &s), "imok");
        let srvr = answer("srvr", &all(), &s);
        assert!(srvr.starts_with("Zookeeper version: zkstorm-"), "{srvr}");
        assert!(srvr.contains("Latency min/avg/max: 0/1/7\n"), "{srvr}");
        assert!(
            srvr.contains("Zxid: 0x100000003\nMode: leader\nNode count: 5\n"),
            "{srvr}"
        );
        let stat = answer("stat", &all(), &s);
        assert!(
            stat.contains("Clients:\n /127.0.0.1:5000[1](queued=0,recved=3,sent=4)\n\n"),
            "{stat}"
        );
        let mntr = answer("mntr", &all(), &s);
        assert!(mntr.starts_with("zk_version\tzkstorm-"), "{mntr}");
        assert!(mntr.contains("\nzk_server_state\tleader\n"), "{mntr}");
        assert!(mntr.contains("\nzk_followers\t2\n"), "{mntr}");
        assert!(!answer(
            "mntr",
            &all(),
            &Snapshot {
                mode: Some(Mode::Follower),
                ..s
            }
        )
        .contains("zk_followers"));
    }

    #[test]
    fn the_whitelist_and_a_server_not_serving_answer_as_zookeeper_does() {
        let only_srvr: BTreeSet<String> = ["srvr".to_string()].into();
        assert_eq!(
            answer("mntr", &only_srvr, &leader()),
            "mntr is not executed because it is not in the whitelist.\n"
        );
        let down = Snapshot::default();
        assert_eq!(answer("ruok", &all(), &down), "imok");
        assert_eq!(
            answer("srvr", &all(), &down),
            "This ZooKeeper instance is not currently serving requests\n"
        );
    }
}
