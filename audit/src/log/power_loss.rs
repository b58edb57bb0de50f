//! Acknowledged means durable, under a simulated power loss (`store::fsio::fault`), which
//! keeps only what was synced, where a SIGKILL keeps the page cache:
//!
//! - concurrent appenders, and the power goes at a random operation (between a batch's write and
//!   its fdatasync, in a segment's creation, in a checkpoint's replacement, ...), or the process
//!   dies there and the power goes after the next process recovered; the unsynced bytes and names
//!   are dropped, the last write maybe torn, and the reopened log holds every acknowledged record
//!   at its index with its bytes, nothing half, passes `verify_dir`, and appends on;
//! - an fdatasync that fails after its write: nothing of the batch is acknowledged, its bytes
//!   are cut at once, the log fails closed, and a reopen (with or without a power loss) holds
//!   exactly the acknowledged records.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::layout::SEGMENT_HEADER;
use crate::store::{self, fsio::fault};
use crate::verify::verify_dir;

#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/common/cases.rs"]
mod cases;

const KEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

/// Small segments (a few records each, so batches cross into new ones), fast retries.
fn config(dir: &Path) -> LogConfig {
    let mut c = LogConfig::new(dir, "PeterNeumann", SigningKey::parse(KEY).unwrap());
    c.segment_max_bytes = 2048;
    c.retry_after = Duration::from_millis(5);
    c
}

/// A valid record, unique per appender and number, padded to about `pad` bytes.
fn leaf(appender: usize, j: u64, pad: usize) -> Vec<u8> {
    let mut r = format!(
        r#"{{"v":1,"kind":"decision","time":"2026-11-25T13:00:{:02}Z","transfer_id":"a{appender}-{j}","sender":"s-{appender}","recipient":"hk-biolab","item":"INV-NP-001","decision":"allow","reason":null"#,
        j % 60
    );
    let fill = pad.saturating_sub(r.len() + 12);
    r.push_str(&format!(r#","note":"{}"}}"#, "x".repeat(fill)));
    r.into_bytes()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the appenders were told: `(index, leaf)` of each acknowledged record, and every leaf
/// they tried.
#[derive(Default)]
struct Told {
    acked: Vec<(u64, Vec<u8>)>,
    tried: HashSet<Vec<u8>>,
}

/// `appenders` tasks at once, each appending `per` records one after another (going on after
/// errors).
fn append_concurrently(
    rt: &tokio::runtime::Runtime,
    log: &Log,
    appenders: usize,
    per: u64,
    pad: usize,
    told: &mut Told,
) {
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|a| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for j in 0..per {
                        let leaf = leaf(a + 1, j, pad + (a * 97 + j as usize * 31) % 300);
                        let result = log.append(leaf.clone()).await;
                        out.push((leaf, result));
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    for (leaf, result) in results {
        told.tried.insert(leaf.clone());
        match result {
            Ok(a) => told.acked.push((a.index, leaf)),
            Err(Error::Unavailable(_)) => {}
            Err(e) => panic!("an append failed otherwise than unavailable: {e}"),
        }
    }
}

/// Every segment file ends just past its last record: the zeros preallocated past the records
/// are cut from a segment before the next one is made, and from the last one by open.
fn segments_end_at_their_records(dir: &Path) -> std::result::Result<(), String> {
    for (first, path) in store::list_segments(&dir.join(SEGMENTS)).unwrap() {
        let scanned = store::scan(&path, first, SEGMENT_HEADER, first, |_, _, _| Ok(())).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        if scanned.bad.is_some() || scanned.end != len {
            return Err(format!(
                "{} is {len} bytes but its records end at {} ({:?})",
                path.display(),
                scanned.end,
                scanned.bad
            ));
        }
    }
    Ok(())
}

/// Opens the log after a power loss; `crash_at`: the power goes again at that operation of the
/// recovery (then the open may fail, and the next one, after that power loss, must not).
fn reopen(dir: &Path, crash_at: Option<u64>, tear: Option<u16>) -> Result<Log> {
    if let Some(n) = crash_at {
        fault::crash_after(dir, n);
        let opened = Log::open(config(dir));
        let crashed = fault::crashed(dir);
        if !crashed {
            // The recovery finished before the countdown.
            fault::disarm(dir);
            return opened;
        }
        drop(opened);
        fault::power_loss(dir, tear).unwrap();
    }
    Log::open(config(dir))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases::cases(32)))]

    /// The power goes at a random operation while several appenders write; every record that
    /// was acknowledged survives at its index with its bytes, and nothing else is half there.
    #[test]
    fn acknowledged_records_survive_a_power_loss(
        before in 0u64..24,
        appenders in 1usize..6,
        per in 1u64..12,
        pad in 100usize..500,
        at_a_sync in any::<bool>(),
        crash_permille in 0u64..1000,
        tear in proptest::option::of(0u16..=1000),
        killed_first in any::<bool>(),
        crash_in_recovery in proptest::option::of(1u64..10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let _tracked = fault::track(dir.path());
        // A new data directory: its own name is durable only once its parent is synced.
        let data = dir.path().join("data");
        let path = data.as_path();
        let rt = rt();
        let log = Log::open(config(path)).unwrap();
        let mut told = Told::default();
        for j in 0..before {
            let leaf = leaf(0, j, pad);
            let a = rt.block_on(log.append(leaf.clone())).unwrap();
            told.tried.insert(leaf.clone());
            told.acked.push((a.index, leaf));
        }
        // The power goes at some operation of the appends, or at some sync (then right after the
        // writes it would have made durable). Each appender waits for one append before the
        // next, so there are at least `per` batches, each a write and a sync: it does go.
        if at_a_sync {
            fault::crash_at_sync(path, 1 + crash_permille * per / 1000);
        } else {
            fault::crash_after(path, 1 + crash_permille * 2 * per / 1000);
        }
        append_concurrently(&rt, &log, appenders, per, pad, &mut told);
        prop_assert!(fault::crashed(path), "the power did not go");
        // The threads stop; whatever they still write (the last checkpoint) fails after a crash.
        drop(log);
        if killed_first {
            // The process died and the machine did not: the next process recovers from the page
            // cache (and must make durable what it adopts), and the power goes after that.
            fault::kill(path);
            let log = Log::open(config(path)).unwrap();
            for (index, leaf) in &told.acked {
                prop_assert_eq!(&log.read(*index).unwrap(), leaf, "record {} after a kill", index);
            }
            drop(log);
        }
        fault::power_loss(path, tear).unwrap();
        // As the power left it, the directory verifies (a torn tail is only a note), with its
        // stored checkpoint and key.
        let vkey = SigningKey::parse(KEY).unwrap().verifier();
        match verify_dir(path, None) {
            Ok(report) => prop_assert!(report.checkpoint.is_some(), "no stored checkpoint"),
            Err(e) => return Err(TestCaseError::fail(format!("verify after a power loss: {e}"))),
        }

        let log = match reopen(path, crash_in_recovery, tear) {
            Ok(log) => log,
            Err(e) => return Err(TestCaseError::fail(format!("reopen after a power loss: {e}"))),
        };
        let size = log.size();
        for (index, leaf) in &told.acked {
            prop_assert!(*index < size, "acknowledged record {} lost (size {})", index, size);
            prop_assert_eq!(&log.read(*index).unwrap(), leaf, "record {} changed", index);
        }
        // Unacknowledged records may survive, whole: each one a record that was appended, once.
        let mut seen = HashSet::new();
        for i in 0..size {
            let leaf = log.read(i).unwrap();
            prop_assert!(told.tried.contains(&leaf), "record {} was never appended", i);
            prop_assert!(seen.insert(leaf), "record {} is there twice", i);
        }
        if let Err(e) = segments_end_at_their_records(path) {
            return Err(TestCaseError::fail(e));
        }
        // Appends go on after the reopen, from the recovered size.
        let more: Vec<_> = (0..3).map(|j| leaf(9, j, pad)).collect();
        for (j, leaf) in more.iter().enumerate() {
            let a = rt.block_on(log.append(leaf.clone())).unwrap();
            prop_assert_eq!(a.index, size + j as u64);
        }
        rt.block_on(log.shutdown()).unwrap();
        drop(log);
        let report = verify_dir(path, Some(&vkey)).unwrap();
        prop_assert_eq!(report.size, size + 3);
        prop_assert_eq!(report.checkpoint.map(|c| c.size()), Some(size + 3));
        prop_assert_eq!(report.torn_tail, None);
    }
}

/// An fdatasync that fails after its write went through (`persisted`: its bytes reached the
/// disk anyway, or not): nothing of the batch is acknowledged, its bytes are cut from the
/// segment at once (zeros too: the file ends at the durable end), the log is unavailable and
/// refuses appends, and a reopen, with or without a power loss first, holds exactly the
/// acknowledged records.
#[test]
fn a_failed_fdatasync_acknowledges_nothing_and_cuts_the_batch() {
    for persisted in [false, true] {
        for power_loss in [false, true] {
            let case = format!("persisted {persisted}, power loss {power_loss}");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path();
            let _tracked = fault::track(path);
            let rt = rt();
            let mut c = config(path);
            c.segment_max_bytes = 1 << 20;
            // No retry within the test: the log stays failed.
            c.retry_after = Duration::from_secs(3600);
            let log = Log::open(c).unwrap();
            let acked: Vec<Vec<u8>> = (0..5).map(|j| leaf(0, j, 200)).collect();
            for (j, leaf) in acked.iter().enumerate() {
                assert_eq!(
                    rt.block_on(log.append(leaf.clone())).unwrap().index,
                    j as u64
                );
            }
            let segment = path.join(SEGMENTS).join(crate::layout::segment_name(0));
            let durable = store::scan(&segment, 0, SEGMENT_HEADER, 0, |_, _, _| Ok(()))
                .unwrap()
                .end;
            assert!(
                std::fs::metadata(&segment).unwrap().len() > durable,
                "zeros ahead"
            );

            fault::fail_syncs(path, 1, persisted);
            let failed = rt.block_on(async {
                let pending: Vec<_> = (0..4).map(|j| log.append(leaf(1, j, 200))).collect();
                let mut out = Vec::new();
                for p in pending {
                    out.push(p.await);
                }
                out
            });
            for r in &failed {
                assert!(matches!(r, Err(Error::Unavailable(_))), "{case}: {r:?}");
            }
            let health = log.health();
            assert!(!health.available && !log.is_available(), "{case}");
            assert!(
                health
                    .last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("fdatasync"),
                "{case}: {health:?}"
            );
            assert!(
                matches!(
                    rt.block_on(log.append(leaf(2, 0, 200))),
                    Err(Error::Unavailable(_))
                ),
                "{case}: appends are refused"
            );
            assert_eq!(
                std::fs::metadata(&segment).unwrap().len(),
                durable,
                "{case}: the failed batch is cut at once"
            );
            drop(log);
            if power_loss {
                fault::power_loss(path, None).unwrap();
            }

            let log = Log::open(config(path)).unwrap();
            assert_eq!(log.size(), 5, "{case}");
            for (j, leaf) in acked.iter().enumerate() {
                assert_eq!(&log.read(j as u64).unwrap(), leaf, "{case}");
            }
            assert_eq!(rt.block_on(log.append(leaf(3, 0, 200))).unwrap().index, 5);
            drop(log);
            assert_eq!(verify_dir(path, None).unwrap().size, 6, "{case}");
        }
    }
}

/// A process killed between a batch's write and its fdatasync leaves the batch whole in the
/// page cache; the next process adopts it as records and signs a checkpoint over them, so it
/// must make them durable first: a power loss after that recovery must not take back what it
/// signed (the log would then refuse to open). The batch here ends the segment (past its size
/// limit, with no zeros after it), so that no cut of preallocated zeros syncs it by the way.
#[test]
fn records_a_recovery_adopts_are_durable_before_it_signs_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let _tracked = fault::track(path);
    let rt = rt();
    let mut c = config(path);
    c.segment_max_bytes = 4096;
    let log = Log::open(c).unwrap();
    for j in 0..9 {
        rt.block_on(log.append(leaf(0, j, 400))).unwrap();
    }
    fault::crash_at_sync(path, 1);
    assert!(rt.block_on(log.append(leaf(0, 9, 400))).is_err());
    drop(log);
    let segment = path.join(SEGMENTS).join(crate::layout::segment_name(0));
    let scanned = store::scan(&segment, 0, SEGMENT_HEADER, 0, |_, _, _| Ok(())).unwrap();
    assert_eq!(
        scanned.next_index, 10,
        "the batch is whole in the page cache"
    );
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        scanned.end,
        "no zeros after it"
    );

    fault::kill(path);
    let log = Log::open(config(path)).unwrap();
    assert_eq!(log.size(), 10, "the next process adopts the batch");
    drop(log);
    fault::power_loss(path, None).unwrap();
    let log = Log::open(config(path)).unwrap();
    assert_eq!(log.size(), 10);
    assert_eq!(log.read(9).unwrap(), leaf(0, 9, 400));
}

/// What `shutdown` stores is durable: the latest checkpoint (and the verifier key) are there,
/// whole, after a power loss that follows it.
#[test]
fn the_checkpoint_stored_at_shutdown_survives_a_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let _tracked = fault::track(path);
    let rt = rt();
    let log = Log::open(config(path)).unwrap();
    for j in 0..5 {
        rt.block_on(log.append(leaf(0, j, 200))).unwrap();
    }
    rt.block_on(log.shutdown()).unwrap();
    drop(log);
    fault::power_loss(path, None).unwrap();
    let vkey = SigningKey::parse(KEY).unwrap().verifier();
    let text = std::fs::read_to_string(path.join(CHECKPOINT)).unwrap();
    assert_eq!(Checkpoint::open(&text, &vkey).unwrap().size(), 5);
    let stored_key = std::fs::read_to_string(path.join(VERIFIER_KEY)).unwrap();
    assert_eq!(stored_key.trim(), vkey.to_string());
}

/// The space probe leaves nothing behind, not even after a power loss.
#[test]
fn the_space_probe_leaves_nothing_after_a_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let _tracked = fault::track(path);
    let log = Log::open(config(path)).unwrap();
    log.probe_space().unwrap();
    drop(log);
    fault::power_loss(path, None).unwrap();
    assert!(!path.join(SPACE_PROBE).exists());
    assert!(!path.join(format!("{SPACE_PROBE}.tmp")).exists());
}

/// The power goes at each sync of the append that makes a new segment (the new one's header,
/// its directory, its first batch), with the last write lost or torn: the
/// log opens with every acknowledged record. A new segment's header is synced before any batch
/// is written into it: a torn batch behind a header that never reached the disk would read as
/// a damaged segment, and the log would refuse to open.
#[test]
fn a_power_loss_around_a_new_segment_leaves_a_log_that_opens() {
    for n in 1..=3 {
        for tear in [None, Some(0), Some(500), Some(1000)] {
            let case = format!("crash at sync {n}, tear {tear:?}");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path();
            let _tracked = fault::track(path);
            let rt = rt();
            let log = Log::open(config(path)).unwrap();
            // Five records fill the first segment past its 2048 bytes (no zeros after them, so
            // there is nothing to cut from it): the next one makes the second segment.
            let leaves: Vec<_> = (0..6).map(|j| leaf(0, j, 400)).collect();
            for leaf in &leaves[..5] {
                rt.block_on(log.append(leaf.clone())).unwrap();
            }
            fault::crash_at_sync(path, n);
            let acked = rt.block_on(log.append(leaves[5].clone())).is_ok();
            assert!(fault::crashed(path), "{case}");
            assert_eq!(
                store::list_segments(&path.join(SEGMENTS)).unwrap().len(),
                2,
                "{case}"
            );
            drop(log);
            fault::power_loss(path, tear).unwrap();
            let log = match Log::open(config(path)) {
                Ok(log) => log,
                Err(e) => panic!("{case}: {e}"),
            };
            let held = if acked { 6 } else { 5 };
            assert!(log.size() >= held, "{case}");
            for (j, leaf) in leaves[..held as usize].iter().enumerate() {
                assert_eq!(&log.read(j as u64).unwrap(), leaf, "{case}");
            }
        }
    }
}
