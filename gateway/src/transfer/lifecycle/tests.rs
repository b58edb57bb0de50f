use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loopgate_audit::{Outcome, Verdict};
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::transfer::history::Found;

fn decision() -> Record {
    Record::decision(
        datetime!(2026-11-25 08:00 UTC),
        "ab12",
        Some("sz-genomics"),
        Some("hk-biolab"),
        Some("INV-NP-001"),
        Verdict::Allow,
        None,
    )
    .unwrap()
}

fn found(index: u64, record: Record) -> Found {
    Found {
        index,
        leaf: record.to_leaf().unwrap(),
        record,
    }
}

/// An event at `at` with the evidence its kind needs.
fn event(event: LifecycleEvent, at: OffsetDateTime) -> Event {
    Event {
        event,
        at: Some(at),
        note: None,
        project: (event == LifecycleEvent::Accessed).then(|| "cohort-7".to_owned()),
        method: (event == LifecycleEvent::Destroyed).then(|| "shredded".to_owned()),
        certificate_sha256: (event == LifecycleEvent::Destroyed).then(|| "ab".repeat(32)),
    }
}

fn params() -> Parameters {
    loopgate_policy::parse_bundle(&crate::devmode::sample_bundle(time::macros::date!(
        2026 - 11 - 25
    )))
    .unwrap()
    .registry
    .parameters
}

#[test]
fn a_lifecycle_record_copies_the_parties_and_its_evidence() {
    let event = Event {
        note: Some("read by the QC pipeline".into()),
        ..event(LifecycleEvent::Accessed, datetime!(2026-11-25 07:00 UTC))
    };
    let record = record(
        &decision(),
        &event,
        "hk-biolab",
        None,
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
            "note": "read by the QC pipeline", "project": "cohort-7",
            "principal": "tenant/hk-biolab",
        })
    );
    let history = History::of(vec![found(0, decision()), found(1, record)]);
    let events: Vec<_> = history.events().map(|(f, e)| (f.index, e.event)).collect();
    assert_eq!(events, [(1, LifecycleEvent::Accessed)]);
    assert!(!history.destroyed());
}

/// A refused report is a record too, with its code; it is not an event of the history.
#[test]
fn a_refused_report_is_logged_with_its_code_and_changes_nothing() {
    let at = datetime!(2026-11-25 09:00 UTC);
    let destroyed = event(LifecycleEvent::Destroyed, at);
    let refused = record(
        &decision(),
        &destroyed,
        "hk-biolab",
        Some(ReasonCode::LifecycleBadTime),
        at,
    )
    .unwrap();
    assert_eq!(refused.reason, Some(Some("lifecycle.bad_time".to_owned())));
    let back = Record::from_leaf(&refused.to_leaf().unwrap()).unwrap();
    let history = History::of(vec![found(0, decision()), found(1, back)]);
    assert_eq!(history.events().count(), 0);
    assert!(
        !history.destroyed(),
        "a refused destroyed does not close the clock"
    );
}

/// Rule 20's checks, in the order they are made, at the record's own time.
#[test]
fn events_are_checked_against_the_history_and_the_clock() {
    let completed_at = datetime!(2026-11-25 09:00 UTC);
    let now = datetime!(2026-11-26 09:00 UTC);
    let mut completed = Record::outcome(completed_at, "ab12", Outcome::Completed).unwrap();
    completed.details.insert("size".into(), json!(3));
    completed.details.insert(
        "sha256".into(),
        json!("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    );
    completed
        .details
        .insert("upstream_status".into(), json!(201));
    let delivered = vec![found(0, decision()), found(1, completed)];
    let params = params();
    let code =
        |records: &[Found], e: &Event| refusal(e, &History::of(records.to_vec()), now, &params);
    let later = completed_at + time::Duration::hours(1);
    assert_eq!(
        code(&delivered, &event(LifecycleEvent::Stored, later)),
        None
    );
    // Before the transfer completed, or ahead of the clock by more than the skew.
    assert_eq!(
        code(
            &delivered,
            &event(
                LifecycleEvent::Destroyed,
                completed_at - time::Duration::seconds(1)
            )
        ),
        Some(ReasonCode::LifecycleBadTime)
    );
    assert_eq!(
        code(
            &delivered,
            &event(LifecycleEvent::Stored, now + time::Duration::seconds(301))
        ),
        Some(ReasonCode::LifecycleBadTime)
    );
    // No `at`, no project, no certificate: missing evidence.
    let no_at = Event {
        at: None,
        ..event(LifecycleEvent::Stored, later)
    };
    assert_eq!(
        code(&delivered, &no_at),
        Some(ReasonCode::LifecycleMissingEvidence)
    );
    let no_project = Event {
        project: None,
        ..event(LifecycleEvent::Accessed, later)
    };
    assert_eq!(
        code(&delivered, &no_project),
        Some(ReasonCode::LifecycleMissingEvidence)
    );
    // Nothing has happened to data that never arrived.
    assert_eq!(
        code(&delivered[..1], &event(LifecycleEvent::Stored, later)),
        Some(ReasonCode::LifecycleInvalidTransition)
    );
    let destroyed = record(
        &decision(),
        &event(LifecycleEvent::Destroyed, later),
        "hk-biolab",
        None,
        later,
    )
    .unwrap();
    let mut after = delivered.clone();
    after.push(found(2, destroyed));
    assert!(History::of(after.clone()).destroyed());
    assert_eq!(
        code(&after, &event(LifecycleEvent::Accessed, later)),
        Some(ReasonCode::LifecycleInvalidTransition)
    );
}

/// Only the recipient reports, and nothing is logged for anyone else: the sender is
/// forbidden, and to a tenant that is no party the transfer does not exist.
#[test]
fn only_the_recipient_is_admitted() {
    let history = History::of(vec![found(0, decision())]);
    assert!(admit(&history, "hk-biolab", "ab12").is_ok());
    for (tenant, code) in [
        ("sz-genomics", ReasonCode::AuthForbidden),
        ("hk-otherlab", ReasonCode::RequestNotFound),
    ] {
        let refused = admit(&history, tenant, "ab12").unwrap_err();
        assert_eq!(refused.code, code, "{tenant}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_lock_lets_one_holder_in_at_a_time() {
    let locks = Arc::new(Locks::default());
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
            tokio::spawn(async move {
                let _lock = locks.lock("t").await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 1);
    assert_eq!(locks.len(), 0, "released locks are forgotten");
    // Another transfer's lock does not wait for this one.
    let _held = locks.lock("t").await;
    let _other = locks.lock("u").await;
}
