//! An in-memory [`Disk`] with a page cache and power loss.
//!
//! Each file has its durable bytes (what the platter holds) and its cached
//! bytes (what readers see). `fsync` makes the cached bytes durable at once;
//! MemDisk has no latency and no faults of its own (the simulator adds those
//! on top). While a file only grows by appends — the txn log's life — its
//! durable bytes are a prefix of the cached ones, so an fsync costs nothing
//! per byte.
//! [`MemDisk::crash`] reverts every file to its durable bytes, optionally
//! letting part of an unsynced appended tail survive, torn.

use super::disk::{check_name, not_found, Disk, DiskFuture};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// How an unsynced appended tail survives a crash: its first `keep_bytes`
/// reach the disk, then `garbage` follows.
///
/// - a half-written record: `keep_bytes` inside the record, no garbage;
/// - a torn record (sectors written out of order, stale sector contents):
///   `keep_bytes` inside the record, then garbage;
/// - junk after the last good record: `keep_bytes` at a record boundary
///   (0 for "nothing unsynced survives"), then garbage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TearSpec {
    pub keep_bytes: usize,
    pub garbage: Vec<u8>,
}

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Successful fsyncs.
    pub fsyncs: u64,
    /// Bytes passed to `append` and `write`.
    pub bytes_written: u64,
    pub crashes: u64,
    /// Files left with a torn tail by a crash.
    pub torn_files: u64,
}

#[derive(Clone, Debug, Default)]
struct MemFile {
    /// What readers see.
    cached: Vec<u8>,
    /// While only appends happened since the last fsync, the durable bytes
    /// are `cached[..durable_len]`.
    durable_len: usize,
    /// After a rewrite, or a truncation into the durable part: the durable
    /// bytes, kept apart until the next fsync.
    rewritten: Option<Vec<u8>>,
}

impl MemFile {
    fn durable(&self) -> &[u8] {
        match &self.rewritten {
            Some(bytes) => bytes,
            None => &self.cached[..self.durable_len],
        }
    }

    /// The unsynced bytes appended after the durable contents, if the only
    /// changes since the last fsync were appends (else a tear is meaningless).
    fn appended_tail(&self) -> Option<&[u8]> {
        (self.rewritten.is_none() && self.cached.len() > self.durable_len)
            .then(|| &self.cached[self.durable_len..])
    }

    /// About to change bytes that may be durable: keep the durable copy apart.
    fn before_rewrite(&mut self) {
        if self.rewritten.is_none() {
            self.rewritten = Some(self.cached[..self.durable_len].to_vec());
        }
    }

    fn sync(&mut self) {
        self.rewritten = None;
        self.durable_len = self.cached.len();
    }
}

#[derive(Default)]
struct Inner {
    files: BTreeMap<String, MemFile>,
    stats: DiskStats,
}

/// In-memory disk. Clones share the same files, so a harness can keep a
/// handle across a node's restarts.
#[derive(Clone, Default)]
pub struct MemDisk {
    inner: Arc<Mutex<Inner>>,
}

impl MemDisk {
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a file half-updated in a
        // way that matters more than the panic itself; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Power loss: every file reverts to its durable bytes, except that with
    /// `torn` given, each file whose unsynced changes are pure appends keeps
    /// part of that tail as the spec says. Files created since are kept (their
    /// creation was durable), emptied to what was synced.
    pub fn crash(&self, torn: Option<TearSpec>) {
        self.crash_with(|_, _| torn.clone());
    }

    /// Power loss with a per-file choice: `tear(name, unsynced_tail)` is asked
    /// for every file whose unsynced changes are pure appends, in name order.
    pub fn crash_with(&self, mut tear: impl FnMut(&str, &[u8]) -> Option<TearSpec>) {
        let mut inner = self.lock();
        let Inner { files, stats } = &mut *inner;
        stats.crashes += 1;
        for (name, f) in files.iter_mut() {
            let mut survived = f.durable().to_vec();
            if let Some(tail) = f.appended_tail() {
                if let Some(spec) = tear(name, tail) {
                    let keep = spec.keep_bytes.min(tail.len());
                    survived.extend_from_slice(&tail[..keep]);
                    survived.extend_from_slice(&spec.garbage);
                    if keep > 0 || !spec.garbage.is_empty() {
                        stats.torn_files += 1;
                    }
                }
            }
            f.cached = survived;
            f.sync();
        }
    }

    /// The durable bytes of a file, as a crash without tearing would leave them.
    pub fn durable(&self, file: &str) -> Option<Vec<u8>> {
        self.lock().files.get(file).map(|f| f.durable().to_vec())
    }

    pub fn durable_len(&self, file: &str) -> Option<u64> {
        self.lock()
            .files
            .get(file)
            .map(|f| f.durable().len() as u64)
    }

    /// True if the file's current contents differ from its durable contents.
    pub fn is_dirty(&self, file: &str) -> bool {
        self.lock()
            .files
            .get(file)
            .is_some_and(|f| f.durable() != f.cached.as_slice())
    }

    /// Media corruption: XORs `mask` into the byte at `offset`, in both the
    /// durable and the cached copy (where they have that byte).
    pub fn corrupt(&self, file: &str, offset: usize, mask: u8) -> io::Result<()> {
        let mut inner = self.lock();
        let f = inner.files.get_mut(file).ok_or_else(|| not_found(file))?;
        if offset >= f.durable().len() && offset >= f.cached.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("offset {offset} past the end of {file:?}"),
            ));
        }
        // Without a rewrite the durable bytes are the cached prefix: one flip.
        if let Some(b) = f.rewritten.as_mut().and_then(|d| d.get_mut(offset)) {
            *b ^= mask;
        }
        if let Some(b) = f.cached.get_mut(offset) {
            *b ^= mask;
        }
        Ok(())
    }

    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }

    /// Makes a file durable synchronously (the body of `fsync`).
    pub fn fsync_now(&self, file: &str) -> io::Result<()> {
        let mut inner = self.lock();
        let f = inner.files.get_mut(file).ok_or_else(|| not_found(file))?;
        f.sync();
        inner.stats.fsyncs += 1;
        Ok(())
    }
}

impl Disk for MemDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        check_name(file)?;
        Ok(self.lock().files.get(file).map(|f| f.cached.clone()))
    }

    fn append(&self, file: &str, data: &[u8]) -> io::Result<()> {
        check_name(file)?;
        let mut inner = self.lock();
        inner.stats.bytes_written += data.len() as u64;
        let f = inner.files.entry(file.to_string()).or_default();
        f.cached.extend_from_slice(data);
        Ok(())
    }

    fn write(&self, file: &str, data: &[u8]) -> io::Result<()> {
        check_name(file)?;
        let mut inner = self.lock();
        inner.stats.bytes_written += data.len() as u64;
        let f = inner.files.entry(file.to_string()).or_default();
        f.before_rewrite();
        f.cached.clear();
        f.cached.extend_from_slice(data);
        Ok(())
    }

    fn truncate(&self, file: &str, len: u64) -> io::Result<()> {
        check_name(file)?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        let mut inner = self.lock();
        let f = inner.files.get_mut(file).ok_or_else(|| not_found(file))?;
        // Cutting only unsynced appended bytes leaves the durable prefix whole.
        if len < f.durable_len || len > f.cached.len() {
            f.before_rewrite();
        }
        f.cached.resize(len, 0);
        Ok(())
    }

    fn remove(&self, file: &str) -> io::Result<()> {
        check_name(file)?;
        match self.lock().files.remove(file) {
            Some(_) => Ok(()),
            None => Err(not_found(file)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        let mut inner = self.lock();
        let f = inner.files.remove(from).ok_or_else(|| not_found(from))?;
        // The inode moves with its page cache: durable and cached both travel.
        inner.files.insert(to.to_string(), f);
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().files.keys().cloned().collect())
    }

    fn fsync<'a>(&'a self, file: &'a str) -> DiskFuture<'a, ()> {
        let res = check_name(file).and_then(|()| self.fsync_now(file));
        Box::pin(std::future::ready(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::block_on_ready;

    #[test]
    fn page_cache_and_crash() {
        let d = MemDisk::new();
        d.append("a", b"hello").unwrap();
        block_on_ready(d.fsync("a")).unwrap();
        d.append("a", b" world").unwrap();
        assert_eq!(d.read("a").unwrap().unwrap(), b"hello world");
        assert_eq!(d.durable_len("a"), Some(5));
        d.crash(None);
        assert_eq!(d.read("a").unwrap().unwrap(), b"hello");

        d.append("a", b" world").unwrap();
        d.crash(Some(TearSpec {
            keep_bytes: 3,
            garbage: vec![0xff; 2],
        }));
        assert_eq!(d.read("a").unwrap().unwrap(), b"hello wo\xff\xff");
        assert_eq!(d.stats().torn_files, 1);
    }

    #[test]
    fn rename_moves_durable_state() {
        let d = MemDisk::new();
        d.write("t", b"new").unwrap();
        block_on_ready(d.fsync("t")).unwrap();
        d.write("x", b"old").unwrap();
        block_on_ready(d.fsync("x")).unwrap();
        d.rename("t", "x").unwrap();
        d.crash(None);
        assert_eq!(d.read("x").unwrap().unwrap(), b"new");
        assert_eq!(d.read("t").unwrap(), None);
        assert_eq!(d.list().unwrap(), vec!["x".to_string()]);
        assert!(d.read("../x").is_err());
    }
}
