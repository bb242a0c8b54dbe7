//! What the four-letter words count of client traffic: packets in and out
//! and request latency, server-wide (reset by `srst`); the per-connection
//! counts live on each connection (reset by `crst`).

use std::collections::VecDeque;

#[derive(Clone, Debug, Default)]
pub(super) struct ServerStats {
    pub received: u64,
    pub sent: u64,
    /// Request latency in ms: (min, total, count, max).
    pub latency: (u64, u64, u64, u64),
}

impl ServerStats {
    pub fn note_latency(&mut self, ms: u64) {
        let (min, total, count, max) = self.latency;
        let min = if count == 0 { ms } else { min.min(ms) };
        self.latency = (min, total + ms, count + 1, max.max(ms));
    }
}

/// A connection's requests awaiting their replies: (xid, arrival ms).
#[derive(Clone, Debug, Default)]
pub(super) struct Arrivals(VecDeque<(u64, u64)>);

impl Arrivals {
    pub fn arrived(&mut self, xid: u64, now_ms: u64) {
        self.0.push_back((xid, now_ms));
    }

    /// The reply to `xid` goes out: how long it took. Replies come in
    /// request order; a request passed over was never answered (the
    /// connection moved on without it) and is dropped.
    pub fn answered(&mut self, xid: u64, now_ms: u64) -> Option<u64> {
        while let Some((x, at)) = self.0.pop_front() {
            if x == xid {
                return Some(now_ms.saturating_sub(at));
            }
        }
        None
    }
}
