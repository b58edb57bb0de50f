//! A transfer whose body was forwarded but whose outcome the log refused (the disk filled in
//! between): the sender is told that delivery is unknown (503 `audit.unavailable`, naming the
//! transfer and saying not to resend before checking it, never "nothing was forwarded"), and
//! once the disk has room the same process gives the transfer exactly one outcome by itself,
//! no other request having to come (DESIGN.md invariant 2): `interrupted`, or the refused
//! outcome itself when it had reached the disk (then no `interrupted` after it). A retry with
//! its Idempotency-Key then gets that outcome's answer, never a second delivery.
//!
//! The log lives on a small tmpfs that the test fills (root can mount here and in CI; where
//! mounting is refused the test says so and checks nothing).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};
use loopgate_tests::tmpfs::Tmpfs;

#[test]
fn an_outcome_the_full_log_refused_is_reported_as_unknown_and_concluded_once_in_process() {
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        eprintln!("tmpfs mount refused: this test needs a file system it can fill; skipped");
        return;
    };
    let data = tmpfs.path.join("data");
    let data_text = data.display().to_string();
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.set("log", "dir", data_text.as_str()))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let other = Client::tenant(&gw, "hk-biolab");
    let (call, gate) = sz
        .post_transfer()
        .non_personal()
        .idempotency_key("k-outcome-unlogged")
        .held("first half, ", "second half");
    let (answer, id) = std::thread::scope(|s| {
        let sending = s.spawn(|| call.send());
        // Its decision is durable and its body is on its way upstream.
        let id = eventually(Duration::from_secs(10), || gw.partial().first().cloned())
            .expect("the transfer started");
        // The disk fills; other requests find the log refusing writes.
        tmpfs.fill("filler");
        (0..2000)
            .map(|_| other.post_transfer().non_personal().body("x").send())
            .find(|r| r.status == 503)
            .expect("the log never failed on a full disk");
        gate.open();
        (sending.join().unwrap(), id)
    });
    answer.assert_error(503, "audit.unavailable", false);
    let message = answer.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&id), "names the transfer: {message}");
    assert!(
        message.contains(&format!("GET /v1/transfers/{id}")) && message.contains("unknown"),
        "says delivery is unknown and where to check: {message}"
    );
    assert!(
        !message.contains("nothing was forwarded"),
        "the body was forwarded: {message}"
    );

    // Space returns: the same process takes writes again, and the transfer gets its one
    // outcome with no other request appending anything. Which one depends on what the full
    // disk hit: a segment write leaves the outcome out of the log (then `interrupted`); the
    // index leaves it durable but refused, and the reopened index recovers it (then the
    // `completed` it was), which must not get an `interrupted` one as well.
    std::fs::remove_file(tmpfs.path.join("filler")).unwrap();
    let mut gw = gw;
    let view = eventually(Duration::from_secs(30), || {
        assert_eq!(
            gw.exit_status(),
            None,
            "the gateway stopped:\n{}",
            gw.stderr()
        );
        let view = sz.get_transfer(&id);
        (view.status == 200 && view.json()["status"] != "in_progress").then(|| view.json())
    })
    .unwrap_or_else(|| {
        panic!(
            "the transfer never got its outcome: {}\n{}",
            sz.get_transfer(&id).text(),
            gw.stderr()
        )
    });
    let outcomes: Vec<_> = view["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["record"]["kind"] == "outcome")
        .collect();
    assert_eq!(outcomes.len(), 1, "exactly one outcome: {view:#}");
    let outcome = outcomes[0]["record"]["outcome"]
        .as_str()
        .unwrap()
        .to_owned();
    eprintln!("the transfer's one outcome: {outcome}");
    let received = gw.received_body(&id);

    // The retry with its key (the same request: chunked, no length) gets that outcome's
    // answer, and nothing is sent again.
    let retry = sz
        .post_transfer()
        .non_personal()
        .idempotency_key("k-outcome-unlogged")
        .chunked(["first half, ", "second half"])
        .send();
    match outcome.as_str() {
        "interrupted" => {
            retry.assert_error(409, "transfer.interrupted", true);
        }
        "completed" => {
            assert_eq!(retry.status, 201, "{}", retry.text());
            assert_eq!(retry.json()["transfer_id"], id.as_str());
        }
        other => panic!("unexpected outcome {other}: {view:#}"),
    }
    assert_eq!(gw.received_body(&id), received, "sent again");

    // A restart's recovery finds nothing left to conclude.
    let gw = gw.restart();
    let again = Client::tenant(&gw, "sz-genomics").get_transfer(&id).json();
    assert_eq!(again["records"], view["records"], "{again:#}");
}
