//! loopgate's audit log: an append-only, fsync'd file log of records with RFC 9162 Merkle
//! proofs and C2SP signed checkpoints (Ed25519, via ring), and the offline verifier; and the
//! witness primitives: C2SP `cosignature/v1` keys, cosigning and quorum checks, and the
//! `tlog-witness` `add-checkpoint` request and answer formats.
//!
//! Records are appended through one writer thread that commits concurrent appends as one batch
//! (one write, one `fdatasync`, one signed checkpoint) and acknowledges each record only once it
//! is durable, with its inclusion proof to that checkpoint. The segment files are the truth;
//! the sled index (tree tiles, record positions, query terms) is rebuilt from them when needed.
//!
//! It does not evaluate policy, read the clock (records carry the time the caller gives, and a
//! cosignature the time the witness gives), do network I/O (the witness server and its clients
//! are the gateway's), or decide what a record means beyond the fields it indexes.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod blob;
mod checkpoint;
mod error;
mod fault;
mod index;
mod layout;
mod log;
mod offline;
mod record;
mod sequence;
mod store;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
mod tree;
mod verify;

pub use blob::{BLOBS, BlobRef, get_blob, put_blob};
pub use checkpoint::{
    AddCheckpoint, Checkpoint, Cosignature, MAX_PROOF_LINES, SIZE_CONTENT_TYPE, SigningKey,
    VerifierKey, WitnessSigningKey, WitnessVerifierKey, check_key_name, cosigned_message, key_id,
    open_cosigned, parse_cosignature_lines, verify_cosignature_lines, verify_cosigned,
};
pub use error::{Error, Result};
pub use fault::Fault;
pub use log::{
    Appended, DEFAULT_MAX_RECORD_BYTES, Health, Log, LogConfig, MAX_ENTRY_BYTES, Page, Selection,
};
pub use offline::{verify_checkpoints_consistent, verify_export};
pub use record::{FORMAT_VERSION, Field, Kind, Outcome, Record, Verdict, time_key};
pub use store::Frames;
pub use tree::{
    CompactRange, Hash, LeafHashes, PerfectHashes, consistency_proof, empty_root, inclusion_proof,
    leaf_hash, node_hash, root, root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
pub use verify::{Receipt, Report, verify_dir, verify_dir_against, verify_receipt};
