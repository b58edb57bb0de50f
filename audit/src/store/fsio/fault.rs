//! Test-only faults of the primitives in [`super`], each for the files under one directory:
//!
//! - [`set`]: every operation fails with EIO before it starts;
//! - [`fail_syncs`]: the next syncs fail with EIO *after* their writes, as a disk that takes
//!   the bytes and then cannot make them durable;
//! - the **power-loss simulation** ([`track`], [`crash_after`], [`power_loss`], [`kill`]): every write
//!   or cut made since a file's last successful sync is recorded with what it replaced (the old
//!   bytes and the old length), and so is every name created, renamed or removed since its
//!   directory's last sync. A crash, fired by a countdown of operations (so it can fall between
//!   a write and its sync), makes that operation and every later one fail, so the log stops
//!   writing; [`power_loss`] then puts every file and name back as the disk had them at their
//!   last sync, optionally *tearing* the last write (keeping a prefix of it). Deleting a sync
//!   from `fsio` leaves the writes it should have made durable recorded, and the simulation
//!   drops them.
//!
//! What it does not model: sled's own files (the index is rebuilt from the segments, and it is
//! never ahead of them: it only holds records that were synced and signed), and writes
//! reordered around a sync.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Result;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The faults and the simulated disk of one directory.
#[derive(Default)]
struct Sim {
    root: PathBuf,
    /// Every operation fails before it starts ([`set`]).
    failing: bool,
    /// Unsynced writes and names are recorded ([`track`]).
    tracking: bool,
    /// Operations (or syncs only, when the flag is set) left before the crash ([`crash_after`],
    /// [`crash_at_sync`]).
    crash_in: Option<(u64, bool)>,
    /// The crash happened: every operation fails until [`power_loss`].
    crashed: bool,
    /// Syncs left to fail after their writes, and whether their bytes reach the disk anyway.
    failing_syncs: u32,
    failed_syncs_persist: bool,
    /// Per file: the writes and cuts since its last sync, in order.
    files: HashMap<PathBuf, Vec<Undo>>,
    /// Per directory: the name changes since its last sync, in order.
    dirs: HashMap<PathBuf, Vec<NameChange>>,
    /// Numbers the writes, to find the last one.
    writes: u64,
}

/// How to undo one write or cut: write `old` back at `offset`, then set the length to `len`.
struct Undo {
    offset: u64,
    old: Vec<u8>,
    len: u64,
    /// For a write: its number and its bytes (to tear it).
    write: Option<(u64, Vec<u8>)>,
}

/// A file as it was when a rename replaced it or a remove took it away: its content, and the
/// undos of its unsynced writes.
pub(super) struct Saved {
    content: Vec<u8>,
    pending: Vec<Undo>,
}

/// A name change not yet made durable by a sync of its directory.
enum NameChange {
    Created(PathBuf),
    Renamed {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<Saved>,
    },
    Removed(PathBuf, Saved),
}

static SIMS: Mutex<Vec<Sim>> = Mutex::new(Vec::new());

fn sims() -> MutexGuard<'static, Vec<Sim>> {
    SIMS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn eio() -> std::io::Error {
    std::io::Error::from_raw_os_error(5)
}

/// The entry of the directory holding `path` (the deepest one, if they nest).
fn find(sims: &[Sim], path: &Path) -> Option<usize> {
    (0..sims.len())
        .filter(|&i| path.starts_with(&sims[i].root))
        .max_by_key(|&i| sims[i].root.components().count())
}

/// The entry of `dir` or of the directory holding it, made for `dir` if there is none.
fn entry<'a>(sims: &'a mut Vec<Sim>, dir: &Path) -> &'a mut Sim {
    if let Some(i) = find(sims, dir) {
        return &mut sims[i];
    }
    sims.push(Sim {
        root: dir.to_owned(),
        ..Sim::default()
    });
    let last = sims.len() - 1;
    &mut sims[last]
}

/// Drops the entry when it has nothing left to do.
fn tidy(sims: &mut Vec<Sim>) {
    sims.retain(|s| s.failing || s.tracking || s.failing_syncs > 0);
}

/// Makes every write under `dir` fail (`true`) or work again (`false`).
pub(crate) fn set(dir: &Path, failing: bool) {
    let mut sims = sims();
    entry(&mut sims, dir).failing = failing;
    tidy(&mut sims);
}

/// Makes the next `n` file syncs under `dir` fail with EIO after their writes went through.
/// `persisted`: whether the bytes of a failed sync reached the disk anyway (a power loss then
/// keeps them) or not (it drops them).
pub(crate) fn fail_syncs(dir: &Path, n: u32, persisted: bool) {
    let mut sims = sims();
    let sim = entry(&mut sims, dir);
    sim.failing_syncs = n;
    sim.failed_syncs_persist = persisted;
    tidy(&mut sims);
}

/// Records the unsynced writes and names under `dir` until the guard is dropped.
#[must_use = "tracking stops when the guard is dropped"]
pub(crate) struct Tracked(PathBuf);

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut sims = sims();
        if let Some(sim) = sims.iter_mut().find(|s| s.root == self.0) {
            *sim = Sim {
                root: sim.root.clone(),
                failing: sim.failing,
                ..Sim::default()
            };
        }
        tidy(&mut sims);
    }
}

/// Starts the power-loss simulation for the files under `dir`.
pub(crate) fn track(dir: &Path) -> Tracked {
    entry(&mut sims(), dir).tracking = true;
    Tracked(dir.to_owned())
}

/// Crashes at the `n`-th operation under `dir` from now (`n` >= 1): it fails, and so does every
/// operation after it, until [`power_loss`].
pub(crate) fn crash_after(dir: &Path, n: u64) {
    entry(&mut sims(), dir).crash_in = Some((n.max(1), false));
}

/// Crashes at the `n`-th sync (of a file or a directory) under `dir` from now (`n` >= 1): the
/// writes it would have made durable went through, and are lost at the [`power_loss`].
pub(crate) fn crash_at_sync(dir: &Path, n: u64) {
    entry(&mut sims(), dir).crash_in = Some((n.max(1), true));
}

/// Calls off a crash that has not happened yet.
pub(crate) fn disarm(dir: &Path) {
    with_sim(dir, |sim| sim.crash_in = None);
}

/// The process dies but the machine does not, as with SIGKILL: what was written stays, in the
/// page cache, still unsynced (a later [`power_loss`] drops what nobody synced since), and
/// operations work again (for the next process).
pub(crate) fn kill(dir: &Path) {
    let mut sims = sims();
    let sim = entry(&mut sims, dir);
    sim.crashed = false;
    sim.crash_in = None;
    sim.failing_syncs = 0;
}

/// Whether the crash of [`crash_after`] happened.
pub(crate) fn crashed(dir: &Path) -> bool {
    with_sim(dir, |sim| sim.crashed).unwrap_or(false)
}

/// What a [`power_loss`] undid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Lost {
    /// Writes and cuts undone.
    pub(crate) undone: usize,
    /// Name changes undone.
    pub(crate) names: usize,
    /// The torn write: its file, offset, length and how many of its bytes were kept.
    pub(crate) torn: Option<(PathBuf, u64, usize, usize)>,
}

/// The power goes out under `dir`: every write, cut and name change since the last sync of its
/// file or directory is undone, in reverse order. With `tear` (per mille), the last write is
/// then put back in part: that share of its bytes, from its start, as a disk that was writing
/// it when the power went. Afterwards nothing fails any more (tracking goes on, with nothing
/// unsynced).
pub(crate) fn power_loss(dir: &Path, tear: Option<u16>) -> Result<Lost> {
    let (files, names) = {
        let mut sims = sims();
        let sim = entry(&mut sims, dir);
        sim.crashed = false;
        sim.crash_in = None;
        sim.failing_syncs = 0;
        (
            std::mem::take(&mut sim.files),
            std::mem::take(&mut sim.dirs),
        )
    };
    let mut lost = Lost::default();
    let mut last: Option<(u64, PathBuf, u64, Vec<u8>)> = None;
    let mut consider = |path: &Path, undos: &[Undo]| {
        for u in undos {
            if let Some((n, new)) = &u.write {
                if last.as_ref().is_none_or(|l| l.0 < *n) {
                    last = Some((*n, path.to_owned(), u.offset, new.clone()));
                }
            }
        }
    };
    for (path, undos) in &files {
        consider(path, undos);
    }
    for changes in names.values() {
        for change in changes {
            match change {
                NameChange::Renamed {
                    to,
                    replaced: Some(saved),
                    ..
                } => consider(to, &saved.pending),
                NameChange::Removed(path, saved) => consider(path, &saved.pending),
                _ => {}
            }
        }
    }
    for (path, undos) in files {
        lost.undone += undos.len();
        undo(&path, undos)?;
    }
    // The deepest directories first: a directory whose own creation is undone takes what is
    // in it along.
    let mut names: Vec<_> = names.into_iter().collect();
    names.sort_by_key(|(dir, _)| std::cmp::Reverse(dir.components().count()));
    for (_, changes) in names {
        for change in changes.into_iter().rev() {
            lost.names += 1;
            match change {
                NameChange::Created(path) => {
                    let removed = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    match removed {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
                NameChange::Renamed { from, to, replaced } => {
                    std::fs::rename(&to, &from)?;
                    if let Some(saved) = replaced {
                        lost.undone += saved.pending.len();
                        restore(&to, saved)?;
                    }
                }
                NameChange::Removed(path, saved) => {
                    lost.undone += saved.pending.len();
                    restore(&path, saved)?;
                }
            }
        }
    }
    if let (Some(permille), Some((_, path, offset, new))) = (tear, last) {
        if path.exists() {
            let keep = new.len() * usize::from(permille.min(1000)) / 1000;
            let f = OpenOptions::new().write(true).open(&path)?;
            f.write_all_at(&new[..keep], offset)?;
            lost.torn = Some((path, offset, new.len(), keep));
        }
    }
    Ok(lost)
}

/// Undoes `undos` (in reverse) on the file `path`.
fn undo(path: &Path, undos: Vec<Undo>) -> Result<()> {
    if undos.is_empty() {
        return Ok(());
    }
    let f = OpenOptions::new().write(true).open(path)?;
    for u in undos.into_iter().rev() {
        f.write_all_at(&u.old, u.offset)?;
        f.set_len(u.len)?;
    }
    Ok(())
}

/// Puts a removed or replaced file back at `path` as its disk had it.
fn restore(path: &Path, saved: Saved) -> Result<()> {
    std::fs::write(path, &saved.content)?;
    undo(path, saved.pending)
}

/// Runs `f` on the simulation of the directory holding `path`, if any; `None` when there is
/// none.
fn with_sim<T>(path: &Path, f: impl FnOnce(&mut Sim) -> T) -> Option<T> {
    let mut sims = sims();
    let i = find(&sims, path)?;
    Some(f(&mut sims[i]))
}

/// Counts an operation (`sync`: a sync) and says whether it may run.
fn start(sim: &mut Sim, sync: bool) -> Result<()> {
    if sim.failing || sim.crashed {
        return Err(eio());
    }
    match sim.crash_in {
        Some((n, syncs_only)) if sync || !syncs_only => {
            if n <= 1 {
                sim.crash_in = None;
                sim.crashed = true;
                return Err(eio());
            }
            sim.crash_in = Some((n - 1, syncs_only));
        }
        _ => {}
    }
    Ok(())
}

/// The file's length and its bytes `offset..offset + len` (those that exist).
fn read_range(path: &Path, offset: u64, len: usize) -> Result<(u64, Vec<u8>)> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    let end = size.min(offset.saturating_add(len as u64));
    let mut old = vec![0u8; usize::try_from(end.saturating_sub(offset)).map_err(|_| eio())?];
    f.read_exact_at(&mut old, offset)?;
    Ok((size, old))
}

/// Takes the file at `path` out of the record (for a rename over it or its removal).
fn save(sim: &mut Sim, path: &Path) -> Result<Option<Saved>> {
    match std::fs::read(path) {
        Ok(content) => Ok(Some(Saved {
            content,
            pending: sim.files.remove(path).unwrap_or_default(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_owned).unwrap_or_default()
}

/// What was at a path about to be created: its length and content, if it existed.
pub(super) type Before = Option<(u64, Vec<u8>)>;

pub(super) fn creating(path: &Path) -> Result<Before> {
    with_sim(path, |sim| {
        start(sim, false)?;
        if !sim.tracking {
            return Ok(None);
        }
        match std::fs::read(path) {
            Ok(content) => Ok(Some((content.len() as u64, content))),
            Err(_) => Ok(None),
        }
    })
    .unwrap_or(Ok(None))
}

pub(super) fn created(path: &Path, before: Before, opened: Result<File>) -> Result<File> {
    if opened.is_ok() {
        with_sim(path, |sim| {
            if !sim.tracking {
                return;
            }
            match before {
                // Opened with truncate over an existing file: its content is a pending cut.
                Some((len, old)) => sim.files.entry(path.to_owned()).or_default().push(Undo {
                    offset: 0,
                    old,
                    len,
                    write: None,
                }),
                None => sim
                    .dirs
                    .entry(parent(path))
                    .or_default()
                    .push(NameChange::Created(path.to_owned())),
            }
        });
    }
    opened
}

pub(super) fn writing(path: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
    with_sim(path, |sim| {
        start(sim, false)?;
        if sim.tracking {
            let (len, old) = read_range(path, offset, bytes.len())?;
            sim.writes += 1;
            let n = sim.writes;
            sim.files.entry(path.to_owned()).or_default().push(Undo {
                offset,
                old,
                len,
                write: Some((n, bytes.to_vec())),
            });
        }
        Ok(())
    })
    .unwrap_or(Ok(()))
}

pub(super) fn cutting(path: &Path, len: u64) -> Result<()> {
    with_sim(path, |sim| {
        start(sim, false)?;
        if sim.tracking {
            let (size, old) = read_range(path, len, usize::MAX)?;
            sim.files.entry(path.to_owned()).or_default().push(Undo {
                offset: len.min(size),
                old,
                len: size,
                write: None,
            });
        }
        Ok(())
    })
    .unwrap_or(Ok(()))
}

/// Counts a sync, failing it when the directory is failing or crashed.
pub(super) fn syncing(path: &Path) -> Result<()> {
    with_sim(path, |sim| start(sim, true)).unwrap_or(Ok(()))
}

/// The directories a `create_dir_all(path)` is about to create (those under a tracked
/// directory).
pub(super) fn creating_dirs(path: &Path) -> Result<Vec<PathBuf>> {
    with_sim(path, |sim| {
        start(sim, false)?;
        let mut missing = Vec::new();
        if sim.tracking {
            let mut at = Some(path);
            while let Some(dir) = at.filter(|d| d.starts_with(&sim.root) && !d.exists()) {
                missing.push(dir.to_owned());
                at = dir.parent();
            }
        }
        Ok(missing)
    })
    .unwrap_or(Ok(Vec::new()))
}

pub(super) fn created_dirs(path: &Path, missing: Vec<PathBuf>, created: Result<()>) -> Result<()> {
    created?;
    with_sim(path, |sim| {
        for dir in missing.into_iter().rev() {
            sim.dirs
                .entry(parent(&dir))
                .or_default()
                .push(NameChange::Created(dir));
        }
    });
    Ok(())
}

pub(super) fn synced(path: &Path, synced: Result<()>) -> Result<()> {
    synced?;
    with_sim(path, |sim| {
        if sim.failing_syncs > 0 {
            sim.failing_syncs -= 1;
            if sim.failed_syncs_persist {
                sim.files.remove(path);
            }
            return Err(eio());
        }
        sim.files.remove(path);
        Ok(())
    })
    .unwrap_or(Ok(()))
}

pub(super) fn dir_synced(dir: &Path, synced: Result<()>) -> Result<()> {
    synced?;
    with_sim(dir, |sim| {
        sim.dirs.remove(dir);
    });
    Ok(())
}

pub(super) fn renaming(_from: &Path, to: &Path) -> Result<Option<Saved>> {
    with_sim(to, |sim| {
        start(sim, false)?;
        if sim.tracking {
            save(sim, to)
        } else {
            Ok(None)
        }
    })
    .unwrap_or(Ok(None))
}

pub(super) fn renamed(
    from: &Path,
    to: &Path,
    replaced: Option<Saved>,
    renamed: Result<()>,
) -> Result<()> {
    renamed?;
    with_sim(to, |sim| {
        if !sim.tracking {
            return;
        }
        if let Some(pending) = sim.files.remove(from) {
            sim.files.insert(to.to_owned(), pending);
        }
        sim.dirs
            .entry(parent(to))
            .or_default()
            .push(NameChange::Renamed {
                from: from.to_owned(),
                to: to.to_owned(),
                replaced,
            });
    });
    Ok(())
}

pub(super) fn removing(path: &Path) -> Result<Option<Saved>> {
    with_sim(path, |sim| {
        start(sim, false)?;
        if sim.tracking {
            save(sim, path)
        } else {
            Ok(None)
        }
    })
    .unwrap_or(Ok(None))
}

pub(super) fn removed(path: &Path, saved: Option<Saved>, removed: Result<()>) -> Result<()> {
    removed?;
    if let Some(saved) = saved {
        with_sim(path, |sim| {
            sim.dirs
                .entry(parent(path))
                .or_default()
                .push(NameChange::Removed(path.to_owned(), saved));
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The simulation itself: what a power loss keeps and drops.

    use super::super::*;
    use super::*;

    #[test]
    fn a_power_loss_keeps_what_was_synced_and_drops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let _tracked = track(dir.path());
        let path = dir.path().join("f");
        let f = create_exclusive(&path, b"header", 0o644).unwrap();
        append_and_sync(&f, &path, 6, b"synced", 0).unwrap();
        write_all_at(&f, &path, b"lost", 12).unwrap();
        write_all_at(&f, &path, b"LOST", 2).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"heLOSTsyncedlost");
        let lost = power_loss(dir.path(), None).unwrap();
        assert_eq!((lost.undone, lost.names, lost.torn), (2, 0, None));
        assert_eq!(std::fs::read(&path).unwrap(), b"headersynced");

        // A cut and a write after it, then a torn write: half of it kept.
        set_len(&f, &path, 8).unwrap();
        write_all_at(&f, &path, b"0123456789", 8).unwrap();
        let lost = power_loss(dir.path(), Some(500)).unwrap();
        assert_eq!(lost.torn, Some((path.clone(), 8, 10, 5)));
        assert_eq!(std::fs::read(&path).unwrap(), b"headersy01234");
    }

    #[test]
    fn names_are_durable_only_once_their_directory_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let _tracked = track(dir.path());
        let kept = dir.path().join("kept");
        replace(&kept, b"one").unwrap();
        // Created and written, the file synced, but not its directory: the name goes.
        let unnamed = dir.path().join("unnamed");
        let f = create(&unnamed, OpenOptions::new().write(true).create_new(true)).unwrap();
        write_all_at(&f, &unnamed, b"data", 0).unwrap();
        sync_all(&f, &unnamed).unwrap();
        // Renamed over `kept` without the directory's sync: `kept` comes back as it was.
        let tmp = dir.path().join("tmp");
        let g = create(&tmp, OpenOptions::new().write(true).create_new(true)).unwrap();
        write_all_at(&g, &tmp, b"two", 0).unwrap();
        sync_all(&g, &tmp).unwrap();
        rename(&tmp, &kept).unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), b"two");
        power_loss(dir.path(), None).unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), b"one");
        assert!(!unnamed.exists() && !tmp.exists());

        // A rename whose file was never synced: the name is durable, its bytes are not.
        let g = create(&tmp, OpenOptions::new().write(true).create_new(true)).unwrap();
        write_all_at(&g, &tmp, b"three", 0).unwrap();
        rename(&tmp, &kept).unwrap();
        sync_parent(&kept).unwrap();
        power_loss(dir.path(), None).unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), b"");

        // A removal without the directory's sync is undone.
        replace(&kept, b"four").unwrap();
        remove_file(&kept).unwrap();
        power_loss(dir.path(), None).unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), b"four");
    }

    #[test]
    fn a_directory_is_there_only_once_its_parent_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let _tracked = track(dir.path());
        let (kept, lost) = (dir.path().join("kept"), dir.path().join("lost/inner"));
        create_dir(&kept).unwrap();
        create_dir_all(&lost).unwrap();
        replace(
            &lost.join("f"),
            b"synced, but in a directory whose name is not",
        )
        .unwrap();
        power_loss(dir.path(), None).unwrap();
        assert!(kept.is_dir());
        assert!(!dir.path().join("lost").exists());
    }

    #[test]
    fn a_crash_fails_every_operation_from_its_countdown_on() {
        let dir = tempfile::tempdir().unwrap();
        let _tracked = track(dir.path());
        let path = dir.path().join("f");
        let f = create_exclusive(&path, b"h", 0o644).unwrap();
        crash_after(dir.path(), 2);
        // The write goes through, its sync is where the power goes.
        assert!(append_and_sync(&f, &path, 1, b"x", 0).is_err());
        assert!(crashed(dir.path()));
        assert_eq!(std::fs::read(&path).unwrap(), b"hx");
        assert!(write_all_at(&f, &path, b"y", 2).is_err());
        assert!(replace(&dir.path().join("g"), b"g").is_err());
        power_loss(dir.path(), None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"h");
        append_and_sync(&f, &path, 1, b"z", 0).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hz");

        // At the next sync: the two writes before it went through, and are lost.
        crash_at_sync(dir.path(), 1);
        assert!(append_and_sync(&f, &path, 2, b"w", 4).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"hzw\0");
        power_loss(dir.path(), None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hz");
    }

    #[test]
    fn a_failed_sync_fails_after_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let _tracked = track(dir.path());
        let path = dir.path().join("f");
        let f = create_exclusive(&path, b"h", 0o644).unwrap();
        for persisted in [false, true] {
            fail_syncs(dir.path(), 1, persisted);
            assert!(append_and_sync(&f, &path, 1, b"x", 0).is_err());
            assert_eq!(std::fs::read(&path).unwrap(), b"hx", "written, not synced");
            power_loss(dir.path(), None).unwrap();
            let want: &[u8] = if persisted { b"hx" } else { b"h" };
            assert_eq!(std::fs::read(&path).unwrap(), want);
        }
    }
}
