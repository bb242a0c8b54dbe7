//! Length-framed messages over a byte stream: `[len u32 LE][bincode body]`.
//! Frames are written into the stream's buffer; the caller flushes once per
//! batch (each flush costs a simulated network hop).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted: a snapshot plus headroom. Bigger means a broken peer.
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

/// A frame's buffer grows by at most this much ahead of the bytes read.
const READ_CHUNK: usize = 64 * 1024;

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, msg);
    out
}

/// Append one frame to `out` (length first, patched in after the body).
pub fn encode_into<T: Serialize>(out: &mut Vec<u8>, msg: &T) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    bincode::serialize_into(&mut *out, msg).expect("messages encode");
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> io::Result<()> {
    w.write_all(&encode(msg)).await
}

/// Largest first frame on a peer connection: the hello, a server id. Peers
/// are not authenticated, so nothing bigger is read before it.
pub const MAX_HELLO_FRAME: usize = 64;

/// Largest frame a client may send: a request with 1 MiB of data and room
/// for a multi's other ops (ZooKeeper's jute.maxbuffer plays this part).
pub const MAX_CLIENT_FRAME: usize = 4 * 1024 * 1024;

/// Reads one frame; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> io::Result<Option<T>> {
    read_frame_max(r, MAX_FRAME).await
}

/// Reads one frame of at most `max` bytes: a bigger one is an error before
/// anything is allocated for it, and the body's buffer grows with the bytes
/// that really arrive, not with what the length prefix claims.
pub async fn read_frame_max<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    max: usize,
) -> io::Result<Option<T>> {
    read_into(r, &mut Vec::new(), max).await
}

/// One frame read into `body` (cleared first), then decoded.
async fn read_into<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    body: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    body.clear();
    while body.len() < len {
        let start = body.len();
        body.resize(start + (len - start).min(READ_CHUNK), 0);
        r.read_exact(&mut body[start..]).await?;
    }
    bincode::deserialize(body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads frames of at most `max` bytes from one stream into a buffer kept
/// across frames: one allocation per connection rather than per frame.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            max,
        }
    }

    /// The next frame; `Ok(None)` on a clean end of stream.
    pub async fn next<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        read_into(&mut self.inner, &mut self.buf, self.max).await
    }
}

/// Write `msgs` as frames with one write and one flush, through `buf`
/// (cleared first, kept by the caller across batches).
pub async fn write_batch<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    buf: &mut Vec<u8>,
    msgs: impl IntoIterator<Item = T>,
) -> io::Result<()> {
    buf.clear();
    for m in msgs {
        encode_into(buf, &m);
    }
    w.write_all(buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::block_on_ready;

    fn read<T: DeserializeOwned>(bytes: &[u8], max: usize) -> io::Result<Option<T>> {
        let mut r = bytes;
        block_on_ready(Box::pin(read_frame_max::<_, T>(&mut r, max)))
    }

    #[test]
    fn frames_round_trip_and_a_clean_end_is_none() {
        let mut buf = Vec::new();
        encode_into(&mut buf, &(7u64, "seven".to_string()));
        encode_into(&mut buf, &8u64);
        let mut r = buf.as_slice();
        let a: Option<(u64, String)> = block_on_ready(Box::pin(read_frame(&mut r))).unwrap();
        let b: Option<u64> = block_on_ready(Box::pin(read_frame(&mut r))).unwrap();
        let end: Option<u64> = block_on_ready(Box::pin(read_frame(&mut r))).unwrap();
        assert_eq!((a, b, end), (Some((7, "seven".into())), Some(8), None));
    }

    #[test]
    fn oversized_truncated_and_garbage_frames_are_errors_not_panics() {
        let big = encode(&vec![0u8; 100]);
        assert!(read::<Vec<u8>>(&big, 50).is_err(), "over the limit");
        assert!(read::<Vec<u8>>(&big[..60], 1000).is_err(), "cut short");
        let mut garbage = 12u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 12]);
        assert!(
            read::<(String, Vec<u64>)>(&garbage, 1000).is_err(),
            "undecodable"
        );
        // A length prefix claiming 4 GiB is refused before any allocation.
        assert!(read::<Vec<u8>>(&u32::MAX.to_le_bytes(), MAX_CLIENT_FRAME).is_err());
    }

    #[test]
    fn a_frame_reader_reuses_its_buffer_and_keeps_the_limit() {
        let mut bytes = Vec::new();
        encode_into(&mut bytes, &vec![7u8; 300]);
        encode_into(&mut bytes, &5u64);
        encode_into(&mut bytes, &vec![1u8; 100]);
        let mut r = FrameReader::new(bytes.as_slice(), 200);
        let big: io::Result<Option<Vec<u8>>> = block_on_ready(Box::pin(r.next()));
        assert!(big.is_err(), "over the limit");
        let mut r = FrameReader::new(bytes.as_slice(), 400);
        let a: Option<Vec<u8>> = block_on_ready(Box::pin(r.next())).unwrap();
        let b: Option<u64> = block_on_ready(Box::pin(r.next())).unwrap();
        let c: Option<Vec<u8>> = block_on_ready(Box::pin(r.next())).unwrap();
        let end: Option<u64> = block_on_ready(Box::pin(r.next())).unwrap();
        assert_eq!(a, Some(vec![7u8; 300]));
        assert_eq!((b, c, end), (Some(5), Some(vec![1u8; 100]), None));
    }

    #[test]
    fn a_peer_hello_is_small_and_a_big_claim_needs_its_bytes() {
        // A stranger's first frame claiming 200 MiB: refused at once.
        let claim = (200u32 << 20).to_le_bytes();
        assert!(read::<u64>(&claim, MAX_HELLO_FRAME).is_err());
        assert_eq!(
            read::<u64>(&encode(&7u64), MAX_HELLO_FRAME).unwrap(),
            Some(7)
        );
        // Past the hello, a claim within MAX_FRAME that never delivers its
        // bytes is an error (and was never allocated up front).
        let mut cut = claim.to_vec();
        cut.extend_from_slice(&[1, 2, 3]);
        let e = read::<Vec<u8>>(&cut, MAX_FRAME).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
