//! An upstream that resets the connection in the middle of a body (SPEC.md section 2, DESIGN.md
//! invariants 2 and 6): the sender gets `502 upstream.unavailable` with the `log_index` of the
//! transfer's one `failed` outcome, nothing is half-acknowledged, and the gateway serves on. The
//! upstream is a tiny TLS server of the test's (`loopgate_tests::upstream::Resetting`) that
//! reads the head and the first 64 KiB, then sends a TCP RST.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::{Client, Http};
use loopgate_tests::gateway::{ConfigToml, Gateway};
use loopgate_tests::upstream::Resetting;

/// The body: large enough that the reset lands while it streams.
const BODY_BYTES: usize = 2 << 20;

#[test]
fn an_upstream_reset_mid_body_is_502_and_a_failed_outcome() {
    let upstream = Resetting::start(64 * 1024);
    let (url, ca) = (upstream.url(), upstream.ca_path());
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.upstream_with_ca("hk-biolab", &url, &ca))
        .start();
    let body: Vec<u8> = (0..BODY_BYTES).map(|i| (i % 253) as u8).collect();
    for (n, http) in [Http::One, Http::Two].into_iter().enumerate() {
        let key = format!("reset-{n}");
        let sz = Client::tenant(&gw, "sz-genomics").with_http(http);
        let sent = sz
            .post_transfer()
            .non_personal()
            .idempotency_key(&key)
            .body(body.clone())
            .try_send();
        // The gateway may answer while the sender still streams, and then close: the answer
        // or the connection error, both are fine here; the retry with the key tells the result.
        let r = match sent {
            Ok(r) => r,
            Err(_) => sz
                .post_transfer()
                .non_personal()
                .idempotency_key(&key)
                .body(body.clone())
                .send(),
        };
        let index = r.assert_error(502, "upstream.unavailable", true).unwrap();
        let message = r.json()["message"].as_str().unwrap().to_owned();
        let id = message
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|w| w.len() == 32)
            .unwrap_or_else(|| panic!("no transfer id in {message:?}"))
            .to_owned();
        let view = sz.get_transfer(&id).json();
        assert_eq!(view["status"], "failed", "{view:#}");
        let records = view["records"].as_array().unwrap();
        assert_eq!(records.len(), 2, "one decision, one outcome: {view:#}");
        assert_eq!(records[1]["record"]["outcome"], "failed");
        assert_eq!(records[1]["record"]["reason"], "upstream.unavailable");
        assert_eq!(records[1]["log_index"].as_u64(), Some(index));
    }
    assert!(upstream.resets() >= 2, "the upstream reset each transfer");
    assert_eq!(gw.ops_get("/readyz").0, 200);
    // The log on disk is whole and every admission has its one outcome.
    let folder = gw.stop();
    let ledger = loopgate_tests::ledger::Ledger::open(folder.path());
    let admissions = ledger.assert_every_admission_has_one_outcome();
    assert_eq!(admissions.len(), 2);
    assert!(admissions.values().all(|a| a.ending() == Some("failed")));
}
