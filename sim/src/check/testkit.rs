//! Hand-made histories for the checkers' tests.

use super::{run_all, CheckOptions, Verdict, Violation};
use crate::history::{body_digest, Call, ClientStatus, Event, Outcome, Record, Ret};
use zkstorm::proto::{ErrorCode, EventType};
use zkstorm::types::{SessionId, Sid, Zxid};
use zkstorm::zab::txn::{client_cxid, TxnBody};

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
            refused: false,
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
            refused: false,
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
        self.answer(client, op, session, outcome, zxid, ret, (xid, None))
    }

    /// An ok answer to op N, sent under xid N to server `server`.
    pub fn complete_on(
        &mut self,
        server: Sid,
        client: usize,
        op: u64,
        session: SessionId,
        zxid: u64,
    ) -> &mut H {
        self.answer(
            client,
            op,
            session,
            "ok",
            zxid,
            Ret::None,
            (Some(op), Some(server)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        client: usize,
        op: u64,
        session: SessionId,
        outcome: &str,
        zxid: u64,
        ret: Ret,
        (xid, server): (Option<u64>, Option<Sid>),
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
            server,
        })
    }

    /// A client's new session, granted `timeout_ms`.
    pub fn session_started(
        &mut self,
        client: usize,
        session: SessionId,
        timeout_ms: u64,
    ) -> &mut H {
        self.push(Event::ClientState {
            client,
            session,
            state: ClientStatus::SessionStarted,
            timeout_ms: Some(timeout_ms),
        })
    }

    /// A client's connection or session changed.
    pub fn client_state(
        &mut self,
        client: usize,
        session: SessionId,
        state: ClientStatus,
    ) -> &mut H {
        self.push(Event::ClientState {
            client,
            session,
            state,
            timeout_ms: None,
        })
    }

    /// `leader` proposed `session`'s request sent under `xid` (on the
    /// session's first connection) as `zxid`.
    pub fn proposed_request(
        &mut self,
        leader: Sid,
        zxid: u64,
        session: SessionId,
        xid: u64,
    ) -> &mut H {
        self.push(Event::Proposed {
            sid: leader,
            zxid,
            epoch: Zxid(zxid).epoch(),
            session,
            cxid: client_cxid(1, xid as u32),
            body: xid,
        })
    }

    /// The session closed itself: its CloseSession, under the client's
    /// `xid` (not the server's cxid of an expiry), proposed and delivered.
    pub fn client_closed(
        &mut self,
        leader: Sid,
        session: SessionId,
        zxid: u64,
        xid: u64,
    ) -> &mut H {
        let body = body_digest(&TxnBody::CloseSession);
        let cxid = client_cxid(1, xid as u32);
        self.push(Event::Proposed {
            sid: leader,
            zxid,
            epoch: Zxid(zxid).epoch(),
            session,
            cxid,
            body,
        });
        self.push(Event::Delivered {
            sid: leader,
            zxid,
            session,
            cxid,
            body,
            refused: false,
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

    /// The session's CreateSession txn (granting `timeout_ms`), proposed
    /// and delivered by `leader`.
    pub fn session_created(
        &mut self,
        leader: Sid,
        session: SessionId,
        zxid: u64,
        timeout_ms: u64,
    ) -> &mut H {
        let body = body_digest(&TxnBody::CreateSession { timeout_ms });
        self.server_txn(leader, session, zxid, body, false)
    }

    /// The session's CloseSession txn, proposed and delivered, under the
    /// server's cxid: an expiry.
    pub fn session_closed(&mut self, leader: Sid, session: SessionId, zxid: u64) -> &mut H {
        self.close_txn(leader, session, zxid, false)
    }

    /// A CloseSession txn applied but refused (the session moved): it
    /// ends nothing.
    pub fn close_refused(&mut self, leader: Sid, session: SessionId, zxid: u64) -> &mut H {
        self.close_txn(leader, session, zxid, true)
    }

    fn close_txn(&mut self, leader: Sid, session: SessionId, zxid: u64, refused: bool) -> &mut H {
        let body = body_digest(&TxnBody::CloseSession);
        self.server_txn(leader, session, zxid, body, refused)
    }

    /// A txn of the server's own (cxid 0) under `session`, proposed and
    /// delivered by `leader`.
    fn server_txn(
        &mut self,
        leader: Sid,
        session: SessionId,
        zxid: u64,
        body: u64,
        refused: bool,
    ) -> &mut H {
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
            refused,
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

/// The answer to a sequential create that got `name`.
pub fn named(name: &str) -> Ret {
    Ret::Named {
        name: name.into(),
        version: 0,
        owner: 0,
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

/// A tiny deterministic generator (splitmix64).
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A linearizable history of `n` ops by `clients` over `keys` znodes: each
/// op takes effect at a random moment between its invocation and answer,
/// other clients' steps interleaving; 1% of writes lose their answer (and
/// half of those took effect); reads follow syncs.
pub fn big_history(n: usize, clients: usize, keys: u64, seed: u64) -> H {
    big_history_lossy(n, clients, keys, seed, 1)
}

pub fn big_history_lossy(n: usize, clients: usize, keys: u64, seed: u64, lost_percent: u64) -> H {
    use std::collections::BTreeMap;
    #[derive(Clone)]
    enum Phase {
        Idle,
        Invoked(u64, Call),
        Applied(u64, String, u64, Ret),
    }
    let mut rng = Rng(seed);
    let mut h = H::new();
    let mut tree: BTreeMap<String, (String, i32)> = BTreeMap::new();
    let mut zxid = z(1, 0);
    let mut phase = vec![Phase::Idle; clients];
    let mut next_op = vec![0u64; clients];
    let mut after_sync = vec![false; clients];
    let mut done = 0;
    while done < n {
        let c = rng.below(clients as u64) as usize;
        let session = 100 + c as u64;
        match phase[c].clone() {
            Phase::Idle => {
                next_op[c] += 1;
                let op = next_op[c];
                let path = format!("/k{}", rng.below(keys));
                let value = format!("c{c}-{op}");
                let call = if after_sync[c] {
                    get(&path, false)
                } else {
                    match rng.below(10) {
                        0..=2 => create(&path, &value),
                        3..=5 => set(&path, &value),
                        6 => delete(&path),
                        7 | 8 => get(&path, false),
                        _ => Call::Sync,
                    }
                };
                after_sync[c] = matches!(call, Call::Sync);
                h.invoke(c, op, session, call.clone());
                phase[c] = Phase::Invoked(op, call);
            }
            Phase::Invoked(op, call) => {
                let lost = call.is_write() && rng.below(100) < lost_percent;
                let applies = !lost || rng.below(2) == 0;
                let path = call.path().unwrap_or("").to_string();
                let mut outcome = "ok".to_string();
                let mut ret = Ret::None;
                if applies {
                    match &call {
                        Call::Create { value, .. } => {
                            if tree.contains_key(&path) {
                                outcome = "NodeExists".into();
                            } else {
                                tree.insert(path.clone(), (value.clone(), 0));
                                ret = stat(0, 0);
                            }
                            zxid += 1;
                        }
                        Call::Set { value, .. } => {
                            match tree.get_mut(&path) {
                                Some(node) => {
                                    node.0 = value.clone();
                                    node.1 += 1;
                                    ret = stat(node.1, 0);
                                }
                                None => outcome = "NoNode".into(),
                            }
                            zxid += 1;
                        }
                        Call::Delete { .. } => {
                            if tree.remove(&path).is_none() {
                                outcome = "NoNode".into();
                            }
                            zxid += 1;
                        }
                        Call::Get { .. } => match tree.get(&path) {
                            Some((v, ver)) => ret = node(v, *ver, 0),
                            None => outcome = "NoNode".into(),
                        },
                        _ => zxid += 1,
                    }
                }
                if applies && call.is_write() {
                    h.applied(zxid, session, op);
                }
                if lost {
                    outcome = "ConnectionLoss".into();
                    ret = Ret::None;
                }
                phase[c] = Phase::Applied(op, outcome, zxid, ret);
            }
            Phase::Applied(op, outcome, at, ret) => {
                h.complete(c, op, session, &outcome, at, ret);
                phase[c] = Phase::Idle;
                done += 1;
            }
        }
    }
    h
}
