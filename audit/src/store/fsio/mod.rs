//! The only ways this crate writes files: create-exclusive, append-and-sync (with zeros
//! preallocated past the appended bytes), truncate-and-sync, sync (of a segment recovery
//! adopts), replace, and remove (of a segment that never held a record, or of the space probe).
//! Each one leaves the file (and, where a name changes, its directory) synced before it
//! returns.
//!
//! They are made of the primitives at the end of this file, one system call each: [`create`],
//! [`write_all_at`], [`write_at`], [`set_len`], [`sync_data`], [`sync_all`], [`sync_dir`],
//! [`rename`], [`remove_file`] and [`create_dir_all`] (which creates the missing parents too). In a test build each primitive also
//! tells the power-loss simulation in [`fault`] what it did (the bytes and lengths a write or
//! a cut replaced, the names it created, renamed or removed, and which file or directory a sync
//! made durable), so that a simulated crash can put every file back as the disk had it at its
//! last sync. In other builds the hooks are empty inline functions: the primitives are the
//! plain calls.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::error::{Error, Result};

#[cfg(test)]
pub(crate) mod fault;

/// Creates `path`, failing if it exists, writes `bytes`, syncs the file and its directory.
pub(crate) fn create_exclusive(path: &Path, bytes: &[u8], mode: u32) -> Result<File> {
    let f = create(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode),
    )?;
    write_all_at(&f, path, bytes, 0)?;
    sync_all(&f, path)?;
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
    #[cfg(feature = "test-hooks")]
    crate::test_hooks::before_write();
    write_all_at(f, path, bytes, offset)?;
    let mut at = offset + bytes.len() as u64;
    while at < fill_to {
        let n = usize::try_from(fill_to - at).map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
        match write_at(f, path, &ZEROS[..n], at) {
            Ok(0) | Err(_) => break,
            Ok(written) => at += written as u64,
        }
    }
    sync_data(f, path)?;
    Ok(at)
}

/// Cuts the file to `len` bytes and syncs it (used to drop a torn or failed tail).
pub(crate) fn truncate_and_sync(f: &File, path: &Path, len: u64) -> Result<()> {
    set_len(f, path, len)?;
    sync_all(f, path)
}

/// `fdatasync`s the existing file `path` (recovery makes the records that a killed process left
/// in the page cache durable before it counts or signs them).
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    sync_data(&f, path)
}

/// Replaces `path` atomically with `bytes`: a temporary file beside it, fsync, rename, fsync
/// the directory.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let f = create(
        &tmp,
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644),
    )?;
    write_all_at(&f, &tmp, bytes, 0)?;
    sync_all(&f, &tmp)?;
    drop(f);
    rename(&tmp, path)?;
    sync_parent(path)
}

/// Removes a file (a segment whose creation was cut short, the space probe) and syncs its
/// directory.
pub(crate) fn remove(path: &Path) -> Result<()> {
    remove_file(path)?;
    sync_parent(path)
}

/// Creates a directory (and its parents) and syncs its parent so the new name is durable.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    create_dir_all(path)?;
    sync_parent(path)
}

/// fsyncs the directory holding `path`.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    sync_dir(dir)
}

// --- The primitives: one system call each, and what the power-loss simulation sees of it.
// The system call is handed to the hook that records its effect, so neither goes without the
// other.

/// Opens `path` with `options`, which create it (exclusively, or truncating what is there).
fn create(path: &Path, options: &OpenOptions) -> Result<File> {
    let before = fault::creating(path).map_err(|e| Error::io("create", path, e))?;
    fault::created(path, before, options.open(path)).map_err(|e| Error::io("create", path, e))
}

/// Writes all of `bytes` at `offset`.
fn write_all_at(f: &File, path: &Path, bytes: &[u8], offset: u64) -> Result<()> {
    fault::writing(path, offset, bytes).map_err(|e| Error::io("write", path, e))?;
    f.write_all_at(bytes, offset)
        .map_err(|e| Error::io("write", path, e))
}

/// Writes some of `bytes` at `offset` (one `pwrite`).
fn write_at(f: &File, path: &Path, bytes: &[u8], offset: u64) -> std::io::Result<usize> {
    fault::writing(path, offset, bytes)?;
    f.write_at(bytes, offset)
}

/// Cuts (or extends) the file to `len` bytes.
fn set_len(f: &File, path: &Path, len: u64) -> Result<()> {
    fault::cutting(path, len).map_err(|e| Error::io("truncate", path, e))?;
    f.set_len(len).map_err(|e| Error::io("truncate", path, e))
}

/// `fdatasync`: the file's data (and the size needed to read it back) is durable.
fn sync_data(f: &File, path: &Path) -> Result<()> {
    fault::syncing(path).map_err(|e| Error::io("fdatasync", path, e))?;
    fault::synced(path, f.sync_data()).map_err(|e| Error::io("fdatasync", path, e))
}

/// `fsync`: the file's data and metadata are durable.
fn sync_all(f: &File, path: &Path) -> Result<()> {
    fault::syncing(path).map_err(|e| Error::io("fsync", path, e))?;
    fault::synced(path, f.sync_all()).map_err(|e| Error::io("fsync", path, e))
}

/// `fsync` of a directory: the names created, renamed or removed in it are durable.
fn sync_dir(dir: &Path) -> Result<()> {
    fault::syncing(dir).map_err(|e| Error::io("fsync directory", dir, e))?;
    let synced = File::open(dir).and_then(|d| d.sync_all());
    fault::dir_synced(dir, synced).map_err(|e| Error::io("fsync directory", dir, e))
}

/// Renames `from` to `to` (replacing `to`).
fn rename(from: &Path, to: &Path) -> Result<()> {
    let before = fault::renaming(from, to).map_err(|e| Error::io("rename", to, e))?;
    fault::renamed(from, to, before, std::fs::rename(from, to))
        .map_err(|e| Error::io("rename", to, e))
}

/// Removes the file `path`.
fn remove_file(path: &Path) -> Result<()> {
    let before = fault::removing(path).map_err(|e| Error::io("remove", path, e))?;
    fault::removed(path, before, std::fs::remove_file(path))
        .map_err(|e| Error::io("remove", path, e))
}

/// Creates a directory and its parents.
fn create_dir_all(path: &Path) -> Result<()> {
    let missing = fault::creating_dirs(path).map_err(|e| Error::io("create directory", path, e))?;
    fault::created_dirs(path, missing, std::fs::create_dir_all(path))
        .map_err(|e| Error::io("create directory", path, e))
}

/// Outside tests the hooks do nothing: each primitive compiles to its plain call.
#[cfg(not(test))]
mod fault {
    use std::fs::File;
    use std::io::Result;
    use std::path::Path;

    /// What the test build's hooks keep of a file before a change (nothing here).
    pub(super) struct Before;

    #[inline(always)]
    pub(super) fn creating(_: &Path) -> Result<Before> {
        Ok(Before)
    }

    #[inline(always)]
    pub(super) fn created(_: &Path, _: Before, opened: Result<File>) -> Result<File> {
        opened
    }

    #[inline(always)]
    pub(super) fn writing(_: &Path, _: u64, _: &[u8]) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(super) fn cutting(_: &Path, _: u64) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(super) fn syncing(_: &Path) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(super) fn creating_dirs(_: &Path) -> Result<Before> {
        Ok(Before)
    }

    #[inline(always)]
    pub(super) fn created_dirs(_: &Path, _: Before, created: Result<()>) -> Result<()> {
        created
    }

    #[inline(always)]
    pub(super) fn synced(_: &Path, synced: Result<()>) -> Result<()> {
        synced
    }

    #[inline(always)]
    pub(super) fn dir_synced(_: &Path, synced: Result<()>) -> Result<()> {
        synced
    }

    #[inline(always)]
    pub(super) fn renaming(_: &Path, _: &Path) -> Result<Before> {
        Ok(Before)
    }

    #[inline(always)]
    pub(super) fn renamed(_: &Path, _: &Path, _: Before, renamed: Result<()>) -> Result<()> {
        renamed
    }

    #[inline(always)]
    pub(super) fn removing(_: &Path) -> Result<Before> {
        Ok(Before)
    }

    #[inline(always)]
    pub(super) fn removed(_: &Path, _: Before, removed: Result<()>) -> Result<()> {
        removed
    }
}
