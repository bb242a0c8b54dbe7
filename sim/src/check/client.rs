//! What clients were promised: linearizable writes (and reads after a sync),
//! sequential consistency per session, one-shot watches delivered before the
//! data they announce, and ephemerals that live exactly as long as their
//! session.
//!
//! Positions in the history (record indices) are the clock: records are
//! appended in simulated-time order, so "recorded before" is "happened
//! before" as the clients saw it.

use super::linear::{check_key, KeyOp, KeyOpKind, KeyOutcome, Node};
use super::{undecided, v, zx, CheckOptions, Violation};
use crate::history::{body_digest, Call, ClientStatus, Event, Outcome, Record, Ret};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
use zkstorm::proto::{ErrorCode, EventType};
use zkstorm::types::SessionId;
use zkstorm::zab::txn::{xid_of, TxnBody};

/// A client's answer.
pub(crate) struct Done<'a> {
    pub idx: usize,
    pub outcome: Outcome,
    pub zxid: u64,
    pub ret: &'a Ret,
    /// The xid the request went out under (`None`: it never left the client).
    pub xid: Option<u64>,
    /// The server it went out to, if recorded.
    pub server: Option<zkstorm::types::Sid>,
}

impl Done<'_> {
    /// The server answered (ok, or an error of the data model): `zxid` is
    /// the server's, not the client library's.
    pub(crate) fn answered(&self) -> bool {
        self.outcome.answered()
    }
}

/// One client op: its invocation and, if recorded, its answer.
pub(crate) struct Op<'a> {
    pub client: usize,
    pub id: u64,
    pub session: SessionId,
    pub call: &'a Call,
    pub invoke: usize,
    pub done: Option<Done<'a>>,
}

impl Op<'_> {
    pub(crate) fn name(&self) -> String {
        format!("client {} op {}", self.client, self.id)
    }

    pub(crate) fn describe(&self) -> String {
        let outcome = match &self.done {
            None => "no answer".to_string(),
            Some(d) if d.outcome.is_ok() => match d.ret {
                Ret::None => "ok".to_string(),
                r => format!("ok {r:?}"),
            },
            Some(d) => d.outcome.to_string(),
        };
        format!("{} {:?} → {outcome}", self.name(), self.call)
    }
}

pub(crate) fn ops(records: &[Record]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    let mut open: HashMap<(usize, u64), usize> = HashMap::default();
    for (idx, r) in records.iter().enumerate() {
        match &r.event {
            Event::Invoke {
                client,
                op,
                session,
                call,
            } => {
                open.insert((*client, *op), ops.len());
                ops.push(Op {
                    client: *client,
                    id: *op,
                    session: *session,
                    call,
                    invoke: idx,
                    done: None,
                });
            }
            Event::Complete {
                client,
                op,
                outcome,
                zxid,
                ret,
                xid,
                server,
                ..
            } => {
                if let Some(i) = open.remove(&(*client, *op)) {
                    ops[i].done = Some(Done {
                        idx,
                        outcome: *outcome,
                        zxid: *zxid,
                        ret,
                        xid: *xid,
                        server: *server,
                    });
                }
            }
            _ => {}
        }
    }
    ops
}

/// When a session ended: its CloseSession txn (expiry or close), and the
/// span in which it was committed (from its proposal to its first delivery).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionEnd {
    pub zxid: u64,
    pub from: usize,
    pub to: usize,
}

pub(crate) fn session_ends(records: &[Record]) -> BTreeMap<SessionId, SessionEnd> {
    let close = body_digest(&TxnBody::CloseSession);
    let mut proposed: HashMap<u64, usize> = HashMap::default();
    let mut ends: BTreeMap<SessionId, SessionEnd> = BTreeMap::new();
    for (idx, r) in records.iter().enumerate() {
        match &r.event {
            Event::Proposed { zxid, body, .. } if *body == close => {
                proposed.entry(*zxid).or_insert(idx);
            }
            // A refused close (the session had moved) ended nothing.
            Event::Delivered {
                zxid,
                session,
                body,
                refused: false,
                ..
            } if *body == close => {
                let from = proposed.get(zxid).copied().unwrap_or(idx);
                let e = ends.entry(*session).or_insert(SessionEnd {
                    zxid: *zxid,
                    from,
                    to: idx,
                });
                if *zxid < e.zxid {
                    *e = SessionEnd {
                        zxid: *zxid,
                        from,
                        to: idx,
                    };
                }
            }
            _ => {}
        }
    }
    ends
}

// ---------------------------------------------------------------- linearizable

#[derive(Default)]
struct KeyHistory<'a> {
    ops: Vec<KeyOp>,
    /// Which client op each key op came from (`None`: a session end).
    origin: Vec<Option<usize>>,
    values: Vec<String>,
    index: HashMap<&'a str, u32>,
    ephemeral_sessions: BTreeSet<SessionId>,
}

impl<'a> KeyHistory<'a> {
    fn value(&mut self, v: &'a str) -> u32 {
        if let Some(i) = self.index.get(v) {
            return *i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.to_string());
        self.index.insert(v, i);
        i
    }
}

fn key_outcome(done: &Option<Done>) -> KeyOutcome {
    let Some(d) = done else {
        return KeyOutcome::Unknown;
    };
    use ErrorCode::*;
    match d.outcome {
        Outcome::Ok => KeyOutcome::Ok {
            version: match d.ret {
                Ret::Stat { version, .. } => Some(*version),
                _ => None,
            },
        },
        Outcome::Error(NoNode) => KeyOutcome::NoNode,
        Outcome::Error(NodeExists) => KeyOutcome::NodeExists,
        Outcome::Error(BadVersion) => KeyOutcome::BadVersion,
        Outcome::Error(NotEmpty) => KeyOutcome::NotEmpty,
        Outcome::Error(_) => KeyOutcome::Unknown,
    }
}

/// For each op, the client's op invoked just before it (ops are in
/// invocation order, so one pass with the few clients' last ops finds it).
fn previous_of_client(ops: &[Op]) -> Vec<Option<usize>> {
    let mut last: HashMap<usize, usize> = HashMap::default();
    ops.iter()
        .enumerate()
        .map(|(i, op)| last.insert(op.client, i))
        .collect()
}

/// For each op, the answer by which it has surely happened or never will:
/// the next op of the same session that was committed (an answered write, an
/// ok sync) — a session's updates apply in the order it sent them
/// (ZooKeeper's FIFO client order), so a lost one cannot overtake it. `None`
/// when no such op follows (the op stays open to the end).
fn settled_by(ops: &[Op]) -> Vec<Option<usize>> {
    let mut out = vec![None; ops.len()];
    // Ops are in invocation order; walk back keeping each session's next commit.
    let mut next: HashMap<SessionId, usize> = HashMap::default();
    for (i, op) in ops.iter().enumerate().rev() {
        out[i] = next.get(&op.session).copied();
        if let Some(d) = &op.done {
            let committed = d.answered() && op.call.is_write() && op.call.path().is_some()
                || matches!(op.call, Call::Sync) && d.outcome.is_ok();
            if committed {
                next.insert(op.session, d.idx);
            }
        }
    }
    out
}

/// For each op, where its txn was first applied (`None`: no server applied
/// it, or it was never sent, or its answer was not recorded). A txn carries
/// the identity of the request it came from — the session and the xid the
/// client sent it under (ZooKeeper's TxnHeader clientId and cxid; the cxid's
/// low half, see `client_cxid`) — and the client recorded that xid with the
/// answer, so the match is exact.
fn fates(records: &[Record], ops: &[Op]) -> Vec<Option<usize>> {
    let mut first: HashMap<(SessionId, u64), usize> =
        HashMap::with_capacity_and_hasher(ops.len(), Default::default());
    for (idx, r) in records.iter().enumerate() {
        if let Event::Delivered { session, cxid, .. } = r.event {
            first.entry((session, xid_of(cxid).into())).or_insert(idx);
        }
    }
    ops.iter()
        .map(|op| {
            let xid = op.done.as_ref()?.xid?;
            first.get(&(op.session, xid)).copied()
        })
        .collect()
}

/// `client.linearizable`: per znode, the writes (any answer; lost answers
/// may or may not have taken effect, at the latest by the answer of their
/// session's next committed op), the reads right after an ok sync of the
/// same session (spanning from the sync's invocation), and the end of every
/// session holding an ephemeral there, must linearize.
/// A znode no known create made, which a sequential create whose answer
/// was lost may have made (`prefix` and ten digits): its history lacks its
/// beginning, so it is not judged.
fn maybe_unnamed(path: &str, k: &KeyHistory, unnamed: &[&str]) -> bool {
    let created = k
        .ops
        .iter()
        .any(|o| matches!(o.kind, KeyOpKind::Create { .. }));
    !created && maybe_made_by(path, unnamed)
}

pub fn linearizable(records: &[Record], opts: &CheckOptions) -> Vec<Violation> {
    const CHECK: &str = "client.linearizable";
    let mut out = Vec::new();
    let ops = ops(records);
    let before = previous_of_client(&ops);
    let settled_by = settled_by(&ops);
    // What became of each lost answer (see `fates`): a write whose answer
    // was lost and whose txn no server applied did nothing, and is left out
    // rather than branched on; one whose txn was applied took effect (or
    // failed as the tree decided) by its first delivery, which bounds its
    // open interval. Both only narrow the linearizations the search may try,
    // so a wrong fate can make a correct history fail but never make a wrong
    // one pass: the pruning adds failures, it cannot hide one.
    let fate = fates(records, &ops);
    // Only the txns of requests answered SessionMoved or SessionExpired
    // matter here: few, where a full set of every delivery was a large
    // part of judging a big history.
    let asked: rustc_hash::FxHashSet<(SessionId, u64)> = ops
        .iter()
        .filter_map(|op| {
            let d = op.done.as_ref()?;
            let moved =
                d.outcome.is(ErrorCode::SessionMoved) || d.outcome.is(ErrorCode::SessionExpired);
            Some((op.session, d.xid?)).filter(|_| moved)
        })
        .collect();
    let applied_at_zxid: rustc_hash::FxHashSet<(SessionId, u64, u64)> = match asked.is_empty() {
        true => Default::default(),
        false => records
            .iter()
            .filter_map(|r| match r.event {
                Event::Delivered {
                    session,
                    cxid,
                    zxid,
                    ..
                } => Some((session, u64::from(xid_of(cxid)), zxid)),
                _ => None,
            })
            .filter(|(s, c, _)| asked.contains(&(*s, *c)))
            .collect(),
    };
    // SessionMoved / SessionExpired decided by applying this very txn (the
    // answer's zxid is where it was applied) are definite no-ops; the same
    // code from the client library (its session ended with the request in
    // flight) says nothing.
    let outcome_of = |op: &Op| match (key_outcome(&op.done), &op.done) {
        (KeyOutcome::Unknown, Some(d))
            if (d.outcome.is(ErrorCode::SessionMoved)
                || d.outcome.is(ErrorCode::SessionExpired))
                && d.xid
                    .is_some_and(|x| applied_at_zxid.contains(&(op.session, x, d.zxid))) =>
        {
            KeyOutcome::Refused
        }
        (o, _) => o,
    };
    // Znodes that ever had a child: only there can a delete answer NotEmpty.
    let parents: rustc_hash::FxHashSet<&str> = ops
        .iter()
        .filter_map(|o| o.call.path()?.rsplit_once('/').map(|(p, _)| p))
        .collect();
    // A lost answer whose txn no server applied: the op did nothing (an op
    // still in flight when the history ends stays open instead).
    let never_applied = |i: usize| {
        let op = &ops[i];
        op.call.is_write() && op.done.as_ref().is_some_and(|d| !d.answered()) && fate[i].is_none()
    };
    let mut keys: HashMap<&str, KeyHistory> = HashMap::default();
    // Sequential creates whose answer was lost: the name they may have got
    // is unknown (see `unnamed`).
    let mut unnamed: Vec<&str> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let ret_if_known = |o: &KeyOutcome| match o {
            KeyOutcome::Unknown => settled_by[i],
            _ => op.done.as_ref().map(|d| d.idx),
        };
        let ret_bounded = |o: &KeyOutcome| match (o, fate[i]) {
            (KeyOutcome::Unknown, Some(at)) => Some(settled_by[i].map_or(at, |s| s.min(at))),
            _ => ret_if_known(o),
        };
        // A sequential create is a create of the znode it named.
        let named = match (op.call, op.done.as_ref().map(|d| d.ret)) {
            (
                Call::Create {
                    sequential: true, ..
                },
                Some(Ret::Named { name, .. }),
            ) => Some(name),
            _ => None,
        };
        match op.call {
            Call::Create {
                path,
                sequential: true,
                ..
            } if named.is_none() => {
                if op.done.as_ref().is_none_or(|d| !d.answered()) && !never_applied(i) {
                    unnamed.push(path);
                }
            }
            Call::Create {
                path,
                value,
                ephemeral,
                ..
            } => {
                if never_applied(i) {
                    continue;
                }
                let k = keys.entry(named.unwrap_or(path)).or_default();
                let outcome = outcome_of(op);
                let owner = if *ephemeral { op.session } else { 0 };
                if *ephemeral {
                    k.ephemeral_sessions.insert(op.session);
                }
                let value = k.value(value);
                k.ops.push(KeyOp {
                    call: op.invoke,
                    ret: ret_bounded(&outcome),
                    kind: KeyOpKind::Create { value, owner },
                    outcome,
                });
                k.origin.push(Some(i));
            }
            Call::Set {
                path,
                value,
                version,
            }
            | Call::CheckSet {
                path,
                value,
                version,
            } => {
                if never_applied(i) {
                    continue;
                }
                let k = keys.entry(path).or_default();
                let outcome = outcome_of(op);
                let value = k.value(value);
                k.ops.push(KeyOp {
                    call: op.invoke,
                    ret: ret_bounded(&outcome),
                    kind: KeyOpKind::Set {
                        value,
                        version: *version,
                    },
                    outcome,
                });
                k.origin.push(Some(i));
            }
            Call::Delete { path, version } => {
                if never_applied(i) {
                    continue;
                }
                let outcome = outcome_of(op);
                if outcome == KeyOutcome::NotEmpty && !parents.contains(path.as_str()) {
                    out.push(v(
                        CHECK,
                        format!("{}: {path} never had a child", op.describe()),
                    ));
                    continue;
                }
                let k = keys.entry(path).or_default();
                k.ops.push(KeyOp {
                    call: op.invoke,
                    ret: ret_bounded(&outcome),
                    kind: KeyOpKind::Delete { version: *version },
                    outcome,
                });
                k.origin.push(Some(i));
            }
            Call::Get { path, .. } | Call::Exists { path, .. } => {
                let Some(done) = &op.done else { continue };
                // Only right after an ok sync of this session.
                let Some(prev) = before[i].filter(|p| ops[*p].id + 1 == op.id) else {
                    continue;
                };
                let sync = &ops[prev];
                let synced = matches!(sync.call, Call::Sync)
                    && sync.session == op.session
                    && sync.done.as_ref().is_some_and(|d| d.outcome.is_ok());
                if !synced {
                    continue;
                }
                let k = keys.entry(path).or_default();
                let kind = match (op.call, done.outcome, done.ret) {
                    (
                        Call::Get { .. },
                        Outcome::Ok,
                        Ret::Node {
                            value,
                            version,
                            owner,
                        },
                    ) => KeyOpKind::Read {
                        seen: Some(Node {
                            value: k.value(value),
                            version: *version,
                            owner: *owner,
                        }),
                    },
                    (Call::Get { .. }, Outcome::Error(ErrorCode::NoNode), _) => {
                        KeyOpKind::Read { seen: None }
                    }
                    (Call::Exists { .. }, Outcome::Ok, Ret::Stat { version, owner }) => {
                        KeyOpKind::ReadMeta {
                            seen: Some((*version, *owner)),
                        }
                    }
                    (Call::Exists { .. }, Outcome::Ok, Ret::Absent) => {
                        KeyOpKind::ReadMeta { seen: None }
                    }
                    _ => continue,
                };
                k.ops.push(KeyOp {
                    call: sync.invoke,
                    ret: Some(done.idx),
                    kind,
                    outcome: KeyOutcome::Ok { version: None },
                });
                k.origin.push(Some(i));
            }
            Call::Other { .. } => out.push(v(
                CHECK,
                format!(
                    "cannot judge {}: the znode model covers create, set, delete and reads, not multi",
                    op.describe()
                ),
            )),
            Call::Children { .. } | Call::Sync => {}
        }
    }
    keys.retain(|path, k| !maybe_unnamed(path, k, &unnamed));
    let ends = session_ends(records);
    // In path order, so findings come out the same way every time.
    let mut keys: Vec<(&str, KeyHistory)> = keys.into_iter().collect();
    keys.sort_unstable_by_key(|(path, _)| *path);
    for (path, mut k) in keys {
        for s in std::mem::take(&mut k.ephemeral_sessions) {
            if let Some(end) = ends.get(&s) {
                k.ops.push(KeyOp {
                    call: end.from,
                    ret: Some(end.to),
                    kind: KeyOpKind::SessionEnd { session: s },
                    outcome: KeyOutcome::Ok { version: None },
                });
                k.origin.push(None);
            }
        }
        if let Err(f) = check_key(&k.ops, None, &k.values, opts.linearizable_steps) {
            let detail = match f.op {
                Some(i) => {
                    let what = match k.origin[i] {
                        Some(o) => ops[o].describe(),
                        None => format!("{:?}", k.ops[i].kind),
                    };
                    format!(
                        "{path}: not linearizable: after {} of its {} ops, {what} fits nowhere \
                         (the znode is then {})",
                        f.depth,
                        k.ops.len(),
                        f.state
                    )
                }
                None => {
                    out.push(undecided(
                        CHECK,
                        format!("{path}: {} ops: {}", k.ops.len(), f.state),
                    ));
                    continue;
                }
            };
            out.push(v(CHECK, detail));
        }
    }
    out
}

// ---------------------------------------------------------------- sequential

/// (path, value) → the first op that wrote it there (a sequential create
/// under the name it got); and the prefixes of sequential creates whose
/// name is unknown (their answer was lost).
fn writers_of<'a>(ops: &[Op<'a>]) -> (HashMap<(&'a str, &'a str), usize>, Vec<&'a str>) {
    let mut writers = HashMap::default();
    let mut unnamed = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (path, value) = match (op.call, op.done.as_ref().map(|d| d.ret)) {
            (
                Call::Create {
                    sequential: true,
                    value,
                    ..
                },
                Some(Ret::Named { name, .. }),
            ) => (name, value),
            (
                Call::Create {
                    path,
                    sequential: true,
                    ..
                },
                _,
            ) => {
                if op.done.as_ref().is_none_or(|d| !d.answered()) {
                    unnamed.push(path.as_str());
                }
                continue;
            }
            (
                Call::Create { path, value, .. }
                | Call::Set { path, value, .. }
                | Call::CheckSet { path, value, .. },
                _,
            ) => (path, value),
            _ => continue,
        };
        writers.entry((path.as_str(), value.as_str())).or_insert(i);
    }
    (writers, unnamed)
}

/// Could a sequential create of one of these prefixes have made `path`?
fn maybe_made_by(path: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        path.strip_prefix(*p)
            .is_some_and(|n| n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// `client.sequential`: within a session, zxids seen (answers, watch events)
/// never go down; answers come in request order; writes' txns go up in
/// request order; a read returns a value some write of that znode wrote,
/// invoked before the read returned and not committed after the zxid the
/// read was served at.
pub fn sequential(records: &[Record]) -> Vec<Violation> {
    const CHECK: &str = "client.sequential";
    let mut out = Vec::new();
    let ops = ops(records);
    let (writers, unnamed) = writers_of(&ops);
    #[derive(Default)]
    struct Seen {
        max: u64,
        max_from: String,
        last_answered: Option<u64>,
        last_write: Option<(u64, u64)>,
    }
    let mut sessions: HashMap<SessionId, Seen> = HashMap::default();
    let mut by_id: HashMap<(usize, u64), usize> = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        by_id.insert((op.client, op.id), i);
    }
    for (idx, r) in records.iter().enumerate() {
        match &r.event {
            Event::Complete {
                client,
                op,
                session,
                zxid,
                ..
            } => {
                let Some(&oi) = by_id.get(&(*client, *op)) else {
                    continue;
                };
                let o = &ops[oi];
                let Some(d) = o.done.as_ref().filter(|d| d.idx == idx) else {
                    continue;
                };
                let s = sessions.entry(*session).or_default();
                if *zxid != 0 {
                    if *zxid < s.max {
                        out.push(v(
                            CHECK,
                            format!(
                                "session {session:#x}: {} answered at {} after the session saw {} ({})",
                                o.describe(),
                                zx(*zxid),
                                zx(s.max),
                                s.max_from
                            ),
                        ));
                    } else if *zxid > s.max {
                        s.max = *zxid;
                        s.max_from = o.name();
                    }
                }
                if let Some(last) = s.last_answered {
                    if *op <= last {
                        out.push(v(
                            CHECK,
                            format!(
                                "session {session:#x}: {} answered after op {last} of the same client, \
                                 which was issued after it",
                                o.name()
                            ),
                        ));
                    }
                }
                s.last_answered = Some(s.last_answered.map_or(*op, |l| l.max(*op)));
                let txn = d.answered() && (o.call.is_write() || matches!(o.call, Call::Sync));
                if txn && *zxid != 0 {
                    if let Some((lz, lop)) = s.last_write {
                        if *zxid <= lz {
                            out.push(v(
                                CHECK,
                                format!(
                                    "session {session:#x}: {} committed at {}, not after op {lop} \
                                     (issued before it) at {}",
                                    o.name(),
                                    zx(*zxid),
                                    zx(lz)
                                ),
                            ));
                        }
                    }
                    s.last_write = Some((*zxid, *op));
                }
                // Reads return written values.
                if let (Call::Get { path, .. }, Ret::Node { value, .. }) = (o.call, d.ret) {
                    match writers.get(&(path.as_str(), value.as_str())) {
                        None if maybe_made_by(path, &unnamed) => {}
                        None => out.push(v(
                            CHECK,
                            format!(
                                "{} read {value:?}, which no write of {path} wrote",
                                o.describe()
                            ),
                        )),
                        Some(&w) => {
                            let wop = &ops[w];
                            if wop.invoke > idx {
                                out.push(v(
                                    CHECK,
                                    format!(
                                        "{} read {value:?} before {} wrote it",
                                        o.name(),
                                        wop.name()
                                    ),
                                ));
                            } else if let Some(wd) =
                                wop.done.as_ref().filter(|wd| wd.outcome.is_ok())
                            {
                                if wd.zxid > *zxid && *zxid != 0 {
                                    out.push(v(
                                        CHECK,
                                        format!(
                                            "{} was served at {} but read {value:?}, which {} wrote at {}",
                                            o.name(),
                                            zx(*zxid),
                                            wop.name(),
                                            zx(wd.zxid)
                                        ),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            Event::Watch {
                client,
                session,
                path,
                zxid,
                ..
            } => {
                let s = sessions.entry(*session).or_default();
                if *zxid < s.max {
                    out.push(v(
                        CHECK,
                        format!(
                            "session {session:#x}: client {client} got a watch event for {path} at {} \
                             after the session saw {} ({})",
                            zx(*zxid),
                            zx(s.max),
                            s.max_from
                        ),
                    ));
                } else if *zxid > s.max {
                    s.max = *zxid;
                    s.max_from = format!("a watch event for {path}");
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------- watches

/// What a watch is set on: a znode's data (getData, exists) or its list of
/// children (getChildren).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum On {
    Data,
    Children,
}

type WatchKey<'a> = (&'a str, On);

pub(crate) fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

/// Every zxid at which a znode's data or its children were known to change
/// (an ok create, set or delete), sorted, per (path, what).
fn known_changes<'a>(ops: &[Op<'a>]) -> HashMap<WatchKey<'a>, Vec<u64>> {
    let mut changes: HashMap<WatchKey<'a>, Vec<u64>> = HashMap::default();
    for op in ops {
        let Some(d) = op
            .done
            .as_ref()
            .filter(|d| d.outcome.is_ok() && d.zxid != 0)
        else {
            continue;
        };
        let (path, data, children) = match op.call {
            // A sequential create's own path is not the request's.
            Call::Create {
                path, sequential, ..
            } => (path, !sequential, true),
            Call::Set { path, .. } | Call::CheckSet { path, .. } => (path, true, false),
            Call::Delete { path, .. } => (path, true, true),
            _ => continue,
        };
        if data {
            changes.entry((path, On::Data)).or_default().push(d.zxid);
        }
        if children {
            let key = (parent(path), On::Children);
            changes.entry(key).or_default().push(d.zxid);
        }
    }
    for z in changes.values_mut() {
        z.sort_unstable();
        z.dedup();
    }
    changes
}

fn first_after(changes: &HashMap<WatchKey, Vec<u64>>, key: WatchKey, r: u64) -> Option<u64> {
    let zs = changes.get(&key)?;
    let i = zs.partition_point(|z| *z <= r);
    zs.get(i).copied()
}

/// A session's outstanding watch on one path's data or children.
struct Reg {
    /// The earliest read that surely set it (its zxid), and who.
    definite: Option<(u64, String)>,
    /// A read that may have set it (its answer was lost).
    possible: bool,
    /// The session moved to another connection since it was set.
    reconnected: bool,
}

/// `client.watches`: a watch, set by an ok getData/exists (on the data) or
/// getChildren (on the children) with watch=true, fires once (later reads of
/// the same kind before it fires are the same watch), for a change after the
/// read that set it and no later than the first known change after it; and
/// the session sees no answer at a zxid at or past that change before the
/// event. A NodeDeleted event ends both watches on the path.
pub fn watches(records: &[Record], opts: &CheckOptions) -> Vec<Violation> {
    const CHECK: &str = "client.watches";
    let mut out = Vec::new();
    let ops = ops(records);
    let changes = known_changes(&ops);
    let mut by_done: HashMap<usize, usize> = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        if let Some(d) = &op.done {
            by_done.insert(d.idx, i);
        }
    }
    let mut regs: HashMap<SessionId, BTreeMap<WatchKey, Reg>> = HashMap::default();
    for (idx, r) in records.iter().enumerate() {
        match &r.event {
            Event::Complete { session, .. } => {
                let Some(&oi) = by_done.get(&idx) else {
                    continue;
                };
                let o = &ops[oi];
                let d = o.done.as_ref().expect("indexed by its answer");
                let mine = regs.entry(*session).or_default();
                // An answer past a change some watch of this session waits for.
                if d.answered() && d.zxid != 0 {
                    let mut overdue = Vec::new();
                    for (key, reg) in mine.iter() {
                        let Some((r0, who)) = &reg.definite else {
                            continue;
                        };
                        let path = describe_key(*key);
                        if let Some(c) = first_after(&changes, *key, *r0) {
                            if c <= d.zxid {
                                overdue.push(*key);
                                out.push(v(
                                    CHECK,
                                    format!(
                                        "session {session:#x}: {} answered at {} before the event of \
                                         the watch on {path} set by {who} at {} (changed at {})",
                                        o.describe(),
                                        zx(d.zxid),
                                        zx(*r0),
                                        zx(c)
                                    ),
                                ));
                            }
                        }
                    }
                    for k in overdue {
                        mine.remove(&k);
                    }
                }
                // A new registration.
                let key = match o.call {
                    Call::Get {
                        path, watch: true, ..
                    }
                    | Call::Exists {
                        path, watch: true, ..
                    } => (path.as_str(), On::Data),
                    Call::Children {
                        path, watch: true, ..
                    } => (path.as_str(), On::Children),
                    _ => continue,
                };
                let surely = d.outcome.is_ok();
                let maybe = !d.answered();
                if !surely && !maybe {
                    continue; // getData on a missing node leaves no watch
                }
                let reg = mine.entry(key).or_insert(Reg {
                    definite: None,
                    possible: false,
                    reconnected: false,
                });
                if surely && reg.definite.is_none() {
                    reg.definite = Some((d.zxid, o.name()));
                }
                reg.possible |= maybe;
            }
            Event::Watch {
                client,
                session,
                path,
                event,
                zxid,
                ..
            } => {
                let mine = regs.entry(*session).or_default();
                let (data, children) = (
                    mine.remove(&(path.as_str(), On::Data)),
                    mine.remove(&(path.as_str(), On::Children)),
                );
                // The event ends the watch it is for; NodeDeleted ends both.
                let (reg, key) = match event {
                    EventType::NodeChildrenChanged => {
                        if let Some(d) = data {
                            mine.insert((path.as_str(), On::Data), d);
                        }
                        (children, (path.as_str(), On::Children))
                    }
                    EventType::NodeDeleted => match data {
                        Some(d) => (Some(d), (path.as_str(), On::Data)),
                        None => (children, (path.as_str(), On::Children)),
                    },
                    _ => {
                        if let Some(c) = children {
                            mine.insert((path.as_str(), On::Children), c);
                        }
                        (data, (path.as_str(), On::Data))
                    }
                };
                let Some(reg) = reg else {
                    out.push(v(
                        CHECK,
                        format!(
                            "session {session:#x}: client {client} got {event:?} for {path} at {} \
                             with no watch outstanding (fired twice, or never set)",
                            zx(*zxid)
                        ),
                    ));
                    continue;
                };
                if let Some((r0, who)) = &reg.definite {
                    if *zxid <= *r0 {
                        out.push(v(
                            CHECK,
                            format!(
                                "session {session:#x}: {event:?} for {path} at {} does not follow \
                                 the read by {who} at {} that set the watch",
                                zx(*zxid),
                                zx(*r0)
                            ),
                        ));
                    } else if let Some(c) = first_after(&changes, key, *r0) {
                        // Re-armed on a reconnect (SetWatches), a watch whose
                        // change was missed fires stamped with the new
                        // server's state, which may be past that change.
                        if *zxid > c && !reg.reconnected {
                            out.push(v(
                                CHECK,
                                format!(
                                    "session {session:#x}: {event:?} for {path} at {}, but the first \
                                     change after the watch was set (by {who} at {}) was at {}",
                                    zx(*zxid),
                                    zx(*r0),
                                    zx(c)
                                ),
                            ));
                        }
                    }
                }
            }
            Event::ClientState {
                session,
                state: ClientStatus::Disconnected,
                ..
            } => {
                if !opts.watches_survive_reconnect {
                    regs.remove(session);
                } else if let Some(mine) = regs.get_mut(session) {
                    for reg in mine.values_mut() {
                        reg.reconnected = true;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A watch's path, saying when it is on the children.
fn describe_key((path, on): WatchKey) -> String {
    match on {
        On::Data => path.to_string(),
        On::Children => format!("the children of {path}"),
    }
}

// ---------------------------------------------------------------- sessions

/// `client.sessions`: an ephemeral is created only by a live session and is
/// owned by it; once the session's CloseSession txn is committed (expiry or
/// close) no read shows the node owned by it; while the session lives, no
/// read shows its node missing (unless a delete of that path may have run).
/// A client is never answered SessionMoved: it hears answers only on its
/// current connection, and a session's current connection is never refused
/// as moved — a server ends a connection the session left instead of
/// answering it (ZooKeeper's ZOOKEEPER-710), and a close needs no owner.
fn never_answered_moved(records: &[Record], ops: &[Op], out: &mut Vec<Violation>) {
    let moved = ops.iter().filter(|op| {
        op.done
            .as_ref()
            .is_some_and(|d| d.outcome.is(ErrorCode::SessionMoved))
    });
    for op in moved {
        out.push(v(
            "client.sessions",
            format!(
                "{} was answered SessionMoved on its session's own connection",
                op.describe()
            ),
        ));
    }
    for r in records {
        if let Event::ClientState {
            client,
            session,
            state: ClientStatus::CloseAnswered { error: Some(e) },
            ..
        } = &r.event
        {
            if !e.contains("SessionMoved") {
                continue;
            }
            out.push(v(
                "client.sessions",
                format!(
                    "client {client}'s close of session {session:#x} was refused as moved at {} ms",
                    r.t_ms
                ),
            ));
        }
    }
}

pub fn sessions(records: &[Record]) -> Vec<Violation> {
    const CHECK: &str = "client.sessions";
    let mut out = Vec::new();
    let ops = ops(records);
    never_answered_moved(records, &ops, &mut out);
    let ends = session_ends(records);
    // path → ephemeral creates (zxid, session, op), sorted by zxid.
    let mut created: HashMap<&str, Vec<(u64, SessionId, usize)>> = HashMap::default();
    // path → ok deletes' zxids; paths with a delete of unknown effect.
    let mut deleted: HashMap<&str, Vec<u64>> = HashMap::default();
    let mut uncertain: BTreeSet<&str> = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        match op.call {
            Call::Create {
                path,
                ephemeral: true,
                sequential: false,
                ..
            } => {
                let Some(d) = op.done.as_ref().filter(|d| d.outcome.is_ok()) else {
                    continue;
                };
                if let Ret::Stat { owner, .. } = d.ret {
                    if *owner != op.session {
                        out.push(v(
                            CHECK,
                            format!(
                                "{} created an ephemeral owned by {owner:#x}, not by its session {:#x}",
                                op.describe(),
                                op.session
                            ),
                        ));
                    }
                }
                if let Some(end) = ends.get(&op.session) {
                    if d.zxid > end.zxid {
                        out.push(v(
                            CHECK,
                            format!(
                                "{} created {path} at {}, after its session {:#x} ended at {}",
                                op.name(),
                                zx(d.zxid),
                                op.session,
                                zx(end.zxid)
                            ),
                        ));
                    }
                }
                created
                    .entry(path.as_str())
                    .or_default()
                    .push((d.zxid, op.session, i));
            }
            Call::Delete { path, .. } => match op.done.as_ref() {
                Some(d) if d.outcome.is_ok() => {
                    deleted.entry(path.as_str()).or_default().push(d.zxid)
                }
                Some(d) if d.answered() => {}
                _ => {
                    uncertain.insert(path.as_str());
                }
            },
            _ => {}
        }
    }
    for c in created.values_mut() {
        c.sort_unstable();
    }
    for d in deleted.values_mut() {
        d.sort_unstable();
    }
    for op in &ops {
        let path = match op.call {
            Call::Get { path, .. } | Call::Exists { path, .. } => path.as_str(),
            _ => continue,
        };
        let Some(d) = op.done.as_ref().filter(|d| d.answered()) else {
            continue;
        };
        let r = d.zxid;
        let owner = match (d.outcome, d.ret) {
            (Outcome::Ok, Ret::Node { owner, .. } | Ret::Stat { owner, .. }) => Some(*owner),
            (Outcome::Ok, Ret::Absent) | (Outcome::Error(ErrorCode::NoNode), _) => None,
            _ => continue,
        };
        match owner {
            Some(0) => {}
            Some(o) => {
                if let Some(end) = ends.get(&o).filter(|e| e.zxid <= r) {
                    out.push(v(
                        CHECK,
                        format!(
                            "{} was served at {} and shows {path} owned by session {o:#x}, \
                             which ended at {}",
                            op.describe(),
                            zx(r),
                            zx(end.zxid)
                        ),
                    ));
                }
            }
            None => {
                if uncertain.contains(path) {
                    continue;
                }
                let Some(cs) = created.get(path) else {
                    continue;
                };
                let i = cs.partition_point(|(cz, _, _)| *cz <= r);
                if i == 0 {
                    continue;
                }
                let (cz, s, by) = cs[i - 1];
                let alive = ends.get(&s).is_none_or(|e| r < e.zxid);
                let deleted_since = deleted
                    .get(path)
                    .is_some_and(|ds| ds.iter().any(|z| *z > cz && *z <= r));
                if alive && !deleted_since {
                    let until = ends.get(&s).map_or("it never ended".to_string(), |e| {
                        format!("it ended at {}", zx(e.zxid))
                    });
                    out.push(v(
                        CHECK,
                        format!(
                            "{} was served at {} and found {path} missing, but {} created it \
                             there at {} for session {s:#x} and {until}",
                            op.describe(),
                            zx(r),
                            ops[by].name(),
                            zx(cz)
                        ),
                    ));
                }
            }
        }
    }
    out
}
