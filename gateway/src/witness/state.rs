//! The witness's durable state for one log: the latest checkpoint it cosigned, in two slot
//! files written in turn (`<origin hash>.0.state` and `<origin hash>.1.state`).
//!
//! Each save overwrites the slot that does *not* hold the current state, in place, and
//! `fdatasync`s it: one flush per cosignature. (A temp file, its fsync, a rename and the
//! directory's fsync made two flushes, a new inode and a deleted one per request: four times
//! the time on the benchmark's disk, 0.57 against 0.13 ms.) A crash while a slot is written
//! tears at most that slot, and the other still holds the state before it, which is all the
//! witness had answered; a torn slot is told by its checksum. Opening takes the valid slot
//! with the higher sequence number.
//!
//! A slot is one header line, `loopgate-witness-state 1 <seq> <length> <hex SHA-256>`, and then
//! the note (`<length>` bytes: the log's checkpoint with its signature and the witness's
//! cosignature), so it stays readable with `tail -n +2`. Bytes after the note are ignored.
//!
//! A state directory of an earlier version has one `<origin hash>.checkpoint` per log
//! (written by rename): it is read when neither slot holds a state, and removed once a slot
//! does.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use loopgate_audit::{Checkpoint, VerifierKey};

use super::WitnessError;

/// The first word of a slot's header line.
const MAGIC: &str = "loopgate-witness-state";
/// The slot format's version.
const VERSION: &str = "1";

/// One log's state files and the state they hold.
#[derive(Debug)]
pub(super) struct StateFiles {
    slots: [Slot; 2],
    /// The slot holding the current state (`None`: none does yet).
    current: Option<usize>,
    /// The sequence number of the current state (0: none yet, or the earlier version's file).
    seq: u64,
    /// The earlier version's state file, removed after the first save.
    legacy: Option<PathBuf>,
}

#[derive(Debug)]
struct Slot {
    path: PathBuf,
    file: File,
}

/// What one slot holds.
enum Read {
    /// Missing or empty: never written.
    Empty,
    /// A complete state.
    State { seq: u64, note: String },
    /// Not a complete state (a write cut short, or damage): why.
    Torn(String),
}

impl StateFiles {
    /// Opens (making them when missing) the slots of the log `origin` in `dir`, and returns
    /// them with the latest state, whose log signature and origin are checked. Damage that is
    /// not one torn slot beside a valid one is an error: restoring from a backup is the
    /// operator's call, never a silent reset to 0.
    pub(super) fn open(
        dir: &Path,
        hash: &str,
        origin: &str,
        key: &VerifierKey,
    ) -> Result<(Self, Option<Checkpoint>), WitnessError> {
        let state_err = |path: &Path, why: String| WitnessError::State {
            path: path.to_owned(),
            why,
        };
        let mut made = false;
        let mut slots = Vec::with_capacity(2);
        let mut reads = Vec::with_capacity(2);
        for n in 0..2 {
            let path = dir.join(format!("{hash}.{n}.state"));
            let (read, existed) = match std::fs::read(&path) {
                Ok(bytes) => (parse(&bytes), true),
                Err(e) if e.kind() == ErrorKind::NotFound => (Read::Empty, false),
                Err(e) => return Err(state_err(&path, e.to_string())),
            };
            made |= !existed;
            let file =
                open_private(&path).map_err(|e| state_err(&path, format!("cannot open: {e}")))?;
            slots.push(Slot { path, file });
            reads.push(read);
        }
        if made {
            // The slots' names are durable before a state is written into one.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| state_err(dir, format!("cannot sync the directory: {e}")))?;
        }
        let damaged = |path: &Path, why: &str| {
            state_err(
                path,
                format!(
                    "{why}; restore the file from a backup (deleting the state files makes the \
                     witness accept any checkpoint of this log again)"
                ),
            )
        };
        let mut best: Option<(usize, u64, Checkpoint)> = None;
        let mut torn = Vec::new();
        for (n, read) in reads.into_iter().enumerate() {
            let path = &slots[n].path;
            match read {
                Read::Empty => {}
                Read::Torn(why) => torn.push((n, why)),
                Read::State { seq, note } => {
                    let cp = open_note(&note, origin, key).map_err(|why| damaged(path, &why))?;
                    match &best {
                        Some((_, s, _)) if *s == seq => {
                            return Err(damaged(
                                path,
                                &format!("both slots say sequence number {seq}"),
                            ));
                        }
                        Some((_, s, _)) if *s > seq => {}
                        _ => best = Some((n, seq, cp)),
                    }
                }
            }
        }
        let legacy = dir.join(format!("{hash}.checkpoint"));
        let current = best.as_ref().map(|(n, _, _)| *n);
        let (seq, latest) = if let Some((n, seq, cp)) = best {
            for (t, why) in &torn {
                tracing::warn!(
                    slot = %slots[*t].path.display(),
                    kept = %slots[n].path.display(),
                    why = %why,
                    "witness: a state slot is torn (a write cut short by a crash); the other \
                     slot holds the state before it, the last one answered"
                );
            }
            (seq, Some(cp))
        } else {
            match std::fs::read_to_string(&legacy) {
                // Only slots never written in full: the earlier version's file is the state.
                Ok(text) => {
                    let cp = open_note(&text, origin, key).map_err(|why| damaged(&legacy, &why))?;
                    (0, Some(cp))
                }
                Err(e) if e.kind() == ErrorKind::NotFound => match torn.first() {
                    None => (0, None),
                    Some((t, why)) => {
                        return Err(damaged(
                            &slots[*t].path,
                            &format!(
                                "{why}, and no other slot holds a state (if this witness \
                                 stopped during its very first cosignature of this log, \
                                 nothing was cosigned and the file can be deleted)"
                            ),
                        ));
                    }
                },
                Err(e) => return Err(state_err(&legacy, e.to_string())),
            }
        };
        let legacy = legacy.exists().then_some(legacy);
        let slots: [Slot; 2] = slots
            .try_into()
            .map_err(|_| state_err(dir, "two slots expected".into()))?;
        Ok((
            Self {
                slots,
                current,
                seq,
                legacy,
            },
            latest,
        ))
    }

    /// Writes `note` as the next state into the slot that does not hold the current one and
    /// flushes it to the disk. On `Err` the current state is untouched.
    pub(super) fn save(&mut self, note: &str) -> std::io::Result<()> {
        let seq = self.seq + 1;
        // Never the slot of the current state, whatever its number (files copied by hand).
        let n = self.current.map_or(1, |c| 1 - c);
        let slot = &self.slots[n];
        let mut bytes = format!(
            "{MAGIC} {VERSION} {seq} {} {}\n",
            note.len(),
            checksum(note.as_bytes())
        )
        .into_bytes();
        bytes.extend_from_slice(note.as_bytes());
        slot.file.write_all_at(&bytes, 0)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if slot.file.metadata()?.len() > len {
            slot.file.set_len(len)?;
        }
        slot.file.sync_data()?;
        self.seq = seq;
        self.current = Some(n);
        if let Some(legacy) = self.legacy.take() {
            // Only tidiness: with a slot written, the slots win over it on the next start.
            if let Err(e) = std::fs::remove_file(&legacy)
                && e.kind() != ErrorKind::NotFound
            {
                tracing::warn!(path = %legacy.display(), error = %e, "witness: cannot remove the earlier version's state file");
            }
        }
        Ok(())
    }
}

/// Reads one slot's bytes.
fn parse(bytes: &[u8]) -> Read {
    if bytes.is_empty() {
        return Read::Empty;
    }
    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
        return Read::Torn("no complete header line".into());
    };
    let Ok(header) = std::str::from_utf8(&bytes[..end]) else {
        return Read::Torn("the header line is not UTF-8".into());
    };
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, version, seq, len, sum] = fields.as_slice() else {
        return Read::Torn(format!("not a state header: {header:?}"));
    };
    if *magic != MAGIC {
        return Read::Torn(format!("not a state header: {header:?}"));
    }
    if *version != VERSION {
        return Read::Torn(format!(
            "state format version {version}, this witness reads {VERSION}"
        ));
    }
    let (Ok(seq), Ok(len)) = (seq.parse::<u64>(), len.parse::<usize>()) else {
        return Read::Torn(format!("not a state header: {header:?}"));
    };
    let body = &bytes[end + 1..];
    let Some(note) = body.get(..len) else {
        return Read::Torn(format!(
            "the note is {} bytes, the header says {len}",
            body.len()
        ));
    };
    if checksum(note) != *sum {
        return Read::Torn("the note does not match its checksum".into());
    }
    match String::from_utf8(note.to_vec()) {
        Ok(note) => Read::State { seq, note },
        Err(_) => Read::Torn("the note is not UTF-8".into()),
    }
}

/// The header's checksum of a note: its SHA-256 in lower-case hex (written by
/// [`StateFiles::save`], checked by [`parse`]).
fn checksum(note: &[u8]) -> String {
    crate::transfer::id::hex(&crate::registry::sha256(note))
}

/// Opens a stored note: the log's signature must verify and the origin match.
fn open_note(text: &str, origin: &str, key: &VerifierKey) -> Result<Checkpoint, String> {
    let cp = Checkpoint::open(text, key).map_err(|e| e.to_string())?;
    if cp.origin() != origin {
        return Err(format!("it holds the log {:?}", cp.origin()));
    }
    Ok(cp)
}

/// Opens `path` for reading and writing, made with mode 0600 when missing, never truncated:
/// the witness's state slots and its lock file.
pub(super) fn open_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}
