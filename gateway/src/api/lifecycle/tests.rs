use loopgate_policy::ReasonCode;
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
        "é".repeat(MAX_TEXT_CHARS)
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
        "x".repeat(MAX_TEXT_CHARS + 1)
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
fn instants_a_record_cannot_carry_are_refused() {
    // Valid RFC 3339, but a year before 0000 once in UTC.
    let e = parse(br#"{"event":"stored","at":"0000-01-01T00:00:00+01:00"}"#).unwrap_err();
    assert_eq!(e.code, ReasonCode::RequestMalformedBody);
}
