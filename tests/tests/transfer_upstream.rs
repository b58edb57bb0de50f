//! When the recipient's upstream fails (SPEC.md section 2, DESIGN.md invariant 2): down is
//! `502 upstream.unavailable`, silent past `upstream_timeout_secs` is `504 upstream.timeout`, a
//! non-2xx answer is `502`; each admitted transfer still ends with one `failed` outcome record,
//! whose index the error carries.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use loopgate_tests::client::{Client, Http, Response};
use loopgate_tests::gateway::{ConfigToml, Gateway};
use loopgate_tests::upstream::{Answering, Silent, closed_port};

/// The transfer named in the error ("transfer <id> failed: ...") has a decision and a failed
/// outcome with `reason`, and the outcome is the error's `log_index`.
fn assert_failed_outcome(gw: &Gateway, r: &Response, reason: &str) {
    let error = r.json();
    let message = error["message"].as_str().unwrap();
    let id = message
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 32)
        .unwrap_or_else(|| panic!("no transfer id in {message:?}"));
    // The answer names it beside the log index, too.
    assert_eq!(error["transfer_id"], id, "{error}");
    let view = Client::tenant(gw, "sz-genomics").get_transfer(id).json();
    assert_eq!(view["status"], "failed", "{view:#}");
    let records = view["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{view:#}");
    assert_eq!(records[0]["record"]["decision"], "allow");
    assert_eq!(records[1]["record"]["outcome"], "failed");
    assert_eq!(records[1]["record"]["reason"], reason);
    assert_eq!(records[1]["log_index"], error["log_index"]);
}

#[test]
fn an_upstream_that_is_down_is_502_and_a_failed_outcome() {
    let closed = closed_port();
    let port = closed.port();
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| {
            c.upstream("hk-biolab", &format!("https://localhost:{port}/ingest"))
        })
        .start();
    for http in [Http::One, Http::Two] {
        let r = Client::tenant(&gw, "sz-genomics")
            .with_http(http)
            .post_transfer()
            .non_personal()
            .body("qc run 44")
            .send();
        r.assert_error(502, "upstream.unavailable", true);
        assert_failed_outcome(&gw, &r, "upstream.unavailable");
    }
}

#[test]
fn an_upstream_that_never_answers_is_504_after_the_timeout() {
    let silent = Silent::start();
    let url = format!("https://localhost:{}/ingest", silent.addr().port());
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| {
            c.upstream("hk-biolab", &url)
                .limit("upstream_timeout_secs", 1)
        })
        .start();
    let started = Instant::now();
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body("qc run 45")
        .send();
    let took = started.elapsed();
    r.assert_error(504, "upstream.timeout", true);
    assert!(silent.accepted() >= 1, "the gateway never connected");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "answered after {took:?}, not after the 1 s upstream timeout"
    );
    assert_failed_outcome(&gw, &r, "upstream.timeout");
}

#[test]
fn an_upstream_error_status_is_502_and_a_failed_outcome() {
    let upstream = Answering::start(503);
    let (url, ca) = (upstream.url(), upstream.ca_path());
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.upstream_with_ca("hk-biolab", &url, &ca))
        .start();
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body("qc run 46")
        .send();
    r.assert_error(502, "upstream.unavailable", true);
    assert_failed_outcome(&gw, &r, "upstream.unavailable");
    // It did get the (verified) body; it refused it.
    assert_eq!(upstream.bodies(), vec![bytes::Bytes::from("qc run 46")]);
}

#[test]
fn an_upstream_that_accepts_gets_the_body_and_the_receipt_names_its_status() {
    let upstream = Answering::start(202);
    let (url, ca) = (upstream.url(), upstream.ca_path());
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.upstream_with_ca("hk-biolab", &url, &ca))
        .start();
    let r = Client::tenant(&gw, "sz-genomics")
        .http2()
        .post_transfer()
        .non_personal()
        .body("qc run 47")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["upstream_status"], 202);
    assert_eq!(upstream.bodies(), vec![bytes::Bytes::from("qc run 47")]);
    loopgate_tests::receipt::assert_verifies(&r.json(), &gw.log_pub_path());
}
