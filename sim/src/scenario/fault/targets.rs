//! Validating and rendering targets, and the context a fault kind validates
//! its value in.

use super::{Picks, R};
use crate::scenario::error::ErrorKind;
use crate::scenario::schema::{FaultSpec, RawAtom, RawTargets, Target, WorkloadSpec};
use crate::scenario::validate::V;
use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// Where a fault's value is validated: the file, the ensemble and load it
/// acts on, its times, and the faults before it (for `fault[N]`).
pub(crate) struct Cx<'a> {
    pub v: &'a V<'a>,
    pub servers: usize,
    pub workload: &'a WorkloadSpec,
    pub topology: Option<&'a crate::scenario::TopologySpec>,
    /// How long the load runs.
    pub duration: Duration,
    pub index: usize,
    pub at: Duration,
    pub until: Option<Duration>,
    /// Where `until` is written, if it is.
    pub until_offset: Option<usize>,
    pub earlier: &'a [FaultSpec],
    /// `fault[2]`
    pub base: String,
    /// `fault[2].crash`
    pub field: String,
    pub key: &'static str,
}

fn expected_targets(servers: usize, allow_rest: bool) -> String {
    let names = if allow_rest {
        "leader, follower, random, minority, majority, crashed, all, rest, fault[N]"
    } else {
        "leader, follower, random, minority, majority, crashed, all, fault[N]"
    };
    if servers == 1 {
        format!("expected {names} or the node id 1")
    } else {
        format!("expected {names} or a node id 1..={servers}")
    }
}

impl Cx<'_> {
    /// The action's own value as a target list (`crash = ["leader", 3]`).
    pub fn targets(&self, t: &Spanned<RawTargets>) -> R<Vec<Target>> {
        self.targets_at(t, &self.field)
    }

    /// A target list under a sub-key (`slow_fsync.target`).
    pub fn sub_targets(&self, t: &Spanned<RawTargets>, sub: &str) -> R<Vec<Target>> {
        self.targets_at(t, &format!("{}.{sub}", self.field))
    }

    fn targets_at(&self, t: &Spanned<RawTargets>, field: &str) -> R<Vec<Target>> {
        let l = self.list(t, field, false)?;
        self.no_duplicates(field, self.key, std::slice::from_ref(&l))?;
        Ok(strip(l))
    }

    /// Groups of targets where `rest` is allowed (partition, one_way); `what`
    /// names them in a duplicate error.
    pub fn groups(
        &self,
        groups: &[(&Spanned<RawTargets>, String)],
        what: &str,
    ) -> R<Vec<Vec<Target>>> {
        let lists = groups
            .iter()
            .map(|(g, field)| self.list(g, field, true))
            .collect::<R<Vec<_>>>()?;
        self.no_duplicates(&self.field, what, &lists)?;
        Ok(lists.into_iter().map(strip).collect())
    }

    fn atom(&self, a: &RawAtom, span: &Range<usize>, field: &str, allow_rest: bool) -> R<Target> {
        match a {
            RawAtom::Name(s) => match Target::from_name(s) {
                Some(Target::Rest) if !allow_rest => Err(self.v.err(
                    span.start,
                    field,
                    ErrorKind::Invalid,
                    "\"rest\" only means something inside partition or one_way (everyone not named in the other groups)",
                )),
                Some(Target::Fault { index, group }) => self.fault_ref(index, group, span, field),
                Some(t) => Ok(t),
                None => {
                    let hint = match s.parse::<i64>() {
                        Ok(n) => format!(" — write node ids as numbers: {n}, not \"{n}\""),
                        Err(_) => match crate::scenario::suggest(s, Target::NAMES) {
                            Some(m) if m != "rest" || allow_rest => {
                                format!(" — did you mean \"{m}\"?")
                            }
                            _ => String::new(),
                        },
                    };
                    Err(self.v.err(
                        span.start,
                        field,
                        ErrorKind::UnknownTarget,
                        format!(
                            "unknown target {s:?}{hint} ({})",
                            expected_targets(self.servers, allow_rest)
                        ),
                    ))
                }
            },
            RawAtom::Node(n) => {
                if *n < 1 || *n > self.servers as i128 {
                    Err(self.v.err(
                        span.start,
                        field,
                        ErrorKind::NoSuchNode,
                        format!(
                            "node {n} does not exist: the ensemble has {} server{} ({})",
                            self.servers,
                            if self.servers == 1 { "" } else { "s" },
                            if self.servers == 1 {
                                "node 1".to_string()
                            } else {
                                format!("nodes 1..={}", self.servers)
                            }
                        ),
                    ))
                } else {
                    Ok(Target::Node(*n as zkstorm::types::Sid))
                }
            }
        }
    }

    /// `fault[N]` / `fault[N][G]`: an earlier fault that picked nodes.
    fn fault_ref(
        &self,
        index: usize,
        group: Option<usize>,
        span: &Range<usize>,
        field: &str,
    ) -> R<Target> {
        let bad = |msg: String| Err(self.v.err(span.start, field, ErrorKind::Invalid, msg));
        if index >= self.index {
            return bad(format!(
                "fault[{index}] is not an earlier entry (this is fault[{}]): a fault can only name the nodes an earlier one picked",
                self.index
            ));
        }
        let f = &self.earlier[index];
        if f.at > self.at {
            return bad(format!(
                "fault[{index}] fires at {}, after this one ({})",
                super::d(f.at),
                super::d(self.at)
            ));
        }
        let groups = match f.action.fault().picks() {
            Picks::Groups(g) | Picks::Sides(g) => Some(g.len()),
            Picks::Nodes(_) => None,
            Picks::Nothing => {
                return bad(format!(
                    "fault[{index}] ({}) picks no nodes",
                    f.action.key()
                ))
            }
        };
        match (group, groups) {
            (Some(_), None) => bad(format!(
                "fault[{index}] ({}) has no groups: write \"fault[{index}]\"",
                f.action.key()
            )),
            (Some(g), Some(n)) if g >= n => {
                bad(format!("fault[{index}] has {n} groups (0..={})", n - 1))
            }
            _ => Ok(Target::Fault { index, group }),
        }
    }

    /// A target list, with where each entry is.
    fn list(
        &self,
        t: &Spanned<RawTargets>,
        field: &str,
        allow_rest: bool,
    ) -> R<Vec<(Target, usize)>> {
        match t.get_ref() {
            RawTargets::One(a) => Ok(vec![(
                self.atom(a, &t.span(), field, allow_rest)?,
                t.span().start,
            )]),
            RawTargets::Many(items) => {
                if items.is_empty() {
                    return Err(self.v.at(t, field, ErrorKind::Invalid, "names no target"));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let f = format!("{field}[{i}]");
                        Ok((
                            self.atom(a.get_ref(), &a.span(), &f, allow_rest)?,
                            a.span().start,
                        ))
                    })
                    .collect()
            }
        }
    }

    /// Reject a node or a fixed role named twice across the given groups.
    fn no_duplicates(&self, field: &str, what: &str, groups: &[Vec<(Target, usize)>]) -> R<()> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let total: usize = groups.iter().map(|g| g.len()).sum();
        for (t, off) in groups.iter().flatten() {
            if *t == Target::All && total > 1 {
                return Err(self.v.err(
                    *off,
                    field,
                    ErrorKind::Duplicate,
                    format!("{what} names \"all\" together with other targets (\"all\" already names every server)"),
                ));
            }
            if repeatable(*t) {
                continue;
            }
            if !seen.insert(t.to_string()) {
                let shown = match t {
                    Target::Node(n) => format!("node {n}"),
                    other => format!("\"{other}\""),
                };
                return Err(self.v.err(
                    *off,
                    field,
                    ErrorKind::Duplicate,
                    format!("{what} names {shown} twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Targets that pick one fixed set, so naming them twice is a mistake.
/// (`follower`, `random` and `candidate` pick a different node each time
/// they appear.)
fn repeatable(t: Target) -> bool {
    matches!(t, Target::Follower | Target::Random | Target::Candidate)
}

fn strip(l: Vec<(Target, usize)>) -> Vec<Target> {
    l.into_iter().map(|(t, _)| t).collect()
}

// ------------------------------------------------------------------ rendering

pub(crate) fn quote(s: &str) -> String {
    // TOML basic strings use JSON's escapes for what we need.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn target(t: &Target) -> String {
    match t {
        Target::Node(n) => n.to_string(),
        other => quote(&other.to_string()),
    }
}

/// One target bare, several as a list.
pub(crate) fn render_targets(ts: &[Target]) -> String {
    if ts.len() == 1 {
        target(&ts[0])
    } else {
        render_list(ts)
    }
}

/// Always a list.
pub(crate) fn render_list(ts: &[Target]) -> String {
    format!("[{}]", ts.iter().map(target).collect::<Vec<_>>().join(", "))
}

/// A float that reads back as a float.
pub(crate) fn float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Node ids as targets.
pub(crate) fn nodes(sids: &[zkstorm::types::Sid]) -> Vec<Target> {
    sids.iter().map(|s| Target::Node(*s)).collect()
}

/// The first resolved group as targets (empty if none).
pub(crate) fn first(groups: &[Vec<zkstorm::types::Sid>]) -> Vec<Target> {
    nodes(groups.first().map_or(&[][..], |g| g.as_slice()))
}
