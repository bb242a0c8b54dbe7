//! Barriers. A [`Barrier`] is a node: while it exists, waiters wait; its
//! removal lets them all through. A [`DoubleBarrier`] gathers a fixed
//! number of participants: none gets past `enter` until all have entered,
//! and none gets past `leave` until all have left.

use super::lock::gone;
use super::{by_sequence, create_marked, ensure_path, retry};
use crate::client::{Events, Zk};
use crate::proto::{CreateMode, ErrorCode};

/// A barrier at one node.
#[derive(Clone, Debug)]
pub struct Barrier {
    path: String,
}

impl Barrier {
    pub fn new(path: &str) -> Barrier {
        Barrier { path: path.into() }
    }

    /// Put the barrier up (it may be up already).
    pub async fn set<Z: Zk>(&self, zk: &Z) -> Result<(), ErrorCode> {
        if let Some((parent, _)) = self.path.rsplit_once('/') {
            ensure_path(zk, parent).await?;
        }
        match retry(|| zk.create(&self.path, b"", CreateMode::Persistent)).await {
            Ok(_) | Err(ErrorCode::NodeExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Take the barrier down: every waiter goes through.
    pub async fn remove<Z: Zk>(&self, zk: &Z) -> Result<(), ErrorCode> {
        retry(|| zk.delete(&self.path, -1)).await.or_else(gone)
    }

    /// Wait while the barrier is up.
    pub async fn wait<Z: Events>(&self, zk: &Z) -> Result<(), ErrorCode> {
        while retry(|| zk.exists(&self.path, true)).await?.is_some() {
            zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
        }
        Ok(())
    }
}

/// A double barrier for `count` participants under a directory. Each
/// participant is an ephemeral sequential node; a `ready` node marks that
/// all have entered.
#[derive(Clone, Debug)]
pub struct DoubleBarrier {
    dir: String,
    count: usize,
}

const READY: &str = "ready";

impl DoubleBarrier {
    pub fn new(dir: &str, count: usize) -> DoubleBarrier {
        DoubleBarrier {
            dir: dir.into(),
            count,
        }
    }

    fn ready(&self) -> String {
        format!("{}/{READY}", self.dir)
    }

    /// The participants' nodes, lowest first.
    async fn members<Z: Zk>(&self, zk: &Z) -> Result<Vec<String>, ErrorCode> {
        let kids = retry(|| zk.get_children(&self.dir, false)).await?;
        Ok(by_sequence(
            kids.into_iter().filter(|k| k != READY).collect(),
        ))
    }

    /// Join and wait until all `count` have joined; our node's name.
    pub async fn enter<Z: Events>(&self, zk: &Z) -> Result<String, ErrorCode> {
        ensure_path(zk, &self.dir).await?;
        let marker = format!("member-{:x}-", zk.session_id());
        // The watch goes on `ready` before we join, so its creation by the
        // last to join cannot slip past us.
        let ready_path = self.ready();
        let mut ready = retry(|| zk.exists(&ready_path, true)).await?.is_some();
        let me =
            create_marked(zk, &self.dir, &marker, b"", CreateMode::EphemeralSequential).await?;
        while !ready {
            if self.members(zk).await?.len() >= self.count {
                match retry(|| zk.create(&ready_path, b"", CreateMode::Persistent)).await {
                    Ok(_) | Err(ErrorCode::NodeExists) => break,
                    Err(e) => return Err(e),
                }
            }
            zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
            ready = retry(|| zk.exists(&ready_path, true)).await?.is_some();
        }
        Ok(me)
    }

    /// Leave and wait until all have left. The lowest participant goes
    /// last: the others wait on it after leaving, it waits on the highest
    /// before leaving, and it takes `ready` down on its way out.
    pub async fn leave<Z: Events>(&self, zk: &Z, me: &str) -> Result<(), ErrorCode> {
        let mine = format!("{}/{me}", self.dir);
        let ready = self.ready();
        loop {
            let members = self.members(zk).await?;
            let Some(at) = members.iter().position(|m| m == me) else {
                // We left; wait for the lowest (the last to go).
                let Some(lowest) = members.first() else {
                    return Ok(());
                };
                self.wait_gone(zk, lowest).await?;
                continue;
            };
            if members.len() == 1 {
                retry(|| zk.delete(&ready, -1)).await.or_else(gone)?;
                return retry(|| zk.delete(&mine, -1)).await.or_else(gone);
            }
            if at == 0 {
                self.wait_gone(zk, &members[members.len() - 1]).await?;
            } else {
                retry(|| zk.delete(&mine, -1)).await.or_else(gone)?;
            }
        }
    }

    /// Wait until member `name` is gone (returns early on any event).
    async fn wait_gone<Z: Events>(&self, zk: &Z, name: &str) -> Result<(), ErrorCode> {
        let path = format!("{}/{name}", self.dir);
        if retry(|| zk.exists(&path, true)).await?.is_some() {
            zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
        }
        Ok(())
    }
}
