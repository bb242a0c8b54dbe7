//! ZAB's properties (Junqueira, Reed, Serafini: "Zab: High-performance
//! broadcast for primary-backup systems", DSN'11) plus prefix consistency,
//! one leader per epoch and durability, judged from the history.
//!
//! A server's deliveries are split into *runs*: a run starts when the server
//! recovers from disk or installs a snapshot (its state restarts at `base`,
//! the committed prefix up to that zxid) and then applies txns one by one.
//! `G`, the global order, is every delivered zxid, sorted.

use super::{v, zx, Violation};
use crate::history::{Event, Record};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use zkstorm::types::{SessionId, Sid, Zxid};

/// What identifies a txn's content: session, cxid and body digest.
type TxnId = (SessionId, u64, u64);

struct Delivery {
    zxid: u64,
    idx: usize,
    id: TxnId,
    /// The zxid's first proposal and its place in `G`, looked up once for
    /// every pass (the lookups were most of the checker's time).
    prop: Option<Prop>,
    pos: Option<usize>,
}

struct Run {
    sid: Sid,
    base: u64,
    dels: Vec<Delivery>,
}

#[derive(Clone, Copy)]
struct Prop {
    sid: Sid,
    epoch: u32,
    id: TxnId,
    idx: usize,
}

fn epoch(z: u64) -> u32 {
    Zxid(z).epoch()
}

struct Facts {
    runs: Vec<Run>,
    /// First proposal of each zxid (a second one is a violation of its own).
    props: BTreeMap<u64, Prop>,
    /// zxid → (txn, server, index) of its first delivery.
    first: FxHashMap<u64, (TxnId, Sid, usize)>,
    /// `G`: every delivered zxid, sorted.
    global: Vec<u64>,
    /// (epoch, sid, tip, index) per Established record.
    established: Vec<(u32, Sid, u64, usize)>,
    /// Acknowledged txns: (zxid, session, index of the answer, client, op).
    acked: Vec<(u64, SessionId, usize, usize, u64)>,
    /// (sid, to, logged, index) per Truncated record.
    truncated: Vec<(Sid, u64, u64, usize)>,
}

impl Facts {
    fn gather(records: &[Record], out: &mut Vec<Violation>) -> Facts {
        let mut runs: Vec<Run> = Vec::new();
        let mut current: BTreeMap<Sid, usize> = BTreeMap::new();
        let mut props: BTreeMap<u64, Prop> = BTreeMap::new();
        let mut first: FxHashMap<u64, (TxnId, Sid, usize)> = FxHashMap::default();
        let mut established = Vec::new();
        let mut acked = Vec::new();
        let mut truncated = Vec::new();
        for (idx, r) in records.iter().enumerate() {
            match &r.event {
                Event::Recovered { sid, base, .. } | Event::Reset { sid, base } => {
                    current.insert(*sid, runs.len());
                    runs.push(Run {
                        sid: *sid,
                        base: *base,
                        dels: Vec::new(),
                    });
                }
                Event::Delivered {
                    sid,
                    zxid,
                    session,
                    cxid,
                    body,
                    ..
                } => {
                    let id = (*session, *cxid, *body);
                    let run = *current.entry(*sid).or_insert_with(|| {
                        runs.push(Run {
                            sid: *sid,
                            base: 0,
                            dels: Vec::new(),
                        });
                        runs.len() - 1
                    });
                    runs[run].dels.push(Delivery {
                        zxid: *zxid,
                        idx,
                        id,
                        prop: None,
                        pos: None,
                    });
                    match first.get(zxid) {
                        None => {
                            first.insert(*zxid, (id, *sid, idx));
                        }
                        Some((prev, psid, _)) if *prev != id => out.push(v(
                            "zab.agreement",
                            format!(
                                "server {sid} delivered txn (session {:#x}, cxid {}, body {:#x}) at {}, \
                                 but server {psid} delivered (session {:#x}, cxid {}, body {:#x}) there",
                                id.0, id.1, id.2, zx(*zxid), prev.0, prev.1, prev.2
                            ),
                        )),
                        Some(_) => {}
                    }
                }
                Event::Proposed {
                    sid,
                    zxid,
                    epoch,
                    session,
                    cxid,
                    body,
                } => {
                    let p = Prop {
                        sid: *sid,
                        epoch: *epoch,
                        id: (*session, *cxid, *body),
                        idx,
                    };
                    if let Some(prev) = props.get(zxid) {
                        let check = if prev.sid != *sid {
                            "zab.single_leader_per_epoch"
                        } else {
                            "zab.local_primary_order"
                        };
                        out.push(v(
                            check,
                            format!(
                                "{} proposed twice: by server {} and again by server {sid}",
                                zx(*zxid),
                                prev.sid
                            ),
                        ));
                    } else {
                        props.insert(*zxid, p);
                    }
                }
                Event::Established { sid, epoch, zxid } => {
                    established.push((*epoch, *sid, *zxid, idx));
                }
                Event::Complete {
                    client,
                    op,
                    session,
                    outcome,
                    zxid,
                    write: true,
                    ..
                } if *zxid != 0 && outcome.answered() => {
                    acked.push((*zxid, *session, idx, *client, *op));
                }
                Event::Truncated { sid, to, logged } => {
                    truncated.push((*sid, *to, *logged, idx));
                }
                _ => {}
            }
        }
        let mut global: Vec<u64> = first.keys().copied().collect();
        global.sort_unstable();
        for d in runs.iter_mut().flat_map(|r| r.dels.iter_mut()) {
            d.prop = props.get(&d.zxid).copied();
            d.pos = global.binary_search(&d.zxid).ok();
        }
        Facts {
            runs,
            props,
            first,
            global,
            established,
            acked,
            truncated,
        }
    }

    fn pos(&self, z: u64) -> Option<usize> {
        self.global.binary_search(&z).ok()
    }

    fn who_delivered(&self, z: u64) -> String {
        self.first
            .get(&z)
            .map_or("nobody".into(), |(_, sid, _)| format!("server {sid}"))
    }

    /// The highest delivered zxid of an epoch below `e`.
    fn max_below_epoch(&self, e: u32) -> Option<u64> {
        let bound = Zxid::new(e, 0).0;
        let i = self.global.partition_point(|z| *z < bound);
        (i > 0).then(|| self.global[i - 1])
    }
}

/// Every ZAB check.
pub fn check(records: &[Record]) -> Vec<Violation> {
    let mut out = Vec::new();
    let f = Facts::gather(records, &mut out);
    integrity(&f, &mut out);
    total_order(&f, &mut out);
    prefix_consistency(&f, &mut out);
    local_primary_order(&f, &mut out);
    global_primary_order(&f, &mut out);
    primary_integrity(&f, &mut out);
    single_leader(&f, &mut out);
    durability(&f, &mut out);
    super::ack::check(records, &mut out);
    super::ack::check_epochs(records, &mut out);
    super::promises::check(records, &mut out);
    out
}

/// Every delivery matches a proposal of that zxid recorded before it.
fn integrity(f: &Facts, out: &mut Vec<Violation>) {
    for run in &f.runs {
        for d in &run.dels {
            match d.prop {
                None => out.push(v(
                    "zab.integrity",
                    format!(
                        "server {} delivered {} which no leader proposed",
                        run.sid,
                        zx(d.zxid)
                    ),
                )),
                Some(p) if p.idx > d.idx => out.push(v(
                    "zab.integrity",
                    format!(
                        "server {} delivered {} before server {} proposed it",
                        run.sid,
                        zx(d.zxid),
                        p.sid
                    ),
                )),
                Some(p) if p.id != d.id => out.push(v(
                    "zab.integrity",
                    format!(
                        "server {} delivered at {} txn (session {:#x}, cxid {}, body {:#x}) \
                         but server {} proposed (session {:#x}, cxid {}, body {:#x})",
                        run.sid,
                        zx(d.zxid),
                        d.id.0,
                        d.id.1,
                        d.id.2,
                        p.sid,
                        p.id.0,
                        p.id.1,
                        p.id.2
                    ),
                )),
                Some(_) => {}
            }
        }
    }
}

/// Within a run, deliveries go up in zxid and are consecutive in `G`.
fn total_order(f: &Facts, out: &mut Vec<Violation>) {
    for run in &f.runs {
        for w in run.dels.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.zxid <= a.zxid {
                out.push(v(
                    "zab.total_order",
                    format!(
                        "server {} delivered {} after {}",
                        run.sid,
                        zx(b.zxid),
                        zx(a.zxid)
                    ),
                ));
                continue;
            }
            let (pa, pb) = (a.pos.unwrap_or(0), b.pos.unwrap_or(0));
            if pb != pa + 1 {
                let skipped = f.global[pa + 1];
                out.push(v(
                    "zab.total_order",
                    format!(
                        "server {} delivered {} right after {}, skipping {} ({} delivered it)",
                        run.sid,
                        zx(b.zxid),
                        zx(a.zxid),
                        zx(skipped),
                        f.who_delivered(skipped)
                    ),
                ));
            }
        }
    }
}

/// A run resumes from a delivered point and continues right after it.
fn prefix_consistency(f: &Facts, out: &mut Vec<Violation>) {
    for run in &f.runs {
        let base_pos = if run.base == 0 {
            None
        } else {
            match f.pos(run.base) {
                Some(p) => Some(p),
                None => {
                    out.push(v(
                        "zab.prefix_consistency",
                        format!(
                            "server {} restarted from state at {} which no server delivered",
                            run.sid,
                            zx(run.base)
                        ),
                    ));
                    continue;
                }
            }
        };
        let Some(d) = run.dels.first() else { continue };
        let expected = base_pos.map_or(0, |p| p + 1);
        let got = d.pos.unwrap_or(0);
        if got != expected {
            let what = f
                .global
                .get(expected)
                .map_or("nothing".to_string(), |z| zx(*z));
            out.push(v(
                "zab.prefix_consistency",
                format!(
                    "server {} resumed at {} with {}; the delivered history has {} next",
                    run.sid,
                    zx(run.base),
                    zx(d.zxid),
                    what
                ),
            ));
        }
    }
}

/// A leader's proposals go up in zxid; a run delivering one has delivered the
/// same leader's previous proposal (or resumed past it).
fn local_primary_order(f: &Facts, out: &mut Vec<Violation>) {
    // (sid, epoch) → proposals in record order.
    let mut by_primary: BTreeMap<(Sid, u32), Vec<(usize, u64)>> = BTreeMap::new();
    for (z, p) in &f.props {
        by_primary
            .entry((p.sid, p.epoch))
            .or_default()
            .push((p.idx, *z));
    }
    let mut prev_of: FxHashMap<u64, u64> = FxHashMap::default();
    for ((sid, e), mut ps) in by_primary {
        ps.sort();
        for w in ps.windows(2) {
            if w[1].1 <= w[0].1 {
                out.push(v(
                    "zab.local_primary_order",
                    format!(
                        "leader {sid} of epoch {e} proposed {} after {}",
                        zx(w[1].1),
                        zx(w[0].1)
                    ),
                ));
            }
            prev_of.insert(w[1].1, w[0].1);
        }
    }
    for run in &f.runs {
        let mut seen = FxHashSet::default();
        for d in &run.dels {
            if let Some(&p) = prev_of.get(&d.zxid) {
                if p > run.base && !seen.contains(&p) {
                    let leader = d.prop.map_or(0, |x| x.sid);
                    out.push(v(
                        "zab.local_primary_order",
                        format!(
                            "server {} delivered {} without {}, which leader {leader} proposed before it",
                            run.sid,
                            zx(d.zxid),
                            zx(p)
                        ),
                    ));
                }
            }
            seen.insert(d.zxid);
        }
    }
}

/// Within a run, the proposing leaders' epochs never go down; a leader only
/// proposes zxids of its own epoch.
fn global_primary_order(f: &Facts, out: &mut Vec<Violation>) {
    for (z, p) in &f.props {
        if epoch(*z) != p.epoch {
            out.push(v(
                "zab.global_primary_order",
                format!(
                    "leader {} of epoch {} proposed {} of epoch {}",
                    p.sid,
                    p.epoch,
                    zx(*z),
                    epoch(*z)
                ),
            ));
        }
    }
    for run in &f.runs {
        let mut last: Option<(u32, u64)> = None;
        for d in &run.dels {
            let e = d.prop.map_or(epoch(d.zxid), |p| p.epoch);
            if let Some((le, lz)) = last {
                if e < le {
                    out.push(v(
                        "zab.global_primary_order",
                        format!(
                            "server {} delivered {} (leader of epoch {e}) after {} (leader of epoch {le})",
                            run.sid,
                            zx(d.zxid),
                            zx(lz)
                        ),
                    ));
                }
            }
            last = Some((e, d.zxid));
        }
    }
}

/// A new leader's starting history holds every txn of older epochs anyone
/// delivers; it proposes only once established, and delivers all of that
/// history before its own txns.
fn primary_integrity(f: &Facts, out: &mut Vec<Violation>) {
    let mut est: BTreeMap<u32, (Sid, u64, usize)> = BTreeMap::new();
    for &(e, sid, tip, idx) in &f.established {
        est.entry(e).or_insert((sid, tip, idx));
        if let Some(z) = f.max_below_epoch(e) {
            if z > tip {
                out.push(v(
                    "zab.primary_integrity",
                    format!(
                        "{} of an older epoch was delivered ({} delivered it) but leader {sid} \
                         established epoch {e} with history only up to {}",
                        zx(z),
                        f.who_delivered(z),
                        zx(tip)
                    ),
                ));
            }
        }
    }
    // First proposal per epoch.
    let mut first_prop: BTreeMap<u32, (usize, Sid, u64)> = BTreeMap::new();
    for (z, p) in &f.props {
        let slot = first_prop.entry(p.epoch).or_insert((p.idx, p.sid, *z));
        if p.idx < slot.0 {
            *slot = (p.idx, p.sid, *z);
        }
    }
    for (&e, &(idx, sid, z)) in &first_prop {
        match est.get(&e) {
            Some(&(lsid, _, eidx)) if lsid == sid && eidx < idx => {}
            Some(&(lsid, _, _)) if lsid != sid => {} // single_leader_per_epoch reports it
            _ => out.push(v(
                "zab.primary_integrity",
                format!(
                    "server {sid} proposed {} before establishing epoch {e}",
                    zx(z)
                ),
            )),
        }
    }
    // The leader's own deliveries: everything older first.
    for run in &f.runs {
        let mut last = run.base;
        for d in &run.dels {
            let own = d
                .prop
                .is_some_and(|p| p.sid == run.sid && p.epoch == epoch(d.zxid));
            if own {
                if let Some(older) = f.max_below_epoch(epoch(d.zxid)) {
                    if older > last {
                        out.push(v(
                            "zab.primary_integrity",
                            format!(
                                "leader {} delivered its own {} having delivered only up to {}; \
                                 {} of an older epoch was delivered elsewhere",
                                run.sid,
                                zx(d.zxid),
                                zx(last),
                                zx(older)
                            ),
                        ));
                    }
                }
            }
            last = d.zxid;
        }
    }
}

/// One establishing server per epoch; every proposal of an epoch by it.
fn single_leader(f: &Facts, out: &mut Vec<Violation>) {
    let mut leaders: BTreeMap<u32, Sid> = BTreeMap::new();
    for &(e, sid, _, _) in &f.established {
        if let Some(&other) = leaders.get(&e) {
            if other != sid {
                out.push(v(
                    "zab.single_leader_per_epoch",
                    format!("epoch {e} established by server {other} and by server {sid}"),
                ));
            }
        } else {
            leaders.insert(e, sid);
        }
    }
    let mut proposers: BTreeMap<u32, Sid> = BTreeMap::new();
    for (z, p) in &f.props {
        let e = p.epoch;
        match (leaders.get(&e), proposers.get(&e)) {
            (Some(&l), _) if l != p.sid => out.push(v(
                "zab.single_leader_per_epoch",
                format!(
                    "server {} proposed {} in epoch {e}, which server {l} established",
                    p.sid,
                    zx(*z)
                ),
            )),
            (None, Some(&other)) if other != p.sid => out.push(v(
                "zab.single_leader_per_epoch",
                format!(
                    "servers {other} and {} both proposed in epoch {e} ({})",
                    p.sid,
                    zx(*z)
                ),
            )),
            _ => {
                proposers.entry(e).or_insert(p.sid);
            }
        }
    }
}

/// Acknowledged txns are delivered as acknowledged, and stay: every run that
/// goes past one delivers it; no server truncates a txn committed before.
fn durability(f: &Facts, out: &mut Vec<Violation>) {
    let mut acked_sorted: Vec<(u64, usize)> = Vec::new();
    for &(z, session, idx, client, op) in &f.acked {
        match f.first.get(&z) {
            Some(((s, _, _), _, _)) if *s == session => acked_sorted.push((z, idx)),
            Some(((s, _, _), sid, _)) => out.push(v(
                "zab.durability",
                format!(
                    "client {client} op {op} acknowledged at {} but server {sid} delivered a txn \
                     of session {s:#x} there",
                    zx(z)
                ),
            )),
            None => out.push(v(
                "zab.durability",
                format!(
                    "client {client} op {op} acknowledged at {} but no server delivered it",
                    zx(z)
                ),
            )),
        }
    }
    acked_sorted.sort();
    acked_sorted.dedup_by_key(|x| x.0);
    for run in &f.runs {
        let Some(last) = run.dels.last() else {
            continue;
        };
        let delivered: Vec<u64> = run.dels.iter().map(|d| d.zxid).collect();
        let from = acked_sorted.partition_point(|(z, _)| *z <= run.base);
        for &(z, _) in &acked_sorted[from..] {
            if z > last.zxid {
                break;
            }
            // Deliveries of a run go up when total order holds; search all otherwise.
            if delivered.binary_search(&z).is_err() && !delivered.contains(&z) {
                out.push(v(
                    "zab.durability",
                    format!(
                        "server {} delivered up to {} without the acknowledged {}",
                        run.sid,
                        zx(last.zxid),
                        zx(z)
                    ),
                ));
            }
        }
    }
    // When each zxid was first known committed: delivered or acknowledged.
    let mut committed_at: BTreeMap<u64, usize> =
        f.first.iter().map(|(z, (_, _, idx))| (*z, *idx)).collect();
    for &(z, idx) in &acked_sorted {
        let e = committed_at.entry(z).or_insert(idx);
        *e = (*e).min(idx);
    }
    for &(sid, to, logged, idx) in &f.truncated {
        if logged <= to {
            continue;
        }
        // Within the last logged epoch the log is contiguous: every zxid of
        // that epoch in (to, logged] was in it.
        let lo = to.max(Zxid::new(epoch(logged), 0).0);
        for (&z, &at) in committed_at.range(lo + 1..=logged) {
            if at < idx {
                out.push(v(
                    "zab.durability",
                    format!(
                        "server {sid} truncated its log to {} dropping {}, committed before",
                        zx(to),
                        zx(z)
                    ),
                ));
            }
        }
    }
}
