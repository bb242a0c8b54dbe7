//! The scenario file format: the raw serde shape (with spans, so every error
//! can point at a line and column) and the validated model the runner uses.
//!
//! The raw types accept anything TOML can spell; `validate.rs` turns them into
//! the model, rejecting what makes no sense with an error at the right place.

use super::duration::Dur;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use toml::Spanned;
use zkstorm::types::Sid;

pub use super::fault::Action;

// ------------------------------------------------------------------ raw shape

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Spanned<String>,
    #[serde(default)]
    pub about: String,
    pub duration: Spanned<Dur>,
    pub settle: Option<Spanned<Dur>>,
    pub ensemble: Spanned<RawEnsemble>,
    #[serde(default)]
    pub workload: RawWorkload,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default)]
    pub disk: RawDisk,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Spanned<super::fault::RawFault>>,
    #[serde(default)]
    pub check: RawCheck,
    pub topology: Option<Spanned<super::topology::RawTopology>>,
    /// Injected bugs (`zkstorm::bugs::Bug`), by name.
    #[serde(default)]
    pub bugs: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnsemble {
    pub servers: Spanned<Int>,
    pub tick: Option<Spanned<Dur>>,
    pub init_limit: Option<Spanned<Int>>,
    pub sync_limit: Option<Spanned<Int>>,
    pub snap_count: Option<Spanned<Int>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkload {
    pub clients: Option<Spanned<Int>>,
    pub rate: Option<Spanned<Num>>,
    pub pipeline: Option<Spanned<Int>>,
    pub conditional: Option<Spanned<Int>>,
    pub keys: Option<Spanned<Int>>,
    pub value_bytes: Option<Spanned<Int>>,
    pub mix: Option<Spanned<RawMix>>,
    pub session_timeout: Option<Spanned<Dur>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMix {
    pub create: Option<Spanned<Int>>,
    pub set: Option<Spanned<Int>>,
    pub get: Option<Spanned<Int>>,
    pub delete: Option<Spanned<Int>>,
    pub sync: Option<Spanned<Int>>,
    pub multi: Option<Spanned<Int>>,
    pub sequential: Option<Spanned<Int>>,
    pub children: Option<Spanned<Int>>,
    pub ephemeral: Option<Spanned<Int>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub latency: Option<Spanned<Vec<Spanned<Dur>>>>,
    pub packet_loss: Option<Spanned<Num>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDisk {
    pub fsync_latency: Option<Spanned<Vec<Spanned<Dur>>>>,
    pub tear_probability: Option<Spanned<Num>>,
    pub garbage_probability: Option<Spanned<Num>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub zab: Option<bool>,
    pub client: Option<bool>,
    pub linearizable: Option<bool>,
    pub linearizable_steps: Option<Spanned<Int>>,
    pub liveness: Option<Spanned<Dur>>,
    pub storm: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOneWay {
    pub from: Spanned<RawTargets>,
    pub to: Spanned<RawTargets>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlowFsync {
    pub target: Spanned<RawTargets>,
    pub min: Spanned<Dur>,
    pub max: Spanned<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFsyncError {
    pub target: Spanned<RawTargets>,
    pub count: Spanned<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiskFull {
    pub target: Spanned<RawTargets>,
    #[serde(default = "yes")]
    pub on: bool,
}

fn yes() -> bool {
    true
}

/// An integer as written. Wider than any setting, so a value past i64 is
/// reported by validation as out of range (with the allowed range), not as
/// a type error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Int(pub i128);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Int, E> {
                Ok(Int(v.try_into().unwrap_or(i128::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number where a fraction is allowed: a float or an integer of any size,
/// range-checked by validation.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(crate) struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// One target as written: a name or an integer (checked later).
pub(crate) enum RawAtom {
    Name(String),
    Node(i128),
}

/// `"leader"`, `3` or `["leader", 3]`.
pub(crate) enum RawTargets {
    One(RawAtom),
    Many(Vec<Spanned<RawAtom>>),
}

const TARGET_EXPECTING: &str =
    "a target: leader, follower, random, minority, majority, crashed, rest, all, fault[N] or a node id";

impl<'de> Deserialize<'de> for RawAtom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawAtom;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(TARGET_EXPECTING)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawAtom, E> {
                Ok(RawAtom::Name(s.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawAtom, E> {
                self.visit_i128(v.into())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawAtom, E> {
                self.visit_i128(v.into())
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawAtom, E> {
                Ok(RawAtom::Node(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawTargets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTargets;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{TARGET_EXPECTING}, or a list of them")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawTargets, E> {
                Ok(RawTargets::One(RawAtom::Name(s.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawTargets, E> {
                self.visit_i128(v.into())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawTargets, E> {
                self.visit_i128(v.into())
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawTargets, E> {
                Ok(RawTargets::One(RawAtom::Node(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawTargets, A::Error> {
                let mut out = Vec::new();
                while let Some(a) = seq.next_element::<Spanned<RawAtom>>()? {
                    out.push(a);
                }
                Ok(RawTargets::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ------------------------------------------------------------------ the model

/// A validated scenario: what to build, what load to run, which faults to
/// inject when, and what to check.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    /// The file it came from, as given to `load`/`parse` (used in messages
    /// and replay commands).
    pub file: String,
    /// How long the client load runs (simulated).
    pub duration: Duration,
    /// After the load stops, how long the ensemble has to converge.
    pub settle: Duration,
    pub ensemble: EnsembleSpec,
    pub workload: WorkloadSpec,
    pub network: NetworkSpec,
    pub disk: DiskSpec,
    /// In file order; the runner applies them in time order (ties: file order).
    pub faults: Vec<FaultSpec>,
    pub check: CheckSpec,
    /// A topology on the Storm half of the cluster, if any.
    pub topology: Option<super::topology::TopologySpec>,
    /// Bugs injected into the servers for this run (simulation only), by
    /// name from `zkstorm::bugs::Bug`.
    pub bugs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleSpec {
    pub servers: usize,
    pub tick: Duration,
    pub init_limit: u64,
    pub sync_limit: u64,
    pub snap_count: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    pub clients: usize,
    /// Operations each client starts per simulated second.
    pub rate: f64,
    /// Requests each client keeps in flight at most.
    pub pipeline: usize,
    /// Percent of sets, deletes and multis that expect the last seen version.
    pub conditional: u32,
    pub keys: usize,
    pub value_bytes: usize,
    /// Weights, in `workload::MIX_KEYS` order.
    pub mix: [u32; 8],
    /// Weight of ephemeral work (create or read an ephemeral `/e<i>`).
    pub ephemeral: u32,
    pub session_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way latency of every message, drawn uniformly from [min, max].
    pub latency: (Duration, Duration),
    /// Chance that a send is lost (see the module docs for what that means
    /// for TCP in madsim).
    pub packet_loss: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DiskSpec {
    pub fsync_latency: (Duration, Duration),
    pub tear_probability: f64,
    pub garbage_probability: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckSpec {
    pub zab: bool,
    /// client.sequential, client.watches, client.sessions,
    /// client.sequential_names, client.session_expiry.
    pub client: bool,
    pub linearizable: bool,
    /// The linearizability search's budget per znode: past it the verdict
    /// is undecided.
    pub linearizable_steps: u64,
    /// After the last fault heals, client operations must complete within this.
    pub liveness: Option<Duration>,
    /// The storm checks (on whenever a topology runs).
    pub storm: bool,
}

/// One `[[fault]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// Position in the file (0-based), as in `fault[2]`.
    pub index: usize,
    /// Line of the entry in the file (1-based), for messages.
    pub line: usize,
    pub at: Duration,
    /// When the fault is undone (`until`, or `heal_at` for network cuts).
    pub until: Option<Duration>,
    pub action: Action,
}

/// A node chosen by role or id when the fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The established leader (nothing while an election runs).
    Leader,
    /// One live non-leader, at random.
    Follower,
    /// One node the action applies to, at random.
    Random,
    /// A random minority: (n-1)/2 of the n servers.
    Minority,
    /// A random majority: n/2+1 of the n servers.
    Majority,
    /// Every crashed (or stopped) server.
    Crashed,
    /// In a partition or one_way: every server not named elsewhere in it.
    Rest,
    /// Every server.
    All,
    /// One live server in the election (LOOKING), at random.
    Candidate,
    /// Every live server that leads but has not established its epoch yet
    /// (in discovery or sync): what `leader` cannot name during an election.
    DiscoveringLeader,
    Node(Sid),
    /// The nodes an earlier fault resolved to (`"fault[1]"`), or one group
    /// of an earlier partition / one_way (`"fault[1][0]"`; one_way: 0 = from,
    /// 1 = to). Nothing if that fault was skipped.
    Fault {
        index: usize,
        group: Option<usize>,
    },
}

impl Target {
    pub const NAMES: &'static [&'static str] = &[
        "leader",
        "follower",
        "random",
        "minority",
        "majority",
        "crashed",
        "rest",
        "all",
        "candidate",
        "discovering-leader",
    ];

    pub fn from_name(s: &str) -> Option<Target> {
        if let Some(rest) = s.strip_prefix("fault[") {
            let (index, rest) = rest.split_once(']')?;
            let index: usize = index.parse().ok()?;
            let group = match rest {
                "" => None,
                g => Some(g.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?),
            };
            return Some(Target::Fault { index, group });
        }
        Some(match s {
            "leader" => Target::Leader,
            "follower" => Target::Follower,
            "random" => Target::Random,
            "minority" => Target::Minority,
            "majority" => Target::Majority,
            "crashed" => Target::Crashed,
            "rest" => Target::Rest,
            "all" => Target::All,
            "candidate" => Target::Candidate,
            "discovering-leader" => Target::DiscoveringLeader,
            _ => return None,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => f.write_str("leader"),
            Target::Follower => f.write_str("follower"),
            Target::Random => f.write_str("random"),
            Target::Minority => f.write_str("minority"),
            Target::Majority => f.write_str("majority"),
            Target::Crashed => f.write_str("crashed"),
            Target::Rest => f.write_str("rest"),
            Target::All => f.write_str("all"),
            Target::Candidate => f.write_str("candidate"),
            Target::DiscoveringLeader => f.write_str("discovering-leader"),
            Target::Node(n) => write!(f, "{n}"),
            Target::Fault { index, group: None } => write!(f, "fault[{index}]"),
            Target::Fault {
                index,
                group: Some(g),
            } => write!(f, "fault[{index}][{g}]"),
        }
    }
}
