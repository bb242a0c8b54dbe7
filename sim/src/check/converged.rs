//! `converged`: once the load stopped and everything healed, every server
//! serves the same applied zxid and the same data tree — judged from the
//! `ServerState` records the run writes when settling is over (the last one
//! per server counts).

use super::{v, zx, Violation};
use crate::history::{Event, Record};
use std::collections::BTreeMap;
use zkstorm::types::Sid;

const CHECK: &str = "converged";

#[derive(Clone, Copy, PartialEq, Eq)]
struct Final {
    serving: bool,
    stopped: bool,
    applied: u64,
    digest: Option<u64>,
}

impl Final {
    fn describe(&self, sid: Sid) -> String {
        if self.stopped {
            return format!("{sid}: stopped");
        }
        let digest = self.digest.map_or("?".into(), |d| format!("{d:016x}"));
        let serving = if self.serving {
            "serving"
        } else {
            "not serving"
        };
        format!(
            "{sid}: {serving} applied={} digest={digest}",
            zx(self.applied)
        )
    }
}

pub fn converged(records: &[Record]) -> Vec<Violation> {
    let mut last: BTreeMap<Sid, Final> = BTreeMap::new();
    for r in records {
        if let Event::ServerState {
            sid,
            serving,
            stopped,
            applied,
            digest,
        } = r.event
        {
            let f = Final {
                serving,
                stopped,
                applied,
                digest,
            };
            last.insert(sid, f);
        }
    }
    let Some(first) = last.values().next().copied() else {
        return vec![v(CHECK, "the run recorded no final server states".into())];
    };
    let agree = last.values().all(|f| {
        f.serving
            && !f.stopped
            && f.digest.is_some()
            && (f.applied, f.digest) == (first.applied, first.digest)
    });
    if agree {
        return vec![];
    }
    let shown: Vec<String> = last.iter().map(|(sid, f)| f.describe(*sid)).collect();
    vec![v(
        CHECK,
        format!("servers did not converge: {}", shown.join("; ")),
    )]
}
