//! Leader election (Curator's LeaderLatch): each candidate creates an
//! ephemeral sequential node, with its id as data, under the election's
//! directory; the lowest node leads, and each other candidate watches the
//! node just before its own. Leadership lasts as long as the leader's
//! node; a leader whose connection drops should stop acting until it
//! reconnects (it cannot tell whether its session lives).
//!
//! [`LeaderLatch::turn`] is one round, for a caller that waits on its own
//! events (Nimbus answers requests meanwhile);
//! [`LeaderLatch::await_leadership`] waits until it leads.

use super::{by_sequence, create_marked, ensure_path};
use crate::client::{Events, Zk};
use crate::proto::{CreateMode, ErrorCode};

/// A candidate in an election.
#[derive(Clone, Debug)]
pub struct LeaderLatch {
    dir: String,
    /// Our node's name under `dir`.
    name: String,
}

/// Where a candidate stands after a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Our node is the lowest: we lead.
    Leading,
    /// Another leads (its data, if it could be read); a watch is set on the
    /// node before ours, so an event comes when it is time to look again.
    Waiting { leader: Option<Vec<u8>> },
}

impl LeaderLatch {
    /// Stand as a candidate under `dir`, with `id` as our node's data.
    pub async fn join<Z: Zk>(zk: &Z, dir: &str, id: &[u8]) -> Result<LeaderLatch, ErrorCode> {
        ensure_path(zk, dir).await?;
        let marker = format!("latch-{:x}-", zk.session_id());
        let name = create_marked(zk, dir, &marker, id, CreateMode::EphemeralSequential).await?;
        Ok(LeaderLatch {
            dir: dir.into(),
            name,
        })
    }

    /// Our node (full path): leadership's token, for fencing writes.
    pub fn node(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }

    /// One round: list the candidates and see where we stand. `NoNode`:
    /// our node is gone (the session ended); a lost connection is the
    /// caller's to retry.
    pub async fn turn<Z: Zk>(&self, zk: &Z) -> Result<Turn, ErrorCode> {
        loop {
            let order = by_sequence(zk.get_children(&self.dir, false).await?);
            let at = order
                .iter()
                .position(|c| *c == self.name)
                .ok_or(ErrorCode::NoNode)?;
            if at == 0 {
                return Ok(Turn::Leading);
            }
            let before = format!("{}/{}", self.dir, order[at - 1]);
            if let Ok(None) = zk.exists(&before, true).await {
                continue; // it went while we looked
            }
            let first = format!("{}/{}", self.dir, order[0]);
            let leader = zk.get_data(&first, false).await.ok().map(|(d, _)| d);
            return Ok(Turn::Waiting { leader });
        }
    }

    /// Wait until we lead.
    pub async fn await_leadership<Z: Events>(&self, zk: &Z) -> Result<(), ErrorCode> {
        loop {
            match self.turn(zk).await {
                Ok(Turn::Leading) => return Ok(()),
                Ok(Turn::Waiting { .. }) | Err(ErrorCode::ConnectionLoss) => {
                    zk.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Stand down: our node goes (gone already is fine).
    pub async fn leave<Z: Zk>(&self, zk: &Z) -> Result<(), ErrorCode> {
        let node = self.node();
        super::retry(|| zk.delete(&node, -1))
            .await
            .or_else(super::lock::gone)
    }
}
