//! A distributed FIFO queue that hands each item it holds out exactly
//! once, lost answers included. An item is a persistent sequential node;
//! a put whose answer was lost and whose item a consumer took before the
//! put could look for it is made again ([`Put::MaybeTwice`]). A taker
//! first claims the item with an ephemeral node of the item's name (its
//! data the taker's marker, read back after a lost answer), then deletes
//! the item, then its claim. A taker whose session ends mid-take leaves
//! the item to the others.

use super::{by_sequence, ensure_path, retry};
use crate::client::{Events, Zk};
use crate::proto::{CreateMode, ErrorCode};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a put went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// The item is in the queue once.
    Once,
    /// An answer was lost and the item was not found afterwards (taken
    /// already, or never created): it was created again, and may be in the
    /// queue twice.
    MaybeTwice,
}

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

    /// Add an item at the tail. After a lost answer the put looks for its
    /// item (by its marker) before creating it again; an item a consumer
    /// took in between cannot be found, so the put may have landed twice:
    /// `Put::MaybeTwice` says so.
    pub async fn put<Z: Zk>(&self, zk: &Z, data: &[u8]) -> Result<Put, ErrorCode> {
        ensure_path(zk, &self.dir).await?;
        let marker = self.marker(zk, ITEM);
        let path = format!("{}/{marker}", self.dir);
        let mut lost = false;
        loop {
            match zk
                .create(&path, data, CreateMode::PersistentSequential)
                .await
            {
                Ok(_) if lost => return Ok(Put::MaybeTwice),
                Ok(_) => return Ok(Put::Once),
                Err(ErrorCode::ConnectionLoss) => {
                    lost = true;
                    if super::find_marked(zk, &self.dir, &marker).await?.is_some() {
                        return Ok(Put::Once);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Take the item at the head, waiting while the queue is empty.
    pub async fn take<Z: Events>(&self, zk: &Z) -> Result<Vec<u8>, ErrorCode> {
        loop {
            if let Some(data) = self.take_once(zk, true).await? {
                return Ok(data);
            }
            zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
        }
    }

    /// Take the item at the head; `None` if the queue is empty.
    pub async fn try_take<Z: Zk>(&self, zk: &Z) -> Result<Option<Vec<u8>>, ErrorCode> {
        self.take_once(zk, false).await
    }

    /// Take the first item no one else takes first, listing (and with
    /// `watch`, watching) the queue until one is ours or none is left.
    async fn take_once<Z: Zk>(&self, zk: &Z, watch: bool) -> Result<Option<Vec<u8>>, ErrorCode> {
        ensure_path(zk, &self.dir).await?;
        loop {
            let kids = retry(|| zk.get_children(&self.dir, watch)).await?;
            let items = by_sequence(kids.into_iter().filter(|k| k.starts_with(ITEM)).collect());
            if items.is_empty() {
                return Ok(None);
            }
            for item in items {
                if let Some(data) = self.claim(zk, &item).await? {
                    return Ok(Some(data));
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
        // The item is ours (or not) whatever becomes of the claim: it is
        // ephemeral, and goes with the session if this delete does not.
        let _ = retry(|| zk.delete(&claim, -1)).await;
        Ok(taken.then_some(data))
    }
}
