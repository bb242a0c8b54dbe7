//! On-disk formats: log records, the log header, snapshot and epoch files.
//! Pure functions over bytes, so every corruption case is testable directly.
//!
//! Log record: `[payload_len u32 LE][crc32 u32 LE over zxid+payload][zxid u64 LE][payload]`.
//! The log file starts with a header that is itself a record: its zxid is the
//! log's *base* (every record after it is > base) and its payload is a magic
//! plus the store generation (see `Store::install_snapshot`).

use crate::types::Zxid;
use std::ops::Range;

/// Longest payload a record may carry; a larger length field means corruption.
pub const MAX_PAYLOAD: usize = 64 << 20;
pub const RECORD_HEADER: usize = 16;

const LOG_MAGIC: &[u8; 8] = b"ZKSLOG01";
const SNAP_MAGIC: &[u8; 8] = b"ZKSSNAP1";
const EPOCH_MAGIC: &[u8; 8] = b"ZKSEPOC1";

fn record_crc(zxid: Zxid, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&zxid.0.to_le_bytes());
    h.update(payload);
    h.finalize()
}

pub fn encode_record(zxid: Zxid, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    out.reserve(RECORD_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&record_crc(zxid, payload).to_le_bytes());
    out.extend_from_slice(&zxid.0.to_le_bytes());
    out.extend_from_slice(payload);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// One well-formed record found in a byte buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRef {
    pub zxid: Zxid,
    /// Where the record starts.
    pub offset: usize,
    /// Where its payload sits in the buffer.
    pub payload: Range<usize>,
}

/// Decodes the record at `at`, or `None` if it is short, too long or fails its checksum.
pub fn decode_record(bytes: &[u8], at: usize) -> Option<RecordRef> {
    let rest = bytes.get(at..)?;
    if rest.len() < RECORD_HEADER {
        return None;
    }
    let len = u32_at(rest, 0) as usize;
    if len > MAX_PAYLOAD || rest.len() - RECORD_HEADER < len {
        return None;
    }
    let zxid = Zxid(u64_at(rest, 8));
    let payload = &rest[RECORD_HEADER..RECORD_HEADER + len];
    if record_crc(zxid, payload) != u32_at(rest, 4) {
        return None;
    }
    let start = at + RECORD_HEADER;
    Some(RecordRef {
        zxid,
        offset: at,
        payload: start..start + len,
    })
}

/// The result of scanning records: the good prefix and where it ends.
#[derive(Debug)]
pub struct Scan {
    pub records: Vec<RecordRef>,
    /// Bytes from the start of the buffer up to the end of the last good record;
    /// everything after is a torn or corrupt tail.
    pub valid_len: usize,
}

/// Scans records from `at`, stopping at the first one that is short, too long,
/// fails its checksum, or whose zxid is not greater than its predecessor's
/// (`prev` for the first).
pub fn scan(bytes: &[u8], at: usize, prev: Zxid) -> Scan {
    let mut records = Vec::new();
    let mut pos = at;
    let mut prev = prev;
    while let Some(r) = decode_record(bytes, pos) {
        if r.zxid <= prev {
            break;
        }
        prev = r.zxid;
        pos = r.payload.end;
        records.push(r);
    }
    Scan {
        records,
        valid_len: pos,
    }
}

/// The log header: a record whose zxid is the base and whose payload holds the generation.
pub fn encode_log_header(base: Zxid, generation: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(16);
    payload.extend_from_slice(LOG_MAGIC);
    payload.extend_from_slice(&generation.to_le_bytes());
    let mut out = Vec::new();
    encode_record(base, &payload, &mut out);
    out
}

/// `(base, generation, header length)`, or `None` if the header is damaged.
pub fn decode_log_header(bytes: &[u8]) -> Option<(Zxid, u64, usize)> {
    let r = decode_record(bytes, 0)?;
    let p = &bytes[r.payload.clone()];
    if p.len() != 16 || &p[..8] != LOG_MAGIC {
        return None;
    }
    Some((r.zxid, u64_at(p, 8), r.payload.end))
}

/// Snapshot file: `[magic 8][generation u64][zxid u64][len u64][state][crc32 of all before]`.
pub fn encode_snapshot(generation: u64, zxid: Zxid, state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(36 + state.len());
    out.extend_from_slice(SNAP_MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&zxid.0.to_le_bytes());
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// `(generation, zxid, state)`, or `None` if the file is damaged.
pub fn decode_snapshot(mut bytes: Vec<u8>) -> Option<(u64, Zxid, Vec<u8>)> {
    const HEAD: usize = 32;
    if bytes.len() < HEAD + 4 || &bytes[..8] != SNAP_MAGIC {
        return None;
    }
    let body = bytes.len() - 4;
    if crc32fast::hash(&bytes[..body]) != u32_at(&bytes, body) {
        return None;
    }
    let generation = u64_at(&bytes, 8);
    let zxid = Zxid(u64_at(&bytes, 16));
    if u64_at(&bytes, 24) != (body - HEAD) as u64 {
        return None;
    }
    bytes.truncate(body);
    bytes.drain(..HEAD);
    Some((generation, zxid, bytes))
}

/// Epoch file: `[magic 8][accepted u32][current u32][crc32 of all before]`.
pub fn encode_epochs(accepted: u32, current: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(EPOCH_MAGIC);
    out.extend_from_slice(&accepted.to_le_bytes());
    out.extend_from_slice(&current.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// `(accepted, current)`, or `None` if the file is damaged.
pub fn decode_epochs(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() != 20 || &bytes[..8] != EPOCH_MAGIC {
        return None;
    }
    if crc32fast::hash(&bytes[..16]) != u32_at(bytes, 16) {
        return None;
    }
    Some((u32_at(bytes, 8), u32_at(bytes, 12)))
}

/// Snapshot file name; the generation is in the name so an uncommitted
/// install never overwrites a snapshot the current log still relies on.
pub fn snapshot_name(generation: u64, zxid: Zxid) -> String {
    format!("snap-{generation:x}-{:016x}", zxid.0)
}

pub fn parse_snapshot_name(name: &str) -> Option<(u64, Zxid)> {
    let rest = name.strip_prefix("snap-")?;
    let (g, z) = rest.split_once('-')?;
    if z.len() != 16 {
        return None;
    }
    let g = u64::from_str_radix(g, 16).ok()?;
    let z = u64::from_str_radix(z, 16).ok()?;
    Some((g, Zxid(z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(recs: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (z, p) in recs {
            encode_record(Zxid(*z), p, &mut out);
        }
        out
    }

    #[test]
    fn scan_stops_at_damage() {
        let good = log_of(&[(1, b"a"), (2, b"bb"), (3, b"ccc")]);
        let s = scan(&good, 0, Zxid::ZERO);
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.valid_len, good.len());

        // Every strict prefix that cuts a record keeps exactly the whole records before it.
        for cut in 0..good.len() {
            let s = scan(&good[..cut], 0, Zxid::ZERO);
            let whole = s.records.len();
            assert!(s.valid_len <= cut);
            assert_eq!(s.valid_len, [0, 17, 35, 54][whole]);
        }

        // Out-of-order zxid ends the good prefix.
        let ooo = log_of(&[(1, b"a"), (3, b"b"), (2, b"c")]);
        assert_eq!(scan(&ooo, 0, Zxid::ZERO).records.len(), 2);
        // A record not above `prev` ends it too.
        assert_eq!(scan(&good, 0, Zxid(1)).records.len(), 0);

        // A length field over the limit is corruption, not a reason to allocate.
        let mut huge = good.clone();
        huge[17..21].copy_from_slice(&(MAX_PAYLOAD as u32 + 1).to_le_bytes());
        assert_eq!(scan(&huge, 0, Zxid::ZERO).valid_len, 17);
    }

    #[test]
    fn files_round_trip_and_detect_flips() {
        let s = encode_snapshot(2, Zxid(9), b"state");
        assert_eq!(
            decode_snapshot(s.clone()),
            Some((2, Zxid(9), b"state".to_vec()))
        );
        for i in 0..s.len() {
            let mut bad = s.clone();
            bad[i] ^= 0x10;
            assert_eq!(decode_snapshot(bad), None, "flip at {i}");
        }
        let e = encode_epochs(5, 4);
        assert_eq!(decode_epochs(&e), Some((5, 4)));
        for i in 0..e.len() {
            let mut bad = e.clone();
            bad[i] ^= 1;
            assert_eq!(decode_epochs(&bad), None);
        }
        let h = encode_log_header(Zxid(7), 3);
        assert_eq!(decode_log_header(&h), Some((Zxid(7), 3, h.len())));
        assert_eq!(
            parse_snapshot_name(&snapshot_name(10, Zxid(0x1_0000_0002))),
            Some((10, Zxid(0x1_0000_0002)))
        );
        assert_eq!(parse_snapshot_name("snap-1-12"), None);
    }
}
