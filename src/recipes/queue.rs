//! A distributed FIFO queue that hands each item out exactly once, lost
//! answers included. An item is a persistent sequential node. A taker
//! first claims the item with an ephemeral node of the item's name (its
//! data the taker's marker, read back after a lost answer), then deletes
//! the item, then its claim. A taker whose session ends mid-take leaves
//! the item to the others.

use super::lock::gone;
use super::{by_sequence, create_marked, ensure_path, retry};
use crate::client::{Events, Zk};
use crate::proto::{CreateMode, ErrorCode};
use std::sync::atomic::{AtomicU64, Ordering};

/// A queue under a directory. One `Queue` value per client: it numbers
/// that client's puts and takes.
#[derive(Debug)]
pub struct Queue {
    dir: String,
    ops: AtomicU64,
}

const ITEM: &str = "item-";
const CLAIM: &str = "claim-";

impl Queue {
    pub fn new(dir: &str) -> Queue {
        Queue {
            dir: dir.into(),
            ops: AtomicU64::new(0),
        }
    }

    /// A marker no other put or take of any session uses.
    fn marker<Z: Zk>(&self, zk: &Z, kind: &str) -> String {
        let n = self.ops.fetch_add(1, Ordering::Relaxed);
        format!("{kind}{:x}-{n}-", zk.session_id())
    }

    /// Add an item at the tail.
    pub async fn put<Z: Zk>(&self, zk: &Z, data: &[u8]) -> Result<(), ErrorCode> {
        ensure_path(zk, &self.dir).await?;
        let marker = self.marker(zk, ITEM);
        create_marked(
            zk,
            &self.dir,
            &marker,
            data,
            CreateMode::PersistentSequential,
        )
        .await?;
        Ok(())
    }

    /// Take the item at the head, waiting while the queue is empty.
    pub async fn take<Z: Events>(&self, zk: &Z) -> Result<Vec<u8>, ErrorCode> {
        ensure_path(zk, &self.dir).await?;
        loop {
            let kids = retry(|| zk.get_children(&self.dir, true)).await?;
            let items = by_sequence(kids.into_iter().filter(|k| k.starts_with(ITEM)).collect());
            if items.is_empty() {
                zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
                continue;
            }
            for item in items {
                if let Some(data) = self.claim(zk, &item).await? {
                    return Ok(data);
                }
            }
        }
    }

    /// Try to take `item`: its data if it is ours now, `None` if another
    /// taker had it first. The claim (an ephemeral node named after the
    /// item) makes us the only one who may delete the item; it goes once
    /// the item has, or with our session.
    async fn claim<Z: Zk>(&self, zk: &Z, item: &str) -> Result<Option<Vec<u8>>, ErrorCode> {
        let path = format!("{}/{item}", self.dir);
        let data = match retry(|| zk.get_data(&path, false)).await {
            Ok((data, _)) => data,
            Err(ErrorCode::NoNode) => return Ok(None),
            Err(e) => return Err(e),
        };
        let claim = format!("{}/{CLAIM}{item}", self.dir);
        let marker = self.marker(zk, CLAIM);
        let ours = match zk
            .create(&claim, marker.as_bytes(), CreateMode::Ephemeral)
            .await
        {
            Ok(_) => true,
            Err(ErrorCode::NodeExists) => false,
            Err(ErrorCode::ConnectionLoss) => match retry(|| zk.get_data(&claim, false)).await {
                Ok((owner, _)) => owner == marker.as_bytes(),
                Err(ErrorCode::NoNode) => false,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        if !ours {
            return Ok(None);
        }
        // The item may have been taken before we claimed it (its taker's
        // claim already gone); this read sees at least our claim's write,
        // so it sees that. Past it, while we hold the claim no one else
        // deletes the item: a NoNode after a lost answer is our own delete.
        let taken = match retry(|| zk.exists(&path, false)).await? {
            None => false,
            Some(_) => loop {
                match zk.delete(&path, -1).await {
                    Ok(()) | Err(ErrorCode::NoNode) => break true,
                    Err(ErrorCode::ConnectionLoss) => continue,
                    Err(e) => return Err(e),
                }
            },
        };
        retry(|| zk.delete(&claim, -1)).await.or_else(gone)?;
        Ok(taken.then_some(data))
    }
}
