use super::codec::ErrorKind;
use super::frame::{self, FrameError, MAX_PACKET};
use super::records::*;
use super::request::{decode, Op};
use super::*;
use proptest::prelude::*;

fn be32(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn jstr(s: &str) -> Vec<u8> {
    let mut v = be32(s.len() as i32);
    v.extend_from_slice(s.as_bytes());
    v
}

/// kazoo's `create("/data", b"hello", ephemeral=True)`, byte by byte as
/// `zookeeper.jute` lays it out (not through our writer).
fn create_frame_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be32(1)); // xid
    b.extend(be32(op::CREATE));
    b.extend(jstr("/data"));
    b.extend(be32(5));
    b.extend_from_slice(b"hello");
    b.extend(be32(1)); // one ACL
    b.extend(be32(perms::ALL));
    b.extend(jstr("world"));
    b.extend(jstr("anyone"));
    b.extend(be32(create_flags::EPHEMERAL));
    b
}

#[test]
fn a_create_request_decodes_as_zookeeper_lays_it_out() {
    let r = decode(&create_frame_body()).unwrap();
    assert_eq!(r.xid, 1);
    let world = Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    };
    assert_eq!(
        r.op,
        Op::Create {
            path: "/data".into(),
            data: Some(b"hello".to_vec()),
            acl: vec![world],
            flags: create_flags::EPHEMERAL,
            with_stat: false,
        }
    );
}

/// kazoo writes the `auth` scheme's empty id as a null string; ZooKeeper
/// reads it as empty, and so must we.
#[test]
fn an_acl_id_sent_as_null_reads_as_empty() {
    let mut b = be32(perms::ALL);
    b.extend(jstr("auth"));
    b.extend(be32(-1));
    let acl = Acl::read(&mut Reader::new(&b)).unwrap();
    assert_eq!((acl.id.scheme.as_str(), acl.id.id.as_str()), ("auth", ""));
}

#[test]
fn a_multi_decodes_its_ops_up_to_the_end_header() {
    let mut b = be32(7);
    b.extend(be32(op::MULTI));
    for (code, rest) in [
        (op::CHECK, [jstr("/a"), be32(3)].concat()),
        (op::DELETE, [jstr("/b"), be32(-1)].concat()),
    ] {
        b.extend(be32(code));
        b.push(0);
        b.extend(be32(-1));
        b.extend(rest);
    }
    let mut w = Writer::new();
    MultiHeader::END.write(&mut w);
    b.extend(w.buf);
    let r = decode(&b).unwrap();
    assert_eq!(
        r.op,
        Op::Multi(vec![
            Op::Check {
                path: "/a".into(),
                version: 3
            },
            Op::Delete {
                path: "/b".into(),
                version: -1
            },
        ])
    );
}

#[test]
fn bad_requests_are_errors_that_say_where() {
    // Cut short in the middle of the path.
    let body = create_frame_body();
    let e = decode(&body[..12]).unwrap_err();
    assert_eq!(e.field, "path");
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    // An opcode we do not serve.
    let mut b = be32(1);
    b.extend(be32(999));
    let e = decode(&b).unwrap_err();
    assert_eq!(e.to_string(), "byte 8: type: opcode 999 is not served");
    // A vector claiming a billion ACLs in a few bytes: refused before any
    // allocation.
    let mut b = be32(1);
    b.extend(be32(op::SET_ACL));
    b.extend(jstr("/x"));
    b.extend(be32(1 << 30));
    let e = decode(&b).unwrap_err();
    assert_eq!(e.field, "acl");
    // Any non-zero boolean byte is true (ZooKeeper's reader); trailing
    // bytes and a null path are errors.
    let mut b = be32(1);
    b.extend(be32(op::EXISTS));
    b.extend(jstr("/x"));
    b.push(2);
    let watched = decode(&b).unwrap().op;
    assert_eq!(
        watched,
        Op::Exists {
            path: "/x".into(),
            watch: true
        }
    );
    let mut b = be32(1);
    b.extend(be32(op::SYNC));
    b.extend(be32(-1));
    assert_eq!(decode(&b).unwrap_err().kind, ErrorKind::Null);
    let mut b = be32(1);
    b.extend(be32(op::PING));
    b.push(0);
    assert_eq!(decode(&b).unwrap_err().kind, ErrorKind::Trailing(1));
}

#[test]
fn connect_records_round_trip_with_and_without_read_only() {
    let c = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x1_0000_0005,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(true),
    };
    let mut w = Writer::new();
    c.write(&mut w);
    assert_eq!(ConnectRequest::read(&mut Reader::new(&w.buf)).unwrap(), c);
    // An old client leaves readOnly out.
    let old = &w.buf[..w.buf.len() - 1];
    let got = ConnectRequest::read(&mut Reader::new(old)).unwrap();
    assert_eq!(got.read_only, None);
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 0,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let mut w = Writer::new();
    resp.write(&mut w);
    assert_eq!(
        ConnectResponse::read(&mut Reader::new(&w.buf)).unwrap(),
        resp
    );
    // Not written back to a client that did not send it.
    let quiet = ConnectResponse {
        read_only: None,
        ..resp
    };
    let mut w2 = Writer::new();
    quiet.write(&mut w2);
    assert_eq!(w2.buf.len() + 1, w.buf.len());
}

/// jute.maxbuffer: a length over the limit (or negative) is refused from
/// the prefix alone; up to the limit, the frame waits for its bytes.
#[test]
fn frames_over_the_limit_are_refused_from_their_prefix() {
    let over = ((MAX_PACKET + 1) as i32).to_be_bytes();
    assert_eq!(
        frame::split(&over, MAX_PACKET),
        Err(FrameError::BadLength {
            len: MAX_PACKET as i64 + 1,
            max: MAX_PACKET
        })
    );
    assert!(frame::split(&(-5i32).to_be_bytes(), MAX_PACKET).is_err());
    let at_limit = (MAX_PACKET as i32).to_be_bytes();
    assert_eq!(frame::split(&at_limit, MAX_PACKET), Ok(None));
    let whole = frame::encode(b"abc");
    let mut two = whole.clone();
    two.extend(frame::encode(b"de"));
    assert_eq!(frame::split(&two, MAX_PACKET), Ok(Some((&b"abc"[..], 7))));
    assert_eq!(frame::split(&whole[..5], MAX_PACKET), Ok(None));
}

fn sample_bodies() -> Vec<Vec<u8>> {
    let mut multi = be32(2);
    multi.extend(be32(op::MULTI));
    multi.extend(be32(op::CREATE));
    multi.push(0);
    multi.extend(be32(-1));
    multi.extend(create_frame_body()[8..].to_vec());
    let mut w = Writer::new();
    MultiHeader::END.write(&mut w);
    multi.extend(w.buf);
    let mut watches = be32(xid::SET_WATCHES);
    watches.extend(be32(op::SET_WATCHES));
    watches.extend(0x5i64.to_be_bytes());
    for list in [vec!["/a", "/b"], vec![], vec!["/c"]] {
        watches.extend(be32(list.len() as i32));
        for p in list {
            watches.extend(jstr(p));
        }
    }
    vec![create_frame_body(), multi, watches]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&body);
        let _ = ConnectRequest::read(&mut Reader::new(&body));
        let _ = frame::split(&body, MAX_PACKET);
    }

    /// Valid frames with bytes flipped, cut or inserted decode or fail, and
    /// never claim more than they hold.
    #[test]
    fn mutated_requests_never_panic(
        which in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        insert in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut body = sample_bodies()[which].clone();
        for (i, b) in flips {
            let i = i.index(body.len());
            body[i] = b;
        }
        let at = cut.index(body.len() + 1);
        body.splice(at..at, insert);
        if let Ok(r) = decode(&body) {
            // Whatever decoded came from these bytes.
            let size = format!("{:?}", r.op).len();
            prop_assert!(size < 64 * (body.len() + 8));
        }
    }

    #[test]
    fn valid_samples_decode(which in 0usize..3) {
        prop_assert!(decode(&sample_bodies()[which]).is_ok());
    }
}

#[test]
fn replies_are_laid_out_as_zookeeper_reads_them() {
    use super::reply::{encode, encode_event, MultiResult, Reply};
    let stat = Stat {
        czxid: 5,
        version: 2,
        data_length: 3,
        ..Stat::default()
    };
    // create2: header, then path and Stat.
    let body = encode(
        9,
        0x1_0000_0007,
        &Reply::Created2 {
            path: "/a0000000001".into(),
            stat,
        },
    );
    let mut r = Reader::new(&body);
    assert_eq!(
        ReplyHeader::read(&mut r).unwrap(),
        ReplyHeader {
            xid: 9,
            zxid: 0x1_0000_0007,
            err: 0
        }
    );
    assert_eq!(r.ustring("path").unwrap(), "/a0000000001");
    assert_eq!(Stat::read(&mut r).unwrap(), stat);
    r.finish("reply").unwrap();
    // An error: the code in the header and nothing after it.
    let body = encode(3, 8, &Reply::Error(-101));
    assert_eq!(
        body,
        [be32(3), 8i64.to_be_bytes().to_vec(), be32(-101)].concat()
    );
    // A failed multi: header err 0, a result per op, then the end marker.
    let results = vec![
        MultiResult::Error(0),
        MultiResult::Error(-103),
        MultiResult::Error(-2),
    ];
    let body = encode(4, 8, &Reply::Multi(results));
    let mut r = Reader::new(&body);
    assert_eq!(ReplyHeader::read(&mut r).unwrap().err, 0);
    for code in [0, -103, -2] {
        let h = MultiHeader::read(&mut r).unwrap();
        assert_eq!((h.opcode, h.done, h.err), (op::ERROR, false, code));
        assert_eq!(r.int("err").unwrap(), code);
    }
    assert_eq!(MultiHeader::read(&mut r).unwrap(), MultiHeader::END);
    r.finish("multi").unwrap();
    // A watch event rides on xid -1.
    let ev = WatcherEvent {
        event_type: event::NODE_DELETED,
        state: state::SYNC_CONNECTED,
        path: "/data".into(),
    };
    let body = encode_event(-1, &ev);
    let mut r = Reader::new(&body);
    assert_eq!(ReplyHeader::read(&mut r).unwrap().xid, xid::NOTIFICATION);
    assert_eq!(WatcherEvent::read(&mut r).unwrap(), ev);
}

/// kazoo's `create("/n", None)` and `set("/n", None)` send a null buffer
/// (length -1); getData answers a null node's data as null again.
#[test]
fn null_data_stays_null_both_ways() {
    let mut b = be32(4);
    b.extend(be32(op::SET_DATA));
    b.extend(jstr("/n"));
    b.extend(be32(-1)); // null data
    b.extend(be32(-1)); // any version
    let r = decode(&b).unwrap();
    let set_null = Op::SetData {
        path: "/n".into(),
        data: None,
        version: -1,
    };
    assert_eq!(r.op, set_null);
    let mut created = create_frame_body();
    // The create's data field sits after xid, opcode and the path.
    let at = 8 + 4 + "/data".len();
    created.splice(at..at + 4 + 5, be32(-1));
    match decode(&created).unwrap().op {
        Op::Create { data, .. } => assert_eq!(data, None),
        other => panic!("{other:?}"),
    }
    use super::reply::{encode, Reply};
    let null = encode(
        2,
        7,
        &Reply::Data {
            data: None,
            stat: Stat::default(),
        },
    );
    let empty = encode(
        2,
        7,
        &Reply::Data {
            data: Some(vec![]),
            stat: Stat::default(),
        },
    );
    assert_eq!(
        null[16..20],
        be32(-1)[..],
        "after the reply header: length -1"
    );
    assert_eq!(empty[16..20], be32(0)[..]);
}
