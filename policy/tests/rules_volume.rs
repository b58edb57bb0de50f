//! Rule 19: routes other than `gba_sc` are held to the Mainland's yearly head-count thresholds
//! (reached AT the number). The `--ytd-*` counters are the processor's volume before this
//! transfer; this transfer's subjects (100 in `pi()`) are added to the sensitive counter for
//! `sensitive_personal` / `human_genetic` and to the non-sensitive one otherwise, and both
//! counters are held to their thresholds whatever the class.
//!
//! Reference thresholds: non-sensitive 1,000,000 (`threshold_assessment`), sensitive 10,000
//! (`threshold_sensitive_assessment`).
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::*;
use loopgate_policy::{
    DataClass, ReasonCode as R, Registry, Route, VolumeCounters, counters_after,
};

const N: u64 = 1_000_000;
const NS: u64 = 10_000;
/// Subjects in `pi()`.
const S: u64 = 100;

fn route(r: &mut Registry, route: Route) {
    r.demo_filing().route = route;
}

fn sensitive(r: &mut Registry) {
    r.pi_item().data_class = DataClass::SensitivePersonal;
    r.demo_filing().covers_sensitive = true;
    r.demo_filing().separate_consent = true;
}

fn human_genetic(r: &mut Registry) {
    sensitive(r);
    r.pi_item().data_class = DataClass::HumanGenetic;
    // Rule 9's approvals are rules_inventory.rs's subject; here the item is counted only.
    r.pi_item().hgr = false;
}

/// The rows for one route, non-sensitive and sensitive, at N-1, N and N+1 after this transfer.
fn route_rows(
    label: &'static [&'static str; 6],
    set_route: fn(&mut Registry),
    set_sensitive: fn(&mut Registry),
    fails: bool,
) -> Vec<Case> {
    let deny = if fails {
        Err(R::VolumeRouteInsufficient)
    } else {
        ALLOW
    };
    vec![
        Case::new(label[0], pi().ytd(N - 1 - S, 0), "2026-04-15", ALLOW).tweak(set_route),
        Case::new(label[1], pi().ytd(N - S, 0), "2026-04-15", deny).tweak(set_route),
        Case::new(label[2], pi().ytd(N + 1 - S, 0), "2026-04-15", deny).tweak(set_route),
        Case::new(label[3], pi().ytd(0, NS - 1 - S), "2026-04-15", ALLOW).tweak(set_sensitive),
        Case::new(label[4], pi().ytd(0, NS - S), "2026-04-15", deny).tweak(set_sensitive),
        Case::new(label[5], pi().ytd(0, NS + 1 - S), "2026-04-15", deny).tweak(set_sensitive),
    ]
}

pub(crate) fn cases() -> Vec<Case> {
    let mut rows = Vec::new();
    rows.extend(route_rows(
        &[
            "gba_sc N-1",
            "gba_sc N",
            "gba_sc N+1",
            "gba_sc sensitive N-1",
            "gba_sc sensitive N",
            "gba_sc sensitive N+1",
        ],
        |r| route(r, Route::GbaSc),
        |r| {
            route(r, Route::GbaSc);
            sensitive(r);
        },
        false,
    ));
    rows.extend(route_rows(
        &[
            "national_sc N-1",
            "national_sc N",
            "national_sc N+1",
            "national_sc sensitive N-1",
            "national_sc sensitive N",
            "national_sc sensitive N+1",
        ],
        |r| route(r, Route::NationalSc),
        |r| {
            route(r, Route::NationalSc);
            sensitive(r);
        },
        true,
    ));
    rows.extend(route_rows(
        &[
            "certification N-1",
            "certification N",
            "certification N+1",
            "certification sensitive N-1",
            "certification sensitive N",
            "certification sensitive N+1",
        ],
        |r| route(r, Route::Certification),
        |r| {
            route(r, Route::Certification);
            sensitive(r);
        },
        true,
    ));
    rows.extend(route_rows(
        &[
            "security_assessment N-1",
            "security_assessment N",
            "security_assessment N+1",
            "security_assessment sensitive N-1",
            "security_assessment sensitive N",
            "security_assessment sensitive N+1",
        ],
        |r| route(r, Route::SecurityAssessment),
        |r| {
            route(r, Route::SecurityAssessment);
            sensitive(r);
        },
        false,
    ));
    rows.extend([
        // This transfer alone reaches the threshold.
        Case::new(
            "national_sc: this transfer alone reaches N",
            pi().subjects(Some(N)),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| route(r, Route::NationalSc)),
        Case::new(
            "national_sc: this transfer alone just below N",
            pi().subjects(Some(N - 1)),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| route(r, Route::NationalSc)),
        // The counters already at N before a one-subject transfer (zero is refused by rule 11).
        Case::new(
            "national_sc: counter already at N",
            pi().subjects(Some(1)).ytd(N, 0),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| route(r, Route::NationalSc)),
        // Both counters are checked whatever the class.
        Case::new(
            "national_sc: personal item, sensitive counter at threshold",
            pi().ytd(0, NS),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| route(r, Route::NationalSc)),
        Case::new(
            "national_sc: sensitive item, non-sensitive counter at threshold",
            pi().ytd(N, 0),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| {
            route(r, Route::NationalSc);
            sensitive(r);
        }),
        // This transfer's subjects go to the counter of its class only.
        Case::new(
            "national_sc: personal subjects do not add to the sensitive counter",
            pi().ytd(0, NS - 1),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| route(r, Route::NationalSc)),
        Case::new(
            "national_sc: sensitive subjects do not add to the non-sensitive counter",
            pi().ytd(N - S / 2, 0),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            route(r, Route::NationalSc);
            sensitive(r);
        }),
        Case::new(
            "national_sc: human genetic counts as sensitive",
            pi().ytd(0, NS - S),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| {
            route(r, Route::NationalSc);
            human_genetic(r);
        }),
        Case::new(
            "national_sc: human genetic just below",
            pi().ytd(0, NS - S - 1),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            route(r, Route::NationalSc);
            human_genetic(r);
        }),
        // The contract threshold (100,000) is met by national_sc and certification themselves.
        Case::new(
            "national_sc: at threshold_contract",
            pi().ytd(100_000, 0),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| route(r, Route::NationalSc)),
        Case::new(
            "gba_sc: above threshold_contract",
            pi().ytd(100_000, 0),
            "2026-04-15",
            ALLOW,
        ),
        // Saturation: no overflow to a small number.
        Case::new(
            "national_sc: counters saturate",
            pi().subjects(Some(u64::MAX)).ytd(u64::MAX, 0),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| route(r, Route::NationalSc)),
        Case::new(
            "gba_sc: no cap at u64::MAX",
            pi().subjects(Some(u64::MAX)).ytd(u64::MAX, u64::MAX),
            "2026-04-15",
            ALLOW,
        ),
        Case::new(
            "security_assessment: no cap at u64::MAX",
            pi().subjects(Some(u64::MAX)).ytd(u64::MAX, u64::MAX),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| route(r, Route::SecurityAssessment)),
        // Thresholds are parameters.
        Case::new(
            "threshold_assessment is a parameter (at)",
            pi().ytd(400, 0),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| {
            route(r, Route::Certification);
            r.parameters.threshold_assessment = 500;
        }),
        Case::new(
            "threshold_assessment is a parameter (below)",
            pi().ytd(399, 0),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            route(r, Route::Certification);
            r.parameters.threshold_assessment = 500;
        }),
        Case::new(
            "threshold_sensitive_assessment is a parameter",
            pi().ytd(0, 50),
            "2026-04-15",
            Err(R::VolumeRouteInsufficient),
        )
        .tweak(|r| {
            route(r, Route::Certification);
            sensitive(r);
            r.parameters.threshold_sensitive_assessment = 150;
        }),
    ]);
    rows
}

#[test]
fn volume_table() {
    run_table(&cases());
}

#[test]
fn counters_after_adds_to_the_matching_counter_and_saturates() {
    let before = VolumeCounters {
        subjects: 10,
        sensitive_subjects: 20,
    };
    assert_eq!(
        counters_after(before, false, 5),
        VolumeCounters {
            subjects: 15,
            sensitive_subjects: 20
        }
    );
    assert_eq!(
        counters_after(before, true, 5),
        VolumeCounters {
            subjects: 10,
            sensitive_subjects: 25
        }
    );
    assert_eq!(
        counters_after(before, true, u64::MAX).sensitive_subjects,
        u64::MAX
    );
    assert_eq!(counters_after(before, false, u64::MAX).subjects, u64::MAX);
    assert_eq!(counters_after(before, false, 0), before);
}
