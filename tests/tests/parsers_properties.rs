//! The fuzz targets of `fuzz/` (transfer headers, record decoding, receipt verification, the
//! shipment bodies) as proptest properties in the default test suite, with small case counts:
//! what the long-running AFL targets check, every `cargo test` checks on a few hundred inputs.
//!
//! - Header parsing never panics; what it accepts holds what SPEC.md section 3 promises, and
//!   valid headers parse to exactly their values.
//! - `Record::from_leaf` never panics on any bytes; an accepted record encodes and decodes to
//!   itself (regression: floats did not, until serde_json's `float_roundtrip`).
//! - `verify_receipt` never panics, accepts a real receipt, and refuses every one-byte change of
//!   it that still parses as a different receipt (regression: a changed top-level
//!   `upstream_status`, which no hash covers, used to verify).
//! - The shipment body parsers (declaration and custody event) never panic, refuse only with
//!   `request.malformed_body`, and accept nothing beyond the documented bounds.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use loopgate::parse_transfer_headers;
use loopgate_audit::{Log, LogConfig, Receipt, Record, SigningKey, VerifierKey};
use loopgate_policy::ReasonCode;
use proptest::prelude::*;

/// Few cases: each property must stay well under 10 s in a debug build. `PROPTEST_CASES`
/// overrides the count for a longer run.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const NAMES: &[&str] = &[
    "loop-inventory-item",
    "loop-recipient",
    "loop-purpose",
    "loop-contract-filing",
    "loop-data-subjects",
    "content-length",
    "content-digest",
    "idempotency-key",
    "x-other",
];

/// A header value: mostly plausible text, sometimes any bytes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(String::into_bytes),
        "[0-9+-]{0,24}".prop_map(String::into_bytes),
        "sha-256=:[A-Za-z0-9+/=]{0,48}:(, [a-z0-9-]{1,8}=:[A-Za-z0-9+/=]{0,8}:)?"
            .prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn header_map(lines: &[(usize, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        // What http refuses (CR, LF, NUL) never reaches the gateway: hyper refuses the request.
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(HeaderName::from_static(NAMES[*name]), value);
        }
    }
    map
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn header_parsing_never_panics_and_accepts_only_valid_values(
        lines in prop::collection::vec((0..NAMES.len(), value()), 0..12)
    ) {
        match parse_transfer_headers(&header_map(&lines)) {
            Ok(parsed) => {
                for id in [&parsed.item, &parsed.recipient, &parsed.purpose] {
                    prop_assert!(!id.is_empty() && id.len() <= 256, "{:?}", id);
                    prop_assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{:?}", id);
                }
                prop_assert!(parsed.data_subjects.is_none_or(|n| n <= 10_000_000_000));
            }
            Err(problem) => {
                prop_assert!(matches!(
                    problem.code,
                    ReasonCode::RequestMissingHeader | ReasonCode::RequestMalformedHeader
                ));
                prop_assert!(problem.message.contains(problem.header), "{}", problem.message);
            }
        }
    }

    #[test]
    fn valid_headers_parse_to_their_values(
        item in "[!-~]{1,256}",
        recipient in "[!-~]{1,256}",
        purpose in "[!-~]{1,256}",
        subjects in proptest::option::of(0u64..=10_000_000_000),
        length in proptest::option::of(any::<u64>()),
        digest in proptest::option::of(any::<[u8; 32]>()),
    ) {
        let mut lines = vec![
            (0, item.clone().into_bytes()),
            (1, recipient.clone().into_bytes()),
            (2, purpose.clone().into_bytes()),
        ];
        if let Some(n) = subjects {
            lines.push((4, n.to_string().into_bytes()));
        }
        if let Some(n) = length {
            lines.push((5, n.to_string().into_bytes()));
        }
        if let Some(d) = digest {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(d);
            lines.push((6, format!("sha-256=:{b64}:").into_bytes()));
        }
        let parsed = parse_transfer_headers(&header_map(&lines)).unwrap();
        prop_assert_eq!(parsed.item, item);
        prop_assert_eq!(parsed.recipient, recipient);
        prop_assert_eq!(parsed.purpose, purpose);
        prop_assert_eq!(parsed.data_subjects, subjects);
        prop_assert_eq!(parsed.content_length, length);
        prop_assert_eq!(parsed.sha256, digest);
    }
}

/// Real leaves of each kind, as the gateway writes them (the fuzz seeds).
const LEAVES: &[&str] = &[
    include_str!("../../fuzz/in/record/decision-allow.json"),
    include_str!("../../fuzz/in/record/decision-deny.json"),
    include_str!("../../fuzz/in/record/outcome.json"),
    include_str!("../../fuzz/in/record/policy_change.json"),
];

/// A real leaf with `edits` one-byte changes: close enough to a record to get past the JSON
/// parser often, and into the validation.
fn mutated_leaf() -> impl Strategy<Value = Vec<u8>> {
    (
        0..LEAVES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(which, edits)| {
            let mut leaf = LEAVES[which].trim().as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(leaf.len());
                leaf[i] = byte;
            }
            leaf
        })
}

fn assert_round_trip(leaf: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(record) = Record::from_leaf(leaf) {
        let again = Record::from_leaf(&record.to_leaf().unwrap()).unwrap();
        prop_assert_eq!(&record, &again);
        let _ = record.index_terms();
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn record_decoding_never_panics_on_any_bytes(leaf in prop::collection::vec(any::<u8>(), 0..300)) {
        assert_round_trip(&leaf)?;
    }

    #[test]
    fn record_decoding_of_damaged_leaves_round_trips(leaf in mutated_leaf()) {
        assert_round_trip(&leaf)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Regression (fuzz/ `record`, fuzz/regressions/record/): serde_json's default float parser
    /// is off by one ulp for some numbers, so a decoded leaf encoded again was another record.
    #[test]
    fn records_with_any_numbers_round_trip(x in any::<f64>(), n in any::<i64>(), u in any::<u64>()) {
        let mut record: serde_json::Value = serde_json::from_str(LEAVES[2]).unwrap();
        record["x"] = serde_json::json!(x);
        record["n"] = serde_json::json!(n);
        record["u"] = serde_json::json!(u);
        assert_round_trip(&serde_json::to_vec(&record).unwrap())?;
    }
}

#[test]
fn the_fuzz_regressions_round_trip() {
    let dir = loopgate_tests::workspace_root().join("fuzz/regressions/record");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let leaf = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            Record::from_leaf(&leaf).is_ok(),
            "the regression input is a record"
        );
        assert_round_trip(&leaf).unwrap();
    }
}

#[test]
fn the_seed_leaves_are_records() {
    for leaf in LEAVES {
        Record::from_leaf(leaf.trim().as_bytes()).unwrap();
    }
}

/// A receipt of a real log (in a temporary directory) and its verifier key.
fn real_receipt() -> &'static (String, VerifierKey) {
    static RECEIPT: OnceLock<(String, VerifierKey)> = OnceLock::new();
    RECEIPT.get_or_init(|| {
        let dir = tempfile::TempDir::new().unwrap();
        let key = SigningKey::generate("loopgate.test/log").unwrap();
        let verifier = key.verifier();
        let log = Log::open(LogConfig::new(
            dir.path().join("data"),
            "loopgate.test/log",
            key,
        ))
        .unwrap();
        let rt = loopgate_tests::client::runtime();
        // A few other records first, so the proof has several hashes. (Not the outcome itself:
        // the same leaf at two indexes makes a receipt naming either index true.)
        for leaf in [LEAVES[0], LEAVES[1], LEAVES[3]] {
            rt.block_on(log.append(leaf.trim().as_bytes().to_vec()))
                .unwrap();
        }
        let leaf = LEAVES[2].trim().as_bytes();
        let appended = rt.block_on(log.append(leaf.to_vec())).unwrap();
        let record: serde_json::Value = serde_json::from_slice(leaf).unwrap();
        let transfer_id = record["transfer_id"].as_str().unwrap();
        let receipt = Receipt::new(transfer_id, leaf, &appended, Some(201)).unwrap();
        rt.block_on(log.shutdown()).unwrap();
        (serde_json::to_string(&receipt).unwrap(), verifier)
    })
}

#[test]
fn a_real_receipt_verifies() {
    let (text, key) = real_receipt();
    let receipt: Receipt = serde_json::from_str(text).unwrap();
    loopgate_audit::verify_receipt(&receipt, key).unwrap();
}

/// Regression: the top-level `upstream_status` is outside every hash, and a receipt claiming
/// another status than its record's used to verify.
#[test]
fn a_receipt_claiming_another_upstream_status_is_refused() {
    let (text, key) = real_receipt();
    let mut receipt: Receipt = serde_json::from_str(text).unwrap();
    receipt.upstream_status = Some(500);
    let refused = loopgate_audit::verify_receipt(&receipt, key).unwrap_err();
    assert!(refused.to_string().contains("upstream_status"), "{refused}");
    receipt.upstream_status = None;
    loopgate_audit::verify_receipt(&receipt, key).unwrap();
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn receipt_verification_refuses_every_changed_receipt(
        at in any::<prop::sample::Index>(),
        byte in 0x20u8..0x7f,
    ) {
        let (text, key) = real_receipt();
        let original: Receipt = serde_json::from_str(text).unwrap();
        let mut bytes = text.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let Ok(changed) = serde_json::from_slice::<Receipt>(&bytes) else {
            return Ok(()); // no longer a receipt at all
        };
        let verdict = loopgate_audit::verify_receipt(&changed, key);
        // Dropping `upstream_status`, `transfer_id` or `sha256_hex` (a changed field name is
        // an unknown field) claims less; everything else that changes must be refused.
        let restored = Receipt {
            upstream_status: changed.upstream_status.or(original.upstream_status),
            sha256_hex: changed.sha256_hex.clone().or(original.sha256_hex.clone()),
            transfer_id: changed.transfer_id.clone().or(original.transfer_id.clone()),
            ..changed.clone()
        };
        let claims_less = restored == original;
        if changed == original || claims_less {
            prop_assert!(verdict.is_ok());
        } else {
            prop_assert!(
                verdict.is_err(),
                "a changed receipt verified (byte {} -> {:?}): {}",
                i,
                byte as char,
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn receipt_verification_never_panics_on_any_json(
        text in "\\{(\"[a-z_]{1,16}\":(\"[ -~]{0,30}\"|[0-9]{1,5}|\\[\\]|null),){0,9}\"x\":0\\}",
    ) {
        let (_, key) = real_receipt();
        if let Ok(receipt) = serde_json::from_str::<Receipt>(&text) {
            let _ = loopgate_audit::verify_receipt(&receipt, key);
        }
    }

    #[test]
    fn shipment_bodies_parse_within_their_bounds_or_get_a_malformed_body(
        custody in any::<bool>(),
        fields in prop::collection::vec((0..SHIPMENT_KEYS.len(), json_value()), 0..10),
    ) {
        let body: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(key, value)| (SHIPMENT_KEYS[key].to_owned(), value))
            .collect();
        let text = serde_json::Value::Object(body).to_string();
        match loopgate::parse_shipment_body(custody, text.as_bytes()) {
            Ok(loopgate::ShipmentBody::Declaration { longest_id, .. }) => {
                prop_assert!(!custody);
                prop_assert!(longest_id <= loopgate::MAX_ID_CHARS);
            }
            Ok(loopgate::ShipmentBody::Event { seals, longest_text, .. }) => {
                prop_assert!(custody);
                prop_assert!(seals <= loopgate::MAX_SEALS);
                prop_assert!(longest_text <= loopgate::MAX_TEXT_CHARS);
            }
            Err((code, message)) => {
                prop_assert_eq!(code, ReasonCode::RequestMalformedBody);
                prop_assert!(!message.is_empty());
            }
        }
    }

    #[test]
    fn shipment_body_parsing_never_panics_on_any_bytes(
        custody in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Err((code, _)) = loopgate::parse_shipment_body(custody, &bytes) {
            prop_assert_eq!(code, ReasonCode::RequestMalformedBody);
        }
    }
}

/// The keys of shipment bodies, and one no endpoint takes.
const SHIPMENT_KEYS: &[&str] = &[
    "sample_item",
    "recipient",
    "quantity",
    "purpose",
    "carrier",
    "idempotency_key",
    "event",
    "at",
    "seal_ids",
    "customs_declaration",
    "facility",
    "project",
    "method",
    "certificate_sha256",
    "note",
    "colour",
];

/// A JSON value of any type, with events, instants, huge and negative numbers, and long texts
/// and lists among them.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    prop_oneof![
        prop::sample::select(vec![
            "sealed",
            "picked_up",
            "received",
            "destroyed",
            "flown"
        ])
        .prop_map(|e| json!(e)),
        Just(json!("2026-12-06T08:00:00Z")),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,20}".prop_map(|t| json!(t)),
        (0usize..1100).prop_map(|n| json!("x".repeat(n))),
        prop::collection::vec("[A-Z0-9-]{0,12}", 0..120).prop_map(|v| json!(v)),
        Just(Value::Null),
        any::<bool>().prop_map(|b| json!(b)),
    ]
}
