//! The run's history: every protocol event, delivery, fault and client
//! operation, stamped with simulated time. Checkers judge it; its hash is the
//! run's trace hash (same seed ⇒ same hash).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use zkstorm::server::{Observer, Recovery, Status};
use zkstorm::types::{SessionId, Sid};
use zkstorm::zab::ready::ZabEvent;
use zkstorm::zab::txn::{Txn, TxnBody};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A server started from its disk; its applied sequence restarts after `base`.
    Recovered {
        sid: Sid,
        accepted_epoch: u32,
        current_epoch: u32,
        base: u64,
        last_zxid: u64,
        torn_bytes: u64,
    },
    /// A ZAB core event (leading, following, established, sync, ...).
    Zab {
        sid: Sid,
        what: String,
    },
    Established {
        sid: Sid,
        epoch: u32,
        zxid: u64,
    },
    Proposed {
        sid: Sid,
        zxid: u64,
        epoch: u32,
    },
    /// The server's applied sequence restarts (recovery or SNAP) after `base`.
    Reset {
        sid: Sid,
        base: u64,
    },
    Delivered {
        sid: Sid,
        zxid: u64,
        session: SessionId,
        cxid: u64,
        /// A digest of the txn body, to check every server applied the same txn.
        body: u64,
    },
    Fault {
        what: String,
    },
    Invoke {
        client: usize,
        op: u64,
        session: SessionId,
        desc: String,
    },
    Complete {
        client: usize,
        op: u64,
        session: SessionId,
        /// "ok", or an error code name.
        outcome: String,
        zxid: u64,
        write: bool,
    },
    Watch {
        client: usize,
        path: String,
        event: String,
        zxid: u64,
    },
    ClientState {
        client: usize,
        state: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub t_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Default)]
struct Inner {
    records: Vec<Record>,
    hash: u64,
    status: BTreeMap<Sid, Status>,
}

/// Shared by every node and client of one run.
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Mutex<Inner>>,
    start_ms: u64,
    want_digest: Arc<std::sync::atomic::AtomicBool>,
}

fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    let mut h = if hash == 0 {
        0xcbf2_9ce4_8422_2325
    } else {
        hash
    };
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A stable digest of a txn body.
pub fn body_digest(body: &TxnBody) -> u64 {
    fnv(0, &bincode_like(body))
}

fn bincode_like(body: &TxnBody) -> Vec<u8> {
    format!("{body:?}").into_bytes()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl History {
    pub fn new() -> History {
        History {
            start_ms: now_ms(),
            ..History::default()
        }
    }

    pub fn record(&self, event: Event) {
        let t_ms = now_ms().saturating_sub(self.start_ms);
        let rec = Record { t_ms, event };
        let mut inner = self.inner.lock().expect("history lock");
        let line = format!("{} {:?}", rec.t_ms, rec.event);
        inner.hash = fnv(inner.hash, line.as_bytes());
        inner.records.push(rec);
    }

    pub fn records(&self) -> Vec<Record> {
        self.inner.lock().expect("history lock").records.clone()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("history lock").records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hash of every record so far, in order.
    pub fn trace_hash(&self) -> u64 {
        self.inner.lock().expect("history lock").hash
    }

    pub fn status(&self) -> BTreeMap<Sid, Status> {
        self.inner.lock().expect("history lock").status.clone()
    }

    pub fn forget_status(&self, sid: Sid) {
        self.inner.lock().expect("history lock").status.remove(&sid);
    }

    /// Ask servers to include their tree digest in status reports.
    pub fn want_digests(&self, on: bool) {
        self.want_digest
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn fault(&self, what: impl Into<String>) {
        self.record(Event::Fault { what: what.into() });
    }
}

impl Observer for History {
    fn zab_event(&self, sid: Sid, event: &ZabEvent) {
        match event {
            ZabEvent::Established { epoch, zxid } => self.record(Event::Established {
                sid,
                epoch: *epoch,
                zxid: zxid.0,
            }),
            ZabEvent::Proposed { zxid, epoch } => self.record(Event::Proposed {
                sid,
                zxid: zxid.0,
                epoch: *epoch,
            }),
            ZabEvent::SnapshotInstalled { zxid } => self.record(Event::Reset { sid, base: zxid.0 }),
            other => self.record(Event::Zab {
                sid,
                what: format!("{other:?}"),
            }),
        }
    }

    fn delivered(&self, sid: Sid, txn: &Txn) {
        self.record(Event::Delivered {
            sid,
            zxid: txn.zxid.0,
            session: txn.session,
            cxid: txn.cxid,
            body: body_digest(&txn.body),
        });
    }

    fn recovered(&self, sid: Sid, r: &Recovery) {
        self.record(Event::Recovered {
            sid,
            accepted_epoch: r.accepted_epoch,
            current_epoch: r.current_epoch,
            base: r.snapshot_zxid.0,
            last_zxid: r.last_logged.0,
            torn_bytes: r.torn_bytes,
        });
    }

    fn wants_digest(&self) -> bool {
        self.want_digest.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn status(&self, sid: Sid, status: &Status) {
        let mut inner = self.inner.lock().expect("history lock");
        inner.status.insert(sid, status.clone());
    }
}
