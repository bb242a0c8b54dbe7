//! A run's scenario with its role targets replaced by the nodes they
//! resolved to: what a failing run is rewritten as before it is shrunk, so
//! that "crash the leader" still hits the same server once earlier faults
//! are gone.

use super::schema::{Action, FaultSpec, Scenario, Target};
use std::collections::BTreeMap;
use zkstorm::types::Sid;

fn nodes(sids: &[Sid]) -> Vec<Target> {
    sids.iter().map(|s| Target::Node(*s)).collect()
}

/// `fault` with its targets replaced by `groups` (what it resolved to).
fn concrete(fault: &FaultSpec, groups: &[Vec<Sid>]) -> FaultSpec {
    let first = || nodes(groups.first().map_or(&[][..], |g| g.as_slice()));
    let action = match &fault.action {
        Action::Crash(_) => Action::Crash(first()),
        Action::Kill(_) => Action::Kill(first()),
        Action::PowerLoss(_) => Action::PowerLoss(first()),
        Action::Restart(_) => Action::Restart(first()),
        Action::Pause(_) => Action::Pause(first()),
        Action::Resume(_) => Action::Resume(first()),
        Action::Isolate(_) => Action::Isolate(first()),
        Action::Partition(_) => Action::Partition(
            groups
                .iter()
                .filter(|g| !g.is_empty())
                .map(|g| nodes(g))
                .collect(),
        ),
        Action::OneWay { .. } => Action::OneWay {
            from: first(),
            to: nodes(groups.get(1).map_or(&[][..], |g| g.as_slice())),
        },
        Action::SlowFsync { min, max, .. } => Action::SlowFsync {
            targets: first(),
            min: *min,
            max: *max,
        },
        Action::FsyncError { count, .. } => Action::FsyncError {
            targets: first(),
            count: *count,
        },
        Action::DiskFull { on, .. } => Action::DiskFull {
            targets: first(),
            on: *on,
        },
        other => other.clone(),
    };
    FaultSpec {
        action,
        ..fault.clone()
    }
}

impl Scenario {
    /// This scenario with every fault's targets replaced by the nodes they
    /// resolved to in a run (`RunReport::resolved`); a fault that was
    /// skipped there (nothing resolved) did nothing, and is left out. The
    /// result names only node ids (no roles, no `fault[N]`), so faults can
    /// be removed from it without changing whom the others hit.
    pub fn resolved(&self, picked: &BTreeMap<usize, Vec<Vec<Sid>>>) -> Scenario {
        let faults = self
            .faults
            .iter()
            .enumerate()
            .filter_map(
                |(i, f)| match (!f.action.targets().is_empty(), picked.get(&i)) {
                    (false, _) => Some(f.clone()),
                    (true, Some(groups)) => Some(concrete(f, groups)),
                    (true, None) => None,
                },
            )
            .enumerate()
            .map(|(i, f)| FaultSpec { index: i, ..f })
            .collect();
        Scenario {
            faults,
            ..self.clone()
        }
        .reparsed()
        .unwrap_or_else(|e| panic!("a resolved scenario is invalid: {e}"))
    }
}
