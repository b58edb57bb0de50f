//! The `keygen` and `audit verify` commands as an operator runs them: exit 0 when sound, 1 when
//! verification fails (naming the first bad index), 2 on bad usage or unreadable input.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use loopgate_audit::{Log, LogConfig, Receipt, SigningKey};

fn loopgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loopgate"))
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// keygen a key, then write a log of 40 records with it; returns (verifier key text, receipt).
fn make_log(tmp: &Path) -> (String, Receipt) {
    let key_path = tmp.join("log.key");
    let out = loopgate(&[
        "keygen",
        "--out",
        key_path.to_str().unwrap(),
        "--name",
        "example.com/lg",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let vkey = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let key = SigningKey::load(&key_path).unwrap();
    assert_eq!(key.verifier().to_string(), vkey);
    let mut config = LogConfig::new(tmp.join("data"), "example.com/lg", key);
    config.segment_max_bytes = 4096;
    let log = Log::open(config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut receipt = None;
    rt.block_on(async {
        for i in 0..40 {
            let leaf = format!(r#"{{"v":1,"kind":"outcome","time":"2026-11-25T13:00:00Z","transfer_id":"t-{i}","outcome":"completed","size":{i}}}"#);
            let a = log.append(leaf.clone().into_bytes()).await.unwrap();
            if i == 17 {
                receipt = Some(Receipt::new(&format!("t-{i}"), leaf.as_bytes(), &a, Some(201)).unwrap());
            }
        }
        log.shutdown().await.unwrap();
    });
    (vkey, receipt.unwrap())
}

#[test]
fn keygen_refuses_to_overwrite_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k");
    assert_eq!(
        code(&loopgate(&[
            "keygen",
            "--out",
            key.to_str().unwrap(),
            "--name",
            "a"
        ])),
        0
    );
    assert_eq!(
        code(&loopgate(&[
            "keygen",
            "--out",
            key.to_str().unwrap(),
            "--name",
            "a"
        ])),
        2
    );
    assert_eq!(
        code(&loopgate(&["keygen", "--out", "x", "--name", "has space"])),
        2
    );
}

#[test]
fn verify_a_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (vkey, _) = make_log(tmp.path());
    let data = tmp.path().join("data");
    let data = data.to_str().unwrap();
    let out = loopgate(&["audit", "verify", "--data-dir", data, "--key", &vkey]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 40 records"));
    let key_file = tmp.path().join("log.pub");
    std::fs::write(&key_file, format!("{vkey}\n")).unwrap();
    assert_eq!(
        code(&loopgate(&[
            "audit",
            "verify",
            "--data-dir",
            data,
            "--key",
            key_file.to_str().unwrap()
        ])),
        0
    );
    assert_eq!(code(&loopgate(&["audit", "verify", "--data-dir", data])), 0);

    // Another log's key: the checkpoint signature does not verify.
    let other = SigningKey::generate("example.com/lg")
        .unwrap()
        .verifier()
        .to_string();
    assert_eq!(
        code(&loopgate(&[
            "audit",
            "verify",
            "--data-dir",
            data,
            "--key",
            &other
        ])),
        1
    );

    // A flipped byte in the second segment: exit 1 naming the record.
    let mut segs: Vec<_> = std::fs::read_dir(tmp.path().join("data/segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let mut bytes = std::fs::read(&segs[1]).unwrap();
    let first: u64 = segs[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    bytes[16 + 30] ^= 0x20;
    std::fs::write(&segs[1], bytes).unwrap();
    let out = loopgate(&["audit", "verify", "--data-dir", data, "--key", &vkey]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!("record index {first}")),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        code(&loopgate(&[
            "audit",
            "verify",
            "--data-dir",
            "/nonexistent",
            "--key",
            &vkey
        ])),
        2
    );
    assert_eq!(
        code(&loopgate(&[
            "audit",
            "verify",
            "--data-dir",
            data,
            "--key",
            "garbage"
        ])),
        2
    );
    assert_eq!(code(&loopgate(&["audit", "verify"])), 2);
}

#[test]
fn verify_a_receipt_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let (vkey, receipt) = make_log(tmp.path());
    let path = tmp.path().join("receipt.json");
    let p = path.to_str().unwrap();
    std::fs::write(&path, serde_json::to_vec(&receipt).unwrap()).unwrap();
    let out = loopgate(&["audit", "verify", "--receipt", p, "--key", &vkey]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // The record was changed after the fact: exit 1 naming its index.
    let mut forged = receipt.clone();
    forged.leaf = forged.leaf.replace(r#""size":17"#, r#""size":18"#);
    forged.record = serde_json::from_str(&forged.leaf).unwrap();
    std::fs::write(&path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = loopgate(&["audit", "verify", "--receipt", p, "--key", &vkey]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("record 17"), "{}", stderr(&out));

    let other = SigningKey::generate("example.com/lg")
        .unwrap()
        .verifier()
        .to_string();
    std::fs::write(&path, serde_json::to_vec(&receipt).unwrap()).unwrap();
    assert_eq!(
        code(&loopgate(&[
            "audit",
            "verify",
            "--receipt",
            p,
            "--key",
            &other
        ])),
        1
    );
    assert_eq!(code(&loopgate(&["audit", "verify", "--receipt", p])), 2);
    std::fs::write(&path, "not json").unwrap();
    assert_eq!(
        code(&loopgate(&[
            "audit",
            "verify",
            "--receipt",
            p,
            "--key",
            &vkey
        ])),
        2
    );
}
