//! Record schema round trips and validation.

use super::*;
use time::macros::datetime;

fn decision() -> Record {
    Record::decision(
        datetime!(2026-11-25 21:00:00 +08:00),
        "t-1",
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some("INV-NP-001"),
        Verdict::Allow,
        None,
    )
    .unwrap()
}

#[test]
fn a_decision_serialises_compactly_with_a_null_reason() {
    let leaf = decision().to_leaf().unwrap();
    let text = String::from_utf8(leaf.clone()).unwrap();
    assert_eq!(
        text,
        r#"{"v":1,"kind":"decision","time":"2026-11-25T13:00:00Z","transfer_id":"t-1","sender":"sz-genomics","recipient":"hk-biolab","item":"INV-NP-001","decision":"allow","reason":null}"#
    );
    assert_eq!(Record::from_leaf(&leaf).unwrap(), decision());
}

#[test]
fn details_round_trip_and_payloads_are_refused() {
    let mut r = Record::outcome(
        datetime!(2026-11-25 13:00:00 UTC),
        "t-1",
        Outcome::Completed,
    )
    .unwrap();
    r.details.insert("size".into(), 42.into());
    let leaf = r.to_leaf().unwrap();
    assert_eq!(Record::from_leaf(&leaf).unwrap(), r);
    r.details.insert("payload".into(), "secret".into());
    assert!(r.to_leaf().is_err());
}

#[test]
fn invalid_records_are_refused() {
    for leaf in [
        &br#"[]"#[..],
        br#"{"v":2,"kind":"system","time":"2026-11-25T13:00:00Z"}"#,
        br#"{"v":1,"kind":"nope","time":"2026-11-25T13:00:00Z"}"#,
        br#"{"v":1,"kind":"system","time":"yesterday"}"#,
        br#"{"v":1,"kind":"system","time":"2026-11-25T13:00:00+08:00"}"#,
        br#"{"v":1,"kind":"decision","time":"2026-11-25T13:00:00Z","transfer_id":"t"}"#,
        br#"{"v":1,"kind":"outcome","time":"2026-11-25T13:00:00Z"}"#,
        b"\xff",
    ] {
        assert!(
            Record::from_leaf(leaf).is_err(),
            "{}",
            String::from_utf8_lossy(leaf)
        );
    }
    assert!(Record::from_leaf(br#"{"v":1,"kind":"system","time":"2026-11-25T13:00:00Z"}"#).is_ok());
    // A malformed request's denial is logged without the fields it lacked.
    assert!(Record::from_leaf(br#"{"v":1,"kind":"decision","time":"2026-11-25T13:00:00Z","transfer_id":"t","decision":"deny","reason":"request.missing_header"}"#).is_ok());
    assert!(Record::from_leaf(br#"{"v":1,"kind":"decision","time":"2026-11-25T13:00:00Z","transfer_id":"t","decision":"deny"}"#).is_err());
}

#[test]
fn index_terms_cover_the_queried_fields() {
    let mut r = decision();
    r.decision = Some(Verdict::Deny);
    r.reason = Some(Some("tenant.not_whitelisted".into()));
    let fields: Vec<Field> = r.index_terms().into_iter().map(|(f, _)| f).collect();
    for f in [
        Field::Kind,
        Field::Time,
        Field::Transfer,
        Field::Sender,
        Field::Recipient,
        Field::Item,
        Field::Decision,
        Field::Reason,
    ] {
        assert!(fields.contains(&f), "{f:?}");
    }
}

/// Guards `Log::append_record`, which indexes a record by its fields without parsing its leaf
/// back: a detail named like a field comes back from the leaf as that field (the gateway's
/// `policy_change` records carry a `reason` detail), so its terms are the leaf's.
#[test]
fn leaf_terms_are_the_terms_of_the_leaf() {
    let mut plain = decision();
    plain.reason = None;
    plain.kind = Kind::PolicyChange;
    let leaf = plain.to_leaf().unwrap();
    assert_eq!(plain.leaf_terms(&leaf).unwrap(), plain.index_terms());
    for key in NAMED_FIELDS {
        if ["v", "kind", "time", "decision", "outcome"].contains(&key) {
            continue; // not free text: a string there does not parse back
        }
        let mut r = plain.clone();
        r.details.insert(key.into(), "x".into());
        let Ok(leaf) = r.to_leaf() else { continue };
        let Ok(back) = Record::from_leaf(&leaf) else {
            continue;
        };
        assert_eq!(r.leaf_terms(&leaf).unwrap(), back.index_terms(), "{key}");
    }
    let mut with_reason = plain.clone();
    with_reason
        .details
        .insert("reason".into(), "incident 42".into());
    let leaf = with_reason.to_leaf().unwrap();
    assert!(
        with_reason
            .leaf_terms(&leaf)
            .unwrap()
            .contains(&(Field::Reason, b"incident 42".to_vec()))
    );
}

#[test]
fn index_terms_name_the_kind_as_the_leaf_does() {
    for kind in [
        Kind::Decision,
        Kind::Outcome,
        Kind::Lifecycle,
        Kind::PolicyChange,
        Kind::System,
    ] {
        let mut r = decision();
        r.kind = kind;
        let json = serde_json::to_value(kind).unwrap();
        let terms = r.index_terms();
        assert_eq!(
            terms[0],
            (Field::Kind, json.as_str().unwrap().as_bytes().to_vec())
        );
    }
}

#[test]
fn shipment_and_custody_records_need_their_shipment_and_are_indexed_by_it_and_the_item() {
    for leaf in [
        // A declaration without its shipment, or without its verdict.
        &br#"{"v":1,"kind":"shipment","time":"2026-11-25T13:00:00Z","decision":"allow","reason":null}"#[..],
        br#"{"v":1,"kind":"shipment","time":"2026-11-25T13:00:00Z","shipment_id":"s-1","reason":null}"#,
        br#"{"v":1,"kind":"shipment","time":"2026-11-25T13:00:00Z","shipment_id":"s-1","decision":"deny"}"#,
        // A custody step without its shipment.
        br#"{"v":1,"kind":"custody","time":"2026-11-25T13:00:00Z","sample_item":"SMP-1"}"#,
    ] {
        assert!(
            Record::from_leaf(leaf).is_err(),
            "{}",
            String::from_utf8_lossy(leaf)
        );
    }
    let leaf = br#"{"v":1,"kind":"custody","time":"2026-11-25T13:00:00Z","shipment_id":"s-1","sender":"sz-genomics","sample_item":"SMP-1","event":"sealed"}"#;
    let record = Record::from_leaf(leaf).unwrap();
    assert_eq!(record.to_leaf().unwrap(), leaf, "the leaf bytes round trip");
    let terms = record.index_terms();
    for (field, value) in [
        (Field::Kind, &b"custody"[..]),
        (Field::Shipment, b"s-1"),
        (Field::SampleItem, b"SMP-1"),
        (Field::Sender, b"sz-genomics"),
    ] {
        assert!(
            terms.contains(&(field, value.to_vec())),
            "{field:?} in {terms:?}"
        );
    }
    let tags: Vec<u8> = [Field::Shipment, Field::SampleItem]
        .iter()
        .map(|f| f.tag())
        .collect();
    assert_eq!(tags, b"hm", "tags no other field uses");
    for kind in Kind::ALL {
        assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(
            json,
            format!("\"{}\"", kind.as_str()),
            "serde and as_str agree"
        );
    }
}
