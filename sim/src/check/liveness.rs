//! `liveness`: once the last fault has healed, the ensemble recovers within
//! a bound — some server is an established leader at a moment in
//! `[healed, healed + bound]`, and a client op completes ok in that window.

use super::{v, CheckOptions, Violation};
use crate::history::{Event, Record};
use zkstorm::types::Sid;

const CHECK: &str = "liveness";

/// Does this record end `leader`'s leadership?
fn ends_leadership(event: &Event, leader: Sid) -> bool {
    match event {
        Event::Zab { sid, what } => {
            *sid == leader && (what.starts_with("Looking") || what.starts_with("SteppedDown"))
        }
        Event::Recovered { sid, .. } => *sid == leader,
        Event::Fault { what } => {
            let mut words = what.split_whitespace();
            words.next() == Some("crash") && words.next() == Some(leader.to_string().as_str())
        }
        _ => false,
    }
}

pub fn liveness(records: &[Record], opts: &CheckOptions) -> Vec<Violation> {
    let healed = opts.healed_at_ms.unwrap_or_else(|| {
        records
            .iter()
            .rev()
            .find(|r| matches!(r.event, Event::Fault { .. }))
            .map_or(0, |r| r.t_ms)
    });
    let deadline = healed.saturating_add(opts.liveness_bound_ms);
    let mut leader: Option<Sid> = None;
    let mut led = false;
    let mut ok_op = false;
    let mut last_t = 0;
    for r in records {
        last_t = r.t_ms;
        if r.t_ms > deadline {
            break;
        }
        if let Some(l) = leader {
            if ends_leadership(&r.event, l) {
                leader = None;
            }
        }
        if let Event::Established { sid, .. } = &r.event {
            leader = Some(*sid);
        }
        if r.t_ms >= healed {
            led |= leader.is_some();
            if let Event::Complete { outcome, .. } = &r.event {
                ok_op |= outcome == "ok";
            }
        }
    }
    let mut out = Vec::new();
    let window = format!(
        "within {} ms of the last fault healing at {} ms",
        opts.liveness_bound_ms, healed
    );
    if !led {
        out.push(v(CHECK, format!("no leader was established {window}")));
    }
    if !ok_op {
        let cut = if last_t < deadline {
            format!(" (the history ends at {last_t} ms)")
        } else {
            String::new()
        };
        out.push(v(CHECK, format!("no client op completed ok {window}{cut}")));
    }
    out
}
