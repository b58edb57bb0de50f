//! Allowed transfers end to end (SPEC.md section 3, DESIGN.md invariants 2, 3 and 8): the real
//! binary over TLS 1.3 with client certificates, HTTP/1.1 and HTTP/2, the dev-mode demo upstream
//! as the recipient; the receipt verifies offline three ways (in process, `loopgate audit verify
//! --receipt`, Go's sumdb/note + tlog); `GET /v1/transfers/{id}` is for sender and recipient only.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use loopgate_tests::client::{Client, Http, content_digest};
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::{assert_refused, assert_verifies};
use serde_json::Value;

/// One gateway for the whole file: every test here only adds transfers of its own.
fn gw() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| Gateway::dev().start())
}

/// A body that is not text and not one repeated byte, so a shifted or truncated copy differs.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

fn sha256_b64(bytes: &[u8]) -> String {
    content_digest(bytes)
        .trim_start_matches("sha-256=:")
        .trim_end_matches(':')
        .to_owned()
}

/// The checks every 201 gets: receipt fields, the outcome record, the upstream's copy, and
/// offline verification.
fn assert_delivered(receipt: &Value, body: &[u8]) -> String {
    let gw = gw();
    let id = receipt["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{receipt}");
    assert_eq!(receipt["upstream_status"], 201);
    let record = &receipt["record"];
    let leaf: Value = serde_json::from_str(receipt["leaf"].as_str().unwrap()).unwrap();
    assert_eq!(&leaf, record, "record is leaf parsed");
    assert_eq!(record["kind"], "outcome");
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["transfer_id"], id.as_str());
    assert_eq!(record["sender"], "sz-genomics");
    assert_eq!(record["recipient"], "hk-biolab");
    assert_eq!(record["size"], body.len() as u64);
    assert_eq!(record["sha256"], sha256_b64(body));
    assert_eq!(record["upstream_status"], 201);
    assert!(
        !receipt["leaf"].as_str().unwrap().contains("qc run"),
        "no payload in the log"
    );
    assert_eq!(
        gw.received_body(&id).as_deref(),
        Some(body),
        "the upstream stored exactly the bytes sent"
    );
    assert!(!gw.partial().contains(&id));
    assert_verifies(receipt, &gw.log_pub_path());
    id
}

#[test]
fn a_non_personal_transfer_is_delivered_and_its_receipt_verifies_offline() {
    for http in [Http::One, Http::Two] {
        let sz = Client::tenant(gw(), "sz-genomics").with_http(http);
        let body = payload(200_000, 7);
        let r = sz
            .post_transfer()
            .non_personal()
            .digest_of(&body)
            .body(body.clone())
            .send();
        assert_eq!(r.status, 201, "{http:?}: {}", r.text());
        assert_eq!(
            r.version,
            match http {
                Http::One => http::Version::HTTP_11,
                Http::Two => http::Version::HTTP_2,
            }
        );
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let receipt = r.json();
        assert_delivered(&receipt, &body);
        assert_eq!(receipt["record"]["item"], "INV-NP-001");
    }
}

#[test]
fn a_personal_transfer_is_visible_to_sender_and_recipient_and_nobody_else() {
    let gw = gw();
    let sz = Client::tenant(gw, "sz-genomics");
    let body = b"cohort 7: 250 phenotype rows".to_vec();
    let r = sz
        .clone()
        .http2()
        .post_transfer()
        .personal(250)
        .body(body.clone())
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let receipt = r.json();
    let id = assert_delivered(&receipt, &body);

    let hk = Client::tenant(gw, "hk-biolab");
    for (who, client) in [("sender", &sz), ("recipient", &hk)] {
        let view = client.get_transfer(&id);
        assert_eq!(view.status, 200, "{who}: {}", view.text());
        let view = view.json();
        assert_eq!(view["transfer_id"], id.as_str());
        assert_eq!(view["status"], "completed", "{who}");
        let records = view["records"].as_array().unwrap();
        assert_eq!(records.len(), 2, "a decision and an outcome: {view:#}");
        let decision = &records[0]["record"];
        assert_eq!(decision["kind"], "decision");
        assert_eq!(decision["decision"], "allow");
        assert_eq!(decision["data_class"], "personal");
        assert_eq!(decision["filing"], "GBA-SC-DEMO-001");
        assert_eq!(decision["data_subjects"], 250);
        assert_eq!(decision["purpose"], "research.cohort_study");
        assert_eq!(decision["declared_size"], body.len() as u64);
        assert!(records[0]["log_index"].as_u64() < receipt["log_index"].as_u64());
        assert_eq!(records[1]["log_index"], receipt["log_index"]);
        assert_eq!(records[1]["leaf"], receipt["leaf"]);
        // The current receipt proves the outcome into the latest checkpoint.
        assert_eq!(view["receipt"]["log_index"], receipt["log_index"]);
        assert_verifies(&view["receipt"], &gw.log_pub_path());
    }

    // Invariant 8: a third tenant, and a regulator on the tenant endpoint, are refused (to the
    // tenant the transfer does not exist, as an unknown id).
    let (cert, key) = gw.issue_cert("tenant", "hk-third-party");
    let third = Client::with_cert(gw, &cert, &key);
    third
        .get_transfer(&id)
        .assert_error(404, "request.not_found", false);
    Client::regulator(gw, "pcpd")
        .get_transfer(&id)
        .assert_error(403, "auth.forbidden", false);
    sz.get_transfer("0123456789abcdef0123456789abcdef")
        .assert_error(404, "request.not_found", false);
}

#[test]
fn a_tampered_receipt_is_refused_by_every_verifier() {
    // Guards against a verifier that accepts anything: the same checks that pass above fail
    // on a receipt whose leaf was altered after signing.
    let gw = gw();
    let body = b"qc run 43".to_vec();
    let r = Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(body.clone())
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let receipt = r.json();
    assert_verifies(&receipt, &gw.log_pub_path());
    let mut tampered = receipt.clone();
    tampered["leaf"] = Value::String(
        receipt["leaf"]
            .as_str()
            .unwrap()
            .replace("\"size\":9", "\"size\":8"),
    );
    assert_ne!(tampered["leaf"], receipt["leaf"]);
    assert_refused(&tampered, &gw.log_pub_path());

    // What sits beside the leaf, outside every hash, must agree with it too: each verifier
    // refuses a record, a transfer id or an upstream status that the leaf does not state.
    let mut other_record = receipt.clone();
    other_record["record"]["size"] = Value::from(8);
    assert_refused(&other_record, &gw.log_pub_path());
    let mut other_transfer = receipt.clone();
    other_transfer["transfer_id"] = Value::from("00000000000000000000000000000000");
    assert_refused(&other_transfer, &gw.log_pub_path());
    let mut other_status = receipt.clone();
    other_status["upstream_status"] = Value::from(200);
    assert_refused(&other_status, &gw.log_pub_path());
}

#[test]
fn the_regulator_reads_the_latest_checkpoint() {
    let gw = gw();
    let r = Client::regulator(gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("loopgate.dev/log"));
    let size: u64 = lines.next().unwrap().parse().unwrap();
    assert!(size >= 1, "at least the policy record");
    assert!(text.contains("\n\n\u{2014} loopgate.dev/log "), "{text}");
    // A tenant may not.
    Client::tenant(gw, "sz-genomics")
        .get("/v1/audit/checkpoint")
        .assert_error(403, "auth.forbidden", false);
}

#[test]
fn concurrent_transfers_each_get_their_own_verifiable_receipt() {
    // Group commit: many transfers in flight share commit batches and checkpoints; each receipt
    // still proves its own outcome record.
    let gw = gw();
    let receipts: Vec<Value> = std::thread::scope(|s| {
        let sending: Vec<_> = (0..12u8)
            .map(|i| {
                s.spawn(move || {
                    let http = if i % 2 == 0 { Http::One } else { Http::Two };
                    let body = payload(1000 + usize::from(i), i);
                    let r = Client::tenant(gw, "sz-genomics")
                        .with_http(http)
                        .post_transfer()
                        .non_personal()
                        .body(body.clone())
                        .send();
                    assert_eq!(r.status, 201, "{}", r.text());
                    let receipt = r.json();
                    let id = receipt["transfer_id"].as_str().unwrap();
                    assert_eq!(gw.received_body(id), Some(body));
                    receipt
                })
            })
            .collect();
        sending.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut ids: Vec<&str> = receipts
        .iter()
        .map(|r| r["transfer_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), receipts.len());
    for receipt in &receipts {
        assert_verifies(receipt, &gw.log_pub_path());
    }
}
