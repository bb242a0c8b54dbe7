//! Peer transport: one outbound TCP connection per peer for what we send, and
//! the connections peers open to us for what we receive. A broken connection
//! loses what was in flight and is reported, so the ZAB core can reset that
//! relationship (ZAB assumes FIFO channels that fail as a whole).

use super::Inbox;
use crate::net::{encode_into, read_frame, read_frame_max, write_frame, MAX_HELLO_FRAME};
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
            loop {
                match read_frame::<_, PeerMsg>(&mut stream).await {
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
}

/// Keeps a connection to `peer` and writes what the driver queues for it,
/// one flush per batch.
pub(super) async fn send_loop(
    me: Sid,
    peer: Sid,
    addr: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    inbox: mpsc::UnboundedSender<Inbox>,
) {
    loop {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                // Nothing can reach the peer now: what was queued is lost, and
                // the core must hear of it (never a silent gap).
                let mut lost = false;
                while let Ok(item) = rx.try_recv() {
                    lost |= matches!(item, Outbound::Msg(_));
                }
                if lost {
                    let _ = inbox.send(Inbox::PeerDown { sid: peer });
                }
                tokio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
        };
        let mut stream = stream;
        if write_frame(&mut stream, &me).await.is_err() || stream.flush().await.is_err() {
            continue;
        }
        let mut buf = Vec::new();
        let mut reset = false;
        while !reset {
            let Some(first) = rx.recv().await else { return };
            buf.clear();
            let mut next = Some(first);
            while let Some(item) = next {
                match item {
                    Outbound::Msg(m) => encode_into(&mut buf, &m),
                    Outbound::Reset => {
                        reset = true;
                        break;
                    }
                }
                next = rx.try_recv().ok();
            }
            if buf.is_empty() {
                continue;
            }
            if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
                let _ = inbox.send(Inbox::PeerDown { sid: peer });
                break;
            }
        }
    }
}
