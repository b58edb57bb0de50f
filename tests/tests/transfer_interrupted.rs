//! A transfer still streaming when the gateway stops (SPEC.md section 8, DESIGN.md invariant
//! 2): SIGTERM drains in-flight transfers up to `drain_timeout_secs`; one that finishes in time
//! completes; one cut off by the timeout ends with an `interrupted` outcome, written by
//! recovery when the gateway starts again, and never reaches the upstream complete.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};

#[test]
fn a_transfer_in_flight_at_sigterm_completes_within_the_drain_timeout() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("drain_timeout_secs", 5))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = std::thread::scope(|s| {
        let sending = s.spawn(|| {
            sz.post_transfer()
                .non_personal()
                .slow(["one ", "two ", "three"], Duration::from_millis(300))
                .send()
        });
        eventually(Duration::from_secs(5), || {
            (!gw.partial().is_empty()).then_some(())
        })
        .expect("the transfer started");
        gw.begin_stop();
        sending.join().unwrap()
    });
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    let folder = gw.stop();
    let body = std::fs::read(folder.path().join("received").join(&id)).unwrap();
    assert_eq!(body, b"one two three");
}

#[test]
fn a_transfer_cut_off_by_the_drain_timeout_is_interrupted() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("drain_timeout_secs", 1))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let chunks: Vec<String> = (0..10).map(|i| format!("row {i}\n")).collect();
    let (sent, id) = std::thread::scope(|s| {
        let sending = s.spawn(|| {
            sz.post_transfer()
                .non_personal()
                .slow(chunks, Duration::from_millis(400))
                .try_send()
        });
        let id = eventually(Duration::from_secs(5), || gw.partial().first().cloned())
            .expect("the transfer started");
        gw.begin_stop();
        (sending.join().unwrap(), id)
    });
    assert!(
        sent.as_ref().map_or(true, |r| r.status != 201),
        "a transfer longer than the drain timeout completed: {sent:?}"
    );
    let (_, folder, stderr) = gw.stop_unchecked();
    let gw = Gateway::resume(folder).start();
    let view = Client::tenant(&gw, "sz-genomics").get_transfer(&id);
    assert_eq!(view.status, 200, "{}", view.text());
    let view = view.json();
    assert_eq!(view["status"], "interrupted", "{view:#}\n{stderr}");
    let records = view["records"].as_array().unwrap();
    let outcomes: Vec<_> = records
        .iter()
        .filter(|r| r["record"]["kind"] == "outcome")
        .collect();
    assert_eq!(outcomes.len(), 1, "exactly one outcome: {view:#}");
    assert_eq!(outcomes[0]["record"]["outcome"], "interrupted");
    assert!(gw.received_body(&id).is_none());
    // Recovery writes it once: another restart adds nothing.
    let gw = gw.restart();
    let again = Client::tenant(&gw, "sz-genomics").get_transfer(&id).json();
    assert_eq!(again["records"].as_array().unwrap().len(), records.len());
}
