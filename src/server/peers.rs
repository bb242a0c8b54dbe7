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
use std::time::Duration;
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

/// What the driver queues for one peer.
pub(super) enum Outbound {
    Msg(PeerMsg),
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

/// Failed connects in a row before the peer counts as unreachable. madsim
/// refuses a connect whose SYN is lost at once, where TCP would retry it.
const CONNECT_TRIES: u32 = 5;

/// Keeps a connection to `peer` and writes what the driver queues for it,
/// one flush per batch. What is queued while no connection stands waits for
/// the next one; if the peer stays unreachable it is dropped and the driver
/// is told (never a silent gap).
pub(super) async fn send_loop(
    me: Sid,
    peer: Sid,
    addr: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    inbox: mpsc::UnboundedSender<Inbox>,
) {
    let mut waiting: Vec<PeerMsg> = Vec::new();
    let mut failures = 0u32;
    loop {
        let Some(mut stream) = connect(me, addr).await else {
            failures += 1;
            let mut broke = false;
            while let Ok(item) = rx.try_recv() {
                match item {
                    Outbound::Msg(m) => waiting.push(m),
                    // Meant for a connection of a relationship now over.
                    Outbound::Reset => waiting.clear(),
                    // A break on a link not up: what waited is lost with
                    // it, and the driver is told, as on a live link.
                    Outbound::Break => {
                        waiting.clear();
                        broke = true;
                    }
                    // The link is held: the next connect waits.
                    Outbound::Pause(d) => tokio::time::sleep(d).await,
                }
            }
            if broke {
                let _ = inbox.send(Inbox::PeerDown { sid: peer });
            }
            if failures >= CONNECT_TRIES && !waiting.is_empty() {
                waiting.clear();
                let _ = inbox.send(Inbox::PeerDown { sid: peer });
            }
            tokio::time::sleep(RECONNECT_BACKOFF).await;
            continue;
        };
        failures = 0;
        let mut buf = Vec::new();
        for m in waiting.drain(..) {
            encode_into(&mut buf, &m);
        }
        if !flush_buf(&mut stream, &buf).await {
            let _ = inbox.send(Inbox::PeerDown { sid: peer });
            continue;
        }
        match serve(&mut stream, &mut rx).await {
            Served::Reset => {}
            Served::Broken => {
                let _ = inbox.send(Inbox::PeerDown { sid: peer });
            }
            Served::DriverGone => return,
        }
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

async fn flush_buf(stream: &mut TcpStream, buf: &[u8]) -> bool {
    buf.is_empty() || (stream.write_all(buf).await.is_ok() && stream.flush().await.is_ok())
}

enum Served {
    Reset,
    Broken,
    DriverGone,
}

/// Write what the driver queues, a batch per flush, until a reset, a break
/// or a failed write.
async fn serve(stream: &mut TcpStream, rx: &mut mpsc::UnboundedReceiver<Outbound>) -> Served {
    let mut buf = Vec::new();
    loop {
        let Some(first) = rx.recv().await else {
            return Served::DriverGone;
        };
        buf.clear();
        let mut end = None;
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Outbound::Msg(m) => encode_into(&mut buf, &m),
                Outbound::Reset => end = Some(Served::Reset),
                Outbound::Break => end = Some(Served::Broken),
                Outbound::Pause(d) => {
                    if !flush_buf(stream, &buf).await {
                        return Served::Broken;
                    }
                    buf.clear();
                    tokio::time::sleep(d).await;
                }
            }
            if end.is_some() {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !flush_buf(stream, &buf).await {
            return Served::Broken;
        }
        if let Some(end) = end {
            return end;
        }
    }
}
