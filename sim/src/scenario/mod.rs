//! Scenario files: what ensemble to build, what load to put on it, which
//! faults to inject when, and what to check afterwards.
//!
//! ```toml
//! name = "leader-crash"
//! about = "Crash the leader under load; nothing acknowledged may be lost."
//! duration = "30s"          # how long the client load runs (simulated time)
//! bugs = []                 # injected bugs, by name (`zkstorm list`); simulation only
//! settle = "20s"            # then: time for every server to converge (default 20s)
//!
//! [ensemble]
//! servers = 5               # 1..=9
//! tick = "200ms"            # ZooKeeper's tickTime (default 200ms)
//! init_limit = 10           # ticks (default 10)
//! sync_limit = 5            # ticks (default 5)
//! snap_count = 2000         # txns between snapshots (default 2000)
//!
//! [workload]
//! clients = 4               # default 3
//! rate = 50                 # ops each client starts per simulated second (default 20)
//! pipeline = 4              # requests in flight per client, 1..=64 (default 1)
//! conditional = 30          # percent of set/delete/multi expecting the
//!                           # version last seen (default 30)
//! keys = 8                  # key space /k0../k7 (default 8)
//! value_bytes = 16          # default 16
//! mix = { create = 3, set = 4, get = 2, delete = 1, sync = 1, multi = 1,
//!         sequential = 1, children = 1, ephemeral = 1 }
//!                           # weights (missing = 0); multi: check a version
//!                           # and set; sequential: create /q/s-N; children:
//!                           # list /q; ephemeral: create/read /e<i>
//! session_timeout = "3s"    # 2..=20 ticks (default 3s)
//!
//! [network]
//! latency = ["1ms", "10ms"] # one-way, uniform (default 1ms..10ms)
//! packet_loss = 0.0         # 0..=0.9, see "packet loss" below
//!
//! [disk]
//! fsync_latency = ["1ms", "3ms"]  # default
//! tear_probability = 0.5    # chance a crash tears an unsynced log tail
//! garbage_probability = 0.25
//!
//! [[fault]]
//! at = "8s"
//! crash = "leader"
//! until = "14s"             # optional: restart it then
//!
//! [check]
//! zab = true                # zab.* checkers (default true)
//! client = true             # client.sequential, .watches, .sessions (default true)
//! linearizable = false      # client.linearizable (default false)
//! linearizable_steps = 10000000  # its search budget per znode; past it: undecided
//! liveness = "10s"          # after the last fault ends, every client commits a write within this
//! ```
//!
//! # Faults
//!
//! Each `[[fault]]` has `at` (simulated time since the start) and exactly one
//! action. The kinds live in the fault registry (`fault/`), each defined once;
//! `zkstorm list` prints them. Faults fire in time order (ties in file order); an `until` (or
//! `heal_at` for network cuts) undoes that one fault then. When the timeline
//! ends — the last `at` or `until` — the runner heals everything: network
//! cuts, base network and disk settings, paused nodes resumed, crashed and
//! stopped nodes restarted. Liveness is measured from that moment.
//!
//! | action | value | undone by `until` |
//! |---|---|---|
//! | `crash` | targets | restart |
//! | `kill` | targets | restart |
//! | `power_loss` | targets | restart |
//! | `restart` | targets | — |
//! | `pause` / `resume` | targets | resume |
//! | `isolate` | targets | reconnect |
//! | `partition` | `[[group], [group], ...]` | reconnect (`heal_at` too) |
//! | `one_way` | `{ from = targets, to = targets }` | reconnect (`heal_at` too) |
//! | `heal` | `true` | — |
//! | `slow_fsync` | `{ target, min, max }` | back to `[disk]` latency |
//! | `fsync_error` | `{ target, count }` | — |
//! | `disk_full` | `{ target, on = true }` | `on = false` |
//! | `expire_session` | client index | reconnect (default after 2×timeout+1s) |
//! | `latency` | `[min, max]` | back to `[network]` |
//! | `packet_loss` | `0..=0.9` | back to `[network]` |
//!
//! **crash, kill and power_loss.** `crash` is a machine failure: the process
//! dies and whatever was not fsynced is lost, an unsynced log tail torn with
//! the `[disk]` odds (this is what `Cluster::crash` and the chaos runs do).
//! `kill` is `kill -9` of the process only: the OS page cache survives, so
//! data written but not yet fsynced is still there after restart.
//! `power_loss` is `crash` with every unsynced appended tail torn at a random
//! byte (garbage after it half the time) — the harshest case for recovery.
//! `restart` starts a crashed node; a running one is killed and started again.
//!
//! **Disk faults.** A server stops when its disk fails (as ZooKeeper exits on
//! a failed fsync): `fsync_error` and `disk_full` usually take their target
//! down. The harness records `server N stopped: ...` and counts it as
//! crashed (target `crashed`, restarted by the final heal).
//!
//! **Targets** are resolved when the fault fires, against the live cluster:
//! `leader` (the established leader; none during an election), `follower`
//! (a random live non-leader), `random` (a random node the action applies
//! to), `minority` ((n-1)/2 random nodes), `majority` (n/2+1), `crashed`,
//! `all`, `rest` (partition/one_way only: every server not named in the
//! other groups), `"fault[N]"` (the nodes earlier fault N picked, e.g. to
//! restart exactly the follower it crashed) or `"fault[N][G]"` (group G of
//! an earlier partition; for one_way 0 = from, 1 = to), a node id, or a
//! list of these. Within one fault every
//! pick is distinct: `["follower", "follower"]` is two different followers,
//! and node ids are placed before roles, so `[["leader"], [3]]` never puts
//! node 3 on both sides. A fault whose targets resolve to nothing is recorded
//! as skipped, not an error. Node ids are checked against the ensemble size
//! when the file loads.
//!
//! **Partitions** cut server-to-server links only; clients keep reaching
//! every server (so a client of a minority server sees its requests stall).
//! `isolate` also cuts the node's clients. Cuts are counted per link, so
//! overlapping faults heal independently.
//!
//! **Packet loss** in madsim 0.2.34: a lost TCP send is not dropped — the
//! simulated stream retries it with exponential backoff (1ms doubling to 10s)
//! and holds everything behind it, like TCP retransmission; a lost connect
//! fails at once with "connection refused". So loss shows up as latency
//! spikes, head-of-line blocking and failed connects, never as a gap in a
//! stream. That keeps TCP's guarantees, so any rate up to 0.9 is allowed.
//! (Clogged links behave the same way: after a heal, a message that was
//! retrying may take up to 10s to arrive.)

mod duration;
mod error;
mod fault;
mod locate;
mod nemesis;
mod render;
mod resolve;
mod run;
mod schema;
pub(crate) mod topology;
mod validate;

pub use duration::{format as format_duration, parse as parse_duration};
pub use error::{ErrorKind, ScenarioError};
pub use fault::{
    Action, Crash, DiskFull, ExpireSession, FsyncError, Heal, Isolate, Kill, KindInfo, Lasts,
    Latency, NodeOp, OnMessage, OnThen, OneWay, PacketLoss, Partition, Pause, PowerLoss, Restart,
    Resume, SlowFsync, ACTION_KEYS, KINDS, STORM_KEYS,
};
pub use run::{
    check_determinism, check_options, judge, replay_command, run, run_seed, run_seed_counted,
    run_seed_for, run_with, settle, wanted, RunReport, UserClient, Users,
};
pub use schema::{
    CheckSpec, DiskSpec, EnsembleSpec, FaultSpec, NetworkSpec, Scenario, Target, WorkloadSpec,
};
pub use topology::TopologySpec;
pub use validate::limits;

use locate::Locator;
use std::path::Path;

impl Scenario {
    /// Reads and validates a scenario file. The error names the file as given.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let io_error = |message: String| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            field: String::new(),
            kind: ErrorKind::Io,
            message,
        };
        let bytes =
            read_capped(path).map_err(|e| io_error(format!("cannot read the file: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(io_error(format!(
                "the file is larger than {} MiB; a scenario file is a few kilobytes",
                MAX_FILE_BYTES >> 20
            )));
        }
        Scenario::parse_bytes(&bytes, &file)
    }

    /// Parses and validates a file's bytes: text that is not UTF-8 is a
    /// syntax error at the first bad byte.
    pub fn parse_bytes(bytes: &[u8], file_name: &str) -> Result<Scenario, ScenarioError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Scenario::parse(text, file_name),
            Err(e) => Err(not_utf8(bytes, &e, file_name)),
        }
    }

    /// Parses and validates scenario text; `file_name` is used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
        let loc = Locator::new(file_name, text);
        let raw: schema::RawScenario = toml::from_str(text).map_err(|e| toml_error(&loc, &e))?;
        validate::scenario(raw, &validate::V { loc: &loc })
    }

    /// When the fault timeline ends and the runner heals everything.
    pub fn heal_time(&self) -> std::time::Duration {
        validate::timeline_end(&self.faults, &self.workload)
    }

    /// The scenario as a file that parses back to the same scenario (every
    /// setting spelled out) — for shrunk fuzz failures and `zkstorm list`.
    pub fn to_toml(&self) -> String {
        render::to_toml(self)
    }

    /// Written out as a file and read back: a scenario built in code (drawn,
    /// shrunk, rewritten) gets validated like a hand-written one, and its
    /// faults get their file positions. `Err` says what is wrong, with the
    /// text it is about.
    pub fn reparsed(&self) -> Result<Scenario, String> {
        let text = self.to_toml();
        let code = self.topology.as_ref().and_then(|t| t.code.clone());
        Scenario::parse_with_code(&text, &self.file, code).map_err(|e| format!("{e}\n{text}"))
    }

    /// `parse` of a file whose topology is built in code (`kind = "code"`,
    /// a world's: `testing`), with that code; as `parse` without it.
    pub fn parse_with_code(
        text: &str,
        file_name: &str,
        code: Option<topology::Code>,
    ) -> Result<Scenario, ScenarioError> {
        let Some(code) = code else {
            return Scenario::parse(text, file_name);
        };
        let placeholder = text.replace("kind = \"code\"", "kind = \"word-count\"");
        let mut sc = Scenario::parse(&placeholder, file_name)?;
        if let Some(t) = sc.topology.as_mut() {
            t.kind = topology::CODE.into();
            t.code = Some(code);
        }
        Ok(sc)
    }

    /// The workload settings as the client driver takes them.
    pub fn workload_config(&self) -> crate::workload::WorkloadConfig {
        let w = &self.workload;
        crate::workload::WorkloadConfig {
            clients: w.clients,
            rate: w.rate,
            pipeline: w.pipeline,
            conditional: w.conditional,
            keys: w.keys,
            value_bytes: w.value_bytes,
            mix: w.mix,
            ephemeral: w.ephemeral,
            session_timeout_ms: w.session_timeout.as_millis() as u64,
            ..crate::workload::WorkloadConfig::default()
        }
    }

    /// The ensemble settings as the cluster builder takes them.
    pub fn cluster_config(&self) -> crate::cluster::ClusterConfig {
        let e = &self.ensemble;
        let mut c = crate::cluster::ClusterConfig::new(e.servers);
        c.tick_ms = e.tick.as_millis() as u64;
        c.init_limit = e.init_limit;
        c.sync_limit = e.sync_limit;
        c.snap_count = e.snap_count;
        c
    }
}

/// Scenario files are small; a bigger file (or /dev/zero) is a mistake, and
/// reading it whole could exhaust memory.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Up to one byte more than [`MAX_FILE_BYTES`], so an oversized file shows.
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Where the UTF-8 goes wrong, located on the valid text before it.
fn not_utf8(bytes: &[u8], e: &std::str::Utf8Error, file_name: &str) -> ScenarioError {
    let good = e.valid_up_to();
    let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
    let loc = Locator::new(file_name, prefix);
    let (line, column) = loc.line_col(good);
    let byte = bytes[good];
    let message = match e.error_len() {
        Some(_) => format!(
            "not UTF-8: byte 0x{byte:02x} cannot start or continue a character here (scenario files are UTF-8 text)"
        ),
        None => format!("not UTF-8: the file ends inside a character (byte 0x{byte:02x})"),
    };
    ScenarioError {
        file: file_name.to_string(),
        line,
        column,
        field: loc.path_at(good),
        kind: ErrorKind::Syntax,
        message,
    }
}

/// A toml/serde error → our error, with the key path found from the span.
fn toml_error(loc: &Locator, e: &toml::de::Error) -> ScenarioError {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let (line, column) = loc.line_col(offset);
    let raw = e.message().trim().replace('\n', "; ");
    let mut field = loc.path_at(offset);
    let (kind, message) = if let Some(rest) = raw.strip_prefix("unknown field ") {
        // "`rat`, expected one of `clients`, `rate`, ..." (or "expected nothing")
        let (key, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let key = key.trim_matches('`');
        let names: Vec<&str> = expected
            .trim_start_matches("one of ")
            .split(", ")
            .map(|n| n.trim_matches('`'))
            .filter(|n| !n.is_empty() && *n != "nothing")
            .collect();
        let hint = match suggest(key, &names) {
            Some(s) => format!(" — did you mean `{s}`?"),
            None => String::new(),
        };
        let listed = if names.is_empty() {
            String::new()
        } else {
            format!(" (expected one of {})", names.join(", "))
        };
        (
            ErrorKind::UnknownKey,
            format!("unknown key `{key}`{hint}{listed}"),
        )
    } else if let Some(rest) = raw.strip_prefix("missing field ") {
        let name = rest.trim_matches('`');
        if field.is_empty() {
            field = name.to_string();
        } else if !field.ends_with(&format!(".{name}")) {
            field = format!("{field}.{name}");
        }
        (ErrorKind::MissingKey, format!("missing key `{name}`"))
    } else if raw.starts_with("bad duration") {
        (ErrorKind::BadDuration, raw)
    } else if raw.starts_with("duplicate key") {
        (ErrorKind::Duplicate, duplicate(loc, offset))
    } else if raw.ends_with("number overflowed") {
        // A number literal too big for TOML itself (e.g. 1e999).
        (ErrorKind::OutOfRange, raw)
    } else if [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|p| raw.starts_with(p))
    {
        (ErrorKind::WrongType, raw)
    } else {
        // Everything else comes from the TOML parser itself.
        (ErrorKind::Syntax, raw)
    };
    ScenarioError {
        file: loc.file.to_string(),
        line,
        column,
        field,
        kind,
        message,
    }
}

/// "duplicate key", naming the other place the key or table is defined
/// (the field already names the key).
fn duplicate(loc: &Locator, offset: usize) -> String {
    let Some(other) = loc.other_definition(offset) else {
        return "duplicate key: it is defined more than once".into();
    };
    let (line, column) = loc.line_col(other.offset);
    let what = if other.header.is_some() {
        "table"
    } else {
        "key"
    };
    let when = if other.offset < offset {
        "already"
    } else {
        "also"
    };
    format!("duplicate {what}: {when} defined at line {line}, column {column}")
}

/// The candidate closest to a misspelt `word`, if it is close enough.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
