//! A run's scenario with its role targets replaced by the nodes they
//! resolved to: what a failing run is rewritten as before it is shrunk, so
//! that "crash the leader" still hits the same server once earlier faults
//! are gone.

use super::schema::{FaultSpec, Scenario};
use std::collections::BTreeMap;
use zkstorm::types::Sid;

/// `fault` with its targets replaced by `groups` (what it resolved to).
fn concrete(fault: &FaultSpec, groups: &[Vec<Sid>]) -> FaultSpec {
    FaultSpec {
        action: fault.action.fault().with_nodes(groups),
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
