//! Jute's binary encoding: big-endian `int` (4 bytes) and `long` (8), a
//! one-byte `boolean`, and `ustring`, `buffer` and `vector` prefixed by an
//! `int` length where -1 means null. Reading never allocates past the bytes
//! it was given: a length is checked against what is left first.

use std::fmt;

/// Why bytes did not decode, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JuteError {
    /// Byte offset in the record where decoding stopped.
    pub at: usize,
    /// The field being read (`"path"`, `"acl.perms"`, ...).
    pub field: &'static str,
    pub kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Fewer bytes left than the field needs.
    Truncated { need: usize, left: usize },
    /// A length below -1.
    BadLength(i32),
    /// A string that is not UTF-8.
    NotUtf8,
    /// Null where a value is required.
    Null,
    /// A value outside what the field allows (an unknown opcode, ...).
    Invalid(String),
    /// Bytes left over after the record.
    Trailing(usize),
}

impl fmt::Display for JuteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}: ", self.at, self.field)?;
        match &self.kind {
            ErrorKind::Truncated { need, left } => {
                write!(f, "needs {need} bytes, {left} left")
            }
            ErrorKind::BadLength(n) => write!(f, "length {n}"),
            ErrorKind::NotUtf8 => write!(f, "not UTF-8"),
            ErrorKind::Null => write!(f, "null"),
            ErrorKind::Invalid(why) => write!(f, "{why}"),
            ErrorKind::Trailing(n) => write!(f, "{n} bytes after the record"),
        }
    }
}

impl std::error::Error for JuteError {}

pub type Result<T> = std::result::Result<T, JuteError>;

/// A cursor over one record's bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn error(&self, field: &'static str, kind: ErrorKind) -> JuteError {
        JuteError {
            at: self.pos,
            field,
            kind,
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        if n > self.left() {
            let left = self.left();
            return Err(self.error(field, ErrorKind::Truncated { need: n, left }));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn int(&mut self, field: &'static str) -> Result<i32> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn long(&mut self, field: &'static str) -> Result<i64> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// Any byte but 0 is true, as ZooKeeper's reader takes it.
    pub fn boolean(&mut self, field: &'static str) -> Result<bool> {
        Ok(self.take(1, field)?[0] != 0)
    }

    /// A length prefix: `None` for -1 (null), else at most what is left
    /// times `min_size`, so a claimed length never drives an allocation.
    fn length(&mut self, field: &'static str, min_size: usize) -> Result<Option<usize>> {
        let n = self.int(field)?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            self.pos -= 4;
            return Err(self.error(field, ErrorKind::BadLength(n)));
        }
        let n = n as usize;
        if n.saturating_mul(min_size.max(1)) > self.left() {
            let left = self.left();
            let need = n.saturating_mul(min_size.max(1));
            return Err(self.error(field, ErrorKind::Truncated { need, left }));
        }
        Ok(Some(n))
    }

    pub fn buffer_opt(&mut self, field: &'static str) -> Result<Option<Vec<u8>>> {
        match self.length(field, 1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n, field)?.to_vec())),
        }
    }

    /// A buffer; null reads as empty (ZooKeeper's clients send null data).
    pub fn buffer(&mut self, field: &'static str) -> Result<Vec<u8>> {
        Ok(self.buffer_opt(field)?.unwrap_or_default())
    }

    pub fn ustring_opt(&mut self, field: &'static str) -> Result<Option<String>> {
        let Some(n) = self.length(field, 1)? else {
            return Ok(None);
        };
        let start = self.pos;
        let bytes = self.take(n, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(JuteError {
                at: start,
                field,
                kind: ErrorKind::NotUtf8,
            }),
        }
    }

    /// A boolean at the end of a record that older peers leave out.
    pub fn trailing_boolean(&mut self, field: &'static str) -> Result<Option<bool>> {
        match self.left() {
            0 => Ok(None),
            _ => self.boolean(field).map(Some),
        }
    }

    /// A string that must not be null.
    pub fn ustring(&mut self, field: &'static str) -> Result<String> {
        let at = self.pos;
        self.ustring_opt(field)?.ok_or(JuteError {
            at,
            field,
            kind: ErrorKind::Null,
        })
    }

    /// A vector of elements each at least `min_size` bytes long; null
    /// reads as empty.
    pub fn vector<T>(
        &mut self,
        field: &'static str,
        min_size: usize,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.length(field, min_size)?.unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Fails if bytes are left.
    pub fn finish(&self, field: &'static str) -> Result<()> {
        match self.left() {
            0 => Ok(()),
            n => Err(self.error(field, ErrorKind::Trailing(n))),
        }
    }
}

/// Builds one record's bytes.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn long(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }

    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.buf.extend_from_slice(v);
        self
    }

    /// A buffer that may be null (length -1).
    pub fn buffer_opt(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(v) => self.buffer(v),
            None => self.int(-1),
        }
    }

    pub fn ustring(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }

    pub fn vector<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Self, &T)) -> &mut Self {
        self.int(items.len() as i32);
        for it in items {
            item(self, it);
        }
        self
    }
}
