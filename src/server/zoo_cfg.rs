//! ZooKeeper's `zoo.cfg`: `key=value` lines and `#` comments, with
//! ZooKeeper's keys and defaults. Every malformed value and every key we
//! do not know is an error naming file, line and key. Keys ZooKeeper 3.8
//! documents that change nothing here (`zoo_cfg_keys`) are accepted and
//! listed in `ignored`, so an existing config works as it is.

use crate::types::Sid;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// One `server.N=host:peerPort:electionPort[:participant][;[addr:]clientPort]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLine {
    pub host: String,
    pub peer_port: u16,
    /// Checked and kept; our servers elect over the peer port.
    pub election_port: u16,
    /// A client address given on the line (ZooKeeper 3.5's form).
    pub client: Option<(Option<String>, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZooCfg {
    pub tick_ms: u64,
    pub init_limit: u64,
    pub sync_limit: u64,
    pub data_dir: PathBuf,
    pub data_log_dir: Option<PathBuf>,
    pub client_port: Option<u16>,
    pub client_port_address: Option<String>,
    /// Empty: standalone.
    pub servers: BTreeMap<Sid, ServerLine>,
    pub max_client_cnxns: u32,
    pub snap_count: u64,
    pub min_session_timeout_ms: u64,
    pub max_session_timeout_ms: u64,
    pub autopurge_snap_retain_count: u32,
    pub autopurge_purge_interval_hours: u32,
    /// `4lw.commands.whitelist`; ZooKeeper's default is `srvr` alone.
    pub four_letter_words: BTreeSet<String>,
    /// Keys accepted without effect, with their lines.
    pub ignored: Vec<(usize, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfgError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub what: String,
}

impl fmt::Display for CfgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.key, self.what
        )
    }
}

impl std::error::Error for CfgError {}

impl ZooCfg {
    pub fn load(path: &Path) -> Result<ZooCfg, CfgError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CfgError {
            file: file.clone(),
            line: 0,
            key: String::new(),
            what: e.to_string(),
        })?;
        ZooCfg::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<ZooCfg, CfgError> {
        let mut raw: BTreeMap<String, (usize, String)> = BTreeMap::new();
        let err = |line: usize, key: &str, what: String| CfgError {
            file: file.to_string(),
            line,
            key: key.to_string(),
            what,
        };
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                return Err(err(i + 1, l, "expected key=value".into()));
            };
            let (k, v) = (k.trim(), v.trim());
            if let Some((first, _)) = raw.insert(k.to_string(), (i + 1, v.to_string())) {
                return Err(err(i + 1, k, format!("set twice (first on line {first})")));
            }
        }
        build(raw, &err)
    }

    /// This server's id: `--id`, else `myid` in dataDir (as ZooKeeper).
    pub fn my_id(&self, given: Option<Sid>) -> Result<Sid, String> {
        if let Some(id) = given {
            return Ok(id);
        }
        let path = self.data_dir.join("myid");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (give --id or write it there)", path.display()))?;
        text.trim()
            .parse()
            .map_err(|_| format!("{}: {:?} is not a server id", path.display(), text.trim()))
    }
}

type Err<'a> = &'a dyn Fn(usize, &str, String) -> CfgError;

type Raw = BTreeMap<String, (usize, String)>;

fn build(mut raw: Raw, err: Err) -> Result<ZooCfg, CfgError> {
    let mut n = |k: &str, lo: u64, hi: u64| num(raw.remove(k), k, lo, hi, err);
    let tick_ms = n("tickTime", 1, 600_000)?.unwrap_or(3_000);
    let init_limit = n("initLimit", 1, 10_000)?.unwrap_or(10);
    let sync_limit = n("syncLimit", 1, 10_000)?.unwrap_or(5);
    let client_port = n("clientPort", 1, 65_535)?.map(|p| p as u16);
    let max_client_cnxns = n("maxClientCnxns", 0, 1 << 20)?.unwrap_or(60) as u32;
    let snap_count = n("snapCount", 2, 1 << 40)?.unwrap_or(100_000);
    let retain = n("autopurge.snapRetainCount", 3, 1 << 20)?.unwrap_or(3) as u32;
    let purge = n("autopurge.purgeInterval", 0, 1 << 20)?.unwrap_or(0) as u32;
    let data_dir = match raw.remove("dataDir") {
        Some((_, v)) if !v.is_empty() => PathBuf::from(v),
        Some((l, _)) => return Err(err(l, "dataDir", "empty".into())),
        None => return Err(err(0, "dataDir", "missing: where the snapshots go".into())),
    };
    let (min_session_timeout_ms, max_session_timeout_ms) = session_bounds(&mut raw, tick_ms, err)?;
    let four_letter_words = match raw.remove("4lw.commands.whitelist") {
        Some((l, v)) => words(l, &v, err)?,
        None => ["srvr".to_string()].into(),
    };
    let mut cfg = ZooCfg {
        tick_ms,
        init_limit,
        sync_limit,
        data_dir,
        data_log_dir: raw.remove("dataLogDir").map(|(_, v)| PathBuf::from(v)),
        client_port,
        client_port_address: raw.remove("clientPortAddress").map(|(_, v)| v),
        servers: BTreeMap::new(),
        max_client_cnxns,
        snap_count,
        min_session_timeout_ms,
        max_session_timeout_ms,
        autopurge_snap_retain_count: retain,
        autopurge_purge_interval_hours: purge,
        four_letter_words,
        ignored: Vec::new(),
    };
    servers_and_the_rest(raw, &mut cfg, err)?;
    Ok(cfg)
}

/// min/maxSessionTimeout, by default 2 and 20 ticks (as ZooKeeper).
fn session_bounds(raw: &mut Raw, tick_ms: u64, err: Err) -> Result<(u64, u64), CfgError> {
    let (min_raw, max_raw) = (
        raw.remove("minSessionTimeout"),
        raw.remove("maxSessionTimeout"),
    );
    let line = min_raw.as_ref().or(max_raw.as_ref()).map_or(0, |(l, _)| *l);
    let min = num(min_raw, "minSessionTimeout", 1, 1 << 40, err)?.unwrap_or(2 * tick_ms);
    let max = num(max_raw, "maxSessionTimeout", 1, 1 << 40, err)?.unwrap_or(20 * tick_ms);
    if min > max {
        let what = format!("{min} ms is above maxSessionTimeout {max} ms");
        return Err(err(line, "minSessionTimeout", what));
    }
    Ok((min, max))
}

/// `server.N` lines; keys we accept without effect; anything else is an
/// error.
fn servers_and_the_rest(raw: Raw, cfg: &mut ZooCfg, err: Err) -> Result<(), CfgError> {
    for (k, (l, v)) in raw {
        if let Some(n) = k.strip_prefix("server.") {
            let sid = n.parse::<Sid>().ok().filter(|s| *s > 0);
            let sid =
                sid.ok_or_else(|| err(l, &k, format!("{n:?} is not a server id (1 or more)")))?;
            cfg.servers.insert(sid, server_line(l, &k, &v, err)?);
        } else if k == "peerType" && v != "participant" {
            return Err(err(l, &k, format!("{v:?}: observers are not supported")));
        } else if k == "peerType" || super::zoo_cfg_keys::has_no_effect(&k) {
            cfg.ignored.push((l, k));
        } else {
            return Err(err(l, &k, "unknown key".into()));
        }
    }
    Ok(())
}

/// A number within `lo..=hi`, or `None` when the key is absent.
fn num(
    v: Option<(usize, String)>,
    key: &str,
    lo: u64,
    hi: u64,
    err: Err,
) -> Result<Option<u64>, CfgError> {
    let Some((l, v)) = v else { return Ok(None) };
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
        _ => Err(err(l, key, format!("{v:?} is not a number in {lo}..={hi}"))),
    }
}

fn words(line: usize, v: &str, err: Err) -> Result<BTreeSet<String>, CfgError> {
    let mut out = BTreeSet::new();
    for w in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if w == "*" {
            out.extend(super::four_letter::WORDS.iter().map(|s| s.to_string()));
        } else if w.len() == 4 {
            // ZooKeeper's other words are accepted and answered as unknown.
            out.insert(w.to_string());
        } else {
            let what = format!("{w:?} is not a four-letter word");
            return Err(err(line, "4lw.commands.whitelist", what));
        }
    }
    Ok(out)
}

fn port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p > 0)
}

fn server_line(l: usize, key: &str, v: &str, err: Err) -> Result<ServerLine, CfgError> {
    let bad = |what: &str| err(l, key, format!("{v:?}: {what}"));
    let (quorum, client) = match v.split_once(';') {
        Some((q, c)) => (q, Some(c.trim())),
        None => (v, None),
    };
    let parts: Vec<&str> = quorum.trim().split(':').collect();
    let (host, peer, election) = match parts[..] {
        [h, p, e] | [h, p, e, "participant"] => (h, p, e),
        [_, _, _, "observer"] => return Err(bad("observers are not supported")),
        _ => return Err(bad("expected host:peerPort:electionPort")),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let (Some(peer_port), Some(election_port)) = (port(peer), port(election)) else {
        return Err(bad("ports are 1..=65535"));
    };
    let client = match client {
        None => None,
        Some(c) => Some(match c.rsplit_once(':') {
            Some((a, p)) => (
                Some(a.to_string()),
                port(p).ok_or_else(|| bad("bad client port"))?,
            ),
            None => (None, port(c).ok_or_else(|| bad("bad client port"))?),
        }),
    };
    Ok(ServerLine {
        host: host.to_string(),
        peer_port,
        election_port,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "\
# a three-server ensemble
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2181
maxClientCnxns=0
autopurge.purgeInterval=1
4lw.commands.whitelist=ruok, srvr,mntr
admin.enableServer=false
server.1=10.0.0.1:2888:3888
server.2=10.0.0.2:2888:3888:participant
server.3=zk3.example:2888:3888;0.0.0.0:2182
";

    #[test]
    fn a_zookeeper_config_reads_with_its_defaults() {
        let c = ZooCfg::parse(CFG, "zoo.cfg").unwrap();
        assert_eq!((c.tick_ms, c.init_limit, c.sync_limit), (2000, 10, 5));
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(c.client_port, Some(2181));
        assert_eq!(c.max_client_cnxns, 0);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(
            (c.min_session_timeout_ms, c.max_session_timeout_ms),
            (4000, 40000)
        );
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.servers[&3].host, "zk3.example");
        assert_eq!(c.servers[&3].client, Some((Some("0.0.0.0".into()), 2182)));
        let words: Vec<&str> = c.four_letter_words.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, ["mntr", "ruok", "srvr"]);
        assert_eq!(c.ignored, [(10, "admin.enableServer".to_string())]);
        let alone = ZooCfg::parse("dataDir=/tmp/z\nclientPort=2181\n", "zoo.cfg").unwrap();
        assert!(alone.servers.is_empty());
        assert_eq!(alone.four_letter_words, ["srvr".to_string()].into());
    }

    /// What kazoo's own test harness writes for a ZooKeeper 3.5+ ensemble,
    /// and a few more documented keys: all load, each listed as ignored.
    #[test]
    fn every_documented_zookeeper_key_loads() {
        let text = "dataDir=/tmp/z\n4lw.commands.whitelist=*\nreconfigEnabled=true\n\
                    localSessionsEnabled=false\nlocalSessionsUpgradingEnabled=false\n\
                    peerType=participant\nssl.quorum.protocol=TLSv1.2\n\
                    znode.container.checkIntervalMs=60000\nzookeeper.nio.numWorkerThreads=4\n";
        let c = ZooCfg::parse(text, "zoo.cfg").unwrap();
        let ignored: Vec<&str> = c.ignored.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(ignored.len(), 7, "{ignored:?}");
        assert!(ignored.contains(&"localSessionsUpgradingEnabled"));
        let observer = ZooCfg::parse("dataDir=/tmp/z\npeerType=observer\n", "zoo.cfg");
        assert!(observer.unwrap_err().to_string().contains("observers"));
    }

    #[test]
    fn bad_lines_say_file_line_and_key() {
        let bad = |text: &str| ZooCfg::parse(text, "zoo.cfg").unwrap_err().to_string();
        let base = "dataDir=/tmp/z\n";
        assert_eq!(
            bad(&format!("{base}tickTime=fast\n")),
            "zoo.cfg:2: tickTime: \"fast\" is not a number in 1..=600000"
        );
        assert_eq!(
            bad(&format!("{base}clientPrt=2181\n")),
            "zoo.cfg:2: clientPrt: unknown key"
        );
        assert_eq!(
            bad(&format!("{base}server.1=h:1:2\nserver.1=h:3:4\n")),
            "zoo.cfg:3: server.1: set twice (first on line 2)"
        );
        assert!(bad(&format!("{base}server.2=h:2888\n"))
            .starts_with("zoo.cfg:2: server.2: \"h:2888\": expected"));
        assert!(bad(&format!("{base}server.x=h:1:2\n")).contains("is not a server id"));
        assert!(bad(&format!("{base}server.1=h:1:2:observer\n"))
            .contains("observers are not supported"));
        assert!(bad(&format!("{base}server.1=h:0:2\n")).contains("ports are 1..=65535"));
        assert_eq!(
            bad("just words\n"),
            "zoo.cfg:1: just words: expected key=value"
        );
        assert!(bad("clientPort=2181\n").contains("dataDir: missing"));
        assert!(bad(&format!("{base}4lw.commands.whitelist=ruok,status\n"))
            .contains("not a four-letter word"));
        assert_eq!(
            bad(&format!("{base}tickTime=1000\nminSessionTimeout=30000\n")),
            "zoo.cfg:3: minSessionTimeout: 30000 ms is above maxSessionTimeout 20000 ms"
        );
    }

    #[test]
    fn myid_comes_from_the_flag_or_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("zkstorm-myid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = ZooCfg::parse(&format!("dataDir={}\n", dir.display()), "zoo.cfg").unwrap();
        assert_eq!(c.my_id(Some(4)), Ok(4));
        assert!(c.my_id(None).unwrap_err().contains("myid"));
        std::fs::write(dir.join("myid"), "2\n").unwrap();
        assert_eq!(c.my_id(None), Ok(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text: a config or an error naming a line of it, never a panic.
        #[test]
        fn any_text_parses_or_says_which_line(
            lines in prop::collection::vec(
                prop_oneof![
                    "[a-zA-Z.0-9]{1,12}=[ -~]{0,20}",
                    Just("dataDir=/tmp/z".to_string()),
                    Just("server.1=h:2888:3888".to_string()),
                    "[ -~]{0,30}",
                ],
                0..8,
            )
        ) {
            let text = lines.join("\n");
            match ZooCfg::parse(&text, "zoo.cfg") {
                Ok(c) => prop_assert!(!c.data_dir.as_os_str().is_empty()),
                Err(e) => prop_assert!(e.line <= lines.len()),
            }
        }
    }
}
