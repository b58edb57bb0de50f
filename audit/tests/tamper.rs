//! Tamper tests (DESIGN invariant 4): flipping, deleting or reordering stored bytes, removing a
//! segment or cutting acknowledged records is found by `verify_dir` (the code behind
//! `loopgate audit verify`), which names the first bad index; `Log::open` refuses the same.
//! A cut at a frame boundary leaves a well-formed shorter log: it is refused by what remembers
//! the log's signed size (the stored checkpoint, the index), even when the checkpoint is deleted
//! or rolled back; with both gone only a checkpoint kept elsewhere (`verify_dir_against`) can
//! tell.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::Path;

use loopgate_audit::{Error, Log, VerifierKey, verify_dir, verify_dir_against};

/// A log of 60 records over several segments, shut down cleanly (checkpoint at 60).
fn sealed_log() -> tempfile::TempDir {
    sealed_log_and_checkpoints().0
}

/// [`sealed_log`], and the text of the checkpoint each record was acknowledged with (the
/// record at index `i` with the checkpoint of size `i + 1`: each is its own commit batch), as
/// the log's users keep them.
fn sealed_log_and_checkpoints() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let acks = common::append_all(&log, 0, 60, 300);
    common::rt().block_on(log.shutdown()).unwrap();
    drop(log);
    assert!(common::segments(dir.path()).len() >= 2);
    let checkpoints = acks
        .iter()
        .map(|a| a.checkpoint.text().to_owned())
        .collect();
    (dir, checkpoints)
}

fn key() -> VerifierKey {
    VerifierKey::parse(common::VKEY).unwrap()
}

/// The frame of record `index`: (segment path, offset, length).
fn locate(dir: &Path, index: u64) -> (std::path::PathBuf, usize, usize) {
    for seg in common::segments(dir) {
        for (i, off, len) in common::frames(&seg) {
            if i == index {
                return (seg, off, len);
            }
        }
    }
    panic!("record {index} not found");
}

/// Cuts the log just before record `index`, at a frame boundary: the segments after its
/// segment are removed, and its segment is cut where its frame starts. What is left is a
/// well-formed log of `index` records.
fn cut_before(dir: &Path, index: u64) {
    let (seg, off, _) = locate(dir, index);
    for later in common::segments(dir).into_iter().filter(|s| *s > seg) {
        std::fs::remove_file(later).unwrap();
    }
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(off as u64).unwrap();
}

/// The message naming the records `held..signed` as missing.
fn gap(signed: u64, held: u64) -> String {
    format!(
        "the log has signed a checkpoint of {signed} records but its segments hold {held}: \
         records {held}..{signed} are missing"
    )
}

/// `Log::open` refuses, naming the gap, who remembers it, and what to do (never to delete the
/// evidence).
fn assert_open_refuses(dir: &Path, signed: u64, held: u64, evidence: &str) {
    let err = Log::open(common::config(dir)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::CheckpointMismatch(_)), "{msg}");
    assert!(msg.contains(&gap(signed, held)), "{msg}");
    assert!(msg.contains(evidence), "{msg}");
    assert!(
        msg.contains("restore the missing segment files") && msg.contains("from a backup"),
        "{msg}"
    );
    assert!(!msg.contains("delete"), "{msg}");
}

fn assert_names(dir: &Path, index: u64) {
    let err = verify_dir(dir, Some(&key())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("record index {index}")),
        "verify: {msg}"
    );
    let err = Log::open(common::config(dir)).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { index: i, .. } if i == index),
        "open: {err}"
    );
}

#[test]
fn a_sound_log_verifies() {
    let dir = sealed_log();
    let report = verify_dir(dir.path(), Some(&key())).unwrap();
    assert_eq!((report.size, report.checkpoint.unwrap().size()), (60, 60));
}

#[test]
fn a_flipped_byte_is_named() {
    for index in [0, 17, 59] {
        let dir = sealed_log();
        let (seg, off, len) = locate(dir.path(), index);
        let mut b = std::fs::read(&seg).unwrap();
        b[off + len - 10] ^= 0x01;
        std::fs::write(&seg, b).unwrap();
        assert_names(dir.path(), index);
    }
}

#[test]
fn deleted_bytes_are_named() {
    let dir = sealed_log();
    let (seg, off, _) = locate(dir.path(), 23);
    let mut b = std::fs::read(&seg).unwrap();
    b.drain(off + 40..off + 50);
    std::fs::write(&seg, b).unwrap();
    assert_names(dir.path(), 23);
}

#[test]
fn reordered_records_are_named() {
    let dir = sealed_log();
    let (seg, a, alen) = locate(dir.path(), 5);
    let (_, b_off, blen) = locate(dir.path(), 6);
    let mut b = std::fs::read(&seg).unwrap();
    let (ra, rb) = (b[a..a + alen].to_vec(), b[b_off..b_off + blen].to_vec());
    let mut swapped = b[..a].to_vec();
    swapped.extend_from_slice(&rb);
    swapped.extend_from_slice(&ra);
    swapped.extend_from_slice(&b[b_off + blen..]);
    b = swapped;
    std::fs::write(&seg, b).unwrap();
    assert_names(dir.path(), 5);
}

#[test]
fn a_removed_segment_is_named() {
    let dir = sealed_log();
    let segs = common::segments(dir.path());
    let first_missing = common::frames(&segs[1])[0].0;
    std::fs::remove_file(&segs[1]).unwrap();
    assert_names(dir.path(), first_missing);
}

#[test]
fn cutting_acknowledged_records_is_refused_not_repaired() {
    let dir = sealed_log();
    let (seg, off, _) = locate(dir.path(), 58);
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(off as u64 + 7).unwrap();
    assert_names(dir.path(), 58);
    // And a cut exactly at a frame boundary: the checkpoint says 60 records.
    f.set_len(off as u64).unwrap();
    let msg = verify_dir(dir.path(), Some(&key()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("record 58 is the first missing"), "{msg}");
    assert!(msg.contains(&gap(60, 58)), "{msg}");
    assert_open_refuses(dir.path(), 60, 58, "the stored checkpoint");
}

#[test]
fn cutting_records_and_deleting_the_checkpoint_is_refused() {
    let dir = sealed_log();
    let (seg, _, _) = locate(dir.path(), 58);
    let whole = std::fs::read(&seg).unwrap();
    cut_before(dir.path(), 58);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    // The index remembers that the log signed 60 records.
    let msg = verify_dir(dir.path(), Some(&key()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&gap(60, 58)), "{msg}");
    assert!(
        msg.contains("remembers it; the stored checkpoint is missing"),
        "{msg}"
    );
    assert_open_refuses(dir.path(), 60, 58, "remembers it");
    // A refused open keeps the evidence: the next one refuses too.
    assert_open_refuses(dir.path(), 60, 58, "remembers it");
    // Restoring the segment from a backup is the way on.
    std::fs::write(&seg, whole).unwrap();
    let log = common::open(dir.path());
    assert_eq!(log.size(), 60);
    drop(log);
    assert_eq!(verify_dir(dir.path(), Some(&key())).unwrap().size, 60);
}

#[test]
fn rolling_the_checkpoint_back_is_refused() {
    let (dir, checkpoints) = sealed_log_and_checkpoints();
    let cp = dir.path().join("checkpoint");
    // Rolled back alone (the segments hold every record), it is only old: open signs anew.
    std::fs::write(&cp, &checkpoints[39]).unwrap();
    assert_eq!(verify_dir(dir.path(), Some(&key())).unwrap().size, 60);
    let log = common::open(dir.path());
    assert_eq!(log.size(), 60);
    common::rt().block_on(log.shutdown()).unwrap();
    drop(log);
    // Rolled back with the records after it cut: consistent with each other, but the index
    // remembers 60 signed records.
    std::fs::write(&cp, &checkpoints[39]).unwrap();
    cut_before(dir.path(), 40);
    let msg = verify_dir(dir.path(), Some(&key()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&gap(60, 40)), "{msg}");
    assert!(
        msg.contains("the stored checkpoint covers only 40"),
        "{msg}"
    );
    assert_open_refuses(dir.path(), 60, 40, "the stored checkpoint covers only 40");
}

#[test]
fn removing_the_index_does_not_forget_what_the_checkpoint_says() {
    let dir = sealed_log();
    cut_before(dir.path(), 58);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let msg = verify_dir(dir.path(), Some(&key()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&gap(60, 58)), "{msg}");
    assert_open_refuses(dir.path(), 60, 58, "the stored checkpoint");
    // The refused open rebuilt the index, which now remembers too.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    assert_open_refuses(dir.path(), 60, 58, "remembers it");
}

/// With the stored checkpoint *and* the index removed, nothing in the directory remembers how
/// many records the log signed: a cut at a frame boundary leaves a well-formed log, which
/// `verify_dir` passes and `Log::open` takes (signing the shorter tree). This is what a
/// checkpoint kept elsewhere is for: `verify_dir_against` finds the records missing, before
/// that open and after it.
#[test]
fn without_checkpoint_and_index_only_a_checkpoint_kept_elsewhere_finds_a_cut() {
    let (dir, checkpoints) = sealed_log_and_checkpoints();
    cut_before(dir.path(), 58);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    assert_eq!(verify_dir(dir.path(), Some(&key())).unwrap().size, 58);
    for _ in 0..2 {
        let err = verify_dir_against(dir.path(), &key(), &checkpoints[59]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::CheckpointMismatch(_)), "{msg}");
        assert!(msg.contains("record 58 is the first missing"), "{msg}");
        assert!(msg.contains("the checkpoint given"), "{msg}");
        let report = verify_dir_against(dir.path(), &key(), &checkpoints[57]).unwrap();
        assert_eq!(report.size, 58);
        let log = common::open(dir.path());
        assert_eq!(log.size(), 58);
        drop(log);
    }
}

#[test]
fn verify_against_a_checkpoint_kept_elsewhere() {
    let (dir, checkpoints) = sealed_log_and_checkpoints();
    // Any earlier checkpoint, and the last one, hold.
    for m in [1, 17, 40, 60] {
        let report = verify_dir_against(dir.path(), &key(), &checkpoints[m - 1]).unwrap();
        assert_eq!((report.size, report.checkpoint.unwrap().size()), (60, 60));
    }
    // Signed by another key, or not for this key at all: refused.
    let other = loopgate_audit::SigningKey::generate("PeterNeumann").unwrap();
    let forged = loopgate_audit::Checkpoint::sign("PeterNeumann", 60, [7; 32], &other).unwrap();
    assert!(matches!(
        verify_dir_against(dir.path(), &key(), forged.text()),
        Err(Error::BadCheckpoint(_))
    ));
    // A record below it rewritten with a valid checksum, the stored checkpoint and the index
    // removed: the directory is self-consistent, the checkpoint kept elsewhere is not.
    rewrite_with_valid_checksum(dir.path(), 30);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    assert_eq!(verify_dir(dir.path(), Some(&key())).unwrap().size, 60);
    let err = verify_dir_against(dir.path(), &key(), &checkpoints[44]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::CheckpointMismatch(_)), "{msg}");
    assert!(
        msg.contains("records 0..45 do not hash to the root of the checkpoint given"),
        "{msg}"
    );
    // Below the altered record, the log still holds.
    verify_dir_against(dir.path(), &key(), &checkpoints[29]).unwrap();
    // A damaged frame below the checkpoint given is corruption, named, not a torn tail.
    let (seg, off, len) = locate(dir.path(), 59);
    let mut b = std::fs::read(&seg).unwrap();
    b[off + len - 3] ^= 0x01;
    std::fs::write(&seg, b).unwrap();
    assert!(
        verify_dir(dir.path(), Some(&key()))
            .unwrap()
            .torn_tail
            .is_some()
    );
    let err = verify_dir_against(dir.path(), &key(), &checkpoints[59]).unwrap_err();
    assert!(matches!(err, Error::Corrupt { index: 59, .. }), "{err}");
}

/// Flips a byte of record `index`'s leaf and recomputes the frame checksum, as a careful
/// forger would.
fn rewrite_with_valid_checksum(dir: &Path, index: u64) {
    let (seg, off, len) = locate(dir, index);
    let mut b = std::fs::read(&seg).unwrap();
    b[off + len - 10] ^= 0x01;
    let mut h = crc32fast::Hasher::new();
    h.update(&b[off..off + 4]);
    h.update(&b[off + 8..off + len]);
    b[off + 4..off + 8].copy_from_slice(&h.finalize().to_le_bytes());
    std::fs::write(&seg, b).unwrap();
}

#[test]
fn a_record_rewritten_with_a_valid_checksum_breaks_the_signed_root() {
    let dir = sealed_log();
    rewrite_with_valid_checksum(dir.path(), 30);
    let msg = verify_dir(dir.path(), Some(&key()))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("do not hash to the root of the stored checkpoint"),
        "{msg}"
    );
    // Open checks frames, not every leaf hash (that is verify's job), but a rebuild of the
    // index re-hashes everything and meets the signed root.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let err = Log::open(common::config(dir.path())).unwrap_err();
    assert!(matches!(err, Error::CheckpointMismatch(_)), "{err}");
}

#[test]
fn a_forged_checkpoint_is_refused() {
    let dir = sealed_log();
    let cp = dir.path().join("checkpoint");
    let text = std::fs::read_to_string(&cp).unwrap();
    let other = loopgate_audit::SigningKey::generate("PeterNeumann").unwrap();
    let forged = loopgate_audit::Checkpoint::sign(
        "PeterNeumann",
        60,
        loopgate_audit::Log::open(common::config(dir.path()))
            .unwrap()
            .root(60)
            .unwrap(),
        &other,
    )
    .unwrap();
    std::fs::write(&cp, forged.text()).unwrap();
    assert!(verify_dir(dir.path(), Some(&key())).is_err());
    std::fs::write(&cp, text.replace("\n60\n", "\n59\n")).unwrap();
    assert!(verify_dir(dir.path(), Some(&key())).is_err());
}

#[test]
fn damage_before_a_later_batch_is_corruption_not_a_torn_tail() {
    // Regression guard: with the stored checkpoint and the index lagging (as after a crash;
    // here removed, so that neither remembers the damaged record was signed), a bad frame in
    // the last segment must not be cut as a torn tail when a later commit batch follows it,
    // because that batch was only written after the damaged one had been synced.
    let dir = sealed_log();
    let segs = common::segments(dir.path());
    let last = segs.last().unwrap();
    let frames = common::frames(last);
    let (index, off, len) = frames[frames.len() - 3];
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let mut b = std::fs::read(last).unwrap();
    b[off + len - 5] ^= 0x40;
    std::fs::write(last, b).unwrap();
    // The index remembers the record was signed.
    let err = Log::open(common::config(dir.path())).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { index: i, .. } if i == index),
        "{err}"
    );
    assert!(
        err.to_string().contains("records this log has signed"),
        "{err}"
    );
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let err = Log::open(common::config(dir.path())).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { index: i, .. } if i == index),
        "{err}"
    );
    assert!(
        err.to_string().contains("a later batch follows it"),
        "{err}"
    );
}

#[test]
fn a_damaged_final_frame_beyond_the_checkpoint_is_a_torn_tail() {
    let dir = sealed_log();
    let segs = common::segments(dir.path());
    let last = segs.last().unwrap();
    let (index, off, len) = *common::frames(last).last().unwrap();
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let mut b = std::fs::read(last).unwrap();
    b[off + len - 5] ^= 0x40;
    std::fs::write(last, b).unwrap();
    // The index remembers the record was signed, so it is damage, not a torn tail.
    assert_names(dir.path(), index);
    // Neither the checkpoint nor the index remembers it (as when a crash cut its batch before
    // either was written): a torn tail.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let report = verify_dir(dir.path(), None).unwrap();
    assert!(
        report
            .torn_tail
            .unwrap()
            .contains(&format!("record {index}"))
    );
    let log = Log::open(common::config(dir.path())).unwrap();
    assert_eq!(log.size(), index);
}
