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

fn event(event: LifecycleEvent) -> Event {
    Event {
        event,
        at: None,
        note: None,
    }
}

#[test]
fn a_lifecycle_record_copies_the_parties_and_is_indexed_under_them() {
    let event = Event {
        event: LifecycleEvent::Accessed,
        at: Some(datetime!(2026-11-25 07:00 UTC)),
        note: Some("read by the QC pipeline".into()),
    };
    let record = record(
        &decision(),
        &event,
        "hk-biolab",
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
            "note": "read by the QC pipeline", "principal": "tenant/hk-biolab",
        })
    );
    let history = History::of(vec![found(0, decision()), found(1, record)]);
    let events: Vec<_> = history.events().map(|(f, e)| (f.index, e.event)).collect();
    assert_eq!(events, [(1, LifecycleEvent::Accessed)]);
    assert!(!history.destroyed());
}

/// Rule 20's checks against a transfer's history, in the order they are made.
#[test]
fn events_are_checked_against_the_history() {
    let at = datetime!(2026-11-25 09:00 UTC);
    let mut completed = Record::outcome(at, "ab12", Outcome::Completed).unwrap();
    completed.details.insert("size".into(), json!(3));
    completed.details.insert(
        "sha256".into(),
        json!("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    );
    completed
        .details
        .insert("upstream_status".into(), json!(201));
    let delivered = vec![found(0, decision()), found(1, completed)];
    let code = |records: &[Found], tenant: &str, e: LifecycleEvent| {
        check(&History::of(records.to_vec()), &event(e), tenant, "ab12").map_err(|e| e.code)
    };
    assert_eq!(
        code(&delivered, "hk-biolab", LifecycleEvent::Stored),
        Ok(())
    );
    assert_eq!(
        code(&delivered, "sz-genomics", LifecycleEvent::Stored),
        Err(ReasonCode::AuthForbidden),
        "the sender does not report"
    );
    assert_eq!(
        code(&delivered, "hk-otherlab", LifecycleEvent::Stored),
        Err(ReasonCode::AuthForbidden),
        "nor anyone else"
    );
    // Nothing has happened to data that never arrived.
    assert_eq!(
        code(&delivered[..1], "hk-biolab", LifecycleEvent::Stored),
        Err(ReasonCode::LifecycleInvalidTransition)
    );
    let destroyed = record(
        &decision(),
        &event(LifecycleEvent::Destroyed),
        "hk-biolab",
        at,
    )
    .unwrap();
    let mut after = delivered.clone();
    after.push(found(2, destroyed));
    assert!(History::of(after.clone()).destroyed());
    assert_eq!(
        code(&after, "hk-biolab", LifecycleEvent::Accessed),
        Err(ReasonCode::LifecycleInvalidTransition)
    );
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
