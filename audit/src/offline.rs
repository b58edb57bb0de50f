//! Offline checks of what the regulator API hands out, once its signed checkpoints were opened
//! with the log's verifier key: that a newer checkpoint extends an older one (a consistency
//! proof), and that an export
//! (`GET /v1/audit/export`, JSON Lines) holds exactly the records a signed checkpoint covers.
//! Receipts and record answers are [`crate::verify_receipt`]'s. The CLI (`loopgate audit
//! verify`) and the tests share this code.

use std::io::BufRead as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::tree::{CompactRange, Hash, leaf_hash, verify_consistency};

/// Checks that the signed checkpoint `new` extends the signed checkpoint `old` (both opened,
/// i.e. their signatures verified, by the caller): the same origin, and `proof` (RFC 9162
/// 2.1.4) leading from the old root to the new. An old checkpoint larger than the new one is
/// [`Error::Invalid`] (the two were given the wrong way round); the rest is
/// [`Error::BadProof`].
pub fn verify_checkpoints_consistent(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[Hash],
) -> Result<()> {
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
    })
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
/// checkpoint `cp` (opened by the caller): the export must hold exactly records `0..size` of
/// the checkpoint, in order, each leaf hashing to its `leaf_hash` and parsing to its `record`,
/// and the tree they build must have the checkpoint's root. What does not match is
/// [`Error::BadExport`] naming the first bad record (or line); an unreadable file is
/// [`Error::Io`].
pub fn verify_export(path: &Path, cp: &Checkpoint) -> Result<()> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::checkpoint::SigningKey;
    use crate::tree::{LeafHashes, consistency_proof, root};

    const ORIGIN: &str = "test.example/log";

    /// Leaves that are records (JSON), their tree, and a key.
    fn world(n: u64) -> (Vec<String>, LeafHashes, SigningKey) {
        let leaves: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"v":1,"kind":"system","i":{i}}}"#))
            .collect();
        let tree = LeafHashes(leaves.iter().map(|l| leaf_hash(l.as_bytes())).collect());
        (leaves, tree, SigningKey::generate(ORIGIN).unwrap())
    }

    fn signed(tree: &LeafHashes, size: u64, key: &SigningKey) -> Checkpoint {
        let cp = Checkpoint::sign(ORIGIN, size, root(tree, size).unwrap(), key).unwrap();
        Checkpoint::open(cp.text(), &key.verifier()).unwrap()
    }

    /// The export lines of `leaves[range]`, as the API writes them.
    fn lines(leaves: &[String], indexes: impl Iterator<Item = u64>) -> String {
        indexes
            .map(|i| {
                let leaf = &leaves[i as usize];
                let line = serde_json::json!({
                    "leaf": leaf,
                    "leaf_hash": B64.encode(leaf_hash(leaf.as_bytes())),
                    "log_index": i,
                    "record": serde_json::from_str::<serde_json::Value>(leaf).unwrap(),
                });
                format!("{line}\n")
            })
            .collect()
    }

    fn export(text: &str, cp: &Checkpoint) -> Result<()> {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("export.jsonl");
        std::fs::write(&path, text).unwrap();
        verify_export(&path, cp)
    }

    fn bad_export(text: &str, cp: &Checkpoint) -> String {
        match export(text, cp) {
            Err(Error::BadExport(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_export_of_exactly_the_checkpoints_records_rebuilds_its_root() {
        let (leaves, tree, key) = world(11);
        let cp = signed(&tree, 11, &key);
        export(&lines(&leaves, 0..11), &cp).unwrap();
        // The empty tree: an empty export.
        export("", &signed(&tree, 0, &key)).unwrap();

        let why = bad_export(&lines(&leaves, 0..10), &cp);
        assert!(why.contains("record 10 is the first missing"), "{why}");
        let why = bad_export(&lines(&leaves, 0..11), &signed(&tree, 7, &key));
        assert!(
            why.contains("more records than the checkpoint's 7"),
            "{why}"
        );
        let why = bad_export(&lines(&leaves, (0..11).filter(|i| *i != 4)), &cp);
        assert!(
            why.contains("line 5 holds record 5 where record 4 belongs"),
            "{why}"
        );
        let why = bad_export(&lines(&leaves, [0, 1, 1].into_iter()), &cp);
        assert!(why.contains("line 3 holds record 1 again"), "{why}");
        let why = bad_export("{}\n", &cp);
        assert!(
            why.contains("line 1 (where record 0 belongs) is not an export record"),
            "{why}"
        );

        // Another record, with its own true hash, in record 3's place.
        let mut forged = leaves.clone();
        forged[3] = r#"{"v":1,"kind":"system","i":"forged"}"#.to_owned();
        let why = bad_export(&lines(&forged, 0..11), &cp);
        assert!(
            why.contains("do not hash to the checkpoint's root"),
            "{why}"
        );
        // A record that is not its leaf.
        let text = lines(&leaves, 0..11).replacen(r#""record":{"i":2"#, r#""record":{"i":9"#, 1);
        let why = bad_export(&text, &cp);
        assert!(
            why.contains("record 2 (line 3): record differs from leaf"),
            "{why}"
        );
    }

    #[test]
    fn a_newer_checkpoint_extends_an_older_one_by_the_consistency_proof() {
        let (_, tree, key) = world(13);
        let (old, new) = (signed(&tree, 5, &key), signed(&tree, 13, &key));
        let proof = consistency_proof(&tree, 5, 13).unwrap();
        verify_checkpoints_consistent(&old, &new, &proof).unwrap();
        verify_checkpoints_consistent(&new, &new, &[]).unwrap();

        let mut bad = proof.clone();
        bad[0][0] ^= 1;
        let e = verify_checkpoints_consistent(&old, &new, &bad).unwrap_err();
        assert!(
            e.to_string()
                .contains("the log of size 13 does not extend the log of size 5"),
            "{e}"
        );
        // The wrong way round is a usage error, not a failed proof.
        let e = verify_checkpoints_consistent(&new, &old, &proof).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
        // Another log's checkpoint.
        let other = SigningKey::generate("other.example/log").unwrap();
        let theirs = Checkpoint::sign("other.example/log", 13, *new.root(), &other).unwrap();
        let e = verify_checkpoints_consistent(&old, &theirs, &proof).unwrap_err();
        assert!(e.to_string().contains("two logs"), "{e}");
    }
}
