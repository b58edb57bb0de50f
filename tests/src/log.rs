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
