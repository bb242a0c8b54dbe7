//! Faults on protocol messages: `on_message` arms a rule that matches a
//! message kind on a link (LEADERINFO, NEWLEADER, ACK, ...) and, when such a
//! message leaves, drops it (the link breaks there, as a TCP reset), delays
//! the link behind it, or crashes, kills, restarts or pauses its sender or
//! receiver at that instant. This reaches what link cuts and timed faults
//! cannot: "when a follower sends ACKEPOCH, restart it"; "when a would-be
//! leader sends LEADERINFO, crash it" (there is no `leader` then). `kind`
//! may also name a fault point in the server (`FAULT_POINTS`: a new
//! accepted or current epoch is durable, a snapshot is durable, the log was
//! truncated), where
//! a node action hits the server that reached it.

use super::targets::{quote, render_list};
use super::{d, Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::messages::{Rule, Then, Trigger};
use crate::scenario::duration::Dur;
use crate::scenario::error::ErrorKind;
use crate::scenario::schema::{Int, Num, RawTargets, Target, WorkloadSpec};
use crate::scenario::validate::limits::MAX_FSYNC;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;
use zkstorm::server::FAULT_POINTS;
use zkstorm::types::Sid;
use zkstorm::zab::msg::PeerMsg;

/// How long a rule stays armed when the fault gives no `until`.
pub const ARMED_FOR: Duration = Duration::from_secs(10);

/// The most one delay rule may hold links in all (delay × count): a held
/// link is not released by the heal.
const MAX_HELD: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOnMessage {
    kind: Spanned<String>,
    from: Option<Spanned<RawTargets>>,
    to: Option<Spanned<RawTargets>>,
    then: Spanned<String>,
    who: Option<Spanned<String>>,
    delay: Option<Spanned<Dur>>,
    count: Option<Spanned<Int>>,
    probability: Option<Spanned<Num>>,
    fsync: Option<Spanned<Dur>>,
}

/// What is done to a node when a message matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOp {
    Crash,
    Kill,
    PowerLoss,
    Restart,
    Pause,
}

const NODE_OPS: &[(&str, NodeOp)] = &[
    ("crash", NodeOp::Crash),
    ("kill", NodeOp::Kill),
    ("power_loss", NodeOp::PowerLoss),
    ("restart", NodeOp::Restart),
    ("pause", NodeOp::Pause),
];

/// What a match does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnThen {
    Drop,
    Delay(Duration),
    /// Cut the sender and the receiver off from the other servers,
    /// together (their own link stays), `after` the match: "when the new
    /// leader sends UPTODATE, leave it alone with that follower".
    CutOff {
        after: Duration,
    },
    /// Every fsync of the sender's (or receiver's) disk takes `latency`
    /// until the rule is disarmed: "when a would-be leader sends
    /// LEADERINFO, slow its disk".
    SlowFsync {
        latency: Duration,
        receiver: bool,
        after: Duration,
    },
    /// To the sender or the receiver, `after` the match.
    Node {
        op: NodeOp,
        receiver: bool,
        after: Duration,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct OnMessage {
    /// One of `PeerMsg::KINDS`.
    pub kind: &'static str,
    /// Senders / receivers (resolved when armed); `None` is any.
    pub from: Option<Vec<Target>>,
    pub to: Option<Vec<Target>>,
    pub then: OnThen,
    /// Matches before the rule is spent.
    pub count: u64,
    /// The chance that a match fires (1: every one), buggify-style: a rule
    /// armed over a long window then fires at some matches, not the first.
    pub probability: f64,
}

fn one_of(cx: &Cx, s: &Spanned<String>, field: &str, names: &[&str]) -> R<usize> {
    names.iter().position(|n| n == s.get_ref()).ok_or_else(|| {
        let hint = crate::scenario::suggest(s.get_ref(), names)
            .map(|m| format!(" — did you mean {m:?}?"))
            .unwrap_or_default();
        cx.v.at(
            s,
            field,
            ErrorKind::Invalid,
            format!(
                "unknown {:?}{hint} (expected one of {})",
                s.get_ref(),
                names.join(", ")
            ),
        )
    })
}

impl Kind for OnMessage {
    const KEY: &'static str = "on_message";
    const VALUE: &'static str =
        "{ kind, from?, to?, then, who?, delay?, count?, probability?, fsync? }";
    const ABOUT: &'static str =
        "when a message of `kind` leaves: drop it (link reset), delay the link, cut its two ends off from the other servers, slow the fsyncs of its sender or receiver, or crash/kill/power_loss/restart/pause it";
    const LASTS: Lasts = Lasts::Until;
    type Raw = RawOnMessage;
    fn validate(raw: &Spanned<RawOnMessage>, cx: &Cx) -> R<Self> {
        let r = raw.get_ref();
        let f = |sub: &str| format!("{}.{sub}", cx.field);
        let kinds: Vec<&'static str> = PeerMsg::KINDS.iter().chain(FAULT_POINTS).copied().collect();
        let kind = kinds[one_of(cx, &r.kind, &f("kind"), &kinds)?];
        let point = FAULT_POINTS.contains(&kind);
        let then = then_of(r, cx, kind, point)?;
        let count = match &r.count {
            None => 1,
            Some(c) => cx.v.int(c, &f("count"), 1, 1_000_000)? as u64,
        };
        let probability = match &r.probability {
            None => 1.0,
            Some(p) => {
                let x = cx.v.prob(p, &f("probability"), 1.0)?;
                if x == 0.0 {
                    return Err(cx.v.at(
                        p,
                        &f("probability"),
                        ErrorKind::OutOfRange,
                        "0 never fires (expected more than 0, at most 1)",
                    ));
                }
                x
            }
        };
        // Held links stay held after the heal (a pause queued on a link is
        // not undone), so what one rule can hold is bounded.
        if let OnThen::Delay(x) = then {
            if x.saturating_mul(count.min(u32::MAX as u64) as u32) > MAX_HELD {
                return Err(cx.v.at(
                    raw,
                    &cx.field,
                    ErrorKind::OutOfRange,
                    format!(
                        "delay × count holds links for up to {}, more than the allowed {}",
                        d(x.saturating_mul(count.min(u32::MAX as u64) as u32)),
                        d(MAX_HELD)
                    ),
                ));
            }
        }
        if cx.until.is_none() && cx.at + ARMED_FOR > cx.duration {
            return Err(cx.v.at(raw, &cx.field, ErrorKind::OutOfRange, format!(
                "without until the rule stays armed {} (until {}), past the end of the load (duration = {}): give an until",
                d(ARMED_FOR), d(cx.at + ARMED_FOR), d(cx.duration)
            )));
        }
        Ok(OnMessage {
            kind,
            from: r
                .from
                .as_ref()
                .map(|t| cx.sub_targets(t, "from"))
                .transpose()?,
            to: r.to.as_ref().map(|t| cx.sub_targets(t, "to")).transpose()?,
            then,
            count,
            probability,
        })
    }
}

/// `then`, with `who` and `delay`: what a match does.
fn then_of(r: &RawOnMessage, cx: &Cx, kind: &str, point: bool) -> R<OnThen> {
    let f = |sub: &str| format!("{}.{sub}", cx.field);
    let delay = delay_of(r, cx)?;
    let mut thens: Vec<&str> = vec!["drop", "delay", "cut_off", "slow_fsync"];
    thens.extend(NODE_OPS.iter().map(|(n, _)| *n));
    let then = thens[one_of(cx, &r.then, &f("then"), &thens)?];
    let receiver = match &r.who {
        None => false,
        Some(w) => one_of(cx, w, &f("who"), &["sender", "receiver"])? == 1,
    };
    let then = match (then, delay) {
        ("delay", Some((x, _))) => OnThen::Delay(x),
        ("delay", None) => {
            return Err(cx.v.at(
                &r.then,
                &f("delay"),
                ErrorKind::MissingKey,
                "then = \"delay\" needs delay = \"<duration>\"",
            ));
        }
        ("drop", Some((_, at))) => {
            return Err(cx.v.err(
                at,
                f("delay"),
                ErrorKind::Invalid,
                "a dropped message has no delay (it never arrives)",
            ))
        }
        ("drop", None) => OnThen::Drop,
        ("cut_off", after) => OnThen::CutOff {
            after: after.map_or(Duration::ZERO, |(x, _)| x),
        },
        ("slow_fsync", after) => OnThen::SlowFsync {
            latency: fsync_of(r, cx)?.ok_or_else(|| {
                cx.v.at(
                    &r.then,
                    &f("fsync"),
                    ErrorKind::MissingKey,
                    "then = \"slow_fsync\" needs fsync = \"<duration>\" (each fsync's time)",
                )
            })?,
            receiver,
            after: after.map_or(Duration::ZERO, |(x, _)| x),
        },
        (op, after) => OnThen::Node {
            op: NODE_OPS
                .iter()
                .find(|(n, _)| *n == op)
                .map(|(_, o)| *o)
                .expect("listed"),
            receiver,
            after: after.map_or(Duration::ZERO, |(x, _)| x),
        },
    };
    if let (Some(fs), false) = (&r.fsync, matches!(then, OnThen::SlowFsync { .. })) {
        return Err(cx.v.at(
            fs,
            &f("fsync"),
            ErrorKind::Invalid,
            "fsync goes with then = \"slow_fsync\"",
        ));
    }
    if point && matches!(then, OnThen::Drop | OnThen::Delay(_)) {
        return Err(cx.v.at(
                &r.then,
                &f("then"),
                ErrorKind::Invalid,
                format!("{kind} is a fault point, not a message: it takes a node action (crash, kill, power_loss, restart, pause)"),
            ));
    }
    if let (Some(w), OnThen::Drop | OnThen::Delay(_) | OnThen::CutOff { .. }) = (&r.who, then) {
        return Err(cx.v.at(
            w,
            &f("who"),
            ErrorKind::Invalid,
            "who goes with a node action (crash, kill, power_loss, restart, pause)",
        ));
    }
    Ok(then)
}

/// `fsync`: each slowed fsync's time.
fn fsync_of(r: &RawOnMessage, cx: &Cx) -> R<Option<Duration>> {
    Ok(short(&r.fsync, "fsync", cx)?.map(|(x, _)| x))
}

/// `delay`, with where it is written.
fn delay_of(r: &RawOnMessage, cx: &Cx) -> R<Option<(Duration, usize)>> {
    short(&r.delay, "delay", cx)
}

/// A duration field of the rule, more than 0 and at most `MAX_FSYNC`,
/// with where it is written.
fn short(v: &Option<Spanned<Dur>>, key: &str, cx: &Cx) -> R<Option<(Duration, usize)>> {
    let Some(dl) = v else {
        return Ok(None);
    };
    let x = dl.get_ref().0;
    if x.is_zero() || x > MAX_FSYNC {
        return Err(cx.v.at(
            dl,
            &format!("{}.{key}", cx.field),
            ErrorKind::OutOfRange,
            format!(
                "{} is out of range (expected more than 0s, at most {})",
                dl.get_ref(),
                d(MAX_FSYNC)
            ),
        ));
    }
    Ok(Some((x, dl.span().start)))
}

impl OnMessage {
    fn then_name(&self) -> String {
        match self.then {
            OnThen::Drop => "drop".into(),
            OnThen::Delay(x) => format!("delay {}", d(x)),
            OnThen::SlowFsync {
                latency, receiver, ..
            } => format!(
                "slow the {}'s fsyncs to {}",
                if receiver { "receiver" } else { "sender" },
                d(latency)
            ),
            OnThen::CutOff { after } if after.is_zero() => "cut_off".into(),
            OnThen::CutOff { after } => format!("cut_off after {}", d(after)),
            OnThen::Node {
                op,
                receiver,
                after,
            } => format!(
                "{} the {}{}",
                op_name(op),
                if receiver { "receiver" } else { "sender" },
                if after.is_zero() {
                    String::new()
                } else {
                    format!(" after {}", d(after))
                }
            ),
        }
    }
}

impl Fault for OnMessage {
    fn picks(&self) -> Picks {
        Picks::Sides(vec![
            self.from.clone().unwrap_or_default(),
            self.to.clone().unwrap_or_default(),
        ])
    }

    fn render(&self) -> String {
        let mut parts = vec![format!("kind = {}", quote(self.kind))];
        if let Some(f) = &self.from {
            parts.push(format!("from = {}", render_list(f)));
        }
        if let Some(t) = &self.to {
            parts.push(format!("to = {}", render_list(t)));
        }
        match self.then {
            OnThen::Drop => parts.push("then = \"drop\"".into()),
            OnThen::Delay(x) => parts.push(format!("then = \"delay\", delay = \"{}\"", d(x))),
            OnThen::CutOff { after } => {
                parts.push("then = \"cut_off\"".into());
                if !after.is_zero() {
                    parts.push(format!("delay = \"{}\"", d(after)));
                }
            }
            OnThen::SlowFsync {
                latency,
                receiver,
                after,
            } => {
                let who = if receiver { "receiver" } else { "sender" };
                parts.push(format!(
                    "then = \"slow_fsync\", fsync = \"{}\", who = \"{who}\"",
                    d(latency)
                ));
                if !after.is_zero() {
                    parts.push(format!("delay = \"{}\"", d(after)));
                }
            }
            OnThen::Node {
                op,
                receiver,
                after,
            } => {
                let who = if receiver { "receiver" } else { "sender" };
                parts.push(format!("then = \"{}\", who = \"{who}\"", op_name(op)));
                if !after.is_zero() {
                    parts.push(format!("delay = \"{}\"", d(after)));
                }
            }
        }
        parts.push(format!("count = {}", self.count));
        if self.probability < 1.0 {
            parts.push(format!("probability = {}", self.probability));
        }
        format!("{{ {} }}", parts.join(", "))
    }

    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        let group = |i: usize| groups.get(i).map(|g| super::targets::nodes(g));
        Action::OnMessage(OnMessage {
            from: self.from.as_ref().and(group(0)),
            to: self.to.as_ref().and(group(1)),
            ..self.clone()
        })
    }

    fn end(&self, at: Duration, _w: &WorkloadSpec) -> Duration {
        at + ARMED_FOR
    }

    fn weaker(&self) -> Vec<Action> {
        if self.count <= 1 {
            return Vec::new();
        }
        vec![Action::OnMessage(OnMessage {
            count: 1,
            ..self.clone()
        })]
    }

    fn fire(&self, groups: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let side = |written: &Option<Vec<Target>>, i: usize| {
            written
                .as_ref()
                .map(|_| groups.get(i).cloned().unwrap_or_default())
        };
        let (from, to) = (side(&self.from, 0), side(&self.to, 1));
        if from.as_ref().is_some_and(|v| v.is_empty()) || to.as_ref().is_some_and(|v| v.is_empty())
        {
            return Fired::Skipped("no target resolved");
        }
        let chance = if self.probability < 1.0 {
            format!(" at {}%", self.probability * 100.0)
        } else {
            String::new()
        };
        cx.record(&format!(
            "{} → {} x{}{chance}",
            self.kind,
            self.then_name(),
            self.count
        ));
        let index = cx.fault.index;
        cx.cluster.history.messages.arm(Rule {
            fault: index,
            kind: self.kind,
            from,
            to,
            then: match self.then {
                OnThen::Drop => Then::Drop,
                OnThen::Delay(x) => Then::Delay(x),
                OnThen::Node { .. } | OnThen::CutOff { .. } | OnThen::SlowFsync { .. } => Then::Act,
            },
            left: self.count,
            chance: (self.probability < 1.0).then(|| {
                (
                    self.probability,
                    crate::streams::stream("messages", index as u64),
                )
            }),
        });
        Fired::Done(Some(Undo::new(false, move |cluster, sc, head| {
            // Disarmed: what its matches took down comes back.
            let messages = cluster.history.messages.clone();
            messages.disarm(Some(index));
            for sid in messages.take_slowed(index) {
                super::disk::set_disk(sc, cluster, sid);
                cluster
                    .history
                    .fault(format!("{head}: fsync latency back on {sid}"));
            }
            let links = messages.cuts(index);
            if !links.is_empty() {
                cluster.restore_links(&links);
                cluster
                    .history
                    .fault(format!("{head}: disarmed; reconnect what it cut off"));
            }
            let hit = messages.downed(index);
            let (crashed, paused) = (cluster.crashed(), cluster.paused());
            let down: Vec<Sid> = hit
                .iter()
                .copied()
                .filter(|s| crashed.contains(s))
                .collect();
            let stopped: Vec<Sid> = hit.iter().copied().filter(|s| paused.contains(s)).collect();
            cluster.history.fault(format!(
                "{head}: disarmed; restart {}; resume {}",
                super::show(&down),
                super::show(&stopped)
            ));
            for s in down {
                cluster.restart(s);
            }
            for s in stopped {
                cluster.resume(s);
            }
        })))
    }

    fn matched(&self, t: &Trigger, cx: &mut Firing) -> Option<Duration> {
        let line = format!("{} {} {}→{}", cx.head, self.kind, t.from, t.to);
        match self.then {
            OnThen::Node { after, .. }
            | OnThen::CutOff { after }
            | OnThen::SlowFsync { after, .. }
                if !after.is_zero() =>
            {
                let then = self.then_name();
                cx.cluster.history.fault(format!("{line}: {then}"));
                Some(after)
            }
            OnThen::Node { .. } | OnThen::CutOff { .. } | OnThen::SlowFsync { .. } => {
                self.act(t, cx);
                None
            }
            _ => {
                let then = self.then_name();
                cx.cluster.history.fault(format!("{line}: {then}"));
                None
            }
        }
    }

    fn act(&self, t: &Trigger, cx: &mut Firing) {
        if let OnThen::CutOff { .. } = self.then {
            return self.cut_off(t, cx);
        }
        if let OnThen::SlowFsync {
            latency, receiver, ..
        } = self.then
        {
            let sid = if receiver { t.to } else { t.from };
            let ms = latency.as_millis() as u64;
            cx.cluster.disk(sid).set_fsync_latency_ms(ms, ms);
            cx.cluster.history.messages.slowed(cx.fault.index, sid);
            cx.cluster.history.fault(format!(
                "{} {} {}→{}: fsyncs of {sid} take {}",
                cx.head,
                self.kind,
                t.from,
                t.to,
                d(latency)
            ));
            return;
        }
        let OnThen::Node { op, receiver, .. } = self.then else {
            return;
        };
        let sid = if receiver { t.to } else { t.from };
        let c = &mut *cx.cluster;
        let up = c.alive().contains(&sid);
        let can = match op {
            NodeOp::Restart => true,
            NodeOp::Pause => up && !c.paused().contains(&sid),
            _ => up,
        };
        let line = format!(
            "{} {} {}→{}: {} {sid}",
            cx.head,
            self.kind,
            t.from,
            t.to,
            op_name(op)
        );
        if !can {
            c.history.fault(format!("{line} — skipped (not running)"));
            return;
        }
        c.history.fault(line);
        if op != NodeOp::Restart {
            c.history.messages.took_down(cx.fault.index, sid);
        }
        match op {
            NodeOp::Crash => c.crash(sid),
            NodeOp::Kill => c.kill(sid),
            NodeOp::PowerLoss => c.power_loss(sid),
            NodeOp::Restart => c.reboot(sid),
            NodeOp::Pause => c.pause(sid),
        }
    }
}

impl OnMessage {
    /// Cut the match's sender and receiver off from the other servers.
    fn cut_off(&self, t: &Trigger, cx: &mut Firing) {
        let pair: Vec<Sid> = if t.from == t.to {
            vec![t.from]
        } else {
            vec![t.from, t.to]
        };
        let c = &mut *cx.cluster;
        let rest: Vec<Sid> = c.sids().into_iter().filter(|s| !pair.contains(s)).collect();
        let links = c.partition_links(&[pair.clone(), rest]);
        c.history.fault(format!(
            "{} {} {}→{}: cut off {}",
            cx.head,
            self.kind,
            t.from,
            t.to,
            super::show(&pair)
        ));
        c.cut_links(&links);
        c.history.messages.cut_off(cx.fault.index, links);
    }
}

fn op_name(op: NodeOp) -> &'static str {
    NODE_OPS
        .iter()
        .find(|(_, o)| *o == op)
        .map_or("?", |(n, _)| n)
}
