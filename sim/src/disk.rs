//! Simulated disk: [`MemDisk`]'s page cache and power loss, plus latency and
//! faults the harness switches at run time.
//!
//! `madsim::fs` makes every write durable at once, so it cannot show a lost
//! or torn write; this disk can. A `SimDisk` is a cheap `Clone` handle: the
//! harness keeps one per node and hands a clone to the node's init closure,
//! so the files outlive kills and restarts.
//!
//! Faults — what each does, and what it never does:
//! - **fsync latency** (`set_fsync_latency_ms`, default 1–3 ms): every fsync
//!   sleeps a duration drawn uniformly from the range. Data becomes durable
//!   when the fsync completes; a node killed mid-fsync made nothing durable.
//!   No other call takes simulated time.
//! - **failing fsyncs** (`fail_fsyncs(n)`): the next `n` fsync calls wait
//!   their latency, then return an EIO error and make nothing durable. The
//!   data stays in the page cache (no "fsyncgate" page dropping), so a later
//!   fsync that succeeds does make it durable. Never fails any other call.
//! - **full disk** (`set_full(true)`): `append` and `write` return ENOSPC
//!   (`ErrorKind::StorageFull`) and change nothing — never a short write.
//!   `truncate`, `remove`, `rename`, `fsync` and reads still work.
//! - **power loss** (`power_loss`): every file reverts to its durable bytes.
//!   A file whose unsynced changes are pure appends is torn with probability
//!   `tear_probability` (default 0.5): a random prefix of the unsynced tail
//!   survives (anything from none to all of it), followed, with probability
//!   `garbage_probability` (default 0.25), by 1–32 random bytes. Never
//!   changes synced bytes, never undoes a create, remove or rename (those are
//!   durable at once), never tears a file that was rewritten or truncated
//!   since its last fsync (it just reverts). Kill the node first: the disk
//!   does not stop a live node from writing on.
//! - **media corruption** (`corrupt`): flips bits of one byte, synced or not,
//!   for checksum tests. Only when asked; never spontaneous.
//!
//! All randomness comes from the disk's own stream, seeded from the
//! simulation (`streams::stream("disk", sid)` in a cluster), so a run is the
//! same for the same seed. Calls that draw randomness (fsync with a non-zero
//! latency range, `power_loss`) must run inside the madsim runtime.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use zkstorm::store::{Disk, DiskFuture, MemDisk, TearSpec};

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimDiskStats {
    /// Successful fsyncs.
    pub fsyncs: u64,
    /// Fsyncs failed by `fail_fsyncs`.
    pub failed_fsyncs: u64,
    /// Bytes accepted by `append` and `write`.
    pub bytes_written: u64,
    /// Appends and writes refused by a full disk.
    pub enospc_errors: u64,
    pub power_losses: u64,
    /// Files left with a torn tail by a power loss.
    pub torn_files: u64,
    /// Simulated time spent in fsyncs (successful or not).
    pub fsync_time: Duration,
}

struct Faults {
    latency_us: (u64, u64),
    failing_fsyncs: u64,
    full: bool,
    tear_probability: f64,
    garbage_probability: f64,
    failed_fsyncs: u64,
    enospc_errors: u64,
    fsync_time: Duration,
    /// Fsync latencies and tears are drawn from here: the server's own
    /// stream in a cluster (`streams`).
    rng: StdRng,
}

/// A simulated disk with a page cache, fsync latency and injectable faults.
#[derive(Clone)]
pub struct SimDisk {
    mem: MemDisk,
    faults: Arc<Mutex<Faults>>,
}

impl Default for SimDisk {
    fn default() -> Self {
        SimDisk::new()
    }
}

fn enospc() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "ENOSPC (simulated): no space left on device",
    )
}

impl SimDisk {
    /// A disk drawing from a stream seeded off the simulation's own.
    pub fn new() -> SimDisk {
        SimDisk::with_rng(StdRng::seed_from_u64(madsim::rand::thread_rng().gen()))
    }

    /// A disk drawing its fsync latencies and tears from `rng`.
    pub fn with_rng(rng: StdRng) -> SimDisk {
        SimDisk {
            mem: MemDisk::new(),
            faults: Arc::new(Mutex::new(Faults {
                latency_us: (1_000, 3_000),
                failing_fsyncs: 0,
                full: false,
                tear_probability: 0.5,
                garbage_probability: 0.25,
                failed_fsyncs: 0,
                enospc_errors: 0,
                fsync_time: Duration::ZERO,
                rng,
            })),
        }
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each fsync sleeps a duration drawn uniformly from `[min, max]` ms.
    pub fn set_fsync_latency_ms(&self, min: u64, max: u64) {
        let (min, max) = (min.min(max), min.max(max));
        self.faults().latency_us = (min * 1_000, max * 1_000);
    }

    /// The next `n` fsyncs fail with EIO (replaces any earlier count).
    pub fn fail_fsyncs(&self, n: u64) {
        self.faults().failing_fsyncs = n;
    }

    /// While full, appends and writes fail with ENOSPC.
    pub fn set_full(&self, full: bool) {
        self.faults().full = full;
    }

    /// Chances that a power loss tears an unsynced appended tail, and that a
    /// tear ends in garbage. Clamped to [0, 1].
    pub fn set_tear_probability(&self, tear: f64, garbage: f64) {
        let mut f = self.faults();
        f.tear_probability = tear.clamp(0.0, 1.0);
        f.garbage_probability = garbage.clamp(0.0, 1.0);
    }

    /// The current (tear, garbage) probabilities.
    pub fn tear_probability(&self) -> (f64, f64) {
        let f = self.faults();
        (f.tear_probability, f.garbage_probability)
    }

    /// Power loss: drops everything not fsynced, maybe tearing unsynced
    /// appended tails (see the module notes). Kill the node first.
    pub fn power_loss(&self) {
        let mut f = self.faults();
        let (tear_p, garbage_p) = (f.tear_probability, f.garbage_probability);
        let rng = &mut f.rng;
        self.mem.crash_with(|_, tail| {
            if !rng.gen_bool(tear_p) {
                return None;
            }
            let keep_bytes = rng.gen_range(0..=tail.len());
            let garbage = if rng.gen_bool(garbage_p) {
                let n = rng.gen_range(1..=32);
                (0..n).map(|_| rng.gen::<u8>()).collect()
            } else {
                Vec::new()
            };
            Some(TearSpec {
                keep_bytes,
                garbage,
            })
        });
    }

    /// Power loss with a scripted tear for every unsynced appended tail.
    pub fn power_loss_with(&self, torn: Option<TearSpec>) {
        self.mem.crash(torn);
    }

    /// Flips the bits of `mask` in the byte at `offset` (synced and cached).
    pub fn corrupt(&self, file: &str, offset: usize, mask: u8) -> io::Result<()> {
        self.mem.corrupt(file, offset, mask)
    }

    /// Length of the file's durable contents, `None` if absent.
    pub fn durable_len(&self, file: &str) -> Option<u64> {
        self.mem.durable_len(file)
    }

    /// The file's durable contents, `None` if absent.
    pub fn durable(&self, file: &str) -> Option<Vec<u8>> {
        self.mem.durable(file)
    }

    pub fn stats(&self) -> SimDiskStats {
        let m = self.mem.stats();
        let f = self.faults();
        SimDiskStats {
            fsyncs: m.fsyncs,
            failed_fsyncs: f.failed_fsyncs,
            bytes_written: m.bytes_written,
            enospc_errors: f.enospc_errors,
            power_losses: m.crashes,
            torn_files: m.torn_files,
            fsync_time: f.fsync_time,
        }
    }

    /// Refuses a write while the disk is full.
    fn check_space(&self) -> io::Result<()> {
        let mut f = self.faults();
        if f.full {
            f.enospc_errors += 1;
            return Err(enospc());
        }
        Ok(())
    }
}

impl Disk for SimDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        self.mem.read(file)
    }

    fn append(&self, file: &str, data: &[u8]) -> io::Result<()> {
        self.check_space()?;
        self.mem.append(file, data)
    }

    fn write(&self, file: &str, data: &[u8]) -> io::Result<()> {
        self.check_space()?;
        self.mem.write(file, data)
    }

    fn truncate(&self, file: &str, len: u64) -> io::Result<()> {
        self.mem.truncate(file, len)
    }

    fn remove(&self, file: &str) -> io::Result<()> {
        self.mem.remove(file)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.mem.rename(from, to)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.mem.list()
    }

    fn fsync<'a>(&'a self, file: &'a str) -> DiskFuture<'a, ()> {
        // Draw the latency and the verdict now, in call order, so the random
        // stream does not depend on how the futures are polled.
        let (delay, fail) = {
            let mut f = self.faults();
            let (lo, hi) = f.latency_us;
            let us = if hi == 0 { 0 } else { f.rng.gen_range(lo..=hi) };
            let fail = f.failing_fsyncs > 0;
            if fail {
                f.failing_fsyncs -= 1;
            }
            (Duration::from_micros(us), fail)
        };
        Box::pin(async move {
            if !delay.is_zero() {
                madsim::time::sleep(delay).await;
            }
            let mut f = self.faults();
            f.fsync_time += delay;
            if fail {
                f.failed_fsyncs += 1;
                return Err(io::Error::other("EIO (simulated): fsync failed"));
            }
            drop(f);
            self.mem.fsync_now(file)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use madsim::runtime::Runtime;
    use std::sync::Arc;
    use zkstorm::store::Store;
    use zkstorm::types::Zxid;

    fn run<F: std::future::Future>(seed: u64, f: F) -> F::Output {
        Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(f)
    }

    #[test]
    fn power_loss_drops_unsynced_data() {
        run(1, async {
            let disk = SimDisk::new();
            disk.set_tear_probability(0.0, 0.0);
            disk.append("f", b"synced").unwrap();
            let t0 = madsim::time::Instant::now();
            disk.fsync("f").await.unwrap();
            let waited = t0.elapsed();
            assert!(waited >= Duration::from_millis(1) && waited <= Duration::from_millis(3));
            disk.append("f", b"-lost").unwrap();
            assert_eq!(disk.durable_len("f"), Some(6));
            disk.power_loss();
            assert_eq!(disk.read("f").unwrap().unwrap(), b"synced");
            let s = disk.stats();
            assert_eq!((s.fsyncs, s.power_losses, s.torn_files), (1, 1, 0));
        });
    }

    #[test]
    fn fail_fsyncs_and_full_disk() {
        run(2, async {
            let disk = SimDisk::new();
            disk.append("f", b"abc").unwrap();
            disk.fail_fsyncs(2);
            assert!(disk.fsync("f").await.is_err());
            assert!(disk.fsync("f").await.is_err());
            assert_eq!(disk.durable_len("f"), Some(0));
            disk.fsync("f").await.unwrap();
            assert_eq!(disk.durable_len("f"), Some(3));
            assert_eq!(disk.stats().failed_fsyncs, 2);

            disk.set_full(true);
            let e = disk.append("f", b"more").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::StorageFull);
            assert_eq!(disk.read("f").unwrap().unwrap(), b"abc");
            disk.set_full(false);
            disk.append("f", b"more").unwrap();
        });
    }

    /// Torn tails are drawn from the seed: the same seed gives the same bytes.
    fn torn_bytes(seed: u64) -> Vec<Vec<u8>> {
        run(seed, async {
            let disk = SimDisk::new();
            disk.set_tear_probability(1.0, 0.5);
            let mut out = Vec::new();
            for _ in 0..8 {
                disk.append("f", &[7; 100]).unwrap();
                disk.power_loss();
                out.push(disk.read("f").unwrap().unwrap());
                disk.write("f", b"").unwrap();
                disk.fsync("f").await.unwrap();
            }
            out
        })
    }

    #[test]
    fn tears_are_deterministic_per_seed() {
        let a = std::thread::spawn(|| torn_bytes(7)).join().unwrap();
        let b = std::thread::spawn(|| torn_bytes(7)).join().unwrap();
        assert_eq!(a, b);
        assert!(a.iter().any(|f| !f.is_empty() && f.len() < 100));
    }

    #[test]
    fn store_over_sim_disk_survives_power_loss() {
        run(3, async {
            let disk = SimDisk::new();
            let (mut s, _) = Store::open(Arc::new(disk.clone())).await.unwrap();
            for c in 1..=5 {
                s.append(Zxid::new(1, c), b"txn").unwrap();
            }
            s.sync().await.unwrap();
            for c in 6..=9 {
                s.append(Zxid::new(1, c), b"txn").unwrap();
            }
            disk.fail_fsyncs(1);
            assert!(s.sync().await.is_err());
            assert!(s.is_failed());
            drop(s);
            disk.set_tear_probability(1.0, 1.0);
            disk.power_loss();
            // Synced records survive; of the unsynced ones, at most a whole-record
            // prefix of the torn tail does, and the garbage after it is cut.
            let (s, r) = Store::open(Arc::new(disk.clone())).await.unwrap();
            let n = r.txns.len() as u32;
            assert!((5..=9).contains(&n));
            let want: Vec<_> = (1..=n)
                .map(|c| (Zxid::new(1, c), b"txn".to_vec()))
                .collect();
            assert_eq!(r.txns, want);
            assert!(r.torn_bytes > 0);
            assert_eq!(s.last_zxid(), Zxid::new(1, n));
        });
    }
}
