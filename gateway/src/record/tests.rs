use loopgate_audit::{Kind, Record};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::macros::{date, datetime};

use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Probe {
    zeta: u64,
    alpha: Option<String>,
    #[serde(default)]
    day: Option<Day>,
}

impl Details for Probe {
    const KIND: Kind = Kind::System;
}

#[test]
fn details_are_written_in_key_order_and_read_back() {
    let mut record = Record::new(Kind::System, datetime!(2026-11-25 08:00 UTC)).unwrap();
    let probe = Probe {
        zeta: 7,
        alpha: None,
        day: Some(Day(date!(2026 - 02 - 03))),
    };
    write(&mut record, &probe).unwrap();
    let leaf = String::from_utf8(record.to_leaf().unwrap()).unwrap();
    // The map is sorted, whatever the struct's order: the bytes do not depend on it.
    assert!(
        leaf.ends_with(r#""alpha":null,"day":"2026-02-03","zeta":7}"#),
        "{leaf}"
    );
    let back = Record::from_leaf(leaf.as_bytes()).unwrap();
    assert_eq!(read::<Probe>(&back), Some(probe));
}

#[test]
fn details_of_another_kind_are_neither_written_nor_read() {
    let mut record = Record::new(Kind::Lifecycle, datetime!(2026-11-25 08:00 UTC)).unwrap();
    let probe = Probe {
        zeta: 1,
        alpha: None,
        day: None,
    };
    assert!(write(&mut record, &probe).is_err());
    assert!(record.details.is_empty());
    record.details.insert("zeta".into(), json!(1));
    assert_eq!(read::<Probe>(&record), None);
}

#[test]
fn unreadable_details_read_as_none_and_unknown_keys_are_ignored() {
    let mut record = Record::new(Kind::System, datetime!(2026-11-25 08:00 UTC)).unwrap();
    record.details.insert("zeta".into(), json!("seven"));
    assert_eq!(read::<Probe>(&record), None);
    record.details.insert("zeta".into(), json!(7));
    record.details.insert("later".into(), json!({"a": 1}));
    assert_eq!(
        read::<Probe>(&record),
        Some(Probe {
            zeta: 7,
            alpha: None,
            day: None
        })
    );
    record.details.insert("day".into(), json!("3 Feb 2026"));
    assert_eq!(read::<Probe>(&record), None);
}

#[test]
fn digests_are_standard_base64_of_32_bytes() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Digest {
        #[serde(with = "base64_sha256")]
        sha256: [u8; 32],
    }
    let text = serde_json::to_string(&Digest { sha256: [0xfb; 32] }).unwrap();
    assert_eq!(
        text,
        r#"{"sha256":"+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s="}"#
    );
    let back: Digest = serde_json::from_str(&text).unwrap();
    assert_eq!(back.sha256, [0xfb; 32]);
    assert!(serde_json::from_str::<Digest>(r#"{"sha256":"AAEC"}"#).is_err());
}

#[test]
fn a_lenient_detail_that_does_not_read_takes_its_default() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Lenient {
        #[serde(default, deserialize_with = "or_default")]
        hint: Vec<u32>,
        kept: String,
    }
    let read: Lenient = serde_json::from_str(r#"{"hint": "not a list", "kept": "x"}"#).unwrap();
    assert_eq!(
        read,
        Lenient {
            hint: Vec::new(),
            kept: "x".into()
        }
    );
    let read: Lenient = serde_json::from_str(r#"{"hint": [1, 2], "kept": "x"}"#).unwrap();
    assert_eq!(read.hint, [1, 2]);
}
