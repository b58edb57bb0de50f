//! Direct access to a stopped gateway's log, for tests that need many records fast: appending
//! valid records through the audit crate (group commit, as the gateway does) is far quicker than
//! making each one a transfer over HTTPS. The gateway must be stopped (its sled store is locked
//! while it runs); the next start indexes and scans them like any other record.

use loopgate_audit::{Log, LogConfig, Record, SigningKey, Verdict};
use time::OffsetDateTime;

use crate::client::runtime;
use crate::gateway::Folder;

/// Appends to the gateway log of the dev folder `folder`: opens it with the folder's key and
/// origin, as the gateway would.
fn open(folder: &Folder) -> Log {
    let key = std::fs::read_to_string(folder.path().join("log.key")).expect("log.key");
    let key = SigningKey::parse(key.trim()).expect("a signing key");
    let config = LogConfig::new(folder.path().join("data"), loopgate::dev::ORIGIN, key);
    Log::open(config).expect("the log opens")
}

/// A denied decision record (no outcome follows a denial, so recovery leaves it alone), about
/// 400 bytes, numbered `i` in its transfer id and note.
pub fn denial(i: u64, at: OffsetDateTime) -> Vec<u8> {
    let id = format!("{i:032x}");
    let mut record = Record::decision(
        at,
        &id,
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some("INV-NP-001"),
        Verdict::Deny,
        Some("inventory.purpose_not_allowed"),
    )
    .expect("a decision record");
    let details = [
        ("purpose", serde_json::json!("marketing")),
        ("rule", serde_json::json!(6)),
        ("policy_version", serde_json::json!(0)),
        (
            "note",
            serde_json::json!(format!("synthetic record {i} {}", "-".repeat(150))),
        ),
    ];
    for (key, value) in details {
        record.details.insert(key.to_owned(), value);
    }
    record.to_leaf().expect("a valid leaf")
}

/// Appends `count` leaves made by `leaf(i)` to the stopped gateway's log, 512 in flight at a
/// time; returns the log's size afterwards.
pub fn append(folder: &Folder, count: u64, leaf: impl Fn(u64) -> Vec<u8>) -> u64 {
    let log = open(folder);
    runtime().block_on(async {
        let mut next = 0;
        while next < count {
            let batch: Vec<_> = (next..count.min(next + 512))
                .map(|i| tokio::spawn(log.append(leaf(i))))
                .collect();
            next += batch.len() as u64;
            for task in batch {
                task.await
                    .expect("the append task")
                    .expect("a durable append");
            }
        }
        let size = log.size();
        log.shutdown().await.expect("the log shuts down");
        size
    })
}

/// The records of one segment file as (log index, byte offset of the frame): the layout of
/// `audit/README.md` (a 16-byte segment header, then per record a 24-byte frame header whose
/// first 4 bytes are the leaf's length and bytes 8..16 its log index, then the leaf; the active
/// segment ends in preallocated zeros).
fn frames(segment: &std::path::Path) -> Vec<(u64, u64)> {
    let bytes = std::fs::read(segment).expect("a segment file");
    let mut at = 16;
    let mut out = Vec::new();
    while at + 24 <= bytes.len() && bytes[at..at + 24].iter().any(|&b| b != 0) {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let index = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        if at + 24 + len > bytes.len() {
            break;
        }
        out.push((index, at as u64));
        at += 24 + len;
    }
    out
}

/// Cuts the stopped gateway's log just before record `index`, at a frame boundary, as an
/// attacker who knows the format would: later segments removed, its segment truncated where
/// that record's frame starts. What is left is a well-formed log of `index` records.
pub fn cut_before(folder: &Folder, index: u64) {
    let dir = folder.path().join("data/segments");
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .expect("data/segments")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    segments.sort();
    let (at, segment) = segments
        .iter()
        .enumerate()
        .find_map(|(i, s)| {
            frames(s)
                .into_iter()
                .find(|(record, _)| *record == index)
                .map(|(_, offset)| (i, (s.clone(), offset)))
        })
        .unwrap_or_else(|| panic!("record {index} is in no segment"));
    for later in &segments[at + 1..] {
        std::fs::remove_file(later).expect("remove a later segment");
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment.0)
        .expect("open the segment");
    file.set_len(segment.1).expect("cut the segment");
}
