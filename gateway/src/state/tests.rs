use std::collections::BTreeMap;
use std::path::Path;

use loopgate_audit::{LogConfig, Outcome, SigningKey, Verdict};
use loopgate_policy::parse_bundle;
use serde_json::json;
use time::macros::{date, datetime};

use super::*;
use crate::devmode;
use crate::transfer::idempotency::Remembered;

fn state(dir: &Path) -> AppState {
    let config_text = include_str!("../devmode/gateway.toml");
    let config = Config::parse(&dir.join("gateway.toml"), config_text).unwrap();
    let key = SigningKey::generate("test.example/log").unwrap();
    let log = Log::open(LogConfig::new(dir.join("data"), "test.example/log", key)).unwrap();
    let text = devmode::sample_bundle(date!(2026 - 11 - 25));
    let registry = parse_bundle(&text).unwrap().registry;
    let upstreams = Upstreams::new(&BTreeMap::new(), &config.limits, 1).unwrap();
    let stamper = Stamper::new(Clock::system(), &log).unwrap();
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

/// A decision as the pipeline writes it, with an idempotency key and personal data.
fn decision(id: &str, verdict: Verdict, key: &str, subjects: u64) -> Record {
    let mut r = Record::decision(
        datetime!(2026-11-25 02:00 UTC),
        id,
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some("INV-PI-001"),
        verdict,
        (verdict == Verdict::Deny).then_some("contract.unknown"),
    )
    .unwrap();
    r.details.insert("idempotency_key".into(), json!(key));
    r.details.insert("data_class".into(), json!("personal"));
    r.details.insert("data_subjects".into(), json!(subjects));
    r.details.insert("evaluated_on".into(), json!("2026-11-25"));
    r.details.insert("retention_days".into(), json!(30));
    r
}

async fn append(state: &AppState, record: Record) {
    state.append_record(|_| Ok(record)).await.unwrap();
}

#[tokio::test]
async fn start_up_rebuilds_keys_counters_and_the_unfinished_transfers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = state(dir.path());
        append(&state, decision("aa", Verdict::Allow, "k-done", 400)).await;
        let mut done =
            Record::outcome(datetime!(2026-11-25 02:01 UTC), "aa", Outcome::Completed).unwrap();
        done.reason = Some(None);
        append(&state, done).await;
        append(&state, decision("bb", Verdict::Allow, "k-cut", 500)).await;
        append(&state, decision("cc", Verdict::Deny, "k-denied", 9_000)).await;
        state.log.shutdown().await.unwrap();
    }
    let state = state(dir.path());
    let rebuilt = state.rebuild().unwrap();
    assert_eq!(rebuilt.records, 4);
    // Admitted without an outcome: only "bb".
    let unfinished: Vec<_> = rebuilt
        .unfinished
        .iter()
        .map(|r| r.transfer_id.clone().unwrap())
        .collect();
    assert_eq!(unfinished, ["bb"]);
    // Every logged key answers for its transfer, the denied one's too.
    for (key, id) in [("k-done", "aa"), ("k-cut", "bb"), ("k-denied", "cc")] {
        match state.idempotency.remember("sz-genomics", key) {
            (Remembered::Logged(found), false) => assert_eq!(found, id),
            _ => panic!("{key} is not remembered as {id}"),
        }
    }
    // 900 admitted subjects count; the denied 9,000 do not. The sample bundle's national
    // threshold is far away, so count against the views instead: the regulator's counter.
    let counters = state.views.counters(
        datetime!(2026-11-25 03:00 UTC),
        &state.policy().registry,
        None,
    );
    assert_eq!(counters.len(), 1);
    assert_eq!(counters[0].subjects, 900);
    // The decisions' counters hold the same 900.
    let counted = state.volumes.year_to_date(
        "sz-genomics",
        datetime!(2026-11-25 03:00 UTC),
        &state.policy().registry,
    );
    assert_eq!(counted.subjects, 900);
    assert_eq!(counted.sensitive_subjects, 0);
}
