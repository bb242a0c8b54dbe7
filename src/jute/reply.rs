//! What the server sends back: a `ReplyHeader` (xid, zxid, err) and, when
//! err is 0, the response record the request's opcode calls for.

use super::codec::Writer;
use super::records::{write_acls, Acl, MultiHeader, ReplyHeader, Stat, WatcherEvent};
use super::{op, xid};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// No body: delete, check, setWatches, auth, ping, closeSession.
    Empty,
    /// `create`: the path created (with its sequence suffix).
    Created {
        path: String,
    },
    /// `create2`.
    Created2 {
        path: String,
        stat: Stat,
    },
    /// exists, setData, setACL.
    Stat(Stat),
    Data {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    Acl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    Children {
        children: Vec<String>,
    },
    Children2 {
        children: Vec<String>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    Multi(Vec<MultiResult>),
    /// A ZooKeeper error code: the header carries it, no body follows.
    Error(i32),
}

/// One op's result inside a multi's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    Created {
        path: String,
    },
    Created2 {
        path: String,
        stat: Stat,
    },
    Deleted,
    SetData(Stat),
    Checked,
    /// ZooKeeper reports a failed multi as an error per op: 0 for the ops
    /// before the one that failed, its code for it, RuntimeInconsistency
    /// (-2) for those after.
    Error(i32),
}

/// The body of a reply frame (the framing's length prefix not included).
pub fn encode(xid: i32, zxid: i64, reply: &Reply) -> Vec<u8> {
    let mut w = Writer::new();
    let err = match reply {
        Reply::Error(code) => *code,
        _ => 0,
    };
    ReplyHeader { xid, zxid, err }.write(&mut w);
    write_body(&mut w, reply);
    w.buf
}

fn write_body(w: &mut Writer, reply: &Reply) {
    match reply {
        Reply::Empty | Reply::Error(_) => {}
        Reply::Created { path } | Reply::Sync { path } => {
            w.ustring(path);
        }
        Reply::Created2 { path, stat } => {
            w.ustring(path);
            stat.write(w);
        }
        Reply::Stat(stat) => stat.write(w),
        Reply::Data { data, stat } => {
            w.buffer_opt(data.as_deref());
            stat.write(w);
        }
        Reply::Acl { acl, stat } => {
            write_acls(w, acl);
            stat.write(w);
        }
        Reply::Children { children } => {
            w.vector(children, |w, c| {
                w.ustring(c);
            });
        }
        Reply::Children2 { children, stat } => {
            w.vector(children, |w, c| {
                w.ustring(c);
            });
            stat.write(w);
        }
        Reply::Multi(results) => {
            for r in results {
                write_multi_result(w, r);
            }
            MultiHeader::END.write(w);
        }
    }
}

fn write_multi_result(w: &mut Writer, r: &MultiResult) {
    let header = |opcode, err| MultiHeader {
        opcode,
        done: false,
        err,
    };
    match r {
        MultiResult::Created { path } => {
            header(op::CREATE, 0).write(w);
            w.ustring(path);
        }
        MultiResult::Created2 { path, stat } => {
            header(op::CREATE2, 0).write(w);
            w.ustring(path);
            stat.write(w);
        }
        MultiResult::Deleted => header(op::DELETE, 0).write(w),
        MultiResult::SetData(stat) => {
            header(op::SET_DATA, 0).write(w);
            stat.write(w);
        }
        MultiResult::Checked => header(op::CHECK, 0).write(w),
        MultiResult::Error(code) => {
            header(op::ERROR, *code).write(w);
            w.int(*code);
        }
    }
}

/// A watch notification's frame body: xid -1, then the event.
pub fn encode_event(zxid: i64, event: &WatcherEvent) -> Vec<u8> {
    let mut w = Writer::new();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    }
    .write(&mut w);
    event.write(&mut w);
    w.buf
}
