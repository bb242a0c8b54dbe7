//! Random scenarios, as proptest strategies of `Scenario` values. A drawn
//! scenario is written back as a file and parsed again, so it passes the
//! same validation as a hand-written one, and it runs through the same
//! pipeline (`scenario::run`). A failure is handed back as that file.
//!
//! Two families:
//! - `random`: every seed draws its own timing profile (tick, init and sync
//!   limits, session timeouts, latency, loss) and a schedule of up to 12 faults.
//!   One timing profile for every run is how thousands of seeds missed bugs
//!   that random timing found in minutes.
//! - `chaos`: the default timing and a fault every few seconds from a small
//!   vocabulary (crash the leader or a follower, restart the crashed, isolate
//!   the leader, cut off a minority, heal), never more than a minority down.
//!
//! Draws are made of ranges and `Index`es that proptest shrinks towards the
//! simplest value, and the fault list shrinks by dropping faults.

use crate::scenario::{
    Action, Crash, DiskFull, ExpireSession, FaultSpec, FsyncError, Heal, Isolate, Kill, Latency,
    NodeOp, OnMessage, OnThen, OneWay, PacketLoss, Partition, Pause, PowerLoss, Restart, Resume,
    Scenario, SlowFsync, Target,
};
mod topology;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::{BoxedStrategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::time::Duration;

/// The value `strategy` draws for `seed`: the same seed, the same value.
pub fn draw<S: Strategy>(strategy: &S, seed: u64) -> S::Value {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy
        .new_tree(&mut runner)
        .expect("scenario strategies never reject")
        .current()
}

/// A generated scenario, validated like a file (see `Scenario::reparsed`).
fn as_file(s: &Scenario) -> Scenario {
    s.reparsed()
        .unwrap_or_else(|e| panic!("a generated scenario is invalid: {e}"))
}

/// A scenario with every setting at its default.
fn base(name: String, about: &str) -> Scenario {
    let text = format!(
        "name = {name:?}\nabout = {about:?}\nduration = \"30s\"\n[ensemble]\nservers = 3\n"
    );
    let mut s = Scenario::parse(&text, "generated.toml").expect("the defaults are valid");
    s.file = format!("{name}.toml");
    s
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fault(at: u64, until: Option<u64>, action: Action) -> FaultSpec {
    FaultSpec {
        index: 0,
        line: 0,
        at: ms(at),
        until: until.map(ms),
        action,
    }
}

// ------------------------------------------------------------------ mutants

/// A mutation of `sc` for guided fuzzing (`zkstorm fuzz --guided`): one to
/// three edits of its faults — shift one in time, drop one, repeat one a
/// little later, or make a message rule match another kind — within its
/// fault timeline. `None` if the result is not a valid scenario (or the
/// faults name each other, which edits would change).
pub fn mutate(sc: &Scenario, seed: u64) -> Option<Scenario> {
    use rand::Rng;
    if sc.faults.iter().any(|f| {
        f.action
            .targets()
            .iter()
            .any(|t| matches!(t, Target::Fault { .. }))
    }) {
        return None;
    }
    let mut rng = crate::streams::outside(seed, "mutate");
    let mut s = sc.clone();
    let end = sc.heal_time().as_millis() as u64;
    for _ in 0..rng.gen_range(1..=3) {
        let n = s.faults.len();
        if n == 0 {
            break;
        }
        let i = rng.gen_range(0..n);
        match rng.gen_range(0..4) {
            0 => {
                let f = &mut s.faults[i];
                let at = f.at.as_millis() as i64;
                let shift = rng.gen_range(-1_500i64..=1_500);
                let room = end as i64 - f.until.map_or(at, |u| u.as_millis() as i64);
                let shift = shift.clamp(500 - at, room.max(0));
                f.at = ms((at + shift) as u64);
                f.until = f.until.map(|u| ms((u.as_millis() as i64 + shift) as u64));
            }
            1 if n > 1 => {
                s.faults.remove(i);
            }
            2 if n < 16 => {
                let mut f = s.faults[i].clone();
                let later = rng.gen_range(50..=2_000);
                let last = f.until.unwrap_or(f.at).as_millis() as u64;
                if last + later <= end {
                    f.at += ms(later);
                    f.until = f.until.map(|u| u + ms(later));
                    s.faults.push(f);
                }
            }
            _ => {
                if let Action::OnMessage(m) = &mut s.faults[i].action {
                    let kinds = zkstorm::zab::msg::PeerMsg::KINDS;
                    m.kind = kinds[rng.gen_range(0..kinds.len())];
                }
            }
        }
    }
    s.faults.sort_by_key(|f| f.at);
    for (i, f) in s.faults.iter_mut().enumerate() {
        f.index = i;
    }
    s.reparsed().ok()
}

// ------------------------------------------------------------------ random schedules

/// The timing profile and load of a random run, as drawn.
#[derive(Clone, Debug)]
struct Profile {
    servers: usize,
    tick_ms: u64,
    sync_limit: u64,
    init_limit: Index,
    faults_ms: u64,
    lossy: bool,
    loss_percent: u32,
    latency_lo: Index,
    latency_span_ms: u64,
    clients: usize,
    rate: u32,
    keys: usize,
    session_ticks: Index,
    /// fsync times: how far above the default, and their spread.
    fsync_lo: Index,
    fsync_span_ms: u64,
    /// Requests in flight per client.
    pipeline: usize,
    /// Each op's weight as 0, 1 or 2 times its default (`MIX_KEYS` order,
    /// then ephemeral): swarm testing of the load.
    mix_scale: Vec<u32>,
}

fn profile() -> impl Strategy<Value = Profile> {
    let timing = (
        prop::sample::select(vec![3usize, 3, 5, 5, 5, 7]),
        10u64..=200,
        2u64..=15,
        any::<Index>(),
        8_000u64..=25_000,
    );
    let network = (
        prop::bool::weighted(0.3),
        1u32..=25,
        any::<Index>(),
        0u64..=30,
    );
    // At least one client: a run with no load gives the checks nothing to
    // judge (inconclusive).
    let load = (1usize..=7, 5u32..=40, 1usize..=8, any::<Index>());
    let disk = (any::<Index>(), prop_oneof![Just(2u64), 0u64..=40]);
    let pipeline = prop_oneof![Just(1usize), 1usize..=8];
    let mix = prop::collection::vec(
        prop_oneof![1 => Just(0u32), 3 => Just(1u32), 1 => Just(2u32)],
        9,
    );
    (timing, network, load, disk, (pipeline, mix)).prop_map(
        |(t, n, l, d, (pipeline, mix_scale))| Profile {
            servers: t.0,
            tick_ms: t.1,
            sync_limit: t.2,
            init_limit: t.3,
            faults_ms: t.4,
            lossy: n.0,
            loss_percent: n.1,
            latency_lo: n.2,
            latency_span_ms: n.3,
            clients: l.0,
            rate: l.1,
            keys: l.2,
            session_ticks: l.3,
            fsync_lo: d.0,
            fsync_span_ms: d.1,
            pipeline,
            mix_scale,
        },
    )
}

/// Who a drawn fault hits: a role, resolved when it fires, or a node.
#[derive(Clone, Debug)]
enum Who {
    Leader,
    Follower,
    Random,
    Node(Index),
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        Just(Who::Leader),
        Just(Who::Follower),
        Just(Who::Random),
        any::<Index>().prop_map(Who::Node),
    ]
}

/// One drawn fault, as drawn; sizes are fixed when the scenario is built.
#[derive(Clone, Debug)]
enum Kind {
    Isolate(Who),
    Partition(Vec<Index>, usize),
    OneWay(Index, Index),
    Latency(u64, u64),
    PacketLoss(u32),
    Crash(Who),
    Kill(Who),
    Restart(Index),
    Pause(Who),
    SlowFsync(Who, u64, u64),
    PowerLoss(Who),
    FsyncError(Who, u64),
    DiskFull(Who),
    ExpireSession(Index),
    OnMessage(Message),
    Laggard(Laggard),
    /// Heal the network early (every cut, clog, latency and loss fault).
    Heal,
    SplitLeader(SplitLeader),
    /// Resume paused nodes early.
    Resume(Who),
    DuelingLeaders(DuelingLeaders),
}

/// A compound for two would-be leaders in discovery for one epoch with a
/// voter between them — where "a voter vouches for an epoch only once"
/// (ZooKeeper's "we cannot ack again") is all that keeps one epoch to one
/// leader. Voter `v` is cut off while the others write on (so its vote
/// loses every election after); every server restarts into a partition
/// where a quorum holding `v` elects, and LEADERINFO to `v` is dropped, so
/// `v` does not accept the new epoch and that would-be leader waits in
/// discovery; `v` then restarts into a second quorum, which elects and
/// chooses that same epoch; then `v` restarts back into the first, which
/// may still wait. Each phase is a share of the init limit, so the first
/// would-be leader can outlast them.
#[derive(Clone, Debug)]
pub struct DuelingLeaders {
    voter: Index,
    lag_ms: u64,
    /// Each phase, in percent of the init limit.
    phase_pct: u64,
}

impl DuelingLeaders {
    fn specs(&self, at: u64, servers: usize, end: u64, init_ms: u64) -> Vec<FaultSpec> {
        let n = servers as u64;
        let v = 1 + self.voter.index(servers) as u64;
        let others: Vec<u64> = (1..=n).filter(|s| *s != v).collect();
        // Each side is v and a quorum less one of the others: at their
        // fewest, they share v alone.
        let q = (n / 2 + 1) as usize;
        let (a_ids, b_ids) = (&others[..q - 1], &others[others.len() - (q - 1)..]);
        let (first, second) = (quorum_with(v, a_ids, n), quorum_with(v, b_ids, n));
        // Long enough to elect and choose an epoch (FLE waits to finalize).
        let phase = (init_ms * self.phase_pct / 100).max(600);
        let at = at
            .min(end.saturating_sub(3 * phase + 400))
            .max(1_000 + self.lag_ms);
        let (t1, t2, t3) = (at + 100 + phase, at + 100 + 2 * phase, at + 100 + 3 * phase);
        let all: Vec<Target> = (1..=n).map(Target::Node).collect();
        let drop_info = Action::OnMessage(OnMessage {
            kind: "LEADERINFO",
            from: None,
            to: Some(vec![Target::Node(v)]),
            then: OnThen::Drop,
            count: 1_000,
            probability: 1.0,
        });
        let lag = Action::Isolate(Isolate(vec![Target::Node(v)]));
        let mut out = vec![
            fault(at - self.lag_ms, Some(at), lag),
            fault(at, Some(at + 100), Action::Kill(Kill(all))),
            fault(at, Some(t1), drop_info),
        ];
        // The second quorum restarts whole: its members have been looking
        // without a quorum, and their notifications back off.
        let second_ids = b_ids.iter().chain([&v]).map(|s| Target::Node(*s));
        let phases = [
            (at, t1, first.clone(), None),
            (t1 + 1, t2, second, Some(Kill(second_ids.collect()))),
            (t2 + 1, t3, first, Some(Kill(vec![Target::Node(v)]))),
        ];
        for (from, until, groups, restart) in phases {
            if let Some(restart) = restart {
                out.push(fault(from, Some(from + 100), Action::Kill(restart)));
            }
            if groups.len() > 1 {
                out.push(fault(
                    from,
                    Some(until),
                    Action::Partition(Partition(groups)),
                ));
            }
        }
        out
    }
}

/// Partition groups: `v` with `ids` on one side, the rest (if any) on the
/// other.
fn quorum_with(v: u64, ids: &[u64], n: u64) -> Vec<Vec<Target>> {
    let inside: Vec<Target> = std::iter::once(v)
        .chain(ids.iter().copied())
        .map(Target::Node)
        .collect();
    let rest: Vec<Target> = (1..=n)
        .filter(|s| *s != v && !ids.contains(s))
        .map(Target::Node)
        .collect();
    if rest.is_empty() {
        vec![inside]
    } else {
        vec![inside, rest]
    }
}

/// A compound that aims at the sync window, where ZAB's subtle bugs live: a
/// server goes down, the leader crashes while it is away (so it comes back
/// to a new epoch and a DIFF, TRUNC or SNAP), and a rule hits it as it
/// syncs — at a durability point or as its ACK leaves.
#[derive(Clone, Debug)]
struct Laggard {
    node: Index,
    /// Killed (its page cache kept, read back on restart) or crashed.
    killed: bool,
    away_ms: u64,
    /// What hits it, and how (`SYNC_POINTS`).
    point: Index,
    op: NodeOp,
}

/// A compound for a leader that establishes its epoch and is then cut off
/// with one follower: the leader crashes; the next one, as it sends its
/// first UPTODATE, is left alone with that follower (its first proposals
/// reach it alone, uncommitted); the rest elect without them; at the heal
/// the two come back to a newer epoch, and each server that syncs then is
/// restarted half a second later (so what it kept of the old epoch is read
/// back from its disk).
#[derive(Clone, Debug)]
struct SplitLeader {
    hold_ms: u64,
}

impl SplitLeader {
    fn specs(&self, at: u64, servers: usize, end: u64) -> Vec<FaultSpec> {
        let at = at.min(end.saturating_sub(self.hold_ms + 4_100)).max(1_000);
        let heal = at + self.hold_ms;
        let rule = |kind, then, count| {
            Action::OnMessage(OnMessage {
                kind,
                from: None,
                to: None,
                then,
                count,
                probability: 1.0,
            })
        };
        let cut = rule(
            "UPTODATE",
            OnThen::CutOff {
                after: Duration::ZERO,
            },
            1,
        );
        let restart = OnThen::Node {
            op: NodeOp::Restart,
            receiver: true,
            after: ms(500),
        };
        let restarts = rule("SYNC", restart, (servers as u64 - 1).max(1));
        vec![
            fault(
                at,
                Some(at + 2_500),
                Action::Crash(Crash(vec![Target::Leader])),
            ),
            fault(at, Some(heal), cut),
            fault(heal - 100, Some(heal + 4_000), restarts),
        ]
    }
}

/// Where a laggard is hit as it syncs: its new epochs made durable, its
/// ACKs of the epoch and of NEWLEADER leaving, its log cut by a TRUNC, a
/// SNAP installed.
const SYNC_POINTS: &[&str] = &[
    "CURRENT_EPOCH_DURABLE",
    "ACCEPTED_EPOCH_DURABLE",
    "ACKNEWLEADER",
    "ACKEPOCH",
    "TRUNCATED",
    "SNAPSHOT_DURABLE",
];

fn laggard() -> impl Strategy<Value = Laggard> {
    (
        any::<Index>(),
        1_500u64..=5_000,
        any::<Index>(),
        prop_oneof![
            3 => Just(NodeOp::PowerLoss),
            1 => Just(NodeOp::Crash),
            1 => Just(NodeOp::Kill),
        ],
        prop::bool::weighted(0.3),
    )
        .prop_map(|(node, away_ms, point, op, killed)| Laggard {
            node,
            killed,
            away_ms,
            point,
            op,
        })
}

impl Laggard {
    /// Its three faults, from `at`, ending by `end`.
    fn specs(&self, at: u64, servers: usize, end: u64) -> Vec<FaultSpec> {
        let sid = 1 + self.node.index(servers) as u64;
        // Back before the schedule ends (schedules last 8 s or more).
        let at = at.min(end.saturating_sub(self.away_ms + 100)).max(1_000);
        let back = at + self.away_ms;
        let rule = Action::OnMessage(OnMessage {
            kind: SYNC_POINTS[self.point.index(SYNC_POINTS.len())],
            from: Some(vec![Target::Node(sid)]),
            to: None,
            then: OnThen::Node {
                op: self.op,
                receiver: false,
                after: Duration::ZERO,
            },
            count: 1,
            probability: 1.0,
        });
        let down = if self.killed {
            Action::Kill(Kill(vec![Target::Node(sid)]))
        } else {
            Action::Crash(Crash(vec![Target::Node(sid)]))
        };
        vec![
            fault(at, Some(back), down),
            fault(
                at + self.away_ms / 3,
                Some((back + 4_000).min(end)),
                Action::Crash(Crash(vec![Target::Leader])),
            ),
            fault(at + self.away_ms / 2, Some((back + 4_000).min(end)), rule),
        ]
    }
}

/// An `on_message` rule, as drawn.
#[derive(Clone, Debug)]
struct Message {
    kind: &'static str,
    then: Then,
    receiver: bool,
    /// How many matches: 0 one, 1 a quorum less one (the ACKs a leader
    /// needs), 2 all but one.
    count: Index,
    after_ms: u64,
    /// Percent of matches that fire (buggify-style).
    percent: u32,
}

#[derive(Clone, Copy, Debug)]
enum Then {
    Drop,
    Delay,
    Node(NodeOp),
}

/// Message kinds a drawn rule matches, weighted to the protocol's turns.
fn message_kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => Just("ACK"),
        2 => Just("ACKEPOCH"),
        2 => Just("ACKNEWLEADER"),
        2 => Just("NEWLEADER"),
        2 => Just("SYNC"),
        2 => Just("LEADERINFO"),
        1 => Just("FOLLOWERINFO"),
        2 => Just("UPTODATE"),
        2 => Just("PROPOSAL"),
        2 => Just("COMMIT"),
        1 => Just("VOTE"),
        1 => Just("PING"),
        1 => Just("PINGREPLY"),
        1 => Just("REQUEST"),
        1 => Just("ACCEPTED_EPOCH_DURABLE"),
        2 => Just("CURRENT_EPOCH_DURABLE"),
        1 => Just("SNAPSHOT_DURABLE"),
        1 => Just("TRUNCATED"),
    ]
}

fn message_then() -> impl Strategy<Value = Then> {
    prop_oneof![
        2 => Just(Then::Drop),
        2 => Just(Then::Delay),
        2 => Just(Then::Node(NodeOp::Crash)),
        1 => Just(Then::Node(NodeOp::Kill)),
        3 => Just(Then::Node(NodeOp::PowerLoss)),
        2 => Just(Then::Node(NodeOp::Restart)),
        1 => Just(Then::Node(NodeOp::Pause)),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        message_kind(),
        message_then(),
        any::<bool>(),
        any::<Index>(),
        prop_oneof![Just(0u64), 1u64..=50],
        prop_oneof![3 => Just(100u32), 2 => 10u32..=60],
    )
        .prop_map(|(kind, then, receiver, count, after_ms, percent)| Message {
            kind,
            then,
            receiver,
            count,
            after_ms,
            percent,
        })
}

impl Message {
    fn action(&self, servers: usize) -> Action {
        // A fault point takes a node action: what happens at it.
        let point = zkstorm::server::FAULT_POINTS.contains(&self.kind);
        let then = match self.then {
            Then::Drop | Then::Delay if point => OnThen::Node {
                op: NodeOp::PowerLoss,
                receiver: false,
                after: ms(self.after_ms),
            },
            Then::Drop => OnThen::Drop,
            Then::Delay => OnThen::Delay(ms(50 + 20 * self.after_ms)),
            Then::Node(op) => OnThen::Node {
                op,
                receiver: self.receiver,
                after: ms(self.after_ms),
            },
        };
        let counts = [1, (servers / 2).max(1), (servers - 1).max(1)];
        Action::OnMessage(OnMessage {
            kind: self.kind,
            from: None,
            to: None,
            then,
            count: counts[self.count.index(counts.len())] as u64,
            probability: f64::from(self.percent) / 100.0,
        })
    }
}

/// How many kinds of drawn fault there are (for the swarm mask).
const KINDS: usize = 20;

impl Kind {
    /// Its place in the swarm mask.
    fn slot(&self) -> usize {
        match self {
            Kind::Isolate(_) => 0,
            Kind::Partition(..) => 1,
            Kind::OneWay(..) => 2,
            Kind::Latency(..) => 3,
            Kind::PacketLoss(_) => 4,
            Kind::Crash(_) => 5,
            Kind::Kill(_) => 6,
            Kind::Restart(_) => 7,
            Kind::Pause(_) => 8,
            Kind::SlowFsync(..) => 9,
            Kind::PowerLoss(_) => 10,
            Kind::FsyncError(..) => 11,
            Kind::DiskFull(_) => 12,
            Kind::ExpireSession(_) => 13,
            Kind::OnMessage(_) => 14,
            Kind::Laggard(_) => 15,
            Kind::Heal => 16,
            Kind::Resume(_) => 17,
            Kind::SplitLeader(_) => 18,
            Kind::DuelingLeaders(_) => 19,
        }
    }
}

#[derive(Clone, Debug)]
struct DrawnFault {
    at: Index,
    len_ms: u64,
    kind: Kind,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => who().prop_map(Kind::Isolate),
        3 => (prop::collection::vec(any::<Index>(), 7), 2usize..=3)
            .prop_map(|(g, k)| Kind::Partition(g, k)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Kind::OneWay(a, b)),
        2 => (10u64..=300, 0u64..=700).prop_map(|(lo, span)| Kind::Latency(lo, span)),
        1 => (5u32..=40).prop_map(Kind::PacketLoss),
        2 => who().prop_map(Kind::Crash),
        1 => who().prop_map(Kind::Kill),
        1 => any::<Index>().prop_map(Kind::Restart),
        1 => who().prop_map(Kind::Pause),
        2 => (who(), 10u64..=2_500, 0u64..=500).prop_map(|(w, lo, span)| Kind::SlowFsync(w, lo, span)),
        1 => who().prop_map(Kind::PowerLoss),
        1 => (who(), 1u64..=3).prop_map(|(w, n)| Kind::FsyncError(w, n)),
        1 => who().prop_map(Kind::DiskFull),
        1 => any::<Index>().prop_map(Kind::ExpireSession),
        3 => message().prop_map(Kind::OnMessage),
        2 => laggard().prop_map(Kind::Laggard),
        1 => Just(Kind::Heal),
        1 => who().prop_map(Kind::Resume),
        1 => (2_000u64..=5_000).prop_map(|hold_ms| Kind::SplitLeader(SplitLeader { hold_ms })),
        1 => (any::<Index>(), 300u64..=1_500, 20u64..=45).prop_map(|(voter, lag_ms, phase_pct)| {
            Kind::DuelingLeaders(DuelingLeaders { voter, lag_ms, phase_pct })
        }),
    ]
}

fn drawn_fault() -> impl Strategy<Value = DrawnFault> {
    (any::<Index>(), 100u64..=4_000, kind()).prop_map(|(at, len_ms, kind)| DrawnFault {
        at,
        len_ms,
        kind,
    })
}

/// How hard a random schedule hits: the knobs of `zkstorm fuzz` and `zkstorm draw`.
/// The defaults draw what `random_scenario` draws.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct Intensity {
    /// Most faults a seed draws (0..=48); each seed draws 0..=N.
    #[arg(long, default_value = "12", value_parser = clap::value_parser!(u64).range(0..=48))]
    pub max_faults: u64,
    /// Only these kinds of fault, by key, comma-separated (e.g.
    /// `crash,partition,on_message`); default every kind the random schedule draws.
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub only: Vec<String>,
    /// Draw from every allowed kind on every seed, instead of switching some
    /// kinds off per seed (swarm testing, the default).
    #[arg(long)]
    pub no_swarm: bool,
    /// Every seed also runs a built-in topology (kind, mode and sizes
    /// drawn) on the Storm half, with up to 4 faults on Storm processes.
    #[arg(long)]
    pub topology: bool,
    /// Draw for exactly this many servers and no load of the scenario's
    /// own (`testing::World::fuzz`: the world's ensemble, the user's
    /// clients).
    #[arg(skip)]
    pub servers: Option<usize>,
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity {
            max_faults: 12,
            only: Vec::new(),
            no_swarm: false,
            topology: false,
            servers: None,
        }
    }
}

/// `--only KIND`: a fault key the random schedule draws.
fn parse_kind(s: &str) -> Result<String, String> {
    if DRAWN_KEYS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "not a kind the random schedule draws; one of: {}",
            DRAWN_KEYS.join(", ")
        ))
    }
}

/// The fault keys a random schedule draws, in `Kind::slot` order.
const DRAWN_KEYS: &[&str] = &[
    "isolate",
    "partition",
    "one_way",
    "latency",
    "packet_loss",
    "crash",
    "kill",
    "restart",
    "pause",
    "slow_fsync",
    "power_loss",
    "fsync_error",
    "disk_full",
    "expire_session",
    "on_message",
    "laggard",
    "heal",
    "resume",
    "split_leader",
    "dueling_leaders",
];

/// Random timing profiles and fault schedules (see the module docs); the name
/// says the seed, if there is one.
pub fn random(name: String) -> BoxedStrategy<Scenario> {
    random_with(name, Intensity::default())
}

/// `random` with the given knobs.
pub fn random_with(name: String, knobs: Intensity) -> BoxedStrategy<Scenario> {
    // Swarm testing: each seed switches some kinds of fault off altogether
    // (a seed with no crashes explores other states than one full of them).
    let mask = prop::collection::vec(prop::bool::weighted(0.7), KINDS);
    let max = knobs.max_faults as usize;
    let drawn = (
        profile(),
        prop::collection::vec(drawn_fault(), 0..=max),
        mask,
    );
    let build = move |name: &str, p: &Profile, faults: Vec<DrawnFault>, mask: Vec<bool>| {
        let mut p = p.clone();
        if let Some(n) = knobs.servers {
            (p.servers, p.clients) = (n, 0);
        }
        let allowed = |k: &Kind| {
            (knobs.no_swarm || mask[k.slot()])
                && (knobs.only.is_empty() || knobs.only.iter().any(|o| o == DRAWN_KEYS[k.slot()]))
        };
        let on: Vec<DrawnFault> = faults.into_iter().filter(|f| allowed(&f.kind)).collect();
        build_random(name.to_string(), &p, &on, max)
    };
    if !knobs.topology {
        return drawn
            .prop_map(move |(p, faults, mask)| as_file(&build(&name, &p, faults, mask)))
            .boxed();
    }
    (drawn, topology::topology())
        .prop_map(move |((mut p, faults, mask), t)| {
            // Sessions of a few seconds for the Storm daemons (the servers
            // grant at most 20 ticks).
            p.tick_ms = p.tick_ms.max(100);
            let s = build(&name, &p, faults, mask);
            with_topology(s, &t, p.faults_ms)
        })
        .boxed()
}

/// `s` with a topology and its Storm faults, on a network the topology can
/// finish on (latency within 100 ms, no loss; faults still add more).
fn with_topology(mut s: Scenario, t: &topology::TopologyDraw, faults_ms: u64) -> Scenario {
    let (lo, hi) = s.network.latency;
    s.network.latency = (lo.min(ms(50)), hi.min(ms(100)).max(lo.min(ms(50))));
    s.network.packet_loss = 0.0;
    let text = s.to_toml() + &t.toml(faults_ms);
    Scenario::parse(&text, &s.file)
        .unwrap_or_else(|e| panic!("a generated scenario is invalid: {e}\n{text}"))
}

/// The random scenario of campaign seed `seed`.
pub fn random_scenario(seed: u64) -> Scenario {
    draw(&random(format!("campaign-{seed}")), seed)
}

/// The random scenario of seed `seed` with the given knobs.
pub fn random_scenario_with(seed: u64, knobs: &Intensity) -> Scenario {
    draw(
        &random_with(format!("campaign-{seed}"), knobs.clone()),
        seed,
    )
}

/// The random scenario of profile `p` with `faults`, at most `max` of them
/// once compounds are expanded.
fn build_random(name: String, p: &Profile, faults: &[DrawnFault], max: usize) -> Scenario {
    let mut s = base(
        name,
        "A random timing profile and fault schedule (generate::random).",
    );
    let tick = p.tick_ms;
    let sync = p.sync_limit;
    let init = sync + p.init_limit.index((40 - sync + 1) as usize) as u64;
    // A profile a ZooKeeper operator could run: a round trip fits in the
    // sync limit with room to spare, and discovery plus sync (six trips,
    // fresh connections, fsyncs) in the init limit; faults then break that
    // on purpose.
    let latency_max = (tick * sync / 4).min(tick * init / 12).max(1);
    // Faults end by `faults_ms`; then liveness has its bound, long enough to
    // elect and sync after the heal whatever the profile.
    let liveness_ms = (3 * init * tick).max(12_000);
    s.duration = ms(p.faults_ms + liveness_ms + 1_000);
    s.ensemble.servers = p.servers;
    s.ensemble.tick = ms(tick);
    s.ensemble.init_limit = init;
    s.ensemble.sync_limit = sync;
    // Loss delays messages (TCP retransmits): only where sessions may
    // outlast a second of it.
    let lossy = 20 * tick >= 1_000 && p.lossy;
    let lo = 1 + p.latency_lo.index(latency_max.min(20) as usize) as u64;
    let hi = (lo + p.latency_span_ms).min(latency_max);
    s.network.latency = (ms(lo), ms(hi));
    // fsyncs from the default 1-3 ms up to tens of ms (a window that lets a
    // crash land between a write and its fsync), within a round trip.
    let fsync_lo = 1 + p.fsync_lo.index(latency_max.min(25) as usize) as u64;
    let fsync_hi = (fsync_lo + p.fsync_span_ms).min(latency_max.max(fsync_lo));
    s.disk.fsync_latency = (ms(fsync_lo), ms(fsync_hi));
    s.network.packet_loss = if lossy {
        f64::from(p.loss_percent) / 100.0
    } else {
        0.0
    };
    // Sessions within the 2..=20 ticks the servers grant, and long enough
    // for the network (three round trips at least).
    let floor = if lossy { 1_000 } else { 6 * hi };
    let ticks_min = floor.div_ceil(tick).clamp(2, 20);
    let ticks = ticks_min + p.session_ticks.index((20 - ticks_min + 1) as usize) as u64;
    s.workload.clients = p.clients;
    s.workload.rate = f64::from(p.rate);
    let d = crate::workload::WorkloadConfig::default();
    for (i, w) in s.workload.mix.iter_mut().enumerate() {
        *w = d.mix[i] * p.mix_scale[i];
    }
    s.workload.ephemeral = d.ephemeral * p.mix_scale[8];
    // Some writes and reads always: liveness and the checks judge by them
    // (a run may still give a check too little, and says inconclusive).
    if s.workload.mix[0] + s.workload.mix[1] + s.workload.mix[5] == 0 {
        s.workload.mix[1] = d.mix[1];
    }
    s.workload.mix[2] = s.workload.mix[2].max(1);
    // The linearizability search grows with the ops in flight on one key:
    // about four at once per key keeps it decidable.
    let per_key = (4 * p.keys / p.clients.max(1)).max(1);
    s.workload.pipeline = p.pipeline.min(per_key);
    s.workload.keys = p.keys;
    s.workload.session_timeout = ms(ticks * tick);
    let mut specs: Vec<FaultSpec> = faults
        .iter()
        .filter(|f| p.clients > 0 || !matches!(f.kind, Kind::ExpireSession(_)))
        .flat_map(|f| drawn_specs(f, p.servers, p.clients, p.faults_ms, init * tick))
        .take(max)
        .collect();
    specs.sort_by_key(|f| f.at);
    // A session expiry lasts past the session's timeout, so it may end
    // after the schedule: the load runs on until liveness has been judged.
    let session = s.workload.session_timeout;
    for f in &mut specs {
        if let (Action::ExpireSession(_), Some(u)) = (&f.action, f.until) {
            f.until = Some(u.max(f.at + session + ms(100)));
        }
    }
    let last = specs
        .iter()
        .filter_map(|f| f.until)
        .max()
        .unwrap_or_default();
    s.duration = s.duration.max(last + ms(liveness_ms + 1_000));
    s.faults = specs;
    s.check.zab = true;
    s.check.linearizable = true;
    s.check.liveness = (p.clients > 0).then(|| ms(liveness_ms));
    s
}

fn drawn_specs(
    f: &DrawnFault,
    servers: usize,
    clients: usize,
    faults_ms: u64,
    init_ms: u64,
) -> Vec<FaultSpec> {
    let at = 1_000 + f.at.index((faults_ms - 1_500) as usize) as u64;
    match &f.kind {
        Kind::Laggard(l) => l.specs(at, servers, faults_ms),
        Kind::SplitLeader(c) => c.specs(at, servers, faults_ms),
        Kind::DuelingLeaders(d) => d.specs(at, servers, faults_ms, init_ms),
        _ => vec![one_spec(f, servers, clients, faults_ms)],
    }
}

fn one_spec(f: &DrawnFault, servers: usize, clients: usize, faults_ms: u64) -> FaultSpec {
    let at = 1_000 + f.at.index((faults_ms - 1_500) as usize) as u64;
    let until = Some((at + f.len_ms).min(faults_ms));
    let node = |i: &Index| Target::Node(1 + i.index(servers) as u64);
    let target = |w: &Who| match w {
        Who::Leader => Target::Leader,
        Who::Follower => Target::Follower,
        Who::Random => Target::Random,
        Who::Node(i) => node(i),
    };
    let action = match &f.kind {
        Kind::Isolate(w) => Action::Isolate(Isolate(vec![target(w)])),
        Kind::Crash(w) => Action::Crash(Crash(vec![target(w)])),
        Kind::Kill(w) => Action::Kill(Kill(vec![target(w)])),
        Kind::Pause(w) => Action::Pause(Pause(vec![target(w)])),
        Kind::Restart(i) => return fault(at, None, Action::Restart(Restart(vec![node(i)]))),
        Kind::Partition(picks, k) => Action::Partition(Partition(groups(picks, *k, servers))),
        Kind::OneWay(a, b) => {
            let from = 1 + a.index(servers);
            let to = (from + b.index(servers - 1)) % servers + 1;
            Action::OneWay(OneWay {
                from: vec![Target::Node(from as u64)],
                to: vec![Target::Node(to as u64)],
            })
        }
        Kind::Latency(lo, span) => Action::Latency(Latency {
            min: ms(*lo),
            max: ms(lo + span),
        }),
        Kind::PacketLoss(p) => Action::PacketLoss(PacketLoss(f64::from(*p) / 100.0)),
        Kind::SlowFsync(w, lo, span) => Action::SlowFsync(SlowFsync {
            targets: vec![target(w)],
            min: ms(*lo),
            max: ms(lo + span),
        }),
        Kind::PowerLoss(w) => Action::PowerLoss(PowerLoss(vec![target(w)])),
        Kind::FsyncError(w, count) => {
            let action = Action::FsyncError(FsyncError {
                targets: vec![target(w)],
                count: *count,
            });
            return fault(at, None, action);
        }
        Kind::DiskFull(w) => Action::DiskFull(DiskFull {
            targets: vec![target(w)],
            on: true,
        }),
        Kind::ExpireSession(i) => Action::ExpireSession(ExpireSession {
            client: i.index(clients.max(1)),
        }),
        Kind::OnMessage(m) => m.action(servers),
        Kind::Laggard(_) | Kind::SplitLeader(_) | Kind::DuelingLeaders(_) => {
            unreachable!("a compound: drawn_specs expands it")
        }
        Kind::Heal => return fault(at, None, Action::Heal(Heal)),
        Kind::Resume(w) => return fault(at, None, Action::Resume(Resume(vec![target(w)]))),
    };
    fault(at, until, action)
}

/// Two or three non-empty groups of node ids covering the ensemble.
fn groups(picks: &[Index], k: usize, servers: usize) -> Vec<Vec<Target>> {
    let k = k.min(servers);
    let mut groups: Vec<Vec<Target>> = vec![Vec::new(); k];
    for sid in 1..=servers {
        groups[picks[(sid - 1) % picks.len()].index(k)].push(Target::Node(sid as u64));
    }
    groups.retain(|g| !g.is_empty());
    if groups.len() == 1 {
        let last = groups[0].pop().expect("servers >= 2");
        groups.push(vec![last]);
    }
    groups
}

// ------------------------------------------------------------------ chaos

#[derive(Clone, Copy, Debug)]
enum ChaosKind {
    CrashLeader,
    CrashFollower,
    RestartCrashed,
    IsolateLeader,
    PartitionMinority,
    Heal,
}

/// The standard chaos run on `servers` servers (see the module docs): the
/// default timing and load for 30 s; from 3 s to 20 s a fault every 1.5–4
/// s; then 10 s for liveness. `kinds` limits the vocabulary ("crash-leader",
/// "crash-follower", "restart", "isolate", "partition", "heal"); empty: all
/// of it.
pub fn chaos(servers: usize, kinds: &'static [&'static str]) -> BoxedStrategy<Scenario> {
    use ChaosKind::*;
    let all = [
        (CrashLeader, "crash-leader"),
        (CrashFollower, "crash-follower"),
        (RestartCrashed, "restart"),
        (IsolateLeader, "isolate"),
        (PartitionMinority, "partition"),
        (Heal, "heal"),
    ];
    let allowed: Vec<ChaosKind> = all
        .iter()
        .filter(|(_, k)| kinds.is_empty() || kinds.contains(k))
        .map(|(c, _)| *c)
        .collect();
    let step = (1_500u64..=4_000, prop::sample::select(allowed));
    prop::collection::vec(step, 7)
        .prop_map(move |steps| as_file(&build_chaos(servers, &steps)))
        .boxed()
}

fn build_chaos(servers: usize, steps: &[(u64, ChaosKind)]) -> Scenario {
    let mut s = base(
        format!("chaos-{servers}"),
        "The standard chaos run (generate::chaos).",
    );
    s.ensemble.servers = servers;
    s.duration = ms(30_000);
    s.settle = ms(20_000);
    let mut at = 3_000;
    let mut down = 0;
    let max_down = (servers - 1) / 2;
    for &(gap, kind) in steps {
        at += gap;
        if at >= 20_000 {
            break;
        }
        let action = match kind {
            ChaosKind::CrashLeader | ChaosKind::CrashFollower if down >= max_down => continue,
            ChaosKind::CrashLeader => Action::Crash(Crash(vec![Target::Leader])),
            ChaosKind::CrashFollower => Action::Crash(Crash(vec![Target::Follower])),
            ChaosKind::RestartCrashed => Action::Restart(Restart(vec![Target::Crashed])),
            ChaosKind::IsolateLeader => Action::Isolate(Isolate(vec![Target::Leader])),
            ChaosKind::PartitionMinority => {
                Action::Partition(Partition(vec![vec![Target::Minority], vec![Target::Rest]]))
            }
            ChaosKind::Heal => Action::Heal(Heal),
        };
        match kind {
            ChaosKind::CrashLeader | ChaosKind::CrashFollower => down += 1,
            ChaosKind::RestartCrashed => down = 0,
            _ => {}
        }
        s.faults.push(fault(at, None, action));
    }
    s.check.zab = true;
    s.check.client = true;
    s.check.linearizable = true;
    s.check.liveness = (s.workload.clients > 0).then(|| ms(10_000));
    s
}

/// A scenario with no faults: `servers` servers under the default load for
/// `secs` seconds.
pub fn calm(servers: usize, secs: u64) -> Scenario {
    let mut s = base(format!("calm-{servers}"), "No faults (generate::calm).");
    s.ensemble.servers = servers;
    s.duration = ms(secs * 1_000);
    as_file(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drawn_scenario_is_valid_and_the_seed_decides_it() {
        for seed in 0..500 {
            let s = random_scenario(seed);
            assert_eq!(s, random_scenario(seed), "seed {seed}");
            assert!(s.faults.len() <= 12);
        }
        assert_ne!(random_scenario(1), random_scenario(2));
        for servers in [1, 3, 5] {
            for seed in 0..100 {
                let s = draw(&chaos(servers, &[]), seed);
                assert_eq!(s, draw(&chaos(servers, &[]), seed));
            }
        }
    }

    /// `--topology` draws every built-in kind and mode, Storm faults with
    /// them, and a timing the Storm daemons can hold sessions on.
    #[test]
    fn topology_campaigns_draw_every_kind_and_storm_faults() {
        let knobs = Intensity {
            topology: true,
            ..Intensity::default()
        };
        let mut kinds = std::collections::BTreeSet::new();
        let mut drawn_faults = 0;
        for seed in 0..80 {
            let s = random_scenario_with(seed, &knobs);
            let t = s.topology.clone().expect("a topology on every seed");
            kinds.insert((t.kind.clone(), t.batches.map(|b| b.state.name())));
            assert!(
                s.ensemble.tick >= ms(100),
                "seed {seed}: tick {:?}",
                s.ensemble.tick
            );
            assert!(s.network.latency.1 <= ms(100), "seed {seed}");
            drawn_faults += s
                .faults
                .iter()
                .filter(|f| crate::scenario::STORM_KEYS.contains(&f.action.key()))
                .count();
        }
        assert_eq!(kinds.len(), 6, "{kinds:?}");
        assert!(drawn_faults > 40, "{drawn_faults} drawn faults in 80 seeds");
    }

    #[test]
    fn intensity_knobs_bound_and_filter_the_schedule() {
        assert_eq!(
            random_scenario_with(5, &Intensity::default()),
            random_scenario(5)
        );
        let only = Intensity {
            max_faults: 30,
            only: vec!["crash".into(), "partition".into()],
            no_swarm: true,
            topology: false,
            servers: None,
        };
        let mut drawn = 0;
        for seed in 0..60 {
            let s = random_scenario_with(seed, &only);
            drawn += s.faults.len();
            for f in &s.faults {
                assert!(
                    ["crash", "partition"].contains(&f.action.key()),
                    "{}",
                    f.action.key()
                );
            }
        }
        assert!(drawn > 30, "only {drawn} faults in 60 seeds");
        let more = Intensity {
            max_faults: 30,
            no_swarm: true,
            ..Intensity::default()
        };
        let most = (0..60)
            .map(|seed| random_scenario_with(seed, &more).faults.len())
            .max()
            .unwrap();
        assert!((13..=30).contains(&most), "most faults in a seed: {most}");
        let none = Intensity {
            max_faults: 0,
            ..Intensity::default()
        };
        assert!(random_scenario_with(3, &none).faults.is_empty());
    }

    /// A laggard is three faults on one node: it goes down, the leader
    /// crashes while it is away, and a rule waits for it at a sync point.
    #[test]
    fn a_laggard_crashes_a_node_then_the_leader_and_waits_for_it() {
        let only = Intensity {
            max_faults: 30,
            only: vec!["laggard".into()],
            no_swarm: true,
            topology: false,
            servers: None,
        };
        let mut seen = 0;
        for seed in 0..40 {
            let s = random_scenario_with(seed, &only);
            assert!(s.faults.len() <= 30);
            for f in &s.faults {
                let Action::OnMessage(m) = &f.action else {
                    continue;
                };
                seen += 1;
                assert!(SYNC_POINTS.contains(&m.kind), "{}", m.kind);
                let Some([Target::Node(sid)]) = m.from.as_deref() else {
                    panic!("{:?}", m.from);
                };
                // Its node went down before the rule was armed.
                let down = s.faults.iter().any(|g| {
                    g.at < f.at
                        && match &g.action {
                            Action::Crash(c) => c.0 == vec![Target::Node(*sid)],
                            Action::Kill(k) => k.0 == vec![Target::Node(*sid)],
                            _ => false,
                        }
                });
                assert!(down, "seed {seed}: {}", s.to_toml());
            }
        }
        assert!(seen > 10, "{seen} laggards in 40 seeds");
    }

    #[test]
    fn mutants_are_valid_and_stay_within_the_timeline() {
        let mut changed = 0;
        for seed in 0..200 {
            let s = random_scenario(seed);
            let Some(m) = mutate(&s, seed) else {
                continue;
            };
            assert_eq!(Some(&m), mutate(&s, seed).as_ref(), "seed {seed}");
            assert!(m.heal_time() <= s.heal_time(), "seed {seed}");
            changed += usize::from(m.faults != s.faults);
        }
        assert!(changed > 100, "only {changed} of 200 mutants differ");
    }

    #[test]
    fn chaos_never_plans_more_than_a_minority_down() {
        for seed in 0..300 {
            let s = draw(&chaos(5, &[]), seed);
            let mut down = 0;
            for f in &s.faults {
                match f.action {
                    Action::Crash(_) => down += 1,
                    Action::Restart(_) => down = 0,
                    _ => {}
                }
                assert!(down <= 2, "seed {seed}: {}", s.to_toml());
            }
        }
        // One server: nothing may crash.
        let s = draw(&chaos(1, &["crash-leader", "restart"]), 7);
        assert!(s
            .faults
            .iter()
            .all(|f| !matches!(f.action, Action::Crash(_))));
    }
}
