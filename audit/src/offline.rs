//! Offline checks of what the regulator API hands out, with nothing but the log's verifier key:
//! that a newer signed checkpoint extends an older one (a consistency proof), and that an export
//! (`GET /v1/audit/export`, JSON Lines) holds exactly the records a signed checkpoint covers.
//! Receipts and record answers are [`crate::verify_receipt`]'s. The CLI (`loopgate audit
//! verify`) and the tests share this code.

use std::io::BufRead as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::checkpoint::{Checkpoint, VerifierKey};
use crate::error::{Error, Result};
use crate::tree::{CompactRange, Hash, leaf_hash, verify_consistency};

/// Opens the signed checkpoint `text` with `key`, naming it `which` in the error.
fn open(text: &str, key: &VerifierKey, which: &str) -> Result<Checkpoint> {
    Checkpoint::open(text, key).map_err(|e| match e {
        Error::BadCheckpoint(why) => Error::BadCheckpoint(format!("{which}: {why}")),
        other => other,
    })
}

/// Checks that the signed checkpoint `new` extends the signed checkpoint `old` of the same log:
/// both signed by `key`, the same origin, and `proof` (RFC 9162 2.1.4) leading from the old
/// root to the new. Returns both. An old checkpoint larger than the new one is
/// [`Error::Invalid`] (the two were given the wrong way round); the rest is
/// [`Error::BadCheckpoint`] or [`Error::BadProof`].
pub fn verify_checkpoints_consistent(
    old: &str,
    new: &str,
    proof: &[Hash],
    key: &VerifierKey,
) -> Result<(Checkpoint, Checkpoint)> {
    let old = open(old, key, "the old checkpoint")?;
    let new = open(new, key, "the new checkpoint")?;
    if old.origin() != new.origin() {
        return Err(Error::BadProof(format!(
            "the checkpoints are of two logs: {:?} and {:?}",
            old.origin(),
            new.origin()
        )));
    }
    if old.size() > new.size() {
        return Err(Error::invalid(
            "checkpoints",
            format!(
                "the old checkpoint covers {} records, more than the new one's {}; give the \
                 older (smaller) checkpoint first",
                old.size(),
                new.size()
            ),
        ));
    }
    verify_consistency(old.size(), new.size(), old.root(), new.root(), proof).map_err(|e| {
        Error::BadProof(format!(
            "the log of size {} does not extend the log of size {}: {}",
            new.size(),
            old.size(),
            match e {
                Error::BadProof(why) => why,
                other => other.to_string(),
            }
        ))
    })?;
    Ok((old, new))
}

/// One line of an export: the envelope of `GET /v1/audit/export` and `/v1/audit/records`.
#[derive(Deserialize)]
struct Envelope {
    log_index: u64,
    leaf: String,
    leaf_hash: String,
    record: serde_json::Value,
}

/// Checks the export file `path` (JSON Lines, one envelope per record) against the signed
/// checkpoint `checkpoint`: the export must hold exactly records `0..size` of the checkpoint,
/// in order, each leaf hashing to its `leaf_hash` and parsing to its `record`, and the tree they
/// build must have the checkpoint's root. Returns the checkpoint. What does not match is
/// [`Error::BadExport`] naming the first bad record (or line); an unreadable file is
/// [`Error::Io`]; a bad signature [`Error::BadCheckpoint`].
pub fn verify_export(path: &Path, checkpoint: &str, key: &VerifierKey) -> Result<Checkpoint> {
    let cp = open(checkpoint, key, "the checkpoint")?;
    let size = cp.size();
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut lines = std::io::BufReader::new(file);
    let mut tree = CompactRange::new();
    let mut line = Vec::new();
    let bad = |why: String| Error::BadExport(why);
    loop {
        line.clear();
        let read = lines
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("read", path, e))?;
        if read == 0 {
            break;
        }
        let i = tree.size();
        let n = i + 1;
        let envelope: Envelope = serde_json::from_slice(&line).map_err(|e| {
            bad(format!(
                "line {n} (where record {i} belongs) is not an export record: {e}"
            ))
        })?;
        let at = envelope.log_index;
        if at != i {
            return Err(bad(if at > i {
                format!(
                    "line {n} holds record {at} where record {i} belongs: records {i}..{at} are \
                     missing. Rebuilding the tree needs every record from 0: export without \
                     from=, as a regulator who sees the whole log"
                )
            } else {
                format!("line {n} holds record {at} again, where record {i} belongs")
            }));
        }
        if i >= size {
            return Err(bad(format!(
                "the export holds more records than the checkpoint's {size} (line {n} is record \
                 {i}); export with ?to={size}, or fetch the checkpoint after the export"
            )));
        }
        let hash = leaf_hash(envelope.leaf.as_bytes());
        if B64.encode(hash) != envelope.leaf_hash {
            return Err(bad(format!(
                "record {i} (line {n}): leaf_hash is not the hash of leaf"
            )));
        }
        let parsed: serde_json::Value = serde_json::from_str(&envelope.leaf)
            .map_err(|e| bad(format!("record {i} (line {n}): leaf is not JSON: {e}")))?;
        if parsed != envelope.record {
            return Err(bad(format!(
                "record {i} (line {n}): record differs from leaf"
            )));
        }
        tree.push(hash);
    }
    let held = tree.size();
    if held < size {
        return Err(bad(format!(
            "the export holds records 0..{held} but the checkpoint covers {size}: record {held} \
             is the first missing; export with ?to={size}, or fetch the checkpoint before the \
             export"
        )));
    }
    if &tree.root() != cp.root() {
        return Err(bad(format!(
            "records 0..{size} of the export do not hash to the checkpoint's root: a record was \
             altered (with its leaf_hash), added or removed"
        )));
    }
    Ok(cp)
}
