//! `client.sequential_names`: a sequential create's name is its parent's
//! create counter (`%010d`), which only grows while the parent lives. So,
//! among the creates the history saw named, one parent's names strictly
//! increase in zxid order (none repeats), and each is the requested path
//! followed by ten digits.
//!
//! What a history cannot tell is left alone: a lost answer may have used a
//! number (so numbers may be skipped, never reused); a parent that may have
//! been deleted and created again restarts its counter (so names are
//! compared only within one life of the parent). A NodeExists answer means
//! the counter named a child that already existed — which only a create of
//! that very name by another road can excuse.

use super::client::{ops, parent, Op};
use super::{v, zx, Violation};
use crate::history::{Call, Event, Outcome, Record, Ret};
use rustc_hash::FxHashMap as HashMap;
use zkstorm::proto::ErrorCode;

const CHECK: &str = "client.sequential_names";

/// Digits of the counter ZooKeeper appends.
const DIGITS: usize = 10;

/// A sequential create the history saw named.
struct Named<'a> {
    zxid: u64,
    counter: u64,
    name: &'a str,
    op: usize,
}

/// Where the parents' lives may have ended: ok deletes' zxids per path,
/// and paths a delete of unknown effect may have removed.
#[derive(Default)]
struct Deletes<'a> {
    at: HashMap<&'a str, Vec<u64>>,
    unknown: Vec<&'a str>,
    /// A multi (not judged per key) may have deleted or created anything.
    opaque: bool,
}

impl Deletes<'_> {
    /// May `parent` have been deleted between zxids `a` and `b`?
    fn between(&self, parent: &str, a: u64, b: u64) -> bool {
        self.opaque
            || self.unknown.contains(&parent)
            || self
                .at
                .get(parent)
                .is_some_and(|zs| zs.iter().any(|z| *z > a && *z < b))
    }
}

/// The counter a sequential name carries after the requested `path`, if
/// it is one.
fn counter(path: &str, name: &str) -> Option<u64> {
    let digits = name.strip_prefix(path)?;
    let all_digits = digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| digits.parse().ok()).flatten()
}

pub fn sequential_names(records: &[Record]) -> Vec<Violation> {
    let ops = ops(records);
    let deletes = deletes(&ops);
    let mut out = Vec::new();
    let mut by_parent: HashMap<&str, Vec<Named>> = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        let Call::Create {
            path,
            sequential: true,
            ..
        } = op.call
        else {
            continue;
        };
        let Some(d) = &op.done else { continue };
        match (d.outcome, d.ret) {
            (Outcome::Ok, Ret::Named { name, .. }) => match counter(path, name) {
                Some(counter) => by_parent.entry(parent(name)).or_default().push(Named {
                    zxid: d.zxid,
                    counter,
                    name,
                    op: i,
                }),
                None => out.push(v(
                    CHECK,
                    format!(
                        "{} got the name {name}, not {path} followed by a {DIGITS}-digit counter",
                        op.describe()
                    ),
                )),
            },
            (Outcome::Error(ErrorCode::NodeExists), _)
                if !made_by_name(&ops, path, deletes.opaque) =>
            {
                out.push(v(
                    CHECK,
                    format!(
                        "{} at {}: NodeExists, but no create of a name of {path}'s form by \
                         another road was made (a name handed out twice)",
                        op.describe(),
                        zx(d.zxid)
                    ),
                ))
            }
            _ => {}
        }
    }
    for (parent, names) in &mut by_parent {
        names.sort_by_key(|n| n.zxid);
        out.extend(not_increasing(&ops, parent, names, &deletes));
    }
    out
}

/// Consecutive creates under one life of `parent` whose counters do not
/// grow.
fn not_increasing(ops: &[Op], parent: &str, names: &[Named], deletes: &Deletes) -> Vec<Violation> {
    let mut out = Vec::new();
    for w in names.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if b.counter > a.counter || deletes.between(parent, a.zxid, b.zxid) {
            continue;
        }
        let how = if a.name == b.name {
            format!("both got the name {}", a.name)
        } else {
            format!("the later got {} after {}", b.name, a.name)
        };
        out.push(v(
            CHECK,
            format!(
                "under {parent}, {} at {} and {} at {}: {how} (the parent's counter only grows)",
                ops[a.op].name(),
                zx(a.zxid),
                ops[b.op].name(),
                zx(b.zxid)
            ),
        ));
    }
    out
}

/// Deletes of the history, by path.
fn deletes<'a>(ops: &[Op<'a>]) -> Deletes<'a> {
    let mut out = Deletes::default();
    for op in ops {
        match op.call {
            Call::Delete { path, .. } => match &op.done {
                Some(d) if d.outcome.is_ok() => out.at.entry(path).or_default().push(d.zxid),
                Some(d) if d.answered() => {}
                _ => out.unknown.push(path),
            },
            Call::Other { .. } => out.opaque = true,
            _ => {}
        }
    }
    out
}

/// Could a node named like a sequential child of `path` (the path and ten
/// digits) have been made other than by the counter: a plain create of
/// such a name, or a multi the checks do not look into?
fn made_by_name(ops: &[Op], path: &str, opaque: bool) -> bool {
    opaque
        || ops.iter().any(|op| {
            matches!(op.call, Call::Create { path: p, sequential: false, .. }
                if counter(path, p).is_some())
        })
}

/// Did the load make sequential creates at all? (Without any, the check
/// does not apply and is not reported.)
pub fn applies(records: &[Record]) -> bool {
    records.iter().any(|r| {
        matches!(
            &r.event,
            Event::Invoke {
                call: Call::Create {
                    sequential: true,
                    ..
                },
                ..
            }
        )
    })
}
