//! A regulator's offline tools, end to end: what the regulator API hands out, saved to files as
//! `curl -o` would, is checked by `loopgate audit verify` with nothing but the log's verifier
//! key. A record answer (`/v1/audit/records/{i}`, which has no `transfer_id`) like a receipt; a
//! signed checkpoint; two checkpoints and the consistency proof between them (the API's answer,
//! or its hashes one per line); an export rebuilt into the tree of a checkpoint. Each accepts
//! what a real gateway served (exit 0), refuses it with one byte flipped (exit 1, naming what
//! failed), and bad usage or unreadable input exits 2.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use loopgate_tests::client::Client;
use loopgate_tests::gateway::Gateway;
use loopgate_tests::{Loopgate, Run};

/// Sends `n` allowed transfers (two records each).
fn transfers(gw: &Gateway, n: usize) {
    for _ in 0..n {
        let r = Client::tenant(gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .body("telemetry")
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

/// What the regulator fetched, saved in a folder.
struct Saved {
    dir: tempfile::TempDir,
    key: PathBuf,
}

impl Saved {
    fn new(gw: &Gateway) -> Self {
        Saved {
            dir: tempfile::TempDir::new().unwrap(),
            key: gw.log_pub_path(),
        }
    }

    /// `GET path` as the regulator, saved as `name` (as `curl -o name`).
    fn fetch(&self, gw: &Gateway, path: &str, name: &str) -> PathBuf {
        let r = Client::regulator(gw, "pcpd").get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        self.write(name, &r.body)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let file = self.dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        file
    }

    /// A copy of `file` with one byte changed: the one right after the first `marker` that
    /// follows `after`. A letter or digit becomes the next one of its kind, `+` and `/` each
    /// other (so base64 stays base64), anything else has its lowest bit flipped.
    fn flipped(&self, file: &Path, after: &str, marker: &str) -> PathBuf {
        let mut bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let start = text
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in {text}"))
            + after.len();
        let at = start
            + text[start..]
                .find(marker)
                .unwrap_or_else(|| panic!("{marker:?} after {after:?} in {text}"))
            + marker.len();
        let next = |b: u8, first: u8, n: u8| first + (b - first + 1) % n;
        bytes[at] = match bytes[at] {
            b @ b'a'..=b'z' => next(b, b'a', 26),
            b @ b'A'..=b'Z' => next(b, b'A', 26),
            b @ b'0'..=b'9' => next(b, b'0', 10),
            b'+' => b'/',
            b'/' => b'+',
            b => b ^ 1,
        };
        let name = format!("flipped-{}", file.file_name().unwrap().to_string_lossy());
        self.write(&name, &bytes)
    }

    /// `loopgate audit verify ARGS --key log.pub`.
    fn verify(&self, args: &[&Path]) -> Run {
        Loopgate::new()
            .args(["audit", "verify"])
            .args(args.iter().copied())
            .args([Path::new("--key"), &self.key])
            .run()
    }
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn assert_ok(run: &Run, says: &str) {
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("ok: "), "{run:?}");
    assert!(run.stdout.contains(says), "{says:?} in {run:?}");
}

fn assert_unsound(run: &Run, says: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("verification failed") && run.stderr.contains(says),
        "{says:?} in {run:?}"
    );
}

fn assert_usage(run: &Run, says: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(says), "{says:?} in {run:?}");
}

#[test]
fn a_record_answer_verifies_like_a_receipt_and_a_flipped_byte_is_named() {
    let gw = Gateway::dev().start();
    transfers(&gw, 1);
    let saved = Saved::new(&gw);
    // Record 0 is the policy_change of the start: no transfer_id, no upstream_status.
    let record = saved.fetch(&gw, "/v1/audit/records/0", "record.json");
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert!(answer.get("transfer_id").is_none(), "{answer}");
    assert_eq!(answer["record"]["kind"], "policy_change");
    let run = saved.verify(&[p("--receipt"), &record]);
    assert_ok(&run, "record 0 (policy_change) is in the log of size");
    // A transfer's record too (the request's record, 1).
    let run = saved.verify(&[
        p("--receipt"),
        &saved.fetch(&gw, "/v1/audit/records/1", "record1.json"),
    ]);
    assert_ok(&run, "record 1 (");

    // The leaf comes first (keys in alphabetical order: checkpoint, inclusion_proof, leaf).
    let run = saved.verify(&[
        p("--receipt"),
        &saved.flipped(&record, "", "\"leaf\":\"{\\\""),
    ]);
    assert_unsound(
        &run,
        "receipt of record 0: leaf_hash is not the hash of leaf",
    );
    // The checkpoint's origin line.
    let run = saved.verify(&[
        p("--receipt"),
        &saved.flipped(&record, "", "\"checkpoint\":\""),
    ]);
    assert_unsound(&run, "does not verify");
    // A proof hash.
    let first = answer["inclusion_proof"][0].as_str().unwrap();
    let run = saved.verify(&[p("--receipt"), &saved.flipped(&record, "", &first[..10])]);
    assert_unsound(
        &run,
        "receipt of record 0: inclusion proof of leaf 0 does not lead to the root",
    );

    let not_json = saved.write("not.json", b"<html>");
    let run = saved.verify(&[p("--receipt"), &not_json]);
    assert_usage(&run, "is neither a receipt nor a record answer");
}

#[test]
fn checkpoints_consistency_proofs_and_exports_verify_offline() {
    let gw = Gateway::dev().start();
    transfers(&gw, 2);
    let saved = Saved::new(&gw);
    let old = saved.fetch(&gw, "/v1/audit/checkpoint", "old.txt");
    let old_size: u64 = std::fs::read_to_string(&old)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    transfers(&gw, 3);
    let new = saved.fetch(&gw, "/v1/audit/checkpoint", "new.txt");
    let new_text = std::fs::read_to_string(&new).unwrap();
    let new_size: u64 = new_text.lines().nth(1).unwrap().parse().unwrap();
    assert!(new_size > old_size);

    // A checkpoint alone: its signature.
    let run = saved.verify(&[p("--checkpoint"), &new]);
    assert_ok(&run, &format!("checkpoint of {new_size} records"));
    let root = new_text.lines().nth(2).unwrap();
    let bad_root = saved.flipped(&new, "", &root[..10]);
    let run = saved.verify(&[p("--checkpoint"), &bad_root]);
    assert_unsound(&run, "does not verify");

    // Two checkpoints and the proof between them, as the API answers it and as bare lines.
    let proof = saved.fetch(
        &gw,
        &format!("/v1/audit/proof/consistency?from={old_size}&to={new_size}"),
        "proof.json",
    );
    let consistency =
        |proof: &Path| saved.verify(&[p("--consistency"), &old, &new, p("--proof"), proof]);
    assert_ok(
        &consistency(&proof),
        &format!("the log of size {new_size} extends the log of size {old_size}"),
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    let hashes: Vec<&str> = answer["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(!hashes.is_empty(), "{answer}");
    let lines = saved.write("proof.txt", format!("{}\n", hashes.join("\n")).as_bytes());
    assert_ok(&consistency(&lines), "extends");
    let run = consistency(&saved.flipped(&proof, "", &format!("\"{}", &hashes[0][..10])));
    assert_unsound(&run, &format!("the log of size {new_size} does not extend"));
    let run = consistency(&saved.flipped(&lines, "", &hashes[0][..10]));
    assert_unsound(&run, &format!("the log of size {new_size} does not extend"));
    let run = saved.verify(&[p("--consistency"), &old, &bad_root, p("--proof"), &proof]);
    assert_unsound(&run, "the new checkpoint ");
    assert!(run.stderr.contains("does not verify"), "{run:?}");
    // The older checkpoint goes first.
    let run = saved.verify(&[p("--consistency"), &new, &old, p("--proof"), &proof]);
    assert_usage(&run, "give the older (smaller) checkpoint first");

    // An export of exactly the checkpoint's records rebuilds its root.
    let export = saved.fetch(
        &gw,
        &format!("/v1/audit/export?to={new_size}"),
        "export.jsonl",
    );
    let run = saved.verify(&[p("--export"), &export, p("--checkpoint"), &new]);
    assert_ok(
        &run,
        &format!("the export's {new_size} records hash to the root"),
    );
    // One byte of record 4's leaf (a line is `{"leaf", "leaf_hash", "log_index", "record"}`).
    let run = saved.verify(&[
        p("--export"),
        &saved.flipped(&export, "\"log_index\":3,", "{\"leaf\":\"{\\\""),
        p("--checkpoint"),
        &new,
    ]);
    assert_unsound(&run, "record 4 (line 5): leaf_hash is not the hash of leaf");
    // Fewer records than the checkpoint covers, or more, or not from 0: each said.
    let short = saved.fetch(
        &gw,
        &format!("/v1/audit/export?to={old_size}"),
        "short.jsonl",
    );
    let run = saved.verify(&[p("--export"), &short, p("--checkpoint"), &new]);
    assert_unsound(&run, &format!("record {old_size} is the first missing"));
    let run = saved.verify(&[p("--export"), &export, p("--checkpoint"), &old]);
    assert_unsound(
        &run,
        &format!("more records than the checkpoint's {old_size}"),
    );
    let tail = saved.fetch(&gw, "/v1/audit/export?from=1", "tail.jsonl");
    let run = saved.verify(&[p("--export"), &tail, p("--checkpoint"), &new]);
    assert_unsound(&run, "records 0..1 are missing");
    // Records of their own, with their hashes, do not build the signed tree.
    let mut forged: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let last = forged.len() - 1;
    let other: serde_json::Value = serde_json::from_str(&forged[1]).unwrap();
    let mut line: serde_json::Value = serde_json::from_str(&forged[last]).unwrap();
    for field in ["leaf", "leaf_hash", "record"] {
        line[field] = other[field].clone();
    }
    forged[last] = line.to_string();
    let forged = saved.write(
        "forged.jsonl",
        format!("{}\n", forged.join("\n")).as_bytes(),
    );
    let run = saved.verify(&[p("--export"), &forged, p("--checkpoint"), &new]);
    assert_unsound(&run, "do not hash to the checkpoint's root");
}

#[test]
fn bad_usage_and_unreadable_input_exit_2() {
    let gw = Gateway::dev().start();
    let saved = Saved::new(&gw);
    let cp = saved.fetch(&gw, "/v1/audit/checkpoint", "cp.txt");
    let missing = saved.dir.path().join("missing.txt");
    for (args, says) in [
        (
            vec![p("--checkpoint"), &missing],
            "cannot read the checkpoint",
        ),
        (vec![p("--consistency"), &cp, &cp], "--proof"),
        (vec![p("--export"), &cp], "--checkpoint"),
        (
            vec![p("--consistency"), &cp, &cp, p("--proof"), &missing],
            "cannot read the consistency proof",
        ),
        (
            vec![p("--export"), &missing, p("--checkpoint"), &cp],
            "missing.txt",
        ),
        (
            vec![p("--receipt"), &cp, p("--checkpoint"), &cp],
            "cannot be used with",
        ),
    ] {
        let run = saved.verify(&args);
        assert_usage(&run, says);
    }
    // No key: nothing can be proven.
    let run = Loopgate::new()
        .args(["audit", "verify", "--checkpoint"])
        .args([&cp])
        .run();
    assert_usage(&run, "give --key");
    let run = Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([gw.dir().join("data")])
        .args(["--checkpoint"])
        .args([&cp])
        .run();
    assert_usage(&run, "--checkpoint needs --key");
    // A key that is not this log's: the checkpoint is not proven (a failure, not usage).
    let other = saved.dir.path().join("other.key");
    let keygen = Loopgate::new()
        .args(["keygen", "--out"])
        .args([&other])
        .args(["--name", "other.example/log"])
        .run();
    assert_eq!(keygen.code, 0, "{keygen:?}");
    let run = Loopgate::new()
        .args(["audit", "verify", "--checkpoint"])
        .args([&cp])
        .args(["--key", keygen.stdout.trim()])
        .run();
    assert_unsound(&run, "no signature by the verifier key other.example/log");
}
