//! The body on its way to the upstream (DESIGN.md invariant 6, SPEC.md section 3): a body that
//! does not match its `Content-Digest` or `Content-Length`, grows past the item's
//! `max_transfer_bytes` while streaming, stalls, or is aborted never reaches the upstream
//! complete, and its transfer ends with one `failed` outcome record naming the reason. Chunked
//! and slow bodies that are fine are delivered byte for byte.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::Duration;

use loopgate_tests::client::{Client, Http, content_digest};
use loopgate_tests::gateway::{Bundle, ConfigToml, Gateway, eventually};
use serde_json::Value;

/// The non-personal item's limit in this file's bundle.
const LIMIT: usize = 64 * 1024;

/// One gateway for the file: INV-NP-001 limited to 64 KiB, bodies may stall for 1 s.
fn gw() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| {
        Gateway::dev()
            .policy(|bundle: Bundle| {
                bundle.edit_after(
                    "id = \"INV-NP-001\"",
                    "max_transfer_bytes = 1073741824",
                    &format!("max_transfer_bytes = {LIMIT}"),
                )
            })
            .config(|config: ConfigToml| config.limit("body_idle_timeout_secs", 1))
            .start()
    })
}

fn sz() -> Client {
    Client::tenant(gw(), "sz-genomics")
}

/// The transfer id a failed transfer's error message names ("transfer <id> failed: ...").
fn failed_transfer_id(error: &Value) -> String {
    let message = error["message"].as_str().unwrap();
    message
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|word| word.len() == 32)
        .unwrap_or_else(|| panic!("no transfer id in {message:?}"))
        .to_owned()
}

/// The transfer failed with `reason`: its outcome record is the error's `log_index`, and the
/// upstream has no complete body for it.
fn assert_failed(error: &Value, reason: &str) -> String {
    let gw = gw();
    let id = failed_transfer_id(error);
    let view = sz().get_transfer(&id);
    assert_eq!(view.status, 200, "{}", view.text());
    let view = view.json();
    assert_eq!(view["status"], "failed", "{view:#}");
    let records = view["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "one decision, one outcome: {view:#}");
    assert_eq!(records[0]["record"]["decision"], "allow");
    let outcome = &records[1];
    assert_eq!(outcome["record"]["kind"], "outcome");
    assert_eq!(outcome["record"]["outcome"], "failed");
    assert_eq!(outcome["record"]["reason"], reason);
    assert_eq!(outcome["log_index"], error["log_index"]);
    assert_no_complete_body(gw, &id);
    id
}

fn assert_no_complete_body(gw: &Gateway, id: &str) {
    assert!(
        gw.received_body(id).is_none(),
        "the upstream stored an unverified body for {id}"
    );
    // Once the upstream has seen the body cut off it is done with it: it never completed it.
    assert!(
        eventually(Duration::from_secs(10), || gw
            .aborted()
            .contains(&id.to_owned())
            .then_some(()))
        .is_some(),
        "the upstream never saw {id} cut off: {:?}",
        gw.partial()
    );
    assert!(!gw.received().contains(&id.to_owned()));
}

fn chunks(total: usize, size: usize) -> Vec<Vec<u8>> {
    let body: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    body.chunks(size).map(<[u8]>::to_vec).collect()
}

#[test]
fn a_content_digest_mismatch_fails_and_the_upstream_never_completes_the_body() {
    for http in [Http::One, Http::Two] {
        let parts = chunks(40_000, 8_000);
        let r = sz()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .set("Content-Digest", content_digest(b"something else"))
            .chunked(parts)
            .send();
        let error = r.json();
        r.assert_error(400, "request.digest_mismatch", true);
        let id = assert_failed(&error, "request.digest_mismatch");
        // The upstream saw the transfer start (all but the held-back last chunk), then abort.
        assert!(
            eventually(Duration::from_secs(5), || gw()
                .partial()
                .contains(&id)
                .then_some(()))
            .is_some(),
            "{http:?}: the upstream request was never started for {id}"
        );
    }
}

#[test]
fn a_body_shorter_than_its_content_length_fails_with_length_mismatch() {
    let client = sz();
    let head = "POST /v1/transfers HTTP/1.1\r\nHost: localhost\r\n\
                Loop-Inventory-Item: INV-NP-001\r\nLoop-Recipient: hk-biolab\r\n\
                Loop-Purpose: research.instrument_qc\r\nContent-Length: 5000\r\n\r\n";
    let raw = client
        .raw_http1(head, &[b'x'; 3000])
        .unwrap_or_else(|e| panic!("no response: {e}"));
    let status = raw.split(' ').nth(1).unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    let error: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert_eq!(
        (status, error["error"].as_str()),
        ("400", Some("request.length_mismatch")),
        "{raw}"
    );
    assert_failed(&error, "request.length_mismatch");

    // HTTP/2: END_STREAM after 3 of 10 declared bytes. The stream is reset, so the answer comes
    // from a retry with the same Idempotency-Key (the same request: the same declared length,
    // whole this time; a replay reads none of it). The first byte goes a moment before the
    // rest: sent in one write, h2 could refuse the stream before the gateway ever saw the
    // request (nothing admitted, and the retry would then be the first transfer).
    let h2 = sz().http2();
    let _ = h2
        .post_transfer()
        .non_personal()
        .idempotency_key("short-h2")
        .header("Content-Length", 10)
        .slow(["a", "bc"], Duration::from_millis(300))
        .try_send();
    let retry = eventually(Duration::from_secs(5), || {
        let r = h2
            .post_transfer()
            .non_personal()
            .idempotency_key("short-h2")
            .body("abcdefghij")
            .send();
        (r.status != 409).then_some(r)
    })
    .expect("the short transfer has an outcome");
    retry.assert_error(400, "request.length_mismatch", true);
    assert_failed(&retry.json(), "request.length_mismatch");
}

#[test]
fn a_chunked_body_over_the_item_limit_is_cut_off_while_streaming() {
    for http in [Http::One, Http::Two] {
        // No Content-Length: only the count while streaming can catch it (rule 10).
        let parts = chunks(LIMIT + 16 * 1024, 16 * 1024);
        let r = sz()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .chunked(parts)
            .send();
        let error = r.json();
        r.assert_error(413, "request.body_too_large", true);
        assert_failed(&error, "request.body_too_large");
    }
}

#[test]
fn chunked_and_slow_bodies_are_delivered_byte_for_byte() {
    for http in [Http::One, Http::Two] {
        let parts = chunks(50_000, 7_000);
        let whole: Vec<u8> = parts.concat();
        let r = sz()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .digest_of(&whole)
            .chunked(parts.clone())
            .send();
        assert_eq!(r.status, 201, "{http:?}: {}", r.text());
        let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
        assert_eq!(gw().received_body(&id), Some(whole.clone()));
        assert_eq!(r.json()["record"]["size"], whole.len());

        // Pauses shorter than the idle timeout are fine.
        let r = sz()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .slow(parts.into_iter().take(3), Duration::from_millis(150))
            .send();
        assert_eq!(r.status, 201, "{http:?}: {}", r.text());
        let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
        assert_eq!(gw().received_body(&id).unwrap().len(), 21_000);
    }
}

#[test]
fn an_empty_body_is_a_transfer_too() {
    let r = sz().post_transfer().non_personal().body("").send();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw().received_body(&id), Some(Vec::new()));
}

#[test]
fn a_stalled_body_times_out() {
    let r = sz()
        .post_transfer()
        .non_personal()
        .slow(chunks(3_000, 1_000), Duration::from_millis(2_500))
        .try_send();
    // The gateway answers 408 after 1 s of silence, while the client still holds bytes back.
    let r = r.unwrap_or_else(|e| panic!("no answer to a stalled body: {e}"));
    let error = r.json();
    r.assert_error(408, "request.stalled", true);
    assert_failed(&error, "request.stalled");
}

#[test]
fn a_body_the_client_aborts_fails_and_a_retry_gets_that_result() {
    for (http, key) in [(Http::One, "abort-h1"), (Http::Two, "abort-h2")] {
        let r = sz()
            .with_http(http)
            .post_transfer()
            .non_personal()
            .idempotency_key(key)
            .failing(chunks(30_000, 10_000))
            .try_send();
        assert!(
            r.is_err(),
            "the client aborted; no response expected: {r:?}"
        );
        // The outcome is written even though the client went away; the retry with the same
        // key (the same request: no declared length) is answered from it instead of making a
        // second transfer.
        let retry = eventually(Duration::from_secs(5), || {
            let r = sz()
                .with_http(http)
                .post_transfer()
                .non_personal()
                .idempotency_key(key)
                .chunked(["never sent twice"])
                .send();
            (r.status != 409).then_some(r)
        })
        .expect("the aborted transfer has an outcome");
        retry.assert_error(400, "request.body_incomplete", true);
    }
}

#[test]
fn memory_does_not_grow_with_the_body() {
    // Invariant 9: a body several times larger than the gateway's footprint streams through;
    // its peak memory grows by far less than the body (an own gateway, so other tests' bodies
    // do not count).
    const MIB: usize = 1024 * 1024;
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let warm = sz
        .post_transfer()
        .non_personal()
        .body(vec![1u8; MIB])
        .send();
    assert_eq!(warm.status, 201, "{}", warm.text());
    let before = gw.peak_rss_kib();
    let chunk = bytes::Bytes::from(vec![7u8; MIB]);
    let r = sz
        .http2()
        .post_transfer()
        .non_personal()
        .chunked(std::iter::repeat_n(chunk, 48))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["record"]["size"], 48 * MIB);
    let grew = gw.peak_rss_kib().saturating_sub(before);
    eprintln!("peak before {before} KiB, grew {grew} KiB");
    assert!(
        grew < 16 * 1024,
        "peak memory grew by {grew} KiB for a 48 MiB body"
    );
}
