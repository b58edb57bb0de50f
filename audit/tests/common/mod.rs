//! Shared helpers for the audit integration tests.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use loopgate_audit::{Log, LogConfig, SigningKey};

// Also included by the crate's own power-loss tests (`src/log/power_loss.rs`).
mod cases;
#[allow(unused_imports)] // not every suite runs proptest
pub use cases::cases;

/// A fixed test key (Go's note example key, so failures are reproducible).
pub const KEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
/// Its verifier key.
pub const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

/// A valid decision record numbered `i`, padded with a `note` detail to about `pad` bytes.
pub fn record(i: u64, pad: usize) -> Vec<u8> {
    let mut r = format!(
        r#"{{"v":1,"kind":"decision","time":"2026-11-25T13:{:02}:{:02}Z","transfer_id":"t-{i}","sender":"s-{}","recipient":"hk-biolab","item":"INV-NP-001","decision":"allow","reason":null"#,
        (i / 60) % 60,
        i % 60,
        i % 5
    );
    if r.len() + 12 < pad {
        r.push_str(&format!(r#","note":"{}""#, "x".repeat(pad - r.len() - 12)));
    }
    r.push('}');
    r.into_bytes()
}

/// A log config with small segments in `dir`.
pub fn config(dir: &Path) -> LogConfig {
    let mut c = LogConfig::new(dir, "PeterNeumann", SigningKey::parse(KEY).unwrap());
    c.segment_max_bytes = 8192;
    c.retry_after = Duration::from_millis(20);
    c
}

pub fn open(dir: &Path) -> Log {
    Log::open(config(dir)).unwrap()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The segment files of a data directory, in order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// The test-only child binary `audit/examples/audit_child.rs`, built by `cargo test` next to
/// the test executables.
pub fn child_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("audit_child");
    if !bin.exists() {
        // `cargo test --test crash` does not build examples; a plain `cargo test` does.
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "loopgate-audit", "--example", "audit_child"]);
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "could not build the audit_child example"
        );
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// `(index, offset, frame length)` of every frame of a segment file (24-byte header:
/// len u32 LE, crc u32, index u64 LE, batch u64).
pub fn frames(path: &Path) -> Vec<(u64, usize, usize)> {
    let b = std::fs::read(path).unwrap();
    let mut at = 16;
    let mut out = Vec::new();
    while at + 24 <= b.len() {
        if b[at..at + 24].iter().all(|&x| x == 0) {
            break; // the active segment's preallocated zeros
        }
        let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let index = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap());
        if at + 24 + len > b.len() {
            break;
        }
        out.push((index, at, 24 + len));
        at += 24 + len;
    }
    out
}

/// Appends `n` records one after another (`first` numbers them) and returns the acks.
pub fn append_all(log: &Log, first: u64, n: u64, pad: usize) -> Vec<loopgate_audit::Appended> {
    rt().block_on(async {
        let mut v = Vec::new();
        for i in first..first + n {
            v.push(log.append(record(i, pad)).await.unwrap());
        }
        v
    })
}
