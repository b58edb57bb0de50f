use std::collections::BTreeSet;

use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{DataClass, Regulator, parse_bundle};
use serde_json::json;
use time::macros::{date, datetime};

use super::*;

fn registry() -> Registry {
    parse_bundle(&crate::devmode::sample_bundle(date!(2026 - 11 - 25)))
        .unwrap()
        .registry
}

fn regulator(sees: &[Scope]) -> Regulator {
    Regulator {
        id: "test".into(),
        authority: "a test authority".into(),
        sees: sees.iter().copied().collect::<BTreeSet<_>>(),
    }
}

fn decision(item: &str, class: Option<&str>, hgr: Option<bool>) -> Record {
    let mut r = Record::decision(
        datetime!(2026-11-25 08:00 UTC),
        "ab",
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some(item),
        Verdict::Allow,
        None,
    )
    .unwrap();
    r.details.insert("data_class".into(), json!(class));
    r.details.insert("hgr".into(), json!(hgr));
    r
}

#[test]
fn a_transfers_records_fall_under_the_class_they_state() {
    let reg = registry();
    let hgr_only = regulator(&[Scope::Hgr]);
    let personal = regulator(&[Scope::Personal]);
    // The record's own class decides, whatever the registry says of the item now.
    let genetic = decision("INV-NP-001", Some("non_personal"), Some(true));
    assert_eq!(of_record(&genetic, &reg), [Scope::NonPersonal, Scope::Hgr]);
    assert!(sees(&hgr_only, &of_record(&genetic, &reg)));
    assert!(!sees(&personal, &of_record(&genetic, &reg)));

    let mut outcome =
        Record::outcome(datetime!(2026-11-25 08:01 UTC), "ab", Outcome::Completed).unwrap();
    outcome.item = Some("INV-NP-001".into());
    for (key, value) in [
        ("size", json!(3)),
        (
            "sha256",
            json!("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ),
        ("upstream_status", json!(201)),
        ("data_class", json!("personal")),
        ("hgr", json!(false)),
    ] {
        outcome.details.insert(key.into(), value);
    }
    assert_eq!(of_record(&outcome, &reg), [Scope::Personal]);
    assert!(sees(&personal, &of_record(&outcome, &reg)));
    assert!(!sees(&hgr_only, &of_record(&outcome, &reg)));
}

#[test]
fn records_of_the_first_version_fall_back_to_the_items_class() {
    let reg = registry();
    // No class on the record: the registry's item decides.
    let old = decision("INV-PI-001", None, None);
    assert_eq!(
        of_record(&old, &reg),
        Scope::of_transfer(DataClass::Personal, false)
    );
    // An item the registry no longer knows: only `all` sees it.
    let gone = decision("INV-GONE", None, None);
    assert!(of_record(&gone, &reg).is_empty());
    assert!(!sees(
        &regulator(&[Scope::Personal, Scope::NonPersonal]),
        &[]
    ));
    assert!(sees(&regulator(&[Scope::All]), &[]));
}

#[test]
fn policy_changes_and_the_gateways_own_records_are_for_all_only() {
    let reg = registry();
    for kind in [Kind::PolicyChange, Kind::System] {
        let record = Record::new(kind, datetime!(2026-11-25 08:00 UTC)).unwrap();
        assert!(of_record(&record, &reg).is_empty(), "{kind:?}");
    }
}

#[test]
fn the_class_of_a_transfer_survives_a_byte_in_the_views() {
    for class in DataClass::ALL.iter().copied().map(Some).chain([None]) {
        for hgr in [None, Some(false), Some(true)] {
            let scope = DataScope {
                data_class: class,
                hgr,
            };
            assert_eq!(DataScope::from_bits(scope.to_bits()), scope);
        }
    }
}
