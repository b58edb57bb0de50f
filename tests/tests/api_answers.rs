//! The shape of what the API answers (issue 23): a receipt gives the body's SHA-256 in hex
//! (`sha256_hex`, what `sha256sum` prints) beside the record's base64, and verifiers refuse a
//! receipt whose hex is not the record's; every JSON body ends with a newline; a `+` left
//! unencoded in a regulator's time parameter is named in the 400's message.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use base64::Engine as _;
use loopgate_tests::client::Client;
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::{assert_refused, assert_verifies};
use serde_json::Value;

const BODY: &[u8] = b"qc run 42, plate 7\n";

/// What `sha256sum` prints for `bytes` (its first field).
fn sha256sum(bytes: &[u8]) -> String {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&file).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_receipt_gives_the_body_digest_in_hex_as_sha256sum_prints_it() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let send = || {
        sz.post_transfer()
            .non_personal()
            .idempotency_key("digest-1")
            .body(BODY)
            .send()
    };
    let r = send();
    assert_eq!(r.status, 201, "{}", r.text());
    let receipt = r.json();
    let hex = sha256sum(BODY);
    assert_eq!(receipt["sha256_hex"], hex.as_str(), "{receipt}");
    // The record's base64 digest is unchanged, and says the same.
    let base64 = receipt["record"]["sha256"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .unwrap();
    let decoded: String = decoded.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(decoded, hex);
    assert_verifies(&receipt, &gw.log_pub_path());

    // The replay's receipt and the view's (its latest record is the outcome) give it too.
    assert_eq!(send().json()["sha256_hex"], hex.as_str());
    let id = receipt["transfer_id"].as_str().unwrap();
    let view = sz.get_transfer(id).json();
    assert_eq!(view["receipt"]["sha256_hex"], hex.as_str(), "{view}");
    assert_verifies(&view["receipt"], &gw.log_pub_path());

    // Outside every hash, it must still agree with the record: every verifier refuses another
    // digest, and one on a record that has none.
    let mut other = receipt.clone();
    other["sha256_hex"] = Value::from(sha256sum(b"something else"));
    assert_refused(&other, &gw.log_pub_path());
    let mut upper = receipt.clone();
    upper["sha256_hex"] = Value::from(hex.to_uppercase());
    assert_refused(&upper, &gw.log_pub_path());
    let denied = sz
        .post_transfer()
        .non_personal()
        .set("Loop-Purpose", "marketing")
        .send();
    let denial_id = denied.json()["transfer_id"].as_str().unwrap().to_owned();
    let mut denial = sz.get_transfer(&denial_id).json()["receipt"].clone();
    assert_eq!(denial.get("sha256_hex"), None, "{denial}");
    assert_verifies(&denial, &gw.log_pub_path());
    denial["sha256_hex"] = Value::from(hex);
    assert_refused(&denial, &gw.log_pub_path());
}

#[test]
fn every_json_answer_ends_with_a_newline() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let pcpd = Client::regulator(&gw, "pcpd");
    let receipt = sz.post_transfer().non_personal().body(BODY).send();
    let id = receipt.json()["transfer_id"].as_str().unwrap().to_owned();
    let answers = [
        ("receipt", receipt),
        (
            "denial",
            sz.post_transfer()
                .non_personal()
                .set("Loop-Purpose", "marketing")
                .send(),
        ),
        ("view", sz.get_transfer(&id)),
        ("list", sz.get("/v1/transfers")),
        ("404", sz.get("/v1/nothing")),
        (
            "405",
            sz.request(
                sz.builder(http::Method::DELETE, "/v1/transfers")
                    .body(loopgate_tests::client::TestBody::empty())
                    .unwrap(),
            ),
        ),
        ("403, logged", pcpd.get("/v1/transfers")),
        ("records", pcpd.get("/v1/audit/records?limit=2")),
        ("record", pcpd.get("/v1/audit/records/0")),
        ("400", pcpd.get("/v1/audit/records?limit=x")),
        ("counters", pcpd.get("/v1/audit/counters")),
        (
            "admin",
            Client::principal(&gw, "admin", "park-ops")
                .post("/v1/admin/tenants/nobody/suspend", ""),
        ),
    ];
    for (what, r) in &answers {
        assert_eq!(
            r.headers["content-type"],
            "application/json",
            "{what}: {}",
            r.text()
        );
        assert!(r.body.ends_with(b"}\n"), "{what}: {:?}", r.text());
        assert_eq!(r.body.iter().filter(|b| **b == b'\n').count(), 1, "{what}");
        // Still one JSON value.
        r.json();
    }
}

#[test]
fn a_plus_sent_unencoded_in_a_time_is_explained() {
    let gw = Gateway::dev().start();
    let pcpd = Client::regulator(&gw, "pcpd");
    let r = pcpd.get("/v1/audit/records?from=2026-12-01T10:00:00+08:00");
    r.assert_error(400, "request.malformed_query", false);
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with(
            "a '+' in a query must be sent as %2B; the time \"2026-12-01T10:00:00 08:00\""
        ),
        "{message}"
    );
    assert!(
        message.contains("from=2026-12-01T10:00:00%2B08:00"),
        "{message}"
    );
    // Sent as the message says, it is taken.
    let r = pcpd
        .get("/v1/audit/records?from=2026-12-01T10:00:00%2B08:00&to=2099-01-01T00:00:00%2B08:00");
    assert_eq!(r.status, 200, "{}", r.text());
    // The export reads its times the same way.
    let r = pcpd.get("/v1/audit/export?to=2026-12-01T10:00:00+08:00");
    r.assert_error(400, "request.malformed_query", false);
    assert!(r.text().contains("%2B"), "{}", r.text());
}
