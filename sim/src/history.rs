//! The run's history: every protocol event, delivery, fault and client
//! operation, stamped with simulated time. Checkers judge it; its hash is the
//! run's trace hash (same seed ⇒ same hash).

use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use zkstorm::client::ConnState;
use zkstorm::proto::{ErrorCode, EventType, OpResult, ReadOp, WriteOp};
use zkstorm::server::wire::ClientOp;
use zkstorm::server::{Observer, Recovery, SendFate, Status};
use zkstorm::storm::message::StormEvent;
use zkstorm::storm::observe::{NimbusEvent, SupervisorEvent};
use zkstorm::types::{SessionId, Sid};
use zkstorm::zab::msg::PeerMsg;
use zkstorm::zab::ready::ZabEvent;
use zkstorm::zab::txn::{Txn, TxnBody};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A server started from its disk; its applied sequence restarts after `base`.
    Recovered {
        sid: Sid,
        accepted_epoch: u32,
        current_epoch: u32,
        base: u64,
        last_zxid: u64,
        torn_bytes: u64,
    },
    /// A ZAB core event (leading, following, sync sent, serving, ...).
    /// (In a trace: `"what"`, the event as text, as before it was typed.)
    Zab {
        sid: Sid,
        #[serde(rename = "what", serialize_with = "as_debug_text")]
        event: ZabEvent,
    },
    Established {
        sid: Sid,
        epoch: u32,
        zxid: u64,
    },
    /// A leader broadcast a txn (one record per proposal, with the txn's
    /// identity, so deliveries can be matched to what was proposed).
    Proposed {
        sid: Sid,
        zxid: u64,
        epoch: u32,
        session: SessionId,
        cxid: u64,
        body: u64,
    },
    /// A follower dropped its logged txns above `to` (TRUNC). `logged`: where
    /// its log ended before (from the core's own event, so nothing logged
    /// and cut between two status reports goes unseen).
    Truncated {
        sid: Sid,
        to: u64,
        logged: u64,
    },
    /// The server's applied sequence restarts (recovery or SNAP) after `base`.
    Reset {
        sid: Sid,
        base: u64,
    },
    Delivered {
        sid: Sid,
        zxid: u64,
        session: SessionId,
        cxid: u64,
        /// A digest of the txn body, to check every server applied the same txn.
        body: u64,
        /// Applying it refused it for its session (SessionMoved,
        /// SessionExpired): it changed nothing (a refused close did not end
        /// the session).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        refused: bool,
    },
    /// What the fault injector did, as a line to read (which fault, what
    /// its targets resolved to, network cuts, heals).
    Fault {
        what: String,
    },
    /// A server went down, came back, or was paused: typed, for checkers
    /// and tests that need to know which server and how.
    Node {
        sid: Sid,
        change: NodeChange,
    },
    Invoke {
        client: usize,
        op: u64,
        session: SessionId,
        call: Call,
    },
    Complete {
        client: usize,
        op: u64,
        session: SessionId,
        outcome: Outcome,
        zxid: u64,
        write: bool,
        /// What an ok answer carried that the checkers judge.
        ret: Ret,
        /// The xid the request went out under (`None`: it never left the
        /// client). With the session, the identity its txn carries in
        /// `Proposed` / `Delivered` (`session`, `cxid`): how a lost answer's
        /// fate is read from the deliveries.
        #[serde(skip_serializing_if = "Option::is_none")]
        xid: Option<u64>,
        /// The server the request went out to (with `xid`): the one that
        /// heard from the session when it arrived (`client.session_expiry`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<Sid>,
    },
    /// A watch event the client received, recorded where it arrived among
    /// the client's answers.
    Watch {
        client: usize,
        session: SessionId,
        path: String,
        event: EventType,
        zxid: u64,
    },
    /// A server's state when the run ended (recorded once settling is over):
    /// what `converged` judges. `digest`: of its data tree, when it reported one.
    ServerState {
        sid: Sid,
        serving: bool,
        stopped: bool,
        applied: u64,
        digest: Option<u64>,
    },
    /// A client's connection or session changed.
    ClientState {
        client: usize,
        session: SessionId,
        state: ClientStatus,
        /// With `SessionStarted`: the session timeout the server granted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    // Last, so older variants keep their hash (trace hashes stay).
    /// What a server had acknowledged to a leader (its highest ACK, or the
    /// NEWLEADER zxid it ACKed) when it went down with a crash or power loss,
    /// since it last started or had its log cut: ZAB promises each is
    /// durable, so it recovers at least this far (`zab.ack_durable`).
    Acked {
        sid: Sid,
        through: u64,
    },
    /// A server's counted ACKEPOCH left for `leader`: it vouches that it
    /// accepted `epoch` (durably) and will vouch for it to no other
    /// would-be leader until it takes the promise back
    /// (`zab.epoch_promises`). Resends repeat it.
    Promised {
        sid: Sid,
        leader: Sid,
        epoch: u32,
    },
    /// What the topology engine did, and on which worker.
    Storm {
        worker: String,
        event: StormEvent,
    },
    /// What a Nimbus did (leadership, assignments, submissions).
    Nimbus {
        id: String,
        event: NimbusEvent,
    },
    /// What a supervisor did (registrations, launches, kills).
    Supervisor {
        id: String,
        event: SupervisorEvent,
    },
    /// The state a batch topology's committers left in the ensemble, read
    /// when the run ended (or why it could not be read).
    StoreRead {
        entries: std::collections::BTreeMap<String, i64>,
        error: Option<String>,
    },
    /// What a user's code running on recorded client `client` said of
    /// itself (`testing::Client::note`), for its own invariants.
    Note {
        client: usize,
        text: String,
    },
}

/// What happened to a server's process or machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeChange {
    /// Machine failure: unsynced writes lost, tails maybe torn.
    Crashed,
    /// A crash with a chosen tear of the log tail.
    CrashedTorn,
    /// `kill -9`: the page cache survives.
    Killed,
    /// Power loss: every unsynced tail torn.
    PowerLost,
    Restarted,
    Paused,
    Resumed,
    /// The server stopped itself (e.g. a disk error it cannot go on from).
    Stopped {
        why: String,
    },
}

/// How a request ended, as the client saw it. (In a trace: "ok" or the
/// error code's name.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Error(ErrorCode),
}

impl Outcome {
    pub fn of(r: &Result<OpResult, ErrorCode>) -> Outcome {
        match r {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Error(*e),
        }
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// Failed as the data model decided (the request was applied as a txn
    /// and failed there), as opposed to a lost answer.
    pub fn is_model_error(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            Outcome::Error(NoNode | NodeExists | BadVersion | NotEmpty | NoChildrenForEphemerals)
        )
    }

    /// A server answered: ok, or an error of the data model.
    pub fn answered(self) -> bool {
        self.is_ok() || self.is_model_error()
    }

    pub fn is(self, code: ErrorCode) -> bool {
        self == Outcome::Error(code)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Error(e) => write!(f, "{e:?}"),
        }
    }
}

/// A client's connection or session state, as the workload records it.
/// (In a trace: the text `Display` gives.)
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientStatus {
    /// The workload has a new session.
    SessionStarted,
    /// The client library's connection state changed.
    Connecting,
    Connected,
    Disconnected,
    Expired,
    Closed,
    /// No session could be established.
    ConnectFailed {
        why: String,
    },
    /// The workload closed its session: `None` ok, else why not.
    CloseAnswered {
        error: Option<String>,
    },
}

impl std::fmt::Display for ClientStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientStatus::SessionStarted => f.write_str("connected"),
            ClientStatus::Connecting => f.write_str("Connecting"),
            ClientStatus::Connected => f.write_str("Connected"),
            ClientStatus::Disconnected => f.write_str("Disconnected"),
            ClientStatus::Expired => f.write_str("Expired"),
            ClientStatus::Closed => f.write_str("Closed"),
            ClientStatus::ConnectFailed { why } => write!(f, "connect failed: {why}"),
            ClientStatus::CloseAnswered { error: None } => f.write_str("close: ok"),
            ClientStatus::CloseAnswered { error: Some(e) } => write!(f, "close: {e}"),
        }
    }
}

/// Trace fields that keep the text they had before they were typed.
fn as_text<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_debug_text<T: std::fmt::Debug, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:?}"))
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        as_text(self, s)
    }
}

impl Serialize for ClientStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        as_text(self, s)
    }
}

impl ClientStatus {
    pub fn of(s: ConnState) -> ClientStatus {
        match s {
            ConnState::Connecting => ClientStatus::Connecting,
            ConnState::Connected => ClientStatus::Connected,
            ConnState::Disconnected => ClientStatus::Disconnected,
            ConnState::Expired => ClientStatus::Expired,
            ConnState::Closed => ClientStatus::Closed,
        }
    }
}

/// A client request, as the checkers need it. Data is kept as text: the
/// workload's values are unique ids ("c<client>-<op>") and the padding that
/// makes them `value_bytes` long is not recorded.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    Create {
        path: String,
        value: String,
        ephemeral: bool,
        sequential: bool,
    },
    Set {
        path: String,
        value: String,
        version: i32,
    },
    Delete {
        path: String,
        version: i32,
    },
    Get {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
    Children {
        path: String,
        watch: bool,
    },
    Sync,
    /// A multi of one key: check its version (-1: that it exists), then set
    /// it — atomically, so a versioned set by another road.
    CheckSet {
        path: String,
        value: String,
        version: i32,
    },
    /// Anything else (other multis, check): recorded, not judged per key.
    Other {
        desc: String,
    },
}

impl Call {
    /// The znode this call touches, if exactly one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Call::Create { path, .. }
            | Call::Set { path, .. }
            | Call::Delete { path, .. }
            | Call::Get { path, .. }
            | Call::Exists { path, .. }
            | Call::Children { path, .. }
            | Call::CheckSet { path, .. } => Some(path),
            Call::Sync | Call::Other { .. } => None,
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Call::Create { .. }
                | Call::Set { .. }
                | Call::Delete { .. }
                | Call::CheckSet { .. }
                | Call::Other { .. }
        )
    }

    /// Does it leave a watch behind when it succeeds?
    pub fn watches(&self) -> bool {
        matches!(
            self,
            Call::Get { watch: true, .. }
                | Call::Exists { watch: true, .. }
                | Call::Children { watch: true, .. }
        )
    }

    /// From the client's request.
    pub fn of(op: &ClientOp) -> Call {
        match op {
            ClientOp::Read(ReadOp::GetData { path, watch }) => Call::Get {
                path: path.clone(),
                watch: *watch,
            },
            ClientOp::Read(ReadOp::Exists { path, watch }) => Call::Exists {
                path: path.clone(),
                watch: *watch,
            },
            ClientOp::Read(ReadOp::GetChildren { path, watch }) => Call::Children {
                path: path.clone(),
                watch: *watch,
            },
            ClientOp::Write(WriteOp::Create {
                path, data, mode, ..
            }) => Call::Create {
                path: path.clone(),
                value: value_text(data.as_deref().unwrap_or_default()),
                ephemeral: mode.is_ephemeral(),
                sequential: mode.is_sequential(),
            },
            ClientOp::Write(WriteOp::SetData {
                path,
                data,
                version,
            }) => Call::Set {
                path: path.clone(),
                value: value_text(data.as_deref().unwrap_or_default()),
                version: *version,
            },
            ClientOp::Write(WriteOp::Delete { path, version }) => Call::Delete {
                path: path.clone(),
                version: *version,
            },
            ClientOp::Write(WriteOp::Multi(ops)) => match ops.as_slice() {
                [WriteOp::Check { path, version }, WriteOp::SetData {
                    path: p2,
                    data,
                    version: -1,
                }] if p2 == path => Call::CheckSet {
                    path: path.clone(),
                    value: value_text(data.as_deref().unwrap_or_default()),
                    version: *version,
                },
                _ => Call::Other {
                    desc: format!("{op:?}"),
                },
            },
            ClientOp::Write(w) => Call::Other {
                desc: format!("{w:?}"),
            },
            ClientOp::Read(r @ ReadOp::GetAcl { .. }) => Call::Other {
                desc: format!("{r:?}"),
            },
            ClientOp::Sync => Call::Sync,
        }
    }
}

/// The text of a value, without the workload's trailing '.' padding.
pub fn value_text(data: &[u8]) -> String {
    let end = data.iter().rposition(|b| *b != b'.').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// The part of an answer the checkers judge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "ret", rename_all = "snake_case")]
pub enum Ret {
    /// Errors, deletes, syncs: nothing beyond the outcome.
    #[default]
    None,
    /// getData: the value and the Stat fields that matter.
    Node {
        value: String,
        version: i32,
        owner: SessionId,
    },
    /// create / setData / exists (node present): the node's Stat after it.
    Stat { version: i32, owner: SessionId },
    /// exists on a missing node.
    Absent,
    /// getChildren.
    Children { children: Vec<String> },
    /// A sequential create: the name it got, and the node's Stat.
    Named {
        name: String,
        version: i32,
        owner: SessionId,
    },
}

impl Ret {
    /// The answer to `call`: as `of`, with the name a sequential create got.
    pub fn answer(call: &Call, result: Result<OpResult, ErrorCode>) -> Ret {
        match (call, result) {
            (
                Call::Create {
                    sequential: true, ..
                },
                Ok(OpResult::Created { path, stat }),
            ) => Ret::Named {
                name: path,
                version: stat.version,
                owner: stat.ephemeral_owner,
            },
            (_, result) => Ret::of(result),
        }
    }

    pub fn of(result: Result<OpResult, ErrorCode>) -> Ret {
        match result {
            Ok(OpResult::Data { data, stat }) => Ret::Node {
                value: value_text(data.as_deref().unwrap_or_default()),
                version: stat.version,
                owner: stat.ephemeral_owner,
            },
            Ok(OpResult::Created { stat, .. }) | Ok(OpResult::SetData { stat }) => Ret::Stat {
                version: stat.version,
                owner: stat.ephemeral_owner,
            },
            Ok(OpResult::Exists(Some(stat))) => Ret::Stat {
                version: stat.version,
                owner: stat.ephemeral_owner,
            },
            Ok(OpResult::Exists(None)) => Ret::Absent,
            Ok(OpResult::Children { children, .. }) => Ret::Children { children },
            // A multi tells what its last op did (a check-and-set: the set).
            Ok(OpResult::Multi(rs)) => rs.into_iter().last().map_or(Ret::None, |r| Ret::of(Ok(r))),
            _ => Ret::None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub t_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Default)]
struct Inner {
    records: Vec<Record>,
    hash: u64,
    status: BTreeMap<Sid, Status>,
    /// Per server: the highest zxid it acknowledged in this life.
    acked: BTreeMap<Sid, u64>,
    /// When the topology engine last reported anything.
    last_storm_ms: u64,
}

/// Shared by every node and client of one run.
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Mutex<Inner>>,
    /// The message faults armed in this run (`on_message`).
    pub messages: crate::messages::Messages,
    start_ms: u64,
    want_digest: Arc<std::sync::atomic::AtomicBool>,
    /// Each worker slot's name, rendered once (formatting it per engine
    /// event was a twentieth of a topology seed).
    slot_names: Arc<Mutex<BTreeMap<zkstorm::storm::scheduler::Slot, String>>>,
}

/// The trace hash's starting state (any odd constant; it only has to stay).
const TRACE_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// A stable digest of a txn body.
pub fn body_digest(body: &TxnBody) -> u64 {
    let mut h = TraceHasher(TRACE_SEED);
    body.hash(&mut h);
    h.finish()
}

/// The hasher of trace hashes and body digests: fixed, so they are the same
/// in every process, and a word at a time (FNV-1a went byte by byte, a
/// fiftieth of a seed's wall time).
struct TraceHasher(u64);

impl TraceHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for TraceHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(last));
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.mix(x as u64);
    }
    fn write_u16(&mut self, x: u16) {
        self.mix(x as u64);
    }
    fn write_u32(&mut self, x: u32) {
        self.mix(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        self.mix(x);
    }
    fn write_usize(&mut self, x: usize) {
        self.mix(x as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl History {
    pub fn new() -> History {
        History {
            start_ms: now_ms(),
            ..History::default()
        }
    }

    /// `slot` as `Event::Storm` names it.
    pub fn slot_name(&self, slot: &zkstorm::storm::scheduler::Slot) -> String {
        let mut names = self.slot_names.lock().expect("slot names lock");
        if let Some(name) = names.get(slot) {
            return name.clone();
        }
        let name = slot.to_string();
        names.insert(slot.clone(), name.clone());
        name
    }

    /// Now, in history time (ms since the history began).
    pub fn now_ms(&self) -> u64 {
        now_ms().saturating_sub(self.start_ms)
    }

    pub fn record(&self, event: Event) {
        let t_ms = self.now_ms();
        let rec = Record { t_ms, event };
        let mut inner = self.inner.lock().expect("history lock");
        // Hash the record's fields with a fixed hasher (no text built).
        let mut h = TraceHasher(if inner.hash == 0 {
            TRACE_SEED
        } else {
            inner.hash
        });
        rec.t_ms.hash(&mut h);
        rec.event.hash(&mut h);
        inner.hash = h.0;
        if let Event::Storm { .. } = rec.event {
            inner.last_storm_ms = t_ms;
        }
        inner.records.push(rec);
    }

    /// When the topology engine last reported anything (0: never).
    pub fn last_storm_ms(&self) -> u64 {
        self.inner.lock().expect("history lock").last_storm_ms
    }

    /// `f` on the records as they stand, without copying them.
    pub fn with_records<R>(&self, f: impl FnOnce(&[Record]) -> R) -> R {
        f(&self.inner.lock().expect("history lock").records)
    }

    pub fn records(&self) -> Vec<Record> {
        self.inner.lock().expect("history lock").records.clone()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("history lock").records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hash of every record so far, in order.
    pub fn trace_hash(&self) -> u64 {
        self.inner.lock().expect("history lock").hash
    }

    pub fn status(&self) -> BTreeMap<Sid, Status> {
        self.inner.lock().expect("history lock").status.clone()
    }

    pub fn forget_status(&self, sid: Sid) {
        self.inner.lock().expect("history lock").status.remove(&sid);
    }

    /// Ask servers to include their tree digest in status reports.
    pub fn want_digests(&self, on: bool) {
        self.want_digest
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// A server's process or machine changed.
    pub fn node(&self, sid: Sid, change: NodeChange) {
        tracing::info!(target: "zkstorm::fault", sid, "{change:?}");
        let ends_life = !matches!(
            change,
            NodeChange::Paused | NodeChange::Resumed | NodeChange::Restarted
        );
        let loses_unsynced = matches!(
            change,
            NodeChange::Crashed | NodeChange::CrashedTorn | NodeChange::PowerLost
        );
        let acked = {
            let mut inner = self.inner.lock().expect("history lock");
            let a = inner.acked.get(&sid).copied().unwrap_or(0);
            if ends_life {
                inner.acked.remove(&sid);
            }
            a
        };
        if loses_unsynced && acked > 0 {
            self.record(Event::Acked {
                sid,
                through: acked,
            });
        }
        self.record(Event::Node { sid, change });
    }

    /// Track what each server acknowledges (ACK, and ACKNEWLEADER of the
    /// NEWLEADER it names).
    fn note_ack(&self, from: Sid, msg: &PeerMsg) {
        let mut inner = self.inner.lock().expect("history lock");
        let through = match msg {
            PeerMsg::Ack { zxid } | PeerMsg::AckNewLeader { zxid, .. } => zxid.0,
            _ => return,
        };
        let a = inner.acked.entry(from).or_default();
        *a = (*a).max(through);
    }

    /// A server's log was cut to `to`: what it acknowledged above is gone
    /// by the protocol's own decision.
    fn cut_acked(&self, sid: Sid, to: u64) {
        let mut inner = self.inner.lock().expect("history lock");
        if let Some(a) = inner.acked.get_mut(&sid) {
            *a = (*a).min(to);
        }
    }

    pub fn fault(&self, what: impl Into<String>) {
        let what = what.into();
        tracing::info!(target: "zkstorm::fault", "{what}");
        self.record(Event::Fault { what });
    }
}

impl Observer for History {
    fn zab_event(&self, sid: Sid, event: &ZabEvent) {
        // For `zkstorm replay` with RUST_LOG (stamped with simulated time).
        tracing::info!(target: "zkstorm::zab", sid, "{event:?}");
        match event {
            ZabEvent::Established { epoch, zxid } => self.record(Event::Established {
                sid,
                epoch: *epoch,
                zxid: zxid.0,
            }),
            // Recorded by `proposed`, with the txn.
            ZabEvent::Proposed { .. } => {}
            ZabEvent::SnapshotInstalled { zxid } => {
                self.cut_acked(sid, zxid.0);
                self.record(Event::Reset { sid, base: zxid.0 })
            }
            ZabEvent::Truncated { from, to } => {
                self.cut_acked(sid, to.0);
                self.record(Event::Truncated {
                    sid,
                    to: to.0,
                    logged: from.0,
                })
            }
            other => self.record(Event::Zab {
                sid,
                event: other.clone(),
            }),
        }
    }

    fn proposed(&self, sid: Sid, epoch: u32, txn: &Txn) {
        self.record(Event::Proposed {
            sid,
            zxid: txn.zxid.0,
            epoch,
            session: txn.session,
            cxid: txn.cxid,
            body: body_digest(&txn.body),
        });
    }

    fn delivered(&self, sid: Sid, txn: &Txn, refused: bool) {
        self.record(Event::Delivered {
            sid,
            zxid: txn.zxid.0,
            session: txn.session,
            cxid: txn.cxid,
            body: body_digest(&txn.body),
            refused,
        });
    }

    fn recovered(&self, sid: Sid, r: &Recovery) {
        self.record(Event::Recovered {
            sid,
            accepted_epoch: r.accepted_epoch,
            current_epoch: r.current_epoch,
            base: r.snapshot_zxid.0,
            last_zxid: r.last_logged.0,
            torn_bytes: r.torn_bytes,
        });
    }

    fn wants_digest(&self) -> bool {
        self.want_digest.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn status(&self, sid: Sid, status: &Status) {
        let mut inner = self.inner.lock().expect("history lock");
        inner.status.insert(sid, status.clone());
    }

    fn sending(&self, from: Sid, to: Sid, msg: &PeerMsg) -> SendFate {
        let fate = self.messages.sending(from, to, msg);
        if let PeerMsg::AckEpoch {
            epoch,
            counts: true,
            ..
        } = msg
        {
            // Vouched for once durable, whether or not the leader hears it.
            self.record(Event::Promised {
                sid: from,
                leader: to,
                epoch: *epoch,
            });
        }
        // What a dropped message said was never heard.
        if fate != SendFate::Break
            && matches!(msg, PeerMsg::Ack { .. } | PeerMsg::AckNewLeader { .. })
        {
            self.note_ack(from, msg);
        }
        fate
    }

    fn reached(&self, sid: Sid, point: &'static str) {
        self.messages.reached(sid, point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkstorm::types::Zxid;

    fn acked_at_crash(h: &History) -> Vec<u64> {
        h.records()
            .into_iter()
            .filter_map(|r| match r.event {
                Event::Acked { through, .. } => Some(through),
                _ => None,
            })
            .collect()
    }

    /// An ACK of NEWLEADER vouches for the NEWLEADER it names: a resend
    /// answering an earlier one does not vouch for a re-sync's newer
    /// NEWLEADER still in flight (seed 520 of the ack-durable repro, where
    /// a follower was credited with a txn it never received).
    #[test]
    fn a_resent_ack_of_newleader_vouches_only_for_the_newleader_it_names() {
        let h = History::new();
        let z = |c| Zxid::new(1, c);
        let newleader = |c| PeerMsg::NewLeader {
            epoch: 1,
            zxid: z(c),
        };
        let ack = |c| PeerMsg::AckNewLeader {
            epoch: 1,
            zxid: z(c),
        };
        h.sending(5, 4, &newleader(0x12c));
        h.sending(4, 5, &ack(0x12c));
        h.sending(4, 5, &PeerMsg::Ack { zxid: z(0x12f) });
        // A stale ACKEPOCH makes 5 re-sync; this NEWLEADER never reaches 4.
        h.sending(5, 4, &newleader(0x130));
        h.sending(4, 5, &ack(0x12c));
        h.node(4, NodeChange::Crashed);
        assert_eq!(acked_at_crash(&h), vec![z(0x12f).0]);
    }
}
