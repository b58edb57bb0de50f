use std::collections::BTreeMap;
use std::path::Path;

use loopgate_audit::{LogConfig, Outcome, SigningKey, Verdict};
use loopgate_policy::parse_bundle;
use serde_json::json;
use time::macros::date;

use super::*;
use crate::devmode;
use crate::transfer::idempotency::Claim;

fn state(dir: &Path) -> Arc<AppState> {
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
        crate::cosign::Cosigning::disabled(),
    )
    .unwrap()
}

/// An hour ago, to the second: the records' time (within the keys' retention).
fn hour_ago() -> OffsetDateTime {
    let now = Clock::system().now() - time::Duration::hours(1);
    now.replace_nanosecond(0).unwrap()
}

/// A decision as the pipeline writes it, with an idempotency key and personal data.
fn decision(id: &str, verdict: Verdict, key: &str, subjects: u64) -> Record {
    let mut r = Record::decision(
        hour_ago(),
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

/// The regulators' counters as the views hold them now.
fn counters(state: &AppState) -> Vec<crate::views::Counter> {
    state
        .views
        .counters(state.clock.now(), &state.policy().registry, None)
        .unwrap()
}

async fn append(state: &AppState, record: Record) {
    state.append_record(|_| Ok(record)).await.unwrap();
}

/// What a start must find, whether the views were kept or rebuilt: the unfinished transfer,
/// every logged key, and the counters.
fn check_found(state: &AppState, rebuilt: &Rebuilt) {
    // Admitted without an outcome: only "bb".
    let unfinished: Vec<_> = rebuilt
        .unfinished
        .iter()
        .map(|r| r.transfer_id.clone().unwrap())
        .collect();
    assert_eq!(unfinished, ["bb"]);
    // Every logged key answers for its transfer, the denied one's too.
    let retention = state.config().limits.idempotency_retention;
    for (key, id) in [("k-done", "aa"), ("k-cut", "bb"), ("k-denied", "cc")] {
        match state
            .idempotency
            .claim("sz-genomics", key, [0; 32], state.clock.now(), retention)
            .unwrap()
        {
            Claim::Logged { transfer_id, .. } => assert_eq!(transfer_id, id),
            other => panic!("{key} is not remembered as {id}: {other:?}"),
        }
    }
    // 900 admitted subjects count; the denied 9,000 do not. The sample bundle's national
    // threshold is far away, so count against the views instead: the regulator's counter.
    let counters = counters(state);
    assert_eq!(counters.len(), 1);
    assert_eq!(counters[0].subjects, 900);
    // The decisions' counters hold the same 900.
    let counted = state
        .volumes
        .year_to_date("sz-genomics", hour_ago(), &state.policy().registry);
    assert_eq!(counted.subjects, 900);
    assert_eq!(counted.sensitive_subjects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_replays_only_what_the_views_miss_and_rebuilds_lost_views() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = state(dir.path());
        let first = tokio::task::block_in_place(|| state.rebuild()).unwrap();
        assert_eq!((first.records, first.unfinished.len()), (0, 0));
        append(&state, decision("aa", Verdict::Allow, "k-done", 400)).await;
        let mut done = Record::outcome(hour_ago(), "aa", Outcome::Completed).unwrap();
        done.reason = Some(None);
        append(&state, done).await;
        append(&state, decision("bb", Verdict::Allow, "k-cut", 500)).await;
        append(&state, decision("cc", Verdict::Deny, "k-denied", 9_000)).await;
        // As the gateway stops.
        state.views_before_stop().await;
        state.log.shutdown().await.unwrap();
    }
    {
        // The stop brought the views up to the log: nothing to replay.
        let state = state(dir.path());
        let rebuilt = tokio::task::block_in_place(|| state.rebuild()).unwrap();
        assert_eq!(rebuilt.records, 0);
        check_found(&state, &rebuilt);
        // Lose the views (as when their version changes): the next start reads the whole log.
        state
            .views_tree
            .now()
            .unwrap()
            .remove(b"m/version")
            .unwrap();
        state.log.shutdown().await.unwrap();
    }
    let state = state(dir.path());
    let rebuilt = tokio::task::block_in_place(|| state.rebuild()).unwrap();
    assert_eq!(rebuilt.records, 4);
    check_found(&state, &rebuilt);
}

/// Appends `record` past the gateway, as a record refused to its appender (the committer could
/// not follow its durable batch, a failed cut) that recovery then finds in the log: durable,
/// but never handed to the views by an acknowledged append.
async fn append_refused_but_durable(state: &AppState, record: Record) {
    let (_, durable) = state.log.append_record(&record).unwrap();
    durable.await.unwrap();
}

/// The outcome records of `id` in the log.
fn outcomes(state: &AppState, id: &str) -> Vec<Outcome> {
    tokio::task::block_in_place(|| {
        crate::transfer::history::History::read(&state.log, id)
            .unwrap()
            .records()
            .iter()
            .filter_map(|f| f.record.outcome)
            .collect()
    })
}

fn completed(id: &str) -> Record {
    let mut done = Record::outcome(hour_ago(), id, Outcome::Completed).unwrap();
    done.reason = Some(None);
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_outcome_that_reached_the_log_gets_no_second_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    tokio::task::block_in_place(|| state.rebuild()).unwrap();
    let running = state.running("dd");
    append(&state, decision("dd", Verdict::Allow, "k-dd", 10)).await;
    // The pipeline's outcome append "failed", yet the record is in the log.
    append_refused_but_durable(&state, completed("dd")).await;
    drop(running);
    assert_eq!(state.conclude_admitted().await.unwrap(), 0);
    assert_eq!(outcomes(&state, "dd"), [Outcome::Completed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_transfer_is_left_alone_and_concluded_once_it_ends_without_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    tokio::task::block_in_place(|| state.rebuild()).unwrap();
    let running = state.running("ff");
    append(&state, decision("ff", Verdict::Allow, "k-ff", 10)).await;
    // Another request's append failed meanwhile: "ff" is still forwarding.
    assert_eq!(state.conclude_admitted().await.unwrap(), 0);
    assert_eq!(outcomes(&state, "ff"), []);
    // It ends without its outcome (the outcome append failed, not durable). No other append
    // fails: its end alone asks for the pass that skipped it to be run again.
    drop(running);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while outcomes(&state, "ff").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the transfer never got its outcome"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(outcomes(&state, "ff"), [Outcome::Interrupted]);
    // A second pass adds nothing.
    assert_eq!(state.conclude_admitted().await.unwrap(), 0);
    assert_eq!(outcomes(&state, "ff"), [Outcome::Interrupted]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_decision_that_reached_the_log_is_concluded_by_the_task_without_another_append() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    tokio::task::block_in_place(|| state.rebuild()).unwrap();
    // The pipeline's decision append "failed" (it answered 503 and forwarded nothing), yet the
    // decision is in the log: the transfer ends without an outcome.
    let running = state.running("ee");
    append_refused_but_durable(&state, decision("ee", Verdict::Allow, "k-ee", 10)).await;
    drop(running);
    // What the pipeline's append saw: a refusal.
    let refused = state
        .append_record(|_| Err(loopgate_audit::Error::InvalidRecord("refused".into())))
        .await;
    assert!(refused.is_err());
    // No request appends anything after: the concluding task writes the outcome by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while outcomes(&state, "ee").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the transfer never got its outcome"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(outcomes(&state, "ee"), [Outcome::Interrupted]);
    // Behind a `resumed` system record.
    let size = state.log.size();
    let resumed = Record::from_leaf(&state.log.read(size - 2).unwrap()).unwrap();
    assert_eq!(resumed.kind, loopgate_audit::Kind::System);
    let details: crate::transfer::records::ResumedDetails = crate::record::read(&resumed).unwrap();
    assert_eq!(
        (details.event.as_str(), details.interrupted),
        ("resumed", 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_writes_its_resumed_record_and_outcomes_with_nothing_between() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    tokio::task::block_in_place(|| state.rebuild()).unwrap();
    append(&state, decision("g1", Verdict::Allow, "k-g1", 10)).await;
    append(&state, decision("g2", Verdict::Allow, "k-g2", 10)).await;
    // Other requests keep appending while the pass writes.
    let others: Vec<_> = (0..4)
        .map(|t| {
            let state = state.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let id = format!("x{t}-{i}");
                    append(&state, decision(&id, Verdict::Deny, &id, 1)).await;
                }
            })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(state.conclude_admitted().await.unwrap(), 2);
    for other in others {
        other.await.unwrap();
    }
    let records: Vec<Record> = (0..state.log.size())
        .map(|i| Record::from_leaf(&state.log.read(i).unwrap()).unwrap())
        .collect();
    let at = records
        .iter()
        .position(|r| r.kind == loopgate_audit::Kind::System)
        .expect("the resumed record");
    let next: Vec<_> = records[at + 1..at + 3]
        .iter()
        .map(|r| (r.transfer_id.clone().unwrap_or_default(), r.outcome))
        .collect();
    assert_eq!(
        next,
        [
            ("g1".to_owned(), Some(Outcome::Interrupted)),
            ("g2".to_owned(), Some(Outcome::Interrupted))
        ]
    );
}

/// The views of `state` opened as at start, without the follower task (so nothing applies the
/// handed-over records but what a test calls).
fn opened(dir: &Path) -> Arc<AppState> {
    let state = state(dir);
    tokio::task::block_in_place(|| state.open_views()).unwrap();
    state
}

fn claimed(state: &AppState, key: &str) -> Claim {
    tokio::task::block_in_place(|| state.claim_key("sz-genomics", key, [0; 32])).unwrap()
}

/// sled loses the writes it had not flushed when the log reopens its index in the same
/// process (`Log::heal`), those of the views' tree too: the views are read back from what sled
/// kept and caught up from the log, so no record is skipped (an idempotency key lost there
/// would let a retry deliver twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_views_resume_from_what_sled_kept_when_the_log_reopens_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let state = opened(dir.path());
    append(&state, decision("aa", Verdict::Allow, "k-a", 100)).await;
    tokio::task::block_in_place(|| state.views_current()).unwrap();
    let tree = state.views_tree.now().unwrap();
    let flushed: Vec<_> = tree.iter().map(Result::unwrap).collect();
    append(&state, decision("bb", Verdict::Allow, "k-b", 200)).await;
    append(&state, decision("cc", Verdict::Allow, "k-c", 300)).await;
    tokio::task::block_in_place(|| state.views_current()).unwrap();
    assert_eq!(state.follow.covered(), 3);
    // What sled had not flushed is lost: the tree is as it was after "aa".
    tree.clear().unwrap();
    for (k, v) in flushed {
        tree.insert(k, v).unwrap();
    }
    drop(tree);
    state.log.fail_index_for_tests();
    tokio::task::block_in_place(|| state.log.heal()).unwrap();
    append(&state, decision("dd", Verdict::Allow, "k-d", 400)).await;
    tokio::task::block_in_place(|| state.views_current()).unwrap();
    for (key, id) in [("k-a", "aa"), ("k-b", "bb"), ("k-c", "cc"), ("k-d", "dd")] {
        match claimed(&state, key) {
            Claim::Logged { transfer_id, .. } => assert_eq!(transfer_id, id),
            other => panic!("{key} is not remembered as {id}: {other:?}"),
        }
    }
    let counters = counters(&state);
    assert_eq!(
        counters[0].subjects, 1000,
        "every admitted subject counted once"
    );
    assert_eq!(state.follow.covered(), 4);
}

/// A catch-up applies consecutive records in runs, one sled batch each (a batch per record
/// flooded sled's IO threads, which can deadlock sled 0.34), and each record of a run sees what
/// those before it in the run counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_applies_its_records_in_few_batches() {
    let dir = tempfile::tempdir().unwrap();
    let state = opened(dir.path());
    let mut appends = tokio::task::JoinSet::new();
    for i in 0..2_500 {
        let state = state.clone();
        appends.spawn(async move {
            let id = format!("t{i}");
            append(&state, decision(&id, Verdict::Allow, &id, 1)).await;
        });
    }
    appends.join_all().await;
    assert_eq!(state.follow.covered(), 0, "handed over, not applied");
    let before = state.follow.batches();
    tokio::task::block_in_place(|| state.views_current()).unwrap();
    assert_eq!(state.follow.covered(), 2_500);
    assert_eq!(
        state.follow.batches() - before,
        3,
        "runs of at most 1024 records"
    );
    let counters = counters(&state);
    assert_eq!(
        counters[0].subjects, 2_500,
        "every admitted subject counted"
    );
}

/// A key is looked up once the views hold every acknowledged record, not only those the
/// follower got to: a decision durable but not yet applied is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_catches_the_views_up_before_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let state = opened(dir.path());
    append(&state, decision("aa", Verdict::Allow, "k-a", 1)).await;
    assert_eq!(state.follow.covered(), 0, "handed over, not applied");
    match claimed(&state, "k-a") {
        Claim::Logged { transfer_id, .. } => assert_eq!(transfer_id, "aa"),
        other => panic!("k-a is not remembered: {other:?}"),
    }
}

/// A key stays marked running until the views cover its transfer's records, however long
/// that takes; then it is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_key_is_released_only_once_the_views_cover_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let state = opened(dir.path());
    let (held, released) = tokio::sync::oneshot::channel::<()>();
    // Not covered yet: the log holds no record 0.
    assert!(!state.release_when_covered(1, held).await);
    let mut released = released;
    tokio::task::yield_now().await;
    assert!(
        matches!(
            released.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        ),
        "still held"
    );
    append(&state, decision("aa", Verdict::Allow, "k-a", 1)).await;
    // The retrying task catches the views up and lets go (generous bound).
    let dropped = tokio::time::timeout(std::time::Duration::from_secs(30), released).await;
    assert!(matches!(dropped, Ok(Err(_))), "released once covered");
    assert_eq!(state.follow.covered(), 1);
}

/// An append beyond the views' backlog waits for it without blocking its thread (the views
/// are applied on a blocking thread, never by the appender): on a single-threaded runtime the
/// other tasks still run, and it goes on once the backlog drains.
#[tokio::test(flavor = "current_thread")]
async fn an_append_over_the_backlog_waits_without_blocking_its_thread() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    state.open_views().unwrap();
    let record = decision("aa", Verdict::Allow, "k-a", 1);
    // A backlog the follower cannot apply (a gap before it): 4096 records.
    state.follow.hand_over_for_tests(1_000, 4_096, &record);
    let appender = state.clone();
    let waiting = tokio::spawn(async move { appender.followed(10_000, record, [0; 32]).await });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "the appender waits for the backlog");
    state.follow.drain_for_tests();
    tokio::time::timeout(std::time::Duration::from_secs(30), waiting)
        .await
        .unwrap()
        .unwrap();
}
