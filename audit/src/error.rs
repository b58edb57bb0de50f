//! The crate's one error type, grouped by who is at fault.

use std::path::PathBuf;

/// Everything that can go wrong in the audit log, grouped by who is at fault: the caller (bad
/// input or misuse), the data on disk or a proof or checkpoint given to us (corrupt or forged),
/// or the environment (I/O, the index store, a stopped writer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- the caller is at fault ---
    /// The leaf is not a valid record (see `record`).
    #[error("invalid record: {0}; fill v, kind, time and the fields of its kind")]
    InvalidRecord(String),
    /// The leaf is larger than the configured maximum.
    #[error("record of {size} bytes is larger than the maximum of {max} bytes; keep records small")]
    RecordTooLarge {
        /// Size of the rejected leaf.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An index or tree size outside the log as it is now.
    #[error("{what} is out of range: {value} (log size {size}); ask for an index below the size")]
    OutOfRange {
        /// Which argument.
        what: &'static str,
        /// The value asked for.
        value: u64,
        /// The log's (or the proof's) size.
        size: u64,
    },
    /// A record too long for a C2SP `tlog-tiles` entry bundle, whose entries carry a uint16
    /// length ([`crate::MAX_ENTRY_BYTES`]): only in a log configured for larger records.
    #[error(
        "record {index} is {size} bytes, more than the 65535 a tlog-tiles entry bundle can hold; \
         read it on its own (GET /v1/audit/records/{index})"
    )]
    EntryTooLarge {
        /// The record's index.
        index: u64,
        /// Its size in bytes.
        size: usize,
    },
    /// A key, key name or configuration value is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was malformed ("signer key", "verifier key", "origin", ...).
        what: &'static str,
        /// Why.
        reason: String,
    },

    // --- the data is at fault (corrupt on disk, or a forged or stale proof) ---
    /// A stored record or segment is damaged in the middle of the log: never repaired
    /// automatically, because acknowledged records may be at stake.
    #[error(
        "corrupt log: {what} in segment {segment}, byte offset {offset}, record index {index}; \
         restore the data directory from a backup or investigate with `loopgate audit verify`"
    )]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the damaged frame in that file.
        offset: u64,
        /// The record index expected there.
        index: u64,
        /// What is wrong.
        what: String,
    },
    /// A blob a record names (see [`crate::put_blob`]) is missing, unreadable or altered.
    #[error(
        "bad blob {path}: {what}; restore it from a backup (its name is the SHA-256 its record \
         names)"
    )]
    BadBlob {
        /// The blob's file.
        path: PathBuf,
        /// What is wrong, and which record names it.
        what: String,
    },
    /// A signed checkpoint or note that does not parse or whose signature does not verify.
    #[error("bad checkpoint: {0}")]
    BadCheckpoint(String),
    /// A cosigned checkpoint with fewer valid cosignatures from the trusted witnesses than
    /// the quorum.
    #[error(
        "the checkpoint carries {valid} valid cosignatures from the trusted witnesses, fewer \
         than the {needed} required; ask the witnesses again or check their verifier keys"
    )]
    NotEnoughCosignatures {
        /// How many distinct trusted witnesses' cosignatures verified.
        valid: usize,
        /// The quorum.
        needed: usize,
    },
    /// A proof that does not verify.
    #[error("proof does not verify: {0}")]
    BadProof(String),
    /// An export (`GET /v1/audit/export`) that does not hold exactly the records a signed
    /// checkpoint covers, or whose records do not hash to its root.
    #[error("export does not match the checkpoint: {0}")]
    BadExport(String),
    /// The stored data contradicts a signed checkpoint (tampering or lost records).
    #[error("log contradicts its signed checkpoint: {0}; investigate with `loopgate audit verify`")]
    CheckpointMismatch(String),

    // --- the environment is at fault ---
    /// A file system operation failed. The message's remedy follows the OS error
    /// ([`crate::Fault`]): out of file descriptors is not a disk to check.
    #[error("{op} {path}: {source}; {}", crate::Fault::of_io(source).remedy())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process has the log folder open (a second gateway on the same `[log] dir` or dev
    /// folder): nothing was read or written.
    #[error(
        "another loopgate process{} has the log folder {} open: only one gateway may use a log \
         folder; stop that one first, or give this one another folder ([log] dir)",
        .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), .dir.display()
    )]
    Locked {
        /// The log folder.
        dir: PathBuf,
        /// The holder's pid, as it wrote it into the lock file (`None`: not written yet).
        pid: Option<u32>,
    },
    /// The rebuildable index (sled) failed.
    #[error("index store: {0}; delete the index folder to rebuild it from the segments")]
    Index(#[from] sled::Error),
    /// The log cannot be written now; nothing was acknowledged. Retry later.
    #[error("audit log unavailable: {0}; nothing was written, retry after the cause is fixed")]
    Unavailable(String),
    /// Too many appends are waiting for the writer.
    #[error("audit log overloaded: {0} appends waiting; retry shortly")]
    Overloaded(usize),
    /// The log was shut down.
    #[error("audit log is shut down; open it again")]
    Closed,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The segments hold `held` records, fewer than the `signed` of a checkpoint this log
    /// signed (`evidence`: who remembers it; `then`: what to do, if anything).
    pub(crate) fn missing_records(signed: u64, held: u64, evidence: &str, then: &str) -> Self {
        Error::CheckpointMismatch(format!(
            "the log has signed a checkpoint of {signed} records but its segments hold {held}: \
             records {held}..{signed} are missing (record {held} is the first missing; {evidence}){then}"
        ))
    }

    /// A malformed argument.
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            reason: reason.into(),
        }
    }
}
