//! The reply order as a client sees it, whatever the server core says:
//! after the ConnectResponse, every frame is an event (xid -1), a ping's
//! answer (-2), an auth's (-4), a SetWatches' (-8), or the answer to the
//! oldest request still unanswered (clients match a reply to the front of
//! their queue: kazoo pops it, and dies on a frame that matches nothing);
//! each request is answered once; nothing follows a close.

use super::tests::{connected, create, request};
use super::*;
use crate::jute::records::ReplyHeader;
use crate::jute::{op, xid};
use crate::proto::{Stat, WatchedEvent};
use proptest::prelude::*;
use std::collections::VecDeque;

/// What happens next on the connection.
#[derive(Clone, Debug)]
enum Step {
    /// The client sends a request of this kind (see `send`).
    Send(u8),
    /// The core answers the n-th request it was handed (again, maybe).
    Answer(usize),
    /// The core answers a request it was never handed.
    Stray(u64),
    Pong,
    Watch,
    /// The session is closed elsewhere, or expires.
    Expired,
    /// The core sends a second ConnectResponse's worth.
    Connected,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..6).prop_map(Step::Send),
        6 => (0usize..8).prop_map(Step::Answer),
        1 => (0u64..20).prop_map(Step::Stray),
        2 => Just(Step::Pong),
        2 => Just(Step::Watch),
        1 => Just(Step::Expired),
        1 => Just(Step::Connected),
    ]
}

/// The client's frame for request kind `k` with `next` as its xid, and the
/// xid it expects its answer under.
fn send(k: u8, next: i32) -> (Vec<u8>, i32) {
    match k {
        0 => (create(next, "/a"), next),
        1 => (
            request(next, op::EXISTS, |w| {
                w.ustring("/a").boolean(true);
            }),
            next,
        ),
        2 => (request(xid::PING, op::PING, |_| {}), xid::PING),
        3 => {
            let auth = |w: &mut crate::jute::Writer| {
                w.int(0).ustring("digest").buffer(b"u:p");
            };
            (request(xid::AUTH, op::AUTH, auth), xid::AUTH)
        }
        4 => (request(next, 999, |_| {}), next), // unknown opcode
        _ => (request(next, op::CLOSE_SESSION, |_| {}), next),
    }
}

fn answer(xid: u64) -> ServerMsg {
    ServerMsg::Reply {
        xid,
        zxid: Zxid(9),
        result: Ok(OpResult::Exists(Some(Stat::default()))),
        failed_at: None,
    }
}

/// Checks `out` as the client reads it; `expect` is its queue of xids.
fn client_reads(
    out: &[Action],
    expect: &mut VecDeque<i32>,
    closed: &mut bool,
) -> Result<(), String> {
    for a in out {
        if *closed {
            return Err(format!("{a:?} after a close"));
        }
        match a {
            Action::Close(_) => *closed = true,
            Action::Core(_) => {}
            Action::Send(f) => {
                let h = ReplyHeader::read(&mut Reader::new(&f[4..])).map_err(|e| e.to_string())?;
                match h.xid {
                    -1 | -2 => {}
                    x if expect.front() == Some(&x) => drop(expect.pop_front()),
                    x => {
                        return Err(format!(
                            "reply xid {x} while the client waits for {expect:?}"
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_frame_answers_the_oldest_request_or_is_an_event(steps in prop::collection::vec(step(), 0..40)) {
        let mut out = Vec::new();
        let mut s = connected(&mut out);
        prop_assert!(matches!(out[..], [Action::Send(_)]), "the ConnectResponse");
        let (mut expect, mut closed, mut handed, mut next) = (VecDeque::new(), false, Vec::new(), 1);
        for st in steps {
            out.clear();
            match st {
                Step::Send(k) => {
                    let (frame, x) = send(k, next);
                    next += 1;
                    if x != xid::PING {
                        expect.push_back(x);
                    }
                    s.on_frame(&frame, &mut out);
                }
                Step::Answer(n) if !handed.is_empty() => s.on_server(answer(handed[n % handed.len()]), &mut out),
                Step::Answer(_) => {}
                Step::Stray(x) => s.on_server(answer(1000 + x), &mut out),
                Step::Pong => s.on_server(ServerMsg::Pong { zxid: Zxid(3) }, &mut out),
                Step::Watch => {
                    let ev = WatchedEvent { event: crate::proto::EventType::NodeCreated, path: "/a".into(), zxid: Zxid(4) };
                    s.on_server(ServerMsg::Watch(ev), &mut out);
                }
                Step::Expired => s.on_server(ServerMsg::Expired, &mut out),
                Step::Connected => s.on_server(ServerMsg::Connected { session: 42, timeout_ms: 4_000 }, &mut out),
            }
            for a in &out {
                match a {
                    Action::Core(ClientMsg::Request { xid, .. }) | Action::Core(ClientMsg::Close { xid }) => handed.push(*xid),
                    _ => {}
                }
            }
            if let Err(e) = client_reads(&out, &mut expect, &mut closed) {
                prop_assert!(false, "{}", e);
            }
        }
        // With everything answered, every request got its reply (or the
        // connection closed first).
        out.clear();
        for x in handed.clone() {
            s.on_server(answer(x), &mut out);
        }
        if let Err(e) = client_reads(&out, &mut expect, &mut closed) {
            prop_assert!(false, "{}", e);
        }
        prop_assert!(closed || expect.is_empty(), "unanswered: {:?}", expect);
    }
}
