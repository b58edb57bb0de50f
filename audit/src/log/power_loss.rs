//! Acknowledged means durable, under a simulated power loss (`store::fsio::fault`), which
//! keeps only what was synced, where a SIGKILL keeps the page cache: an fdatasync that fails
//! after its write acknowledges nothing of the batch, its bytes are cut at once, the log fails
//! closed, and a reopen (with or without a power loss) holds exactly the acknowledged records.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::layout::SEGMENT_HEADER;
use crate::store::{self, fsio::fault};
use crate::verify::verify_dir;

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
