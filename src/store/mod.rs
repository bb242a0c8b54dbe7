//! Durable state of one server: the txn log, snapshots and the ZAB epochs,
//! over a [`Disk`] (simulated or real).
//!
//! Files on the disk:
//! - `log`: a header (base zxid, generation) then records, every zxid > base
//!   and strictly increasing. Appended in place; rewritten whole (temp +
//!   fsync + rename) only when compacted or replaced.
//! - `snap-<gen>-<zxid>`: snapshots. The two newest of the current generation
//!   are kept, and the log keeps every record after the *older* of them, so a
//!   damaged newest snapshot falls back to the older one plus the log with
//!   nothing lost.
//! - `epochs`: acceptedEpoch and currentEpoch, replaced atomically.
//! - `*.tmp`: unfinished replacements, removed on open.
//!
//! The generation changes only with [`Store::install_snapshot`]: a snapshot
//! is used only when its generation equals the log's, which makes the log's
//! rename the single commit point of an install.
//!
//! Failure policy: an error that leaves disk and memory consistent (bad
//! arguments, a failed append that could be rolled back, an error writing a
//! temp file before its rename) returns the error and the store stays usable.
//! Any other error — above all a failed fsync of the log, after which nobody
//! knows what is durable — marks the store failed: every later call returns
//! an error until it is reopened with [`Store::open`], which re-reads the disk
//! and makes what it finds durable.

mod disk;
mod file;
pub mod log;
mod mem;

pub use disk::{check_name, Disk, DiskFuture};
pub use file::FileDisk;
pub use mem::{DiskStats, MemDisk, TearSpec};

use crate::types::Zxid;
use std::io;
use std::sync::Arc;

const LOG: &str = "log";
const LOG_TMP: &str = "log.tmp";
const EPOCHS: &str = "epochs";
const EPOCHS_TMP: &str = "epochs.tmp";
const SNAP_TMP: &str = "snap.tmp";

/// What [`Store::open`] found on the disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The newest intact snapshot, if any.
    pub snapshot: Option<(Zxid, Vec<u8>)>,
    /// Log records after the snapshot's zxid, in order.
    pub txns: Vec<(Zxid, Vec<u8>)>,
    /// Bytes cut from a torn or corrupt log tail.
    pub torn_bytes: u64,
    /// Snapshot files skipped (and removed) because they failed their checksum.
    pub bad_snapshots: Vec<String>,
}

pub struct Store {
    disk: Arc<dyn Disk>,
    generation: u64,
    /// The log holds every record with zxid > base.
    base: Zxid,
    /// Retained intact snapshots of this generation, ascending.
    snaps: Vec<Zxid>,
    /// Each record's zxid and offset in the log.
    index: Vec<(Zxid, u64)>,
    log_size: u64,
    /// Records appended since the last successful fsync of the log.
    dirty: bool,
    epochs: (u32, u32),
    failed: Option<String>,
}

fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn remove_if_present(disk: &dyn Disk, file: &str) -> io::Result<()> {
    match disk.remove(file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `tmp` and fsyncs it, ready to be renamed into place.
/// On error the temp file is removed (best effort) and nothing else changed.
async fn prepare(disk: &dyn Disk, tmp: &str, bytes: &[u8]) -> io::Result<()> {
    let res = match disk.write(tmp, bytes) {
        Ok(()) => disk.fsync(tmp).await,
        Err(e) => Err(e),
    };
    if res.is_err() {
        let _ = remove_if_present(disk, tmp);
    }
    res
}

impl Store {
    /// Recovers the store from `disk`: drops unfinished temp files, cuts a
    /// torn or corrupt log tail, picks the newest intact snapshot, and fsyncs
    /// the log so everything reported is durable (a restarted process may
    /// find unsynced records of its previous life in the page cache).
    ///
    /// Fails with `InvalidData` when the durable state cannot be trusted: a
    /// damaged epoch file or log header, snapshots without a log, or a log
    /// whose base no intact snapshot covers.
    pub async fn open(disk: Arc<dyn Disk>) -> io::Result<(Store, Recovered)> {
        let names = disk.list()?;
        for tmp in names.iter().filter(|n| n.ends_with(".tmp")) {
            remove_if_present(&*disk, tmp)?;
        }
        let snap_files: Vec<(String, u64, Zxid)> = names
            .iter()
            .filter_map(|n| log::parse_snapshot_name(n).map(|(g, z)| (n.clone(), g, z)))
            .collect();

        let epochs = match disk.read(EPOCHS)? {
            None => (0, 0),
            Some(b) => log::decode_epochs(&b)
                .ok_or_else(|| invalid_data("epoch file is damaged".into()))?,
        };
        if epochs.0 < epochs.1 {
            // acceptedEpoch is made durable before currentEpoch: the file
            // was not written by a server (ZooKeeper refuses it too).
            let (accepted, current) = epochs;
            let why = format!("acceptedEpoch {accepted} is below currentEpoch {current}");
            return Err(invalid_data(why));
        }

        let log_bytes = match disk.read(LOG)? {
            Some(b) => b,
            None if !snap_files.is_empty() => {
                return Err(invalid_data("snapshot files but no log".into()));
            }
            None => {
                let header = log::encode_log_header(Zxid::ZERO, 0);
                prepare(&*disk, LOG_TMP, &header).await?;
                disk.rename(LOG_TMP, LOG)?;
                header
            }
        };
        let (base, generation, header_len) = log::decode_log_header(&log_bytes)
            .ok_or_else(|| invalid_data("log header is damaged".into()))?;
        let scan = log::scan(&log_bytes, header_len, base);
        let torn_bytes = (log_bytes.len() - scan.valid_len) as u64;
        if torn_bytes > 0 {
            tracing::warn!(
                torn_bytes,
                valid_len = scan.valid_len,
                "log has a torn or corrupt tail; cutting it"
            );
            disk.truncate(LOG, scan.valid_len as u64)?;
        }
        // What a killed process left in the page cache is read back here as
        // if durable: make it so before anything acknowledges it.
        disk.fsync(LOG).await?;

        // Snapshots: only this generation's, and none older than the base.
        let mut garbage = Vec::new();
        let mut candidates = Vec::new();
        for (name, g, z) in snap_files {
            if g == generation && z >= base {
                candidates.push((z, name));
            } else {
                garbage.push(name);
            }
        }
        candidates.sort();
        let mut bad_snapshots = Vec::new();
        let mut snaps = Vec::new();
        let mut newest: Option<(Zxid, Vec<u8>)> = None;
        for (z, name) in candidates.into_iter().rev() {
            let intact = disk
                .read(&name)?
                .and_then(log::decode_snapshot)
                .filter(|(g, sz, _)| *g == generation && *sz == z);
            match intact {
                Some((_, _, state)) => {
                    snaps.push(z);
                    if newest.is_none() {
                        newest = Some((z, state));
                    }
                }
                None => {
                    tracing::warn!(file = %name, "snapshot fails its checksum; ignoring it");
                    bad_snapshots.push(name);
                }
            }
        }
        snaps.reverse();
        if newest.is_none() && base > Zxid::ZERO {
            return Err(invalid_data(format!(
                "the log starts after {base} and no intact snapshot covers it"
            )));
        }
        for name in garbage.iter().chain(&bad_snapshots) {
            remove_if_present(&*disk, name)?;
        }

        let after = newest.as_ref().map_or(Zxid::ZERO, |(z, _)| *z);
        let txns = scan
            .records
            .iter()
            .filter(|r| r.zxid > after)
            .map(|r| (r.zxid, log_bytes[r.payload.clone()].to_vec()))
            .collect();
        let store = Store {
            disk,
            generation,
            base,
            snaps,
            index: scan
                .records
                .iter()
                .map(|r| (r.zxid, r.offset as u64))
                .collect(),
            log_size: scan.valid_len as u64,
            dirty: false,
            epochs,
            failed: None,
        };
        let recovered = Recovered {
            accepted_epoch: epochs.0,
            current_epoch: epochs.1,
            snapshot: newest,
            txns,
            torn_bytes,
            bad_snapshots,
        };
        Ok((store, recovered))
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!(
                "store failed earlier ({why}); reopen it"
            ))),
        }
    }

    fn fail(&mut self, what: &str, e: io::Error) -> io::Error {
        tracing::error!(error = %e, "store {what} failed; store unusable until reopened");
        self.failed = Some(format!("{what}: {e}"));
        e
    }

    /// Appends a record to the log (page cache only; see [`Store::sync`]).
    /// `zxid` must be above [`Store::last_zxid`]. A disk error (e.g. ENOSPC)
    /// rolls the log back and leaves the store usable.
    pub fn append(&mut self, zxid: Zxid, payload: &[u8]) -> io::Result<()> {
        self.check()?;
        if zxid <= self.last_zxid() {
            return Err(invalid_input(format!(
                "append {zxid} not above last zxid {}",
                self.last_zxid()
            )));
        }
        if payload.len() > log::MAX_PAYLOAD {
            return Err(invalid_input(format!(
                "payload of {} bytes over the limit",
                payload.len()
            )));
        }
        let mut rec = Vec::new();
        log::encode_record(zxid, payload, &mut rec);
        if let Err(e) = self.disk.append(LOG, &rec) {
            // A failed write may have left part of the record behind.
            if let Err(e2) = self.disk.truncate(LOG, self.log_size) {
                return Err(self.fail("rollback of a failed append", e2));
            }
            return Err(e);
        }
        self.index.push((zxid, self.log_size));
        self.log_size += rec.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Makes every appended record durable. A failure marks the store failed.
    pub async fn sync(&mut self) -> io::Result<()> {
        self.check()?;
        if !self.dirty {
            return Ok(());
        }
        if let Err(e) = self.disk.fsync(LOG).await {
            return Err(self.fail("log fsync", e));
        }
        self.dirty = false;
        Ok(())
    }

    /// Removes every record with zxid > `zxid`, durably (ZAB TRUNC). Refused
    /// (store still usable) when a snapshot already covers records above
    /// `zxid`: the caller must fall back to a SNAP sync.
    pub async fn truncate_after(&mut self, zxid: Zxid) -> io::Result<()> {
        self.check()?;
        let floor = self.floor();
        if zxid < floor {
            return Err(invalid_input(format!(
                "cannot truncate to {zxid}: a snapshot covers up to {floor}"
            )));
        }
        let keep = self.index.partition_point(|(z, _)| *z <= zxid);
        let Some(&(_, cut)) = self.index.get(keep) else {
            return Ok(());
        };
        if let Err(e) = self.disk.truncate(LOG, cut) {
            return Err(self.fail("log truncate", e));
        }
        if let Err(e) = self.disk.fsync(LOG).await {
            return Err(self.fail("log fsync after truncate", e));
        }
        self.index.truncate(keep);
        self.log_size = cut;
        self.dirty = false;
        Ok(())
    }

    /// Persists both epochs together, atomically. Errors before the final
    /// rename leave the old epochs in force and the store usable.
    pub async fn save_epochs(&mut self, accepted: u32, current: u32) -> io::Result<()> {
        self.check()?;
        prepare(
            &*self.disk,
            EPOCHS_TMP,
            &log::encode_epochs(accepted, current),
        )
        .await?;
        if let Err(e) = self.disk.rename(EPOCHS_TMP, EPOCHS) {
            return Err(self.fail("epoch file rename", e));
        }
        self.epochs = (accepted, current);
        Ok(())
    }

    /// Durably writes a snapshot of the state at `zxid`, then compacts the
    /// log. The log keeps the records after the older of the two retained
    /// snapshots (not after `zxid`), so one damaged snapshot loses nothing.
    /// `zxid` must not be below the newest snapshot.
    pub async fn save_snapshot(&mut self, zxid: Zxid, state: &[u8]) -> io::Result<()> {
        self.check()?;
        let floor = self.floor();
        if zxid < floor {
            return Err(invalid_input(format!(
                "snapshot at {zxid} below the newest one at {floor}"
            )));
        }
        let name = log::snapshot_name(self.generation, zxid);
        prepare(
            &*self.disk,
            SNAP_TMP,
            &log::encode_snapshot(self.generation, zxid, state),
        )
        .await?;
        if let Err(e) = self.disk.rename(SNAP_TMP, &name) {
            return Err(self.fail("snapshot rename", e));
        }
        if self.snaps.last() != Some(&zxid) {
            self.snaps.push(zxid);
        }
        if self.snaps.len() > 2 {
            let new_base = self.snaps[self.snaps.len() - 2];
            if let Err(e) = self.compact(new_base).await {
                return Err(self.fail("log compaction", e));
            }
            for old in self.snaps.drain(..self.snaps.len() - 2) {
                let old_name = log::snapshot_name(self.generation, old);
                if let Err(e) = remove_if_present(&*self.disk, &old_name) {
                    // Harmless: open removes snapshots older than the base.
                    tracing::warn!(file = %old_name, error = %e, "could not remove old snapshot");
                }
            }
        }
        Ok(())
    }

    /// Rewrites the log to hold only the records after `new_base`.
    async fn compact(&mut self, new_base: Zxid) -> io::Result<()> {
        if new_base <= self.base {
            return Ok(());
        }
        let bytes = self
            .disk
            .read(LOG)?
            .ok_or_else(|| invalid_data("log vanished".into()))?;
        if (bytes.len() as u64) < self.log_size {
            return Err(invalid_data("log shorter than written".into()));
        }
        let first = self.index.partition_point(|(z, _)| *z <= new_base);
        let from = self.index.get(first).map_or(self.log_size, |r| r.1);
        let mut new = log::encode_log_header(new_base, self.generation);
        let header_len = new.len() as u64;
        new.extend_from_slice(&bytes[from as usize..self.log_size as usize]);
        prepare(&*self.disk, LOG_TMP, &new).await?;
        self.disk.rename(LOG_TMP, LOG)?;
        self.index.drain(..first);
        for r in &mut self.index {
            r.1 = r.1 - from + header_len;
        }
        self.base = new_base;
        self.log_size = new.len() as u64;
        self.dirty = false;
        Ok(())
    }

    /// ZAB SNAP sync: replaces snapshots and log by `state` at `zxid`,
    /// durably and atomically (a crash leaves either the old or the new state).
    pub async fn install_snapshot(&mut self, zxid: Zxid, state: &[u8]) -> io::Result<()> {
        self.check()?;
        let generation = self.generation + 1;
        let name = log::snapshot_name(generation, zxid);
        prepare(
            &*self.disk,
            SNAP_TMP,
            &log::encode_snapshot(generation, zxid, state),
        )
        .await?;
        if let Err(e) = self.disk.rename(SNAP_TMP, &name) {
            return Err(self.fail("snapshot rename", e));
        }
        let mut header = log::encode_log_header(zxid, generation);
        if crate::bugs::on(crate::bugs::Bug::SnapKeepsStaleLog) {
            header.extend(self.stale_tail(zxid)?);
        }
        let committed = match prepare(&*self.disk, LOG_TMP, &header).await {
            Ok(()) => self.disk.rename(LOG_TMP, LOG),
            Err(e) => Err(e),
        };
        if let Err(e) = committed {
            return Err(self.fail("log replace", e));
        }
        for old in std::mem::take(&mut self.snaps) {
            let old_name = log::snapshot_name(self.generation, old);
            if let Err(e) = remove_if_present(&*self.disk, &old_name) {
                // Harmless: open removes snapshots of other generations.
                tracing::warn!(file = %old_name, error = %e, "could not remove old snapshot");
            }
        }
        self.generation = generation;
        self.base = zxid;
        self.snaps = vec![zxid];
        self.index.clear();
        // (With the injected bug, stale records sit unindexed before the
        // appends to come: a reopen reads them and stops at the first append.)
        self.log_size = header.len() as u64;
        self.dirty = false;
        Ok(())
    }

    /// Injected bug `snap-keeps-stale-log` (ZOOKEEPER-2832, sim only): the
    /// log records above a SNAP's zxid, which the install should discard.
    fn stale_tail(&self, zxid: Zxid) -> io::Result<Vec<u8>> {
        let bytes = self.disk.read(LOG)?.unwrap_or_default();
        let first = self.index.partition_point(|(z, _)| *z <= zxid);
        let from = self.index.get(first).map_or(self.log_size, |r| r.1) as usize;
        Ok(bytes[from..(self.log_size as usize).min(bytes.len())].to_vec())
    }

    /// The newest snapshot's zxid, or the log base: nothing at or below it
    /// can be truncated away.
    fn floor(&self) -> Zxid {
        self.snaps
            .last()
            .copied()
            .unwrap_or(self.base)
            .max(self.base)
    }

    /// The last record appended, or the snapshot's zxid if that is later.
    pub fn last_zxid(&self) -> Zxid {
        let floor = self.floor();
        self.index.last().map_or(floor, |r| r.0.max(floor))
    }

    /// Records in the log.
    pub fn log_len(&self) -> usize {
        self.index.len()
    }

    /// Every record with zxid above this is in the log (the DIFF horizon).
    pub fn log_start(&self) -> Zxid {
        self.base
    }

    /// The newest retained snapshot's zxid.
    pub fn snapshot_zxid(&self) -> Option<Zxid> {
        self.snaps.last().copied()
    }

    /// `(acceptedEpoch, currentEpoch)` as last persisted.
    pub fn epochs(&self) -> (u32, u32) {
        self.epochs
    }

    /// Whether an earlier error left the store unusable until reopened.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The log records with zxid > `after`, in order (current contents,
    /// synced or not), e.g. to serve a DIFF.
    pub fn read_log(&self, after: Zxid) -> io::Result<Vec<(Zxid, Vec<u8>)>> {
        self.check()?;
        let bytes = self.disk.read(LOG)?.unwrap_or_default();
        let first = self.index.partition_point(|(z, _)| *z <= after);
        let mut out = Vec::with_capacity(self.index.len() - first);
        for &(z, off) in &self.index[first..] {
            let r = log::decode_record(&bytes, off as usize)
                .filter(|r| r.zxid == z)
                .ok_or_else(|| invalid_data(format!("log record {z} unreadable")))?;
            out.push((z, bytes[r.payload].to_vec()));
        }
        Ok(out)
    }
}

/// Drives a future that must complete without waiting (MemDisk never waits).
#[cfg(test)]
pub(crate) fn block_on_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("future did not complete at once"),
    }
}

#[cfg(test)]
mod tests;
