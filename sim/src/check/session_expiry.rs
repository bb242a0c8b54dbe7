//! `client.session_expiry`: a leader expires only silent sessions.
//!
//! A leader keeps a deadline per session and moves it to `now + timeout`
//! when it establishes its epoch (for every session), when it applies a
//! session's creation, and whenever it hears from the session; once the
//! deadline has passed it proposes the session's CloseSession under a cxid
//! of its own (generation 0) — an expiry, where a client's own close
//! carries its connection's generation. Of these moments the history shows
//! for certain:
//! - its `Established` record;
//! - its `Delivered` record of the session's CreateSession while it led;
//! - a request the client sent to it (recorded with the answer) that it
//!   proposed in its epoch: the request reached it while it led (a server
//!   drops its connections when it stops leading), after the client
//!   invoked it.
//!
//! A request a follower forwarded proves nothing: its touch travels in the
//! follower's next ping reply, which a crash or a cut can lose.
//!
//! The rule: a leader that expires a session at T in its epoch has seen
//! none of those moments later than T − timeout + `CLOCK_LAG_MS`.

use super::client::{ops, Op};
use super::{v, zx, Violation};
use crate::history::{body_digest, ClientStatus, Event, Record};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use zkstorm::types::{SessionId, Sid};
use zkstorm::zab::txn::{is_server_cxid, xid_of, TxnBody};

const CHECK: &str = "client.session_expiry";

/// How far a leader's clock may lag the history's when it sets a deadline:
/// the server's core reads the clock on peer messages and polls, at most
/// every 50 ms (`ServerConfig::poll_ms`), not on client messages; doubled,
/// and whole milliseconds on both sides.
pub const CLOCK_LAG_MS: u64 = 100;

/// Why a leader's deadline for a session was at least `at_ms + timeout`.
#[derive(Clone, Copy)]
enum Why {
    Established,
    Created,
    /// The op whose request reached the leader, and the zxid it got.
    Request(usize, u64),
}

#[derive(Clone, Copy)]
struct Heard {
    at_ms: u64,
    why: Why,
}

/// What one pass over the history knows so far.
#[derive(Default)]
struct Leaders {
    /// Each server's latest established epoch, and when.
    established: HashMap<Sid, (u32, u64)>,
    /// The latest moment each (leader, epoch) set a session's deadline,
    /// besides establishing.
    heard: BTreeMap<(Sid, u32, SessionId), Heard>,
}

impl Leaders {
    fn heard(&mut self, key: (Sid, u32, SessionId), at_ms: u64, why: Why) {
        let h = self.heard.entry(key).or_insert(Heard { at_ms, why });
        if at_ms >= h.at_ms {
            *h = Heard { at_ms, why };
        }
    }

    /// The latest moment `leader`, leading `epoch`, surely set `session`'s
    /// deadline.
    fn latest(&self, leader: Sid, epoch: u32, session: SessionId) -> Option<Heard> {
        let est = self
            .established
            .get(&leader)
            .filter(|(e, _)| *e == epoch)
            .map(|(_, at_ms)| Heard {
                at_ms: *at_ms,
                why: Why::Established,
            });
        let heard = self.heard.get(&(leader, epoch, session)).copied();
        match (est, heard) {
            (Some(a), Some(b)) => Some(if b.at_ms >= a.at_ms { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

pub fn session_expiry(records: &[Record]) -> Vec<Violation> {
    let ops = ops(records);
    let timeouts = timeouts(records);
    let sent = sent_to(&ops, &timeouts);
    let creates = create_digests(&timeouts);
    let close = body_digest(&TxnBody::CloseSession);
    let mut leaders = Leaders::default();
    let mut out = Vec::new();
    for r in records {
        match r.event {
            Event::Established { sid, epoch, .. } => {
                leaders.established.insert(sid, (epoch, r.t_ms));
            }
            // A server that no longer leads its epoch never proposes in it
            // again: a creation it applies then bounds nothing.
            Event::Delivered {
                sid,
                session,
                cxid,
                body,
                ..
            } if is_server_cxid(cxid) && creates.get(&session) == Some(&body) => {
                if let Some(&(epoch, _)) = leaders.established.get(&sid) {
                    leaders.heard((sid, epoch, session), r.t_ms, Why::Created);
                }
            }
            Event::Proposed {
                sid,
                zxid,
                epoch,
                session,
                cxid,
                body,
            } => {
                if !is_server_cxid(cxid) {
                    if let Some(&op) = sent.get(&(session, xid_of(cxid).into(), sid)) {
                        let invoked = records[ops[op].invoke].t_ms;
                        leaders.heard((sid, epoch, session), invoked, Why::Request(op, zxid));
                    }
                } else if body == close {
                    let Some(&timeout) = timeouts.get(&session) else {
                        continue;
                    };
                    let Some(h) = leaders.latest(sid, epoch, session) else {
                        continue;
                    };
                    if r.t_ms + CLOCK_LAG_MS < h.at_ms + timeout {
                        let expiry = (sid, epoch, session, timeout, r.t_ms, zxid);
                        out.push(v(CHECK, describe(expiry, h, &ops)));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// An early expiry, in words.
fn describe(
    (leader, epoch, session, timeout, t_ms, zxid): (Sid, u32, SessionId, u64, u64, u64),
    h: Heard,
    ops: &[Op],
) -> String {
    let since = t_ms.saturating_sub(h.at_ms);
    let what = match h.why {
        Why::Established => format!("it established epoch {epoch}"),
        Why::Created => "it applied the session's creation".to_string(),
        Why::Request(op, at) => format!(
            "{} invoked a request it sent to that leader, which proposed it at {}",
            ops[op].name(),
            zx(at)
        ),
    };
    format!(
        "leader {leader} expired session {session:#x} (timeout {timeout} ms) at {t_ms} ms \
         (txn {} in epoch {epoch}), {since} ms after {what}",
        zx(zxid)
    )
}

/// The session timeout each session was granted, as its client recorded it.
fn timeouts(records: &[Record]) -> HashMap<SessionId, u64> {
    records
        .iter()
        .filter_map(|r| match r.event {
            Event::ClientState {
                session,
                state: ClientStatus::SessionStarted,
                timeout_ms: Some(t),
                ..
            } => Some((session, t)),
            _ => None,
        })
        .collect()
}

/// Each session's CreateSession txn, as its body digest (it holds the
/// granted timeout).
fn create_digests(timeouts: &HashMap<SessionId, u64>) -> HashMap<SessionId, u64> {
    let mut by_timeout: BTreeMap<u64, u64> = BTreeMap::new();
    timeouts
        .iter()
        .map(|(s, t)| {
            let body = TxnBody::CreateSession { timeout_ms: *t };
            (
                *s,
                *by_timeout.entry(*t).or_insert_with(|| body_digest(&body)),
            )
        })
        .collect()
}

/// Requests of sessions with a known timeout that went out to a known
/// server: (session, xid, server) → op.
fn sent_to(
    ops: &[Op],
    timeouts: &HashMap<SessionId, u64>,
) -> HashMap<(SessionId, u64, Sid), usize> {
    let mut out = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        let Some(d) = &op.done else { continue };
        let (Some(xid), Some(server)) = (d.xid, d.server) else {
            continue;
        };
        if timeouts.contains_key(&op.session) {
            out.insert((op.session, xid, server), i);
        }
    }
    out
}

/// Did the history give the check anything to judge: an established
/// leader, and a session whose timeout is known?
pub fn judgeable(records: &[Record]) -> bool {
    let established = records
        .iter()
        .any(|r| matches!(r.event, Event::Established { .. }));
    established && !timeouts(records).is_empty()
}
