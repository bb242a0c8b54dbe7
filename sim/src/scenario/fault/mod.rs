//! The fault registry: every kind of `[[fault]]` action, each defined once —
//! how it is written and validated, how it renders back to TOML, how it
//! fires against the running cluster and how its `until` undoes it. Adding
//! a kind is one struct implementing [`Kind`] and [`Fault`] in the module of
//! its family, and one name in `registry!` below.

mod disk;
mod message;
mod network;
mod node;
mod session;
mod storm;
mod targets;

pub(crate) use disk::set_disk;
pub use disk::{DiskFull, FsyncError, SlowFsync};
pub use message::{NodeOp, OnMessage, OnThen};
pub(crate) use network::set_network;
pub use network::{Heal, Isolate, Latency, OneWay, PacketLoss, Partition};
pub use node::{Crash, Kill, Pause, PowerLoss, Restart, Resume};
pub use session::ExpireSession;
pub use storm::{
    CrashNimbus, CrashSupervisor, CutFromEnsemble, IsolateNimbus, IsolateSupervisor, KillWorker,
    Rebalance, StormPartition, STORM_KEYS,
};
pub(crate) use targets::{float, quote, Cx};

use super::duration::Dur;
use super::error::ScenarioError;
use super::schema::{FaultSpec, Scenario, Target, WorkloadSpec};
use crate::cluster::Cluster;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use toml::Spanned;
use zkstorm::types::Sid;

type R<T> = Result<T, ScenarioError>;

/// How a fault's effect ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lasts {
    /// Undone at its `until` (or by the final heal).
    Until,
    /// A network cut: undone at `until` or `heal_at`.
    Cut,
    /// Done at once, nothing to undo; the text says why `until` is refused.
    Instant(&'static str),
}

/// The nodes a fault names, as written.
pub enum Picks {
    /// Network-wide and client faults.
    Nothing,
    Nodes(Vec<Target>),
    /// Partition groups; one_way's `from` and `to`: no node in two.
    Groups(Vec<Vec<Target>>),
    /// Sides resolved each on its own (a rule's senders and receivers,
    /// which may overlap).
    Sides(Vec<Vec<Target>>),
}

/// A fault kind's static description: its key in a file and its rules.
pub(crate) trait Kind: Fault + Sized {
    const KEY: &'static str;
    /// The value's shape, for the docs and `zkstorm list`.
    const VALUE: &'static str;
    const ABOUT: &'static str;
    const LASTS: Lasts;
    type Raw: for<'de> Deserialize<'de>;
    fn validate(raw: &Spanned<Self::Raw>, cx: &Cx) -> R<Self>;
}

/// What a fault does once validated.
pub(crate) trait Fault {
    fn picks(&self) -> Picks;
    /// The value after `key = ` in a file.
    fn render(&self) -> String;
    /// This fault with its targets replaced by the nodes they resolved to.
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action;
    /// The nodes its role targets may pick from.
    fn pool(&self, cluster: &Cluster) -> Vec<Sid> {
        cluster.sids()
    }
    /// Act on the resolved nodes (one group, or the groups of `Picks::Groups`).
    fn fire(&self, nodes: &[Vec<Sid>], cx: &mut Firing) -> Fired;
    /// When it is undone if no `until` is given (`at` means never).
    fn end(&self, at: Duration, _w: &WorkloadSpec) -> Duration {
        at
    }
    /// How long an fsync it slowed or failed may still stop a server after
    /// the final heal (disk faults only).
    fn heal_wait(&self, _sc: &Scenario) -> Option<Duration> {
        None
    }
    /// A message its rule matched (`on_message`): record it, and act now or
    /// say how long to wait before [`Fault::act`].
    fn matched(&self, _t: &crate::messages::Trigger, _cx: &mut Firing) -> Option<Duration> {
        None
    }
    /// The deferred action of a match.
    fn act(&self, _t: &crate::messages::Trigger, _cx: &mut Firing) {}
    /// Milder versions of this fault, for shrinking (none by default).
    fn weaker(&self) -> Vec<Action> {
        Vec::new()
    }
}

/// What firing did.
pub(crate) enum Fired {
    Done(Option<Undo>),
    /// Nothing happened; why.
    Skipped(&'static str),
}

/// Undoes one fired fault: gets the cluster, the scenario and the history
/// line's head (`fault[2] until 9s: undo crash`).
pub(crate) type UndoFn = Box<dyn FnOnce(&mut Cluster, &Scenario, &str)>;

/// How to undo a fired fault at its `until`.
pub(crate) struct Undo {
    /// A network change, which a later `heal` undoes for good.
    pub network: bool,
    pub run: UndoFn,
}

impl Undo {
    pub fn new(network: bool, run: impl FnOnce(&mut Cluster, &Scenario, &str) + 'static) -> Self {
        Undo {
            network,
            run: Box::new(run),
        }
    }
}

/// What a fault gets when it fires.
pub(crate) struct Firing<'a> {
    pub cluster: &'a mut Cluster,
    pub sc: &'a Scenario,
    pub clients: &'a [madsim::task::NodeId],
    pub fault: &'a FaultSpec,
    /// `fault[2] at 8s: crash`
    pub head: String,
    /// How the targets resolved: `leader=3`.
    pub desc: String,
    /// Set by `heal`: every pending network undo is void.
    pub forget_network: bool,
}

impl Firing<'_> {
    /// Record the standard history line: head, targets, `extra`, until.
    pub fn record(&self, extra: &str) {
        let until = self
            .fault
            .until
            .map(|u| format!("until {}", d(u)))
            .unwrap_or_default();
        let line = [self.head.as_str(), &self.desc, extra.trim(), &until]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        self.cluster.history.fault(line);
    }
}

pub(crate) fn d(x: Duration) -> String {
    super::duration::format(x)
}

/// `1,2` or `none`.
pub(crate) fn show(sids: &[Sid]) -> String {
    if sids.is_empty() {
        "none".into()
    } else {
        sids.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The kinds' descriptions, for `zkstorm list` and the docs.
pub struct KindInfo {
    pub key: &'static str,
    pub value: &'static str,
    pub about: &'static str,
    pub lasts: Lasts,
}

macro_rules! registry {
    ($($V:ident),* $(,)?) => {
        /// What a fault does: one variant per kind. Targets are resolved
        /// when the fault fires.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Action { $($V($V)),* }

        /// An action as written, with where it is. (Lives only while a
        /// file is validated, one per fault: size does not matter.)
        #[allow(clippy::large_enum_variant)]
        pub(crate) enum RawAction { $($V(Spanned<<$V as Kind>::Raw>)),* }

        /// Every action key, in registry order.
        pub const ACTION_KEYS: &[&str] = &[$(<$V as Kind>::KEY),*];
        const FIELDS: &[&str] = &["at", "until", "heal_at", $(<$V as Kind>::KEY),*];

        /// Every kind, in registry order.
        pub const KINDS: &[KindInfo] = &[$(KindInfo {
            key: <$V as Kind>::KEY,
            value: <$V as Kind>::VALUE,
            about: <$V as Kind>::ABOUT,
            lasts: <$V as Kind>::LASTS,
        }),*];

        $(impl From<$V> for Action {
            fn from(kind: $V) -> Action {
                Action::$V(kind)
            }
        })*

        impl Action {
            pub(crate) fn fault(&self) -> &dyn Fault {
                match self { $(Action::$V(x) => x),* }
            }
            /// The key that names this action in a file.
            pub fn key(&self) -> &'static str {
                match self { $(Action::$V(_) => <$V as Kind>::KEY),* }
            }
            pub fn lasts(&self) -> Lasts {
                match self { $(Action::$V(_) => <$V as Kind>::LASTS),* }
            }
        }

        impl RawAction {
            fn next<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error> {
                $(if key == <$V as Kind>::KEY {
                    return Ok(RawAction::$V(map.next_value()?));
                })*
                Err(de::Error::unknown_field(key, FIELDS))
            }
            pub fn key(&self) -> &'static str {
                match self { $(RawAction::$V(_) => <$V as Kind>::KEY),* }
            }
            pub fn offset(&self) -> usize {
                match self { $(RawAction::$V(r) => r.span().start),* }
            }
            pub fn lasts(&self) -> Lasts {
                match self { $(RawAction::$V(_) => <$V as Kind>::LASTS),* }
            }
            pub fn validate(&self, cx: &Cx) -> R<Action> {
                match self { $(RawAction::$V(r) => <$V as Kind>::validate(r, cx).map(Action::$V)),* }
            }
        }
    };
}

registry!(
    Crash,
    Kill,
    PowerLoss,
    Restart,
    Pause,
    Resume,
    Isolate,
    Partition,
    OneWay,
    Heal,
    SlowFsync,
    FsyncError,
    DiskFull,
    ExpireSession,
    Latency,
    PacketLoss,
    OnMessage,
    KillWorker,
    CrashSupervisor,
    CrashNimbus,
    IsolateSupervisor,
    IsolateNimbus,
    Rebalance,
    CutFromEnsemble,
    StormPartition,
);

impl Action {
    /// Every target the action names (none for network-wide and client
    /// actions).
    pub fn targets(&self) -> Vec<Target> {
        match self.fault().picks() {
            Picks::Nothing => Vec::new(),
            Picks::Nodes(t) => t,
            Picks::Groups(g) | Picks::Sides(g) => g.into_iter().flatten().collect(),
        }
    }
}

/// The keys of kinds that last (take `until`), or that are network cuts.
pub(crate) fn keys_where(f: impl Fn(Lasts) -> bool) -> String {
    KINDS
        .iter()
        .filter(|k| f(k.lasts))
        .map(|k| k.key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `[[fault]]` as written: its times and every action key present (more
/// than one is an error that validation reports with both places).
pub(crate) struct RawFault {
    pub at: Spanned<Dur>,
    pub until: Option<Spanned<Dur>>,
    pub heal_at: Option<Spanned<Dur>>,
    pub actions: Vec<RawAction>,
}

/// A key of a `[[fault]]` table; an unknown one fails here, so the error
/// points at the key.
enum FaultKey {
    At,
    Until,
    HealAt,
    Action(&'static str),
}

impl<'de> Deserialize<'de> for FaultKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FaultKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fault key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FaultKey, E> {
                match s {
                    "at" => Ok(FaultKey::At),
                    "until" => Ok(FaultKey::Until),
                    "heal_at" => Ok(FaultKey::HealAt),
                    _ => ACTION_KEYS
                        .iter()
                        .find(|k| **k == s)
                        .map(|k| FaultKey::Action(k))
                        .ok_or_else(|| E::unknown_field(s, FIELDS)),
                }
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for RawFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFault;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fault table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFault, A::Error> {
                let (mut at, mut until, mut heal_at) = (None, None, None);
                let mut actions = Vec::new();
                while let Some(key) = map.next_key::<FaultKey>()? {
                    match key {
                        FaultKey::At => at = Some(map.next_value()?),
                        FaultKey::Until => until = Some(map.next_value()?),
                        FaultKey::HealAt => heal_at = Some(map.next_value()?),
                        FaultKey::Action(k) => actions.push(RawAction::next(k, &mut map)?),
                    }
                }
                let at = at.ok_or_else(|| de::Error::missing_field("at"))?;
                Ok(RawFault {
                    at,
                    until,
                    heal_at,
                    actions,
                })
            }
        }
        d.deserialize_struct("RawFault", FIELDS, V)
    }
}
