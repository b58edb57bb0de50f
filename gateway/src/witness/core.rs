//! The witness's decision for one `add-checkpoint` (C2SP `tlog-witness`) and its durable
//! state: the latest checkpoint it cosigned per log (the log's note and the witness's
//! cosignature), in two slot files per log in the state directory, named for the hex SHA-256
//! of the origin ([`super::state`]).
//!
//! Checking the request's `old` against the state and persisting the new state happen under
//! one per-log mutex, and the state is on disk (written and `fdatasync`ed) before the
//! cosignature is returned: no rollback race, and a crash never loses a cosigned size. Sizes
//! only grow and an equal size needs an equal root, so two roots are never cosigned for one
//! size.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use loopgate_audit::{
    AddCheckpoint, Checkpoint, Cosignature, SIZE_CONTENT_TYPE, VerifierKey, WitnessSigningKey,
    WitnessVerifierKey, empty_root, verify_consistency,
};

use super::WitnessError;
use super::state::StateFiles;

/// The plain-text content type of every other answer.
const TEXT: &str = "text/plain; charset=utf-8";
/// The outcome of a checkpoint with another root at the size cosigned last.
const FORK: &str = "fork";

/// What the witness answers: the HTTP status, content type and body, and for its log line the
/// log's origin and checkpoint size when known and a short outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// The checkpoint's origin, once parsed.
    pub origin: Option<String>,
    /// The checkpoint's size, once verified.
    pub size: Option<u64>,
    /// Why, in a few words (for the log line).
    pub outcome: &'static str,
}

impl Answer {
    fn refuse(status: u16, outcome: &'static str, message: String) -> Self {
        Self {
            status,
            content_type: TEXT,
            body: format!("{message}\n"),
            origin: None,
            size: None,
            outcome,
        }
    }

    fn about(mut self, origin: &str, size: Option<u64>) -> Self {
        self.origin = Some(origin.to_owned());
        self.size = size;
        self
    }
}

/// One log the witness follows.
#[derive(Debug)]
struct Followed {
    key: VerifierKey,
    state: Mutex<LogState>,
}

/// What the witness holds of one log, checked and changed under one lock.
#[derive(Debug)]
struct LogState {
    /// The latest cosigned checkpoint (as stored), `None` before the first.
    latest: Option<Checkpoint>,
    files: StateFiles,
}

/// A witness: its key and, per log, the latest checkpoint it cosigned.
#[derive(Debug)]
pub struct Witness {
    key: WitnessSigningKey,
    logs: HashMap<String, Followed>,
    /// The state directory's lock, held while this witness lives ([`lock_state`]).
    _lock: std::fs::File,
}

impl Witness {
    /// Opens the state directory (made if missing) and reads each log's latest cosigned
    /// checkpoint, checking the log's signature on it. A state file that does not verify is an
    /// error: restoring it from a backup is the operator's call, never a silent reset to 0.
    pub fn open(
        key: WitnessSigningKey,
        state_dir: &Path,
        logs: Vec<(String, VerifierKey)>,
    ) -> Result<Self, WitnessError> {
        make_dir(state_dir).map_err(|source| WitnessError::State {
            path: state_dir.to_owned(),
            why: source.to_string(),
        })?;
        let lock = lock_state(state_dir)?;
        let mut followed = HashMap::new();
        for (origin, log_key) in logs {
            let (files, latest) =
                StateFiles::open(state_dir, &origin_hash(&origin), &origin, &log_key)?;
            followed.insert(
                origin,
                Followed {
                    key: log_key,
                    state: Mutex::new(LogState { latest, files }),
                },
            );
        }
        Ok(Self {
            key,
            logs: followed,
            _lock: lock,
        })
    }

    /// The witness's verifier key.
    pub fn verifier(&self) -> &WitnessVerifierKey {
        self.key.verifier()
    }

    /// The latest cosigned checkpoint of the log whose origin hashes to `hash` (lower-case hex
    /// SHA-256: the spec's monitoring `GET <prefix>/<origin hash>/checkpoint`).
    pub fn latest(&self, hash: &str) -> Option<String> {
        let (_, log) = self.logs.iter().find(|(o, _)| origin_hash(o) == hash)?;
        let state = log.state.lock().unwrap_or_else(|p| p.into_inner());
        state.latest.as_ref().map(|cp| cp.text().to_owned())
    }

    /// Handles one `add-checkpoint` body at `now` (POSIX seconds). Blocking: it fsyncs the
    /// state before answering; from async code call it in `spawn_blocking`.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        let Ok(text) = std::str::from_utf8(body) else {
            return Answer::refuse(400, "malformed", "the body is not UTF-8".into());
        };
        let request = match AddCheckpoint::parse(text) {
            Ok(r) => r,
            Err(e) => return Answer::refuse(400, "malformed", e.to_string()),
        };
        let origin = match Checkpoint::unverified_origin(&request.checkpoint) {
            Ok(o) => o,
            Err(e) => return Answer::refuse(400, "malformed", e.to_string()),
        };
        let Some(log) = self.logs.get(&origin) else {
            return Answer::refuse(
                404,
                "unknown log",
                format!("this witness does not follow the log {origin:?}"),
            )
            .about(&origin, None);
        };
        let mut size = None;
        let answer = self
            .check_and_cosign(log, &request, now, &mut size)
            .unwrap_or_else(|refusal| refusal)
            .about(&origin, size);
        if answer.status == 422 || answer.outcome == FORK {
            // Signed by the log yet inconsistent with what this witness cosigned: evidence of
            // a fork or a rewritten log (the spec: the witness may log it). Kept whole here.
            tracing::warn!(
                origin = %origin,
                old = request.old,
                checkpoint = ?request.checkpoint,
                why = answer.body.trim_end(),
                "witness: refused a checkpoint the log signed that is inconsistent with the one \
                 cosigned last; keep this line as evidence"
            );
        }
        answer
    }

    /// The checks in the spec's order; `size` is set once the log's signature verified.
    fn check_and_cosign(
        &self,
        log: &Followed,
        request: &AddCheckpoint,
        now: u64,
        size: &mut Option<u64>,
    ) -> Result<Answer, Answer> {
        let new = Checkpoint::open(&request.checkpoint, &log.key).map_err(|e| {
            Answer::refuse(
                403,
                "no trusted signature",
                format!("no valid signature by the log's key {}: {e}", log.key),
            )
        })?;
        *size = Some(new.size());
        if request.old > new.size() {
            return Err(Answer::refuse(
                400,
                "old above size",
                format!(
                    "old size {} is above the checkpoint's size {}",
                    request.old,
                    new.size()
                ),
            ));
        }
        // From here to the state on disk, one request per log at a time (the spec's rollback
        // race: two requests must not both pass the check against the same state).
        let mut state = log.state.lock().unwrap_or_else(|p| p.into_inner());
        let current = state.latest.as_ref().map_or(0, Checkpoint::size);
        if request.old != current {
            return Err(Answer {
                status: 409,
                content_type: SIZE_CONTENT_TYPE,
                body: format!("{current}\n"),
                origin: None,
                size: None,
                outcome: "old size does not match",
            });
        }
        let inconsistent = |why: String| Answer::refuse(422, "inconsistent", why);
        if new.size() == 0 && *new.root() != empty_root() {
            return Err(inconsistent(
                "a checkpoint of size 0 must have the empty tree's root".into(),
            ));
        }
        if request.old == 0 && !request.proof.is_empty() {
            return Err(inconsistent(
                "old size 0 takes no consistency proof; send none".into(),
            ));
        }
        if let Some(old) = state.latest.as_ref() {
            if old.size() == new.size() && old.root() != new.root() {
                // The spec: another root at the size cosigned last is a 409 (not with
                // `text/x.tlog.size`: no other `old` makes it acceptable).
                return Err(Answer {
                    status: 409,
                    content_type: TEXT,
                    body: format!(
                        "another root for size {}: this witness cosigned a different one (a \
                         fork of the log)\n",
                        new.size()
                    ),
                    origin: None,
                    size: None,
                    outcome: FORK,
                });
            }
            verify_consistency(
                old.size(),
                new.size(),
                old.root(),
                new.root(),
                &request.proof,
            )
            .map_err(|e| {
                inconsistent(if old.size() == new.size() {
                    format!(
                        "the checkpoint of size {} is the one cosigned and takes no \
                         consistency proof: {e}",
                        new.size()
                    )
                } else {
                    format!(
                        "the checkpoint of size {} is not consistent with size {}: {e}",
                        new.size(),
                        old.size()
                    )
                })
            })?;
        }
        let cosignature = self
            .key
            .cosign(&new, now)
            .map_err(|e| Answer::refuse(500, "cannot cosign", format!("cannot cosign: {e}")))?;
        let stored = save(&new, &cosignature, log, &mut state.files).map_err(|e| {
            tracing::error!(origin = %new.origin(), error = %e, "witness: cannot save the state; nothing was cosigned");
            Answer::refuse(
                500,
                "state not saved",
                "the witness cannot save its state; nothing was cosigned, retry later".into(),
            )
        })?;
        state.latest = Some(stored);
        Ok(Answer {
            status: 200,
            content_type: TEXT,
            body: cosignature.line().to_owned(),
            origin: None,
            size: None,
            outcome: "cosigned",
        })
    }
}

/// Stores the log's note (only its signature lines the witness verified) with the witness's
/// cosignature as the log's state, durably, and returns what it stored.
fn save(
    new: &Checkpoint,
    cosignature: &Cosignature,
    log: &Followed,
    files: &mut StateFiles,
) -> Result<Checkpoint, String> {
    let stored = new
        .only_signed_by(&log.key)
        .map_err(|e| e.to_string())?
        .cosigned(std::slice::from_ref(cosignature));
    files.save(stored.text()).map_err(|e| e.to_string())?;
    Ok(stored)
}

/// Makes the state directory when missing, and syncs its parent so that its name is durable
/// before the first state file in it is.
fn make_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    std::fs::File::open(parent.unwrap_or(Path::new(".")))?.sync_all()
}

/// The lock file's name in the state directory.
const LOCK: &str = "lock";

/// Takes an exclusive `flock` on `<state_dir>/lock` and writes this process's pid in it, or says
/// which process holds it. Two witnesses on one state directory would each check `old` against
/// their own memory of the state and could both cosign, one of them a fork of what the other
/// cosigned; the lock goes with the process (a crash or `kill -9` leaves the file, not the lock).
fn lock_state(state_dir: &Path) -> Result<std::fs::File, WitnessError> {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};

    use fs2::FileExt as _;

    let path = state_dir.join(LOCK);
    let failed = |e: std::io::Error| WitnessError::State {
        path: path.clone(),
        why: format!("cannot lock: {e}"),
    };
    let mut file = super::state::open_private(&path).map_err(failed)?;
    match file.try_lock_exclusive() {
        Ok(()) => {}
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
            let mut text = String::new();
            let pid = file
                .seek(SeekFrom::Start(0))
                .and_then(|_| (&file).take(32).read_to_string(&mut text))
                .ok()
                .and_then(|_| text.trim().parse::<u32>().ok());
            return Err(WitnessError::Locked {
                dir: state_dir.to_owned(),
                pid,
            });
        }
        Err(e) => return Err(failed(e)),
    }
    // Who holds it, for the next one to be told; not a durability matter.
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(failed)?;
    Ok(file)
}

/// Lower-case hex SHA-256 of the origin.
pub(crate) fn origin_hash(origin: &str) -> String {
    crate::transfer::id::hex(&crate::registry::sha256(origin.as_bytes()))
}
