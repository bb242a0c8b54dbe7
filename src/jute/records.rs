//! The records of ZooKeeper's client protocol (`zookeeper.jute`), each
//! with its reader and writer.

use super::codec::{Reader, Result, Writer};
pub use crate::acl::{Acl, Id};

/// Smallest encoded ACL: perms and two empty strings.
pub const ACL_MIN_BYTES: usize = 12;

impl Acl {
    pub fn read(r: &mut Reader) -> Result<Acl> {
        let perms = r.int("acl.perms")?;
        // Clients send an empty id (the `auth` scheme's) as a null string.
        let scheme = r.ustring_opt("acl.id.scheme")?.unwrap_or_default();
        let id = r.ustring_opt("acl.id.id")?.unwrap_or_default();
        Ok(Acl {
            perms,
            id: Id { scheme, id },
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.perms)
            .ustring(&self.id.scheme)
            .ustring(&self.id.id);
    }
}

pub fn read_acls(r: &mut Reader) -> Result<Vec<Acl>> {
    r.vector("acl", ACL_MIN_BYTES, Acl::read)
}

pub fn write_acls(w: &mut Writer, acls: &[Acl]) {
    w.vector(acls, |w, a| a.write(w));
}

/// ZooKeeper's `Stat`, as it goes on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub fn read(r: &mut Reader) -> Result<Stat> {
        Ok(Stat {
            czxid: r.long("stat.czxid")?,
            mzxid: r.long("stat.mzxid")?,
            ctime: r.long("stat.ctime")?,
            mtime: r.long("stat.mtime")?,
            version: r.int("stat.version")?,
            cversion: r.int("stat.cversion")?,
            aversion: r.int("stat.aversion")?,
            ephemeral_owner: r.long("stat.ephemeralOwner")?,
            data_length: r.int("stat.dataLength")?,
            num_children: r.int("stat.numChildren")?,
            pzxid: r.long("stat.pzxid")?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.long(self.czxid)
            .long(self.mzxid)
            .long(self.ctime)
            .long(self.mtime)
            .int(self.version)
            .int(self.cversion)
            .int(self.aversion)
            .long(self.ephemeral_owner)
            .int(self.data_length)
            .int(self.num_children)
            .long(self.pzxid);
    }
}

/// The first frame a client sends. `read_only` is a trailing boolean that
/// old clients leave out (`None`); the server writes it back only to a
/// client that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn read(r: &mut Reader) -> Result<ConnectRequest> {
        let protocol_version = r.int("protocolVersion")?;
        let last_zxid_seen = r.long("lastZxidSeen")?;
        let timeout_ms = r.int("timeOut")?;
        let session_id = r.long("sessionId")?;
        let passwd = r.buffer("passwd")?;
        let read_only = r.trailing_boolean("readOnly")?;
        r.finish("ConnectRequest")?;
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.protocol_version)
            .long(self.last_zxid_seen)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.passwd);
        if let Some(read_only) = self.read_only {
            w.boolean(read_only);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// 0 tells the client its session is gone.
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn read(r: &mut Reader) -> Result<ConnectResponse> {
        let protocol_version = r.int("protocolVersion")?;
        let timeout_ms = r.int("timeOut")?;
        let session_id = r.long("sessionId")?;
        let passwd = r.buffer("passwd")?;
        let read_only = r.trailing_boolean("readOnly")?;
        r.finish("ConnectResponse")?;
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.protocol_version)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.passwd);
        if let Some(read_only) = self.read_only {
            w.boolean(read_only);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub opcode: i32,
}

impl RequestHeader {
    pub fn read(r: &mut Reader) -> Result<RequestHeader> {
        Ok(RequestHeader {
            xid: r.int("xid")?,
            opcode: r.int("type")?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.xid).int(self.opcode);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    /// 0, or a ZooKeeper error code.
    pub err: i32,
}

impl ReplyHeader {
    pub fn read(r: &mut Reader) -> Result<ReplyHeader> {
        Ok(ReplyHeader {
            xid: r.int("xid")?,
            zxid: r.long("zxid")?,
            err: r.int("err")?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.xid).long(self.zxid).int(self.err);
    }
}

/// A watch notification (sent with xid -1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

impl WatcherEvent {
    pub fn read(r: &mut Reader) -> Result<WatcherEvent> {
        Ok(WatcherEvent {
            event_type: r.int("type")?,
            state: r.int("state")?,
            path: r.ustring("path")?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.event_type).int(self.state).ustring(&self.path);
    }
}

/// Precedes each op of a multi, and ends the list (`done`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiHeader {
    pub opcode: i32,
    pub done: bool,
    pub err: i32,
}

impl MultiHeader {
    /// What ends a multi's list of ops or results.
    pub const END: MultiHeader = MultiHeader {
        opcode: -1,
        done: true,
        err: -1,
    };

    pub fn read(r: &mut Reader) -> Result<MultiHeader> {
        Ok(MultiHeader {
            opcode: r.int("multi.type")?,
            done: r.boolean("multi.done")?,
            err: r.int("multi.err")?,
        })
    }

    pub fn write(&self, w: &mut Writer) {
        w.int(self.opcode).boolean(self.done).int(self.err);
    }
}
