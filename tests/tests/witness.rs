//! `loopgate witness keygen` and `loopgate witness serve` (C2SP tlog-witness, cosignature/v1),
//! end to end: the real binary on loopback, fed real checkpoints and consistency proofs from
//! an audit log, every refusal the spec names, a fork, a `kill -9` between requests, and an
//! independent cosignature/v1 verifier (`tests/interop/cosignature_v1.py`, Python's
//! `cryptography`) that shares no code with ours.

use std::os::unix::fs::PermissionsExt as _;

use loopgate_audit::{
    Checkpoint, SIZE_CONTENT_TYPE, VerifierKey, WitnessVerifierKey, open_cosigned,
};
use loopgate_tests::Loopgate;
use loopgate_tests::witness::{
    ORIGIN, TestLog, Witness, WitnessAnswer, WitnessFolder, independent_verifier,
};

/// Checks a 200 answer: one cosignature line by `witness` that verifies over `checkpoint`.
fn assert_cosigned(answer: &WitnessAnswer, checkpoint: &Checkpoint, log: &TestLog, witness: &str) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body.lines().count(), 1, "{answer:?}");
    let witness = WitnessVerifierKey::parse(witness).expect("a witness key");
    let log_key = VerifierKey::parse(&log.verifier()).expect("the log key");
    let cosigned = format!("{}{}", checkpoint.text(), answer.body);
    let (opened, found) = open_cosigned(&cosigned, &log_key, &[witness]).expect("it verifies");
    assert_eq!(opened.size(), checkpoint.size());
    assert_eq!(found.len(), 1, "{cosigned}");
}

fn start(log: &TestLog) -> (Witness, String) {
    let folder = WitnessFolder::new(log);
    let key = folder.verifier.clone();
    (folder.start(), key)
}

#[test]
fn keygen_writes_a_private_key_and_prints_its_cosignature_v1_verifier_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.key");
    let run = Loopgate::new()
        .args(["witness", "keygen", "--name", "hk.test/witness", "--out"])
        .args([&out])
        .run();
    assert_eq!(run.code, 0, "{run:?}");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = WitnessVerifierKey::parse(run.stdout.trim()).expect("a 0x04 verifier key");
    assert_eq!(key.name(), "hk.test/witness");
    let again = Loopgate::new()
        .args(["witness", "keygen", "--name", "hk.test/witness", "--out"])
        .args([&out])
        .run();
    assert_eq!(again.code, 2, "never overwrites a key: {again:?}");
    assert!(again.stderr.contains("exists"), "{again:?}");
}

#[test]
fn cosigns_a_first_checkpoint_then_a_consistent_later_one() {
    let log = TestLog::new();
    let (witness, key) = start(&log);
    let cp5 = log.grow(5);
    let first = witness.add_checkpoint(0, &[], cp5.text());
    assert_cosigned(&first, &cp5, &log, &key);
    let cp12 = log.grow(7);
    let later = witness.add_checkpoint(5, &log.proof(5, 12), cp12.text());
    assert_cosigned(&later, &cp12, &log, &key);
    // The same checkpoint again is cosigned again (a client retrying after a lost answer).
    assert_cosigned(
        &witness.add_checkpoint(12, &[], cp12.text()),
        &cp12,
        &log,
        &key,
    );
    // The monitoring API serves the latest cosigned checkpoint, with the witness's line.
    let hash: String = ring::digest::digest(&ring::digest::SHA256, ORIGIN.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let latest = witness.request("GET", &format!("/{hash}/checkpoint"), b"");
    assert_eq!(latest.status, 200, "{latest:?}");
    assert!(latest.body.starts_with(cp12.text()), "{latest:?}");
    let (code, stderr) = witness.stop();
    assert_eq!(code, Some(0), "SIGTERM stops it cleanly:\n{stderr}");
    assert_eq!(
        stderr.matches("witness request").count(),
        4,
        "one log line per request:\n{stderr}"
    );
    assert!(stderr.contains("outcome=\"cosigned\""), "{stderr}");
}

#[test]
fn refuses_with_the_status_the_spec_gives() {
    let log = TestLog::new();
    let (witness, _) = start(&log);
    let cp8 = log.grow(8);
    assert_eq!(witness.add_checkpoint(0, &[], cp8.text()).status, 200);
    let cp12 = log.grow(4);
    let proof = log.proof(8, 12);

    // 404: a log this witness does not follow.
    let stranger = TestLog::new();
    let other = loopgate_audit::SigningKey::generate("other.test/log").unwrap();
    let unknown = Checkpoint::sign("other.test/log", 1, [1; 32], &other).unwrap();
    assert_eq!(witness.add_checkpoint(0, &[], unknown.text()).status, 404);
    // 403: the right origin, not signed by the log's key.
    let forged = stranger.grow(12);
    assert_eq!(witness.add_checkpoint(8, &proof, forged.text()).status, 403);
    // 400: old above the checkpoint's size, and bodies that are not add-checkpoint bodies.
    assert_eq!(witness.add_checkpoint(13, &[], cp12.text()).status, 400);
    for body in ["", "old 8\n", "old 08\n\nx", "hello\n\n"] {
        let answer = witness.request("POST", "/add-checkpoint", body.as_bytes());
        assert_eq!(answer.status, 400, "{body:?}: {answer:?}");
    }
    // 409: old is not the size this witness cosigned last; the answer says which it is.
    for old in [0, 5, 9] {
        let answer = witness.add_checkpoint(old, &log.proof(old, 12), cp12.text());
        assert_eq!(answer.status, 409, "old {old}: {answer:?}");
        assert_eq!(answer.content_type, SIZE_CONTENT_TYPE);
        assert_eq!(answer.body, "8\n");
    }
    // 422: a proof that does not verify, or none.
    let mut bad = proof.clone();
    bad[0][31] ^= 1;
    assert_eq!(witness.add_checkpoint(8, &bad, cp12.text()).status, 422);
    assert_eq!(witness.add_checkpoint(8, &[], cp12.text()).status, 422);
    // A body far larger than any add-checkpoint body.
    let huge = vec![b'x'; 200 << 10];
    assert_eq!(
        witness.request("POST", "/add-checkpoint", &huge).status,
        413
    );
    // Other paths and methods.
    assert_eq!(witness.request("GET", "/add-checkpoint", b"").status, 405);
    assert_eq!(witness.request("POST", "/nothing", b"").status, 404);
    // None of this moved the witness: the right request is still cosigned.
    assert_eq!(witness.add_checkpoint(8, &proof, cp12.text()).status, 200);
}

/// A fork: the log's key signs two different trees. The witness never cosigns two roots for
/// one size (409, the spec's status for it), nor a later tree that does not extend the one it
/// cosigned (422).
#[test]
fn a_fork_is_refused() {
    let log = TestLog::new();
    let (witness, _) = start(&log);
    let cp6 = log.grow(6);
    assert_eq!(witness.add_checkpoint(0, &[], cp6.text()).status, 200);
    let other_root = log.sign(6, [9; 32]);
    let answer = witness.add_checkpoint(6, &[], other_root.text());
    assert_eq!(answer.status, 409, "{answer:?}");
    assert!(answer.body.contains("another root"), "{answer:?}");
    assert!(!answer.content_type.contains("tlog.size"), "{answer:?}");
    // A later tree on another branch, with the real proof: refused.
    let cp10 = log.grow(4);
    let branch = log.sign(10, [9; 32]);
    assert_eq!(
        witness
            .add_checkpoint(6, &log.proof(6, 10), branch.text())
            .status,
        422
    );
    assert_eq!(
        witness
            .add_checkpoint(6, &log.proof(6, 10), cp10.text())
            .status,
        200
    );
}

/// Durability: the state is on disk before the answer. `kill -9` between requests, then a
/// restart: the witness remembers the size it cosigned and still refuses what is inconsistent.
#[test]
fn the_state_survives_kill_9_and_a_restart() {
    let log = TestLog::new();
    let folder = WitnessFolder::new(&log);
    let key = folder.verifier.clone();
    let witness = folder.start();
    let cp5 = log.grow(5);
    assert_eq!(witness.add_checkpoint(0, &[], cp5.text()).status, 200);
    let cp9 = log.grow(4);
    assert_eq!(
        witness
            .add_checkpoint(5, &log.proof(5, 9), cp9.text())
            .status,
        200
    );
    let witness = witness.kill().start();

    let cp14 = log.grow(5);
    let stale = witness.add_checkpoint(5, &log.proof(5, 14), cp14.text());
    assert_eq!(
        (stale.status, stale.body.as_str()),
        (409, "9\n"),
        "{stale:?}"
    );
    assert_eq!(witness.add_checkpoint(0, &[], cp14.text()).status, 409);
    let fork = log.sign(9, [3; 32]);
    assert_eq!(witness.add_checkpoint(9, &[], fork.text()).status, 409);
    let branch = log.sign(14, [3; 32]);
    assert_eq!(
        witness
            .add_checkpoint(9, &log.proof(9, 14), branch.text())
            .status,
        422
    );
    let good = witness.add_checkpoint(9, &log.proof(9, 14), cp14.text());
    assert_cosigned(&good, &cp14, &log, &key);
}

/// HTTPS: a client offering h2 and HTTP/1.1 in ALPN (as curl does) gets HTTP/1.1 and a
/// cosignature. (The witness first offered h2 from the gateway's TLS config and then spoke
/// only HTTP/1.1: curl's requests failed.)
#[test]
fn serves_https_when_the_config_names_a_certificate() {
    let log = TestLog::new();
    let folder = WitnessFolder::new(&log).with_tls();
    let key = folder.verifier.clone();
    let witness = folder.start();
    let cp = log.grow(2);
    assert_cosigned(&witness.add_checkpoint(0, &[], cp.text()), &cp, &log, &key);
}

#[test]
fn a_bad_config_exits_64_naming_each_problem() {
    let log = TestLog::new();
    let folder = WitnessFolder::new(&log);
    let config = folder.path().join("witness.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("127.0.0.1:0", "0.0.0.0:0")
            .replace("witness.key", "nope.key"),
    )
    .unwrap();
    let run = Loopgate::new()
        .args(["witness", "serve", "--config"])
        .args([&config])
        .run();
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stderr.contains("loopback only"), "{run:?}");
    assert!(run.stderr.contains("nope.key"), "{run:?}");
}

#[test]
fn a_second_witness_on_the_same_state_directory_exits_73_naming_the_holder() {
    let log = TestLog::new();
    let (first, key) = start(&log);
    let config = first.folder().path().join("witness.toml");
    // Another port (the config says port 0), the same state: refused at once, not served.
    let mut second = std::process::Command::new(loopgate_tests::loopgate_bin())
        .args(["witness", "serve", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while second.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let out = second.wait_with_output().unwrap();
            panic!(
                "a second witness serves the same state directory:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{stderr}");
    let state = first.folder().path().join("state");
    assert!(
        stderr.contains(&format!(
            "witness state {}: another witness process holds it (pid ",
            state.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("another state_dir"), "{stderr}");
    // The first one still cosigns; once it is gone, the directory is free again.
    let cp = log.grow(3);
    assert_cosigned(&first.add_checkpoint(0, &[], cp.text()), &cp, &log, &key);
    let folder = first.kill();
    let again = folder.start();
    let later = log.grow(2);
    let proof = log.proof(3, 5);
    assert_cosigned(
        &again.add_checkpoint(3, &proof, later.text()),
        &later,
        &log,
        &key,
    );
}

/// Runs the independent verifier on a cosigned note: `Ok(stdout)` when it accepts it.
fn interop(witness_key: &str, note: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("cosigned.txt");
    std::fs::write(&file, note).expect("write the note");
    independent_verifier(witness_key, &file)
}

#[test]
fn an_independent_verifier_accepts_the_cosignature_and_refuses_a_flipped_byte() {
    let log = TestLog::new();
    let (witness, key) = start(&log);
    let cp = log.grow(3);
    let answer = witness.add_checkpoint(0, &[], cp.text());
    assert_eq!(answer.status, 200, "{answer:?}");
    let cosigned = format!("{}{}", cp.text(), answer.body);
    let ok = interop(&key, &cosigned).expect("the independent verifier accepts it");
    assert!(ok.starts_with("ok: time "), "{ok}");

    // A flipped byte in the checkpoint's root line.
    let root_line = cp.body().lines().nth(2).unwrap();
    let mut flipped_root = root_line.as_bytes().to_vec();
    flipped_root[0] = if flipped_root[0] == b'A' { b'B' } else { b'A' };
    let changed = cosigned.replacen(root_line, std::str::from_utf8(&flipped_root).unwrap(), 1);
    assert!(interop(&key, &changed).is_err());
    // A flipped bit in the cosignature itself (decoded, flipped, encoded again), in the
    // signature and in the timestamp.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let line = answer.body.trim_end();
    let (prefix, sig) = line.rsplit_once(' ').unwrap();
    for at in [4 + 3, 4 + 8 + 10] {
        let mut bytes = b64.decode(sig).unwrap();
        bytes[at] ^= 1;
        let tampered = format!("{}{prefix} {}\n", cp.text(), b64.encode(&bytes));
        let refused = interop(&key, &tampered).expect_err("a flipped byte fails");
        assert!(refused.contains("does not verify"), "{refused}");
    }
    // Another witness's key finds no line of its own.
    let other = WitnessFolder::new(&log).verifier;
    assert!(interop(&other, &cosigned).is_err());
}
