//! A client's request frame (after the connect): `RequestHeader` then the
//! record its opcode names.

use super::codec::{ErrorKind, Reader, Result};
use super::op;
use super::records::{read_acls, Acl, MultiHeader, RequestHeader};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `create` and `create2` (`with_stat`: the answer carries the Stat).
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        with_stat: bool,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// `getChildren` and `getChildren2` (`with_stat`).
    GetChildren {
        path: String,
        watch: bool,
        with_stat: bool,
    },
    Sync {
        path: String,
    },
    Check {
        path: String,
        version: i32,
    },
    /// Create, delete, setData and check, all or nothing.
    Multi(Vec<Op>),
    Ping,
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    SetWatches {
        relative_zxid: i64,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    CloseSession,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub xid: i32,
    pub opcode: i32,
    pub op: Op,
}

/// Opcodes the server answers (others get Unimplemented).
pub fn served(opcode: i32) -> bool {
    matches!(
        opcode,
        op::CREATE
            | op::CREATE2
            | op::DELETE
            | op::EXISTS
            | op::GET_DATA
            | op::SET_DATA
            | op::GET_ACL
            | op::SET_ACL
            | op::GET_CHILDREN
            | op::GET_CHILDREN2
            | op::SYNC
            | op::CHECK
            | op::MULTI
            | op::PING
            | op::AUTH
            | op::SET_WATCHES
            | op::CLOSE_SESSION
    )
}

/// Decode one request frame's body. An opcode we do not serve is an error
/// naming it (the server answers it with ZooKeeper's Unimplemented).
pub fn decode(body: &[u8]) -> Result<Request> {
    let mut r = Reader::new(body);
    let h = RequestHeader::read(&mut r)?;
    let op = read_op(&mut r, h.opcode, true)?;
    r.finish("request")?;
    Ok(Request {
        xid: h.xid,
        opcode: h.opcode,
        op,
    })
}

fn read_op(r: &mut Reader, opcode: i32, top: bool) -> Result<Op> {
    let path = |r: &mut Reader| r.ustring("path");
    Ok(match opcode {
        op::CREATE | op::CREATE2 => Op::Create {
            path: path(r)?,
            data: r.buffer_opt("data")?,
            acl: read_acls(r)?,
            flags: r.int("flags")?,
            with_stat: opcode == op::CREATE2,
        },
        op::DELETE => Op::Delete {
            path: path(r)?,
            version: r.int("version")?,
        },
        op::SET_DATA => Op::SetData {
            path: path(r)?,
            data: r.buffer_opt("data")?,
            version: r.int("version")?,
        },
        op::CHECK => Op::Check {
            path: path(r)?,
            version: r.int("version")?,
        },
        _ if !top => {
            let why = format!("opcode {opcode} inside a multi");
            return Err(r.error("multi.type", ErrorKind::Invalid(why)));
        }
        op::EXISTS => Op::Exists {
            path: path(r)?,
            watch: r.boolean("watch")?,
        },
        op::GET_DATA => Op::GetData {
            path: path(r)?,
            watch: r.boolean("watch")?,
        },
        op::GET_ACL => Op::GetAcl { path: path(r)? },
        op::SET_ACL => Op::SetAcl {
            path: path(r)?,
            acl: read_acls(r)?,
            version: r.int("version")?,
        },
        op::GET_CHILDREN | op::GET_CHILDREN2 => Op::GetChildren {
            path: path(r)?,
            watch: r.boolean("watch")?,
            with_stat: opcode == op::GET_CHILDREN2,
        },
        op::SYNC => Op::Sync { path: path(r)? },
        op::MULTI => Op::Multi(read_multi(r)?),
        op::PING => Op::Ping,
        op::AUTH => {
            let _type = r.int("auth.type")?;
            Op::Auth {
                scheme: r.ustring("auth.scheme")?,
                auth: r.buffer("auth.auth")?,
            }
        }
        op::SET_WATCHES => Op::SetWatches {
            relative_zxid: r.long("relativeZxid")?,
            data: r.vector("dataWatches", 4, |r| r.ustring("dataWatches"))?,
            exist: r.vector("existWatches", 4, |r| r.ustring("existWatches"))?,
            child: r.vector("childWatches", 4, |r| r.ustring("childWatches"))?,
        },
        op::CLOSE_SESSION => Op::CloseSession,
        _ => {
            let why = format!("opcode {opcode} is not served");
            return Err(r.error("type", ErrorKind::Invalid(why)));
        }
    })
}

/// The ops of a multi: a `MultiHeader` before each, one with `done` last.
fn read_multi(r: &mut Reader) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        ops.push(read_op(r, h.opcode, false)?);
    }
}
