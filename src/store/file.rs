//! [`Disk`] over a real directory, for real mode.
//!
//! Metadata changes (file creation, remove, rename) are followed by an fsync
//! of the directory so they are durable when the call returns, as the model
//! in [`super::disk`] requires.

use super::disk::{check_name, Disk, DiskFuture};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct FileDisk {
    dir: PathBuf,
}

impl FileDisk {
    /// Uses `dir` (created if missing) as the disk.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<FileDisk> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(FileDisk { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, file: &str) -> io::Result<PathBuf> {
        check_name(file)?;
        Ok(self.dir.join(file))
    }

    fn sync_dir(&self) -> io::Result<()> {
        sync_dir(&self.dir)
    }

    /// Opens for writing; a newly created file's directory entry is synced.
    fn open_for_write(&self, file: &str, append: bool) -> io::Result<File> {
        let path = self.path(file)?;
        let existed = path.exists();
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&path)?;
        if !existed {
            self.sync_dir()?;
        }
        Ok(f)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing here; rename is as durable as
    // the platform makes it.
    Ok(())
}

fn fsync_path(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl Disk for FileDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(file)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn append(&self, file: &str, data: &[u8]) -> io::Result<()> {
        self.open_for_write(file, true)?.write_all(data)
    }

    fn write(&self, file: &str, data: &[u8]) -> io::Result<()> {
        self.open_for_write(file, false)?.write_all(data)
    }

    fn truncate(&self, file: &str, len: u64) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .open(self.path(file)?)?
            .set_len(len)
    }

    fn remove(&self, file: &str) -> io::Result<()> {
        fs::remove_file(self.path(file)?)?;
        self.sync_dir()
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from)?, self.path(to)?)?;
        self.sync_dir()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn fsync<'a>(&'a self, file: &'a str) -> DiskFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path(file)?;
            // In a real tokio runtime keep the blocking fsync off the worker
            // threads; under the simulator (or outside a runtime) do it inline.
            #[cfg(not(madsim))]
            if tokio::runtime::Handle::try_current().is_ok() {
                return tokio::task::spawn_blocking(move || fsync_path(&path))
                    .await
                    .map_err(io::Error::other)?;
            }
            fsync_path(&path)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::block_on_ready;

    #[test]
    fn file_disk_basics() {
        let dir = std::env::temp_dir().join(format!("zkstorm-filedisk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let d = FileDisk::open(&dir).unwrap();
        assert_eq!(d.read("a").unwrap(), None);
        d.append("a", b"ab").unwrap();
        d.append("a", b"cd").unwrap();
        block_on_ready(d.fsync("a")).unwrap();
        d.truncate("a", 3).unwrap();
        assert_eq!(d.read("a").unwrap().unwrap(), b"abc");
        d.write("b", b"x").unwrap();
        d.rename("b", "a").unwrap();
        assert_eq!(d.read("a").unwrap().unwrap(), b"x");
        assert_eq!(d.list().unwrap(), vec!["a".to_string()]);
        d.remove("a").unwrap();
        assert!(d.remove("a").is_err());
        assert!(d.append("../escape", b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
