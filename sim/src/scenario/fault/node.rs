//! Faults that act on server processes: crash, kill, power_loss, restart,
//! pause, resume.

use super::targets::{first, render_targets};
use super::{show, Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::cluster::Cluster;
use crate::scenario::schema::{RawTargets, Target};
use toml::Spanned;
use zkstorm::types::Sid;

/// A kind whose value is a target list; `$pool` picks the candidates and
/// `$fire` acts on the resolved nodes.
macro_rules! node_kind {
    ($(#[$doc:meta])* $T:ident, $key:literal, $lasts:expr, $about:literal,
     pool: $pool:expr, fire: $fire:expr) => {
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
                let fire: fn(&[Sid], &mut Firing) -> Fired = $fire;
                cx.record("");
                fire(&nodes[0], cx)
            }
        }
    };
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
    fire: |sids, cx| {
        for &s in sids {
            cx.cluster.crash(s);
        }
        restart_later(sids)
    }
);

node_kind!(
    /// `kill -9`: the OS survives, so written but un-fsynced data stays in
    /// the page cache and is read back on restart.
    Kill, "kill", UNTIL_RESTARTS,
    "kill -9 of the process: the page cache survives, so unsynced writes are read back",
    pool: |c| c.alive(),
    fire: |sids, cx| {
        for &s in sids {
            cx.cluster.kill(s);
        }
        restart_later(sids)
    }
);

node_kind!(
    /// Like `crash`, but every unsynced appended tail is torn at a random
    /// byte (with garbage after it half the time): the harshest crash.
    PowerLoss, "power_loss", UNTIL_RESTARTS,
    "crash with every unsynced tail torn at a random byte, garbage after it half the time",
    pool: |c| c.alive(),
    fire: |sids, cx| {
        for &s in sids {
            cx.cluster.power_loss(s);
        }
        restart_later(sids)
    }
);

node_kind!(
    /// Start crashed nodes; a running node is killed and started again.
    Restart, "restart", NOT_UNDONE,
    "start a crashed node; a running one is killed and started again",
    pool: |c| c.sids(),
    fire: |sids, cx| {
        for &s in sids {
            cx.cluster.reboot(s);
        }
        Fired::Done(None)
    }
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
    fire: |sids, cx| {
        for &s in sids {
            cx.cluster.pause(s);
        }
        let sids = sids.to_vec();
        Fired::Done(Some(Undo::new(false, move |cluster, _, head| {
            cluster.history.fault(format!("{head}: resume {}", show(&sids)));
            for s in sids {
                cluster.resume(s);
            }
        })))
    }
);

node_kind!(
    /// Resume paused nodes.
    Resume, "resume", NOT_UNDONE,
    "resume paused nodes",
    pool: |c| c.paused(),
    fire: |sids, cx| {
        for &s in sids {
            cx.cluster.resume(s);
        }
        Fired::Done(None)
    }
);
