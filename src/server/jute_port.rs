//! The async shell of one ZooKeeper-protocol client connection: bytes in
//! through the framing and `JuteSession` to the server, the server's
//! messages back out as frames. A connection whose first four bytes spell
//! a four-letter word gets its answer instead and is closed.

use super::clients::Slot;
use super::four_letter;
use super::jute_session::{Action, JuteSession};
use super::wire::ServerMsg;
use super::{ConnId, Inbox};
use crate::jute::frame::{self, MAX_PACKET};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// What the writer does next, in the order the session decided it.
enum Out {
    Frame(Vec<u8>),
    Close,
}

/// Serve one connection: a reader, a pump from the server and a writer.
/// The session is shared behind a lock so that a request's place in the
/// reply order is taken before the server can answer it.
pub(super) fn serve(
    stream: TcpStream,
    conn: ConnId,
    mut rx: mpsc::UnboundedReceiver<ServerMsg>,
    inbox: mpsc::UnboundedSender<Inbox>,
    slot: Slot,
) {
    let session = Arc::new(Mutex::new(JuteSession::new()));
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let (rd, mut wr) = tokio::io::split(stream);
    let reader = tokio::spawn(read_loop(
        rd,
        conn,
        session.clone(),
        inbox.clone(),
        out_tx.clone(),
    ));
    let (pump_out, pump_inbox) = (out_tx, inbox.clone());
    tokio::spawn(async move {
        let mut actions = Vec::new();
        while let Some(msg) = rx.recv().await {
            let mut s = session.lock().expect("session lock");
            s.on_server(msg, &mut actions);
            if dispatch(conn, &mut actions, &pump_inbox, &pump_out) {
                break;
            }
        }
        // Closed by the session, or the server dropped the connection.
        let _ = pump_out.send(Out::Close);
    });
    tokio::spawn(async move {
        let mut buf = Vec::new();
        'conn: while let Some(first) = out_rx.recv().await {
            buf.clear();
            let mut next = Some(first);
            while let Some(out) = next {
                match out {
                    Out::Frame(f) => buf.extend_from_slice(&f),
                    Out::Close => {
                        let _ = wr.write_all(&buf).await;
                        break 'conn;
                    }
                }
                next = out_rx.try_recv().ok();
            }
            if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
        reader.abort();
        drop(slot);
        let _ = inbox.send(Inbox::ClientGone { conn });
    });
}

async fn read_loop(
    mut rd: ReadHalf<TcpStream>,
    conn: ConnId,
    session: Arc<Mutex<JuteSession>>,
    inbox: mpsc::UnboundedSender<Inbox>,
    out: mpsc::UnboundedSender<Out>,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut actions = Vec::new();
    let mut first = true;
    'conn: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if first && buf.len() >= 4 {
            first = false;
            let prefix = [buf[0], buf[1], buf[2], buf[3]];
            if let Some(word) = four_letter::word(prefix) {
                // `stmk` carries an 8-byte mask after the word.
                let arg = buf.get(4..12).map(|m| m.try_into().expect("8 bytes"));
                let (reply, answer) = oneshot::channel();
                let _ = inbox.send(Inbox::FourLetter { word, arg, reply });
                if let Ok(text) = answer.await {
                    let _ = out.send(Out::Frame(text.into_bytes()));
                }
                break 'conn;
            }
        }
        let mut used = 0;
        loop {
            match frame::split(&buf[used..], MAX_PACKET) {
                Ok(Some((body, len))) => {
                    used += len;
                    // Acted on under the lock: what this frame sends goes
                    // out before anything the server answers after it.
                    let mut s = session.lock().expect("session lock");
                    s.on_frame(body, &mut actions);
                    if dispatch(conn, &mut actions, &inbox, &out) {
                        drop(s);
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(conn, error = %e, "closing a client connection");
                    break 'conn;
                }
            }
        }
        buf.drain(..used);
    }
    let _ = out.send(Out::Close);
}

/// Carry out the session's actions; true when the connection must close.
fn dispatch(
    conn: ConnId,
    actions: &mut Vec<Action>,
    inbox: &mpsc::UnboundedSender<Inbox>,
    out: &mpsc::UnboundedSender<Out>,
) -> bool {
    let mut close = false;
    for a in actions.drain(..) {
        match a {
            Action::Core(msg) => {
                let _ = inbox.send(Inbox::Client { conn, msg });
            }
            Action::Send(f) => {
                let _ = out.send(Out::Frame(f));
            }
            Action::Close(why) => {
                tracing::debug!(conn, why, "closing a client connection");
                close = true;
            }
        }
    }
    close
}
