//! Receipts (SPEC.md section 3): a record, its hash, a signed checkpoint and the inclusion proof
//! that leads from one to the other; verifiable offline with the log's public key.
//!
//! Serialised straight from borrowed data: the record is the leaf's own bytes embedded as a raw
//! JSON value, not parsed into a `serde_json::Value` and written out again (that was about 6% of
//! the gateway's CPU on small transfers). The keys come out in alphabetical order, as they did
//! when these were `Value` maps.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Checkpoint, Hash, leaf_hash};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// Base64 (standard, padded) of a 32-byte hash: 44 characters.
const HASH_B64: usize = 44;

/// A hash serialised as its base64 text, encoded on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Base64Hash(pub(crate) Hash);

impl Serialize for Base64Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; HASH_B64];
        let written = STANDARD
            .encode_slice(self.0, &mut text)
            .map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&text[..written]).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

/// An inclusion proof serialised as a list of base64 hashes.
#[derive(Clone, Copy)]
pub(crate) struct Proof<'a>(pub(crate) &'a [Hash]);

impl Serialize for Proof<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|h| Base64Hash(*h)))
    }
}

/// `{"leaf", "leaf_hash", "log_index", "record"}` for one record.
#[derive(Serialize)]
pub(crate) struct Entry<'a> {
    /// The record's exact bytes, as a JSON string (lossy for bytes that are not UTF-8).
    leaf: Cow<'a, str>,
    leaf_hash: Base64Hash,
    log_index: u64,
    /// `leaf` as JSON, embedded as it is; `null` when it is not valid UTF-8 JSON.
    pub(crate) record: Option<&'a RawValue>,
}

/// The record `leaf` at `index`; `leaf_hash` is `leaf_hash(leaf)` when the caller has it (an
/// append returns it), else it is computed.
pub(crate) fn entry(index: u64, leaf: &[u8]) -> Entry<'_> {
    entry_hashed(index, leaf, leaf_hash(leaf))
}

fn entry_hashed(index: u64, leaf: &[u8], hash: Hash) -> Entry<'_> {
    // The log writes compact JSON, so the leaf is its own serialisation. Whatever
    // `serde_json::from_slice::<Value>` refused before is refused here too (not UTF-8, not one
    // JSON value, trailing bytes) and gives `null`.
    let record = std::str::from_utf8(leaf)
        .ok()
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
    Entry {
        leaf: String::from_utf8_lossy(leaf),
        leaf_hash: Base64Hash(hash),
        log_index: index,
        record,
    }
}

/// A record with the signed checkpoint and the inclusion proof into it: `{"checkpoint",
/// "inclusion_proof", "leaf", "leaf_hash", "log_index", "record"}`, and for a transfer's receipt
/// also `"transfer_id"` and (not for lifecycle events) `"upstream_status"`.
#[derive(Serialize)]
pub(crate) struct Receipt<'a> {
    checkpoint: &'a str,
    /// With `[[witness]]` configured: whether `checkpoint` carries the quorum's cosignatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    cosigned: Option<bool>,
    /// A custody receipt's discrepancy flags (rule S11).
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<&'a [loopgate_policy::CustodyFlag]>,
    inclusion_proof: Proof<'a>,
    #[serde(flatten)]
    entry: Entry<'a>,
    /// The lowercase hex of a `completed` outcome's `sha256` (the body's SHA-256, which the
    /// record gives in base64), to compare with `sha256sum`'s output.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transfer_id: Option<&'a str>,
    /// Outer `None`: no such key; `Some(None)`: `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_status: Option<Option<u16>>,
}

impl<'a> Receipt<'a> {
    /// The record `leaf` at `index` with `leaf_hash` (`None`: computed), proven into
    /// `checkpoint` by `proof`; no `transfer_id`, no `upstream_status`.
    pub(crate) fn proven(
        index: u64,
        leaf: &'a [u8],
        hash: Option<Hash>,
        checkpoint: &'a Checkpoint,
        proof: &'a [Hash],
    ) -> Self {
        let hash = hash.unwrap_or_else(|| leaf_hash(leaf));
        Receipt {
            checkpoint: checkpoint.text(),
            cosigned: None,
            flags: None,
            inclusion_proof: Proof(proof),
            entry: entry_hashed(index, leaf, hash),
            sha256_hex: None,
            shipment_id: None,
            transfer_id: None,
            upstream_status: None,
        }
    }

    /// With witnesses: the cosigned checkpoint and the proof into it, or `"cosigned": false`
    /// (the log's checkpoint kept). Without: unchanged.
    pub(crate) fn witnessed(mut self, witnessed: &'a crate::cosign::Witnessed) -> Self {
        use crate::cosign::Witnessed;
        match witnessed {
            Witnessed::Off => {}
            Witnessed::NotCosigned => self.cosigned = Some(false),
            Witnessed::Cosigned { cosigned, proof } => {
                self.checkpoint = &cosigned.text;
                self.inclusion_proof = Proof(proof);
                self.cosigned = Some(true);
            }
        }
        self
    }

    /// Names the transfer (`"transfer_id"`).
    pub(crate) fn transfer(mut self, transfer_id: &'a str) -> Self {
        self.transfer_id = Some(transfer_id);
        self
    }

    /// Names the shipment (`"shipment_id"`).
    pub(crate) fn shipment(mut self, shipment_id: &'a str) -> Self {
        self.shipment_id = Some(shipment_id);
        self
    }

    /// Adds a custody record's discrepancy `"flags"`.
    pub(crate) fn flags(mut self, flags: &'a [loopgate_policy::CustodyFlag]) -> Self {
        self.flags = Some(flags);
        self
    }

    /// Adds `"sha256_hex"`: `sha256` (a `completed` outcome's body digest, which its record
    /// holds) in hex.
    pub(crate) fn body_sha256(mut self, sha256: &[u8; 32]) -> Self {
        self.sha256_hex = Some(crate::transfer::id::hex(sha256));
        self
    }

    /// Adds `"upstream_status"` (`null` for `None`).
    pub(crate) fn upstream_status(mut self, status: Option<u16>) -> Self {
        self.upstream_status = Some(status);
        self
    }

    /// The JSON bytes of the receipt.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        to_vec(self)
    }
}

/// The transfer receipt JSON for the record `leaf` at `index`, proven into `checkpoint` by
/// `proof`: `{"checkpoint", "inclusion_proof", "leaf", "leaf_hash", "log_index", "record",
/// "transfer_id", "upstream_status"}`.
pub(crate) fn receipt<'a>(
    transfer_id: &'a str,
    index: u64,
    leaf: &'a [u8],
    hash: Option<Hash>,
    checkpoint: &'a Checkpoint,
    proof: &'a [Hash],
    upstream_status: Option<u16>,
) -> Receipt<'a> {
    Receipt::proven(index, leaf, hash, checkpoint, proof)
        .transfer(transfer_id)
        .upstream_status(upstream_status)
}

/// `value` as JSON bytes. Serialising these types cannot fail (string keys, no maps with other
/// keys, finite numbers only), so a failure is a bug: logged, and `null` is sent.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise a JSON answer");
        b"null".to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopgate_audit::SigningKey;
    use serde_json::{Value, json};

    /// What `entry` produced before it serialised borrowed data: the leaf parsed into a `Value`.
    fn old_entry(index: u64, leaf: &[u8]) -> Value {
        let text = String::from_utf8_lossy(leaf);
        let record: Value = serde_json::from_slice(leaf).unwrap_or(Value::Null);
        json!({
            "log_index": index,
            "leaf": text,
            "leaf_hash": STANDARD.encode(leaf_hash(leaf)),
            "record": record,
        })
    }

    /// What `receipt` produced before, with the keys the callers added or removed.
    fn old_receipt(
        transfer_id: Option<&str>,
        index: u64,
        leaf: &[u8],
        checkpoint: &Checkpoint,
        proof: &[Hash],
        upstream_status: Option<Option<u16>>,
    ) -> Value {
        let mut body = old_entry(index, leaf);
        body["checkpoint"] = json!(checkpoint.text());
        body["inclusion_proof"] =
            json!(proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>());
        if let Some(id) = transfer_id {
            body["transfer_id"] = json!(id);
        }
        if let Some(status) = upstream_status {
            body["upstream_status"] = json!(status);
        }
        body
    }

    const SAMPLE: &str = r#"{"kind":"outcome","time":"2026-11-25T08:00:00.123456Z","transfer_id":"00112233445566778899aabbccddeeff","sender":"sz-genomics","recipient":"hk-biolab","item":"INV-NP-001","outcome":"completed","reason":null,"details":{"size":1024,"sha256":"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=","upstream_status":201,"ratio":0.30000000000000004,"big":18446744073709551615,"neg":-7,"nested":{"z":[1,2.5e-7,true,null],"a":"\u00e9\n\"q\""}}}"#;

    fn leaves() -> Vec<Vec<u8>> {
        vec![
            SAMPLE.as_bytes().to_vec(),
            // Not JSON, not one value, not UTF-8: `record` is null.
            b"not json".to_vec(),
            b"{\"a\":1} {\"b\":2}".to_vec(),
            b"{\"a\":\"\xff\xfe\"}".to_vec(),
            Vec::new(),
        ]
    }

    fn parsed(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn entries_are_json_equal_to_the_parsed_and_rebuilt_ones() {
        for (index, leaf) in leaves().iter().enumerate() {
            let index = index as u64 * 1000 + 7;
            let new = to_vec(&entry(index, leaf));
            assert_eq!(parsed(&new), old_entry(index, leaf), "{leaf:?}");
        }
        let invalid = parsed(&to_vec(&entry(3, b"not json")));
        assert_eq!(invalid["record"], Value::Null);
        let sample = parsed(&to_vec(&entry(3, SAMPLE.as_bytes())));
        assert_eq!(sample["record"]["details"]["upstream_status"], 201);
    }

    /// The object's top-level keys in the order the bytes have them.
    fn top_keys(bytes: &[u8]) -> Vec<String> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(keys)
            }
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde::Deserializer::deserialize_map(&mut de, Keys).expect("an object")
    }

    #[test]
    fn receipts_are_json_equal_to_the_parsed_and_rebuilt_ones() {
        let key = SigningKey::generate("loopgate.test").expect("a key");
        let checkpoint = Checkpoint::sign("loopgate.test", 9, [7; 32], &key).expect("signed");
        let proof: Vec<Hash> = (0..4u8).map(|i| [i; 32]).collect();
        for (index, leaf) in leaves().iter().enumerate() {
            let index = index as u64;
            let hash = Some(leaf_hash(leaf));
            let cases: [(Receipt<'_>, Value); 5] = [
                (
                    receipt("ab12", index, leaf, None, &checkpoint, &proof, Some(201)),
                    old_receipt(
                        Some("ab12"),
                        index,
                        leaf,
                        &checkpoint,
                        &proof,
                        Some(Some(201)),
                    ),
                ),
                (
                    receipt("ab12", index, leaf, hash, &checkpoint, &proof, None),
                    old_receipt(Some("ab12"), index, leaf, &checkpoint, &proof, Some(None)),
                ),
                (
                    Receipt::proven(index, leaf, hash, &checkpoint, &proof).transfer("ab12"),
                    old_receipt(Some("ab12"), index, leaf, &checkpoint, &proof, None),
                ),
                (
                    Receipt::proven(index, leaf, None, &checkpoint, &proof),
                    old_receipt(None, index, leaf, &checkpoint, &proof, None),
                ),
                (
                    Receipt::proven(index, leaf, None, &checkpoint, &[]),
                    old_receipt(None, index, leaf, &checkpoint, &[], None),
                ),
            ];
            for (new, old) in cases {
                let bytes = new.to_vec();
                assert_eq!(parsed(&bytes), old, "{}", String::from_utf8_lossy(&bytes));
                // The keys stay in the order the `Value` maps had: alphabetical.
                let keys = top_keys(&bytes);
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(keys, sorted);
            }
        }
        assert_eq!(
            top_keys(&to_vec(&entry(1, SAMPLE.as_bytes()))),
            ["leaf", "leaf_hash", "log_index", "record"]
        );
    }
}
