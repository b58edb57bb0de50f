//! The log end to end in one process: group commit, proofs, reads, reopen, index rebuild,
//! cancel safety, and failing closed on an injected write error.

use std::time::Duration;

use super::*;
use crate::store::fsio::fault;
use crate::tree::{verify_consistency, verify_inclusion};
use crate::verify::verify_dir;

fn record(i: u64) -> Vec<u8> {
    format!(
        r#"{{"v":1,"kind":"decision","time":"2026-11-25T13:00:{:02}Z","transfer_id":"t-{i}","sender":"s-{}","recipient":"hk-biolab","item":"INV-NP-001","decision":"{}","reason":{}}}"#,
        i % 60,
        i % 3,
        if i % 2 == 0 { "allow" } else { "deny" },
        if i % 2 == 0 { "null".to_owned() } else { "\"tenant.not_whitelisted\"".to_owned() },
    )
    .into_bytes()
}

const KEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

fn config(dir: &std::path::Path) -> LogConfig {
    let mut c = LogConfig::new(dir, "PeterNeumann", SigningKey::parse(KEY).unwrap());
    c.segment_max_bytes = 4096;
    c.retry_after = Duration::from_millis(20);
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn concurrent_appends_are_durable_provable_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let vkey = log.verifier_key().clone();
    let acks = rt().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                (i, log.append(record(i)).await.unwrap())
            }));
        }
        let mut acks = Vec::new();
        for t in tasks {
            acks.push(t.await.unwrap());
        }
        acks
    });
    let mut seen: Vec<u64> = acks.iter().map(|(_, a)| a.index).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    let latest = log.latest_checkpoint();
    assert_eq!(latest.size(), 200);
    for (i, a) in &acks {
        let cp = Checkpoint::open(a.checkpoint.text(), &vkey).unwrap();
        assert!(a.index < cp.size());
        assert_eq!(a.leaf_hash, tree::leaf_hash(&record(*i)));
        verify_inclusion(
            a.index,
            cp.size(),
            &a.leaf_hash,
            &a.inclusion_proof,
            cp.root(),
        )
        .unwrap();
        assert_eq!(log.read(a.index).unwrap(), record(*i));
        let p = log.inclusion_proof(a.index, 200).unwrap();
        verify_inclusion(a.index, 200, &a.leaf_hash, &p, latest.root()).unwrap();
        let c = log.consistency_proof(cp.size(), 200).unwrap();
        verify_consistency(cp.size(), 200, cp.root(), latest.root(), &c).unwrap();
    }
    // Every sender-0 decision is found through the index, in log order.
    let s0 = log.query(Field::Sender, b"s-0", None, 1000).unwrap();
    assert_eq!(s0.len(), 67);
    assert!(s0.windows(2).all(|w| w[0] < w[1]));
    assert!(log.read(200).is_err());
    assert!(log.inclusion_proof(0, 201).is_err());
    drop(log);
    let report = verify_dir(dir.path(), Some(&vkey)).unwrap();
    assert_eq!(report.size, 200);
    assert_eq!(report.checkpoint.unwrap().size(), 200);
}

#[test]
fn reopening_and_rebuilding_the_index_keep_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Log::open(config(dir.path())).unwrap();
    rt.block_on(async {
        for i in 0..70 {
            log.append(record(i)).await.unwrap();
        }
        log.shutdown().await.unwrap();
    });
    assert!(matches!(
        rt.block_on(log.append(record(70))),
        Err(Error::Closed)
    ));
    let root = log.root(70).unwrap();
    let proof = log.inclusion_proof(33, 70).unwrap();
    drop(log);

    assert!(verify_dir(dir.path(), None).unwrap().segments > 1);
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!((log.size(), log.root(70).unwrap()), (70, root));
    drop(log);

    std::fs::remove_dir_all(dir.path().join(INDEX)).unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.size(), 70);
    assert_eq!(log.inclusion_proof(33, 70).unwrap(), proof);
    assert_eq!(log.read(69).unwrap(), record(69));
    let a = rt.block_on(log.append(record(70))).unwrap();
    assert_eq!(a.index, 70);
}

/// The zeros preallocated past the active segment's records stay after a crash (and after a
/// stop): they are the log's clean end for verify and open, which cuts them; appends go on.
#[test]
fn preallocated_zeros_are_the_clean_end_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut c = config(dir.path());
        c.segment_max_bytes = 4 << 20;
        c
    };
    let log = Log::open(config()).unwrap();
    append_all(&log, 0..30);
    let seg = dir
        .path()
        .join(SEGMENTS)
        .join(crate::layout::segment_name(0));
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        crate::store::PREALLOCATE
    );
    drop(log); // no shutdown: a crash

    let report = verify_dir(dir.path(), None).unwrap();
    assert_eq!((report.size, report.torn_tail), (30, None));
    let log = Log::open(config()).unwrap();
    assert_eq!(log.size(), 30);
    assert!(
        std::fs::metadata(&seg).unwrap().len() < 30 * 300,
        "open cut the zeros"
    );
    let a = rt().block_on(log.append(record(30))).unwrap();
    assert_eq!(a.index, 30);
    assert_eq!(log.read(29).unwrap(), record(29));
    rt().block_on(log.shutdown()).unwrap();
    assert_eq!(verify_dir(dir.path(), None).unwrap().size, 31);
}

#[test]
fn a_dropped_append_future_still_writes_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Log::open(config(dir.path())).unwrap();
    drop(log.append(record(0)));
    rt.block_on(log.shutdown()).unwrap();
    drop(log);
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.read(0).unwrap(), record(0));
}

#[test]
fn write_errors_fail_closed_and_the_log_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Log::open(config(dir.path())).unwrap();
    rt.block_on(async {
        for i in 0..5 {
            log.append(record(i)).await.unwrap();
        }
        fault::set(dir.path(), true);
        let failed = log.append(record(5)).await;
        assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
        assert!(!log.is_available());
        assert!(log.health().last_error.is_some());
        // Within the backoff, appends fail at once without reaching the disk.
        assert!(matches!(
            log.append(record(6)).await,
            Err(Error::Unavailable(_))
        ));
        tokio::time::sleep(Duration::from_millis(30)).await;
        // After the backoff the next append probes the disk, which still fails.
        assert!(log.append(record(7)).await.is_err());
        fault::set(dir.path(), false);
        // Without any append, the log says it is writable again once its folder takes a
        // probe write (so that /readyz turns green without waiting for traffic).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.is_available() {
            assert!(Instant::now() < deadline, "never writable again by itself");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let a = log.append(record(8)).await.unwrap();
        assert_eq!(a.index, 5, "failed batches leave no gap and no index");
        assert!(log.is_available());
        assert_eq!(log.read(5).unwrap(), record(8));
    });
    drop(log);
    assert_eq!(verify_dir(dir.path(), None).unwrap().size, 6);
}

#[test]
fn invalid_and_oversized_records_are_refused_before_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_record_bytes = 100;
    let log = Log::open(c).unwrap();
    let rt = rt();
    assert!(matches!(
        rt.block_on(log.append(b"{}".to_vec())),
        Err(Error::InvalidRecord(_))
    ));
    assert!(matches!(
        rt.block_on(log.append(vec![b' '; 101])),
        Err(Error::RecordTooLarge { .. })
    ));
    assert_eq!(log.size(), 0);
}

/// Appends records `n` in order, in commit batches of up to 5 (so small segments fill).
fn append_all(log: &Log, n: std::ops::Range<u64>) {
    let ids: Vec<u64> = n.collect();
    rt().block_on(async {
        for chunk in ids.chunks(5) {
            let pending: Vec<_> = chunk.iter().map(|&i| log.append(record(i))).collect();
            for p in pending {
                p.await.unwrap();
            }
        }
    });
}

#[test]
fn last_finds_the_newest_of_several() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.last(Field::Kind, b"decision").unwrap(), None);
    append_all(&log, 0..40);
    assert_eq!(log.last(Field::Sender, b"s-1").unwrap(), Some(37));
    assert_eq!(log.last(Field::Sender, b"s-2").unwrap(), Some(38));
    assert_eq!(log.last(Field::Decision, b"deny").unwrap(), Some(39));
    assert_eq!(log.last(Field::Sender, b"s-9").unwrap(), None);
    assert_eq!(log.last(Field::Recipient, b"s-1").unwrap(), None);
    append_all(&log, 40..42);
    assert_eq!(log.last(Field::Sender, b"s-1").unwrap(), Some(40));
    assert_eq!(log.last(Field::Kind, b"decision").unwrap(), Some(41));
}

#[test]
fn read_range_streams_across_segments_like_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    append_all(&log, 0..100);
    let segments = crate::store::list_segments(&dir.path().join(SEGMENTS)).unwrap();
    assert!(segments.len() >= 4, "{} segments", segments.len());
    let firsts: Vec<u64> = segments.iter().map(|s| s.0).collect();
    // Every range starting and ending at, just before and just after a segment boundary.
    let mut edges: Vec<u64> = firsts
        .iter()
        .flat_map(|&f| [f.saturating_sub(1), f, f + 1])
        .collect();
    edges.extend([0, 15, 16, 17, 99, 100]);
    for &from in &edges {
        for &to in &edges {
            let got: Vec<(u64, Vec<u8>)> = log
                .read_range(from, to)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let want: Vec<(u64, Vec<u8>)> = (from..to.min(100))
                .map(|i| (i, log.read(i).unwrap()))
                .collect();
            assert_eq!(got, want, "{from}..{to}");
        }
    }
    // `to` is clamped to the size; `from == size` is empty; `from` past the size an error.
    assert_eq!(log.read_range(98, u64::MAX).unwrap().count(), 2);
    assert_eq!(log.read_range(100, 200).unwrap().count(), 0);
    assert_eq!(log.read_range(50, 10).unwrap().count(), 0);
    assert!(matches!(
        log.read_range(101, 200).map(|_| ()),
        Err(Error::OutOfRange {
            value: 101,
            size: 100,
            ..
        })
    ));
}

#[test]
fn read_range_released_between_records_closes_its_file_and_reads_on_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    append_all(&log, 0..100);
    let want: Vec<(u64, Vec<u8>)> = log.read_range(3, 97).unwrap().map(Result::unwrap).collect();
    let mut frames = log.read_range(3, 97).unwrap();
    assert!(!frames.is_open(), "nothing is opened before the first read");
    let mut got = Vec::new();
    while let Some(item) = frames.next() {
        got.push(item.unwrap());
        assert!(frames.is_open());
        // A paused consumer (a stalled export stream) holds no segment file.
        frames.release();
        assert!(!frames.is_open(), "released after record {}", got.len());
    }
    assert_eq!(
        got, want,
        "reopening at the offset reached reads the same records"
    );
}

#[test]
fn read_range_stops_at_a_damaged_frame() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    append_all(&log, 0..60);
    // Flip a byte of record 40's leaf in place.
    let needle = br#""t-40""#;
    let damaged = crate::store::list_segments(&dir.path().join(SEGMENTS))
        .unwrap()
        .into_iter()
        .find_map(|(_, path)| {
            let mut bytes = std::fs::read(&path).unwrap();
            let at = bytes.windows(needle.len()).position(|w| w == needle)?;
            bytes[at + 1] ^= 0x20;
            std::fs::write(&path, bytes).unwrap();
            Some(path)
        })
        .unwrap();
    let items: Vec<_> = log.read_range(30, 60).unwrap().collect();
    assert_eq!(
        items.len(),
        11,
        "10 good records, then the error, then nothing"
    );
    for (i, item) in items[..10].iter().enumerate() {
        assert_eq!(item.as_ref().unwrap().0, 30 + i as u64);
    }
    match &items[10] {
        Err(Error::Corrupt {
            segment,
            index,
            what,
            ..
        }) => {
            assert_eq!((segment, *index), (&damaged, 40));
            assert!(what.contains("checksum"), "{what}");
        }
        other => panic!("expected corruption at 40, got {other:?}"),
    }
    assert!(log.read(40).is_err());
}

#[test]
fn an_index_written_before_the_id_buckets_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let id = |i: u64| format!("0190f3a1b2c3{:020x}", i % 5);
    let rt = rt();
    for i in 0..30u64 {
        let leaf = String::from_utf8(record(i))
            .unwrap()
            .replace(&format!("\"t-{i}\""), &format!("\"{}\"", id(i)));
        rt.block_on(log.append(leaf.into_bytes())).unwrap();
    }
    let want: Vec<u64> = (0..30).filter(|i| i % 5 == 2).collect();
    assert_eq!(
        log.query(Field::Transfer, id(2).as_bytes(), None, 100)
            .unwrap(),
        want
    );
    rt.block_on(log.shutdown()).unwrap();
    drop(log);

    let index = Index::open(&dir.path().join(INDEX)).unwrap();
    index.forget_id_buckets();
    assert_eq!(index.terms_size().unwrap(), 30);
    assert_eq!(
        index
            .query(Field::Transfer, id(2).as_bytes(), None, 100)
            .unwrap(),
        Vec::<u64>::new()
    );
    drop(index);
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(
        log.query(Field::Transfer, id(2).as_bytes(), None, 100)
            .unwrap(),
        want
    );
    assert_eq!(
        log.last(Field::Transfer, id(2).as_bytes()).unwrap(),
        Some(27)
    );
}

#[test]
fn an_index_written_before_the_time_marks_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    append_all(&log, 0..50);
    let at = |s: u8| {
        time::OffsetDateTime::parse(
            &format!("2026-11-25T13:00:{s:02}Z"),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let selection = Selection {
        terms: vec![(Field::Decision, b"deny".to_vec())],
        from: Some(at(10)),
        to: Some(at(20)),
        limit: 100,
        ..Selection::default()
    };
    let page = log.select(&selection).unwrap();
    let found: Vec<u64> = page.records.iter().map(|r| r.0).collect();
    assert_eq!(found, vec![11, 13, 15, 17, 19]);
    assert_eq!(
        log.time_bounds(Some(at(10)), Some(at(20))).unwrap(),
        (10, 21)
    );
    rt().block_on(log.shutdown()).unwrap();
    drop(log);

    let index = Index::open(&dir.path().join(INDEX)).unwrap();
    index.forget_time_marks();
    assert_eq!(index.time_max().unwrap(), None);
    assert_eq!(index.terms_size().unwrap(), 50);
    drop(index);
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.select(&selection).unwrap(), page);
    assert_eq!(
        log.time_bounds(Some(at(10)), Some(at(20))).unwrap(),
        (10, 21)
    );
}

#[test]
fn append_record_stores_the_leaf_and_indexes_it_as_append_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let record = Record::from_leaf(&record(7)).unwrap();
    let (leaf, durable) = log.append_record(&record).unwrap();
    assert_eq!(leaf, record.to_leaf().unwrap());
    let rt = rt();
    let by_record = rt.block_on(durable).unwrap();
    let by_leaf = rt.block_on(log.append(leaf.clone())).unwrap();
    assert_eq!(log.read(by_record.index).unwrap(), leaf);
    for (field, value) in record.index_terms() {
        assert_eq!(
            log.query(field, &value, None, 10).unwrap(),
            vec![by_record.index, by_leaf.index],
            "{field:?}"
        );
    }
    // A policy_change with a `reason` detail (as the gateway writes for a suspension): the
    // leaf carries it as the record's reason, and so does the index.
    let mut change = Record::new(crate::Kind::PolicyChange, record.instant().unwrap()).unwrap();
    change.details.insert("reason".into(), "incident 42".into());
    let (_, durable) = log.append_record(&change).unwrap();
    let by_change = rt.block_on(durable).unwrap();
    assert_eq!(
        log.query(Field::Reason, b"incident 42", None, 10).unwrap(),
        vec![by_change.index]
    );
}

/// The `log` tree is written with single writes, the size last: a crash between a commit's
/// tile writes and its size write leaves tiles ahead of the size. Guards that recovery then
/// replays those records over them and proves as before.
#[test]
fn tiles_written_ahead_of_the_size_are_replayed_over() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Log::open(config(dir.path())).unwrap();
    rt.block_on(async {
        for i in 0..300 {
            log.append(record(i)).await.unwrap();
        }
        log.shutdown().await.unwrap();
    });
    let root = log.root(300).unwrap();
    let proof = log.inclusion_proof(270, 300).unwrap();
    drop(log);
    for size in [300u64, 280, 256, 250] {
        let index = Index::open(&dir.path().join(INDEX)).unwrap();
        index.set_size(size).unwrap();
        index.flush().unwrap();
        drop(index);
        let log = Log::open(config(dir.path())).unwrap();
        assert_eq!(log.size(), 300, "size {size}");
        assert_eq!(log.root(300).unwrap(), root, "size {size}");
        assert_eq!(log.inclusion_proof(270, 300).unwrap(), proof, "size {size}");
        rt.block_on(log.shutdown()).unwrap();
        drop(log);
    }
}

#[test]
fn the_space_probe_says_whether_the_disk_takes_writes_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(!log.health().reopening);
    log.probe_space().unwrap();
    fault::set(dir.path(), true);
    assert!(log.probe_space().is_err());
    fault::set(dir.path(), false);
    log.probe_space().unwrap();
    let after: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(before.len(), after.len(), "the probe left a file behind");
    assert!(!dir.path().join(SPACE_PROBE).exists());
}

/// A rebuild of the index (here because its right edge is gone) must not forget how many records
/// the log signed: with the checkpoint deleted and the segments cut, open refuses, and refuses
/// again after the rebuild it made.
#[test]
fn a_rebuilt_index_keeps_what_the_log_signed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    append_all(&log, 0..60);
    rt().block_on(log.shutdown()).unwrap();
    drop(log);
    let segments = crate::store::list_segments(&dir.path().join(SEGMENTS)).unwrap();
    let (first, last) = segments.last().unwrap();
    let mut offsets = Vec::new();
    crate::store::scan(
        last,
        *first,
        crate::layout::SEGMENT_HEADER,
        *first,
        |i, at, _| {
            offsets.push((i, at));
            Ok(())
        },
    )
    .unwrap();
    let (cut_at, offset) = offsets[offsets.len() - 2];
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(offset)
        .unwrap();
    std::fs::remove_file(dir.path().join(CHECKPOINT)).unwrap();
    let index = Index::open(&dir.path().join(INDEX)).unwrap();
    index.forget_edge();
    drop(index);
    let gap = format!("signed a checkpoint of 60 records but its segments hold {cut_at}");
    for _ in 0..2 {
        let err = Log::open(config(dir.path())).unwrap_err();
        assert!(matches!(err, Error::CheckpointMismatch(_)), "{err}");
        assert!(err.to_string().contains(&gap), "{err}");
    }
    let index = Index::open(&dir.path().join(INDEX)).unwrap();
    assert_eq!(
        (index.size().unwrap(), index.signed().unwrap()),
        (cut_at, 60)
    );
}

/// Once its index fails (sled refuses every write after its first failed one, e.g. on a full
/// disk or with no file descriptors left), the log refuses appends, names the cause, and
/// reopens the index by itself once its folder takes writes: recovery replays what the index
/// lacks, and the log serves again in the same process, with every record, root and query as
/// before.
#[test]
fn a_failed_index_is_reopened_and_catches_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Log::open(config(dir.path())).unwrap();
    append_all(&log, 0..100);
    let root = log.root(100).unwrap();
    let hits = log.query(Field::Decision, b"deny", None, 1000).unwrap();
    let generation = log.generation();
    // The index forgets the records after 40, as if its writes had been lost, and fails.
    log.index().unwrap().set_size(40).unwrap();
    log.inner.shared.set_broken(
        "out of file descriptors: the index could not follow the log".into(),
        crate::Fault::Descriptors,
    );
    let health = log.health();
    assert!(!health.available && health.reopening, "{health:?}");
    assert_eq!(health.fault, Some(crate::Fault::Descriptors));
    let refused = rt.block_on(log.append(record(100))).unwrap_err();
    assert!(matches!(refused, Error::Unavailable(_)), "{refused}");
    assert!(
        refused.to_string().contains("file descriptors"),
        "{refused}"
    );

    // While the folder refuses writes, the index is not reopened.
    fault::set(dir.path(), true);
    assert!(log.heal().is_err());
    assert!(log.health().reopening);
    fault::set(dir.path(), false);

    // The healer thread reopens it by itself within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.health().reopening {
        assert!(Instant::now() < deadline, "the index was never reopened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = log.health();
    assert!(health.available && health.fault.is_none(), "{health:?}");
    assert_ne!(
        log.generation(),
        generation,
        "a reopened index is a new generation: views kept in its database must be re-read"
    );
    assert_eq!(log.size(), 100);
    assert_eq!(log.root(100).unwrap(), root);
    assert_eq!(
        log.query(Field::Decision, b"deny", None, 1000).unwrap(),
        hits
    );
    let appended = rt.block_on(log.append(record(100))).unwrap();
    assert_eq!(appended.index, 100);
    assert_eq!(log.read(100).unwrap(), record(100));
    rt.block_on(log.shutdown()).unwrap();
    drop(log);
    let report = verify_dir(dir.path(), None).unwrap();
    assert_eq!(report.size, 101);
}

/// After a burst, the stored checkpoint catches up with the last record once the rate limit
/// on storing it allows, without waiting for another append (else a tail cut while the log is
/// idle would go unnoticed by `audit verify --data-dir`).
#[test]
fn the_stored_checkpoint_catches_up_after_a_burst_while_idle() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let rt = rt();
    // One record per batch, all well within the one second between stores.
    for i in 0..30 {
        rt.block_on(log.append(record(i))).unwrap();
    }
    let stored = || {
        read_stored_checkpoint(&dir.path().join(CHECKPOINT))
            .unwrap()
            .map_or(0, |(_, size, _)| size)
    };
    let deadline = Instant::now() + Duration::from_secs(1) + Duration::from_secs(5);
    while stored() != 30 {
        assert!(
            Instant::now() < deadline,
            "the stored checkpoint stayed at {} of 30 records",
            stored()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The log is still open: nothing but the idle committer stored it.
    assert_eq!(log.size(), 30);
}

/// The RFC 6962 Merkle Tree Hash of `leaves`, computed from scratch.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => crate::tree::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            crate::tree::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

#[test]
fn tiles_and_entry_bundles_are_the_tlog_tiles_of_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_max_bytes = 64 << 10;
    let log = Log::open(c).unwrap();
    append_all(&log, 0..600);
    let leaves: Vec<Hash> = (0..600)
        .map(|i| crate::tree::leaf_hash(&record(i)))
        .collect();
    let hashes = |from: usize, to: usize, span: usize| -> Vec<u8> {
        (from..to)
            .flat_map(|i| mth(&leaves[i * span..(i + 1) * span]))
            .collect()
    };
    // 600 = two full level-0 tiles, a partial one of 88, and a level-1 tile of width 2.
    assert_eq!(log.tile(0, 0, 256).unwrap(), hashes(0, 256, 1));
    assert_eq!(log.tile(0, 1, 256).unwrap(), hashes(256, 512, 1));
    assert_eq!(log.tile(0, 2, 88).unwrap(), hashes(512, 600, 1));
    assert_eq!(log.tile(1, 0, 2).unwrap(), hashes(0, 2, 256));
    // The partial tiles of earlier sizes are prefixes: still served.
    assert_eq!(log.tile(0, 1, 7).unwrap(), hashes(256, 263, 1));
    assert_eq!(log.tile(0, 2, 1).unwrap(), hashes(512, 513, 1));
    assert_eq!(log.tile(1, 0, 1).unwrap(), hashes(0, 1, 256));
    for (level, n, width) in [
        (0, 2, 89),
        (0, 2, 256),
        (0, 3, 1),
        (1, 0, 3),
        (1, 1, 1),
        (2, 0, 1),
        (7, 0, 1),
        (8, 0, 1),
        (63, 0, 1),
        (255, 0, 1),
        (0, u64::MAX, 1),
        (0, 0, 0),
        (0, 0, 257),
    ] {
        assert!(
            matches!(log.tile(level, n, width), Err(Error::OutOfRange { .. })),
            "{level}/{n}.p/{width}"
        );
    }
    let bundle = |n: u64, width: u64| -> Vec<u8> {
        (n * 256..n * 256 + width)
            .flat_map(|i| {
                let r = record(i);
                let mut e = (r.len() as u16).to_be_bytes().to_vec();
                e.extend_from_slice(&r);
                e
            })
            .collect()
    };
    assert_eq!(log.entry_bundle(0, 256).unwrap(), bundle(0, 256));
    assert_eq!(log.entry_bundle(2, 88).unwrap(), bundle(2, 88));
    assert_eq!(log.entry_bundle(1, 3).unwrap(), bundle(1, 3));
    for (n, width) in [(2, 89), (3, 1), (0, 0), (0, 257), (u64::MAX, 256)] {
        assert!(
            matches!(log.entry_bundle(n, width), Err(Error::OutOfRange { .. })),
            "{n}.p/{width}"
        );
    }
    // From a rebuilt index, the same bytes.
    drop(log);
    std::fs::remove_dir_all(dir.path().join(INDEX)).unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.tile(0, 2, 88).unwrap(), hashes(512, 600, 1));
    assert_eq!(log.tile(1, 0, 2).unwrap(), hashes(0, 2, 256));
}

#[test]
fn a_record_too_long_for_an_entry_bundle_is_refused_by_default_and_named_otherwise() {
    let big = |size: usize| {
        let mut r = record(0);
        let pad = format!(r#","note":"{}"}}"#, "x".repeat(size - r.len() - 10));
        r.pop();
        r.extend_from_slice(pad.as_bytes());
        assert_eq!(r.len(), size);
        r
    };
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert!(matches!(
        rt().block_on(log.append(big(MAX_ENTRY_BYTES + 1))),
        Err(Error::RecordTooLarge {
            max: MAX_ENTRY_BYTES,
            ..
        })
    ));
    rt().block_on(log.append(big(MAX_ENTRY_BYTES))).unwrap();
    let bundle = log.entry_bundle(0, 1).unwrap();
    assert_eq!(bundle[..2], [0xff, 0xff]);
    drop(log);

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_record_bytes = 70_000;
    let log = Log::open(c).unwrap();
    append_all(&log, 0..3);
    rt().block_on(log.append(big(MAX_ENTRY_BYTES + 1))).unwrap();
    assert_eq!(
        log.entry_bundle(0, 3).unwrap().len(),
        (0..3).map(|i| 2 + record(i).len()).sum::<usize>()
    );
    assert!(matches!(
        log.entry_bundle(0, 4),
        Err(Error::EntryTooLarge { index: 3, size }) if size == MAX_ENTRY_BYTES + 1
    ));
}

/// Proofs into trees the index does not cover yet come from the committer's right edge at
/// once (a receipt proving into a just-cosigned checkpoint, a consistency proof for a witness),
/// across full tiles still only in memory, and agree with the signed roots.
#[test]
fn proofs_into_checkpoints_the_index_trails_do_not_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let rt = rt();
    // Concurrent appends: a few large batches (the indexer's channel holds 256 of them, and
    // the committer waits when it is full).
    let append = |range: std::ops::Range<u64>| -> Vec<Appended> {
        rt.block_on(async {
            let tasks: Vec<_> = range.map(|i| tokio::spawn(log.append(record(i)))).collect();
            let mut acks = Vec::new();
            for t in tasks {
                acks.push(t.await.unwrap().unwrap());
            }
            acks
        })
    };
    // An indexed start (a full tile of 256 leaves and a partial one), then the index held.
    let first = append(0..300);
    log.inner.shared.wait_indexed(300, INDEX_WAIT).unwrap();
    // Released however the test ends: dropping the log joins the indexer.
    struct Hold(Arc<shared::Shared>);
    impl Drop for Hold {
        fn drop(&mut self) {
            self.0.hold_index.store(false, Ordering::Release);
        }
    }
    let hold = Hold(log.inner.shared.clone());
    hold.0.hold_index.store(true, Ordering::Release);
    // Beyond the next two tile boundaries (512, 768): full tiles only in memory.
    let mut later = append(300..560);
    later.extend(append(560..800));
    let latest = log.latest_checkpoint();
    assert_eq!(latest.size(), 800);
    assert!(log.inner.shared.indexed() < 800);
    let started = Instant::now();
    let acks: Vec<&Appended> = first.iter().chain(&later).collect();
    let mut checkpoints: Vec<Arc<Checkpoint>> = acks.iter().map(|a| a.checkpoint.clone()).collect();
    checkpoints.sort_by_key(|c| c.size());
    checkpoints.dedup_by_key(|c| c.size());
    assert!(
        checkpoints.iter().any(|c| c.size() == 560),
        "{checkpoints:?}"
    );
    for old in &checkpoints {
        for new in checkpoints.iter().filter(|c| c.size() >= old.size()) {
            let proof = log.consistency_proof(old.size(), new.size()).unwrap();
            verify_consistency(old.size(), new.size(), old.root(), new.root(), &proof).unwrap();
        }
    }
    for a in acks.iter().step_by(7) {
        for cp in checkpoints.iter().filter(|c| c.size() > a.index) {
            let proof = log.inclusion_proof(a.index, cp.size()).unwrap();
            verify_inclusion(a.index, cp.size(), &a.leaf_hash, &proof, cp.root()).unwrap();
        }
    }
    assert_eq!(log.root(800).unwrap(), *latest.root());
    // Had they waited for the index, the first would have failed after INDEX_WAIT.
    assert!(started.elapsed() < INDEX_WAIT, "{:?}", started.elapsed());
    assert!(
        log.inner.shared.indexed() < 800,
        "the index stayed behind meanwhile"
    );
    drop(hold);
    log.inner.shared.wait_indexed(800, INDEX_WAIT).unwrap();
    let proof = log.consistency_proof(300, 800).unwrap();
    let at_300 = checkpoints.iter().find(|c| c.size() == 300).unwrap();
    verify_consistency(300, 800, at_300.root(), latest.root(), &proof).unwrap();
}
