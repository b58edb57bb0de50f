//! The witness's decisions without HTTP, on real trees and checkpoints from the audit crate,
//! and its config's validation.

use std::path::Path;
use std::sync::Arc;

use loopgate_audit::{
    AddCheckpoint, Checkpoint, Hash, LeafHashes, SigningKey, WitnessSigningKey, WitnessVerifierKey,
    consistency_proof, leaf_hash, open_cosigned, root,
};

use super::*;
use crate::config::ConfigError;

const ORIGIN: &str = "example.com/log";
const NOW: u64 = 1_800_000_000;

/// A log of `n` leaves, its key, and signed checkpoints of any prefix of it.
struct TestLog {
    key: SigningKey,
    leaves: LeafHashes,
}

impl TestLog {
    fn new(n: u64) -> Self {
        let leaves = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        Self {
            key: SigningKey::generate(ORIGIN).unwrap(),
            leaves: LeafHashes(leaves),
        }
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        self.signed(size, root(&self.leaves, size).unwrap())
    }

    fn signed(&self, size: u64, root: Hash) -> Checkpoint {
        Checkpoint::sign(ORIGIN, size, root, &self.key).unwrap()
    }

    fn request(&self, old: u64, size: u64) -> Vec<u8> {
        AddCheckpoint {
            old,
            proof: consistency_proof(&self.leaves, old, size).unwrap(),
            checkpoint: self.checkpoint(size).text().to_owned(),
        }
        .to_body()
        .into_bytes()
    }
}

fn witness(dir: &Path, log: &TestLog) -> Witness {
    let key = WitnessSigningKey::load(&dir.join("w.key")).unwrap();
    Witness::open(
        key,
        &dir.join("state"),
        vec![(ORIGIN.to_owned(), log.key.verifier())],
    )
    .unwrap()
}

fn new_witness(dir: &Path, log: &TestLog) -> Witness {
    let key = WitnessSigningKey::generate("w.example/1").unwrap();
    key.create_file(&dir.join("w.key")).unwrap();
    witness(dir, log)
}

fn body(old: u64, proof: &[Hash], checkpoint: &Checkpoint) -> Vec<u8> {
    AddCheckpoint {
        old,
        proof: proof.to_vec(),
        checkpoint: checkpoint.text().to_owned(),
    }
    .to_body()
    .into_bytes()
}

fn verifies(answer: &Answer, checkpoint: &Checkpoint, log: &TestLog, w: &WitnessVerifierKey) {
    assert_eq!(answer.status, 200, "{answer:?}");
    let cosigned = format!("{}{}", checkpoint.text(), answer.body);
    let (_, found) =
        open_cosigned(&cosigned, &log.key.verifier(), std::slice::from_ref(w)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].time(), NOW);
}

#[test]
fn cosigns_a_first_checkpoint_then_consistent_ones_and_repeats_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(20);
    let w = new_witness(dir.path(), &log);
    let vkey = w.verifier().clone();
    verifies(
        &w.add_checkpoint(&log.request(0, 5), NOW),
        &log.checkpoint(5),
        &log,
        &vkey,
    );
    verifies(
        &w.add_checkpoint(&log.request(5, 13), NOW),
        &log.checkpoint(13),
        &log,
        &vkey,
    );
    // The same checkpoint again (old = its size, no proof) is cosigned again.
    verifies(
        &w.add_checkpoint(&log.request(13, 13), NOW),
        &log.checkpoint(13),
        &log,
        &vkey,
    );
    let answer = w.add_checkpoint(&log.request(13, 20), NOW);
    assert_eq!(
        (answer.origin.as_deref(), answer.size),
        (Some(ORIGIN), Some(20))
    );
    verifies(&answer, &log.checkpoint(20), &log, &vkey);
}

#[test]
fn refuses_each_case_with_the_spec_status() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(16);
    let w = new_witness(dir.path(), &log);
    assert_eq!(w.add_checkpoint(&log.request(0, 8), NOW).status, 200);
    let cp12 = log.checkpoint(12);
    let proof = consistency_proof(&log.leaves, 8, 12).unwrap();

    let stranger = TestLog::new(16);
    let other_origin = Checkpoint::sign("other.example/log", 3, [0; 32], &log.key).unwrap();
    let mut bad_proof = proof.clone();
    bad_proof[0][0] ^= 1;
    let fork = log.signed(8, [7; 32]);
    let forked_later = log.signed(12, [7; 32]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not UTF-8", vec![0xff, 0xfe], 400),
        ("no old line", b"12\n\nx".to_vec(), 400),
        ("unknown origin", body(0, &[], &other_origin), 404),
        (
            "signed by another key",
            body(8, &proof, &stranger.checkpoint(12)),
            403,
        ),
        ("old above size", body(13, &[], &cp12), 400),
        ("old below the state", body(5, &proof, &cp12), 409),
        ("old above the state", body(9, &proof, &cp12), 409),
        ("bad proof", body(8, &bad_proof, &cp12), 422),
        ("no proof", body(8, &[], &cp12), 422),
        ("another root at the same size", body(8, &[], &fork), 409),
        (
            "a later root not extending",
            body(8, &proof, &forked_later),
            422,
        ),
    ];
    for (what, request, status) in cases {
        let answer = w.add_checkpoint(&request, NOW);
        assert_eq!(answer.status, status, "{what}: {answer:?}");
    }
    let conflict = w.add_checkpoint(&body(5, &proof, &cp12), NOW);
    assert_eq!(conflict.content_type, "text/x.tlog.size");
    assert_eq!(conflict.body, "8\n");
    // A fork's 409 names no size: no other `old` would make it acceptable.
    let fork = w.add_checkpoint(&body(8, &[], &fork), NOW);
    assert_eq!(fork.content_type, "text/plain; charset=utf-8");
    assert!(fork.body.contains("another root for size 8"), "{fork:?}");
    // None of these moved the state: the right request still works.
    assert_eq!(w.add_checkpoint(&body(8, &proof, &cp12), NOW).status, 200);
}

#[test]
fn size_zero_needs_the_empty_root_and_old_zero_takes_no_proof() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(4);
    let w = new_witness(dir.path(), &log);
    assert_eq!(
        w.add_checkpoint(&body(0, &[], &log.signed(0, [1; 32])), NOW)
            .status,
        422
    );
    let proof = vec![[1; 32]];
    assert_eq!(
        w.add_checkpoint(&body(0, &proof, &log.checkpoint(4)), NOW)
            .status,
        422
    );
    assert_eq!(w.add_checkpoint(&log.request(0, 0), NOW).status, 200);
    assert_eq!(w.add_checkpoint(&log.request(0, 4), NOW).status, 200);
}

/// The state file of slot `n` (`<origin hash>.<n>.state`).
fn slot(dir: &Path, n: u8) -> std::path::PathBuf {
    dir.join("state")
        .join(format!("{}.{n}.state", core::origin_hash(ORIGIN)))
}

/// The header line's sequence number of slot `n`.
fn slot_seq(dir: &Path, n: u8) -> u64 {
    let text = std::fs::read_to_string(slot(dir, n)).unwrap();
    let header = text.lines().next().unwrap();
    header.split(' ').nth(2).unwrap().parse().unwrap()
}

fn reopen(dir: &Path, log: &TestLog) -> Result<Witness, WitnessError> {
    let key = WitnessSigningKey::load(&dir.join("w.key")).unwrap();
    Witness::open(
        key,
        &dir.join("state"),
        vec![(ORIGIN.into(), log.key.verifier())],
    )
}

#[test]
fn the_state_survives_a_reopening_and_a_damaged_state_file_stops_the_witness() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(10);
    let w = new_witness(dir.path(), &log);
    assert_eq!(w.add_checkpoint(&log.request(0, 6), NOW).status, 200);
    drop(w);
    let w = witness(dir.path(), &log);
    let answer = w.add_checkpoint(&log.request(0, 10), NOW);
    assert_eq!((answer.status, answer.body.as_str()), (409, "6\n"));
    assert_eq!(w.add_checkpoint(&log.request(6, 10), NOW).status, 200);
    let stored = w.latest(&core::origin_hash(ORIGIN)).unwrap();
    assert!(stored.starts_with(log.checkpoint(10).body()), "{stored}");
    drop(w);
    // The newest slot rewritten whole (its checksum matching) with a size the log never
    // signed: not a torn write but damage, and the witness does not start.
    let forged = stored.replacen("\n10\n", "\n11\n", 1);
    let sum = ring::digest::digest(&ring::digest::SHA256, forged.as_bytes());
    let sum = crate::transfer::id::hex(sum.as_ref());
    std::fs::write(
        slot(dir.path(), 0),
        format!(
            "loopgate-witness-state 1 2 {} {sum}\n{forged}",
            forged.len()
        ),
    )
    .unwrap();
    let err = reopen(dir.path(), &log).unwrap_err();
    assert!(err.to_string().contains("restore the file"), "{err}");
    assert!(err.to_string().contains(".0.state"), "{err}");
}

/// One flush per cosignature: the slots are written in turn, each save into the one that does
/// not hold the current state; a save torn by a crash leaves the state before it, which is the
/// last one the witness answered.
#[test]
fn saves_alternate_between_two_slots_and_a_torn_one_leaves_the_state_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(30);
    let w = new_witness(dir.path(), &log);
    assert_eq!(w.add_checkpoint(&log.request(0, 5), NOW).status, 200);
    assert_eq!(slot_seq(dir.path(), 1), 1);
    assert_eq!(std::fs::metadata(slot(dir.path(), 0)).unwrap().len(), 0);
    assert_eq!(w.add_checkpoint(&log.request(5, 12), NOW).status, 200);
    assert_eq!((slot_seq(dir.path(), 0), slot_seq(dir.path(), 1)), (2, 1));
    assert_eq!(w.add_checkpoint(&log.request(12, 20), NOW).status, 200);
    assert_eq!((slot_seq(dir.path(), 0), slot_seq(dir.path(), 1)), (2, 3));
    drop(w);
    // A crash in the middle of the write of size 20 (sequence 3, slot 1).
    let torn = std::fs::read(slot(dir.path(), 1)).unwrap();
    std::fs::write(slot(dir.path(), 1), &torn[..torn.len() / 2]).unwrap();
    let w = reopen(dir.path(), &log).unwrap();
    let answer = w.add_checkpoint(&log.request(20, 25), NOW);
    assert_eq!((answer.status, answer.body.as_str()), (409, "12\n"));
    // The next save goes into the torn slot, never over the state it fell back to.
    assert_eq!(w.add_checkpoint(&log.request(12, 25), NOW).status, 200);
    assert_eq!((slot_seq(dir.path(), 0), slot_seq(dir.path(), 1)), (2, 3));
    drop(w);
    let w = reopen(dir.path(), &log).unwrap();
    let answer = w.add_checkpoint(&log.request(0, 30), NOW);
    assert_eq!((answer.status, answer.body.as_str()), (409, "25\n"));
}

/// Slot files swapped by hand (a restore that mixed them up): a save still goes into the slot
/// that does not hold the current state, whatever the parity of its sequence number.
#[test]
fn a_save_never_overwrites_the_current_slot_even_after_a_swap() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(20);
    let w = new_witness(dir.path(), &log);
    assert_eq!(w.add_checkpoint(&log.request(0, 5), NOW).status, 200);
    assert_eq!(w.add_checkpoint(&log.request(5, 9), NOW).status, 200);
    drop(w);
    let (zero, one) = (slot(dir.path(), 0), slot(dir.path(), 1));
    let (two, first) = (std::fs::read(&zero).unwrap(), std::fs::read(&one).unwrap());
    std::fs::write(&one, &two).unwrap();
    std::fs::write(&zero, &first[..first.len() - 1]).unwrap();
    let w = reopen(dir.path(), &log).unwrap();
    assert_eq!(w.add_checkpoint(&log.request(9, 14), NOW).status, 200);
    assert_eq!((slot_seq(dir.path(), 0), slot_seq(dir.path(), 1)), (3, 2));
}

#[test]
fn no_complete_slot_stops_the_witness_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(10);
    let w = new_witness(dir.path(), &log);
    assert_eq!(w.add_checkpoint(&log.request(0, 4), NOW).status, 200);
    drop(w);
    // The very first save cut short: no slot holds a state, which may be a lost cosignature.
    let first = std::fs::read(slot(dir.path(), 1)).unwrap();
    std::fs::write(slot(dir.path(), 1), &first[..first.len() - 3]).unwrap();
    let err = reopen(dir.path(), &log).unwrap_err().to_string();
    assert!(err.contains(".1.state"), "{err}");
    assert!(err.contains("very first cosignature"), "{err}");
    assert!(err.contains("restore the file"), "{err}");
}

/// A state directory of the earlier version (one `<origin hash>.checkpoint`, written by
/// rename) is read, and removed once a slot holds a later state.
#[test]
fn the_earlier_state_file_is_read_and_replaced_by_the_slots() {
    let dir = tempfile::tempdir().unwrap();
    let log = TestLog::new(10);
    let w = new_witness(dir.path(), &log);
    assert_eq!(w.add_checkpoint(&log.request(0, 7), NOW).status, 200);
    let stored = w.latest(&core::origin_hash(ORIGIN)).unwrap();
    drop(w);
    for n in 0..2 {
        std::fs::remove_file(slot(dir.path(), n)).unwrap();
    }
    let legacy = dir
        .path()
        .join("state")
        .join(format!("{}.checkpoint", core::origin_hash(ORIGIN)));
    std::fs::write(&legacy, &stored).unwrap();
    let w = reopen(dir.path(), &log).unwrap();
    let answer = w.add_checkpoint(&log.request(0, 10), NOW);
    assert_eq!((answer.status, answer.body.as_str()), (409, "7\n"));
    assert!(legacy.exists());
    assert_eq!(w.add_checkpoint(&log.request(7, 10), NOW).status, 200);
    assert!(!legacy.exists());
    drop(w);
    let w = reopen(dir.path(), &log).unwrap();
    let answer = w.add_checkpoint(&log.request(0, 10), NOW);
    assert_eq!((answer.status, answer.body.as_str()), (409, "10\n"));
}

/// The spec's rollback race: requests checked against the same state must not both be
/// cosigned. Many threads send `old 0` with different sizes at once: exactly one is cosigned.
#[test]
fn concurrent_requests_against_one_state_cosign_only_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(TestLog::new(40));
    let w = Arc::new(new_witness(dir.path(), &log));
    let threads: Vec<_> = (1..=16u64)
        .map(|i| {
            let (w, log) = (w.clone(), log.clone());
            std::thread::spawn(move || w.add_checkpoint(&log.request(0, i * 2), NOW).status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        15,
        "{statuses:?}"
    );
}

#[test]
fn config_problems_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.toml");
    let log = SigningKey::generate(ORIGIN).unwrap().verifier();
    let text = format!(
        "listen = \"0.0.0.0:7380\"\nkey = \"missing.key\"\nstate_dir = \"\"\nprefix = \"w/\"\n\
         [[log]]\norigin = \"{ORIGIN}\"\nkey = \"{log}\"\n[[log]]\norigin = \"{ORIGIN}\"\nkey = \"{log}\"\n"
    );
    let err = WitnessConfig::parse(&path, &text).unwrap_err().to_string();
    for expected in [
        "loopback only",
        "witness keygen",
        "state_dir",
        "prefix",
        "listed twice",
    ] {
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    let err = WitnessConfig::parse(&path, "listen = \"127.0.0.1:1\"\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bogus"), "{err}");

    WitnessSigningKey::generate("w.example/1")
        .unwrap()
        .create_file(&dir.path().join("w.key"))
        .unwrap();
    let good = format!(
        "listen = \"127.0.0.1:0\"\nkey = \"w.key\"\nstate_dir = \"state\"\n\
         [[log]]\norigin = \"{ORIGIN}\"\nkey = \"{log}\"\n"
    );
    let config = WitnessConfig::parse(&path, &good).unwrap();
    assert_eq!(config.state_dir, dir.path().join("state"));
    assert_eq!(config.logs.len(), 1);
    let witness_key_as_log_key = good.replace(&log.to_string(), &config.key.verifier().to_string());
    assert!(WitnessConfig::parse(&path, &witness_key_as_log_key).is_err());
}

/// The example `deploy/witness.toml` uses only known keys and a log key that parses: on a
/// machine without its files, the only problems are the missing key and TLS files.
#[test]
fn the_example_config_has_only_known_keys_and_a_valid_log_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/witness.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let Err(ConfigError::Invalid { problems, .. }) = WitnessConfig::parse(&path, &text) else {
        panic!("expected only missing files");
    };
    assert!(!problems.is_empty());
    for problem in &problems {
        assert!(
            problem.starts_with("[tls]") || problem.starts_with("key = "),
            "{problem}"
        );
    }
}
