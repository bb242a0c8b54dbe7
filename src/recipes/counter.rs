//! A shared counter (Curator's DistributedAtomicLong, optimistic mode): a
//! node holding the value as decimal text, changed by a versioned
//! set_data, retried when another change came first. When an answer is
//! lost the outcome cannot be known (another client may have moved the
//! version since), so `add` says so (`ConnectionLoss`, or `SessionExpired`
//! when the session ended with the write in flight) instead of guessing.

use super::ensure_path;
use crate::client::Zk;
use crate::proto::{CreateMode, ErrorCode};

/// A counter at one node (created at 0 when first used).
#[derive(Clone, Debug)]
pub struct Counter {
    path: String,
}

impl Counter {
    pub fn new(path: &str) -> Counter {
        Counter { path: path.into() }
    }

    /// The value now (0 before the first add).
    pub async fn get<Z: Zk>(&self, zk: &Z) -> Result<i64, ErrorCode> {
        match super::retry(|| zk.get_data(&self.path, false)).await {
            Ok((data, _)) => parse(&data),
            Err(ErrorCode::NoNode) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Add `delta`; the new value. `ConnectionLoss` or `SessionExpired`:
    /// the add may or may not have happened.
    pub async fn add<Z: Zk>(&self, zk: &Z, delta: i64) -> Result<i64, ErrorCode> {
        loop {
            let (data, stat) = match super::retry(|| zk.get_data(&self.path, false)).await {
                Ok(read) => read,
                Err(ErrorCode::NoNode) => {
                    self.create(zk).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let value = parse(&data)? + delta;
            match zk
                .set_data(&self.path, value.to_string().as_bytes(), stat.version)
                .await
            {
                Ok(_) => return Ok(value),
                Err(ErrorCode::BadVersion) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn create<Z: Zk>(&self, zk: &Z) -> Result<(), ErrorCode> {
        if let Some((parent, _)) = self.path.rsplit_once('/') {
            ensure_path(zk, parent).await?;
        }
        let made = super::retry(|| zk.create(&self.path, b"0", CreateMode::Persistent)).await;
        match made {
            Ok(_) | Err(ErrorCode::NodeExists) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn parse(data: &[u8]) -> Result<i64, ErrorCode> {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(ErrorCode::MarshallingError)
}
