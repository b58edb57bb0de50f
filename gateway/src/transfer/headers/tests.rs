use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

const BASE: &[(&str, &[u8])] = &[
    ("loop-inventory-item", b"INV-PI-001"),
    ("loop-recipient", b"hk-biolab"),
    ("loop-purpose", b"research.cohort_study"),
];

fn with(extra: &[(&'static str, &'static [u8])]) -> HeaderMap {
    let mut all = BASE.to_vec();
    all.extend_from_slice(extra);
    headers(&all)
}

fn code_of(map: &HeaderMap) -> (ReasonCode, &'static str) {
    let problem = parse(map).unwrap_err();
    (problem.code, problem.header)
}

#[test]
fn complete_headers_parse() {
    // SHA-256 of "abc", base64.
    let map = with(&[
        ("loop-contract-filing", b"GBA-SC-DEMO-001"),
        ("loop-data-subjects", b"250"),
        ("content-length", b"3"),
        (
            "content-digest",
            b"sha-512=:AAAA:, sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:",
        ),
        ("idempotency-key", b"retry-7f3a"),
    ]);
    let parsed = parse(&map).unwrap();
    assert_eq!(parsed.item, "INV-PI-001");
    assert_eq!(parsed.recipient, "hk-biolab");
    assert_eq!(parsed.purpose, "research.cohort_study");
    assert_eq!(parsed.filing.as_deref(), Some("GBA-SC-DEMO-001"));
    assert_eq!(parsed.data_subjects, Some(250));
    assert_eq!(parsed.content_length, Some(3));
    assert_eq!(parsed.sha256.unwrap()[..4], [0xba, 0x78, 0x16, 0xbf]);
    assert_eq!(parsed.idempotency_key.as_deref(), Some("retry-7f3a"));
}

#[test]
fn missing_required_headers_are_named() {
    for (skip, header) in [
        (0, "Loop-Inventory-Item"),
        (1, "Loop-Recipient"),
        (2, "Loop-Purpose"),
    ] {
        let mut pairs = BASE.to_vec();
        pairs.remove(skip);
        assert_eq!(
            code_of(&headers(&pairs)),
            (ReasonCode::RequestMissingHeader, header)
        );
    }
}

#[test]
fn unusable_values_are_malformed() {
    let malformed = |extra: &[(&'static str, &'static [u8])], header| {
        assert_eq!(
            code_of(&with(extra)),
            (ReasonCode::RequestMalformedHeader, header),
            "{extra:?}"
        );
    };
    malformed(&[("loop-data-subjects", b"-1")], "Loop-Data-Subjects");
    malformed(&[("loop-data-subjects", b"+5")], "Loop-Data-Subjects");
    malformed(&[("loop-data-subjects", b"1e3")], "Loop-Data-Subjects");
    malformed(
        &[("loop-data-subjects", b"99999999999999999999999")],
        "Loop-Data-Subjects",
    );
    malformed(&[("loop-recipient", b"hk-biolab")], "Loop-Recipient"); // sent twice
    malformed(
        &[("loop-contract-filing", b"GBA SC")],
        "Loop-Contract-Filing",
    );
    malformed(
        &[("loop-contract-filing", b"caf\xc3\xa9")],
        "Loop-Contract-Filing",
    );
    malformed(&[("content-digest", b"sha-256=abc")], "Content-Digest");
    malformed(&[("content-digest", b"sha-256=:YWJj:")], "Content-Digest"); // 3 bytes, not 32
    malformed(&[("content-digest", b"sha-512=:AAAA:")], "Content-Digest"); // no sha-256
    malformed(&[("idempotency-key", &[b'k'; 300])], "Idempotency-Key");
}

#[test]
fn the_first_problem_in_table_order_wins() {
    // Regression guard: a missing item is reported before a malformed count.
    let map = headers(&[
        ("loop-recipient", b"hk-biolab"),
        ("loop-purpose", b"p"),
        ("loop-data-subjects", b"many"),
    ]);
    assert_eq!(
        code_of(&map),
        (ReasonCode::RequestMissingHeader, "Loop-Inventory-Item")
    );
}
