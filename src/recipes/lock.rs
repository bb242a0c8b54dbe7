//! A fair exclusive lock: each contender creates an ephemeral sequential
//! node under the lock's directory and holds the lock while its node is
//! the lowest; a waiter watches only the node just before its own (no
//! herd when the lock changes hands).
//!
//! Holding ends when the holder releases, or its session ends. A holder
//! whose connection drops cannot tell whether its session still lives: it
//! should stop acting as the holder until it reconnects (Curator's
//! SUSPENDED), as the lock's own tests do.

use super::{by_sequence, create_marked, ensure_path, retry};
use crate::client::{Events, Zk};
use crate::proto::{CreateMode, ErrorCode};

/// A lock at a directory (created when first used).
#[derive(Clone, Debug)]
pub struct Lock {
    dir: String,
}

/// The lock, held: the contender node that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub node: String,
}

impl Lock {
    pub fn new(dir: &str) -> Lock {
        Lock { dir: dir.into() }
    }

    /// Wait for the lock and take it. One contender per session at a time
    /// (the session marks its node).
    pub async fn acquire<Z: Events>(&self, zk: &Z) -> Result<Held, ErrorCode> {
        ensure_path(zk, &self.dir).await?;
        let marker = format!("lock-{:x}-", zk.session_id());
        let me =
            create_marked(zk, &self.dir, &marker, b"", CreateMode::EphemeralSequential).await?;
        loop {
            let kids = by_sequence(retry(|| zk.get_children(&self.dir, false)).await?);
            let at = kids
                .iter()
                .position(|k| *k == me)
                .ok_or(ErrorCode::NoNode)?;
            if at == 0 {
                return Ok(Held {
                    node: format!("{}/{me}", self.dir),
                });
            }
            let before = format!("{}/{}", self.dir, kids[at - 1]);
            if kids[at - 1].starts_with(&marker) {
                // Ours, left by an earlier acquire that gave up: it goes.
                retry(|| zk.delete(&before, -1)).await.or_else(gone)?;
                continue;
            }
            if let Some(_stat) = retry(|| zk.exists(&before, true)).await? {
                // Look again when that node goes (or anything else happens).
                zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
            }
        }
    }

    /// Give the lock up (a node already gone is fine: the session ended).
    pub async fn release<Z: Zk>(&self, zk: &Z, held: Held) -> Result<(), ErrorCode> {
        retry(|| zk.delete(&held.node, -1)).await.or_else(gone)
    }
}

/// A node that is already gone is what a delete wanted.
pub(crate) fn gone(e: ErrorCode) -> Result<(), ErrorCode> {
    match e {
        ErrorCode::NoNode => Ok(()),
        e => Err(e),
    }
}
