//! The narrow disk interface the store is written against.
//!
//! A disk is a flat namespace of named files. The model every implementation
//! follows (and the simulated one enforces):
//!
//! - File *contents* change in the page cache: `append`, `write` and `truncate`
//!   are visible to `read` at once but survive a power loss only after `fsync`.
//! - *Metadata* operations — creating a file, `remove`, `rename` — are durable
//!   as soon as they return. (A real implementation pays for that with a
//!   directory fsync.) `rename` moves the file as a whole: what survives a crash
//!   under the new name is what had been fsynced before, so sync first.
//!
//! The trait is object safe so a server can hold an `Arc<dyn Disk>` and the
//! harness can swap a simulated disk in.

use std::future::Future;
use std::io;
use std::pin::Pin;

/// The future returned by [`Disk::fsync`].
pub type DiskFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

pub trait Disk: Send + Sync + 'static {
    /// Current contents as a reader sees them (unsynced writes included, they
    /// sit in the page cache). `Ok(None)` if the file is absent.
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>>;
    /// Appends to the file, creating it if absent. Not durable until `fsync`.
    fn append(&self, file: &str, data: &[u8]) -> io::Result<()>;
    /// Replaces the contents, creating the file if absent. Not durable until `fsync`.
    fn write(&self, file: &str, data: &[u8]) -> io::Result<()>;
    /// Cuts (or zero-extends) the file to `len` bytes. Not durable until `fsync`.
    fn truncate(&self, file: &str, len: u64) -> io::Result<()>;
    /// Removes the file; durable at once. `NotFound` if absent.
    fn remove(&self, file: &str) -> io::Result<()>;
    /// Atomically replaces `to` by `from` (which disappears). The name change
    /// is durable at once; after a crash `to` holds `from`'s durable contents.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// All file names, sorted.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Makes the file's current contents durable. `NotFound` if absent.
    fn fsync<'a>(&'a self, file: &'a str) -> DiskFuture<'a, ()>;
}

/// Rejects names that are not a single plain path component, so no
/// implementation can be led outside its directory.
pub fn check_name(file: &str) -> io::Result<()> {
    let bad = file.is_empty() || file == "." || file == ".." || file.contains(['/', '\\', '\0']);
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad file name {file:?}"),
        ));
    }
    Ok(())
}

pub(crate) fn not_found(file: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such file {file:?}"))
}
