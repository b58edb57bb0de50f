//! The verifier (an fsck): recomputes every leaf hash and the root of a data directory from its
//! segment files alone, checks the stored checkpoint's signature and root, and names the first
//! bad record; and checks a transfer receipt offline. The CLI and the tests share this code.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, VerifierKey};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::log::{Appended, CHECKPOINT, SEGMENTS, VERIFIER_KEY};
use crate::store::{self, Visit};
use crate::tree::PerfectHashes;
use crate::tree::{CompactRange, Hash, leaf_hash, verify_inclusion};

/// What a sound data directory holds.
#[derive(Debug, Clone)]
pub struct Report {
    /// Records in the segments.
    pub size: u64,
    /// Root of the tree of all of them.
    pub root: Hash,
    /// Segment files read.
    pub segments: usize,
    /// The stored checkpoint, verified (`None` when there is none, or no key to check it).
    pub checkpoint: Option<Checkpoint>,
    /// Whether the key came from the data directory's own `log.pub` (weaker than a key kept
    /// elsewhere).
    pub key_from_data_dir: bool,
    /// A torn tail beyond the checkpoint (unacknowledged bytes the next open cuts).
    pub torn_tail: Option<String>,
}

/// Verifies the data directory `dir`. Without `key`, the directory's `log.pub` is used.
pub fn verify_dir(dir: &Path, key: Option<&VerifierKey>) -> Result<Report> {
    let (key, key_from_data_dir) = load_key(dir, key)?;
    let stored = crate::log::read_stored_checkpoint(&dir.join(CHECKPOINT))?;
    let floor = stored.as_ref().map_or(0, |s| s.1);
    let segments = list_segments(dir)?;
    let hashed = hash_segments(&segments, floor)?;
    let checkpoint = match stored {
        Some(stored) => check_stored(dir, &segments, stored, &hashed, key.as_ref())?,
        None => None,
    };
    Ok(Report {
        size: hashed.compact.size(),
        root: hashed.compact.root(),
        segments: segments.len(),
        checkpoint,
        key_from_data_dir,
        torn_tail: hashed.torn_tail,
    })
}

/// The key to check the stored checkpoint with: `key`, else the one in the directory's
/// `log.pub` (if any), and whether it came from there.
fn load_key(dir: &Path, key: Option<&VerifierKey>) -> Result<(Option<VerifierKey>, bool)> {
    Ok(match key {
        Some(k) => (Some(k.clone()), false),
        None => match std::fs::read_to_string(dir.join(VERIFIER_KEY)) {
            Ok(text) => (Some(VerifierKey::parse(&text)?), true),
            Err(_) => (None, false),
        },
    })
}

/// The segment files of the data directory `dir`, which must have a segments folder.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let seg_dir = dir.join(SEGMENTS);
    if !seg_dir.is_dir() {
        return Err(Error::invalid(
            "data directory",
            format!("{} has no segments folder", dir.display()),
        ));
    }
    store::list_segments(&seg_dir)
}

/// What the segments hash to.
struct Hashed {
    /// The tree of all their records.
    compact: CompactRange,
    /// The root of the first `floor` records (`None` when they hold fewer).
    root_at_floor: Option<Hash>,
    /// The torn tail beyond the checkpoint, as reported.
    torn_tail: Option<String>,
}

/// Walks the segments ([`store::walk`]; `floor` is the stored checkpoint's size), hashing every
/// record.
fn hash_segments(segments: &[(u64, PathBuf)], floor: u64) -> Result<Hashed> {
    let mut compact = CompactRange::new();
    let mut root_at_floor = (floor == 0).then(|| compact.root());
    let mut hash = |_, _, _, leaf: &[u8]| {
        compact.push(leaf_hash(leaf));
        if compact.size() == floor {
            root_at_floor = Some(compact.root());
        }
        Ok(())
    };
    let walked = store::walk(segments, floor, &mut hash)?;
    let torn_tail = walked.last.and_then(|segment| {
        let bad = segment.torn?;
        Some(format!(
            "torn tail in {} at byte {} (record {}): {}; never acknowledged, cut on the next open",
            segment.path.display(),
            bad.offset,
            bad.index,
            bad.what
        ))
    });
    Ok(Hashed {
        compact,
        root_at_floor,
        torn_tail,
    })
}

/// Checks the stored checkpoint (text, size, root) against the hashed segments: they hold all
/// the records it covers, and those hash to its root. With a key, it is then opened (its
/// signature checked).
fn check_stored(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    (text, m, root_m): (String, u64, Hash),
    hashed: &Hashed,
    key: Option<&VerifierKey>,
) -> Result<Option<Checkpoint>> {
    let size = hashed.compact.size();
    if m > size {
        return Err(Error::CheckpointMismatch(format!(
            "the checkpoint covers {m} records but the segments hold {size}: record {size} is the first missing"
        )));
    }
    if hashed.root_at_floor != Some(root_m) {
        let hint = match first_differing_leaf(dir, segments, m) {
            Some(i) => {
                format!("; record index {i} differs from the hash the index recorded for it")
            }
            None => String::new(),
        };
        return Err(Error::CheckpointMismatch(format!(
            "records 0..{m} do not hash to the checkpoint's root: a record below index {m} was altered{hint}"
        )));
    }
    key.map(|key| Checkpoint::open(&text, key)).transpose()
}

/// Locates an altered record with the leaf hashes the sled index recorded when it was written
/// (a hint only: the index is not trusted, and it may be missing or locked by a running log).
fn first_differing_leaf(dir: &Path, segments: &[(u64, PathBuf)], m: u64) -> Option<u64> {
    let index_dir = dir.join(crate::log::INDEX);
    if !index_dir.is_dir() {
        return None;
    }
    let mut search = LeafSearch {
        index: Index::open_once(&index_dir).ok()?,
        below: m,
        found: None,
    };
    // A walk that fails (an unreadable segment) ends the search with what it found so far.
    let _ = store::walk(segments, m, &mut search);
    search.found
}

/// The search of [`first_differing_leaf`]: the first record below `below` whose leaf hash is not
/// the one the index recorded.
struct LeafSearch {
    index: Index,
    below: u64,
    found: Option<u64>,
}

impl Visit for LeafSearch {
    fn record(&mut self, i: u64, _: u64, _: u64, leaf: &[u8]) -> Result<()> {
        if self.found.is_none()
            && i < self.below
            && self.index.perfect(0, i).ok() != Some(leaf_hash(leaf))
        {
            self.found = Some(i);
        }
        Ok(())
    }

    /// The search ends with the segment it found the record in.
    fn stop(&mut self) -> bool {
        self.found.is_some()
    }
}

/// A transfer receipt (SPEC section 3): proves offline that the record `leaf` is entry
/// `log_index` of the log whose signed checkpoint it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transfer.
    pub transfer_id: String,
    /// The record's index.
    pub log_index: u64,
    /// The record's exact bytes (UTF-8 JSON), as a string.
    pub leaf: String,
    /// `leaf` parsed, for convenience; hashes are over `leaf`.
    pub record: serde_json::Value,
    /// base64 of `SHA-256(0x00 || leaf)`.
    pub leaf_hash: String,
    /// The signed checkpoint of the record's commit batch.
    pub checkpoint: String,
    /// base64 hashes of the inclusion proof to that checkpoint.
    pub inclusion_proof: Vec<String>,
    /// The upstream's HTTP status.
    pub upstream_status: Option<u16>,
}

impl Receipt {
    /// The receipt of an acknowledged append.
    pub fn new(
        transfer_id: &str,
        leaf: &[u8],
        appended: &Appended,
        upstream_status: Option<u16>,
    ) -> Result<Self> {
        let leaf = std::str::from_utf8(leaf)
            .map_err(|_| Error::InvalidRecord("leaf is not UTF-8".into()))?
            .to_owned();
        let record =
            serde_json::from_str(&leaf).map_err(|e| Error::InvalidRecord(e.to_string()))?;
        Ok(Self {
            transfer_id: transfer_id.to_owned(),
            log_index: appended.index,
            leaf,
            record,
            leaf_hash: B64.encode(appended.leaf_hash),
            checkpoint: appended.checkpoint.text().to_owned(),
            inclusion_proof: appended
                .inclusion_proof
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
            upstream_status,
        })
    }
}

/// Checks a receipt with the log's verifier key: the leaf hash, the record, the checkpoint's
/// signature and the inclusion proof. Returns the checkpoint.
pub fn verify_receipt(receipt: &Receipt, key: &VerifierKey) -> Result<Checkpoint> {
    let at = receipt.log_index;
    let bad = |why: String| Error::BadProof(format!("receipt of record {at}: {why}"));
    let hash = leaf_hash(receipt.leaf.as_bytes());
    if B64.encode(hash) != receipt.leaf_hash {
        return Err(bad("leaf_hash is not the hash of leaf".into()));
    }
    let record: serde_json::Value =
        serde_json::from_str(&receipt.leaf).map_err(|e| bad(format!("leaf is not JSON: {e}")))?;
    if record != receipt.record {
        return Err(bad("record differs from leaf".into()));
    }
    // `upstream_status` sits beside the leaf, outside every hash: where the record states one
    // (every `completed` outcome the gateway writes), the receipt's must be the same, or a
    // receipt could claim any status and still verify.
    if let (Some(claimed), Some(logged)) = (receipt.upstream_status, record.get("upstream_status"))
    {
        if logged.as_u64() != Some(claimed.into()) {
            return Err(bad("upstream_status differs from the record's".into()));
        }
    }
    if let Some(id) = record.get("transfer_id") {
        if id.as_str() != Some(receipt.transfer_id.as_str()) {
            return Err(bad("the record belongs to another transfer".into()));
        }
    }
    let cp = Checkpoint::open(&receipt.checkpoint, key)?;
    let proof = receipt
        .inclusion_proof
        .iter()
        .map(|h| B64.decode(h).ok().and_then(|h| Hash::try_from(h).ok()))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| bad("a proof hash is not 32 bytes of base64".into()))?;
    verify_inclusion(at, cp.size(), &hash, &proof, cp.root()).map_err(|e| bad(e.to_string()))?;
    Ok(cp)
}
