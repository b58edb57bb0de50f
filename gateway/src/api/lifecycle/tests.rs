use loopgate_audit::Verdict;
use time::macros::datetime;

use super::*;

#[test]
fn events_parse_with_optional_at_and_note() {
    let e = parse(br#"{"event":"stored"}"#).unwrap();
    assert_eq!(e.event, LifecycleEvent::Stored);
    assert_eq!((e.at, e.note), (None, None));
    let e = parse(br#"{"event":"destroyed","at":"2026-11-25T16:00:00+08:00","note":"shredded"}"#)
        .unwrap();
    assert_eq!(e.event, LifecycleEvent::Destroyed);
    assert_eq!(e.at, Some(datetime!(2026-11-25 08:00 UTC)));
    assert_eq!(e.note.as_deref(), Some("shredded"));
    let longest = format!(
        r#"{{"event":"accessed","note":"{}"}}"#,
        "é".repeat(MAX_NOTE_CHARS)
    );
    assert!(
        parse(longest.as_bytes()).is_ok(),
        "the limit counts characters"
    );
}

#[test]
fn malformed_events_are_refused_with_request_malformed_body() {
    let too_long = format!(
        r#"{{"event":"accessed","note":"{}"}}"#,
        "x".repeat(MAX_NOTE_CHARS + 1)
    );
    let cases: [&[u8]; 9] = [
        b"",
        b"not json",
        b"[]",
        br#"{"at":"2026-11-25T08:00:00Z"}"#,
        br#"{"event":"archived"}"#,
        br#"{"event":"Stored"}"#,
        br#"{"event":"stored","at":"yesterday"}"#,
        br#"{"event":"stored","extra":1}"#,
        too_long.as_bytes(),
    ];
    for body in cases {
        let e = parse(body).unwrap_err();
        assert_eq!(
            e.code,
            ReasonCode::RequestMalformedBody,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_lifecycle_record_copies_the_parties_and_is_indexed_under_them() {
    let decision = Record::decision(
        datetime!(2026-11-25 08:00 UTC),
        "ab12",
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some("INV-NP-001"),
        Verdict::Allow,
        None,
    )
    .unwrap();
    let event = Event {
        event: LifecycleEvent::Accessed,
        at: Some(datetime!(2026-11-25 07:00 UTC)),
        note: Some("read by the QC pipeline".into()),
    };
    let record = record(
        &decision,
        &event,
        "hk-biolab",
        datetime!(2026-11-25 09:00 UTC),
    )
    .unwrap();
    let leaf: Value = serde_json::from_slice(&record.to_leaf().unwrap()).unwrap();
    assert_eq!(
        leaf,
        json!({
            "v": 1, "kind": "lifecycle", "time": "2026-11-25T09:00:00Z", "transfer_id": "ab12",
            "sender": "sz-genomics", "recipient": "hk-biolab", "item": "INV-NP-001",
            "event": "accessed", "reported_at": "2026-11-25T07:00:00Z",
            "note": "read by the QC pipeline", "principal": "tenant/hk-biolab",
        })
    );
    assert_eq!(
        events(&[(0, decision), (1, record)]),
        [LifecycleEvent::Accessed]
    );
}
