//! No audit, no transfer, under concurrent load (DESIGN.md invariants 1-3): four clients send
//! transfers while the log's files reach a size limit (`prlimit --fsize`, so writes fail with
//! EFBIG). Every answer is a receipt or `503 audit.unavailable` without a `log_index`;
//! `/readyz` goes red; while the log is down nothing more reaches the upstream; and once the
//! limit is lifted from the running process the same process serves again (no restart), the
//! log verifies, every receipt is in it, every admission has one outcome, and every body the
//! upstream stored belongs to a transfer whose allow decision is in the log. `audit_unavailable.rs` checks the same failure
//! one request at a time (and a full tmpfs, and space coming back).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loopgate_tests::client::{Client, Response};
use loopgate_tests::gateway::{Gateway, eventually};
use loopgate_tests::ledger::Ledger;
use serde_json::Value;

/// RLIMIT_FSIZE: above what start-up writes, reached after a few hundred transfers.
const FSIZE_LIMIT: u64 = 256 * 1024;
const CLIENTS: usize = 4;
/// Each client stops after this many refusals in a row (the log is down for good).
const REFUSALS: usize = 20;

/// What the clients were told: receipts, and how many 503s.
fn drive(client: &Client, down: &AtomicBool) -> (Vec<Value>, usize) {
    let (mut receipts, mut refused, mut in_a_row) = (Vec::new(), 0, 0);
    for n in 0..5_000 {
        let r: Response = client
            .post_transfer()
            .non_personal()
            .body(format!("load row {n}"))
            .send();
        match r.status {
            201 => {
                receipts.push(r.json());
                in_a_row = 0;
            }
            _ => {
                r.assert_error(503, "audit.unavailable", false);
                down.store(true, Ordering::Relaxed);
                refused += 1;
                in_a_row += 1;
                if in_a_row >= REFUSALS {
                    break;
                }
            }
        }
    }
    (receipts, refused)
}

#[test]
fn a_log_that_fails_under_load_fails_closed_and_loses_nothing_acknowledged() {
    let gw = Gateway::dev().file_size_limit(FSIZE_LIMIT).start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let down = AtomicBool::new(false);
    let told: Vec<(Vec<Value>, usize)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..CLIENTS)
            .map(|_| s.spawn(|| drive(&sz, &down)))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let receipts: Vec<Value> = told.iter().flat_map(|(r, _)| r.clone()).collect();
    let refused: usize = told.iter().map(|(_, n)| n).sum();
    assert!(down.load(Ordering::Relaxed), "the log never failed");
    assert!(
        !receipts.is_empty(),
        "nothing succeeded before the log failed"
    );
    eprintln!("{} receipts, {refused} refusals", receipts.len());

    // Down: /readyz red, and nothing more reaches the upstream.
    assert_eq!(gw.ops_get("/readyz").0, 503);
    assert_eq!(gw.ops_get("/healthz").0, 200);
    let stored = (gw.received(), gw.partial());
    for _ in 0..10 {
        let r = sz.post_transfer().non_personal().body("while down").send();
        r.assert_error(503, "audit.unavailable", false);
    }
    assert_eq!(
        (gw.received(), gw.partial()),
        stored,
        "forwarded while the log was down"
    );

    // The limit is lifted from the running process: the same process serves again.
    let pid = gw.pid().expect("the gateway's pid");
    let lifted = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--fsize=unlimited:unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success());
    let mut gw = gw;
    let back = eventually(Duration::from_secs(20), || {
        assert_eq!(
            gw.exit_status(),
            None,
            "the gateway stopped:\n{}",
            gw.stderr()
        );
        let r = Client::tenant(&gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .body("back")
            .send();
        (r.status == 201).then_some(r)
    })
    .unwrap_or_else(|| panic!("no service once the limit was lifted:\n{}", gw.stderr()));
    assert_eq!(gw.ops_get("/readyz").0, 200);
    let received: BTreeSet<String> = gw.received().into_iter().collect();
    let folder = gw.stop();

    let verify = loopgate_tests::Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([folder.path().join("data").as_os_str()])
        .run();
    assert_eq!(verify.code, 0, "{verify:?}");
    let ledger = Ledger::open(folder.path());
    for receipt in receipts.iter().chain(std::iter::once(&back.json())) {
        let index = receipt["log_index"].as_u64().unwrap();
        assert_eq!(
            ledger.leaf_text(index),
            receipt["leaf"].as_str(),
            "an acknowledged record {index} is not in the log"
        );
    }
    let admissions = ledger.assert_every_admission_has_one_outcome();
    // No audit, no transfer: every stored body was admitted by a durable decision.
    for id in &received {
        assert!(
            admissions.contains_key(id),
            "the upstream stored {id}, which the log never admitted"
        );
    }
    ledger.assert_extends(
        &receipts
            .iter()
            .map(|r| r["checkpoint"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
    );
}
