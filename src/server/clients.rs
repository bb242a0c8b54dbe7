//! Client connections on one server: the handshake, sessions, and the order
//! of requests. Writes go through ZAB and are answered when applied here;
//! reads are served from the local tree, but never ahead of an earlier write of
//! the same connection (FIFO per session). Answers are held until the batch
//! they belong to is durable.

use super::wire::{ClientMsg, ClientOp, ServerMsg};
use super::ClientProtocol;
use super::{ConnId, Inbox};
use crate::net::{write_batch, FrameReader, MAX_CLIENT_FRAME};
use crate::proto::{ErrorCode, EventType, OpResult, ReadOp, WatchedEvent};
use crate::tree::DataTree;
use crate::types::{SessionId, Sid, Zxid};
use crate::zab::ready::Applied;
use crate::zab::txn::{client_cxid, fence_cxid, is_server_cxid, xid_of, Request, Txn, TxnBody};
use crate::zab::Peer;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub(super) async fn accept_loop(
    listener: TcpListener,
    protocol: ClientProtocol,
    max_per_ip: u32,
    inbox: mpsc::UnboundedSender<Inbox>,
) {
    let mut next: ConnId = 0;
    let per_ip = PerIp::new(max_per_ip);
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        // Replies go out as batches, one write each (see peers::connect).
        let _ = stream.set_nodelay(true);
        let Some(slot) = per_ip.admit(from.ip()) else {
            tracing::warn!(%from, max_per_ip, "too many connections from one address (maxClientCnxns): closed");
            continue;
        };
        next += 1;
        let conn = next;
        let (tx, rx) = mpsc::unbounded_channel::<ServerMsg>();
        let addr = from.to_string();
        if inbox.send(Inbox::ClientOpen { conn, tx, addr }).is_err() {
            return;
        }
        match protocol {
            ClientProtocol::Native => serve_native(stream, conn, rx, inbox.clone(), slot),
            ClientProtocol::Jute => super::jute_port::serve(stream, conn, rx, inbox.clone(), slot),
        }
    }
}

/// Connections per client address (maxClientCnxns; 0: no limit).
#[derive(Clone)]
pub(super) struct PerIp {
    max: u32,
    open: Arc<Mutex<BTreeMap<IpAddr, u32>>>,
}

/// One admitted connection; its address's count drops when it goes.
pub(super) struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<BTreeMap<IpAddr, u32>>>,
}

impl PerIp {
    pub(super) fn new(max: u32) -> PerIp {
        PerIp {
            max,
            open: Arc::default(),
        }
    }

    pub(super) fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().expect("per-ip lock");
        let n = open.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        let open = self.open.clone();
        Some(Slot { ip, open })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("per-ip lock");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// One connection of our own client: frames in to the server, its
/// messages out as frames.
fn serve_native(
    stream: TcpStream,
    conn: ConnId,
    mut rx: mpsc::UnboundedReceiver<ServerMsg>,
    inbox: mpsc::UnboundedSender<Inbox>,
    slot: Slot,
) {
    {
        let (rd, mut wr) = tokio::io::split(stream);
        let inbox_rd = inbox.clone();
        let reader = tokio::spawn(async move {
            let mut frames = FrameReader::new(rd, MAX_CLIENT_FRAME);
            while let Ok(Some(msg)) = frames.next::<ClientMsg>().await {
                if inbox_rd.send(Inbox::Client { conn, msg }).is_err() {
                    return;
                }
            }
            let _ = inbox_rd.send(Inbox::ClientGone { conn });
        });
        tokio::spawn(async move {
            // Ends when the server drops the connection's sender: the stream
            // closes and the client sees the end.
            let mut buf = Vec::new();
            while let Some(first) = rx.recv().await {
                let more = std::iter::from_fn(|| rx.try_recv().ok());
                let batch = std::iter::once(first).chain(more);
                if write_batch(&mut wr, &mut buf, batch).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
            // The connection is closed once both halves are gone (the
            // simulator's shutdown sends no FIN; the client would only
            // notice through its own silence timer).
            reader.abort();
            drop(slot);
        });
    }
}

impl Conn {
    fn waiting(&self) -> bool {
        !self.inflight.is_empty() || self.creating.is_some() || self.revalidating.is_some()
    }

    /// A request goes into ZAB: an idle pipeline starts its clock now.
    fn start_waiting(&mut self, now_ms: u64) {
        if !self.waiting() {
            self.progress_ms = now_ms;
        }
    }
}

#[derive(Default)]
struct Conn {
    tx: Option<mpsc::UnboundedSender<ServerMsg>>,
    session: Option<SessionId>,
    /// A new session being created for this connection.
    creating: Option<SessionId>,
    /// An existing session's timeout, while ZAB confirms the session is
    /// live before this connection serves it.
    revalidating: Option<u64>,
    timeout_ms: u64,
    /// The session's owner generation this connection holds (see
    /// `Db::owners`): its requests carry it in their cxid.
    generation: u32,
    /// Writes sent into ZAB, oldest first (their cxids).
    inflight: VecDeque<u64>,
    /// When the requests this connection has in ZAB (writes, its session's
    /// creation) last made progress: submitted into an idle pipeline or one
    /// answered. Too long ago, and they are taken as lost.
    progress_ms: u64,
    /// Requests that must wait for the writes ahead of them.
    blocked: VecDeque<(u64, ClientOp)>,
    closing: bool,
    /// A Close (its xid) waiting for the blocked requests ahead of it.
    close_after: Option<u64>,
    /// The ACL identities this connection authenticated as.
    ids: Vec<crate::acl::Id>,
    /// The client's address, and what it sent and was sent (four-letter
    /// words report them).
    addr: String,
    received: u64,
    sent: u64,
    arrivals: super::client_stats::Arrivals,
}

pub(super) struct Clients {
    sid: Sid,
    conns: BTreeMap<ConnId, Conn>,
    by_session: BTreeMap<SessionId, ConnId>,
    /// Sessions reconnecting here, waiting for their confirmation: the
    /// connection and the token its fence carries.
    revalidations: BTreeMap<SessionId, (ConnId, u32)>,
    next_session: u64,
    next_fence: u32,
    out: Vec<(ConnId, ServerMsg)>,
    to_close: Vec<ConnId>,
    /// Connections whose next requests may run once the txns being applied
    /// have all fired their watches.
    to_unblock: Vec<ConnId>,
    stats: super::client_stats::ServerStats,
    /// The core's clock at the last input, for request latency.
    now_ms: u64,
}

impl Clients {
    pub(super) fn new(sid: Sid) -> Clients {
        Clients {
            sid,
            conns: BTreeMap::new(),
            by_session: BTreeMap::new(),
            revalidations: BTreeMap::new(),
            next_session: 0,
            next_fence: 0,
            out: Vec::new(),
            to_close: Vec::new(),
            to_unblock: Vec::new(),
            stats: Default::default(),
            now_ms: 0,
        }
    }

    pub(super) fn open(
        &mut self,
        conn: ConnId,
        tx: mpsc::UnboundedSender<ServerMsg>,
        addr: String,
    ) {
        let c = Conn {
            tx: Some(tx),
            addr,
            ..Conn::default()
        };
        self.conns.insert(conn, c);
    }

    /// Connections and their counts, for the four-letter words.
    pub(super) fn four_letter_counts(&self) -> super::four_letter::Snapshot {
        let mut s = super::four_letter::Snapshot::default();
        for c in self.conns.values() {
            let queued = (c.inflight.len() + c.blocked.len()) as u64;
            s.conns.push(super::four_letter::ConnInfo {
                addr: c.addr.clone(),
                received: c.received,
                sent: c.sent,
                queued,
                session: c.session.map(|id| (id, c.timeout_ms)),
            });
            s.outstanding += queued;
        }
        s.received = self.stats.received;
        s.sent = self.stats.sent;
        s.latency = self.stats.latency;
        s
    }

    /// The session each watching connection serves.
    pub(super) fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        self.conns.get(&conn).and_then(|c| c.session)
    }

    /// `crst` and `srst`.
    pub(super) fn reset_stats(&mut self, what: super::four_letter::Reset) {
        match what {
            super::four_letter::Reset::Connections => {
                for c in self.conns.values_mut() {
                    (c.received, c.sent) = (0, 0);
                }
            }
            super::four_letter::Reset::Server => self.stats = Default::default(),
        }
    }

    pub(super) fn has_output(&self) -> bool {
        !self.out.is_empty() || !self.to_close.is_empty()
    }

    /// Send what the last batch answered, then close what asked to be closed.
    pub(super) fn flush_output(&mut self) {
        for (conn, msg) in self.out.drain(..) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.sent += 1;
                self.stats.sent += 1;
                if let ServerMsg::Reply { xid, .. } = &msg {
                    if let Some(ms) = c.arrivals.answered(*xid, self.now_ms) {
                        self.stats.note_latency(ms);
                    }
                }
                if let Some(tx) = &c.tx {
                    let _ = tx.send(msg);
                }
            }
        }
        for conn in std::mem::take(&mut self.to_close) {
            if let Some(c) = self.conns.remove(&conn) {
                if let Some(s) = c.session {
                    if self.by_session.get(&s) == Some(&conn) {
                        self.by_session.remove(&s);
                    }
                }
            }
        }
    }

    fn reply(&mut self, conn: ConnId, msg: ServerMsg) {
        self.out.push((conn, msg));
    }

    fn answer(&mut self, conn: ConnId, xid: u64, zxid: Zxid, result: Result<OpResult, ErrorCode>) {
        self.answer_at(conn, xid, zxid, result, None);
    }

    /// `answer`, naming the sub-op of a failed multi.
    fn answer_at(
        &mut self,
        conn: ConnId,
        xid: u64,
        zxid: Zxid,
        result: Result<OpResult, ErrorCode>,
        failed_at: Option<usize>,
    ) {
        let failed_at = failed_at.map(|i| i as u32);
        let reply = ServerMsg::Reply {
            xid,
            zxid,
            result,
            failed_at,
        };
        self.reply(conn, reply);
    }

    fn close(&mut self, peer: &mut Peer, conn: ConnId) {
        peer.remove_watcher(conn);
        self.to_close.push(conn);
    }

    pub(super) fn gone(&mut self, peer: &mut Peer, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.close(peer, conn);
        }
    }

    /// Our link to the leader was reset: what we forwarded on it may be gone
    /// (the leader keeps only the newest connection's messages), and nothing
    /// would ever answer it. Clients waiting on ZAB lose their connection and
    /// fail over, as ZooKeeper's follower drops its clients with its leader.
    pub(super) fn forwards_lost(&mut self, peer: &mut Peer) {
        let waiting: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.waiting())
            .map(|(id, _)| *id)
            .collect();
        for conn in waiting {
            self.close(peer, conn);
        }
    }

    /// The safety net behind `forwards_lost`: a connection whose requests in
    /// ZAB made no progress for `limit_ms` is closed (ConnectionLoss), so no
    /// call waits forever on a request that was lost some other way.
    pub(super) fn expire_stalled(&mut self, peer: &mut Peer, limit_ms: u64) {
        let now = peer.now_ms();
        let stalled: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                c.waiting()
                    && now.saturating_sub(c.progress_ms) > limit_ms
                    && !self.to_close.contains(id)
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in stalled {
            tracing::debug!(
                sid = self.sid,
                conn,
                "requests stalled: closing the connection"
            );
            self.close(peer, conn);
        }
    }

    /// The server stopped serving (lost its leader): every client must move on.
    pub(super) fn drop_all(&mut self, peer: &mut Peer) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            if !self.to_close.contains(&conn) {
                self.close(peer, conn);
            }
        }
    }

    pub(super) fn on_message(&mut self, peer: &mut Peer, conn: ConnId, msg: ClientMsg) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.received += 1;
        self.stats.received += 1;
        self.now_ms = peer.now_ms();
        if let ClientMsg::Request { xid, .. } = &msg {
            c.arrivals.arrived(*xid, self.now_ms);
        }
        // Anything a session sends shows it alive, as in ZooKeeper (whose
        // clients ping only when idle).
        if let Some(s) = c.session {
            peer.touch(s);
        }
        if c.closing {
            return;
        }
        match msg {
            ClientMsg::Connect {
                session,
                timeout_ms,
                last_zxid_seen,
            } => self.connect(peer, conn, session, timeout_ms, last_zxid_seen),
            ClientMsg::Ping => {
                if c.session.is_some() {
                    let zxid = peer.applied();
                    self.reply(conn, ServerMsg::Pong { zxid });
                }
            }
            ClientMsg::Request { xid, op } => {
                if c.session.is_none() {
                    self.close(peer, conn);
                    return;
                }
                self.request(peer, conn, xid, op);
            }
            ClientMsg::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => {
                if c.session.is_some() {
                    self.set_watches(peer, conn, relative_zxid, [data, exist, child]);
                }
            }
            ClientMsg::Auth { scheme, auth } => {
                if let Some(id) = crate::acl::authenticate(&scheme, &auth) {
                    let c = self.conns.get_mut(&conn).expect("checked above");
                    if !c.ids.contains(&id) {
                        c.ids.push(id);
                    }
                }
            }
            ClientMsg::Close { xid } => {
                if c.session.is_none() {
                    return;
                }
                let c = self.conns.get_mut(&conn).expect("checked above");
                c.closing = true;
                if c.blocked.is_empty() {
                    self.submit_close(peer, conn, xid);
                } else {
                    // FIFO: requests asked before the close are served before
                    // it, not failed by it (see `unblock`).
                    c.close_after = Some(xid);
                }
            }
        }
    }

    fn submit_close(&mut self, peer: &mut Peer, conn: ConnId, xid: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(session) = c.session else { return };
        c.start_waiting(peer.now_ms());
        let cxid = client_cxid(c.generation, xid as u32);
        c.inflight.push_back(cxid);
        let req = Request {
            session,
            cxid,
            body: TxnBody::CloseSession,
        };
        if peer.submit(req).is_err() {
            self.close(peer, conn);
        }
    }

    /// Re-arm a reconnecting client's watches, or fire those whose change
    /// this server has applied since `rel` (the newest zxid the client saw).
    fn set_watches(
        &mut self,
        peer: &mut Peer,
        conn: ConnId,
        rel: Zxid,
        [data, exist, child]: [Vec<String>; 3],
    ) {
        let applied = peer.applied();
        let exists = |path: &str, watch: bool| ReadOp::Exists {
            path: path.into(),
            watch,
        };
        let mut stat_of = |path: &str| match peer.read(&exists(path, false), conn, &[]) {
            Ok(OpResult::Exists(stat)) => stat,
            _ => None,
        };
        let mut fired = Vec::new();
        let mut arm = Vec::new();
        for path in data {
            match stat_of(&path) {
                None => fired.push((EventType::NodeDeleted, path)),
                Some(st) if st.mzxid > rel => fired.push((EventType::NodeDataChanged, path)),
                Some(_) => arm.push(exists(&path, true)),
            }
        }
        for path in exist {
            match stat_of(&path) {
                Some(_) => fired.push((EventType::NodeCreated, path)),
                None => arm.push(exists(&path, true)),
            }
        }
        for path in child {
            match stat_of(&path) {
                None => fired.push((EventType::NodeDeleted, path)),
                Some(st) if st.pzxid > rel => fired.push((EventType::NodeChildrenChanged, path)),
                Some(_) => arm.push(ReadOp::GetChildren { path, watch: true }),
            }
        }
        for read in arm {
            let _ = peer.read(&read, conn, &[]);
        }
        // Changes in between may have been collapsed: an event fired here
        // carries this server's applied zxid (never below what the client has
        // seen), not the zxid of the first change it stands for.
        for (event, path) in fired {
            let zxid = applied;
            self.reply(conn, ServerMsg::Watch(WatchedEvent { event, path, zxid }));
        }
    }

    fn connect(
        &mut self,
        peer: &mut Peer,
        conn: ConnId,
        session: SessionId,
        timeout_ms: u64,
        seen: Zxid,
    ) {
        if !peer.is_serving() || seen > peer.applied() {
            // Behind the client (or leaderless): it must try another server.
            self.reply(conn, ServerMsg::Refused);
            self.close(peer, conn);
            return;
        }
        if session != 0 {
            match peer.session_timeout(session) {
                Some(timeout_ms) => self.revalidate(peer, conn, session, timeout_ms),
                None => {
                    self.reply(conn, ServerMsg::Expired);
                    self.close(peer, conn);
                }
            }
            return;
        }
        let timeout_ms = peer.config().clamp_session_timeout(timeout_ms);
        let id = self.new_session_id(peer);
        let c = self.conns.get_mut(&conn).expect("open connection");
        c.start_waiting(peer.now_ms());
        c.creating = Some(id);
        c.timeout_ms = timeout_ms;
        self.by_session.insert(id, conn);
        let req = Request {
            session: id,
            cxid: 0,
            body: TxnBody::CreateSession { timeout_ms },
        };
        if peer.submit(req).is_err() {
            self.close(peer, conn);
        }
    }

    /// Serve a reconnecting session only once a quorum has ordered a sync
    /// under it: applied before any close or expiry of it, the sync
    /// succeeds; after one, it fails and the client hears its session
    /// expired. This server's own view may be stale — cut off from the
    /// leader, it has not seen the expiry yet (ZooKeeper's followers ask
    /// the leader to revalidate). Without this, a client whose session had
    /// expired reattached through a cut-off server and acted on its stale
    /// state (a Nimbus led on a leader-lock node that no longer existed).
    fn revalidate(&mut self, peer: &mut Peer, conn: ConnId, session: SessionId, timeout_ms: u64) {
        let c = self.conns.get_mut(&conn).expect("open connection");
        c.start_waiting(peer.now_ms());
        c.revalidating = Some(timeout_ms);
        let token = self.fence_token(peer);
        if let Some((old, _)) = self
            .revalidations
            .insert(session, (conn, token))
            .filter(|(o, _)| *o != conn)
        {
            self.to_close.push(old);
        }
        let req = Request {
            session,
            cxid: fence_cxid(token),
            body: TxnBody::Sync,
        };
        if peer.submit(req).is_err() {
            self.revalidations.remove(&session);
            self.close(peer, conn);
        }
    }

    /// The reconnecting session's sync was applied: serve it, or tell the
    /// client it expired.
    fn revalidated(
        &mut self,
        peer: &mut Peer,
        conn: ConnId,
        session: SessionId,
        generation: Option<u32>,
    ) {
        let Some(timeout_ms) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.revalidating.take())
        else {
            return;
        };
        let Some(generation) = generation else {
            self.reply(conn, ServerMsg::Expired);
            self.close(peer, conn);
            return;
        };
        self.attach(conn, session, timeout_ms, generation);
        peer.touch(session);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.progress_ms = peer.now_ms();
        }
        let reply = ServerMsg::Connected {
            session,
            timeout_ms,
        };
        self.reply(conn, reply);
    }

    /// Session ids: server id in the top byte, then this server's clock and a
    /// counter — unique across restarts as long as the clock moves forward.
    fn new_session_id(&mut self, peer: &Peer) -> SessionId {
        let base = (peer.now_ms() & 0xFF_FFFF_FFFF) << 16;
        self.next_session = self.next_session.max(base) + 1;
        (self.sid << 56) | (self.next_session & ((1 << 56) - 1))
    }

    /// A reconnect's fence token: this server's id in the top byte, so no
    /// other server's fence answers a reconnect here, and a counter started
    /// from the clock, so neither does one from before a restart.
    fn fence_token(&mut self, peer: &Peer) -> u32 {
        let clock = (peer.now_ms() & 0xFF_FFFF) as u32;
        self.next_fence = (self.next_fence.max(clock) + 1) & 0xFF_FFFF;
        ((self.sid as u32 & 0xFF) << 24) | self.next_fence
    }

    fn attach(&mut self, conn: ConnId, session: SessionId, timeout_ms: u64, generation: u32) {
        if let Some(old) = self.by_session.insert(session, conn) {
            if old != conn {
                // The client moved to a new connection here; the old one is dead.
                self.to_close.push(old);
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(session);
            c.timeout_ms = timeout_ms;
            c.generation = generation;
        }
    }

    fn request(&mut self, peer: &mut Peer, conn: ConnId, xid: u64, op: ClientOp) {
        let c = self.conns.get_mut(&conn).expect("open connection");
        if !c.blocked.is_empty() || (matches!(op, ClientOp::Read(_)) && !c.inflight.is_empty()) {
            c.blocked.push_back((xid, op));
            return;
        }
        self.start(peer, conn, xid, op);
    }

    /// Serve a read now, or send a write into ZAB.
    fn start(&mut self, peer: &mut Peer, conn: ConnId, xid: u64, op: ClientOp) {
        let c = self.conns.get_mut(&conn).expect("open connection");
        let session = c.session.expect("requests need a session");
        let body = match op {
            ClientOp::Read(read) => {
                let result = peer.read(&read, conn, &c.ids);
                let zxid = peer.applied();
                self.answer(conn, xid, zxid, result);
                return;
            }
            ClientOp::Write(w) => {
                if let Err(e) = DataTree::validate_write(&w) {
                    if c.inflight.is_empty() {
                        let zxid = peer.applied();
                        self.answer(conn, xid, zxid, Err(e));
                    } else {
                        // Keep FIFO: answer after the writes ahead of it.
                        c.blocked.push_front((xid, ClientOp::Write(w)));
                    }
                    return;
                }
                TxnBody::Write {
                    op: w,
                    ids: (!c.ids.is_empty()).then(|| Box::new(c.ids.clone())),
                }
            }
            ClientOp::Sync => TxnBody::Sync,
        };
        c.start_waiting(peer.now_ms());
        let cxid = client_cxid(c.generation, xid as u32);
        c.inflight.push_back(cxid);
        let req = Request {
            session,
            cxid,
            body,
        };
        if peer.submit(req).is_err() {
            let zxid = peer.applied();
            self.answer(conn, xid, zxid, Err(ErrorCode::ConnectionLoss));
            self.close(peer, conn);
        }
    }

    /// Run what was waiting behind finished writes.
    fn unblock(&mut self, peer: &mut Peer, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let Some((_, op)) = c.blocked.front() else {
                if let Some(xid) = c.close_after.take() {
                    self.submit_close(peer, conn, xid);
                }
                return;
            };
            let invalid_write =
                matches!(op, ClientOp::Write(w) if DataTree::validate_write(w).is_err());
            let must_wait =
                (matches!(op, ClientOp::Read(_)) || invalid_write) && !c.inflight.is_empty();
            if must_wait {
                return;
            }
            let (xid, op) = c.blocked.pop_front().expect("front exists");
            self.start(peer, conn, xid, op);
        }
    }

    /// Txns applied here together: each fires its watches and answers its
    /// client, and only then do reads waiting behind those answers run —
    /// they see the state after all of them, so all their events go first.
    /// Each txn goes to `done` once answered (the observer's, without a copy).
    pub(super) fn on_applied_all(
        &mut self,
        peer: &mut Peer,
        applied: Vec<Applied>,
        mut done: impl FnMut(Arc<Txn>, bool),
    ) {
        self.now_ms = peer.now_ms();
        for a in applied {
            let refused = a.refused();
            done(self.on_applied(peer, a), refused);
        }
        for conn in std::mem::take(&mut self.to_unblock) {
            self.unblock(peer, conn);
        }
    }

    /// A txn was applied here: fire watches, then answer its client if
    /// connected here (a watch event goes before any answer that shows the
    /// change, the writer's own included).
    fn on_applied(&mut self, peer: &mut Peer, a: Applied) -> Arc<Txn> {
        let Applied {
            txn,
            result,
            watches,
            failed_at,
        } = a;
        // Injected bug (sim only): the answer first.
        if crate::bugs::on(crate::bugs::Bug::WatchAfterReply) {
            self.answer_txn(peer, &txn, result, failed_at);
            self.fire(watches);
        } else {
            self.fire(watches);
            self.answer_txn(peer, &txn, result, failed_at);
        }
        txn
    }

    /// A reconnect's fence was applied: it answers the reconnect here that
    /// asked for it, if any (matched by its token: a client that reconnects
    /// again before its first fence lands must not be attached by that one,
    /// with a generation the second fence then moves past).
    fn fenced(
        &mut self,
        peer: &mut Peer,
        session: SessionId,
        cxid: u64,
        result: Result<OpResult, ErrorCode>,
    ) {
        // Injected bug (sim only): any fence answers the newest reconnect.
        let by_session = crate::bugs::on(crate::bugs::Bug::SessionMovedKeepsConnection);
        let conn = match self.revalidations.get(&session) {
            Some(&(conn, token)) if by_session || fence_cxid(token) == cxid => conn,
            _ => return,
        };
        self.revalidations.remove(&session);
        let generation = match result {
            Ok(OpResult::Attached { generation }) => Some(generation),
            _ => None,
        };
        self.revalidated(peer, conn, session, generation);
    }

    fn fire(&mut self, watches: Vec<(ConnId, WatchedEvent)>) {
        for (watcher, event) in watches {
            if self.conns.contains_key(&watcher) {
                self.reply(watcher, ServerMsg::Watch(event));
            }
        }
    }

    fn answer_txn(
        &mut self,
        peer: &mut Peer,
        txn: &Txn,
        result: Result<OpResult, ErrorCode>,
        failed_at: Option<usize>,
    ) {
        let session = txn.session;
        if matches!(txn.body, TxnBody::Sync) && is_server_cxid(txn.cxid) {
            self.fenced(peer, session, txn.cxid, result);
            return;
        }
        if matches!(txn.body, TxnBody::CloseSession) {
            // Closed before a reconnect's fence, which would fail on it.
            if let Some((conn, _)) = self.revalidations.remove(&session) {
                self.revalidated(peer, conn, session, None);
            }
        }
        let Some(&conn) = self.by_session.get(&session) else {
            return;
        };
        let zxid = txn.zxid;
        match &txn.body {
            &TxnBody::CreateSession { timeout_ms } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.creating == Some(session) {
                    c.creating = None;
                    self.attach(conn, session, timeout_ms, 1);
                    self.reply(
                        conn,
                        ServerMsg::Connected {
                            session,
                            timeout_ms,
                        },
                    );
                }
            }
            TxnBody::CloseSession => {
                let closing_here = self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.closing && c.inflight.front() == Some(&txn.cxid));
                if closing_here {
                    let xid = xid_of(txn.cxid).into();
                    self.answer(conn, xid, zxid, result);
                } else {
                    self.reply(conn, ServerMsg::Expired);
                }
                self.close(peer, conn);
            }
            TxnBody::Write { .. } | TxnBody::Sync => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.inflight.front() != Some(&txn.cxid) {
                    return;
                }
                if result == Err(ErrorCode::SessionMoved)
                    && !crate::bugs::on(crate::bugs::Bug::SessionMovedKeepsConnection)
                {
                    // A reconnect elsewhere owns the session now: end this
                    // connection unanswered, as ZooKeeper does (its
                    // ZOOKEEPER-710), so the client reconnects and owns its
                    // session again instead of being refused forever.
                    self.close(peer, conn);
                    return;
                }
                c.inflight.pop_front();
                c.progress_ms = peer.now_ms();
                let xid = xid_of(txn.cxid).into();
                self.answer_at(conn, xid, zxid, result, failed_at);
                self.to_unblock.push(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{CreateMode, ReadOp, WriteOp};
    use crate::zab::db::Db;
    use crate::zab::PeerConfig;

    /// A lone voter leads and serves at once.
    fn serving_peer() -> Peer {
        let mut p = Peer::new(PeerConfig::new(1, [1].into()), 0, 0, Db::empty(), 0);
        p.tick(1_000); // past the election's finalize wait
        while p.has_ready() {
            let r = p.take_ready();
            p.persisted(r.log_mark);
        }
        assert!(p.is_serving());
        p
    }

    /// Carry the core's batches out as a driver would, with an instant disk.
    fn drive(p: &mut Peer, c: &mut Clients) {
        while p.has_ready() {
            let r = p.take_ready();
            p.persisted(r.log_mark);
            c.on_applied_all(p, r.applied, |_, _| {});
        }
        c.flush_output();
    }

    fn connected(p: &mut Peer, c: &mut Clients) -> mpsc::UnboundedReceiver<ServerMsg> {
        connected_as(p, c, 1)
    }

    /// A new session on connection `conn`.
    fn connected_as(
        p: &mut Peer,
        c: &mut Clients,
        conn: ConnId,
    ) -> mpsc::UnboundedReceiver<ServerMsg> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        c.open(conn, tx, String::new());
        let hello = ClientMsg::Connect {
            session: 0,
            timeout_ms: 4_000,
            last_zxid_seen: Zxid::ZERO,
        };
        c.on_message(p, conn, hello);
        drive(p, c);
        assert!(matches!(rx.try_recv(), Ok(ServerMsg::Connected { .. })));
        rx
    }

    fn write(xid: u64) -> ClientMsg {
        let op = ClientOp::Write(WriteOp::Create {
            path: format!("/n{xid}"),
            data: Some(vec![]),
            mode: CreateMode::Persistent,
            acl: None,
        });
        ClientMsg::Request { xid, op }
    }

    /// The request is in ZAB; its answer will never come (lost with a link).
    fn closed(rx: &mut mpsc::UnboundedReceiver<ServerMsg>) -> bool {
        matches!(
            rx.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)
        )
    }

    fn reconnect(
        c: &mut Clients,
        p: &mut Peer,
        conn: ConnId,
        session: SessionId,
    ) -> mpsc::UnboundedReceiver<ServerMsg> {
        let (tx, rx) = mpsc::unbounded_channel();
        c.open(conn, tx, String::new());
        let hello = ClientMsg::Connect {
            session,
            timeout_ms: 4_000,
            last_zxid_seen: Zxid::ZERO,
        };
        c.on_message(p, conn, hello);
        c.flush_output();
        rx
    }

    /// A session reconnecting is served only once ZAB has ordered a sync
    /// under it: this server's view of the session may be stale.
    #[test]
    fn a_reconnecting_session_is_served_once_a_quorum_confirms_it() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let _rx1 = connected(&mut p, &mut c);
        let session = c.conns[&1].session.expect("attached");
        let mut rx2 = reconnect(&mut c, &mut p, 2, session);
        assert!(
            rx2.try_recv().is_err(),
            "answered before ZAB confirmed the session"
        );
        drive(&mut p, &mut c);
        assert!(
            matches!(rx2.try_recv(), Ok(ServerMsg::Connected { session: s, .. }) if s == session)
        );
    }

    /// The client reconnects twice while the first reconnect's fence is
    /// still in flight: the connection it stays on owns the session (each
    /// fence answers the connection that asked for it, not whichever one
    /// reconnected last).
    #[test]
    fn the_last_of_two_reconnects_in_flight_owns_the_session() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let _rx1 = connected(&mut p, &mut c);
        let session = c.conns[&1].session.expect("attached");
        let _rx2 = reconnect(&mut c, &mut p, 2, session);
        let mut rx3 = reconnect(&mut c, &mut p, 3, session);
        drive(&mut p, &mut c);
        assert!(
            matches!(rx3.try_recv(), Ok(ServerMsg::Connected { session: s, .. }) if s == session)
        );
        c.on_message(&mut p, 3, write(1));
        drive(&mut p, &mut c);
        let got = rx3.try_recv();
        assert!(
            matches!(
                got,
                Ok(ServerMsg::Reply {
                    xid: 1,
                    result: Ok(_),
                    ..
                })
            ),
            "the session's own connection got {got:?}"
        );
    }

    /// Another server's reconnect moved the session: this connection's
    /// next write is refused (SessionMoved), and the connection ends with
    /// it, as ZooKeeper's does (ZOOKEEPER-710) — the client reconnects and
    /// owns its session again instead of being refused forever.
    #[test]
    fn a_connection_whose_session_moved_away_ends() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let mut rx1 = connected(&mut p, &mut c);
        let session = c.conns[&1].session.expect("attached");
        let elsewhere = Request {
            session,
            cxid: fence_cxid(0x0200_0001),
            body: TxnBody::Sync,
        };
        p.submit(elsewhere).expect("a leader takes it");
        drive(&mut p, &mut c);
        c.on_message(&mut p, 1, write(1));
        drive(&mut p, &mut c);
        assert!(
            matches!(rx1.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)),
            "the connection the session left must end, unanswered"
        );
    }

    /// ZooKeeper's clients ping only when idle: any request keeps a session
    /// alive, or a client busy reading would see its session expire.
    #[test]
    fn requests_keep_a_session_alive_without_pings() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let _rx = connected(&mut p, &mut c);
        let session = c.conns[&1].session.expect("attached");
        let timeout = c.conns[&1].timeout_ms;
        let read = |xid| ClientMsg::Request {
            xid,
            op: ClientOp::Read(ReadOp::Exists {
                path: "/".into(),
                watch: false,
            }),
        };
        let start = p.now_ms();
        for step in 1..=(4 * timeout / 200) {
            let now = start + step * 200;
            p.tick(now);
            c.on_message(&mut p, 1, read(step));
            drive(&mut p, &mut c);
        }
        assert!(
            p.session_timeout(session).is_some(),
            "a session busy reading expired"
        );
    }

    #[test]
    fn connections_per_address_are_limited_and_freed() {
        let per_ip = PerIp::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = per_ip.admit(a).expect("1 of 2");
        let _second = per_ip.admit(a).expect("2 of 2");
        assert!(per_ip.admit(a).is_none(), "a third from one address");
        assert!(
            per_ip.admit(b).is_some(),
            "another address has its own count"
        );
        drop(first);
        assert!(
            per_ip.admit(a).is_some(),
            "a closed connection frees its place"
        );
        let unlimited = PerIp::new(0);
        let held: Vec<_> = (0..100).map(|_| unlimited.admit(a)).collect();
        assert!(held.iter().all(Option::is_some), "0: no limit");
    }

    /// kazoo and zkCli start their xids at 1 on every connection: after a
    /// reconnect the same xids are new requests, served, not refused.
    #[test]
    fn a_reconnected_session_may_use_its_xids_again() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let mut rx1 = connected(&mut p, &mut c);
        let session = c.conns[&1].session.expect("attached");
        for xid in 1..=3 {
            c.on_message(&mut p, 1, write(xid));
        }
        drive(&mut p, &mut c);
        let ok = |m| matches!(m, Ok(ServerMsg::Reply { result: Ok(_), .. }));
        assert!((0..3).all(|_| ok(rx1.try_recv())));
        let mut rx2 = reconnect(&mut c, &mut p, 2, session);
        drive(&mut p, &mut c);
        assert!(matches!(rx2.try_recv(), Ok(ServerMsg::Connected { .. })));
        let again = ClientMsg::Request {
            xid: 1,
            op: ClientOp::Write(WriteOp::Create {
                path: "/again".into(),
                data: Some(vec![]),
                mode: CreateMode::Persistent,
                acl: None,
            }),
        };
        c.on_message(&mut p, 2, again);
        drive(&mut p, &mut c);
        let got = rx2.try_recv();
        assert!(
            matches!(
                got,
                Ok(ServerMsg::Reply {
                    xid: 1,
                    result: Ok(OpResult::Created { .. }),
                    ..
                })
            ),
            "{got:?}"
        );
    }

    /// Closed in ZAB's order before the reconnect's sync: the client hears
    /// its session expired, though this server still knew it when asked.
    #[test]
    fn a_session_closed_before_its_reconnect_is_confirmed_is_expired() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let _rx1 = connected(&mut p, &mut c);
        let session = c.conns[&1].session.expect("attached");
        c.on_message(&mut p, 1, ClientMsg::Close { xid: 1 });
        let mut rx2 = reconnect(&mut c, &mut p, 2, session);
        drive(&mut p, &mut c);
        assert!(
            matches!(rx2.try_recv(), Ok(ServerMsg::Expired)),
            "a closed session was served"
        );
    }

    #[test]
    fn a_reset_link_to_the_leader_ends_the_calls_waiting_on_it() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let mut rx = connected(&mut p, &mut c);
        c.on_message(&mut p, 1, write(1));
        let _ = p.take_ready(); // the forward is lost: never applied
        c.forwards_lost(&mut p);
        c.flush_output();
        assert!(closed(&mut rx), "the client must see its connection end");
    }

    #[test]
    fn an_idle_connection_survives_a_reset_link() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let mut rx = connected(&mut p, &mut c);
        c.forwards_lost(&mut p);
        c.flush_output();
        assert!(!closed(&mut rx));
    }

    #[test]
    fn requests_that_stall_past_the_limit_end_their_connection() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let mut rx = connected(&mut p, &mut c);
        // Answered writes are progress.
        c.on_message(&mut p, 1, write(1));
        drive(&mut p, &mut c);
        assert!(matches!(rx.try_recv(), Ok(ServerMsg::Reply { xid: 1, .. })));
        p.set_now(10_000);
        c.expire_stalled(&mut p, 1_000);
        c.flush_output();
        assert!(!closed(&mut rx), "nothing was waiting");
        // A write lost somewhere: within the limit it waits, past it the
        // connection ends.
        c.on_message(&mut p, 1, write(2));
        let _ = p.take_ready();
        p.set_now(10_900);
        c.expire_stalled(&mut p, 1_000);
        c.flush_output();
        assert!(!closed(&mut rx));
        p.set_now(11_001);
        c.expire_stalled(&mut p, 1_000);
        c.flush_output();
        assert!(closed(&mut rx));
    }

    fn session_msgs(rx: &mut mpsc::UnboundedReceiver<ServerMsg>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(match m {
                ServerMsg::Reply { xid, zxid, .. } => format!("reply {xid} at {}", zxid.0),
                ServerMsg::Watch(w) => format!("watch {} at {}", w.path, w.zxid.0),
                other => format!("{other:?}"),
            });
        }
        out
    }

    /// A read waiting behind a session's write is answered only once every
    /// txn applied with that write has fired its watches: the read shows the
    /// state after all of them, so their events go first (a client sees a
    /// watch event before any answer at a later zxid).
    #[test]
    fn a_read_unblocked_by_a_write_waits_for_the_watches_of_its_batch() {
        let mut p = serving_peer();
        let mut c = Clients::new(1);
        let mut rx1 = connected(&mut p, &mut c);
        let _rx2 = connected_as(&mut p, &mut c, 2);
        let exists = |xid, path: &str| ClientMsg::Request {
            xid,
            op: ClientOp::Read(ReadOp::Exists {
                path: path.into(),
                watch: true,
            }),
        };
        c.on_message(&mut p, 1, exists(10, "/n2"));
        drive(&mut p, &mut c);
        let _ = session_msgs(&mut rx1);
        // Session 1: a write, and a read behind it; session 2: a write that
        // fires session 1's watch, applied in the same batch.
        c.on_message(&mut p, 1, write(1));
        c.on_message(&mut p, 1, exists(11, "/nothing"));
        c.on_message(&mut p, 2, write(2));
        drive(&mut p, &mut c);
        let got = session_msgs(&mut rx1);
        let at = |what: &str| got.iter().position(|m| m.starts_with(what));
        let (watch, read) = (at("watch /n2"), at("reply 11"));
        assert!(watch.is_some() && read.is_some(), "{got:?}");
        assert!(watch < read, "{got:?}");
    }
}
