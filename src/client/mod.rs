//! An async ZooKeeper-style client. One background task owns the connection:
//! it connects to a server of the ensemble, pipelines requests (answers come
//! back in FIFO order per session), pings, and on a broken connection moves to
//! another server keeping its session and never accepting a server that is
//! behind what it has already seen.

use crate::net::{read_frame, write_frame, FrameReader, MAX_FRAME};
use crate::proto::{
    CreateMode, ErrorCode, EventType, OpResult, ReadOp, Stat, WatchedEvent, WriteOp,
};
use crate::server::wire::{ClientMsg, ClientOp, ServerMsg};
use crate::timer::{Deadline, Ticker};
use crate::types::{SessionId, Zxid};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

mod ops;
mod session;
pub use ops::{Events, Zk};
pub use session::Session;

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub servers: Vec<SocketAddr>,
    /// Asked for; the server clamps it to 2..=20 ticks.
    pub session_timeout_ms: u64,
    /// Orders the server list (so clients spread over the ensemble deterministically).
    pub seed: u64,
    pub connect_timeout_ms: u64,
}

impl ClientConfig {
    pub fn new(servers: Vec<SocketAddr>) -> ClientConfig {
        ClientConfig {
            servers,
            session_timeout_ms: 4000,
            seed: 0,
            connect_timeout_ms: 1000,
        }
    }
}

/// ZooKeeper's client connection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    Disconnected,
    /// The session is gone; this client is done.
    Expired,
    Closed,
}

/// What a client observes besides answers: watch firings and state changes.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    Watch(WatchedEvent),
    State(ConnState),
}

/// The answer to one request: the result and the zxid the server stamped it with.
pub type Answer = (Result<OpResult, ErrorCode>, Zxid);

/// An answer with what a history needs to place it exactly.
#[derive(Clone, Debug)]
pub struct Traced {
    pub answer: Answer,
    /// The request id the request went out under; `None`: it never reached
    /// the wire, so no server can have applied it.
    pub xid: Option<u64>,
    /// The server it went out to (with `xid`): the one that heard from the
    /// session when it arrived.
    pub server: Option<SocketAddr>,
    /// How many events (`ClientEvent`s) this client had put on its events
    /// channel before this answer came in: those arrived first, any later
    /// ones after it.
    pub events_before: u64,
}

enum Cmd {
    Op(ClientOp, oneshot::Sender<Traced>),
    Close(oneshot::Sender<Traced>),
    /// Send this identity now (it is sent again on every reconnect).
    Auth(String, Vec<u8>),
}

/// Identities added with `add_auth`: (scheme, credentials), in order.
type AuthList = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct Client {
    cmds: mpsc::UnboundedSender<Cmd>,
    session: watch::Receiver<SessionView>,
    auth: AuthList,
}

/// What the background task tells the handle: the session, the
/// connection's state and the session timeout the server granted.
type SessionView = (SessionId, ConnState, u64);

impl Client {
    /// Connect and establish a session; returns with the events channel.
    pub async fn connect(
        cfg: ClientConfig,
    ) -> Result<(Client, mpsc::UnboundedReceiver<ClientEvent>), ErrorCode> {
        if cfg.servers.is_empty() {
            return Err(ErrorCode::BadArguments);
        }
        let (cmds, rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (state_tx, mut session) = watch::channel((0, ConnState::Connecting, 0));
        let auth = AuthList::default();
        tokio::spawn(Conn::new(cfg, rx, events_tx, state_tx, auth.clone()).run());
        loop {
            let (id, state, _) = *session.borrow_and_update();
            match state {
                ConnState::Connected if id != 0 => break,
                ConnState::Expired | ConnState::Closed => return Err(ErrorCode::SessionExpired),
                _ => {}
            }
            if session.changed().await.is_err() {
                return Err(ErrorCode::ConnectionLoss);
            }
        }
        Ok((
            Client {
                cmds,
                session,
                auth,
            },
            events,
        ))
    }

    /// Add an identity to this session's connections (ZooKeeper's
    /// addAuth; `digest` with `user:password`). An unknown scheme is
    /// AuthFailed.
    pub fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<(), ErrorCode> {
        crate::acl::authenticate(scheme, auth).ok_or(ErrorCode::AuthFailed)?;
        let entry = (scheme.to_string(), auth.to_vec());
        self.auth.lock().expect("auth lock").push(entry.clone());
        self.cmds
            .send(Cmd::Auth(entry.0, entry.1))
            .map_err(|_| ErrorCode::ConnectionLoss)
    }

    /// The identities `add_auth` gave this client.
    fn ids(&self) -> Vec<crate::acl::Id> {
        let auth = self.auth.lock().expect("auth lock");
        auth.iter()
            .filter_map(|(scheme, a)| crate::acl::authenticate(scheme, a))
            .collect()
    }

    /// The ACL a node will store for `acl` (`auth` stands for this
    /// client's identities).
    pub fn stored_acl(&self, acl: &[crate::acl::Acl]) -> Result<crate::acl::NodeAcl, ErrorCode> {
        crate::acl::stored(acl, &self.ids())
    }

    /// `create` with an ACL.
    pub async fn create_with_acl(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: &[crate::acl::Acl],
    ) -> Result<String, ErrorCode> {
        let op = WriteOp::Create {
            path: path.into(),
            data: Some(data.into()),
            mode,
            acl: self.stored_acl(acl)?,
        };
        match self.call_traced(ClientOp::Write(op)).await.answer.0? {
            OpResult::Created { path, .. } => Ok(path),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<crate::acl::Acl>, Stat), ErrorCode> {
        let op = ReadOp::GetAcl { path: path.into() };
        match self.call_traced(ClientOp::Read(op)).await.answer.0? {
            OpResult::Acl { acl, stat } => Ok((acl, stat)),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    /// Replace a node's ACL if its aversion is `version` (-1: any).
    pub async fn set_acl(
        &self,
        path: &str,
        acl: &[crate::acl::Acl],
        version: i32,
    ) -> Result<Stat, ErrorCode> {
        let op = WriteOp::SetAcl {
            path: path.into(),
            acl: self.stored_acl(acl)?,
            version,
        };
        match self.call_traced(ClientOp::Write(op)).await.answer.0? {
            OpResult::AclSet { stat } => Ok(stat),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub fn session_id(&self) -> SessionId {
        self.session.borrow().0
    }
    pub fn state(&self) -> ConnState {
        self.session.borrow().1
    }
    /// The session timeout the server granted (it clamps what was asked).
    pub fn session_timeout_ms(&self) -> u64 {
        self.session.borrow().2
    }

    /// `call`, also telling the xid the request was sent under: with the
    /// session id, the identity its txn carries (ZooKeeper's TxnHeader
    /// clientId and cxid), so a history can tell what became of a request
    /// whose answer was lost.
    pub async fn call_traced(&self, op: ClientOp) -> Traced {
        self.submit(op).await
    }

    /// Queue `op` now, in this session's order, and return its answer to
    /// come: requests submitted one after another are pipelined, sent and
    /// answered in submission order (an open-loop client's way to call).
    pub fn submit(&self, op: ClientOp) -> impl std::future::Future<Output = Traced> + Send {
        let lost = Traced {
            answer: (Err(ErrorCode::ConnectionLoss), Zxid::ZERO),
            xid: None,
            server: None,
            events_before: 0,
        };
        let (tx, rx) = oneshot::channel();
        let sent = self.cmds.send(Cmd::Op(op, tx)).is_ok();
        async move {
            if !sent {
                return lost;
            }
            rx.await.unwrap_or(lost)
        }
    }

    /// Close the session: its ephemerals go at once.
    pub async fn close(&self) -> Result<(), ErrorCode> {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Close(tx)).is_err() {
            return Err(ErrorCode::ConnectionLoss);
        }
        rx.await
            .map_err(|_| ErrorCode::ConnectionLoss)?
            .answer
            .0
            .map(|_| ())
    }
}

/// The background task.
struct Conn {
    cfg: ClientConfig,
    order: Vec<SocketAddr>,
    next_server: usize,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    events: mpsc::UnboundedSender<ClientEvent>,
    state: watch::Sender<SessionView>,
    session: SessionId,
    timeout_ms: u64,
    /// The server of the current (or last) connection.
    server: Option<SocketAddr>,
    last_zxid: Zxid,
    next_xid: u64,
    watches: Watches,
    /// Events put on `events` so far (see `Traced::events_before`).
    emitted: u64,
    auth: AuthList,
}

enum Outcome {
    /// The connection broke: try the next server.
    Lost,
    Expired,
    Closed,
}

impl Conn {
    fn new(
        cfg: ClientConfig,
        cmds: mpsc::UnboundedReceiver<Cmd>,
        events: mpsc::UnboundedSender<ClientEvent>,
        state: watch::Sender<SessionView>,
        auth: AuthList,
    ) -> Conn {
        let mut order = cfg.servers.clone();
        shuffle(&mut order, cfg.seed);
        let timeout_ms = cfg.session_timeout_ms;
        Conn {
            cfg,
            order,
            next_server: 0,
            cmds,
            events,
            state,
            session: 0,
            timeout_ms,
            server: None,
            last_zxid: Zxid::ZERO,
            next_xid: 1,
            watches: Watches::default(),
            emitted: 0,
            auth,
        }
    }

    fn emit(&mut self, ev: ClientEvent) {
        self.emitted += 1;
        let _ = self.events.send(ev);
    }

    fn traced(&self, result: Result<OpResult, ErrorCode>, zxid: Zxid, xid: Option<u64>) -> Traced {
        Traced {
            answer: (result, zxid),
            xid,
            server: xid.and(self.server),
            events_before: self.emitted,
        }
    }

    fn set_state(&mut self, s: ConnState) {
        if self.state.borrow().1 != s {
            self.emit(ClientEvent::State(s));
        }
        let _ = self.state.send((self.session, s, self.timeout_ms));
    }

    async fn run(mut self) {
        loop {
            let addr = self.order[self.next_server % self.order.len()];
            self.next_server += 1;
            self.server = Some(addr);
            let outcome = match self.handshake(addr).await {
                Some(stream) => self.serve(stream).await,
                None => {
                    if self.next_server.is_multiple_of(self.order.len()) {
                        // A full round failed: back off a little before the next.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Outcome::Lost
                }
            };
            match outcome {
                Outcome::Lost => {
                    if self.state.borrow().1 == ConnState::Connected {
                        self.set_state(ConnState::Disconnected);
                    }
                    self.fail_queued(ErrorCode::ConnectionLoss);
                    if self.cmds.is_closed() {
                        return;
                    }
                }
                Outcome::Expired => {
                    self.set_state(ConnState::Expired);
                    self.drain_forever(ErrorCode::SessionExpired).await;
                    return;
                }
                Outcome::Closed => {
                    self.set_state(ConnState::Closed);
                    self.drain_forever(ErrorCode::SessionExpired).await;
                    return;
                }
            }
        }
    }

    /// Requests made while no server is connected fail at once (ZooKeeper's
    /// ConnectionLoss): the caller decides whether to retry.
    fn fail_queued(&mut self, code: ErrorCode) {
        while let Ok(cmd) = self.cmds.try_recv() {
            // Identities are sent again by the next handshake.
            let (Cmd::Op(_, tx) | Cmd::Close(tx)) = cmd else {
                continue;
            };
            let _ = tx.send(self.traced(Err(code), self.last_zxid, None));
        }
    }

    async fn drain_forever(&mut self, code: ErrorCode) {
        while let Some(cmd) = self.cmds.recv().await {
            // Identities are sent again by the next handshake.
            let (Cmd::Op(_, tx) | Cmd::Close(tx)) = cmd else {
                continue;
            };
            let _ = tx.send(self.traced(Err(code), self.last_zxid, None));
        }
    }

    async fn handshake(&mut self, addr: SocketAddr) -> Option<(TcpStream, Option<Outcome>)> {
        let limit = Duration::from_millis(self.cfg.connect_timeout_ms);
        let mut stream = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
        // Requests are small writes: no waiting on Nagle for the server's ACK.
        stream.set_nodelay(true).ok()?;
        let hello = ClientMsg::Connect {
            session: self.session,
            timeout_ms: self.timeout_ms,
            last_zxid_seen: self.last_zxid,
        };
        write_frame(&mut stream, &hello).await.ok()?;
        stream.flush().await.ok()?;
        let answer = tokio::time::timeout(limit, read_frame::<_, ServerMsg>(&mut stream)).await;
        match answer {
            Ok(Ok(Some(ServerMsg::Connected {
                session,
                timeout_ms,
            }))) => {
                self.session = session;
                self.timeout_ms = timeout_ms;
                // Identities belong to a connection: add them again first.
                let auth = self.auth.lock().expect("auth lock").clone();
                for (scheme, auth) in auth {
                    let msg = ClientMsg::Auth { scheme, auth };
                    write_frame(&mut stream, &msg).await.ok()?;
                }
                if let Some(msg) = self.watches.set_watches(self.last_zxid) {
                    // Before any request: the server re-arms them in order.
                    write_frame(&mut stream, &msg).await.ok()?;
                    stream.flush().await.ok()?;
                }
                self.set_state(ConnState::Connected);
                Some((stream, None))
            }
            Ok(Ok(Some(ServerMsg::Expired))) => Some((stream, Some(Outcome::Expired))),
            other => {
                tracing::debug!(%addr, session = self.session, answer = ?other.map(|r| r.map(|m| m.map(|_| "unexpected"))), "handshake failed");
                None
            }
        }
    }

    async fn serve(&mut self, (stream, early): (TcpStream, Option<Outcome>)) -> Outcome {
        if let Some(outcome) = early {
            return outcome;
        }
        let (rd, mut wr) = tokio::io::split(stream);
        let (frames_tx, mut frames) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut rd = FrameReader::new(rd, MAX_FRAME);
            while let Ok(Some(msg)) = rd.next::<ServerMsg>().await {
                if frames_tx.send(msg).is_err() {
                    return;
                }
            }
        });
        let outcome = self.pump(&mut wr, &mut frames).await;
        reader.abort();
        outcome
    }

    /// The connected loop: requests out, answers and events in, pings.
    async fn pump<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
        frames: &mut mpsc::UnboundedReceiver<ServerMsg>,
    ) -> Outcome {
        let mut pending: BTreeMap<u64, (oneshot::Sender<Traced>, Option<ReadOp>)> = BTreeMap::new();
        let ping_every = Duration::from_millis((self.timeout_ms / 3).max(1));
        let silent_limit = Duration::from_millis(self.timeout_ms * 2 / 3);
        let mut ping = Ticker::new(ping_every);
        let mut last_heard = tokio::time::Instant::now();
        // Silence is noticed the moment it reaches the limit (as ZooKeeper's
        // client does), not at the next ping: a leader holding a lock must
        // learn it may have lost it a third of the timeout before the
        // ensemble can expire its session.
        let mut silence = Deadline::after(silent_limit);
        let mut closing = None;
        let outcome = loop {
            // `biased` keeps runs deterministic (see server::run).
            tokio::select! {
                biased;
                frame = frames.recv() => {
                    let Some(frame) = frame else { break Outcome::Lost };
                    last_heard = tokio::time::Instant::now();
                    silence.reset(last_heard + silent_limit);
                    match frame {
                        ServerMsg::Reply {
                            xid, zxid, result, ..
                        } => {
                            self.last_zxid = self.last_zxid.max(zxid);
                            if let Some((tx, watched)) = pending.remove(&xid) {
                                if let Some(read) = watched {
                                    self.watches.armed(&read, &result);
                                }
                                let _ = tx.send(self.traced(result, zxid, Some(xid)));
                            }
                            if closing == Some(xid) {
                                break Outcome::Closed;
                            }
                        }
                        ServerMsg::Watch(ev) => {
                            self.last_zxid = self.last_zxid.max(ev.zxid);
                            self.watches.fired(&ev);
                            self.emit(ClientEvent::Watch(ev));
                        }
                        ServerMsg::Pong { zxid } => self.last_zxid = self.last_zxid.max(zxid),
                        ServerMsg::Expired => break Outcome::Expired,
                        ServerMsg::Connected { .. } | ServerMsg::Refused => {}
                    }
                }
                cmd = self.cmds.recv(), if closing.is_none() => {
                    let Some(cmd) = cmd else { break Outcome::Closed };
                    let xid = self.next_xid;
                    let msg = match cmd {
                        Cmd::Op(op, tx) => {
                            let watched = match &op {
                                ClientOp::Read(r) if Watches::sets_watch(r) => Some(r.clone()),
                                _ => None,
                            };
                            pending.insert(xid, (tx, watched));
                            ClientMsg::Request { xid, op }
                        }
                        Cmd::Close(tx) => {
                            pending.insert(xid, (tx, None));
                            closing = Some(xid);
                            ClientMsg::Close { xid }
                        }
                        Cmd::Auth(scheme, auth) => ClientMsg::Auth { scheme, auth },
                    };
                    if !matches!(msg, ClientMsg::Auth { .. }) {
                        self.next_xid += 1;
                    }
                    if write_frame(wr, &msg).await.is_err() || wr.flush().await.is_err() {
                        break Outcome::Lost;
                    }
                }
                _ = &mut silence => break Outcome::Lost,
                _ = ping.tick() => {
                    if last_heard.elapsed() > silent_limit {
                        break Outcome::Lost;
                    }
                    if write_frame(wr, &ClientMsg::Ping).await.is_err() || wr.flush().await.is_err() {
                        break Outcome::Lost;
                    }
                }
            }
        };
        let code = match outcome {
            Outcome::Lost => ErrorCode::ConnectionLoss,
            _ => ErrorCode::SessionExpired,
        };
        for (xid, (tx, _)) in pending {
            let _ = tx.send(self.traced(Err(code), self.last_zxid, Some(xid)));
        }
        outcome
    }
}

/// The watches this client holds on the server, kept so a reconnect can
/// re-arm them (SetWatches).
#[derive(Default)]
struct Watches {
    data: BTreeSet<String>,
    exist: BTreeSet<String>,
    child: BTreeSet<String>,
}

impl Watches {
    fn sets_watch(read: &ReadOp) -> bool {
        match read {
            ReadOp::GetData { watch, .. }
            | ReadOp::Exists { watch, .. }
            | ReadOp::GetChildren { watch, .. } => *watch,
            ReadOp::GetAcl { .. } => false,
        }
    }

    /// A watching read was answered: record what the server armed.
    fn armed(&mut self, read: &ReadOp, result: &Result<OpResult, ErrorCode>) {
        let set = match (read, result) {
            (ReadOp::GetData { .. }, Ok(_))
            | (ReadOp::Exists { .. }, Ok(OpResult::Exists(Some(_)))) => &mut self.data,
            (ReadOp::Exists { .. }, Ok(OpResult::Exists(None))) => &mut self.exist,
            (ReadOp::GetChildren { .. }, Ok(_)) => &mut self.child,
            _ => return,
        };
        let (ReadOp::GetData { path, .. }
        | ReadOp::Exists { path, .. }
        | ReadOp::GetChildren { path, .. }
        | ReadOp::GetAcl { path }) = read;
        set.insert(path.clone());
    }

    /// One-shot: a fired event consumes the registrations it answers.
    fn fired(&mut self, ev: &WatchedEvent) {
        let data = matches!(
            ev.event,
            EventType::NodeCreated | EventType::NodeDataChanged | EventType::NodeDeleted
        );
        let child = matches!(
            ev.event,
            EventType::NodeChildrenChanged | EventType::NodeDeleted
        );
        if data {
            self.data.remove(&ev.path);
            self.exist.remove(&ev.path);
        }
        if child {
            self.child.remove(&ev.path);
        }
    }

    fn set_watches(&self, relative_zxid: Zxid) -> Option<ClientMsg> {
        if self.data.is_empty() && self.exist.is_empty() && self.child.is_empty() {
            return None;
        }
        Some(ClientMsg::SetWatches {
            relative_zxid,
            data: self.data.iter().cloned().collect(),
            exist: self.exist.iter().cloned().collect(),
            child: self.child.iter().cloned().collect(),
        })
    }
}

/// A small deterministic shuffle (splitmix64), so the client needs no RNG crate.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        items.swap(i, (z % (i as u64 + 1)) as usize);
    }
}
