//! A ZooKeeper-style server: the async driver around the ZAB core, the store
//! and the client connections. It only moves bytes and time; every decision is
//! made in `zab::Peer` (protocol) or `session` (per-connection request order).

mod client_stats;
mod clients;
pub mod four_letter;
mod jute_port;
pub mod jute_session;
mod peers;
mod persister;
pub mod program;
pub mod wire;
pub mod zoo_cfg;
mod zoo_cfg_keys;

use crate::store::{Disk, Store};
use crate::timer::Ticker;
use crate::types::{Sid, Zxid};
use crate::zab::db::Db;
use crate::zab::election::ElectionConfig;
use crate::zab::msg::PeerMsg;
use crate::zab::ready::{Applied, LogMark, PersistOp, Ready, ZabEvent};
use crate::zab::txn::Txn;
use crate::zab::{Peer, PeerConfig};
use clients::Clients;
use peers::{Link, Outbound};
use persister::PersistJob;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wire::ClientMsg;

/// Where a server lives and who its peers are.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub sid: Sid,
    /// Every voter's peer (quorum) address, this server's included.
    pub peers: BTreeMap<Sid, SocketAddr>,
    pub client_addr: SocketAddr,
    pub tick_ms: u64,
    pub init_limit: u64,
    pub sync_limit: u64,
    pub snap_count: u64,
    /// How often the driver wakes to let time pass in the core (at most
    /// half a tick).
    pub poll_ms: u64,
    /// Most inputs folded into one batch (one fsync, one flush per peer).
    pub batch_max: usize,
    /// Session timeout bounds; `None`: 2 and 20 ticks.
    pub session_timeout_ms: Option<(u64, u64)>,
    /// Connections one client address may hold (maxClientCnxns; 0: any).
    pub max_client_cnxns: u32,
    /// What the client port speaks.
    pub client_protocol: ClientProtocol,
    /// The four-letter words answered on a jute client port
    /// (`4lw.commands.whitelist`; ZooKeeper's default is `srvr`).
    pub four_letter_words: BTreeSet<String>,
    /// What `conf` and `envi` say of this server.
    pub about: four_letter::About,
}

/// The client port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientProtocol {
    /// Our own client's frames (bincode), as the simulation uses.
    Native,
    /// ZooKeeper's own (jute): kazoo, zkCli and every ZooKeeper client.
    Jute,
}

impl ServerConfig {
    pub fn new(sid: Sid, peers: BTreeMap<Sid, SocketAddr>, client_addr: SocketAddr) -> Self {
        ServerConfig {
            sid,
            peers,
            client_addr,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 2000,
            poll_ms: 50,
            batch_max: 512,
            session_timeout_ms: None,
            max_client_cnxns: 0,
            client_protocol: ClientProtocol::Native,
            four_letter_words: ["srvr".to_string()].into(),
            about: four_letter::About::default(),
        }
    }

    /// How long client requests in ZAB may make no progress before they are
    /// taken as lost: twice initLimit, the longest a healthy sync may take.
    fn request_limit_ms(&self) -> u64 {
        (2 * self.init_limit * self.tick_ms).max(1_000)
    }

    fn peer_config(&self) -> PeerConfig {
        let voters: BTreeSet<Sid> = self.peers.keys().copied().collect();
        let mut cfg = PeerConfig::new(self.sid, voters);
        cfg.tick_ms = self.tick_ms;
        cfg.init_limit = self.init_limit;
        cfg.sync_limit = self.sync_limit;
        cfg.snap_count = self.snap_count;
        cfg.election = ElectionConfig::default();
        cfg.session_timeout_ms = self.session_timeout_ms;
        cfg
    }
}

/// What the server tells the outside world (the simulation's history, logs).
pub trait Observer: Send + Sync + 'static {
    fn zab_event(&self, _sid: Sid, _event: &ZabEvent) {}
    /// The txn behind a `ZabEvent::Proposed` (this server, leader of `epoch`,
    /// broadcast it); called after the batch's `zab_event`s.
    fn proposed(&self, _sid: Sid, _epoch: u32, _txn: &Txn) {}
    /// A txn applied to this server's tree, in order; `refused`: applying
    /// it refused it for its session (moved or gone), so it changed nothing.
    fn delivered(&self, _sid: Sid, _txn: &Txn, _refused: bool) {}
    /// The server recovered from disk.
    fn recovered(&self, _sid: Sid, _recovery: &Recovery) {}
    /// Asked on every poll: should the next status carry the tree digest?
    fn wants_digest(&self) -> bool {
        false
    }
    /// The server's state after each poll.
    fn status(&self, _sid: Sid, _status: &Status) {}
    /// A peer message is leaving for `to`: what happens to it. The
    /// simulation's message faults answer here; the default sends it.
    fn sending(&self, _from: Sid, _to: Sid, _msg: &PeerMsg) -> SendFate {
        SendFate::Send
    }
    /// The server reached a fault point (one of [`FAULT_POINTS`]): the
    /// simulation may act on it now, before its next step.
    fn reached(&self, _sid: Sid, _point: &'static str) {}
}

/// Places in the server where timing matters, reported to
/// [`Observer::reached`]: a new acceptedEpoch is durable (discovery), a new
/// currentEpoch is durable (NEWLEADER; the log is synced next if it is not
/// yet), a snapshot is durable, the log was truncated.
pub const FAULT_POINTS: &[&str] = &[
    "ACCEPTED_EPOCH_DURABLE",
    "CURRENT_EPOCH_DURABLE",
    "SNAPSHOT_DURABLE",
    "TRUNCATED",
];

/// What happens to a peer message as it leaves ([`Observer::sending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFate {
    Send,
    /// It and everything behind it on that link wait this long (FIFO kept).
    Delay(std::time::Duration),
    /// The connection breaks at this message: it and whatever follows in
    /// flight are lost, and this server sees the link fail (as a TCP reset).
    Break,
}

/// What a server found on its disk at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// Applied state starts here (the snapshot's zxid).
    pub snapshot_zxid: Zxid,
    pub last_logged: Zxid,
    /// Bytes cut from a torn or corrupt log tail.
    pub torn_bytes: u64,
}

/// A server's state as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub serving: bool,
    pub leader: Option<Sid>,
    pub applied: Zxid,
    pub last_logged: Zxid,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub digest: Option<u64>,
}

/// An observer that only logs: phase changes at info, each proposal at
/// trace (one per write would swamp the log and slow the server).
pub struct LogObserver;
impl Observer for LogObserver {
    fn zab_event(&self, sid: Sid, event: &ZabEvent) {
        match event {
            ZabEvent::Proposed { .. } | ZabEvent::EpochAcked { .. } => {
                tracing::trace!(sid, ?event, "zab")
            }
            _ => tracing::info!(sid, ?event, "zab"),
        }
    }
}

pub(crate) type ConnId = u64;

pub(crate) enum Inbox {
    PeerUp {
        sid: Sid,
        conn: u64,
    },
    Peer {
        sid: Sid,
        conn: u64,
        msg: PeerMsg,
    },
    /// Sending to the peer failed: what was in flight is lost.
    PeerDown {
        sid: Sid,
    },
    ClientOpen {
        conn: ConnId,
        tx: mpsc::UnboundedSender<wire::ServerMsg>,
        addr: String,
    },
    Client {
        conn: ConnId,
        msg: ClientMsg,
    },
    ClientGone {
        conn: ConnId,
    },
    /// A four-letter word on the client port: the answer goes back on `reply`.
    FourLetter {
        word: &'static str,
        /// The bytes after the word, when there are 8 (`stmk`'s mask).
        arg: Option<[u8; 8]>,
        reply: tokio::sync::oneshot::Sender<String>,
    },
    /// Every persist batch up to `batch` is durable; `mark` is the last one's.
    Persisted {
        batch: u64,
        mark: LogMark,
    },
    /// The disk failed: the server stops, as ZooKeeper does on an fsync error.
    DiskFailed(io::Error),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Run one server until its disk fails (then it stops, as ZooKeeper does on an
/// fsync error) — in the simulation, until the node is killed.
pub async fn run(
    cfg: ServerConfig,
    disk: Arc<dyn Disk>,
    observer: Arc<dyn Observer>,
) -> io::Result<()> {
    let (store, rec) = Store::open(disk).await?;
    let mut log = Vec::with_capacity(rec.txns.len());
    for (zxid, bytes) in &rec.txns {
        match Txn::decode(bytes) {
            Some(t) if t.zxid == *zxid => log.push(t),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("undecodable txn {zxid}"),
                ))
            }
        }
    }
    let db = Db::recover(rec.snapshot, log)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let recovery = Recovery {
        accepted_epoch: rec.accepted_epoch,
        current_epoch: rec.current_epoch,
        snapshot_zxid: db.applied,
        last_logged: db.last_logged(),
        torn_bytes: rec.torn_bytes,
    };
    observer.recovered(cfg.sid, &recovery);
    let peer = Peer::new(
        cfg.peer_config(),
        rec.accepted_epoch,
        rec.current_epoch,
        db,
        now_ms(),
    );

    let (inbox_tx, mut inbox) = mpsc::unbounded_channel();
    let peer_listener = TcpListener::bind(cfg.peers[&cfg.sid]).await?;
    let client_listener = TcpListener::bind(cfg.client_addr).await?;
    tokio::spawn(peers::accept_loop(peer_listener, inbox_tx.clone()));
    tokio::spawn(clients::accept_loop(
        client_listener,
        cfg.client_protocol,
        cfg.max_client_cnxns,
        inbox_tx.clone(),
    ));
    let mut outbound = BTreeMap::new();
    for (&sid, &addr) in &cfg.peers {
        if sid != cfg.sid {
            outbound.insert(sid, Link::spawn(cfg.sid, sid, addr, inbox_tx.clone()));
        }
    }

    let persist_tx = persister::spawn(store, inbox_tx.clone(), (cfg.sid, observer.clone()));
    let mut driver = Driver::new(peer, persist_tx, outbound, observer);
    driver.four_letter_words = cfg.four_letter_words.clone();
    driver.about = cfg.about.clone();
    driver.flush_ready()?;
    // Time reaches the core at least twice a tick, so a short tick's limits
    // are judged at the tick's resolution, not the poll's.
    let poll_ms = cfg.poll_ms.min(cfg.tick_ms / 2).max(1);
    let mut ticker = Ticker::new(Duration::from_millis(poll_ms));
    loop {
        // `biased`: tokio's random branch choice is seeded from a process-wide
        // counter, which would make runs differ between seeds in one process.
        tokio::select! {
            biased;
            _ = ticker.tick() => {
                driver.now = now_ms();
                driver.peer.tick(driver.now);
                driver.answer_applied();
                driver.clients.expire_stalled(&mut driver.peer, cfg.request_limit_ms());
                driver.report_status();
            }
            Some(ev) = inbox.recv() => {
                driver.now = now_ms();
                driver.input(ev);
            }
        }
        for _ in 1..cfg.batch_max {
            match inbox.try_recv() {
                Ok(ev) => driver.input(ev),
                Err(_) => break,
            }
        }
        driver.flush_ready()?;
    }
}

/// Peer messages one server may handle within one simulated millisecond,
/// and within one simulated second, before the simulation calls it a
/// livelock. An election whose votes are not totally ordered
/// (ZOOKEEPER-1419's shape) can answer every vote with a broadcast: the
/// storm may grow until one instant never ends, or settle at a rate that
/// lets time crawl while memory fills. Either way the run ends with a panic
/// saying so, which the harness reports as a crash. A healthy server
/// handles a few thousand a second under the heaviest load we generate.
const STORM_PER_MS: u64 = 20_000;
const STORM_PER_SEC: u64 = 400_000;

#[derive(Default)]
struct Storm {
    ms: (u64, u64),
    sec: (u64, u64),
}

impl Storm {
    fn count(&mut self, sid: Sid, now: u64) {
        for (window, (at, n), limit, unit) in [
            (1, &mut self.ms, STORM_PER_MS, "1 ms"),
            (1_000, &mut self.sec, STORM_PER_SEC, "1 s"),
        ] {
            if now / window != *at {
                (*at, *n) = (now / window, 0);
            }
            *n += 1;
            if cfg!(madsim) && *n > limit {
                panic!(
                    "livelock: server {sid} handled {limit} peer messages within {unit} of simulated time at {now} ms"
                );
            }
        }
    }
}

struct Driver {
    sid: Sid,
    /// The clock, read once per wakeup: a batch's inputs are handled at one
    /// instant (reading it per message was a twentieth of a seed's cost).
    now: u64,
    storm: Storm,
    peer: Peer,
    /// Persistence runs in its own task, in order, so that pings and messages
    /// keep flowing while an fsync is slow; the core learns what is durable
    /// from `Inbox::Persisted`.
    persist_tx: mpsc::UnboundedSender<PersistJob>,
    /// Persist batches handed to the persister, and those known durable.
    issued_batch: u64,
    durable_batch: u64,
    /// Messages that wait for a batch to be durable (and, per peer, every
    /// message queued after one of them): (batch, to, message).
    held: VecDeque<(u64, Sid, PeerMsg)>,
    /// How many of `held` go to each peer (a scan per message was quadratic
    /// while a slow fsync held many).
    held_to: BTreeMap<Sid, usize>,
    disk_error: Option<io::Error>,
    /// Txns applied (and answered) during the batch, for the observer once
    /// the batch's protocol events are reported.
    unreported: Vec<(Arc<Txn>, bool)>,
    outbound: BTreeMap<Sid, Link>,
    clients: Clients,
    observer: Arc<dyn Observer>,
    /// Latest inbound connection per peer, so a stale connection's end is ignored.
    peer_conns: BTreeMap<Sid, u64>,
    /// When we last reset our connection to each peer.
    reset_at: BTreeMap<Sid, u64>,
    four_letter_words: BTreeSet<String>,
    about: four_letter::About,
    started_ms: u64,
}

/// Don't answer a peer's reconnect with a reset of our own this soon after
/// resetting ourselves (that reconnect was the echo of ours).
const RESET_DAMPING_MS: u64 = 500;

impl Driver {
    fn new(
        peer: Peer,
        persist_tx: mpsc::UnboundedSender<PersistJob>,
        outbound: BTreeMap<Sid, Link>,
        observer: Arc<dyn Observer>,
    ) -> Driver {
        let sid = peer.sid();
        Driver {
            sid,
            now: now_ms(),
            peer,
            persist_tx,
            issued_batch: 0,
            durable_batch: 0,
            held: VecDeque::new(),
            held_to: BTreeMap::new(),
            disk_error: None,
            unreported: Vec::new(),
            outbound,
            clients: Clients::new(sid),
            observer,
            peer_conns: BTreeMap::new(),
            storm: Storm::default(),
            reset_at: BTreeMap::new(),
            four_letter_words: BTreeSet::new(),
            about: four_letter::About::default(),
            started_ms: now_ms(),
        }
    }

    fn input(&mut self, ev: Inbox) {
        if matches!(ev, Inbox::Peer { .. }) {
            self.storm.count(self.sid, self.now);
        }
        self.handle(ev);
        self.answer_applied();
    }

    /// What the last input committed is answered at once — write replies and
    /// watch events queue before anything a later input of the same batch
    /// answers, so no read that shows a change goes out ahead of the change's
    /// watch event (ZooKeeper's guarantee).
    fn answer_applied(&mut self) {
        let applied = self.peer.take_applied();
        let unreported = &mut self.unreported;
        self.clients
            .on_applied_all(&mut self.peer, applied, |t, refused| {
                unreported.push((t, refused))
            });
    }

    fn handle(&mut self, ev: Inbox) {
        match ev {
            Inbox::PeerUp { sid, conn } => {
                // Accept order is connect order: the highest id is the newest
                // connection, even if an older one's hello arrives late.
                if self.peer_conns.get(&sid).is_some_and(|c| *c > conn) {
                    return;
                }
                self.peer_conns.insert(sid, conn);
                // The peer started afresh; so do we towards it, unless we just did
                // (which is what made it reconnect).
                let now = self.now;
                if now.saturating_sub(self.reset_at.get(&sid).copied().unwrap_or(0))
                    > RESET_DAMPING_MS
                {
                    self.reset(sid, now);
                }
            }
            Inbox::Peer { sid, conn, msg } => {
                tracing::trace!(me = self.sid, from = sid, conn, latest = ?self.peer_conns.get(&sid), ?msg, "recv");
                if self.peer_conns.get(&sid) == Some(&conn) {
                    self.peer.set_now(self.now);
                    self.peer.on_message(sid, msg);
                }
            }
            Inbox::PeerDown { sid } => self.peer.on_peer_down(sid),
            Inbox::ClientOpen { conn, tx, addr } => self.clients.open(conn, tx, addr),
            Inbox::Client { conn, msg } => self.clients.on_message(&mut self.peer, conn, msg),
            Inbox::ClientGone { conn } => self.clients.gone(&mut self.peer, conn),
            Inbox::Persisted { batch, mark } => {
                self.durable_batch = self.durable_batch.max(batch);
                self.peer.persisted(mark);
                self.release_held();
            }
            Inbox::DiskFailed(e) => self.disk_error = Some(e),
            Inbox::FourLetter { word, arg, reply } => {
                let snapshot = self.four_letter_snapshot(word);
                let allowed = &self.four_letter_words;
                let text = match (word, arg) {
                    ("stmk", Some(mask)) => four_letter::set_trace_mask(allowed, mask),
                    _ => four_letter::answer(word, allowed, &snapshot, &self.about),
                };
                if let Some(what) = four_letter::resets(word).filter(|_| allowed.contains(word)) {
                    self.clients.reset_stats(what);
                }
                let _ = reply.send(text);
            }
        }
    }

    /// What the four-letter words report of this server.
    fn four_letter_snapshot(&self, word: &str) -> four_letter::Snapshot {
        use four_letter::Mode;
        let p = &self.peer;
        let mode = match (p.is_serving(), p.leader()) {
            (false, _) => Mode::NotServing,
            (true, _) if self.outbound.is_empty() => Mode::Standalone,
            (true, Some(l)) if l == self.sid => Mode::Leader,
            (true, _) => Mode::Follower,
        };
        let mut s = self.clients.four_letter_counts();
        s.mode = Some(mode);
        s.zxid = p.applied().0;
        // ZooKeeper's count holds its root twice (under "" and "/"), and
        // monitoring compares against ZooKeeper's figure.
        s.node_count = p.node_count() as u64 + 1;
        (s.followers, s.synced_followers, s.pending_syncs) = p.learner_counts();
        if four_letter::reads_tree(word) {
            s.add_tree(p.tree(), |conn| self.clients.session_of(conn));
        }
        if four_letter::reads_disk(word) {
            s.dir_sizes = (
                four_letter::dir_size(&self.about.data_dir),
                four_letter::dir_size(&self.about.data_log_dir),
            );
        }
        s.digest = p.tree_digest();
        s.uptime_ms = self.now.saturating_sub(self.started_ms);
        s
    }

    fn report_status(&self) {
        let p = &self.peer;
        let (accepted_epoch, current_epoch) = p.epochs();
        let digest = self.observer.wants_digest().then(|| p.tree_digest());
        let status = Status {
            serving: p.is_serving(),
            leader: p.leader(),
            applied: p.applied(),
            last_logged: p.last_logged(),
            accepted_epoch,
            current_epoch,
            digest,
        };
        self.observer.status(self.sid, &status);
    }

    /// Carry out what the core asked for, in the order `Ready` prescribes.
    /// Repeats while acting on one batch produces another.
    /// Each peer's frames of the batch leave in one write at the end.
    fn flush_ready(&mut self) -> io::Result<()> {
        loop {
            if let Some(e) = self.disk_error.take() {
                return Err(e);
            }
            let ready = self.peer.take_ready();
            let waiting = self.clients.has_output() || !self.unreported.is_empty();
            if ready.is_empty() && !waiting {
                break;
            }
            self.execute(ready);
        }
        for link in self.outbound.values_mut() {
            link.flush();
        }
        Ok(())
    }

    fn execute(&mut self, ready: Ready) {
        let Ready {
            send,
            mut persist,
            send_after_persist,
            applied,
            events,
            log_mark,
            snapshot_due,
        } = ready;
        if snapshot_due {
            persist.push(self.peer.take_snapshot());
        }
        for ev in &events {
            self.observer.zab_event(self.sid, ev);
        }
        self.report_proposals(&events, &persist);
        for (txn, refused) in std::mem::take(&mut self.unreported) {
            self.observer.delivered(self.sid, &txn, refused);
        }
        let new_phase = events.iter().any(|e| {
            matches!(
                e,
                ZabEvent::Looking { .. } | ZabEvent::Leading { .. } | ZabEvent::Following { .. }
            )
        });
        if new_phase {
            let now = self.now;
            let peers: Vec<Sid> = self.outbound.keys().copied().collect();
            for sid in peers {
                self.reset(sid, now);
            }
        }
        self.send(send, 0);
        if !persist.is_empty() {
            self.issued_batch += 1;
            let job = PersistJob {
                batch: self.issued_batch,
                ops: persist,
                mark: log_mark,
            };
            let _ = self.persist_tx.send(job);
        }
        self.send(send_after_persist, self.issued_batch);
        self.deliver(applied);
        if !self.peer.is_serving() {
            self.clients.drop_all(&mut self.peer);
        }
        self.clients.flush_output();
    }

    /// Hand the observer the txns this batch proposed (their appends ride in
    /// the same batch as their `Proposed` events).
    fn report_proposals(&self, events: &[ZabEvent], persist: &[PersistOp]) {
        let proposed: Vec<(Zxid, u32)> = events
            .iter()
            .filter_map(|e| match e {
                ZabEvent::Proposed { zxid, epoch } => Some((*zxid, *epoch)),
                _ => None,
            })
            .collect();
        if proposed.is_empty() {
            return;
        }
        for op in persist {
            if let PersistOp::Append(txn) = op {
                // Proposals come in zxid order.
                if let Ok(i) = proposed.binary_search_by(|(z, _)| z.cmp(&txn.zxid)) {
                    self.observer.proposed(self.sid, proposed[i].1, txn);
                }
            }
        }
    }

    /// Send once persist batch `after` is durable — and, per peer, never ahead
    /// of a message that still waits (ZAB relies on per-peer FIFO).
    fn send(&mut self, msgs: Vec<(Sid, PeerMsg)>, after: u64) {
        for (to, msg) in msgs {
            let waiting = self.held_to.get(&to).is_some_and(|n| *n > 0);
            if waiting || after > self.durable_batch {
                self.held.push_back((after, to, msg));
                *self.held_to.entry(to).or_default() += 1;
            } else {
                self.transmit(to, msg);
            }
        }
    }

    /// Hand `msg` to the link to `to`, as the observer's message faults say.
    fn transmit(&mut self, to: Sid, msg: PeerMsg) {
        self.storm.count(self.sid, self.now);
        let Some(link) = self.outbound.get_mut(&to) else {
            return;
        };
        match self.observer.sending(self.sid, to, &msg) {
            SendFate::Send => link.push(&msg),
            SendFate::Delay(d) => {
                link.queue(Outbound::Pause(d));
                link.push(&msg);
            }
            SendFate::Break => link.queue(Outbound::Break),
        }
    }

    fn release_held(&mut self) {
        let mut blocked = BTreeSet::new();
        let mut keep = VecDeque::new();
        for (after, to, msg) in std::mem::take(&mut self.held) {
            if blocked.contains(&to) || after > self.durable_batch {
                blocked.insert(to);
                keep.push_back((after, to, msg));
            } else {
                if let Some(n) = self.held_to.get_mut(&to) {
                    *n -= 1;
                }
                self.transmit(to, msg);
            }
        }
        self.held = keep;
    }

    /// A fresh connection to `sid`. What still waits for the disk belonged to
    /// the relationship being reset, and goes with it.
    fn reset(&mut self, sid: Sid, now: u64) {
        self.held.retain(|(_, to, _)| *to != sid);
        self.held_to.remove(&sid);
        if self.peer.is_serving() && self.peer.leader() == Some(sid) && sid != self.sid {
            self.clients.forwards_lost(&mut self.peer);
        }
        if let Some(link) = self.outbound.get_mut(&sid) {
            link.queue(Outbound::Reset);
            self.reset_at.insert(sid, now);
        }
    }

    fn deliver(&mut self, applied: Vec<Applied>) {
        for a in &applied {
            self.observer.delivered(self.sid, &a.txn, a.refused());
        }
        self.clients
            .on_applied_all(&mut self.peer, applied, |_, _| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{CreateMode, ReadOp, WriteOp};
    use crate::zab::db::Db;
    use wire::{ClientOp, ServerMsg};

    /// A lone-voter driver with no network; its persist jobs come back to
    /// the test, which reports them durable when it wants.
    fn driver() -> (Driver, mpsc::UnboundedReceiver<PersistJob>) {
        let mut peer = Peer::new(PeerConfig::new(1, [1].into()), 0, 0, Db::empty(), 0);
        peer.tick(1_000);
        while peer.has_ready() {
            let r = peer.take_ready();
            peer.persisted(r.log_mark);
        }
        let (persist_tx, jobs) = mpsc::unbounded_channel();
        let d = Driver::new(peer, persist_tx, BTreeMap::new(), Arc::new(LogObserver));
        (d, jobs)
    }

    /// Make everything persisted so far durable, as one batch.
    fn sync_disk(jobs: &mut mpsc::UnboundedReceiver<PersistJob>) -> Inbox {
        let mut last = None;
        while let Ok(job) = jobs.try_recv() {
            last = Some(Inbox::Persisted {
                batch: job.batch,
                mark: job.mark,
            });
        }
        last.expect("something to persist")
    }

    fn client(
        d: &mut Driver,
        jobs: &mut mpsc::UnboundedReceiver<PersistJob>,
        conn: ConnId,
    ) -> mpsc::UnboundedReceiver<ServerMsg> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        d.input(Inbox::ClientOpen {
            conn,
            tx,
            addr: String::new(),
        });
        let msg = ClientMsg::Connect {
            session: 0,
            timeout_ms: 4_000,
            last_zxid_seen: Zxid::ZERO,
        };
        d.input(Inbox::Client { conn, msg });
        d.flush_ready().unwrap();
        let done = sync_disk(jobs);
        d.input(done);
        d.flush_ready().unwrap();
        assert!(matches!(rx.try_recv(), Ok(ServerMsg::Connected { .. })));
        rx
    }

    fn request(conn: ConnId, xid: u64, op: ClientOp) -> Inbox {
        Inbox::Client {
            conn,
            msg: ClientMsg::Request { xid, op },
        }
    }

    fn get(watch: bool) -> ClientOp {
        ClientOp::Read(ReadOp::GetData {
            path: "/w".into(),
            watch,
        })
    }

    /// The commit of B's change and A's read land in one batch: A gets the
    /// watch event before the answer that shows the change.
    #[test]
    fn a_watch_event_goes_out_before_a_read_of_its_change_in_the_same_batch() {
        let (mut d, mut jobs) = driver();
        let mut a = client(&mut d, &mut jobs, 1);
        let mut b = client(&mut d, &mut jobs, 2);
        let create = WriteOp::Create {
            path: "/w".into(),
            data: Some(b"0".to_vec()),
            mode: CreateMode::Persistent,
            acl: None,
        };
        d.input(request(2, 1, ClientOp::Write(create)));
        d.flush_ready().unwrap();
        let done = sync_disk(&mut jobs);
        d.input(done);
        d.input(request(1, 1, get(true)));
        d.flush_ready().unwrap();
        assert!(matches!(a.try_recv(), Ok(ServerMsg::Reply { xid: 1, .. })));
        let set = WriteOp::SetData {
            path: "/w".into(),
            data: Some(b"1".to_vec()),
            version: -1,
        };
        d.input(request(2, 2, ClientOp::Write(set)));
        d.flush_ready().unwrap();
        // One batch: the disk reports the set durable (so it commits), then
        // A's read comes in.
        let done = sync_disk(&mut jobs);
        d.input(done);
        d.input(request(1, 2, get(false)));
        d.flush_ready().unwrap();
        let first = a.try_recv().expect("two messages for A");
        assert!(
            matches!(first, ServerMsg::Watch(_)),
            "A got {first:?} before the watch event"
        );
        assert!(matches!(a.try_recv(), Ok(ServerMsg::Reply { xid: 2, .. })));
        while b.try_recv().is_ok() {}
    }
}
/// Messages move through channels and queues by value, several times each:
/// when ACLs first grew a write by an unboxed ACL and identity list, the
/// copies cost 4% of a seed's instructions (callgrind, leader-crash seed 7).
/// Rare, large parts go behind a pointer; this keeps it so.
#[cfg(test)]
mod message_sizes {
    use std::mem::size_of;

    #[test]
    fn messages_stay_small() {
        assert!(size_of::<crate::proto::WriteOp>() <= 64);
        assert!(size_of::<crate::zab::txn::Txn>() <= 104);
        assert!(size_of::<crate::zab::msg::PeerMsg>() <= 104);
        assert!(size_of::<super::wire::ClientMsg>() <= 80);
        assert!(size_of::<super::Inbox>() <= 120);
    }
}
