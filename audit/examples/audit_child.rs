//! Test-only child process for the crash and fail-closed tests (`audit/tests/crash.rs`,
//! `audit/tests/fail_closed.rs`): appends records through the real log and writes
//! `ack <index> <hex leaf hash>` to stdout only after each acknowledgement.
//!
//! Usage: `audit_child DIR MODE CONCURRENCY RECORD_BYTES`, MODE `crash` (append until killed)
//! or `fsize` (append until writes fail, report, wait for a line on stdin, append again).

use std::io::{BufRead as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use loopgate_audit::{Log, LogConfig, SigningKey};

const KEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

fn record(i: u64, pad: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"v":1,"kind":"system","time":"2026-11-25T13:00:00Z","transfer_id":"t-{i}","note":""#
    );
    let fill = pad.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(fill)).into_bytes()
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, mode, conc, bytes] = args.as_slice() else {
        anyhow::bail!("usage: audit_child DIR MODE CONCURRENCY RECORD_BYTES");
    };
    let (conc, bytes): (u64, usize) = (conc.parse()?, bytes.parse()?);
    let mut config = LogConfig::new(dir, "PeterNeumann", SigningKey::parse(KEY)?);
    config.retry_after = Duration::from_millis(20);
    config.segment_max_bytes = 64 << 20;
    let log = Log::open(config)?;
    say(&format!("open {}", log.size()));
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let run = |log: Log, stop_after_errors: u64| {
        let (counter, errors) = (counter.clone(), errors.clone());
        async move {
            let mut tasks = Vec::new();
            for _ in 0..conc {
                let (log, counter, errors) = (log.clone(), counter.clone(), errors.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = counter.fetch_add(1, Ordering::SeqCst);
                        match log.append(record(i, bytes)).await {
                            Ok(a) => say(&format!("ack {} {}", a.index, hex(&a.leaf_hash))),
                            Err(e) => {
                                say(&format!("err {e}"));
                                if errors.fetch_add(1, Ordering::SeqCst) + 1 >= stop_after_errors {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        }
    };
    match mode.as_str() {
        "crash" => run(log.clone(), u64::MAX).await,
        "fsize" => {
            run(log.clone(), 20).await;
            say(if log.is_available() {
                "available"
            } else {
                "unavailable"
            });
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            errors.store(0, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            for _ in 0..5 {
                let i = counter.fetch_add(1, Ordering::SeqCst);
                match log.append(record(i, bytes)).await {
                    Ok(a) => say(&format!("ack {} {}", a.index, hex(&a.leaf_hash))),
                    Err(e) => say(&format!("err {e}")),
                }
            }
            log.shutdown().await?;
            say("done");
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}
