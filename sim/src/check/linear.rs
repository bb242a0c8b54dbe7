//! Linearizability of one znode's history: a Wing–Gong–Lowe search (as
//! Porcupine does it) over the znode model — absent, or present with a value,
//! a version and an ephemeral owner. Histories are checked per znode
//! (P-compositionality: every op touches one znode), so the search stays small.
//!
//! An op whose answer was lost is *indeterminate*: it may have taken effect at
//! any point after it was invoked, or never. Its return point is when that is
//! settled (the caller knows; else the end of the history), and the model
//! lets it either do nothing or do what a success would have done.

use rustc_hash::FxHashSet as HashSet;
use zkstorm::types::SessionId;

/// A znode's state in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// Index of the value in the key's value table.
    pub value: u32,
    pub version: i32,
    pub owner: SessionId,
}

type State = Option<Node>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOpKind {
    /// `owner`: the creating session if ephemeral, else 0.
    Create {
        value: u32,
        owner: SessionId,
    },
    /// `version = -1`: any.
    Set {
        value: u32,
        version: i32,
    },
    Delete {
        version: i32,
    },
    /// A read known to be linearizable (after a sync): what it saw.
    Read {
        seen: State,
    },
    /// The same for a read that saw only the Stat (exists): present with
    /// (version, owner), or absent.
    ReadMeta {
        seen: Option<(i32, SessionId)>,
    },
    /// The session ended: its ephemeral (if it owns the node) goes.
    SessionEnd {
        session: SessionId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Succeeded; for set, the version the answer reported (if known).
    Ok {
        version: Option<i32>,
    },
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    /// Refused when its txn was applied (SessionMoved, SessionExpired): a
    /// definite no-op.
    Refused,
    /// The answer was lost: happened or not.
    Unknown,
}

/// One op on one znode. `call`/`ret` are positions in the history. For an
/// indeterminate op, `ret` is by when it has happened or never will (`None`:
/// open to the end).
#[derive(Clone, Debug)]
pub struct KeyOp {
    pub call: usize,
    pub ret: Option<usize>,
    pub kind: KeyOpKind,
    pub outcome: KeyOutcome,
}

/// Why a znode's history did not check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Ops placed on the deepest path the search found.
    pub depth: usize,
    /// The op (index into the ops given) that could not be placed there;
    /// `None` when the search gave up (undecided).
    pub op: Option<usize>,
    /// The znode's state at that point, or why the search gave up.
    pub state: String,
}

fn version_ok(node: &Node, version: i32) -> bool {
    version == -1 || version == node.version
}

/// The states `op` may lead to from `s` (empty: it cannot happen there).
/// For an indeterminate op, "nothing happened" comes first.
fn step(s: State, op: &KeyOp, out: &mut Vec<State>) {
    out.clear();
    use KeyOpKind as K;
    use KeyOutcome as O;
    let effect: Option<State> = match (&op.kind, s) {
        (K::Create { value, owner }, None) => Some(Some(Node {
            value: *value,
            version: 0,
            owner: *owner,
        })),
        (K::Create { .. }, Some(_)) => None,
        (K::Set { value, version }, Some(n)) if version_ok(&n, *version) => Some(Some(Node {
            value: *value,
            version: n.version + 1,
            owner: n.owner,
        })),
        (K::Set { .. }, _) => None,
        (K::Delete { version }, Some(n)) if version_ok(&n, *version) => Some(None),
        (K::Delete { .. }, _) => None,
        (K::Read { seen }, s) => {
            if *seen == s {
                out.push(s);
            }
            return;
        }
        (K::ReadMeta { seen }, s) => {
            if *seen == s.map(|n| (n.version, n.owner)) {
                out.push(s);
            }
            return;
        }
        (K::SessionEnd { session }, Some(n)) if n.owner == *session => {
            out.push(None);
            return;
        }
        (K::SessionEnd { .. }, s) => {
            out.push(s);
            return;
        }
    };
    match &op.outcome {
        O::Unknown => {
            out.push(s);
            if let Some(e) = effect {
                if e != s {
                    out.push(e);
                }
            }
        }
        O::Ok { version } => {
            if let Some(e) = effect {
                let reported_ok = match (version, e) {
                    (Some(v), Some(n)) => *v == n.version,
                    _ => true,
                };
                if reported_ok {
                    out.push(e);
                }
            }
        }
        O::NoNode => {
            if s.is_none() {
                out.push(s);
            }
        }
        O::NodeExists => {
            if s.is_some() && matches!(op.kind, K::Create { .. }) {
                out.push(s);
            }
        }
        O::BadVersion => {
            let mismatch = match (&op.kind, s) {
                (K::Set { version, .. } | K::Delete { version }, Some(n)) => {
                    !version_ok(&n, *version)
                }
                _ => false,
            };
            if mismatch {
                out.push(s);
            }
        }
        O::Refused => out.push(s),
        O::NotEmpty => {
            // The model has no children (the caller rejects NotEmpty on a
            // znode that never had any); a failed delete of a present node.
            if s.is_some() && matches!(op.kind, K::Delete { .. }) {
                out.push(s);
            }
        }
    }
}

const NIL: usize = usize::MAX;

#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    call: bool,
    /// For a call, its return entry.
    other: usize,
    prev: usize,
    next: usize,
}

fn lift(es: &mut [Entry], e: usize) {
    let r = es[e].other;
    let (p, n) = (es[e].prev, es[e].next);
    es[p].next = n;
    if n != NIL {
        es[n].prev = p;
    }
    let (p, n) = (es[r].prev, es[r].next);
    es[p].next = n;
    if n != NIL {
        es[n].prev = p;
    }
}

fn unlift(es: &mut [Entry], e: usize) {
    let r = es[e].other;
    let (p, n) = (es[r].prev, es[r].next);
    es[p].next = r;
    if n != NIL {
        es[n].prev = r;
    }
    let (p, n) = (es[e].prev, es[e].next);
    es[p].next = e;
    if n != NIL {
        es[n].prev = e;
    }
}

/// Most search steps per znode before giving up, by default (the verdict is
/// then undecided: a checker must not pass what it could not decide).
pub const STEP_LIMIT: u64 = 10_000_000;

/// Is this znode's history linearizable from `init`? `Err` says which op
/// could not be placed, and what the znode was then — or, with `op: None`,
/// that the search gave up after `step_limit` steps.
pub fn check_key(
    ops: &[KeyOp],
    init: State,
    values: &[String],
    step_limit: u64,
) -> Result<(), Failure> {
    if ops.is_empty() {
        return Ok(());
    }
    // Entries: index 0 is the head sentinel. Indeterminate ops return after everything.
    let mut points: Vec<(usize, usize, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        points.push((op.call, 0, true, i));
        let ret = op.ret.map_or((usize::MAX, i), |r| (r, 0));
        points.push((ret.0, 1 + ret.1, false, i));
    }
    // Calls before returns at the same point (more overlap: more permissive).
    points.sort_by_key(|&(t, tie, call, i)| (t, !call, tie, i));
    let mut es: Vec<Entry> = Vec::with_capacity(points.len() + 1);
    es.push(Entry {
        op: NIL,
        call: false,
        other: NIL,
        prev: NIL,
        next: 1,
    });
    let mut call_of = vec![NIL; ops.len()];
    let mut ret_of = vec![NIL; ops.len()];
    for (k, &(_, _, call, i)) in points.iter().enumerate() {
        let idx = k + 1;
        es.push(Entry {
            op: i,
            call,
            other: NIL,
            prev: idx - 1,
            next: if k + 1 < points.len() { idx + 1 } else { NIL },
        });
        if call {
            call_of[i] = idx;
        } else {
            ret_of[i] = idx;
        }
    }
    for i in 0..ops.len() {
        es[call_of[i]].other = ret_of[i];
        es[ret_of[i]].other = call_of[i];
    }

    // The set of ops linearized so far, as a 128-bit Zobrist fingerprint
    // (the XOR of a fixed random key per op), updated in O(1) per step: the
    // cache used to hold a copy of the whole bitset per entry, O(ops) per
    // step. Two different sets share a fingerprint with probability about
    // 2^-128 per pair; that would prune a branch (a spurious failure, which
    // is reported), never pass a history that does not linearize.
    let mut linearized: u128 = 0;
    let mut cache: HashSet<(u128, State)> = HashSet::default();
    let mut stack: Vec<(usize, State, usize)> = Vec::new();
    let mut state = init;
    let mut entry = es[0].next;
    let mut from_branch = 0usize;
    let mut succ: Vec<State> = Vec::with_capacity(2);
    let mut steps: u64 = 0;
    // Deepest point reached: (linearized count, op that could not be placed, state).
    let mut best: (usize, usize, State) = (0, NIL, init);
    while es[0].next != NIL {
        steps += 1;
        if steps > step_limit {
            return Err(Failure {
                depth: stack.len(),
                op: None,
                state: format!("the search gave up after {step_limit} steps"),
            });
        }
        let e = es[entry];
        if e.call {
            step(state, &ops[e.op], &mut succ);
            let mut moved = false;
            let key = zobrist(e.op);
            for (b, ns) in succ.iter().enumerate().skip(from_branch) {
                if cache.insert((linearized ^ key, *ns)) {
                    linearized ^= key;
                    stack.push((entry, state, b));
                    state = *ns;
                    lift(&mut es, entry);
                    entry = es[0].next;
                    moved = true;
                    break;
                }
            }
            from_branch = 0;
            if !moved {
                entry = e.next;
            }
        } else {
            if best.1 == NIL || stack.len() > best.0 {
                best = (stack.len(), e.op, state);
            }
            let Some((call, prev, b)) = stack.pop() else {
                break;
            };
            let op = es[call].op;
            linearized ^= zobrist(op);
            state = prev;
            unlift(&mut es, call);
            entry = call;
            from_branch = b + 1;
        }
        if entry == NIL {
            // Only calls were left after the last entry tried: can't happen
            // (every call has its return after it), but never loop forever.
            break;
        }
    }
    if es[0].next == NIL {
        return Ok(());
    }
    let (depth, op, st) = best;
    Err(Failure {
        depth,
        op: (op != NIL).then_some(op),
        state: show(st, values),
    })
}

/// Op `i`'s fixed random key for the fingerprint (two splitmix64 draws).
fn zobrist(i: usize) -> u128 {
    let mix = |mut x: u64| {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let i = i as u64;
    (u128::from(mix(2 * i)) << 64) | u128::from(mix(2 * i + 1))
}

pub fn show(s: State, values: &[String]) -> String {
    match s {
        None => "absent".into(),
        Some(n) => {
            let v = values.get(n.value as usize).map_or("?", |s| s.as_str());
            if n.owner != 0 {
                format!("{v:?} v{} owned by {:#x}", n.version, n.owner)
            } else {
                format!("{v:?} v{}", n.version)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every order of the ops that respects real time, each op taking any
    /// successor `step` allows. Exponential: only for a handful of ops.
    fn brute_force(ops: &[KeyOp], init: State) -> bool {
        fn go(ops: &[KeyOp], placed: &mut Vec<bool>, s: State) -> bool {
            if placed.iter().all(|p| *p) {
                return true;
            }
            let mut succ = Vec::new();
            for i in 0..ops.len() {
                // `i` may go next only if no unplaced op returned before it was called.
                let blocked = (0..ops.len())
                    .any(|j| !placed[j] && j != i && ops[j].ret.is_some_and(|r| r < ops[i].call));
                if placed[i] || blocked {
                    continue;
                }
                step(s, &ops[i], &mut succ);
                let next = succ.clone();
                placed[i] = true;
                if next.into_iter().any(|ns| go(ops, placed, ns)) {
                    return true;
                }
                placed[i] = false;
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], init)
    }

    fn op_strategy() -> impl Strategy<Value = KeyOp> {
        let node = (0u32..2, 0i32..3, prop_oneof![Just(0u64), Just(7u64)]).prop_map(
            |(value, version, owner)| Node {
                value,
                version,
                owner,
            },
        );
        let kind = prop_oneof![
            (0u32..3, prop_oneof![Just(0u64), Just(7u64)])
                .prop_map(|(value, owner)| KeyOpKind::Create { value, owner }),
            (0u32..3, -1i32..3).prop_map(|(value, version)| KeyOpKind::Set { value, version }),
            (-1i32..3).prop_map(|version| KeyOpKind::Delete { version }),
            proptest::option::of(node).prop_map(|seen| KeyOpKind::Read { seen }),
            Just(KeyOpKind::SessionEnd { session: 7 }),
        ];
        let outcome = prop_oneof![
            3 => proptest::option::of(0i32..3).prop_map(|version| KeyOutcome::Ok { version }),
            1 => Just(KeyOutcome::NoNode),
            1 => Just(KeyOutcome::NodeExists),
            1 => Just(KeyOutcome::BadVersion),
            1 => Just(KeyOutcome::Refused),
            3 => Just(KeyOutcome::Unknown),
        ];
        (0usize..12, proptest::option::of(0usize..8), kind, outcome).prop_map(
            |(call, len, kind, outcome)| KeyOp {
                call,
                ret: len.map(|l| call + l),
                kind,
                outcome,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The search (with its cache of visited states) decides exactly
        /// what trying every order decides.
        #[test]
        fn the_search_agrees_with_trying_every_order(
            ops in proptest::collection::vec(op_strategy(), 0..7),
            present in any::<bool>(),
        ) {
            let init = present.then_some(Node { value: 0, version: 0, owner: 0 });
            let values = vec!["a".to_string(), "b".to_string(), "c".to_string()];
            let found = check_key(&ops, init, &values, STEP_LIMIT);
            prop_assert_eq!(found.is_ok(), brute_force(&ops, init), "{:?}", found);
        }
    }
}
