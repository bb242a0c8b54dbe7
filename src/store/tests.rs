use super::*;
use std::sync::Mutex;

fn z(counter: u32) -> Zxid {
    Zxid::new(1, counter)
}

fn payload(counter: u32) -> Vec<u8> {
    format!("txn-{counter}").into_bytes()
}

fn open(disk: &MemDisk) -> (Store, Recovered) {
    block_on_ready(Store::open(Arc::new(disk.clone()))).expect("open")
}

fn append_range(store: &mut Store, range: std::ops::RangeInclusive<u32>) {
    for c in range {
        store.append(z(c), &payload(c)).unwrap();
    }
}

fn txns(range: std::ops::RangeInclusive<u32>) -> Vec<(Zxid, Vec<u8>)> {
    range.map(|c| (z(c), payload(c))).collect()
}

#[test]
fn round_trip() {
    let disk = MemDisk::new();
    let (mut s, r) = open(&disk);
    assert_eq!(r, Recovered::default());
    assert_eq!(s.last_zxid(), Zxid::ZERO);
    append_range(&mut s, 1..=5);
    block_on_ready(s.sync()).unwrap();
    assert_eq!(s.last_zxid(), z(5));
    assert_eq!(s.log_len(), 5);
    assert_eq!(s.read_log(z(3)).unwrap(), txns(4..=5));
    drop(s);

    let (s, r) = open(&disk);
    assert_eq!(r.txns, txns(1..=5));
    assert_eq!(r.torn_bytes, 0);
    assert_eq!(s.last_zxid(), z(5));
    assert_eq!(s.log_len(), 5);
}

#[test]
fn append_rejects_old_zxids_and_huge_payloads() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=2);
    assert_eq!(
        s.append(z(2), b"x").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    let huge = vec![0; log::MAX_PAYLOAD + 1];
    assert!(s.append(z(3), &huge).is_err());
    assert!(!s.is_failed());
    s.append(z(3), b"ok").unwrap();
}

#[test]
fn crash_loses_exactly_the_unsynced() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=3);
    block_on_ready(s.sync()).unwrap();
    append_range(&mut s, 4..=6);
    drop(s);
    disk.crash(None);

    let (mut s, r) = open(&disk);
    assert_eq!(r.txns, txns(1..=3));
    assert_eq!(r.torn_bytes, 0);
    assert_eq!(s.last_zxid(), z(3));
    append_range(&mut s, 4..=4);
    block_on_ready(s.sync()).unwrap();
    drop(s);
    disk.crash(None);
    assert_eq!(open(&disk).1.txns, txns(1..=4));
}

#[test]
fn open_makes_page_cache_leftovers_durable() {
    // A process restart (no power loss) finds unsynced records in the page
    // cache; once open reports them they must survive a later power loss.
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=3);
    drop(s);
    let (_s, r) = open(&disk);
    assert_eq!(r.txns, txns(1..=3));
    disk.crash(None);
    assert_eq!(open(&disk).1.txns, txns(1..=3));
}

/// Writes records 1..=3 synced and 4..=5 unsynced, then crashes with `tear`.
fn torn_after(tear: TearSpec) -> MemDisk {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=3);
    block_on_ready(s.sync()).unwrap();
    append_range(&mut s, 4..=5);
    drop(s);
    disk.crash(Some(tear));
    disk
}

/// Opens a damaged store, checks what it kept and cut, and that it works after.
fn check_recovers(disk: &MemDisk, kept: u32, cut: u64) {
    let (mut s, r) = open(disk);
    assert_eq!(r.txns, txns(1..=kept));
    assert_eq!(r.torn_bytes, cut);
    assert_eq!(s.last_zxid(), z(kept));
    append_range(&mut s, kept + 1..=kept + 2);
    block_on_ready(s.sync()).unwrap();
    drop(s);
    disk.crash(None);
    let (_, r) = open(disk);
    assert_eq!(r.txns, txns(1..=kept + 2));
    assert_eq!(r.torn_bytes, 0);
}

#[test]
fn torn_half_record() {
    let rec4 = (log::RECORD_HEADER + payload(4).len()) as u64;
    // All of record 4 and half of record 5 reached the disk.
    let disk = torn_after(TearSpec {
        keep_bytes: rec4 as usize + 10,
        garbage: vec![],
    });
    check_recovers(&disk, 4, 10);
    // Only part of record 4's header.
    let disk = torn_after(TearSpec {
        keep_bytes: 3,
        garbage: vec![],
    });
    check_recovers(&disk, 3, 3);
}

#[test]
fn torn_record_with_garbage() {
    // Half of record 4, then sectors of junk.
    let disk = torn_after(TearSpec {
        keep_bytes: 12,
        garbage: vec![0xa5; 40],
    });
    check_recovers(&disk, 3, 52);
}

#[test]
fn garbage_after_a_good_record() {
    // Nothing unsynced survived but junk follows the last synced record;
    // a zeroed region must not parse as an empty record either.
    let disk = torn_after(TearSpec {
        keep_bytes: 0,
        garbage: vec![0; 32],
    });
    check_recovers(&disk, 3, 32);
    let disk = torn_after(TearSpec {
        keep_bytes: 0,
        garbage: vec![7, 1, 2],
    });
    check_recovers(&disk, 3, 3);
}

#[test]
fn flipped_byte_in_a_middle_record() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=5);
    block_on_ready(s.sync()).unwrap();
    drop(s);
    let log = disk.durable(LOG).unwrap();
    let (_, _, header) = log::decode_log_header(&log).unwrap();
    let recs = log::scan(&log, header, Zxid::ZERO).records;
    // A payload byte of record 3: records 3..=5 are cut.
    disk.corrupt(LOG, recs[2].payload.start + 1, 0x01).unwrap();
    let cut = (log.len() - recs[2].offset) as u64;
    check_recovers(&disk, 2, cut);
}

#[test]
fn out_of_order_zxid_is_a_corrupt_tail() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=2);
    block_on_ready(s.sync()).unwrap();
    drop(s);
    // A well-formed record that goes backwards (e.g. stale data from an old file).
    let mut rec = Vec::new();
    log::encode_record(z(1), b"stale", &mut rec);
    disk.append(LOG, &rec).unwrap();
    check_recovers(&disk, 2, rec.len() as u64);
}

#[test]
fn truncate_after_is_durable() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=6);
    block_on_ready(s.sync()).unwrap();
    block_on_ready(s.truncate_after(z(3))).unwrap();
    assert_eq!(s.last_zxid(), z(3));
    assert_eq!(s.log_len(), 3);
    // Truncating at or past the end is a no-op.
    block_on_ready(s.truncate_after(z(9))).unwrap();
    assert_eq!(s.log_len(), 3);
    // A zxid between records: everything above it goes.
    s.append(Zxid::new(2, 1), b"e2").unwrap();
    block_on_ready(s.truncate_after(Zxid::new(1, u32::MAX))).unwrap();
    assert_eq!(s.last_zxid(), z(3));
    append_range(&mut s, 7..=7);
    drop(s);
    disk.crash(None);
    let (s, r) = open(&disk);
    assert_eq!(r.txns, txns(1..=3));
    assert_eq!(s.last_zxid(), z(3));
}

#[test]
fn truncate_below_a_snapshot_is_refused() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=6);
    block_on_ready(s.save_snapshot(z(4), b"state@4")).unwrap();
    let e = block_on_ready(s.truncate_after(z(3))).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(!s.is_failed());
    block_on_ready(s.truncate_after(z(4))).unwrap();
    assert_eq!(s.last_zxid(), z(4));
}

#[test]
fn snapshot_then_log_replay() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=10);
    block_on_ready(s.sync()).unwrap();
    block_on_ready(s.save_snapshot(z(4), b"state@4")).unwrap();
    // One snapshot: the log keeps everything.
    assert_eq!(s.log_len(), 10);
    block_on_ready(s.save_snapshot(z(7), b"state@7")).unwrap();
    assert_eq!(s.log_len(), 10);
    append_range(&mut s, 11..=12);
    block_on_ready(s.save_snapshot(z(9), b"state@9")).unwrap();
    // Three snapshots: keep two, the log starts after the older one.
    assert_eq!(s.log_start(), z(7));
    assert_eq!(s.log_len(), 5);
    assert_eq!(s.snapshot_zxid(), Some(z(9)));
    assert_eq!(s.read_log(Zxid::ZERO).unwrap(), txns(8..=12));
    assert_eq!(s.last_zxid(), z(12));
    append_range(&mut s, 13..=13);
    block_on_ready(s.sync()).unwrap();
    drop(s);
    disk.crash(None);
    let names = disk.list().unwrap();
    assert_eq!(names.iter().filter(|n| n.starts_with("snap-")).count(), 2);

    let (s, r) = open(&disk);
    assert_eq!(r.snapshot, Some((z(9), b"state@9".to_vec())));
    assert_eq!(r.txns, txns(10..=13));
    assert_eq!(s.last_zxid(), z(13));
    assert_eq!(s.log_len(), 6);
}

#[test]
fn snapshot_ahead_of_the_log() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=2);
    block_on_ready(s.save_snapshot(z(5), b"state@5")).unwrap();
    assert_eq!(s.last_zxid(), z(5));
    assert!(s.append(z(5), b"x").is_err());
    append_range(&mut s, 6..=6);
    block_on_ready(s.sync()).unwrap();
    drop(s);
    let (_, r) = open(&disk);
    assert_eq!(r.snapshot.unwrap().0, z(5));
    assert_eq!(r.txns, txns(6..=6));
}

#[test]
fn corrupt_snapshot_falls_back_to_the_older_one() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=6);
    block_on_ready(s.save_snapshot(z(2), b"state@2")).unwrap();
    block_on_ready(s.save_snapshot(z(3), b"state@3")).unwrap();
    block_on_ready(s.save_snapshot(z(5), b"state@5")).unwrap();
    drop(s);
    let newest = log::snapshot_name(0, z(5));
    disk.corrupt(&newest, 40, 0x80).unwrap();

    let (mut s, r) = open(&disk);
    assert_eq!(r.bad_snapshots, vec![newest.clone()]);
    assert_eq!(r.snapshot, Some((z(3), b"state@3".to_vec())));
    assert_eq!(r.txns, txns(4..=6));
    assert_eq!(disk.read(&newest).unwrap(), None);
    // The store carries on normally.
    assert_eq!(s.snapshot_zxid(), Some(z(3)));
    block_on_ready(s.save_snapshot(z(6), b"state@6")).unwrap();
    drop(s);
    let (_, r) = open(&disk);
    assert_eq!(r.snapshot, Some((z(6), b"state@6".to_vec())));
    assert!(r.txns.is_empty());
}

#[test]
fn only_snapshot_corrupt_without_full_log_is_an_error() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    block_on_ready(s.install_snapshot(z(8), b"leader state")).unwrap();
    drop(s);
    disk.corrupt(&log::snapshot_name(1, z(8)), 33, 1).unwrap();
    let e = block_on_ready(Store::open(Arc::new(disk.clone())))
        .err()
        .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn corrupt_only_snapshot_with_full_log_replays_everything() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=4);
    block_on_ready(s.save_snapshot(z(3), b"state@3")).unwrap();
    drop(s);
    disk.corrupt(&log::snapshot_name(0, z(3)), 0, 0xff).unwrap();
    let (_, r) = open(&disk);
    assert_eq!(r.bad_snapshots.len(), 1);
    assert_eq!(r.snapshot, None);
    assert_eq!(r.txns, txns(1..=4));
}

#[test]
fn install_snapshot_replaces_everything() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=6);
    block_on_ready(s.save_snapshot(z(2), b"state@2")).unwrap();
    block_on_ready(s.sync()).unwrap();
    // A leader's snapshot from another history, below our last zxid.
    block_on_ready(s.install_snapshot(z(4), b"leader@4")).unwrap();
    assert_eq!(s.last_zxid(), z(4));
    assert_eq!(s.log_len(), 0);
    s.append(z(5), b"new-5").unwrap();
    block_on_ready(s.sync()).unwrap();
    drop(s);
    disk.crash(None);
    let (s, r) = open(&disk);
    assert_eq!(r.snapshot, Some((z(4), b"leader@4".to_vec())));
    assert_eq!(r.txns, vec![(z(5), b"new-5".to_vec())]);
    assert_eq!(s.last_zxid(), z(5));
    let snaps: Vec<_> = disk
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("snap-"))
        .collect();
    assert_eq!(snaps, vec![log::snapshot_name(1, z(4))]);
}

#[test]
fn epochs_persist_together() {
    let disk = MemDisk::new();
    let (mut s, r) = open(&disk);
    assert_eq!((r.accepted_epoch, r.current_epoch), (0, 0));
    block_on_ready(s.save_epochs(3, 2)).unwrap();
    block_on_ready(s.save_epochs(4, 4)).unwrap();
    assert_eq!(s.epochs(), (4, 4));
    drop(s);
    disk.crash(None);
    let (_, r) = open(&disk);
    assert_eq!((r.accepted_epoch, r.current_epoch), (4, 4));

    disk.corrupt(EPOCHS, 9, 1).unwrap();
    let e = block_on_ready(Store::open(Arc::new(disk.clone())))
        .err()
        .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}

/// A MemDisk whose `n`-th state-changing call (counting from 0) fails; an
/// append fails after writing half its data, as a short write would.
#[derive(Clone)]
struct FailingDisk {
    mem: MemDisk,
    countdown: Arc<Mutex<Option<usize>>>,
}

impl FailingDisk {
    fn new(mem: &MemDisk, fail_at: Option<usize>) -> FailingDisk {
        FailingDisk {
            mem: mem.clone(),
            countdown: Arc::new(Mutex::new(fail_at)),
        }
    }

    fn hit(&self) -> bool {
        let mut c = self.countdown.lock().unwrap();
        match *c {
            Some(0) => {
                *c = None;
                true
            }
            Some(n) => {
                *c = Some(n - 1);
                false
            }
            None => false,
        }
    }

    fn ops_left(&self) -> Option<usize> {
        *self.countdown.lock().unwrap()
    }
}

fn eio() -> io::Error {
    io::Error::other("injected EIO")
}

impl Disk for FailingDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        self.mem.read(file)
    }
    fn append(&self, file: &str, data: &[u8]) -> io::Result<()> {
        if self.hit() {
            self.mem.append(file, &data[..data.len() / 2])?;
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.mem.append(file, data)
    }
    fn write(&self, file: &str, data: &[u8]) -> io::Result<()> {
        if self.hit() {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.mem.write(file, data)
    }
    fn truncate(&self, file: &str, len: u64) -> io::Result<()> {
        if self.hit() {
            return Err(eio());
        }
        self.mem.truncate(file, len)
    }
    fn remove(&self, file: &str) -> io::Result<()> {
        if self.hit() {
            return Err(eio());
        }
        self.mem.remove(file)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        if self.hit() {
            return Err(eio());
        }
        self.mem.rename(from, to)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.mem.list()
    }
    fn fsync<'a>(&'a self, file: &'a str) -> DiskFuture<'a, ()> {
        if self.hit() {
            return Box::pin(std::future::ready(Err(eio())));
        }
        self.mem.fsync(file)
    }
}

/// A store with snapshots at 2 and 4 (gen 0), records 1..=6, epochs (1, 1).
fn populated() -> MemDisk {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    append_range(&mut s, 1..=6);
    block_on_ready(s.save_snapshot(z(2), b"state@2")).unwrap();
    block_on_ready(s.save_snapshot(z(4), b"state@4")).unwrap();
    block_on_ready(s.save_epochs(1, 1)).unwrap();
    block_on_ready(s.sync()).unwrap();
    disk
}

/// Runs `op` with the k-th disk call failing, for every k until it runs
/// clean. After an error the store is either marked failed or usable (then
/// a retry must succeed); after a crash the state is the old or the new one,
/// and the new one whenever the op reported success.
fn crash_sweep(
    op: impl Fn(&mut Store) -> io::Result<()>,
    old: impl Fn(&Recovered) -> bool,
    new: impl Fn(&Recovered) -> bool,
) {
    for k in 0.. {
        let disk = populated();
        let failing = FailingDisk::new(&disk, None);
        let (mut s, _) = block_on_ready(Store::open(Arc::new(failing.clone()))).unwrap();
        *failing.countdown.lock().unwrap() = Some(k);
        let res = op(&mut s);
        let fired = failing.ops_left().is_none();
        assert!(
            fired || res.is_ok(),
            "k={k}: error without a fault: {res:?}"
        );
        let mut ok = res.is_ok();
        if !ok && !s.is_failed() {
            op(&mut s).unwrap_or_else(|e| panic!("k={k}: retry on a usable store: {e}"));
            ok = true;
        }
        drop(s);
        disk.crash(None);
        let (_, r) = open(&disk);
        if ok {
            assert!(new(&r), "k={k}: op succeeded but recovered {r:?}");
        } else {
            assert!(old(&r) || new(&r), "k={k}: unexpected state {r:?}");
        }
        if !fired {
            return;
        }
    }
}

#[test]
fn install_snapshot_is_atomic_under_failures() {
    crash_sweep(
        |s| block_on_ready(s.install_snapshot(z(5), b"leader@5")),
        |r| r.snapshot == Some((z(4), b"state@4".to_vec())) && r.txns == txns(5..=6),
        |r| r.snapshot == Some((z(5), b"leader@5".to_vec())) && r.txns.is_empty(),
    );
}

#[test]
fn save_snapshot_is_safe_under_failures() {
    crash_sweep(
        |s| block_on_ready(s.save_snapshot(z(5), b"state@5")),
        |r| r.snapshot == Some((z(4), b"state@4".to_vec())) && r.txns == txns(5..=6),
        |r| r.snapshot == Some((z(5), b"state@5".to_vec())) && r.txns == txns(6..=6),
    );
}

#[test]
fn save_epochs_is_atomic_under_failures() {
    crash_sweep(
        |s| block_on_ready(s.save_epochs(7, 6)),
        |r| (r.accepted_epoch, r.current_epoch) == (1, 1),
        |r| (r.accepted_epoch, r.current_epoch) == (7, 6),
    );
}

#[test]
fn failed_append_rolls_back_and_failed_fsync_fails_the_store() {
    let disk = MemDisk::new();
    let failing = FailingDisk::new(&disk, None);
    let (mut s, _) = block_on_ready(Store::open(Arc::new(failing.clone()))).unwrap();
    append_range(&mut s, 1..=2);
    // Short write + ENOSPC: rolled back, store usable.
    *failing.countdown.lock().unwrap() = Some(0);
    let e = s.append(z(3), &payload(3)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    assert!(!s.is_failed());
    append_range(&mut s, 3..=3);
    // Failed fsync: the store refuses further work until reopened.
    *failing.countdown.lock().unwrap() = Some(0);
    assert!(block_on_ready(s.sync()).is_err());
    assert!(s.is_failed());
    assert!(s.append(z(4), b"x").is_err());
    drop(s);
    let (_, r) = open(&disk);
    assert_eq!(r.txns, txns(1..=3));
    assert_eq!(r.torn_bytes, 0);
}

#[test]
fn an_accepted_epoch_below_the_current_one_is_refused_at_open() {
    let disk = MemDisk::new();
    let (mut s, _) = open(&disk);
    block_on_ready(s.save_epochs(2, 2)).unwrap();
    drop(s);
    assert_eq!(open(&disk).1.accepted_epoch, 2);
    let (mut s, _) = open(&disk);
    block_on_ready(s.save_epochs(1, 2)).unwrap();
    drop(s);
    let err = block_on_ready(Store::open(Arc::new(disk.clone())))
        .err()
        .expect("refused");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains("acceptedEpoch 1 is below currentEpoch 2"),
        "{err}"
    );
}
