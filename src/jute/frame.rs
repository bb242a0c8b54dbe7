//! ZooKeeper's framing: a 4-byte big-endian length, then that many bytes.
//! Sans-IO: give it what has arrived, it says what is complete.

use std::fmt;

/// ZooKeeper's `jute.maxbuffer` default (just under 1 MiB): a client frame
/// claiming more closes the connection.
pub const MAX_PACKET: usize = 0xfffff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is negative or over the limit.
    BadLength { len: i64, max: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadLength { len, max } => {
                write!(f, "packet length {len} is out of range (0..={max})")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// The first complete frame in `buf`: its body and the bytes it used;
/// `None` while more bytes are needed. A bad length is known from the
/// prefix alone, before the body arrives (nothing is buffered for it).
pub fn split(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len < 0 || len as usize > max {
        return Err(FrameError::BadLength {
            len: len.into(),
            max,
        });
    }
    let end = 4 + len as usize;
    Ok(buf.get(4..end).map(|body| (body, end)))
}

/// `body` with its length prefix.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}
