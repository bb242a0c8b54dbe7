//! Faults on a server's disk: slow_fsync, fsync_error, disk_full. A server
//! stops when its disk fails (as ZooKeeper exits on a failed fsync).

use super::targets::{first, render_targets};
use super::{d, show, Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::cluster::Cluster;
use crate::scenario::error::ErrorKind;
use crate::scenario::schema::{RawDiskFull, RawFsyncError, RawSlowFsync, Scenario, Target};
use crate::scenario::validate::limits::MAX_FSYNC;
use std::time::Duration;
use toml::Spanned;
use zkstorm::types::Sid;

/// Apply a scenario's base disk settings to one server's disk.
pub(crate) fn set_disk(sc: &Scenario, cluster: &Cluster, sid: Sid) {
    let k = &sc.disk;
    let disk = cluster.disk(sid);
    disk.set_fsync_latency_ms(
        k.fsync_latency.0.as_millis() as u64,
        k.fsync_latency.1.as_millis() as u64,
    );
    disk.set_tear_probability(k.tear_probability, k.garbage_probability);
}

/// Every fsync on the targets takes [min, max].
#[derive(Clone, Debug, PartialEq)]
pub struct SlowFsync {
    pub targets: Vec<Target>,
    pub min: Duration,
    pub max: Duration,
}

impl Kind for SlowFsync {
    const KEY: &'static str = "slow_fsync";
    const VALUE: &'static str = "{ target, min, max }";
    const ABOUT: &'static str = "every fsync on the targets takes [min, max]";
    const LASTS: Lasts = Lasts::Until;
    type Raw = RawSlowFsync;
    fn validate(raw: &Spanned<RawSlowFsync>, cx: &Cx) -> R<Self> {
        let s = raw.get_ref();
        let field = &cx.field;
        let min = cx.v.whole_ms(&s.min, &format!("{field}.min"))?;
        let max = cx.v.whole_ms(&s.max, &format!("{field}.max"))?;
        if max > MAX_FSYNC {
            return Err(cx.v.at(
                &s.max,
                &format!("{field}.max"),
                ErrorKind::OutOfRange,
                format!(
                    "{} is more than the allowed {}",
                    s.max.get_ref(),
                    d(MAX_FSYNC)
                ),
            ));
        }
        if min > max {
            return Err(cx.v.at(
                &s.max,
                &format!("{field}.max"),
                ErrorKind::OutOfRange,
                format!("max {} is below min {}", s.max.get_ref(), s.min.get_ref()),
            ));
        }
        Ok(SlowFsync {
            targets: cx.sub_targets(&s.target, "target")?,
            min,
            max,
        })
    }
}

impl Fault for SlowFsync {
    fn picks(&self) -> Picks {
        Picks::Nodes(self.targets.clone())
    }
    fn render(&self) -> String {
        format!(
            "{{ target = {}, min = \"{}\", max = \"{}\" }}",
            render_targets(&self.targets),
            d(self.min),
            d(self.max)
        )
    }
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        Action::SlowFsync(SlowFsync {
            targets: first(groups),
            ..self.clone()
        })
    }
    fn fire(&self, nodes: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        cx.record(&format!("fsync {}..{}", d(self.min), d(self.max)));
        let sids = nodes[0].clone();
        for &s in &sids {
            cx.cluster
                .disk(s)
                .set_fsync_latency_ms(self.min.as_millis() as u64, self.max.as_millis() as u64);
        }
        Fired::Done(Some(Undo::new(false, move |cluster, sc, head| {
            cluster
                .history
                .fault(format!("{head}: fsync latency back on {}", show(&sids)));
            for s in sids {
                set_disk(sc, cluster, s);
            }
        })))
    }
    fn heal_wait(&self, sc: &Scenario) -> Option<Duration> {
        Some(self.max.max(sc.disk.fsync_latency.1))
    }
    fn weaker(&self) -> Vec<Action> {
        let half = |d: Duration| Duration::from_millis((d.as_millis() / 2) as u64);
        if self.max.as_millis() < 2 {
            return Vec::new();
        }
        vec![Action::SlowFsync(SlowFsync {
            min: half(self.min),
            max: half(self.max),
            ..self.clone()
        })]
    }
}

/// The targets' next `count` fsyncs fail.
#[derive(Clone, Debug, PartialEq)]
pub struct FsyncError {
    pub targets: Vec<Target>,
    pub count: u64,
}

impl Kind for FsyncError {
    const KEY: &'static str = "fsync_error";
    const VALUE: &'static str = "{ target, count }";
    const ABOUT: &'static str = "the targets' next `count` fsyncs fail (the server stops)";
    const LASTS: Lasts =
        Lasts::Instant("fsync_error fails the next `count` fsyncs; there is nothing to undo");
    type Raw = RawFsyncError;
    fn validate(raw: &Spanned<RawFsyncError>, cx: &Cx) -> R<Self> {
        let s = raw.get_ref();
        Ok(FsyncError {
            targets: cx.sub_targets(&s.target, "target")?,
            count: cx
                .v
                .int(&s.count, &format!("{}.count", cx.field), 1, 1_000_000)?
                as u64,
        })
    }
}

impl Fault for FsyncError {
    fn picks(&self) -> Picks {
        Picks::Nodes(self.targets.clone())
    }
    fn render(&self) -> String {
        format!(
            "{{ target = {}, count = {} }}",
            render_targets(&self.targets),
            self.count
        )
    }
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        Action::FsyncError(FsyncError {
            targets: first(groups),
            ..self.clone()
        })
    }
    fn fire(&self, nodes: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        cx.record(&format!("count={}", self.count));
        for &s in &nodes[0] {
            cx.cluster.disk(s).fail_fsyncs(self.count);
        }
        Fired::Done(None)
    }
    fn heal_wait(&self, sc: &Scenario) -> Option<Duration> {
        Some(sc.disk.fsync_latency.1)
    }
    fn weaker(&self) -> Vec<Action> {
        if self.count <= 1 {
            return Vec::new();
        }
        vec![Action::FsyncError(FsyncError {
            count: 1,
            ..self.clone()
        })]
    }
}

/// Writes to the targets' disks fail with "no space" (`on = false` frees it).
#[derive(Clone, Debug, PartialEq)]
pub struct DiskFull {
    pub targets: Vec<Target>,
    pub on: bool,
}

impl Kind for DiskFull {
    const KEY: &'static str = "disk_full";
    const VALUE: &'static str = "{ target, on = true }";
    const ABOUT: &'static str = "writes to the targets' disks fail with no space";
    const LASTS: Lasts = Lasts::Until;
    type Raw = RawDiskFull;
    fn validate(raw: &Spanned<RawDiskFull>, cx: &Cx) -> R<Self> {
        let s = raw.get_ref();
        Ok(DiskFull {
            targets: cx.sub_targets(&s.target, "target")?,
            on: s.on,
        })
    }
}

impl Fault for DiskFull {
    fn picks(&self) -> Picks {
        Picks::Nodes(self.targets.clone())
    }
    fn render(&self) -> String {
        format!(
            "{{ target = {}, on = {} }}",
            render_targets(&self.targets),
            self.on
        )
    }
    fn with_nodes(&self, groups: &[Vec<Sid>]) -> Action {
        Action::DiskFull(DiskFull {
            targets: first(groups),
            ..self.clone()
        })
    }
    fn fire(&self, nodes: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        cx.record(&format!("on={}", self.on));
        let sids = nodes[0].clone();
        for &s in &sids {
            cx.cluster.disk(s).set_full(self.on);
        }
        Fired::Done(Some(Undo::new(false, move |cluster, _, head| {
            cluster
                .history
                .fault(format!("{head}: disk not full on {}", show(&sids)));
            for s in sids {
                cluster.disk(s).set_full(false);
            }
        })))
    }
    fn heal_wait(&self, sc: &Scenario) -> Option<Duration> {
        Some(sc.disk.fsync_latency.1)
    }
}
