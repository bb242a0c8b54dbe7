//! Faults that act on server processes: crash, kill, power_loss, restart,
//! pause, resume.

use super::targets::{first, render_targets};
use super::{show, Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::cluster::Cluster;
use crate::scenario::schema::{RawTargets, Target};
use toml::Spanned;
use zkstorm::types::Sid;

/// A kind whose value is a target list; `$pool` picks the candidates,
/// `$each` acts on each resolved node, and `$then` says how it is undone.
macro_rules! node_kind {
    ($(#[$doc:meta])* $T:ident, $key:literal, $lasts:expr, $about:literal,
     pool: $pool:expr, each: $each:expr, then: $then:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $T(pub Vec<Target>);

        impl Kind for $T {
            const KEY: &'static str = $key;
            const VALUE: &'static str = "targets";
            const ABOUT: &'static str = $about;
            const LASTS: Lasts = $lasts;
            type Raw = RawTargets;
            fn validate(raw: &Spanned<RawTargets>, cx: &Cx) -> R<Self> {
                cx.targets(raw).map($T)
            }
        }

        impl Fault for $T {
            fn picks(&self) -> Picks {
                Picks::Nodes(self.0.clone())
            }
            fn render(&self) -> String {
                render_targets(&self.0)
            }
            fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
                Action::$T($T(first(groups)))
            }
            fn pool(&self, c: &Cluster) -> Vec<Sid> {
                let pool: fn(&Cluster) -> Vec<Sid> = $pool;
                pool(c)
            }
            fn fire(&self, nodes: &[Vec<Sid>], cx: &mut Firing) -> Fired {
                let each: fn(&mut Cluster, Sid) = $each;
                let then: fn(&[Sid]) -> Fired = $then;
                cx.record("");
                for &s in &nodes[0] {
                    each(cx.cluster, s);
                }
                then(&nodes[0])
            }
        }
    };
}

/// Undo for a pause: resume the nodes.
fn resume_later(sids: &[Sid]) -> Fired {
    let sids = sids.to_vec();
    Fired::Done(Some(Undo::new(false, move |cluster, _, head| {
        cluster
            .history
            .fault(format!("{head}: resume {}", show(&sids)));
        for s in sids {
            cluster.resume(s);
        }
    })))
}

/// Undo for faults that take nodes down: restart those still down.
fn restart_later(sids: &[Sid]) -> Fired {
    let sids = sids.to_vec();
    Fired::Done(Some(Undo::new(false, move |cluster, _, head| {
        let down = cluster.crashed();
        let sids: Vec<Sid> = sids.into_iter().filter(|s| down.contains(s)).collect();
        cluster
            .history
            .fault(format!("{head}: restart {}", show(&sids)));
        for s in sids {
            cluster.restart(s);
        }
    })))
}

const UNTIL_RESTARTS: Lasts = Lasts::Until;
const NOT_UNDONE: Lasts = Lasts::Instant("");

node_kind!(
    /// The machine fails: the process dies and what was not fsynced is lost
    /// (unsynced log tails torn with the `[disk]` odds).
    Crash, "crash", UNTIL_RESTARTS,
    "the machine fails: unsynced data is lost, a log tail torn with the [disk] odds",
    pool: |c| c.alive(),
    each: Cluster::crash,
    then: restart_later
);

node_kind!(
    /// `kill -9`: the OS survives, so written but un-fsynced data stays in
    /// the page cache and is read back on restart.
    Kill, "kill", UNTIL_RESTARTS,
    "kill -9 of the process: the page cache survives, so unsynced writes are read back",
    pool: |c| c.alive(),
    each: Cluster::kill,
    then: restart_later
);

node_kind!(
    /// Like `crash`, but every unsynced appended tail is torn at a random
    /// byte (with garbage after it half the time): the harshest crash.
    PowerLoss, "power_loss", UNTIL_RESTARTS,
    "crash with every unsynced tail torn at a random byte, garbage after it half the time",
    pool: |c| c.alive(),
    each: Cluster::power_loss,
    then: restart_later
);

node_kind!(
    /// Start crashed nodes; a running node is killed and started again.
    Restart, "restart", NOT_UNDONE,
    "start a crashed node; a running one is killed and started again",
    pool: |c| c.sids(),
    each: Cluster::reboot,
    then: |_| Fired::Done(None)
);

node_kind!(
    /// Stop scheduling the node (a long GC pause, SIGSTOP): it keeps its
    /// sockets and state, and resumes with every timer overdue.
    Pause, "pause", UNTIL_RESTARTS,
    "stop scheduling the node (GC pause, SIGSTOP); it resumes with every timer overdue",
    pool: |c| {
        let paused = c.paused();
        c.alive().into_iter().filter(|s| !paused.contains(s)).collect()
    },
    each: Cluster::pause,
    then: resume_later
);

node_kind!(
    /// Resume paused nodes.
    Resume, "resume", NOT_UNDONE,
    "resume paused nodes",
    pool: |c| c.paused(),
    each: Cluster::resume,
    then: |_| Fired::Done(None)
);
