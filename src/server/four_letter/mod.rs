//! ZooKeeper 3.8's four-letter words on the client port: a connection
//! whose first four bytes spell one gets a text answer and is closed.
//! Sans-IO: the words, what the server knows of itself when one comes in
//! (`Snapshot`, `About`), and the answers in ZooKeeper's formats (`text`).

#[cfg(test)]
mod tests;
mod text;

use crate::tree::DataTree;
use std::collections::BTreeSet;

/// Every word ZooKeeper 3.8 answers (`4lw.commands.whitelist` picks among
/// them; `*` allows all).
pub const WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst",
    "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

/// The version the words report: ZooKeeper's protocol level first, as
/// clients such as kazoo read its leading digits.
pub const VERSION: &str = concat!("3.8.0-zkstorm-", env!("CARGO_PKG_VERSION"));

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

/// One client connection, as `cons` and `stat` list it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    pub addr: String,
    pub received: u64,
    pub sent: u64,
    /// Requests waiting on ZAB or behind writes.
    pub queued: u64,
    /// The session, once the handshake is done: (id, timeout ms).
    pub session: Option<(u64, u64)>,
}

/// What the server knows of itself when a word comes in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub mode: Option<Mode>,
    pub zxid: u64,
    /// As ZooKeeper counts: its root is held twice (under "" and "/").
    pub node_count: u64,
    pub conns: Vec<ConnInfo>,
    pub received: u64,
    pub sent: u64,
    pub outstanding: u64,
    /// Request latency in ms: (min, total, count, max).
    pub latency: (u64, u64, u64, u64),
    /// On a leader: learners connected, those past sync, those syncing.
    pub followers: u64,
    pub synced_followers: u64,
    pub pending_syncs: u64,
    /// Live sessions: (id, timeout ms).
    pub sessions: Vec<(u64, u64)>,
    /// Sessions owning ephemerals, with their paths.
    pub ephemerals: Vec<(u64, Vec<String>)>,
    /// Data watches (getData, exists) by session: the paths each session's
    /// connection watches, as `wchs`, `wchc` and `wchp` report them.
    pub watches: Vec<(u64, Vec<String>)>,
    /// Every watch, child watches too, as mntr counts them: one per
    /// (watcher, kind, path).
    pub watch_count: u64,
    /// Paths and data, in bytes (ZooKeeper's approximate data size).
    pub data_size: u64,
    pub digest: u64,
    /// Bytes under dataDir and dataLogDir.
    pub dir_sizes: (u64, u64),
    pub uptime_ms: u64,
}

impl Snapshot {
    /// What the tree says: sessions, ephemerals, data watches by session
    /// (`session_of` a watching connection), watch count and data size.
    pub fn add_tree(&mut self, tree: &DataTree, session_of: impl Fn(u64) -> Option<u64>) {
        self.sessions = tree.sessions().iter().map(|(id, to)| (*id, *to)).collect();
        self.ephemerals = tree.ephemeral_owners();
        let by_session = |(conn, paths): (u64, BTreeSet<String>)| {
            Some((session_of(conn)?, paths.into_iter().collect()))
        };
        self.watches = tree
            .data_watches()
            .into_iter()
            .filter_map(by_session)
            .collect();
        self.watches.sort();
        self.watch_count = tree.watch_count() as u64;
        self.data_size = tree.approximate_data_size();
    }
}

/// What the configuration says of this server (`conf`, `envi`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct About {
    pub server_id: u64,
    pub client_port: u16,
    pub data_dir: String,
    pub data_log_dir: String,
    pub tick_ms: u64,
    pub max_client_cnxns: u32,
    pub session_timeout_ms: (u64, u64),
    /// In an ensemble: (initLimit, syncLimit, election port, quorum port,
    /// the membership as `server.N=...` lines).
    pub quorum: Option<(u64, u64, u16, u16, Vec<String>)>,
    /// `envi`'s lines after the version: host, OS, user, directory.
    pub env: Vec<(String, String)>,
}

/// Counters a word resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// `crst`: every connection's counts.
    Connections,
    /// `srst`: the server's counts and latency.
    Server,
}

/// Words whose answer walks the whole tree (sessions, watches, data size):
/// only they pay for it, not a monitor's `ruok` every few seconds.
pub fn reads_tree(word: &str) -> bool {
    matches!(word, "mntr" | "wchs" | "wchc" | "wchp" | "dump")
}

/// Words whose answer reads the size of the data directories.
pub fn reads_disk(word: &str) -> bool {
    matches!(word, "conf" | "dirs")
}

/// Words that act on the server as well as answer.
pub fn resets(word: &str) -> Option<Reset> {
    match word {
        "crst" => Some(Reset::Connections),
        "srst" => Some(Reset::Server),
        _ => None,
    }
}

/// `stmk` followed by its 8-byte mask: ZooKeeper answers the mask it set.
pub fn set_trace_mask(allowed: &BTreeSet<String>, mask: [u8; 8]) -> String {
    if !allowed.contains("stmk") {
        return "stmk is not executed because it is not in the whitelist.\n".into();
    }
    i64::from_be_bytes(mask).to_string()
}

/// Bytes in the files under `dir` (`conf`, `dirs`); 0 when unreadable.
pub fn dir_size(dir: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let size = |e: std::fs::DirEntry| match e.metadata() {
        Ok(m) if m.is_dir() => dir_size(&e.path().to_string_lossy()),
        Ok(m) => m.len(),
        Err(_) => 0,
    };
    entries.flatten().map(size).sum()
}

/// ZooKeeper's answer when the server is not serving.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The answer to `word`, given the words allowed.
pub fn answer(word: &str, allowed: &BTreeSet<String>, s: &Snapshot, about: &About) -> String {
    if !allowed.contains(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    let mode = s.mode.unwrap_or(Mode::NotServing);
    // These answer whether or not the server serves, as ZooKeeper's do.
    match word {
        "ruok" => return "imok".into(),
        "envi" => return text::envi(about),
        "isro" => {
            return if mode == Mode::NotServing {
                "null"
            } else {
                "rw"
            }
            .into()
        }
        // Trace masks are a ZooKeeper logging switch: ours reads the
        // default mask, and setting one (`stmk`, see `set_trace_mask`)
        // changes nothing here.
        "gtmk" => return "306".into(),
        "stmk" => return String::new(),
        _ => {}
    }
    if mode == Mode::NotServing {
        return NOT_SERVING.into();
    }
    match word {
        "srvr" => text::srvr(s, mode, false),
        "stat" => text::srvr(s, mode, true),
        "mntr" => text::mntr(s, mode),
        "conf" => text::conf(about, s),
        "cons" => text::cons(s),
        "dump" => text::dump(s),
        "wchs" => text::wchs(s),
        "wchc" => text::wchc(s),
        "wchp" => text::wchp(s),
        "dirs" => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            s.dir_sizes.0, s.dir_sizes.1
        ),
        "hash" => format!("{:x}: {}\n", s.zxid, s.digest),
        "crst" => "Connection stats reset.\n".into(),
        "srst" => "Server stats reset.\n".into(),
        _ => format!("{word} is not a command we answer\n"),
    }
}
