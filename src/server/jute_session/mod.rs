//! One client connection speaking ZooKeeper's protocol (jute), sans-IO:
//! frames in become the server's client messages, the server's messages
//! become frames out. Replies leave in the order their requests came —
//! ZooKeeper's clients match a reply to the oldest request they sent (kazoo
//! fails the connection on a mismatch) — whether the ensemble answers them
//! or this connection does (auth, errors found before the ensemble sees it).

use super::wire::{ClientMsg, ClientOp, ServerMsg};
use crate::acl;
use crate::jute::convert;
use crate::jute::records::{ConnectRequest, ConnectResponse, Id, RequestHeader};
use crate::jute::reply::{self, Reply};
use crate::jute::request::{self, Op};
use crate::jute::{frame, xid, Reader, Writer};
use crate::proto::{ErrorCode, OpResult};
use crate::types::{SessionId, Zxid};
use sha1::{Digest, Sha1};
use std::collections::VecDeque;

/// What the connection must do next.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Hand this to the server (`Clients::on_message`).
    Core(ClientMsg),
    /// Write this frame (length prefix included) to the client.
    Send(Vec<u8>),
    /// Close the connection after what was sent before.
    Close(&'static str),
}

/// A request's place in the reply order.
enum Slot {
    /// The ensemble will answer: the request, to shape its reply.
    Waiting(Op),
    /// Answered here; `bool`: close the connection after sending it.
    Ready(Vec<u8>, bool),
}

#[derive(Default)]
pub struct JuteSession {
    /// The ConnectRequest has come.
    started: bool,
    /// What the client said of readOnly (written back only if it did).
    read_only: Option<bool>,
    queue: VecDeque<(u32, Slot)>,
    /// The identities `auth` packets gave this connection.
    ids: Vec<Id>,
    /// The ConnectResponse has been sent: from here on the client reads
    /// every frame as a reply header, so none may be sent again.
    connected: bool,
    done: bool,
}

/// The password of `session`: the same on every server (a function of the
/// id and a secret every server shares, as ZooKeeper derives it), so a
/// session's password survives a leader change without being replicated.
pub fn password(session: SessionId) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(b"zkstorm session secret");
    h.update(session.to_be_bytes());
    h.finalize()[..16].to_vec()
}

/// What ZooKeeper answers a reconnect whose session is gone or whose
/// password is wrong: timeout 0, session 0, a zero password; then it closes.
fn expired(read_only: Option<bool>) -> Vec<u8> {
    connect_response(0, 0, vec![0; 16], read_only)
}

fn connect_response(
    timeout_ms: i32,
    session_id: i64,
    passwd: Vec<u8>,
    read_only: Option<bool>,
) -> Vec<u8> {
    let mut w = Writer::new();
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        passwd,
        read_only: read_only.map(|_| false),
    };
    resp.write(&mut w);
    frame::encode(&w.buf)
}

fn reply_frame(xid: i32, zxid: i64, reply: &Reply) -> Vec<u8> {
    frame::encode(&reply::encode(xid, zxid, reply))
}

impl JuteSession {
    pub fn new() -> Self {
        Self::default()
    }

    /// The identities this connection authenticated as.
    pub fn ids(&self) -> &[Id] {
        &self.ids
    }

    /// A frame's body from the client.
    pub fn on_frame(&mut self, body: &[u8], out: &mut Vec<Action>) {
        if self.done {
            return;
        }
        if !self.started {
            return self.on_connect(body, out);
        }
        let req = match request::decode(body) {
            Ok(req) => req,
            Err(e) => return self.undecodable(body, e, out),
        };
        self.on_request(req.xid, req.op, out);
        self.flush(out);
    }

    fn on_connect(&mut self, body: &[u8], out: &mut Vec<Action>) {
        let c = match ConnectRequest::read(&mut Reader::new(body)) {
            Ok(c) => c,
            Err(_) => return self.close(out, "malformed ConnectRequest"),
        };
        self.started = true;
        self.read_only = c.read_only;
        let session = c.session_id as u64;
        if session != 0 && c.passwd != password(session) {
            out.push(Action::Send(expired(self.read_only)));
            return self.close(out, "wrong session password");
        }
        out.push(Action::Core(ClientMsg::Connect {
            session,
            timeout_ms: c.timeout_ms.max(0) as u64,
            last_zxid_seen: Zxid(c.last_zxid_seen.max(0) as u64),
        }));
    }

    /// An opcode we do not serve is answered Unimplemented in its turn; a
    /// frame we cannot read ends the connection (ZooKeeper does the same).
    fn undecodable(&mut self, body: &[u8], e: crate::jute::JuteError, out: &mut Vec<Action>) {
        let header = RequestHeader::read(&mut Reader::new(body));
        match header {
            Ok(h) if !request::served(h.opcode) && h.xid > 0 => {
                let code = ErrorCode::Unimplemented.code();
                let frame = reply_frame(h.xid, 0, &Reply::Error(code));
                self.queue
                    .push_back((h.xid as u32, Slot::Ready(frame, false)));
                self.flush(out);
            }
            _ => {
                tracing::info!(error = %e, "closing a client connection: malformed request");
                self.close(out, "malformed request");
            }
        }
    }

    fn on_request(&mut self, xid: i32, op: Op, out: &mut Vec<Action>) {
        let key = xid as u32;
        let core = |op: ClientOp| ClientMsg::Request {
            xid: key.into(),
            op,
        };
        match op {
            Op::Ping => out.push(Action::Core(ClientMsg::Ping)),
            Op::Auth { scheme, auth } => {
                let (reply, close) = match acl::authenticate(&scheme, &auth) {
                    Some(id) => {
                        if !self.ids.contains(&id) {
                            self.ids.push(id);
                        }
                        out.push(Action::Core(ClientMsg::Auth { scheme, auth }));
                        (Reply::Empty, false)
                    }
                    None => (Reply::Error(ErrorCode::AuthFailed.code()), true),
                };
                let frame = reply_frame(xid::AUTH, 0, &reply);
                self.queue.push_back((key, Slot::Ready(frame, close)));
            }
            Op::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => {
                out.push(Action::Core(ClientMsg::SetWatches {
                    relative_zxid: Zxid(relative_zxid.max(0) as u64),
                    data,
                    exist,
                    child,
                }));
                let frame = reply_frame(xid::SET_WATCHES, 0, &Reply::Empty);
                self.queue.push_back((key, Slot::Ready(frame, false)));
            }
            Op::CloseSession => {
                self.queue.push_back((key, Slot::Waiting(op)));
                out.push(Action::Core(ClientMsg::Close { xid: key.into() }));
            }
            op => match convert::client_op(&op, &self.ids) {
                Ok(client_op) => {
                    out.push(Action::Core(core(client_op)));
                    self.queue.push_back((key, Slot::Waiting(op)));
                }
                Err(code) => {
                    let frame = reply_frame(xid, 0, &Reply::Error(code.code()));
                    self.queue.push_back((key, Slot::Ready(frame, false)));
                }
            },
        }
    }

    /// A message from the server for this connection.
    pub fn on_server(&mut self, msg: ServerMsg, out: &mut Vec<Action>) {
        if self.done {
            return;
        }
        match msg {
            // Once connected, the client reads every frame as a reply
            // header: a second ConnectResponse would answer no request.
            ServerMsg::Connected { .. } if self.connected => {
                tracing::warn!("a second ConnectResponse for one connection: dropped");
            }
            ServerMsg::Connected {
                session,
                timeout_ms,
            } => {
                let timeout = timeout_ms.min(i32::MAX as u64) as i32;
                let frame =
                    connect_response(timeout, session as i64, password(session), self.read_only);
                self.connected = true;
                out.push(Action::Send(frame));
            }
            // In the handshake, expiry is the ConnectResponse's answer. Past
            // it (the session closed by another connection, or expired),
            // ZooKeeper just closes the connection: the client reconnects
            // and hears of the expiry then. A ConnectResponse here would be
            // read as a reply with xid 0 to no request (kazoo: IndexError).
            ServerMsg::Expired => {
                if !self.connected {
                    out.push(Action::Send(expired(self.read_only)));
                }
                self.close(out, "session expired");
            }
            ServerMsg::Refused => self.close(out, "server behind the client or not serving"),
            ServerMsg::Pong { zxid } => {
                out.push(Action::Send(reply_frame(
                    xid::PING,
                    zxid.0 as i64,
                    &Reply::Empty,
                )));
            }
            // ZooKeeper 3.8 sends notifications with zxid -1.
            ServerMsg::Watch(ev) => {
                let event = convert::watcher_event(&ev);
                out.push(Action::Send(frame::encode(&reply::encode_event(
                    -1, &event,
                ))));
            }
            ServerMsg::Reply {
                xid,
                zxid,
                result,
                failed_at,
            } => {
                self.answered(xid as u32, zxid, &result, failed_at);
                self.flush(out);
            }
        }
    }

    /// Fill the waiting slot of request `key` with its reply.
    fn answered(
        &mut self,
        key: u32,
        zxid: Zxid,
        result: &Result<OpResult, ErrorCode>,
        failed_at: Option<u32>,
    ) {
        let Some(slot) = self
            .queue
            .iter_mut()
            .find(|(k, s)| *k == key && matches!(s, Slot::Waiting(_)))
        else {
            tracing::warn!(xid = key as i32, "a reply to no request");
            return;
        };
        let Slot::Waiting(op) = &slot.1 else {
            unreachable!("matched above")
        };
        let reply = convert::reply(op, result, failed_at.map(|i| i as usize));
        let close = matches!(op, Op::CloseSession);
        slot.1 = Slot::Ready(reply_frame(key as i32, zxid.0 as i64, &reply), close);
    }

    /// Send the replies at the front of the order that are ready.
    fn flush(&mut self, out: &mut Vec<Action>) {
        while let Some((_, Slot::Ready(..))) = self.queue.front() {
            let Some((_, Slot::Ready(frame, close))) = self.queue.pop_front() else {
                unreachable!("checked above")
            };
            out.push(Action::Send(frame));
            if close {
                return self.close(out, "session closed");
            }
        }
    }

    fn close(&mut self, out: &mut Vec<Action>, why: &'static str) {
        self.done = true;
        self.queue.clear();
        out.push(Action::Close(why));
    }
}

#[cfg(test)]
mod replies_props;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::ReplyHeader;
    use crate::jute::{op, Writer};
    use crate::proto::{Stat, WriteOp};

    fn connect(session: i64, passwd: Vec<u8>, read_only: Option<bool>) -> Vec<u8> {
        let mut w = Writer::new();
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: session,
            passwd,
            read_only,
        }
        .write(&mut w);
        w.buf
    }

    pub(super) fn request(xid: i32, opcode: i32, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::new();
        RequestHeader { xid, opcode }.write(&mut w);
        body(&mut w);
        w.buf
    }

    pub(super) fn create(xid: i32, path: &str) -> Vec<u8> {
        request(xid, op::CREATE, |w| {
            w.ustring(path).buffer(b"");
            crate::jute::records::write_acls(w, &acl::open());
            w.int(0);
        })
    }

    /// (xid, err) of each frame sent; Close as (0, 0) with `closed`.
    fn sent(out: &[Action]) -> (Vec<(i32, i32)>, bool) {
        let mut frames = Vec::new();
        let mut closed = false;
        for a in out {
            match a {
                Action::Send(f) => {
                    let h = ReplyHeader::read(&mut Reader::new(&f[4..])).unwrap();
                    frames.push((h.xid, h.err));
                }
                Action::Close(_) => closed = true,
                Action::Core(_) => {}
            }
        }
        (frames, closed)
    }

    /// A session past its handshake (session 42); `out` gets the
    /// ConnectResponse.
    pub(super) fn connected(out: &mut Vec<Action>) -> JuteSession {
        let mut s = started();
        let connected = ServerMsg::Connected {
            session: 42,
            timeout_ms: 4_000,
        };
        s.on_server(connected, out);
        s
    }

    pub(super) fn started() -> JuteSession {
        let mut s = JuteSession::new();
        let mut out = Vec::new();
        s.on_frame(&connect(0, vec![0; 16], Some(false)), &mut out);
        assert!(matches!(
            out[..],
            [Action::Core(ClientMsg::Connect { session: 0, .. })]
        ));
        s
    }

    fn created(xid: u64) -> ServerMsg {
        let stat = Stat::default();
        ServerMsg::Reply {
            xid,
            zxid: Zxid(7),
            result: Ok(OpResult::Created {
                path: "/a".into(),
                stat,
            }),
            failed_at: None,
        }
    }

    #[test]
    fn the_handshake_answers_with_the_sessions_password_and_echoes_read_only() {
        let mut out = Vec::new();
        connected(&mut out);
        let [Action::Send(f)] = &out[..] else {
            panic!("{out:?}")
        };
        let resp = ConnectResponse::read(&mut Reader::new(&f[4..])).unwrap();
        assert_eq!((resp.session_id, resp.timeout_ms), (42, 4_000));
        assert_eq!(resp.passwd, password(42));
        assert_eq!(resp.read_only, Some(false));
        assert_ne!(password(42), password(43));
    }

    /// A reconnect with the wrong password is an expired session: timeout
    /// 0, session 0, then the connection closes; the server never hears it.
    #[test]
    fn a_wrong_password_is_answered_as_an_expired_session() {
        let mut s = JuteSession::new();
        let mut out = Vec::new();
        s.on_frame(&connect(42, vec![1; 16], None), &mut out);
        assert!(!out.iter().any(|a| matches!(a, Action::Core(_))));
        let Action::Send(f) = &out[0] else {
            panic!("{out:?}")
        };
        let resp = ConnectResponse::read(&mut Reader::new(&f[4..])).unwrap();
        assert_eq!((resp.timeout_ms, resp.session_id), (0, 0));
        assert_eq!(resp.read_only, None, "not written back unasked");
        assert!(matches!(out.last(), Some(Action::Close(_))));
        let mut ok = Vec::new();
        JuteSession::new().on_frame(&connect(42, password(42), None), &mut ok);
        assert!(matches!(
            ok[..],
            [Action::Core(ClientMsg::Connect { session: 42, .. })]
        ));
    }

    /// kazoo matches replies to requests by position: an auth answered at
    /// once still waits for the create sent before it.
    #[test]
    fn replies_leave_in_request_order_whoever_answers() {
        let mut s = started();
        let mut out = Vec::new();
        s.on_frame(&create(1, "/a"), &mut out);
        let auth = request(xid::AUTH, op::AUTH, |w| {
            w.int(0).ustring("digest").buffer(b"u:p");
        });
        s.on_frame(&auth, &mut out);
        let unknown = request(2, 999, |_| {});
        s.on_frame(&unknown, &mut out);
        assert_eq!(sent(&out).0, vec![], "nothing may pass the create");
        out.clear();
        s.on_server(created(1), &mut out);
        let unimplemented = ErrorCode::Unimplemented.code();
        assert_eq!(
            sent(&out),
            (vec![(1, 0), (xid::AUTH, 0), (2, unimplemented)], false)
        );
        assert_eq!(s.ids(), &[acl::id("digest", &acl::digest_id("u:p"))]);
    }

    #[test]
    fn an_unknown_auth_scheme_fails_and_closes() {
        let mut s = started();
        let mut out = Vec::new();
        let auth = request(xid::AUTH, op::AUTH, |w| {
            w.int(0).ustring("kerberos").buffer(b"x");
        });
        s.on_frame(&auth, &mut out);
        let failed = ErrorCode::AuthFailed.code();
        assert_eq!(sent(&out), (vec![(xid::AUTH, failed)], true));
    }

    #[test]
    fn a_malformed_request_closes_the_connection() {
        let mut s = started();
        let mut out = Vec::new();
        s.on_frame(&[0, 0, 0, 1, 0, 0], &mut out);
        assert_eq!(sent(&out), (vec![], true));
        out.clear();
        s.on_server(created(1), &mut out);
        assert!(out.is_empty(), "a closed session sends nothing more");
    }

    /// A failed multi answers each op: 0 before the failure, its code, then
    /// RuntimeInconsistency.
    #[test]
    fn a_failed_multi_gets_a_result_per_op() {
        let mut s = started();
        let mut out = Vec::new();
        let multi = request(3, op::MULTI, |w| {
            for (opcode, path) in [(op::CHECK, "/a"), (op::DELETE, "/b"), (op::CHECK, "/c")] {
                crate::jute::records::MultiHeader {
                    opcode,
                    done: false,
                    err: -1,
                }
                .write(w);
                w.ustring(path).int(-1);
            }
            crate::jute::records::MultiHeader {
                opcode: -1,
                done: true,
                err: -1,
            }
            .write(w);
        });
        s.on_frame(&multi, &mut out);
        let Some(Action::Core(ClientMsg::Request { op, .. })) = out.first() else {
            panic!("{out:?}")
        };
        assert!(matches!(op, ClientOp::Write(WriteOp::Multi(ops)) if ops.len() == 3));
        out.clear();
        let failed = ServerMsg::Reply {
            xid: 3,
            zxid: Zxid(9),
            result: Err(ErrorCode::NoNode),
            failed_at: Some(1),
        };
        s.on_server(failed, &mut out);
        let [Action::Send(f)] = &out[..] else {
            panic!("{out:?}")
        };
        let want = reply_frame(
            3,
            9,
            &Reply::Multi(convert::multi_failure(3, 1, ErrorCode::NoNode)),
        );
        assert_eq!(f, &want);
    }

    #[test]
    fn close_session_is_answered_then_the_connection_closes() {
        let mut s = started();
        let mut out = Vec::new();
        s.on_frame(&request(5, op::CLOSE_SESSION, |_| {}), &mut out);
        assert!(matches!(
            out[..],
            [Action::Core(ClientMsg::Close { xid: 5 })]
        ));
        out.clear();
        let closed = ServerMsg::Reply {
            xid: 5,
            zxid: Zxid(10),
            result: Ok(OpResult::SessionClosed),
            failed_at: None,
        };
        s.on_server(closed, &mut out);
        assert_eq!(sent(&out), (vec![(5, 0)], true));
    }

    fn valid_frames() -> Vec<Vec<u8>> {
        let auth = request(xid::AUTH, op::AUTH, |w| {
            w.int(0).ustring("digest").buffer(b"u:p");
        });
        let set_watches = request(xid::SET_WATCHES, op::SET_WATCHES, |w| {
            w.long(0);
            for _ in 0..3 {
                w.vector(&["/a".to_string()], |w, p| {
                    w.ustring(p);
                });
            }
        });
        vec![
            create(1, "/a"),
            auth,
            set_watches,
            request(2, op::GET_DATA, |w| {
                w.ustring("/a").boolean(true);
            }),
            request(3, op::CLOSE_SESSION, |_| {}),
        ]
    }

    proptest::proptest! {
        /// Whatever a client sends — random bytes, or real requests with
        /// bytes flipped, cut or added — the session answers or closes;
        /// it never panics, and after a close it says nothing more.
        #[test]
        fn any_frames_are_answered_or_closed_never_a_panic(
            picks in proptest::collection::vec((0usize..5, proptest::collection::vec((0usize..64, proptest::prelude::any::<u8>()), 0..4), 0usize..80), 0..12),
            noise in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 0..4),
        ) {
            let frames = valid_frames();
            let mut s = started();
            let mut out = Vec::new();
            for (which, flips, cut) in picks {
                let mut f = frames[which].clone();
                for (at, byte) in flips {
                    if let Some(b) = f.get_mut(at) {
                        *b = byte;
                    }
                }
                f.truncate(cut.max(1));
                s.on_frame(&f, &mut out);
            }
            for f in noise {
                s.on_frame(&f, &mut out);
            }
            s.on_server(created(1), &mut out);
            let closed_at = out.iter().position(|a| matches!(a, Action::Close(_)));
            if let Some(i) = closed_at {
                proptest::prop_assert_eq!(i, out.len() - 1, "nothing after a close");
            }
        }
    }

    /// A session closed elsewhere while this connection serves it: the
    /// connection closes with no frame (a second ConnectResponse would be
    /// read as a reply header, xid 0, to no request).
    #[test]
    fn a_session_expired_past_the_handshake_closes_without_a_frame() {
        let mut out = Vec::new();
        let mut s = connected(&mut out);
        out.clear();
        s.on_server(ServerMsg::Expired, &mut out);
        assert_eq!(sent(&out), (vec![], true));
        // In the handshake, expiry is still answered.
        let mut s = started();
        let mut out = Vec::new();
        s.on_server(ServerMsg::Expired, &mut out);
        assert!(matches!(out[..], [Action::Send(_), Action::Close(_)]));
    }

    #[test]
    fn pings_and_watch_events_go_out_at_once() {
        let mut s = started();
        let mut out = Vec::new();
        s.on_frame(&create(1, "/a"), &mut out);
        s.on_frame(&request(xid::PING, op::PING, |_| {}), &mut out);
        assert!(matches!(out.last(), Some(Action::Core(ClientMsg::Ping))));
        out.clear();
        s.on_server(ServerMsg::Pong { zxid: Zxid(3) }, &mut out);
        let ev = crate::proto::WatchedEvent {
            event: crate::proto::EventType::NodeCreated,
            path: "/w".into(),
            zxid: Zxid(4),
        };
        s.on_server(ServerMsg::Watch(ev), &mut out);
        assert_eq!(sent(&out).0, vec![(xid::PING, 0), (xid::NOTIFICATION, 0)]);
    }
}
