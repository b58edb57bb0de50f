use loopgate_audit::{Outcome, Record, Verdict};
use loopgate_policy::{Registry, parse_bundle};
use serde_json::json;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use super::*;

fn registry() -> Registry {
    parse_bundle(&crate::devmode::sample_bundle(date!(2026 - 11 - 25)))
        .unwrap()
        .registry
}

fn allow(
    id: &str,
    at: OffsetDateTime,
    class: &str,
    subjects: Option<u64>,
    route: Option<&str>,
) -> Record {
    let mut r = Record::decision(
        at,
        id,
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some("INV-PI-001"),
        Verdict::Allow,
        None,
    )
    .unwrap();
    r.details.insert("data_class".into(), json!(class));
    r.details.insert("data_subjects".into(), json!(subjects));
    r.details.insert("retention_days".into(), json!(30));
    r.details.insert("route".into(), json!(route));
    r
}

fn ended(id: &str, at: OffsetDateTime, outcome: Outcome) -> Record {
    Record::outcome(at, id, outcome).unwrap()
}

fn event(id: &str, at: OffsetDateTime, event: &str) -> Record {
    let mut r = Record::new(Kind::Lifecycle, at).unwrap();
    r.transfer_id = Some(id.into());
    r.details.insert("event".into(), json!(event));
    r
}

const T0: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);

#[test]
fn a_completed_transfer_is_open_until_destroyed_and_overdue_after_its_retention() {
    let views = Views::temporary();
    let reg = registry();
    views.observe(0, &allow("a1", T0, "non_personal", None, None), &reg);
    assert_eq!(views.open_retention(), 0, "admitted is not received");
    views.observe(1, &ended("a1", T0, Outcome::Completed), &reg);
    assert_eq!(views.open_retention(), 1);
    assert!(
        views.overdue(T0 + Duration::days(30)).unwrap().is_empty(),
        "due, not past due"
    );
    let overdue = views
        .overdue(T0 + Duration::days(30) + Duration::seconds(1))
        .unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].transfer_id, "a1");
    assert_eq!(overdue[0].received, T0);
    assert_eq!(overdue[0].retention_days, 30);
    assert_eq!(overdue[0].outcome_log_index, 1);
    assert_eq!(overdue[0].item, "INV-PI-001");
    views.observe(2, &event("a1", T0, "stored"), &reg);
    assert_eq!(views.open_retention(), 1, "only destroyed closes it");
    views.observe(3, &event("a1", T0, "destroyed"), &reg);
    assert_eq!(views.open_retention(), 0);
    assert!(views.overdue(T0 + Duration::days(400)).unwrap().is_empty());
}

#[test]
fn failed_interrupted_and_denied_transfers_have_no_retention() {
    let views = Views::temporary();
    let reg = registry();
    views.observe(0, &allow("f", T0, "non_personal", None, None), &reg);
    views.observe(1, &ended("f", T0, Outcome::Failed), &reg);
    views.observe(2, &allow("i", T0, "non_personal", None, None), &reg);
    views.observe(3, &ended("i", T0, Outcome::Interrupted), &reg);
    let mut denied = allow("d", T0, "non_personal", None, None);
    denied.decision = Some(Verdict::Deny);
    views.observe(4, &denied, &reg);
    views.observe(5, &ended("d", T0, Outcome::Completed), &reg);
    assert_eq!(views.open_retention(), 0);
}

/// Regression guard: a `destroyed` observed before its transfer's completion (two appends
/// acknowledged in the other order) must not leave the transfer open for ever.
#[test]
fn a_destroyed_seen_before_the_completion_keeps_the_transfer_closed() {
    let views = Views::temporary();
    let reg = registry();
    views.observe(0, &allow("x", T0, "non_personal", None, None), &reg);
    views.observe(2, &event("x", T0, "destroyed"), &reg);
    views.observe(1, &ended("x", T0, Outcome::Completed), &reg);
    assert_eq!(views.open_retention(), 0);
}

#[test]
fn counters_are_per_processor_counting_year_and_route() {
    let views = Views::temporary();
    let reg = registry();
    let now = datetime!(2026-06-01 00:00 UTC);
    let rows = [
        ("p1", T0, "personal", Some(100), Some("gba_sc")),
        ("p2", T0, "personal", Some(50), Some("gba_sc")),
        ("p3", T0, "sensitive_personal", Some(7), Some("gba_sc")),
        ("p4", T0, "personal", Some(10), Some("national_sc")),
        ("p5", T0, "personal", Some(3), None),
        ("n1", T0, "non_personal", None, None),
        // Last counting year (UTC+8): 2025-12-31 16:30 UTC is 2026-01-01 00:30 in the park,
        // 15:30 is still 2025.
        (
            "old",
            datetime!(2025-12-31 15:30 UTC),
            "personal",
            Some(1000),
            Some("gba_sc"),
        ),
        (
            "new",
            datetime!(2025-12-31 16:30 UTC),
            "personal",
            Some(1),
            Some("gba_sc"),
        ),
    ];
    for (i, (id, at, class, subjects, route)) in rows.into_iter().enumerate() {
        views.observe(i as u64, &allow(id, at, class, subjects, route), &reg);
    }
    let mut denied = allow("d", T0, "personal", Some(99_999), Some("gba_sc"));
    denied.decision = Some(Verdict::Deny);
    views.observe(99, &denied, &reg);

    let counters = views.counters(now, &reg, None).unwrap();
    let shown: Vec<(&str, &str, u64, u64)> = counters
        .iter()
        .map(|c| {
            (
                c.legal_entity.as_str(),
                c.route.as_str(),
                c.subjects,
                c.sensitive_subjects,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("sz-genomics", "gba_sc", 151, 7),
            ("sz-genomics", "national_sc", 10, 0),
            ("sz-genomics", UNKNOWN_ROUTE, 3, 0),
        ]
    );
    assert!(
        counters
            .iter()
            .all(|c| c.year_start == date!(2026 - 01 - 01))
    );
    assert_eq!(
        views.counters(now, &reg, Some("sz-genomics")).unwrap(),
        counters
    );
    assert!(views.counters(now, &reg, Some("other")).unwrap().is_empty());
    let last_year = views
        .counters(datetime!(2025-12-01 00:00 UTC), &reg, None)
        .unwrap();
    assert_eq!(last_year.len(), 1);
    assert_eq!(last_year[0].subjects, 1000);

    // Another tenant of the same legal entity is counted with it, and named.
    let mut reg = reg;
    let mut sister = reg.tenants["sz-genomics"].clone();
    sister.id = "sz-genomics-lab2".to_owned();
    reg.tenants.insert(sister.id.clone(), sister);
    let mut lab2 = allow("l2", T0, "personal", Some(5), Some("gba_sc"));
    lab2.sender = Some("sz-genomics-lab2".to_owned());
    views.observe(100, &lab2, &reg);
    let counters = views.counters(now, &reg, Some("sz-genomics")).unwrap();
    assert_eq!(counters[0].route, "gba_sc");
    assert_eq!(counters[0].subjects, 156);
    assert_eq!(counters[0].tenants, ["sz-genomics", "sz-genomics-lab2"]);
}

/// The counters' route label is the route's bundle spelling, which is also how decision records
/// write it.
#[test]
fn route_labels_are_how_records_spell_routes() {
    use loopgate_policy::Route;
    for route in [
        Route::GbaSc,
        Route::NationalSc,
        Route::Certification,
        Route::SecurityAssessment,
    ] {
        assert_eq!(json!(route), json!(route.as_str()));
    }
}
