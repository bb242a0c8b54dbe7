//! Between ZooKeeper's wire records and our own operations and results:
//! what a jute request asks of the ensemble, and how its answer goes back.

use super::records::{Stat as WireStat, WatcherEvent};
use super::reply::{MultiResult, Reply};
use super::request::Op;
use super::{create_flags, event, state};
use crate::acl::Id;
use crate::proto::{
    CreateMode, ErrorCode, EventType, OpResult, ReadOp, Stat, WatchedEvent, WriteOp,
};
use crate::server::wire::ClientOp;

pub fn stat(s: &Stat) -> WireStat {
    WireStat {
        czxid: s.czxid.0 as i64,
        mzxid: s.mzxid.0 as i64,
        ctime: s.ctime as i64,
        mtime: s.mtime as i64,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner as i64,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid.0 as i64,
    }
}

/// A watch firing, as the client sees it (its session is connected).
pub fn watcher_event(e: &WatchedEvent) -> WatcherEvent {
    let event_type = match e.event {
        EventType::NodeCreated => event::NODE_CREATED,
        EventType::NodeDeleted => event::NODE_DELETED,
        EventType::NodeDataChanged => event::NODE_DATA_CHANGED,
        EventType::NodeChildrenChanged => event::NODE_CHILDREN_CHANGED,
    };
    WatcherEvent {
        event_type,
        state: state::SYNC_CONNECTED,
        path: e.path.clone(),
    }
}

fn create_mode(flags: i32) -> Result<CreateMode, ErrorCode> {
    match flags {
        create_flags::PERSISTENT => Ok(CreateMode::Persistent),
        create_flags::EPHEMERAL => Ok(CreateMode::Ephemeral),
        create_flags::PERSISTENT_SEQUENTIAL => Ok(CreateMode::PersistentSequential),
        create_flags::EPHEMERAL_SEQUENTIAL => Ok(CreateMode::EphemeralSequential),
        // Containers and TTL nodes.
        4..=6 => Err(ErrorCode::Unimplemented),
        _ => Err(ErrorCode::BadArguments),
    }
}

/// The operation a data request asks for, from a connection holding `ids`
/// (its ACLs become the stored form: `auth` stands for those ids);
/// `Err(code)` answers it at once (an invalid ACL is InvalidACL,
/// containers and TTL nodes are Unimplemented). Session-level requests
/// (ping, auth, setWatches, closeSession) are the connection's business
/// and come back as `Err(Unimplemented)` here.
pub fn client_op(op: &Op, ids: &[Id]) -> Result<ClientOp, ErrorCode> {
    Ok(match op {
        Op::Exists { path, watch } => ClientOp::Read(ReadOp::Exists {
            path: path.clone(),
            watch: *watch,
        }),
        Op::GetData { path, watch } => ClientOp::Read(ReadOp::GetData {
            path: path.clone(),
            watch: *watch,
        }),
        Op::GetChildren { path, watch, .. } => ClientOp::Read(ReadOp::GetChildren {
            path: path.clone(),
            watch: *watch,
        }),
        Op::GetAcl { path } => ClientOp::Read(ReadOp::GetAcl { path: path.clone() }),
        Op::Sync { .. } => ClientOp::Sync,
        _ => ClientOp::Write(write_op(op, ids)?),
    })
}

fn write_op(op: &Op, ids: &[Id]) -> Result<WriteOp, ErrorCode> {
    Ok(match op {
        Op::Create {
            path,
            data,
            flags,
            acl,
            ..
        } => WriteOp::Create {
            path: path.clone(),
            data: data.clone(),
            mode: create_mode(*flags)?,
            acl: crate::acl::stored(acl, ids)?,
        },
        Op::SetAcl { path, acl, version } => WriteOp::SetAcl {
            path: path.clone(),
            acl: crate::acl::stored(acl, ids)?,
            version: *version,
        },
        Op::Delete { path, version } => WriteOp::Delete {
            path: path.clone(),
            version: *version,
        },
        Op::SetData {
            path,
            data,
            version,
        } => WriteOp::SetData {
            path: path.clone(),
            data: data.clone(),
            version: *version,
        },
        Op::Check { path, version } => WriteOp::Check {
            path: path.clone(),
            version: *version,
        },
        Op::Multi(ops) => WriteOp::Multi(
            ops.iter()
                .map(|o| write_op(o, ids))
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(ErrorCode::Unimplemented),
    })
}

/// The reply to `op` given what the ensemble answered. A failed multi names
/// the op that failed (`failed_at`), so every op gets its ZooKeeper result.
pub fn reply(op: &Op, answer: &Result<OpResult, ErrorCode>, failed_at: Option<usize>) -> Reply {
    let result = match answer {
        Ok(r) => r,
        Err(code) => {
            return match (op, failed_at) {
                (Op::Multi(ops), Some(at)) => Reply::Multi(multi_failure(ops.len(), at, *code)),
                _ => Reply::Error(code.code()),
            }
        }
    };
    match (op, result) {
        (
            Op::Create {
                with_stat: true, ..
            },
            OpResult::Created { path, stat: s },
        ) => Reply::Created2 {
            path: path.clone(),
            stat: stat(s),
        },
        (Op::Create { .. }, OpResult::Created { path, .. }) => {
            Reply::Created { path: path.clone() }
        }
        (Op::Exists { .. }, OpResult::Exists(None)) => Reply::Error(ErrorCode::NoNode.code()),
        (
            _,
            OpResult::Exists(Some(s))
            | OpResult::SetData { stat: s }
            | OpResult::AclSet { stat: s },
        ) => Reply::Stat(stat(s)),
        (_, OpResult::Acl { acl, stat: s }) => Reply::Acl {
            acl: acl.clone(),
            stat: stat(s),
        },
        (_, OpResult::Data { data, stat: s }) => Reply::Data {
            data: data.clone(),
            stat: stat(s),
        },
        (
            Op::GetChildren {
                with_stat: true, ..
            },
            OpResult::Children { children, stat: s },
        ) => Reply::Children2 {
            children: children.clone(),
            stat: stat(s),
        },
        (_, OpResult::Children { children, .. }) => Reply::Children {
            children: children.clone(),
        },
        (Op::Sync { path }, _) => Reply::Sync { path: path.clone() },
        (Op::Multi(ops), OpResult::Multi(results)) => Reply::Multi(
            ops.iter()
                .zip(results)
                .map(|(o, r)| multi_result(o, r))
                .collect(),
        ),
        _ => Reply::Empty,
    }
}

fn multi_result(op: &Op, r: &OpResult) -> MultiResult {
    match (op, r) {
        (
            Op::Create {
                with_stat: true, ..
            },
            OpResult::Created { path, stat: s },
        ) => MultiResult::Created2 {
            path: path.clone(),
            stat: stat(s),
        },
        (_, OpResult::Created { path, .. }) => MultiResult::Created { path: path.clone() },
        (_, OpResult::SetData { stat: s }) => MultiResult::SetData(stat(s)),
        (_, OpResult::Deleted) => MultiResult::Deleted,
        _ => MultiResult::Checked,
    }
}

/// ZooKeeper's results for a multi whose op `at` failed with `code`: 0
/// before it, the code at it, RuntimeInconsistency after it.
pub fn multi_failure(n: usize, at: usize, code: ErrorCode) -> Vec<MultiResult> {
    (0..n)
        .map(|i| {
            MultiResult::Error(match i.cmp(&at) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => code.code(),
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Zxid;

    fn create(flags: i32, with_stat: bool) -> Op {
        Op::Create {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: crate::acl::open(),
            flags,
            with_stat,
        }
    }

    #[test]
    fn requests_become_our_ops() {
        let got = client_op(&create(create_flags::EPHEMERAL_SEQUENTIAL, false), &[]).unwrap();
        let want = WriteOp::Create {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            mode: CreateMode::EphemeralSequential,
            acl: None,
        };
        assert_eq!(got, ClientOp::Write(want));
        assert_eq!(
            client_op(&create(4, false), &[]),
            Err(ErrorCode::Unimplemented),
            "containers"
        );
        assert_eq!(
            client_op(&create(9, false), &[]),
            Err(ErrorCode::BadArguments)
        );
        let multi = Op::Multi(vec![
            create(0, true),
            Op::Check {
                path: "/a".into(),
                version: 1,
            },
        ]);
        assert!(
            matches!(client_op(&multi, &[]), Ok(ClientOp::Write(WriteOp::Multi(v))) if v.len() == 2)
        );
        assert_eq!(client_op(&Op::Ping, &[]), Err(ErrorCode::Unimplemented));
        assert_eq!(
            client_op(&Op::Sync { path: "/".into() }, &[]),
            Ok(ClientOp::Sync)
        );
    }

    #[test]
    fn answers_become_zookeepers_replies() {
        let s = Stat {
            czxid: Zxid(7),
            version: 1,
            ..Stat::default()
        };
        let created = Ok(OpResult::Created {
            path: "/a1".into(),
            stat: s,
        });
        assert_eq!(
            reply(&create(0, false), &created, None),
            Reply::Created { path: "/a1".into() }
        );
        assert!(
            matches!(reply(&create(0, true), &created, None), Reply::Created2 { stat, .. } if stat.czxid == 7)
        );
        let exists = Op::Exists {
            path: "/a".into(),
            watch: false,
        };
        assert_eq!(
            reply(&exists, &Ok(OpResult::Exists(None)), None),
            Reply::Error(-101)
        );
        assert_eq!(
            reply(&exists, &Err(ErrorCode::SessionMoved), None),
            Reply::Error(-118)
        );
        let sync = Op::Sync { path: "/x".into() };
        assert_eq!(
            reply(&sync, &Ok(OpResult::Synced), None),
            Reply::Sync { path: "/x".into() }
        );
        let multi = Op::Multi(vec![create(0, false), create(0, false), create(0, false)]);
        assert_eq!(
            reply(&multi, &Err(ErrorCode::NodeExists), Some(1)),
            Reply::Multi(vec![
                MultiResult::Error(0),
                MultiResult::Error(-110),
                MultiResult::Error(-2)
            ])
        );
        let ev = WatchedEvent {
            event: EventType::NodeDeleted,
            path: "/d".into(),
            zxid: Zxid(3),
        };
        let w = watcher_event(&ev);
        assert_eq!((w.event_type, w.state, w.path.as_str()), (2, 3, "/d"));
    }
}
