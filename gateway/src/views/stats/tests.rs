use loopgate_audit::{Kind, Outcome, Record, Verdict};
use loopgate_policy::{Registry, Scope, parse_bundle};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::{date, datetime};

use super::*;
use crate::views::Views;

fn registry() -> Registry {
    parse_bundle(&crate::devmode::sample_bundle(date!(2026 - 11 - 25)))
        .unwrap()
        .registry
}

fn decision(at: OffsetDateTime, sender: &str, class: &str, reason: Option<&str>) -> Record {
    let verdict = if reason.is_some() {
        Verdict::Deny
    } else {
        Verdict::Allow
    };
    let mut r = Record::decision(
        at,
        "t1",
        Some(sender),
        Some("hk-biolab"),
        Some("INV-X"),
        verdict,
        reason,
    )
    .unwrap();
    r.details.insert("data_class".into(), json!(class));
    r
}

fn completed(at: OffsetDateTime, sender: &str, class: &str, size: u64) -> Record {
    let mut r = Record::outcome(at, "t1", Outcome::Completed).unwrap();
    r.sender = Some(sender.into());
    r.details.insert("size".into(), json!(size));
    r.details.insert(
        "sha256".into(),
        json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    r.details.insert("upstream_status".into(), json!(200));
    r.details.insert("data_class".into(), json!(class));
    r
}

fn shipment(at: OffsetDateTime, sender: &str, hgr: bool, reason: Option<&str>) -> Record {
    let mut r = Record::new(Kind::Shipment, at).unwrap();
    r.shipment_id = Some("s1".into());
    r.sender = Some(sender.into());
    r.sample_item = Some("SMP-X".into());
    r.decision = Some(if reason.is_some() {
        Verdict::Deny
    } else {
        Verdict::Allow
    });
    r.reason = Some(reason.map(str::to_owned));
    for (k, v) in [
        ("carrier", json!("sf-cold")),
        ("quantity", json!(1)),
        ("purpose", json!("research.cohort_study")),
        ("policy_version", json!(1)),
        ("rule", json!(null)),
        ("evaluated_on", json!("2026-11-25")),
        ("hgr", json!(hgr)),
    ] {
        r.details.insert(k.into(), v);
    }
    r
}

#[test]
fn keys_read_back_and_sort_by_day() {
    let day = date!(2026 - 11 - 25);
    let k = count_key(day, 0b101, Kind::Shipment, Verdict::Deny, "sz", "sample.x");
    assert_eq!(
        parse_key(&k),
        Some(Entry::Count {
            day,
            scopes: 0b101,
            kind: Kind::Shipment,
            verdict: Verdict::Deny,
            sender: "sz".into(),
            reason: "sample.x".into(),
        })
    );
    let b = bytes_key(day, 0, "");
    assert_eq!(
        parse_key(&b),
        Some(Entry::Bytes {
            day,
            scopes: 0,
            sender: String::new(),
        })
    );
    assert!(b < bytes_key(day.next_day().unwrap(), 0, ""));
    assert!(
        k < count_key(
            day.next_day().unwrap(),
            0,
            Kind::Decision,
            Verdict::Allow,
            "",
            ""
        )
    );
    assert_eq!(parse_key(b"c/whatever"), None);
    assert_eq!(parse_key(&k[..k.len() - 12]), None, "a cut key");
}

#[test]
fn scope_bits_read_back() {
    for scopes in [
        vec![],
        vec![Scope::Personal],
        vec![Scope::Samples, Scope::Hgr],
        vec![Scope::NonPersonal, Scope::Hgr],
    ] {
        let mut sorted = scopes.clone();
        sorted.sort();
        let mut back = scope::from_bits(scope::to_bits(&scopes));
        back.sort();
        assert_eq!(back, sorted);
    }
}

/// Records of two days in UTC+8 (23:30 UTC is the next park day), two senders and three
/// scopes sum up per day, sender, reason and scope.
#[test]
fn records_sum_per_park_day_sender_reason_and_scope() {
    let views = Views::temporary();
    let reg = registry();
    let d1 = datetime!(2026-11-24 10:00 UTC);
    let d2 = datetime!(2026-11-24 23:30 UTC);
    let records = [
        decision(d1, "sz-genomics", "personal", None),
        completed(d1, "sz-genomics", "personal", 100),
        decision(d1, "sz-genomics", "personal", Some("purpose.not_allowed")),
        decision(d2, "gz-labs", "non_personal", Some("purpose.not_allowed")),
        decision(d2, "gz-labs", "non_personal", None),
        completed(d2, "gz-labs", "non_personal", 7),
        shipment(d2, "sz-genomics", true, None),
        shipment(d2, "sz-genomics", false, Some("sample.quantity_exceeded")),
    ];
    for (i, r) in records.iter().enumerate() {
        views.observe(i as u64, r, &reg);
    }
    let (a, b) = (date!(2026 - 11 - 24), date!(2026 - 11 - 25));
    let all = views.stats(a, b, |_| true, None).unwrap();
    assert_eq!(all.days.len(), 2);
    assert_eq!(all.days[&a].transfers, Tally { allow: 1, deny: 1 });
    assert_eq!(
        all.days[&a].bytes, 100,
        "the completed outcome's size, on its day"
    );
    assert_eq!(all.days[&b].transfers, Tally { allow: 1, deny: 1 });
    assert_eq!(all.days[&b].shipments, Tally { allow: 1, deny: 1 });
    assert_eq!(all.totals.bytes, 107);
    assert_eq!(all.denials["purpose.not_allowed"], 2);
    assert_eq!(all.denials["sample.quantity_exceeded"], 1);
    assert_eq!(all.senders["gz-labs"].bytes, 7);
    assert_eq!(all.senders["sz-genomics"].shipments.total(), 2);

    let only = |scope: Scope| move |bits: u8| scope::from_bits(bits).contains(&scope);
    let personal = views.stats(a, b, only(Scope::Personal), None).unwrap();
    assert_eq!(personal.totals.transfers, Tally { allow: 1, deny: 1 });
    assert_eq!(personal.totals.shipments, Tally::default());
    assert_eq!(personal.totals.bytes, 100);
    let hgr = views.stats(a, b, only(Scope::Hgr), None).unwrap();
    assert_eq!(hgr.totals.shipments, Tally { allow: 1, deny: 0 });
    assert_eq!(hgr.totals.transfers, Tally::default());
    assert!(hgr.denials.is_empty());

    let one_day = views.stats(b, b, |_| true, Some("gz-labs")).unwrap();
    assert_eq!(one_day.days.len(), 1);
    assert_eq!(one_day.totals.transfers, Tally { allow: 1, deny: 1 });
    assert_eq!(one_day.totals.shipments, Tally::default());
    assert_eq!(one_day.senders.keys().collect::<Vec<_>>(), ["gz-labs"]);
}
