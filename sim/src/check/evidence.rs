//! Enough evidence to judge? A check that found nothing wrong in a history
//! that gave it nothing to look at has not passed: its verdict is
//! inconclusive. Each check names the least it needs.

use crate::history::{Call, ClientStatus, Event, Record, Ret};
use std::collections::BTreeMap;
use zkstorm::storm::StormEvent;

/// Answered writes `client.linearizable` needs before a pass means anything.
pub const MIN_WRITES: usize = 10;
/// Answered requests `client.sequential` needs.
pub const MIN_ANSWERS: usize = 10;
/// Named sequential creates `client.sequential_names` needs (it compares
/// names in pairs).
pub const MIN_NAMED: usize = 2;

/// What a history holds that the checks judge.
#[derive(Default, Debug)]
struct Counts {
    delivered: usize,
    writes: usize,
    answers: usize,
    watch_events: usize,
    ephemerals: usize,
    session_ends: usize,
    /// Sequential creates invoked, and answered with their name.
    sequential: usize,
    named: usize,
    spout_acks: usize,
    store_adds: usize,
    /// The run read the state a batch topology ended with.
    store_read: bool,
}

fn count(records: &[Record]) -> Counts {
    let mut c = Counts::default();
    let mut ephemeral_ops = rustc_hash::FxHashSet::default();
    for r in records {
        match &r.event {
            Event::Delivered { .. } => c.delivered += 1,
            Event::Invoke {
                client,
                op,
                call:
                    Call::Create {
                        ephemeral,
                        sequential,
                        ..
                    },
                ..
            } => {
                c.sequential += usize::from(*sequential);
                if *ephemeral {
                    ephemeral_ops.insert((*client, *op));
                }
            }
            Event::Complete {
                client,
                op,
                outcome,
                write,
                ret,
                ..
            } if outcome.answered() => {
                c.answers += 1;
                c.named += usize::from(matches!(ret, Ret::Named { .. }));
                c.writes += usize::from(*write);
                c.ephemerals +=
                    usize::from(outcome.is_ok() && ephemeral_ops.contains(&(*client, *op)));
            }
            Event::Watch { .. } => c.watch_events += 1,
            Event::StoreRead { error: None, .. } => c.store_read = true,
            Event::Storm { event, .. } => match event {
                StormEvent::SpoutAcked { .. } => c.spout_acks += 1,
                StormEvent::StoreAdd { .. } => c.store_adds += 1,
                _ => {}
            },
            Event::ClientState {
                state: ClientStatus::Expired | ClientStatus::CloseAnswered { error: None },
                ..
            } => c.session_ends += 1,
            _ => {}
        }
    }
    c
}

/// Checks that found too little to judge, with what they lacked.
pub fn too_little(records: &[Record]) -> BTreeMap<&'static str, String> {
    let c = count(records);
    let mut out = BTreeMap::new();
    if c.delivered == 0 {
        for check in super::CHECKS.iter().filter(|k| k.name.starts_with("zab.")) {
            out.insert(check.name, "no server delivered a txn".to_string());
        }
    }
    if c.writes < MIN_WRITES {
        out.insert(
            "client.linearizable",
            format!("{} answered writes (needs {MIN_WRITES})", c.writes),
        );
    }
    if c.answers < MIN_ANSWERS {
        out.insert(
            "client.sequential",
            format!("{} answered requests (needs {MIN_ANSWERS})", c.answers),
        );
    }
    if c.watch_events == 0 {
        out.insert("client.watches", "no watch fired".to_string());
    }
    if c.spout_acks == 0 {
        for check in super::CHECKS
            .iter()
            .filter(|k| k.name.starts_with("storm."))
        {
            out.insert(check.name, "no spout message was acked".to_string());
        }
    }
    if c.store_adds == 0 && !c.store_read {
        out.insert(
            "storm.word_count",
            "nothing was added to the store".to_string(),
        );
    }
    if !c.store_read {
        out.insert(
            "storm.exactly_once",
            "the state the run ended with could not be read".to_string(),
        );
    }
    if c.sequential > 0 && c.named < MIN_NAMED {
        out.insert(
            "client.sequential_names",
            format!("{} named sequential creates (needs {MIN_NAMED})", c.named),
        );
    }
    if !super::session_expiry::judgeable(records) {
        out.insert(
            "client.session_expiry",
            "no leader was established, or no session's timeout is known".to_string(),
        );
    }
    if c.ephemerals == 0 && c.session_ends == 0 {
        out.insert(
            "client.sessions",
            "no ephemeral was created and no session ended".to_string(),
        );
    }
    out
}
