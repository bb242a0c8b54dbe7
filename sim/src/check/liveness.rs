//! `liveness`: once the last fault has healed, the ensemble takes writes
//! again within a bound — every client at work commits a write in
//! `[healed, healed + bound]`.
//!
//! A committed write is an answer only an applied txn gives: ok, or an error
//! the tree decided (NoNode, NodeExists, ...). Reads do not count (a minority
//! follower serves them with no leader), and leadership is not inferred from
//! events: a commit is what proves a leader. Every client counts, since the
//! workload keeps every client working (a new session after an expiry) until
//! after the bound; a client stuck in a call that never returns fails too.

use super::{v, CheckOptions, Violation};
use crate::history::{Event, Record};
use std::collections::BTreeMap;

const CHECK: &str = "liveness";

/// Per client: when it first committed a write in the window, and its last answer.
#[derive(Default)]
struct Progress {
    committed_at: Option<u64>,
    last: Option<(u64, crate::history::Outcome)>,
}

pub fn liveness(records: &[Record], opts: &CheckOptions) -> Vec<Violation> {
    let healed = opts.healed_at_ms.unwrap_or_else(|| {
        records
            .iter()
            .rev()
            .find(|r| matches!(r.event, Event::Fault { .. } | Event::Node { .. }))
            .map_or(0, |r| r.t_ms)
    });
    let deadline = healed.saturating_add(opts.liveness_bound_ms);
    // Every client of the run, whenever it shows up.
    let mut clients: BTreeMap<usize, Progress> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Invoke { client, .. } | Event::ClientState { client, .. } => Some(*client),
            _ => None,
        })
        .map(|c| (c, Progress::default()))
        .collect();
    for r in records.iter().take_while(|r| r.t_ms <= deadline) {
        let Event::Complete {
            client,
            outcome,
            write,
            ..
        } = &r.event
        else {
            continue;
        };
        let p = clients.entry(*client).or_default();
        p.last = Some((r.t_ms, *outcome));
        // Only an applied txn answers ok or with the tree's own error.
        let committed = *write && outcome.answered();
        if r.t_ms >= healed && committed {
            p.committed_at.get_or_insert(r.t_ms);
        }
    }
    let window = format!(
        "within {} ms of the last fault healing at {} ms",
        opts.liveness_bound_ms, healed
    );
    let last_t = records.last().map_or(0, |r| r.t_ms);
    let cut = if last_t < deadline {
        format!(" (the history ends at {last_t} ms)")
    } else {
        String::new()
    };
    if clients.is_empty() {
        return vec![v(CHECK, format!("no client was at work {window}{cut}"))];
    }
    clients
        .iter()
        .filter(|(_, p)| p.committed_at.is_none())
        .map(|(c, p)| {
            let last = match &p.last {
                Some((t, outcome)) => format!("its last answer: {outcome} at {t} ms"),
                None => "it never got an answer".into(),
            };
            v(
                CHECK,
                format!("client {c} committed no write {window}{cut} ({last})"),
            )
        })
        .collect()
}
