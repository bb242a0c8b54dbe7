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
        // Every way the cluster records a server going away: crash, kill,
        // power loss, pause, or its own stop ("server N stopped: ...").
        Event::Fault { what } => {
            let id = leader.to_string();
            let names = |prefix: &str| {
                what.strip_prefix(prefix)
                    .and_then(|r| r.split([' ', ':']).next())
                    == Some(id.as_str())
            };
            ["crash ", "kill ", "power loss ", "pause "]
                .iter()
                .any(|p| names(p))
                || (names("server ") && what.contains(" stopped"))
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

#[cfg(test)]
mod gone_tests {
    use super::*;

    #[test]
    fn every_way_a_leader_goes_away_ends_its_leadership() {
        let fault = |what: &str| Event::Fault { what: what.into() };
        for what in [
            "crash 3",
            "kill 3",
            "power loss 3",
            "pause 3",
            "server 3 stopped: EIO",
            "crash 3 (torn tail)",
        ] {
            assert!(ends_leadership(&fault(what), 3), "{what}");
        }
        for what in [
            "crash 31",
            "kill 2",
            "restart 3",
            "resume 3",
            "server 3 started",
            "heal",
        ] {
            assert!(!ends_leadership(&fault(what), 3), "{what}");
        }
    }
}
