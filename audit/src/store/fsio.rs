//! The only ways this crate writes files: create-exclusive, append-and-sync (with zeros
//! preallocated past the appended bytes), truncate-and-sync, replace, and remove (of a segment
//! that never held a record, or of the space probe). Each one leaves the file (and, where a
//! name changes, its directory) synced before it returns.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `path`, failing if it exists, writes `bytes`, syncs the file and its directory.
pub(crate) fn create_exclusive(path: &Path, bytes: &[u8], mode: u32) -> Result<File> {
    fault::check(path)?;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))?;
    sync_parent(path)?;
    Ok(f)
}

/// Writes `bytes` at `offset` (the file's durable end), then zeros from their end up to
/// `fill_to` when that is further (preallocation, see [`crate::store::ActiveSegment`]), and
/// `fdatasync`s the file. Returns how far the zeros reached: they are best effort, so a disk
/// that has room for the bytes but not for the zeros (full, or a file size limit) still takes
/// the batch, only without preallocation.
pub(crate) fn append_and_sync(
    f: &File,
    path: &Path,
    offset: u64,
    bytes: &[u8],
    fill_to: u64,
) -> Result<u64> {
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    fault::check(path)?;
    f.write_all_at(bytes, offset)
        .map_err(|e| Error::io("write", path, e))?;
    let mut at = offset + bytes.len() as u64;
    while at < fill_to {
        let n = usize::try_from(fill_to - at).map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
        match f.write_at(&ZEROS[..n], at) {
            Ok(0) | Err(_) => break,
            Ok(written) => at += written as u64,
        }
    }
    f.sync_data().map_err(|e| Error::io("fdatasync", path, e))?;
    Ok(at)
}

/// Cuts the file to `len` bytes and syncs it (used to drop a torn or failed tail).
pub(crate) fn truncate_and_sync(f: &File, path: &Path, len: u64) -> Result<()> {
    fault::check(path)?;
    f.set_len(len).map_err(|e| Error::io("truncate", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Replaces `path` atomically with `bytes`: a temporary file beside it, fsync, rename, fsync
/// the directory.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    fault::check(path)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
    sync_parent(path)
}

/// Removes a file (a segment whose creation was cut short, the space probe) and syncs its
/// directory.
pub(crate) fn remove(path: &Path) -> Result<()> {
    fault::check(path)?;
    std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    sync_parent(path)
}

/// Creates a directory (and its parents) and syncs its parent so the new name is durable.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io("create directory", path, e))?;
    sync_parent(path)
}

/// fsyncs the directory holding `path`.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Test-only I/O fault injection: writes under a registered directory fail with EIO.
#[cfg(test)]
pub(crate) mod fault {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use crate::error::{Error, Result};

    static FAILING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// Makes every write under `dir` fail (`true`) or work again (`false`).
    pub(crate) fn set(dir: &Path, failing: bool) {
        let mut v = FAILING.lock().unwrap();
        v.retain(|d| d != dir);
        if failing {
            v.push(dir.to_owned());
        }
    }

    pub(super) fn check(path: &Path) -> Result<()> {
        let failing = FAILING
            .lock()
            .map(|v| v.iter().any(|d| path.starts_with(d)));
        if failing.unwrap_or(false) {
            return Err(Error::io(
                "write",
                path,
                std::io::Error::from_raw_os_error(5),
            ));
        }
        Ok(())
    }
}

#[cfg(not(test))]
mod fault {
    use std::path::Path;

    #[inline(always)]
    pub(super) fn check(_: &Path) -> crate::error::Result<()> {
        Ok(())
    }
}
