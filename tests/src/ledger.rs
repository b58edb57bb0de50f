//! Reading and checking the log of a stopped gateway's dev folder in process, with the audit
//! crate, as `loopgate audit verify` does: the leaves' exact bytes, the records, the outcome of
//! every admission (DESIGN.md invariant 2), and that a later tree extends every checkpoint seen
//! before (invariant 4). The crash and fault suites share these checks.
//!
//! ```text
//! let ledger = Ledger::open(folder.path());
//! ledger.assert_every_admission_has_one_outcome();
//! ledger.assert_extends(&checkpoints_seen_so_far);
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use loopgate_audit::{Checkpoint, CompactRange, Hash, Log, LogConfig, SigningKey, VerifierKey};
use serde_json::Value;

/// How an admitted transfer ended, as the log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Index of its `allow` decision record.
    pub decision: u64,
    /// Index and parsed record of each of its outcome records (exactly one when sound).
    pub outcomes: Vec<(u64, Value)>,
}

impl Admission {
    /// `completed`, `failed` or `interrupted` of its only outcome.
    pub fn ending(&self) -> Option<&str> {
        match self.outcomes.as_slice() {
            [(_, record)] => record["outcome"].as_str(),
            _ => None,
        }
    }
}

/// The whole log of a dev folder whose gateway is not running.
pub struct Ledger {
    /// Every leaf, in log order: the records' exact bytes.
    pub leaves: Vec<Vec<u8>>,
    /// The same, parsed.
    pub records: Vec<Value>,
    /// The latest signed checkpoint.
    pub checkpoint: Checkpoint,
    /// The log's verifier key (`log.pub`).
    pub key: VerifierKey,
}

impl Ledger {
    /// Opens the log of the dev folder `dir` (`.../loopgate-dev`) with the audit crate. The
    /// gateway must be stopped: the log has one writer.
    pub fn open(dir: &Path) -> Self {
        let signing = std::fs::read_to_string(dir.join("log.key")).expect("log.key");
        let signing = SigningKey::parse(signing.trim()).expect("a signing key");
        let key = signing.verifier();
        let config = LogConfig::new(dir.join("data"), loopgate::dev::ORIGIN, signing);
        let log = Log::open(config).expect("the log opens");
        let leaves: Vec<Vec<u8>> = (0..log.size())
            .map(|i| log.read(i).expect("a stored record"))
            .collect();
        let records = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                serde_json::from_slice(leaf).unwrap_or_else(|e| panic!("record {i}: {e}"))
            })
            .collect();
        let checkpoint = (*log.latest_checkpoint()).clone();
        // Proofs from the log's own index: the latest tree extends its earlier sizes.
        let size = log.size();
        for from in [1, size / 3, size / 2, size.saturating_sub(1)] {
            if from == 0 || from >= size {
                continue;
            }
            let proof = log
                .consistency_proof(from, size)
                .expect("a consistency proof");
            let old = log.root(from).expect("an earlier root");
            loopgate_audit::verify_consistency(from, size, &old, checkpoint.root(), &proof)
                .unwrap_or_else(|e| panic!("the log's consistency proof {from}..{size}: {e}"));
        }
        Self {
            leaves,
            records,
            checkpoint,
            key,
        }
    }

    /// Every `allow` decision, by transfer id, with the outcome records that name it.
    pub fn admissions(&self) -> BTreeMap<String, Admission> {
        let mut admitted: BTreeMap<String, Admission> = BTreeMap::new();
        for (i, record) in self.records.iter().enumerate() {
            let id = record["transfer_id"].as_str().unwrap_or("").to_owned();
            match record["kind"].as_str() {
                Some("decision") if record["decision"] == "allow" => {
                    let earlier = admitted.insert(
                        id.clone(),
                        Admission {
                            decision: i as u64,
                            outcomes: Vec::new(),
                        },
                    );
                    assert!(
                        earlier.is_none(),
                        "transfer {id} admitted twice (record {i})"
                    );
                }
                Some("outcome") => match admitted.get_mut(&id) {
                    Some(admission) => admission.outcomes.push((i as u64, record.clone())),
                    None => panic!("record {i}: an outcome with no earlier admission: {record}"),
                },
                _ => {}
            }
        }
        admitted
    }

    /// DESIGN.md invariant 2: every admitted transfer has exactly one outcome, `completed`,
    /// `failed` or `interrupted`; an `interrupted` one was written by recovery (it follows the
    /// `system` record of a start, or of a log that resumed after a failure in the same process,
    /// with nothing but other recovered outcomes between).
    pub fn assert_every_admission_has_one_outcome(&self) -> BTreeMap<String, Admission> {
        let admitted = self.admissions();
        for (id, admission) in &admitted {
            let [(at, outcome)] = admission.outcomes.as_slice() else {
                panic!(
                    "transfer {id} has {} outcome records: {:?}",
                    admission.outcomes.len(),
                    admission.outcomes
                );
            };
            let ending = outcome["outcome"].as_str().unwrap_or("");
            assert!(
                ["completed", "failed", "interrupted"].contains(&ending),
                "transfer {id}: outcome {ending:?}"
            );
            if ending == "interrupted" {
                let start = self.records[..*at as usize]
                    .iter()
                    .rposition(|r| r["kind"] != "outcome" || r["outcome"] != "interrupted")
                    .expect("a record before the recovered outcome");
                let marker = &self.records[start];
                // A start's recovery, or a log that resumed in the same process after a failure.
                assert!(
                    marker["kind"] == "system"
                        && (marker["event"] == "start" || marker["event"] == "resumed"),
                    "transfer {id}: `interrupted` (record {at}) was not written by recovery at a start or a resumption: {marker}"
                );
            }
        }
        admitted
    }

    /// The leaf at `index`, as text (receipts carry it as a JSON string).
    pub fn leaf_text(&self, index: u64) -> Option<&str> {
        let leaf = self.leaves.get(usize::try_from(index).ok()?)?;
        std::str::from_utf8(leaf).ok()
    }

    /// DESIGN.md invariant 4: every checkpoint in `seen` (signed note texts, from receipts or
    /// earlier runs) verifies with the log's key and its root is the root of the first `size`
    /// leaves of this log, recomputed from the leaves (so the current tree extends it), and the
    /// latest checkpoint is the root of all of them.
    pub fn assert_extends(&self, seen: &[String]) {
        let mut wanted: BTreeMap<u64, Vec<Hash>> = BTreeMap::new();
        for text in seen {
            let cp = Checkpoint::open(text, &self.key).unwrap_or_else(|e| {
                panic!("a checkpoint seen before does not verify: {e}\n{text}")
            });
            assert!(
                cp.size() <= self.leaves.len() as u64,
                "the log shrank below a checkpoint seen before: {} < {}",
                self.leaves.len(),
                cp.size()
            );
            wanted.entry(cp.size()).or_default().push(*cp.root());
        }
        let latest = Checkpoint::open(self.checkpoint.text(), &self.key).expect("latest verifies");
        assert_eq!(
            latest.size(),
            self.leaves.len() as u64,
            "latest checkpoint size"
        );
        wanted
            .entry(latest.size())
            .or_default()
            .push(*latest.root());
        let mut range = CompactRange::new();
        if let Some(roots) = wanted.get(&0) {
            assert!(roots.iter().all(|r| *r == loopgate_audit::empty_root()));
        }
        for leaf in &self.leaves {
            range.push(loopgate_audit::leaf_hash(leaf));
            if let Some(roots) = wanted.get(&range.size()) {
                let root = range.root();
                assert!(
                    roots.iter().all(|r| *r == root),
                    "a checkpoint of size {} seen before is not a prefix of this log",
                    range.size()
                );
            }
        }
    }
}
