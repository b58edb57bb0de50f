//! Receipts (SPEC.md section 3): a record, its hash, a signed checkpoint and the inclusion proof
//! that leads from one to the other; verifiable offline with the log's public key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Checkpoint, Hash, leaf_hash};
use serde_json::{Value, json};

/// The receipt JSON for the record `leaf` at `index`, proven into `checkpoint` by `proof`.
pub(crate) fn receipt(
    transfer_id: &str,
    index: u64,
    leaf: &[u8],
    checkpoint: &Checkpoint,
    proof: &[Hash],
    upstream_status: Option<u16>,
) -> Value {
    let mut body = entry(index, leaf);
    body["transfer_id"] = json!(transfer_id);
    body["checkpoint"] = json!(checkpoint.text());
    body["inclusion_proof"] = json!(proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>());
    body["upstream_status"] = json!(upstream_status);
    body
}

/// `{"log_index", "leaf", "leaf_hash", "record"}` for one record.
pub(crate) fn entry(index: u64, leaf: &[u8]) -> Value {
    let text = String::from_utf8_lossy(leaf);
    let record: Value = serde_json::from_slice(leaf).unwrap_or(Value::Null);
    json!({
        "log_index": index,
        "leaf": text,
        "leaf_hash": STANDARD.encode(leaf_hash(leaf)),
        "record": record,
    })
}
