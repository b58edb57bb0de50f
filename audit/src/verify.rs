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
///
/// The segments must hold at least as many records as the stored checkpoint covers, or as the
/// index remembers the log has signed (when `dir/index` can be opened: not while a running log
/// holds it), and the records below the stored checkpoint's size must hash to its root. A
/// directory whose checkpoint and index were both removed cannot tell that records were cut
/// from its end; [`verify_dir_against`] with a checkpoint kept elsewhere can.
pub fn verify_dir(dir: &Path, key: Option<&VerifierKey>) -> Result<Report> {
    verify(dir, key, None)
}

/// Verifies the data directory `dir` as [`verify_dir`] does (with `key`), and against
/// `checkpoint`: the text of a signed checkpoint kept outside the directory (by a regulator, an
/// auditor, a receipt), which `key` must verify. The segments must hold at least its size
/// (else [`Error::CheckpointMismatch`] naming the first missing record), their first records
/// must hash to its root (else [`Error::CheckpointMismatch`] saying so, with the first altered
/// record when the index can tell), and a damaged frame below its size is [`Error::Corrupt`],
/// never a torn tail. A bad signature is [`Error::BadCheckpoint`].
pub fn verify_dir_against(dir: &Path, key: &VerifierKey, checkpoint: &str) -> Result<Report> {
    let given = Checkpoint::open(checkpoint, key)?;
    verify(dir, Some(key), Some(&given))
}

/// [`verify_dir`], and against the `given` checkpoint when there is one.
fn verify(dir: &Path, key: Option<&VerifierKey>, given: Option<&Checkpoint>) -> Result<Report> {
    let (key, key_from_data_dir) = load_key(dir, key)?;
    let stored = crate::log::read_stored_checkpoint(&dir.join(CHECKPOINT))?;
    let index = open_index(dir);
    let remembered = index.as_ref().and_then(|i| i.signed().ok()).unwrap_or(0);
    let stored_size = stored.as_ref().map(|s| s.1);
    let given_size = given.map_or(0, Checkpoint::size);
    // Records below any checkpoint the log signed were acknowledged: damage there is never a
    // torn tail.
    let floor = remembered.max(stored_size.unwrap_or(0)).max(given_size);
    let segments = list_segments(dir)?;
    let hashed = hash_segments(&segments, floor, [stored_size.unwrap_or(0), given_size])?;
    let size = hashed.compact.size();
    // Every blob a record names is there, whole (its record's hash covers its digest).
    for (index, blob) in &hashed.blobs {
        crate::blob::get_blob(dir, blob).map_err(|e| match e {
            Error::BadBlob { path, what } => Error::BadBlob {
                path,
                what: format!("{what} (named by record {index})"),
            },
            other => other,
        })?;
    }
    if let Some(cp) = given {
        let root = (hashed.roots[1].as_ref(), cp.root());
        check_prefix(cp.size(), root, size, "the checkpoint given", || {
            first_differing_leaf(index.as_ref(), &segments, cp.size())
        })?;
    }
    let checkpoint = match stored {
        Some((text, m, root_m)) => {
            let root = (hashed.roots[0].as_ref(), &root_m);
            check_prefix(m, root, size, "the stored checkpoint", || {
                first_differing_leaf(index.as_ref(), &segments, m)
            })?;
            key.as_ref()
                .map(|key| Checkpoint::open(&text, key))
                .transpose()?
        }
        None => None,
    };
    if remembered > size {
        let evidence = format!(
            "the index {} remembers it; the stored checkpoint {}",
            dir.join(crate::log::INDEX).display(),
            stored_size.map_or("is missing".to_owned(), |m| format!("covers only {m}"))
        );
        return Err(Error::missing_records(remembered, size, &evidence, ""));
    }
    Ok(Report {
        size,
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

/// The directory's index, when there is one and no running log holds it. Never trusted to
/// vouch for anything: it only remembers how many records the log signed (so that records cut
/// with the stored checkpoint are still found missing) and the leaf hashes that locate an
/// altered record.
fn open_index(dir: &Path) -> Option<Index> {
    let index_dir = dir.join(crate::log::INDEX);
    if !index_dir.is_dir() {
        return None;
    }
    Index::open_once(&index_dir).ok()
}

/// What the segments hash to.
struct Hashed {
    /// The tree of all their records.
    compact: CompactRange,
    /// The roots of the first records at each of the sizes asked for (`None` when they hold
    /// fewer).
    roots: [Option<Hash>; 2],
    /// The torn tail beyond the checkpoint, as reported.
    torn_tail: Option<String>,
    /// The blobs the records name, with the index of the record naming each.
    blobs: Vec<(u64, crate::blob::BlobRef)>,
}

/// Walks the segments ([`store::walk`]; records below `floor` were acknowledged), hashing every
/// record, and keeps the roots of the trees of the sizes `at`.
fn hash_segments(segments: &[(u64, PathBuf)], floor: u64, at: [u64; 2]) -> Result<Hashed> {
    let mut compact = CompactRange::new();
    let mut roots = at.map(|m| (m == 0).then(|| compact.root()));
    let mut blobs = Vec::new();
    let mut hash = |index: u64, _, _, leaf: &[u8]| {
        for blob in crate::blob::named(leaf).map_err(|e| Error::BadBlob {
            path: PathBuf::from(crate::blob::BLOBS),
            what: format!("record {index} names its blobs badly: {e}"),
        })? {
            blobs.push((index, blob));
        }
        compact.push(leaf_hash(leaf));
        for (root, m) in roots.iter_mut().zip(at) {
            if compact.size() == m {
                *root = Some(compact.root());
            }
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
        roots,
        torn_tail,
        blobs,
    })
}

/// Checks a checkpoint of `m` records (named `what`) against segments holding `size`: they hold
/// all the records it covers, and those hash to its root (`root`: what they hash to, and the
/// checkpoint's). `altered` locates the first altered record, if it can.
fn check_prefix(
    m: u64,
    (hashed, root_m): (Option<&Hash>, &Hash),
    size: u64,
    what: &str,
    altered: impl FnOnce() -> Option<u64>,
) -> Result<()> {
    if m > size {
        return Err(Error::missing_records(
            m,
            size,
            &format!("{what} covers them"),
            "",
        ));
    }
    if hashed != Some(root_m) {
        let hint = match altered() {
            Some(i) => {
                format!("; record index {i} differs from the hash the index recorded for it")
            }
            None => String::new(),
        };
        return Err(Error::CheckpointMismatch(format!(
            "records 0..{m} do not hash to the root of {what}: a record below index {m} was \
             altered{hint}"
        )));
    }
    Ok(())
}

/// Locates an altered record with the leaf hashes the sled index recorded when it was written
/// (a hint only: the index is not trusted, and it may be missing or locked by a running log).
fn first_differing_leaf(index: Option<&Index>, segments: &[(u64, PathBuf)], m: u64) -> Option<u64> {
    let mut search = LeafSearch {
        index: index?.clone(),
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

/// A receipt (SPEC section 3) of a transfer's or a shipment's record: proves offline that the record `leaf` is entry
/// `log_index` of the log whose signed checkpoint it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transfer, for a transfer's receipt (its record's `transfer_id` must be this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    /// The shipment, for a shipment's receipt (its record's `shipment_id` must be this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<String>,
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
    /// Hex of the record's `sha256` (a `completed` outcome's body digest, base64 in the
    /// record), for comparing with `sha256sum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_hex: Option<String>,
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
            transfer_id: Some(transfer_id.to_owned()),
            shipment_id: None,
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
            sha256_hex: None,
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
    // So does `sha256_hex`: it must be the record's `sha256` in hex, and a record without a
    // digest has none to name.
    if let Some(claimed) = &receipt.sha256_hex {
        let logged = record
            .get("sha256")
            .and_then(|d| d.as_str())
            .and_then(|d| B64.decode(d).ok())
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        if logged.as_deref() != Some(claimed.as_str()) {
            return Err(bad("sha256_hex is not the record's sha256".into()));
        }
    }
    // What the receipt names beside the leaf must be what the record says.
    for (key, named, what) in [
        ("transfer_id", &receipt.transfer_id, "transfer"),
        ("shipment_id", &receipt.shipment_id, "shipment"),
    ] {
        if let (Some(logged), Some(named)) = (record.get(key), named) {
            if logged.as_str() != Some(named.as_str()) {
                return Err(bad(format!("the record belongs to another {what}")));
            }
        }
    }
    let cp = Checkpoint::open(&receipt.checkpoint, key)?;
    let proof = receipt
        .inclusion_proof
        .iter()
        .map(|h| B64.decode(h).ok().and_then(|h| Hash::try_from(h).ok()))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| bad("a proof hash is not 32 bytes of base64".into()))?;
    verify_inclusion(at, cp.size(), &hash, &proof, cp.root()).map_err(|e| match e {
        Error::BadProof(why) => bad(why),
        other => bad(other.to_string()),
    })?;
    Ok(cp)
}
