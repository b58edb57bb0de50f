//! One process per log folder: `Log::open` takes an exclusive `flock` on `<dir>/lock` and writes
//! its pid there, and holds it until the log stops or is dropped. A second process opening the
//! same folder is refused at once, naming the pid that holds it; without this it waited ten
//! seconds for sled's lock on the index and then blamed the index ("delete the index folder").
//! The lock goes with the process: a crash or `kill -9` leaves the file, not the lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use fs2::FileExt;

use crate::error::{Error, Result};

/// The lock file's name in the log folder.
pub(crate) const LOCK: &str = "lock";

/// How long a held lock is retried: long enough for a log of this process that is being
/// dropped (a thread may hold it a moment longer), far shorter than a human's patience.
const RETRY_FOR: Duration = Duration::from_secs(1);
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of the log folder `dir` (which exists), or says who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("open the lock file", &path, e))?;
        let mut waited = Duration::ZERO;
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => break,
                Err(e) if e.kind() == fs2::lock_contended_error().kind() && waited < RETRY_FOR => {
                    std::thread::sleep(RETRY_EVERY);
                    waited += RETRY_EVERY;
                }
                Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                    return Err(Error::Locked {
                        dir: dir.to_owned(),
                        pid: holder(&mut file),
                    });
                }
                Err(e) => return Err(Error::io("lock", &path, e)),
            }
        }
        // Who holds it, for the next one to be told; not a durability matter.
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .map_err(|e| Error::io("write the pid into", &path, e))?;
        Ok(Self { _file: file })
    }
}

/// The pid the holder wrote, when it did (it writes it just after taking the lock).
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
