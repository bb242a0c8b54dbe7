//! Peer transport: one outbound TCP connection per peer for what we send, and
//! the connections peers open to us for what we receive. A broken connection
//! loses what was in flight and is reported, so the ZAB core can reset that
//! relationship (ZAB assumes FIFO channels that fail as a whole).

use super::Inbox;
use crate::net::{
    encode_into, read_frame_max, write_frame, FrameReader, MAX_FRAME, MAX_HELLO_FRAME,
};
use crate::types::Sid;
use crate::zab::msg::PeerMsg;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts peer connections; each starts with our sid in a hello frame.
pub(super) async fn accept_loop(listener: TcpListener, inbox: mpsc::UnboundedSender<Inbox>) {
    let mut next_conn = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        next_conn += 1;
        let conn = next_conn;
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            let hello = read_frame_max::<_, Sid>(&mut stream, MAX_HELLO_FRAME).await;
            let Ok(Some(sid)) = hello else {
                return;
            };
            let _ = inbox.send(Inbox::PeerUp { sid, conn });
            let mut frames = FrameReader::new(stream, MAX_FRAME);
            loop {
                match frames.next::<PeerMsg>().await {
                    Ok(Some(msg)) => {
                        if inbox.send(Inbox::Peer { sid, conn, msg }).is_err() {
                            return;
                        }
                    }
                    // The end of an inbound connection says little: the peer may
                    // just have reset it (a new one follows). A dead peer shows
                    // up as a failed send or as silence.
                    _ => return,
                }
            }
        });
    }
}

/// What goes on the queue of one peer's link task.
pub(super) enum Outbound {
    /// Encoded frames, written in one batch.
    Frames(Vec<u8>),
    /// Drop the connection and open a fresh one. A connection that carried
    /// traffic into a partition can stay stalled long after the heal (as real
    /// TCP backs off retransmissions); each new protocol phase starts clean.
    Reset,
    /// Hold the link this long before what follows (a message fault).
    Pause(Duration),
    /// The link breaks here, as a TCP reset (a message fault): what follows
    /// goes on a new connection and the driver is told the peer went down.
    Break,
}

/// The driver's end of the link to one peer. Frames of a batch gather in
/// `pending`; at the batch's end the driver writes them to the connection
/// itself while the link's task is idle with a connection up and nothing
/// queued (the common case: no task wakeup per batch), and queues them to
/// the task otherwise, behind whatever is queued already (FIFO per peer).
pub(super) struct Link {
    tx: mpsc::UnboundedSender<Outbound>,
    shared: Arc<Mutex<Shared>>,
    pending: Vec<u8>,
}

/// What the driver and the link's task share.
#[derive(Default)]
struct Shared {
    /// The connection, while the task is idle: the driver may write to it.
    idle: Option<TcpStream>,
    /// Items on the queue the task has not finished with. While any are,
    /// the driver queues too, so nothing overtakes them.
    queued: usize,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().expect("peer link lock")
}

impl Link {
    /// The link to `peer` and its task (connects, reconnects, and writes
    /// what is queued).
    pub(super) fn spawn(
        me: Sid,
        peer: Sid,
        addr: SocketAddr,
        inbox: mpsc::UnboundedSender<Inbox>,
    ) -> Link {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let task = LinkTask {
            me,
            peer,
            addr,
            rx,
            inbox,
            shared: shared.clone(),
        };
        tokio::spawn(task.run());
        Link {
            tx,
            shared,
            pending: Vec::new(),
        }
    }

    /// Add `msg` to this batch's frames.
    pub(super) fn push(&mut self, msg: &PeerMsg) {
        encode_into(&mut self.pending, msg);
    }

    /// Send this batch's frames: written now if the link is idle, queued
    /// otherwise.
    pub(super) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut shared = lock(&self.shared);
        if shared.queued == 0 {
            if let Some(stream) = shared.idle.as_mut() {
                match write_now(stream, &self.pending) {
                    Written::All => {
                        self.pending.clear();
                        return;
                    }
                    Written::Part(n) => {
                        self.pending.drain(..n);
                    }
                    Written::Failed => {
                        // The task finds no connection and reconnects; the
                        // break tells the driver, as a failed write does.
                        shared.idle = None;
                        self.pending.clear();
                        return self.enqueue(&mut shared, Outbound::Break);
                    }
                }
            }
        }
        let frames = Outbound::Frames(std::mem::take(&mut self.pending));
        self.enqueue(&mut shared, frames);
    }

    /// Queue `item` behind this batch's frames.
    pub(super) fn queue(&mut self, item: Outbound) {
        self.flush();
        self.enqueue(&mut lock(&self.shared), item);
    }

    /// Hand `item` to the task, counted so the driver writes nothing
    /// directly until the task is done with it.
    fn enqueue(&self, shared: &mut Shared, item: Outbound) {
        shared.queued += 1;
        let _ = self.tx.send(item);
    }
}

enum Written {
    All,
    /// This many bytes went; the rest would block (real sockets only).
    Part(usize),
    Failed,
}

/// Write and flush without waiting: the simulator's streams always take
/// everything; a real socket may take part of it, and the link's task
/// writes the rest (it polls again with its own waker, so the no-op waker
/// left here is replaced).
fn write_now(stream: &mut TcpStream, buf: &[u8]) -> Written {
    let mut cx = Context::from_waker(Waker::noop());
    let mut done = 0;
    while done < buf.len() {
        match Pin::new(&mut *stream).poll_write(&mut cx, &buf[done..]) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Written::Failed,
            Poll::Ready(Ok(n)) => done += n,
            Poll::Pending => return Written::Part(done),
        }
    }
    match Pin::new(&mut *stream).poll_flush(&mut cx) {
        Poll::Ready(Ok(())) => Written::All,
        Poll::Ready(Err(_)) => Written::Failed,
        // The task flushes: an empty batch still ends in a flush.
        Poll::Pending => Written::Part(done),
    }
}

/// Failed connects in a row before the peer counts as unreachable. madsim
/// refuses a connect whose SYN is lost at once, where TCP would retry it.
const CONNECT_TRIES: u32 = 5;

/// The task behind one peer's link: keeps a connection and writes what the
/// driver queues, one flush per batch. What is queued while no connection
/// stands waits for the next one; if the peer stays unreachable it is
/// dropped and the driver is told (never a silent gap).
struct LinkTask {
    me: Sid,
    peer: Sid,
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Outbound>,
    inbox: mpsc::UnboundedSender<Inbox>,
    shared: Arc<Mutex<Shared>>,
}

impl LinkTask {
    async fn run(mut self) {
        let mut waiting: Vec<u8> = Vec::new();
        let mut failures = 0u32;
        loop {
            let Some(mut stream) = connect(self.me, self.addr).await else {
                failures += 1;
                let broke = self.drain_unconnected(&mut waiting).await;
                if broke || (failures >= CONNECT_TRIES && !waiting.is_empty()) {
                    waiting.clear();
                    self.peer_down();
                }
                tokio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            };
            failures = 0;
            let sent = waiting.is_empty() || write_flush(Some(&mut stream), &waiting).await;
            waiting.clear();
            if !sent {
                self.peer_down();
                continue;
            }
            match self.serve(stream).await {
                Served::Reset => {}
                Served::Broken => self.peer_down(),
                Served::DriverGone => return,
            }
        }
    }

    fn peer_down(&self) {
        let _ = self.inbox.send(Inbox::PeerDown { sid: self.peer });
    }

    /// Items queued while no connection stands: frames wait for the next
    /// one; a reset or a break loses what waited. True on a break.
    async fn drain_unconnected(&mut self, waiting: &mut Vec<u8>) -> bool {
        let mut broke = false;
        while let Ok(item) = self.rx.try_recv() {
            match item {
                Outbound::Frames(f) => waiting.extend_from_slice(&f),
                // Meant for a connection of a relationship now over.
                Outbound::Reset => waiting.clear(),
                // A break on a link not up: what waited is lost with it,
                // and the driver is told, as on a live link.
                Outbound::Break => {
                    waiting.clear();
                    broke = true;
                }
                // The link is held: the next connect waits.
                Outbound::Pause(d) => tokio::time::sleep(d).await,
            }
            lock(&self.shared).queued -= 1;
        }
        broke
    }

    /// Write what the driver queues, a batch per flush, until a reset, a
    /// break or a failed write. Between batches the connection is left to
    /// the driver.
    async fn serve(&mut self, stream: TcpStream) -> Served {
        let mut held = Some(stream);
        let mut buf = Vec::new();
        loop {
            self.park(&mut held);
            let Some(first) = self.rx.recv().await else {
                return Served::DriverGone;
            };
            // The driver found the connection broken if it is gone (its
            // break is queued behind).
            let mut stream = held.take().or_else(|| lock(&self.shared).idle.take());
            buf.clear();
            let mut handled = 0;
            let mut end = None;
            let mut next = Some(first);
            while let Some(item) = next {
                handled += 1;
                match item {
                    Outbound::Frames(f) => buf.extend_from_slice(&f),
                    Outbound::Reset => end = Some(Served::Reset),
                    Outbound::Break => end = Some(Served::Broken),
                    Outbound::Pause(d) => {
                        if !write_flush(stream.as_mut(), &buf).await {
                            return self.finish(handled, Served::Broken);
                        }
                        buf.clear();
                        tokio::time::sleep(d).await;
                    }
                }
                if end.is_some() {
                    break;
                }
                next = self.rx.try_recv().ok();
            }
            if !write_flush(stream.as_mut(), &buf).await {
                return self.finish(handled, Served::Broken);
            }
            if let Some(end) = end {
                return self.finish(handled, end);
            }
            lock(&self.shared).queued -= handled;
            held = stream;
        }
    }

    /// Give the connection to the driver if nothing is queued.
    fn park(&self, held: &mut Option<TcpStream>) {
        let mut shared = lock(&self.shared);
        if shared.queued == 0 {
            if let Some(stream) = held.take() {
                shared.idle = Some(stream);
            }
        }
    }

    fn finish(&self, handled: usize, end: Served) -> Served {
        let mut shared = lock(&self.shared);
        shared.queued -= handled;
        shared.idle = None;
        end
    }
}

/// A connection with our hello written on it.
async fn connect(me: Sid, addr: SocketAddr) -> Option<TcpStream> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    // Each batch is one write: Nagle would hold it for the peer's delayed
    // ACK (40 ms on Linux), which was the p99 of a write in real mode.
    stream.set_nodelay(true).ok()?;
    write_frame(&mut stream, &me).await.ok()?;
    stream.flush().await.ok()?;
    Some(stream)
}

/// Write and flush on a connection that may be gone (then: false). Even an
/// empty batch is flushed: what `write_now` could not flush is behind it.
async fn write_flush(stream: Option<&mut TcpStream>, buf: &[u8]) -> bool {
    let Some(stream) = stream else {
        return false;
    };
    stream.write_all(buf).await.is_ok() && stream.flush().await.is_ok()
}

enum Served {
    Reset,
    Broken,
    DriverGone,
}

#[cfg(all(test, madsim))]
mod tests {
    use super::*;
    use crate::types::Zxid;
    use std::time::Instant;

    fn commit(n: u64) -> PeerMsg {
        PeerMsg::Commit { zxid: Zxid(n) }
    }

    /// What one peer receives on its first inbound connection, with when.
    async fn receive(addr: SocketAddr, got: mpsc::UnboundedSender<(PeerMsg, Instant)>) {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let (mut stream, _) = listener.accept().await.expect("accept");
        let hello = read_frame_max::<_, Sid>(&mut stream, MAX_HELLO_FRAME).await;
        assert_eq!(hello.expect("hello"), Some(1));
        let mut frames = FrameReader::new(stream, MAX_FRAME);
        while let Ok(Some(msg)) = frames.next::<PeerMsg>().await {
            let _ = got.send((msg, Instant::now()));
        }
    }

    /// While the link's task is idle the driver writes a batch itself; a
    /// batch sent while a pause (a message fault) holds the link is queued
    /// behind it, and so is the batch after, though the link looks idle by
    /// then to a driver that only checked for a connection.
    #[test]
    fn a_later_batch_never_overtakes_one_held_behind_a_pause() {
        madsim::runtime::Runtime::new().block_on(async {
            let h = madsim::runtime::Handle::current();
            let addr: SocketAddr = "10.0.0.2:2888".parse().unwrap();
            let (got_tx, mut got) = mpsc::unbounded_channel();
            let b = h.create_node().ip([10, 0, 0, 2].into()).build();
            b.spawn(receive(addr, got_tx));
            let a = h.create_node().ip([10, 0, 0, 1].into()).build();
            let sent = a.spawn(async move {
                let (inbox, _inbox_rx) = mpsc::unbounded_channel();
                let mut link = Link::spawn(1, 2, addr, inbox);
                tokio::time::sleep(Duration::from_secs(1)).await;
                link.push(&commit(1));
                link.flush();
                let direct = lock(&link.shared).queued == 0;
                link.queue(Outbound::Pause(Duration::from_millis(300)));
                link.push(&commit(2));
                link.flush();
                link.push(&commit(3));
                link.flush();
                let paused = Instant::now();
                tokio::time::sleep(Duration::from_secs(2)).await;
                let left = lock(&link.shared).queued;
                (direct, paused, left)
            });
            let (direct, paused, left) = sent.await.expect("sender");
            assert!(direct, "an idle link's batch was written by the driver");
            assert_eq!(left, 0, "the task finished what was queued");
            let mut order = Vec::new();
            while let Ok((msg, at)) = got.try_recv() {
                order.push((msg, at >= paused + Duration::from_millis(300)));
            }
            let want = [(commit(1), false), (commit(2), true), (commit(3), true)];
            assert_eq!(order, want);
        });
    }
}
