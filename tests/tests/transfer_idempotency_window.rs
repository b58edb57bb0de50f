//! What an `Idempotency-Key` answers beyond the plain retry (SPEC.md sections 2 and 3, issue 20):
//! the key with another request is `422 request.idempotency_conflict`, logged as a denial of its
//! own (which its sender looks up by the `transfer_id` it names) and never shows the first
//! receipt; a key is forgotten after `[limits] idempotency_retention_hours` (a
//! retry then is a new transfer); the retry of a transfer the gateway's stop interrupted is
//! `409 transfer.interrupted`, naming the decision's log index and that delivery is unknown,
//! never a second delivery; a shipment declaration's key survives a restart.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loopgate_tests::client::{Client, TransferCall};
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};
use loopgate_tests::shipment::{declaration, with};
use serde_json::json;

const BODY: &[u8] = b"qc run 48";

/// The first request: a non-personal transfer of `BODY` with its digest, under key `k`.
fn first<'a>(client: &'a Client, key: &str) -> TransferCall<'a> {
    client
        .post_transfer()
        .non_personal()
        .digest_of(BODY)
        .idempotency_key(key)
        .body(BODY)
}

#[test]
fn the_key_with_another_request_is_a_logged_conflict() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = first(&sz, "k-1").send();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    let other: [(&str, TransferCall<'_>); 5] = [
        (
            "item",
            first(&sz, "k-1").set("Loop-Inventory-Item", "INV-PI-001"),
        ),
        (
            "recipient",
            first(&sz, "k-1").set("Loop-Recipient", "hk-other"),
        ),
        (
            "purpose",
            first(&sz, "k-1").set("Loop-Purpose", "marketing"),
        ),
        (
            "length and digest",
            first(&sz, "k-1")
                .digest_of(b"qc run 49!")
                .body("qc run 49!"),
        ),
        // Same length, another digest.
        (
            "digest",
            first(&sz, "k-1").digest_of(b"qc run 49").body("qc run 49"),
        ),
    ];
    let mut refusals = Vec::new();
    for (what, call) in other {
        let r = call.send();
        let index = r
            .assert_error(422, "request.idempotency_conflict", true)
            .unwrap();
        assert!(
            !r.text().contains(&id),
            "another {what} must not see the first transfer: {}",
            r.text()
        );
        // The refusal is a denial of its own, which its sender finds like any transfer.
        let refusal = r.json()["transfer_id"].as_str().unwrap().to_owned();
        let view = sz.get_transfer(&refusal).json();
        assert_eq!(view["status"], "denied", "{view}");
        assert_eq!(view["records"][0]["log_index"], index);
        let decision = &view["records"][0]["record"];
        assert_eq!(decision["reason"], "request.idempotency_conflict");
        assert_eq!(decision["idempotency_key"], "k-1");
        refusals.push(refusal);
    }
    // The same request still gets its receipt, over HTTP/2 too; one transfer went upstream.
    let again = first(&Client::tenant(&gw, "sz-genomics").http2(), "k-1").send();
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.json()["transfer_id"], id.as_str());
    assert_eq!(gw.received(), vec![id.clone()]);
    // After a restart the key is read from sled: the conflict stays a conflict.
    let gw = gw.restart();
    first(&Client::tenant(&gw, "sz-genomics"), "k-1")
        .set("Loop-Inventory-Item", "INV-PI-001")
        .send()
        .assert_error(422, "request.idempotency_conflict", true);
    // The key still answers for the first transfer, not for a logged conflict.
    let again = first(&Client::tenant(&gw, "sz-genomics"), "k-1").send();
    assert_eq!(again.json()["transfer_id"], id.as_str());
    let folder = gw.stop();
    let decisions: Vec<serde_json::Value> = folder
        .records()
        .into_iter()
        .filter(|r| r["kind"] == "decision" && r["idempotency_key"] == "k-1")
        .collect();
    let reasons: Vec<&serde_json::Value> = decisions.iter().map(|r| &r["reason"]).collect();
    let conflict = serde_json::json!("request.idempotency_conflict");
    assert_eq!(
        reasons,
        [&serde_json::Value::Null]
            .into_iter()
            .chain(std::iter::repeat_n(&conflict, 6))
            .collect::<Vec<_>>(),
        "the first decision, then one denial per conflict"
    );
    assert!(
        refusals
            .iter()
            .all(|r| decisions.iter().any(|d| d["transfer_id"] == r.as_str()))
    );
}

#[test]
fn a_key_is_forgotten_after_its_retention_window() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = first(&sz, "k-window").send();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    // A day and a bit later (the default window is 24 hours) the retry is a new transfer.
    let gw = Gateway::resume(gw.stop())
        .config(|c: ConfigToml| c.set("clock", "offset_days", 2))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = first(&sz, "k-window").send();
    assert_eq!(r.status, 201, "{}", r.text());
    let second = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_ne!(second, id);
    // And that new transfer is what the key answers for now.
    let r = first(&sz, "k-window").send();
    assert_eq!(r.json()["transfer_id"], second.as_str());
    assert_eq!(gw.received().len(), 2);

    // A window of three days keeps the first key at two days.
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("idempotency_retention_hours", 72))
        .start();
    let r = first(&Client::tenant(&gw, "sz-genomics"), "k-long").send();
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    let gw = Gateway::resume(gw.stop())
        .config(|c: ConfigToml| c.set("clock", "offset_days", 2))
        .start();
    let r = first(&Client::tenant(&gw, "sz-genomics"), "k-long").send();
    assert_eq!(r.json()["transfer_id"], id.as_str(), "{}", r.text());
}

#[test]
fn a_window_or_cache_out_of_range_is_refused() {
    for (section, key, value, says) in [
        (
            "limits",
            "idempotency_retention_hours",
            0,
            "idempotency_retention_hours",
        ),
        ("log", "cache_mb", 1, "cache_mb"),
    ] {
        let (code, stderr, _) = Gateway::dev()
            .config(move |c: ConfigToml| c.set(section, key, value))
            .start_refused();
        assert_eq!(code, Some(64), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn the_retry_of_an_interrupted_transfer_is_409_and_never_a_second_delivery() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("drain_timeout_secs", 1))
        .start();
    let chunks: Vec<String> = (0..10).map(|i| format!("row {i}\n")).collect();
    let send = |gw: &Gateway, pause: Duration| {
        Client::tenant(gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .idempotency_key("k-cut")
            .slow(chunks.clone(), pause)
            .try_send()
    };
    let id = std::thread::scope(|s| {
        let sending = s.spawn(|| send(&gw, Duration::from_millis(400)));
        let id = eventually(Duration::from_secs(5), || gw.partial().first().cloned())
            .expect("the transfer started");
        gw.begin_stop();
        let sent = sending.join().unwrap();
        assert!(sent.as_ref().map_or(true, |r| r.status != 201), "{sent:?}");
        id
    });
    let (_, folder, _) = gw.stop_unchecked();
    let gw = Gateway::resume(folder).start();
    let retry = send(&gw, Duration::ZERO).unwrap();
    let index = retry
        .assert_error(409, "transfer.interrupted", true)
        .unwrap();
    let message = retry.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&id), "{message}");
    assert!(message.contains("delivery is unknown"), "{message}");
    // The message names the decision; the error's log_index is the interrupted outcome.
    let folder = gw.stop();
    let records = folder.records();
    let decision = records
        .iter()
        .position(|r| r["kind"] == "decision" && r["transfer_id"] == id.as_str())
        .unwrap();
    assert!(
        message.contains(&format!("log index {decision}")),
        "{message}"
    );
    assert_eq!(
        records[usize::try_from(index).unwrap()]["outcome"],
        "interrupted"
    );
    let transfers = records.iter().filter(|r| r["kind"] == "decision").count();
    assert_eq!(transfers, 1, "the retry started no second transfer");
    assert!(!folder.path().join("received").join(&id).exists());
}

#[test]
fn a_declaration_key_survives_a_restart() {
    let gw = Gateway::dev().start();
    let keyed = with(declaration(), json!({"idempotency_key": "ship-1"}));
    let first = Client::tenant(&gw, "sz-genomics").declare(&keyed);
    assert_eq!(first.status, 201, "{}", first.text());
    let id = first.json()["shipment_id"].clone();
    let gw = gw.restart();
    let sz = Client::tenant(&gw, "sz-genomics");
    let again = sz.declare(&keyed);
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.json()["shipment_id"], id);
    assert_eq!(again.json()["log_index"], first.json()["log_index"]);
    sz.declare(&with(keyed.clone(), json!({"quantity": 3})))
        .assert_error(422, "request.idempotency_conflict", false);
}
