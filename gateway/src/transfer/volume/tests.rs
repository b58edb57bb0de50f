use std::sync::Arc;

use loopgate_policy::{ReasonCode, Route, TransferRequest, parse_bundle};
use time::macros::datetime;

use super::*;
use crate::devmode;

/// The sample registry with every filing on the national route and an assessment needed from
/// 1,000 subjects, so a few transfers reach rule 19's threshold.
fn registry() -> Registry {
    let text = devmode::sample_bundle(time::macros::date!(2026 - 11 - 25));
    let mut registry = parse_bundle(&text).unwrap().registry;
    for filing in registry.filings.values_mut() {
        filing.route = Route::NationalSc;
    }
    registry.parameters.threshold_assessment = 1_000;
    registry
}

fn personal(subjects: u64) -> TransferRequest {
    TransferRequest {
        sender: "sz-genomics".into(),
        recipient: "hk-biolab".into(),
        item: "INV-PI-001".into(),
        purpose: "research.cohort_study".into(),
        filing: Some("GBA-SC-DEMO-001".into()),
        data_subjects: Some(subjects),
        ..TransferRequest::default()
    }
}

/// Regression guard: reading the counters and counting the admitted transfer used to be two
/// steps, so concurrent transfers could all pass a threshold that together they crossed.
#[test]
fn concurrent_transfers_cannot_jointly_cross_a_threshold() {
    let volumes = Arc::new(Volumes::default());
    let at = datetime!(2026-11-25 10:00 +8);
    let registry = Arc::new(registry());
    let allowed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let (volumes, registry) = (volumes.clone(), registry.clone());
                scope.spawn(move || volumes.evaluate(&registry, personal(100), at).is_allowed())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    // 9 transfers of 100 stay under 1,000; the 10th reaches it and needs an assessment.
    assert_eq!(allowed, 9);
    let next = volumes.evaluate(&registry, personal(100), at);
    assert_eq!(next.reason, Some(ReasonCode::VolumeRouteInsufficient));
}

#[test]
fn a_new_counting_year_starts_from_zero() {
    let volumes = Volumes::default();
    let registry = registry();
    for _ in 0..9 {
        assert!(
            volumes
                .evaluate(&registry, personal(100), datetime!(2026-12-31 10:00 +8))
                .is_allowed()
        );
    }
    assert!(
        !volumes
            .evaluate(&registry, personal(100), datetime!(2026-12-31 23:59 +8))
            .is_allowed()
    );
    // 1 January in UTC+8 is still 31 December in UTC: the park's calendar decides.
    assert!(
        volumes
            .evaluate(&registry, personal(100), datetime!(2026-12-31 16:00 UTC))
            .is_allowed()
    );
}

/// What start-up counts from the log is what the next decision sees.
#[test]
fn counted_transfers_from_the_log_weigh_on_the_next_decision() {
    let volumes = Volumes::default();
    let registry = registry();
    let at = datetime!(2026-11-25 10:00 +8);
    volumes.count("sz-genomics", at, &registry, DataClass::Personal, 900);
    // Non-personal data is never counted.
    volumes.count("sz-genomics", at, &registry, DataClass::NonPersonal, 5_000);
    assert!(volumes.evaluate(&registry, personal(99), at).is_allowed());
    let over = volumes.evaluate(&registry, personal(1), at);
    assert_eq!(over.reason, Some(ReasonCode::VolumeRouteInsufficient));
}

/// Rule 19 counts per legal entity: the subjects another tenant of the sender's legal entity
/// sent weigh on the sender's next decision, and stop weighing once the registry puts that
/// tenant under another entity (nothing to rebuild: the next decision sums what is in force).
#[test]
fn tenants_of_one_legal_entity_share_their_counters() {
    let volumes = Volumes::default();
    let mut registry = registry();
    let mut sister = registry.tenants["sz-genomics"].clone();
    sister.id = "sz-genomics-lab2".to_owned();
    sister.legal_entity = "sz-genomics".to_owned();
    registry.tenants.insert(sister.id.clone(), sister);
    let at = datetime!(2026-11-25 10:00 +8);
    volumes.count("sz-genomics-lab2", at, &registry, DataClass::Personal, 950);
    assert_eq!(
        volumes.year_to_date("sz-genomics", at, &registry).subjects,
        950
    );
    let over = volumes.evaluate(&registry, personal(50), at);
    assert_eq!(over.reason, Some(ReasonCode::VolumeRouteInsufficient));

    // The sister lab becomes a legal entity of its own: the sender's count is its own again.
    if let Some(sister) = registry.tenants.get_mut("sz-genomics-lab2") {
        sister.legal_entity = "sz-genomics-lab2".to_owned();
    }
    assert_eq!(
        volumes.year_to_date("sz-genomics", at, &registry).subjects,
        0
    );
    assert!(volumes.evaluate(&registry, personal(50), at).is_allowed());
    assert_eq!(
        volumes.year_to_date("sz-genomics", at, &registry).subjects,
        50
    );
}
