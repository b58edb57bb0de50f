//! Interop: Go's golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog accept our
//! checkpoints, inclusion proofs and consistency proofs, and compute the same ones — across the
//! 256-leaf tile boundaries (1,100 records), with the proofs read back after a reopen.
//! Needs `go` and the Debian package golang-golang-x-mod-dev (GOPATH mode, no network).
//! Skips with a loud message only when `go` is missing and `CI` is unset.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use loopgate_audit::{LogConfig, SigningKey};
use serde_json::json;

const GOPATH: &str = "/usr/share/gocode";

fn go_available() -> bool {
    Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn go_note_and_tlog_accept_our_checkpoints_and_proofs() {
    if !go_available()
        || !std::path::Path::new(GOPATH)
            .join("src/golang.org/x/mod")
            .is_dir()
    {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI: the interop test needs `go` and golang-golang-x-mod-dev (apt-get install -y golang-go golang-golang-x-mod-dev)"
            );
        }
        eprintln!(
            "\n\n!!!!! SKIPPING the Go interop test: `go` or golang.org/x/mod is missing.\n!!!!! apt-get install -y golang-go golang-golang-x-mod-dev\n\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate("example.com/loopgate-audit").unwrap();
    let (skey, vkey) = (key.to_text(), key.verifier().to_string());
    let mut config = LogConfig::new(dir.path(), "example.com/loopgate-audit", key);
    config.segment_max_bytes = 4096;
    let log = loopgate_audit::Log::open(config).unwrap();
    let rt = common::rt();
    let mut checkpoints = Vec::new();
    let mut inclusion = Vec::new();
    rt.block_on(async {
        // Sequential appends (one checkpoint each) then concurrent bursts (shared checkpoints).
        for i in 0..20u64 {
            let a = log.append(common::record(i, 100 + i as usize)).await.unwrap();
            checkpoints.push(a.checkpoint.clone());
            inclusion.push(json!({"index": a.index, "size": a.checkpoint.size(), "proof": a.inclusion_proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>()}));
        }
        for burst in 0..3u64 {
            let futs: Vec<_> = (0..30u64).map(|j| log.append(common::record(100 * burst + j, 80))).collect();
            for f in futs {
                let a = f.await.unwrap();
                checkpoints.push(a.checkpoint.clone());
                inclusion.push(json!({"index": a.index, "size": a.checkpoint.size(), "proof": a.inclusion_proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>()}));
            }
        }
    });
    assert_eq!(log.size(), 110);
    // Past the 256-leaf tile boundaries (and the 512- and 1024-leaf ones), in bursts.
    rt.block_on(async {
        for burst in 0..33u64 {
            let futs: Vec<_> = (0..30u64)
                .map(|j| log.append(common::record(10_000 + 100 * burst + j, 60)))
                .collect();
            for f in futs {
                let a = f.await.unwrap();
                checkpoints.push(a.checkpoint.clone());
            }
        }
        log.shutdown().await.unwrap();
    });
    drop(log);
    // Reopened: the proofs below come from the tiles and positions sled kept, not from the
    // right edge the writer held in memory.
    let key = SigningKey::parse(&skey).unwrap();
    let mut config = LogConfig::new(dir.path(), "example.com/loopgate-audit", key);
    config.segment_max_bytes = 4096;
    let log = loopgate_audit::Log::open(config).unwrap();
    let n = log.size();
    assert_eq!(n, 1100);
    let sizes = [
        1, 2, 3, 7, 8, 9, 64, 65, 109, 110, 255, 256, 257, 511, 512, 513, 767, 768, 1023, 1024,
        1025, 1099, 1100,
    ];
    for size in sizes {
        let mut indexes = vec![0, size / 3, size / 2, size - 1];
        indexes.extend(
            [255, 256, 257, 511, 512]
                .iter()
                .copied()
                .filter(|i| *i < size),
        );
        for index in indexes {
            let p = log.inclusion_proof(index, size).unwrap();
            inclusion.push(json!({"index": index, "size": size, "proof": p.iter().map(|h| B64.encode(h)).collect::<Vec<_>>()}));
        }
    }
    let mut consistency = Vec::new();
    for (from, to) in [
        (1, 1),
        (1, 2),
        (1, 110),
        (2, 5),
        (3, 7),
        (4, 8),
        (6, 8),
        (7, 64),
        (63, 65),
        (64, 110),
        (100, 110),
        (110, 110),
        (110, 1100),
        (255, 256),
        (255, 257),
        (256, 257),
        (256, 512),
        (257, 1024),
        (511, 513),
        (512, 1025),
        (1024, 1100),
        (1099, 1100),
        (1100, 1100),
    ] {
        let p = log.consistency_proof(from, to).unwrap();
        consistency.push(json!({"from": from, "to": to, "proof": p.iter().map(|h| B64.encode(h)).collect::<Vec<_>>()}));
    }
    checkpoints.dedup_by_key(|c| c.size());
    checkpoints.push(log.latest_checkpoint());
    let cps: Vec<_> = checkpoints
        .iter()
        .map(|c| {
            let body = format!("{}\n{}\n{}\n", c.origin(), c.size(), B64.encode(c.root()));
            json!({"text": c.text(), "body": body})
        })
        .collect();
    let leaves: Vec<String> = (0..n).map(|i| B64.encode(log.read(i).unwrap())).collect();
    let cases = json!({"signer_key": skey, "verifier_key": vkey, "leaves": leaves,
        "checkpoints": cps, "inclusion": inclusion, "consistency": consistency});
    let case_file = dir.path().join("cases.json");
    std::fs::write(&case_file, serde_json::to_vec(&cases).unwrap()).unwrap();

    let out = run_go(&case_file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Go rejected our output:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("interop ok"), "{stdout}");
    eprintln!("{stdout}");

    // The checker is not a rubber stamp: one altered proof hash and Go refuses.
    let mut tampered = cases.clone();
    tampered["inclusion"][5]["proof"][0] = json!(B64.encode([7u8; 32]));
    std::fs::write(&case_file, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let out = run_go(&case_file);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("inclusion of"));
}

fn run_go(case_file: &std::path::Path) -> std::process::Output {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    Command::new("go")
        .args(["run", "main.go"])
        .arg(case_file)
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env(
            "GOCACHE",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .output()
        .unwrap()
}
