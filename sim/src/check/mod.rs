//! Checkers over the recorded history. Each judges the history alone (never
//! the servers' internals) and reports under its name; `run_all` gives every
//! named check's verdict, `CHECKS` is the registry of them all.
//!
//! Families: `zab` (the protocol's delivery properties, from the Proposed /
//! Delivered / Established / Truncated records), `client` (what clients were
//! promised, from Invoke / Complete / Watch / ClientState records and the
//! delivered CloseSession txns), `liveness` (progress after the faults heal).
//!
//! What each reads:
//! - `zab.*`: `Proposed` (leader, epoch, txn identity), `Delivered` (server,
//!   zxid, txn identity), `Recovered` / `Reset` (a server's state restarts at
//!   a base), `Established` (epoch, leader, history tip); `zab.durability`
//!   also `Complete` of writes (acknowledged zxids) and `Truncated`.
//! - `client.linearizable`: `Invoke` (typed call) / `Complete` (outcome,
//!   zxid, returned value/version/owner, the xid it was sent under), the
//!   txns' `Delivered` (a lost write's fate), the CloseSession txns'
//!   `Proposed` and `Delivered` (a session's end removes its ephemerals).
//! - `client.sequential`: `Complete` and `Watch` zxids per session.
//! - `client.watches`: reads with `watch: true`, `Watch` events and
//!   `ClientState` Disconnected, in the order the client received them.
//! - `client.sessions`: ephemeral creates, reads' owners, CloseSession txns.
//! - `client.sequential_names`: sequential creates' names (`Complete` with
//!   `Ret::Named`) and zxids, NodeExists answers, deletes of their parents.
//! - `client.session_expiry`: `ClientState` SessionStarted (the timeout),
//!   `Established`, the leader's `Delivered` CreateSession, `Invoke` times
//!   and `Complete` xids and servers, the `Proposed` records of requests and
//!   of expiries (CloseSession under a server cxid).
//! - `converged`: the `ServerState` records written when the run settled.
//! - `liveness`: the heal's time (from the runner, else the last `Fault` or
//!   `Node` record), every client's `Invoke` / `ClientState` (who is at
//!   work) and `Complete` of writes.
//!
//! Every record is typed (`history::Event`: outcomes, watch event types,
//! client states, ZAB events, node changes): no checker parses text back;
//! `Fault` lines are for people reading a trace.

mod ack;
mod client;
mod converged;
mod evidence;
mod linear;
mod liveness;
mod promises;
mod sequential_names;
mod session_expiry;
mod storm;
mod zab;

// Hand-made histories: the checkers' tests, and bench's big histories.
#[cfg_attr(not(test), allow(dead_code))]
pub mod testkit;
#[cfg(test)]
mod tests;

use crate::history::Record;
use std::collections::BTreeMap;

pub use client::{linearizable, sequential, sessions, watches};
pub use converged::converged;
pub use linear::{check_key, Failure, KeyOp, KeyOpKind, KeyOutcome, Node, STEP_LIMIT};
pub use liveness::liveness;
pub use sequential_names::sequential_names;
pub use session_expiry::session_expiry;
pub use storm::StormSpec;

/// What a checker found: a violation, or a history it could not decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
    /// Not a violation found, but the checker gave up (see `Verdict::Undecided`).
    pub undecided: bool,
}

pub(crate) fn v(check: &'static str, detail: String) -> Violation {
    Violation {
        check,
        detail,
        undecided: false,
    }
}

pub(crate) fn undecided(check: &'static str, detail: String) -> Violation {
    Violation {
        check,
        detail,
        undecided: true,
    }
}

/// One check's verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// A violation was found: the first, and how many more.
    Fail(String),
    /// No violation was found, but the checker could not show the history
    /// correct either (the linearizability search hit its bound). Never a
    /// pass, and never confused with a violation.
    Undecided(String),
    /// No violation was found, but the history held too little to judge
    /// (see `evidence`): never a pass either.
    Inconclusive(String),
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    /// "pass", "fail", "undecided" or "inconclusive".
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::Undecided(_) => "undecided",
            Verdict::Inconclusive(_) => "inconclusive",
        }
    }

    /// Why it did not pass.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail(r) | Verdict::Undecided(r) | Verdict::Inconclusive(r) => Some(r),
        }
    }

    /// How bad, for `overall`: pass < inconclusive < undecided < fail.
    fn rank(&self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Inconclusive(_) => 1,
            Verdict::Undecided(_) => 2,
            Verdict::Fail(_) => 3,
        }
    }

    /// The verdict of several checks together: the worst, the first of its
    /// kind (any failure fails, else any undecided, else any inconclusive).
    pub fn overall<'a>(all: impl IntoIterator<Item = &'a Verdict>) -> Verdict {
        let mut out = Verdict::Pass;
        for v in all {
            if v.rank() > out.rank() {
                out = v.clone();
            }
        }
        out
    }
}

/// Which switch of a scenario's `[check]` section turns a check on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `zab = true`: the protocol's delivery properties.
    Zab,
    /// `linearizable = true`.
    Linearizable,
    /// `client = true`: sequential, watches, sessions.
    Client,
    /// Always on.
    Converged,
    /// `liveness = "<bound>"`.
    Liveness,
    /// A topology runs: tuple delivery and the storm cluster.
    Storm,
}

/// One named check.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    pub name: &'static str,
    pub family: Family,
    /// What it checks, in a line (`zkstorm list`).
    pub about: &'static str,
    /// The checker that reports it (one pass may judge several checks).
    pub judge: &'static Judge,
}

/// A checker: one pass over the history that reports the violations of
/// the checks naming it.
#[derive(Debug)]
pub struct Judge {
    /// Unique: the runner runs each judge once.
    pub name: &'static str,
    pub run: fn(&[Record], &CheckOptions) -> Vec<Violation>,
}

impl Judge {
    const fn new(name: &'static str, run: fn(&[Record], &CheckOptions) -> Vec<Violation>) -> Judge {
        Judge { name, run }
    }
}

static ZAB: Judge = Judge::new("zab", |r, _| zab::check(r));
static LINEARIZABLE: Judge = Judge::new("linearizable", linearizable);
static SEQUENTIAL: Judge = Judge::new("sequential", |r, _| sequential(r));
static WATCHES: Judge = Judge::new("watches", watches);
static SESSIONS: Judge = Judge::new("sessions", |r, _| sessions(r));
static SEQUENTIAL_NAMES: Judge = Judge::new("sequential_names", |r, _| sequential_names(r));
static SESSION_EXPIRY: Judge = Judge::new("session_expiry", |r, _| session_expiry(r));
static CONVERGED: Judge = Judge::new("converged", |r, _| converged(r));
static LIVENESS: Judge = Judge::new("liveness", liveness);
static STORM: Judge = Judge::new("storm", |r, opts| {
    let (events, nimbus) = (storm_events(r), nimbus_events(r));
    storm::check(&events, &nimbus, store_read(r), &opts.storm)
});

/// Every check, by name, with the checker that judges it: the one registry
/// the runner, the CLI and the tests use. A new check goes here (and its
/// checker, if it is new, above).
pub const CHECKS: &[Check] = &[
    Check {
        name: "zab.integrity",
        family: Family::Zab,
        about: "every delivered txn was proposed, with the same content, by a leader before it was delivered",
        judge: &ZAB,
    },
    Check {
        name: "zab.total_order",
        family: Family::Zab,
        about: "each server delivers in zxid order without skipping a txn any server delivered",
        judge: &ZAB,
    },
    Check {
        name: "zab.agreement",
        family: Family::Zab,
        about: "every server that delivers a zxid delivers the same txn there",
        judge: &ZAB,
    },
    Check {
        name: "zab.local_primary_order",
        family: Family::Zab,
        about: "a leader's proposals are delivered in the order it proposed them, none skipped",
        judge: &ZAB,
    },
    Check {
        name: "zab.global_primary_order",
        family: Family::Zab,
        about: "txns of an older leader are delivered before those of a newer one; leaders propose in their own epoch",
        judge: &ZAB,
    },
    Check {
        name: "zab.primary_integrity",
        family: Family::Zab,
        about: "a new leader's history holds every older-epoch txn anyone delivers, and it delivers them before its own",
        judge: &ZAB,
    },
    Check {
        name: "zab.prefix_consistency",
        family: Family::Zab,
        about: "every server's delivered sequence, from where its state last restarted, is a prefix of one history",
        judge: &ZAB,
    },
    Check {
        name: "zab.single_leader_per_epoch",
        family: Family::Zab,
        about: "at most one server establishes each epoch, and only it proposes in that epoch",
        judge: &ZAB,
    },
    Check {
        name: "zab.durability",
        family: Family::Zab,
        about: "no acknowledged write is lost and no committed txn is truncated",
        judge: &ZAB,
    },
    Check {
        name: "zab.ack_durable",
        family: Family::Zab,
        about: "a server that crashes or loses power recovers at least as far as it had acknowledged (ACK, ACKNEWLEADER)",
        judge: &ZAB,
    },
    Check {
        name: "zab.epoch_durable",
        family: Family::Zab,
        about: "a server that recovers with currentEpoch e has the log it had when it took e",
        judge: &ZAB,
    },
    Check {
        name: "zab.epoch_promises",
        family: Family::Zab,
        about: "no server vouches (counted ACKEPOCH) for one epoch to two would-be leaders without taking the first promise back, nor recovers with an acceptedEpoch below one it still promised",
        judge: &ZAB,
    },
    Check {
        name: "client.linearizable",
        family: Family::Linearizable,
        about: "writes, and reads right after a sync, linearize per znode (WGL search; lost answers may or may not have happened)",
        judge: &LINEARIZABLE,
    },
    Check {
        name: "client.sequential",
        family: Family::Client,
        about: "a session never sees an older zxid than it saw; answers in FIFO order; reads return written values",
        judge: &SEQUENTIAL,
    },
    Check {
        name: "client.watches",
        family: Family::Client,
        about: "one event per watch, after the read that set it, before the session sees data past the change",
        judge: &WATCHES,
    },
    Check {
        name: "client.sessions",
        family: Family::Client,
        about: "an ephemeral lives exactly as long as its session: gone once it ends, never before",
        judge: &SESSIONS,
    },
    Check {
        name: "client.sequential_names",
        family: Family::Client,
        about: "a sequential create's name is its parent's create counter: one parent's names grow with the zxid, none repeats, no NodeExists",
        judge: &SEQUENTIAL_NAMES,
    },
    Check {
        name: "client.session_expiry",
        family: Family::Client,
        about: "a leader expires no session it heard from, by a request sent to it, within the session timeout",
        judge: &SESSION_EXPIRY,
    },
    Check {
        name: "converged",
        family: Family::Converged,
        about: "when the run ends, every server serves the same applied zxid and data tree",
        judge: &CONVERGED,
    },
    Check {
        name: "liveness",
        family: Family::Liveness,
        about: "within the bound after the last fault healed, every client at work commits a write",
        judge: &LIVENESS,
    },
    Check {
        name: "storm.at_least_once",
        family: Family::Storm,
        about: "every message a spout's source holds is acked in the end, through replays",
        judge: &STORM,
    },
    Check {
        name: "storm.tree_complete",
        family: Family::Storm,
        about: "no root is acked while a tuple of its tree was sent to a task that had not acked it",
        judge: &STORM,
    },
    Check {
        name: "storm.single_callback",
        family: Family::Storm,
        about: "at most one ack or fail per spout emission, only for a root the task emitted in its current life",
        judge: &STORM,
    },
    Check {
        name: "storm.max_pending",
        family: Family::Storm,
        about: "a spout task never has more tracked messages in flight than its max pending",
        judge: &STORM,
    },
    Check {
        name: "storm.assignment",
        family: Family::Storm,
        about: "when the run ends, every task runs in exactly one running worker: none missing, none doubled",
        judge: &STORM,
    },
    Check {
        name: "storm.single_nimbus",
        family: Family::Storm,
        about: "at most one Nimbus acts as leader at any instant; assignments are written only by the acting leader, and no deposed leader's write lands after a newer one's",
        judge: &STORM,
    },
    Check {
        name: "storm.word_count",
        family: Family::Storm,
        about: "the store holds the input's word counts: exactly (exactly-once) or at least (at-least-once), no other word",
        judge: &STORM,
    },
    Check {
        name: "storm.exactly_once",
        family: Family::Storm,
        about: "a batch topology ends with the state the fault-free run of the same input commits, and each key's state is saved in txid order",
        judge: &STORM,
    },
];

/// Knobs of the checks that need more than the history.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// `liveness`: how long after the heal the ensemble has to make progress.
    pub liveness_bound_ms: u64,
    /// `liveness`: when the last fault healed (ms of history time); `None`:
    /// the time of the last `Fault` record (0 if none).
    pub healed_at_ms: Option<u64>,
    /// `client.watches`: watches outlive a reconnection within their session
    /// (ZooKeeper re-registers them). When false, a client's `Disconnected`
    /// ends its watches' obligations (events may be lost, not duplicated).
    pub watches_survive_reconnect: bool,
    /// `client.linearizable`: search steps per znode before it gives up
    /// (the verdict is then undecided).
    pub linearizable_steps: u64,
    /// `storm.*`: what the run's topology promises.
    pub storm: StormSpec,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            liveness_bound_ms: 10_000,
            healed_at_ms: None,
            watches_survive_reconnect: true,
            linearizable_steps: STEP_LIMIT,
            storm: StormSpec::default(),
        }
    }
}

/// All the ZAB checks.
pub fn zab(records: &[Record]) -> Vec<Violation> {
    zab::check(records)
}

/// The engine's events, in order, with their times and workers.
pub fn storm_events(records: &[Record]) -> Vec<storm::Ev<'_>> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            crate::history::Event::Storm { worker, event } => {
                Some((r.t_ms, worker.as_str(), event))
            }
            _ => None,
        })
        .collect()
}

/// The state a batch topology ended with, if the run read it.
pub fn store_read(records: &[Record]) -> storm::Ended<'_> {
    records.iter().rev().find_map(|r| match &r.event {
        crate::history::Event::StoreRead { entries, error } => {
            Some(error.as_deref().map_or(Ok(entries), Err))
        }
        _ => None,
    })
}

/// What the Nimbus daemons reported, in order, with times and ids.
pub fn nimbus_events(records: &[Record]) -> Vec<storm::NimbusEv<'_>> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            crate::history::Event::Nimbus { id, event } => Some((r.t_ms, id.as_str(), event)),
            _ => None,
        })
        .collect()
}

/// What the judges of the checks `wanted` accepts find, each judge run once.
fn judged(
    records: &[Record],
    opts: &CheckOptions,
    wanted: impl Fn(&Check) -> bool,
) -> Vec<Violation> {
    let mut ran: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for c in CHECKS.iter().filter(|c| wanted(c)) {
        if !ran.contains(&c.judge.name) {
            ran.push(c.judge.name);
            out.extend((c.judge.run)(records, opts));
        }
    }
    out
}

/// Every violation of every check.
pub fn all(records: &[Record], opts: &CheckOptions) -> Vec<Violation> {
    judged(records, opts, |_| true)
}

/// The verdict of every check whose family `wanted` accepts.
pub fn run(
    records: &[Record],
    opts: &CheckOptions,
    wanted: impl Fn(Family) -> bool,
) -> BTreeMap<&'static str, Verdict> {
    let found = judged(records, opts, |c| wanted(c.family));
    let mut out = verdicts(&found);
    out.retain(|name, _| CHECKS.iter().any(|c| c.name == *name && wanted(c.family)));
    if opts.storm.exactly_once.is_none() {
        // Only batch topologies promise it.
        out.remove("storm.exactly_once");
    }
    if !sequential_names::applies(records) {
        // A load without sequential creates has no names to judge.
        out.remove("client.sequential_names");
    }
    for (name, lacking) in evidence::too_little(records) {
        if let Some(slot) = out.get_mut(name).filter(|v| v.is_pass()) {
            *slot = Verdict::Inconclusive(lacking);
        }
    }
    out
}

/// Every named check → its verdict.
pub fn run_all(records: &[Record], opts: &CheckOptions) -> BTreeMap<&'static str, Verdict> {
    run(records, opts, |_| true)
}

/// Group findings by check, one verdict per name in `CHECKS`: a check with
/// a violation fails (first one, and how many more); one that only gave up
/// is undecided.
pub fn verdicts(violations: &[Violation]) -> BTreeMap<&'static str, Verdict> {
    let mut out: BTreeMap<&'static str, Verdict> =
        CHECKS.iter().map(|c| (c.name, Verdict::Pass)).collect();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for viol in violations.iter().filter(|v| !v.undecided) {
        let n = counts.entry(viol.check).or_default();
        *n += 1;
        if *n == 1 {
            out.insert(viol.check, Verdict::Fail(viol.detail.clone()));
        }
    }
    for (name, n) in counts {
        if let (true, Some(Verdict::Fail(reason))) = (n > 1, out.get_mut(name)) {
            reason.push_str(&format!(" (and {} more)", n - 1));
        }
    }
    for viol in violations.iter().filter(|v| v.undecided) {
        let slot = out.entry(viol.check).or_insert(Verdict::Pass);
        if slot.is_pass() {
            *slot = Verdict::Undecided(viol.detail.clone());
        }
    }
    out
}

pub(crate) fn zx(z: u64) -> String {
    format!("{:#x}", z)
}
