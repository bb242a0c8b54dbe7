//! Hand-made histories for the checkers' tests.

use super::{run_all, CheckOptions, Verdict, Violation};
use crate::history::{body_digest, Call, Event, Outcome, Record, Ret};
use zkstorm::proto::{ErrorCode, EventType};
use zkstorm::types::{SessionId, Sid, Zxid};
use zkstorm::zab::txn::TxnBody;

pub fn z(epoch: u32, counter: u32) -> u64 {
    Zxid::new(epoch, counter).0
}

/// A history under construction; each record 1 ms after the last.
#[derive(Default)]
pub struct H {
    pub records: Vec<Record>,
    t: u64,
    /// (client, op) of invoked reads: their answers are recorded as reads.
    reads: std::collections::BTreeSet<(usize, u64)>,
}

impl H {
    pub fn new() -> H {
        H::default()
    }

    pub fn push(&mut self, event: Event) -> &mut H {
        self.t += 1;
        self.records.push(Record {
            t_ms: self.t,
            event,
        });
        self
    }

    /// Let `ms` pass.
    pub fn wait(&mut self, ms: u64) -> &mut H {
        self.t += ms;
        self
    }

    pub fn established(&mut self, sid: Sid, epoch: u32, tip: u64) -> &mut H {
        self.push(Event::Established {
            sid,
            epoch,
            zxid: tip,
        })
    }

    pub fn proposed(&mut self, sid: Sid, zxid: u64, body: u64) -> &mut H {
        self.push(Event::Proposed {
            sid,
            zxid,
            epoch: Zxid(zxid).epoch(),
            session: 1,
            cxid: zxid,
            body,
        })
    }

    pub fn delivered(&mut self, sid: Sid, zxid: u64, body: u64) -> &mut H {
        self.push(Event::Delivered {
            sid,
            zxid,
            session: 1,
            cxid: zxid,
            body,
        })
    }

    /// Server 1 applied `session`'s request `cxid` at `zxid` (`complete`
    /// records op N as sent under xid N).
    pub fn applied(&mut self, zxid: u64, session: SessionId, cxid: u64) -> &mut H {
        self.push(Event::Delivered {
            sid: 1,
            zxid,
            session,
            cxid,
            body: cxid,
        })
    }

    /// Propose `zxid` by `leader` and deliver it on `on`, in order.
    pub fn commit(&mut self, leader: Sid, zxid: u64, on: &[Sid]) -> &mut H {
        self.proposed(leader, zxid, zxid);
        for &s in on {
            self.delivered(s, zxid, zxid);
        }
        self
    }

    pub fn recovered(&mut self, sid: Sid, base: u64, last: u64) -> &mut H {
        self.push(Event::Recovered {
            sid,
            accepted_epoch: 0,
            current_epoch: 0,
            base,
            last_zxid: last,
            torn_bytes: 0,
        })
    }

    pub fn fault(&mut self, what: &str) -> &mut H {
        self.push(Event::Fault { what: what.into() })
    }

    pub fn invoke(&mut self, client: usize, op: u64, session: SessionId, call: Call) -> &mut H {
        if matches!(
            call,
            Call::Get { .. } | Call::Exists { .. } | Call::Children { .. }
        ) {
            self.reads.insert((client, op));
        }
        self.push(Event::Invoke {
            client,
            op,
            session,
            call,
        })
    }

    pub fn complete(
        &mut self,
        client: usize,
        op: u64,
        session: SessionId,
        outcome: &str,
        zxid: u64,
        ret: Ret,
    ) -> &mut H {
        self.complete_xid(client, op, session, outcome, zxid, ret, Some(op))
    }

    /// An answer to a request sent under `xid` (`None`: never sent).
    #[allow(clippy::too_many_arguments)]
    pub fn complete_xid(
        &mut self,
        client: usize,
        op: u64,
        session: SessionId,
        outcome: &str,
        zxid: u64,
        ret: Ret,
        xid: Option<u64>,
    ) -> &mut H {
        // As the workload records it: everything but a read is a write.
        let write = !self.reads.contains(&(client, op));
        self.push(Event::Complete {
            client,
            op,
            session,
            outcome: outcome_named(outcome),
            zxid,
            write,
            ret,
            xid,
        })
    }

    pub fn watch(
        &mut self,
        client: usize,
        session: SessionId,
        path: &str,
        event: &str,
        zxid: u64,
    ) -> &mut H {
        self.push(Event::Watch {
            client,
            session,
            path: path.into(),
            event: event_named(event),
            zxid,
        })
    }

    /// The session's CloseSession txn, proposed and delivered.
    pub fn session_closed(&mut self, leader: Sid, session: SessionId, zxid: u64) -> &mut H {
        let body = body_digest(&TxnBody::CloseSession);
        self.push(Event::Proposed {
            sid: leader,
            zxid,
            epoch: Zxid(zxid).epoch(),
            session,
            cxid: 0,
            body,
        });
        self.push(Event::Delivered {
            sid: leader,
            zxid,
            session,
            cxid: 0,
            body,
        })
    }

    /// The verdict of one check: `Ok` for a pass, else why (an undecided
    /// verdict says so first). Hand-made histories are small: a check that
    /// found nothing in one too small to judge counts as a pass here (the
    /// evidence rules have tests of their own).
    pub fn verdict(&self, check: &str) -> Result<(), String> {
        self.verdict_with(check, &CheckOptions::default())
    }

    pub fn verdict_with(&self, check: &str, opts: &CheckOptions) -> Result<(), String> {
        match self.full_verdict(check, opts) {
            Verdict::Pass | Verdict::Inconclusive(_) => Ok(()),
            Verdict::Fail(why) => Err(why),
            Verdict::Undecided(why) => Err(format!("undecided: {why}")),
        }
    }

    pub fn full_verdict(&self, check: &str, opts: &CheckOptions) -> Verdict {
        run_all(&self.records, opts)
            .remove(check)
            .unwrap_or_else(|| panic!("no check named {check}"))
    }

    pub fn all(&self) -> Vec<Violation> {
        super::all(&self.records, &CheckOptions::default())
    }
}

/// "ok" or an error code's name.
pub fn outcome_named(name: &str) -> Outcome {
    use ErrorCode::*;
    let codes = [
        SystemError,
        RuntimeInconsistency,
        ConnectionLoss,
        MarshallingError,
        Unimplemented,
        OperationTimeout,
        BadArguments,
        NoNode,
        BadVersion,
        NoChildrenForEphemerals,
        NodeExists,
        NotEmpty,
        SessionExpired,
        SessionMoved,
    ];
    if name == "ok" {
        return Outcome::Ok;
    }
    let code = codes.into_iter().find(|c| format!("{c:?}") == name);
    Outcome::Error(code.unwrap_or_else(|| panic!("no error code {name}")))
}

fn event_named(name: &str) -> EventType {
    use EventType::*;
    [
        NodeCreated,
        NodeDeleted,
        NodeDataChanged,
        NodeChildrenChanged,
    ]
    .into_iter()
    .find(|e| format!("{e:?}") == name)
    .unwrap_or_else(|| panic!("no event type {name}"))
}

pub fn create(path: &str, value: &str) -> Call {
    Call::Create {
        path: path.into(),
        value: value.into(),
        ephemeral: false,
        sequential: false,
    }
}

pub fn create_eph(path: &str, value: &str) -> Call {
    Call::Create {
        path: path.into(),
        value: value.into(),
        ephemeral: true,
        sequential: false,
    }
}

pub fn set(path: &str, value: &str) -> Call {
    Call::Set {
        path: path.into(),
        value: value.into(),
        version: -1,
    }
}

pub fn delete(path: &str) -> Call {
    Call::Delete {
        path: path.into(),
        version: -1,
    }
}

pub fn children(path: &str, watch: bool) -> Call {
    Call::Children {
        path: path.into(),
        watch,
    }
}

pub fn create_seq(path: &str, value: &str) -> Call {
    Call::Create {
        path: path.into(),
        value: value.into(),
        ephemeral: false,
        sequential: true,
    }
}

pub fn get(path: &str, watch: bool) -> Call {
    Call::Get {
        path: path.into(),
        watch,
    }
}

pub fn node(value: &str, version: i32, owner: SessionId) -> Ret {
    Ret::Node {
        value: value.into(),
        version,
        owner,
    }
}

pub fn stat(version: i32, owner: SessionId) -> Ret {
    Ret::Stat { version, owner }
}

#[track_caller]
pub fn assert_fails(r: Result<(), String>, needle: &str) {
    match r {
        Ok(()) => panic!("expected a failure mentioning {needle:?}, got a pass"),
        Err(e) => assert!(
            e.contains(needle),
            "failure {e:?} does not mention {needle:?}"
        ),
    }
}
