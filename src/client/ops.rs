//! The calls every ZooKeeper handle answers, written once over `call`: the
//! native [`Client`](super::Client), a [`Session`](super::Session) (a client
//! with its events) and the simulation's recorded client all answer them,
//! so a recipe written against [`Zk`] runs on any of them.

use super::ClientEvent;
use crate::proto::{CreateMode, ErrorCode, OpResult, ReadOp, Stat, WriteOp};
use crate::server::wire::ClientOp;
use crate::types::SessionId;
use std::future::Future;

/// A ZooKeeper session's calls. Implementors supply `call` and `session_id`; the rest are
/// built on it.
pub trait Zk: Sync {
    /// Send any op; its result.
    fn call(&self, op: ClientOp) -> impl Future<Output = Result<OpResult, ErrorCode>> + Send;

    /// The session this handle speaks for.
    fn session_id(&self) -> SessionId;

    fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> impl Future<Output = Result<String, ErrorCode>> + Send {
        let op = WriteOp::Create {
            path: path.into(),
            data: Some(data.into()),
            mode,
            acl: None,
        };
        async move {
            match self.call(ClientOp::Write(op)).await? {
                OpResult::Created { path, .. } => Ok(path),
                _ => Err(ErrorCode::MarshallingError),
            }
        }
    }

    fn delete(
        &self,
        path: &str,
        version: i32,
    ) -> impl Future<Output = Result<(), ErrorCode>> + Send {
        let op = WriteOp::Delete {
            path: path.into(),
            version,
        };
        async move { self.call(ClientOp::Write(op)).await.map(|_| ()) }
    }

    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: i32,
    ) -> impl Future<Output = Result<Stat, ErrorCode>> + Send {
        let op = WriteOp::SetData {
            path: path.into(),
            data: Some(data.into()),
            version,
        };
        async move {
            match self.call(ClientOp::Write(op)).await? {
                OpResult::SetData { stat } => Ok(stat),
                _ => Err(ErrorCode::MarshallingError),
            }
        }
    }

    /// A node's data (null data reads as empty) and Stat.
    fn get_data(
        &self,
        path: &str,
        watch: bool,
    ) -> impl Future<Output = Result<(Vec<u8>, Stat), ErrorCode>> + Send {
        let op = ReadOp::GetData {
            path: path.into(),
            watch,
        };
        async move {
            match self.call(ClientOp::Read(op)).await? {
                OpResult::Data { data, stat } => Ok((data.unwrap_or_default(), stat)),
                _ => Err(ErrorCode::MarshallingError),
            }
        }
    }

    fn exists(
        &self,
        path: &str,
        watch: bool,
    ) -> impl Future<Output = Result<Option<Stat>, ErrorCode>> + Send {
        let op = ReadOp::Exists {
            path: path.into(),
            watch,
        };
        async move {
            match self.call(ClientOp::Read(op)).await? {
                OpResult::Exists(stat) => Ok(stat),
                _ => Err(ErrorCode::MarshallingError),
            }
        }
    }

    fn get_children(
        &self,
        path: &str,
        watch: bool,
    ) -> impl Future<Output = Result<Vec<String>, ErrorCode>> + Send {
        let op = ReadOp::GetChildren {
            path: path.into(),
            watch,
        };
        async move {
            match self.call(ClientOp::Read(op)).await? {
                OpResult::Children { children, .. } => Ok(children),
                _ => Err(ErrorCode::MarshallingError),
            }
        }
    }

    /// Bring this session's server up to date with the leader as of now.
    fn sync(&self) -> impl Future<Output = Result<(), ErrorCode>> + Send {
        async move { self.call(ClientOp::Sync).await.map(|_| ()) }
    }

    /// All or nothing.
    fn multi(
        &self,
        ops: Vec<WriteOp>,
    ) -> impl Future<Output = Result<Vec<OpResult>, ErrorCode>> + Send {
        async move {
            match self.call(ClientOp::Write(WriteOp::Multi(ops))).await? {
                OpResult::Multi(results) => Ok(results),
                _ => Err(ErrorCode::MarshallingError),
            }
        }
    }
}

/// A handle that also hands out its session's watch events and state
/// changes, in the order they arrived — what a recipe waits on.
pub trait Events: Zk {
    /// The next event, waiting for it; `None` once the session's task is gone.
    fn next_event(&self) -> impl Future<Output = Option<ClientEvent>> + Send;
}
