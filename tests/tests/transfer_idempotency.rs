//! `Idempotency-Key` (SPEC.md section 3): a retry with the same key and sender returns the first
//! result, never a second transfer — while the gateway runs, after it restarts on the same
//! folder (the keys are kept in sled and rebuilt from the log), and when the duplicates race; a
//! retry is the same request (recipient, item, purpose, filing, subjects, `Content-Length`,
//! `Content-Digest`), and the key with another request is `request.idempotency_conflict`
//! (tests/tests/transfer_idempotency_window.rs has the conflicts, the window and the
//! interrupted first request).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loopgate_tests::client::{Client, Http};
use loopgate_tests::gateway::{Gateway, eventually};
use loopgate_tests::receipt::assert_verifies;

#[test]
fn a_retry_returns_the_first_receipt_also_after_a_restart() {
    let gw = Gateway::dev().start();
    let send = |gw: &Gateway, http: Http, body: &'static str| {
        Client::tenant(gw, "sz-genomics")
            .with_http(http)
            .post_transfer()
            .non_personal()
            .idempotency_key("batch-2026-11-25-001")
            .body(body)
            .send()
    };
    let first = send(&gw, Http::One, "qc run 48");
    assert_eq!(first.status, 201, "{}", first.text());
    let (id, index) = (
        first.json()["transfer_id"].clone(),
        first.json()["log_index"].clone(),
    );
    let retry = send(&gw, Http::Two, "qc run 48");
    assert_eq!(retry.status, 201, "{}", retry.text());
    assert_eq!(retry.json()["transfer_id"], id);
    assert_eq!(retry.json()["log_index"], index);
    assert_eq!(gw.received(), vec![id.as_str().unwrap().to_owned()]);

    // Another key is another transfer.
    let other = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .idempotency_key("batch-2026-11-25-002")
        .body("qc run 49")
        .send();
    assert_eq!(other.status, 201, "{}", other.text());
    assert_ne!(other.json()["transfer_id"], id);

    // After a restart the key is found in the log; the answer is the same transfer, with a
    // receipt against the latest checkpoint that still verifies.
    let gw = gw.restart();
    let after = send(&gw, Http::One, "qc run 48");
    assert_eq!(after.status, 201, "{}", after.text());
    let receipt = after.json();
    assert_eq!(receipt["transfer_id"], id);
    assert_eq!(receipt["log_index"], index);
    assert_eq!(receipt["record"]["outcome"], "completed");
    assert_eq!(receipt["record"]["size"], 9);
    assert_verifies(&receipt, &gw.log_pub_path());
    assert_eq!(gw.received().len(), 2, "{:?}", gw.received());
    assert_eq!(
        gw.received_body(id.as_str().unwrap()).unwrap(),
        b"qc run 48"
    );
}

#[test]
fn a_denial_is_replayed_too() {
    let gw = Gateway::dev().start();
    let send = || {
        Client::tenant(&gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .set("Loop-Purpose", "marketing")
            .idempotency_key("denied-once")
            .body("x")
            .send()
    };
    let first = send()
        .assert_error(403, "inventory.purpose_not_allowed", true)
        .unwrap();
    let again = send()
        .assert_error(403, "inventory.purpose_not_allowed", true)
        .unwrap();
    assert_eq!(first, again);
    let gw = gw.restart();
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .set("Loop-Purpose", "marketing")
        .idempotency_key("denied-once")
        .body("x")
        .send();
    assert_eq!(
        r.assert_error(403, "inventory.purpose_not_allowed", true),
        Some(first)
    );
    assert!(gw.received().is_empty());
}

#[test]
fn racing_duplicates_make_one_transfer() {
    // Regression: the key's reply was kept in the first request's own future; the duplicate of
    // a request still streaming must get the first result or 409 request.in_progress, never run
    // a second transfer.
    let gw = Gateway::dev().start();
    let client = Client::tenant(&gw, "sz-genomics");
    let (held, gate) = client
        .post_transfer()
        .non_personal()
        .idempotency_key("raced")
        .held("one two ", "three");
    let slow_first = std::thread::scope(|s| {
        // The first is held mid-body until the duplicate has its answer: no timing window.
        let first = s.spawn(move || held.send());
        // The first is streaming (the upstream has its start) before the duplicate goes out.
        eventually(Duration::from_secs(5), || {
            (!gw.partial().is_empty()).then_some(())
        })
        .expect("the first transfer started");
        let second = Client::tenant(&gw, "sz-genomics")
            .http2()
            .post_transfer()
            .non_personal()
            .idempotency_key("raced")
            .chunked(["one two three"])
            .send();
        second.assert_error(409, "request.in_progress", false);
        gate.open();
        first.join().unwrap()
    });
    assert_eq!(slow_first.status, 201, "{}", slow_first.text());
    let id = slow_first.json()["transfer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(gw.received(), vec![id.clone()]);
    assert_eq!(gw.received_body(&id).unwrap(), b"one two three");
    // Once the first has its outcome, a retry gets it.
    let later = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .idempotency_key("raced")
        .chunked(["one two three"])
        .send();
    assert_eq!(later.json()["transfer_id"], id.as_str());
}
