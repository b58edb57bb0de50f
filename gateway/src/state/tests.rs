use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use loopgate_audit::{LogConfig, SigningKey};
use loopgate_policy::{Route, TransferRequest, parse_bundle};
use time::macros::datetime;

use super::*;
use crate::config::Config;
use crate::devmode;

fn state(dir: &Path) -> AppState {
    let config_text = include_str!("../devmode/gateway.toml");
    let config = Config::parse(&dir.join("gateway.toml"), config_text).unwrap();
    let key = SigningKey::generate("test.example/log").unwrap();
    let log = Log::open(LogConfig::new(dir.join("data"), "test.example/log", key)).unwrap();
    let text = devmode::sample_bundle(time::macros::date!(2026 - 11 - 25));
    let mut registry = parse_bundle(&text).unwrap().registry;
    for filing in registry.filings.values_mut() {
        filing.route = Route::NationalSc;
    }
    registry.parameters.threshold_assessment = 1_000;
    let upstreams = Upstreams::new(&BTreeMap::new(), &config.limits, 1).unwrap();
    let stamper = crate::stamp::Stamper::new(Clock::system(), &log).unwrap();
    AppState::new(
        config,
        stamper,
        log,
        PolicySnapshot {
            registry,
            version: 0,
            text: text.into(),
            file_sha256: [0; 32],
        },
        upstreams,
    )
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
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(state(dir.path()));
    let at = datetime!(2026-11-25 10:00 +8);
    let registry = state.policy().registry.clone();
    let registry = Arc::new(registry);
    let allowed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let (state, registry) = (state.clone(), registry.clone());
                scope.spawn(move || state.evaluate(&registry, personal(100), at).is_allowed())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    // 9 transfers of 100 stay under 1,000; the 10th reaches it and needs an assessment.
    assert_eq!(allowed, 9);
    let next = state.evaluate(&registry, personal(100), at);
    assert_eq!(
        next.reason,
        Some(loopgate_policy::ReasonCode::VolumeRouteInsufficient)
    );
}

#[test]
fn a_new_counting_year_starts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let registry = state.policy().registry.clone();
    for _ in 0..9 {
        assert!(
            state
                .evaluate(&registry, personal(100), datetime!(2026-12-31 10:00 +8))
                .is_allowed()
        );
    }
    assert!(
        !state
            .evaluate(&registry, personal(100), datetime!(2026-12-31 23:59 +8))
            .is_allowed()
    );
    // 1 January in UTC+8 is still 31 December in UTC: the park's calendar decides.
    assert!(
        state
            .evaluate(&registry, personal(100), datetime!(2026-12-31 16:00 UTC))
            .is_allowed()
    );
}
