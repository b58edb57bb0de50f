//! Transfers are timed by progress, not by a total (issue 20's probe item 7): a slow upload
//! that keeps coming runs past `upstream_timeout_secs` and completes; a sender that stops
//! sending gets `408 request.stalled` after `body_idle_timeout_secs` (even when that is longer
//! than the upstream's timeout) with a `failed` outcome naming it; an upstream that stops taking
//! the body gets `504 upstream.timeout`.
//!
//! Regression: a 600 KB/s upload was cut at the fixed 60 s total and logged as
//! `upstream.timeout`, blaming the recipient for a slow sender.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use loopgate_tests::client::{Client, Http};
use loopgate_tests::gateway::{ConfigToml, Gateway};
use loopgate_tests::upstream::Stalling;
use serde_json::Value;

/// The upstream's timeout in this file's gateways, seconds.
const UPSTREAM_TIMEOUT_SECS: i64 = 2;
/// The sender's idle timeout, seconds: longer than the upstream's on purpose.
const BODY_IDLE_SECS: i64 = 4;

fn limits(c: ConfigToml) -> ConfigToml {
    c.limit("upstream_timeout_secs", UPSTREAM_TIMEOUT_SECS)
        .limit("body_idle_timeout_secs", BODY_IDLE_SECS)
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

/// The transfer of `error` failed with `reason` in its outcome record.
fn assert_failed_with(gw: &Gateway, error: &Value, reason: &str) {
    let id = failed_transfer_id(error);
    let view = Client::tenant(gw, "sz-genomics").get_transfer(&id).json();
    assert_eq!(view["status"], "failed", "{view:#}");
    let outcome = &view["records"][1]["record"];
    assert_eq!(outcome["kind"], "outcome", "{view:#}");
    assert_eq!(outcome["outcome"], "failed", "{view:#}");
    assert_eq!(outcome["reason"], reason, "{view:#}");
}

#[test]
fn a_slow_upload_that_keeps_coming_outlasts_the_upstream_timeout() {
    let gw = Gateway::dev().config(limits).start();
    // About 600 KB/s for about 6 s: three times the upstream's timeout.
    let chunks: Vec<Vec<u8>> = (0..60u8).map(|i| vec![i; 60_000]).collect();
    for http in [Http::One, Http::Two] {
        let started = Instant::now();
        let r = Client::tenant(&gw, "sz-genomics")
            .with_http(http)
            .post_transfer()
            .non_personal()
            .slow(chunks.clone(), Duration::from_millis(100))
            .send();
        let took = started.elapsed();
        assert_eq!(r.status, 201, "{http:?} after {took:?}: {}", r.text());
        assert!(took > Duration::from_secs(UPSTREAM_TIMEOUT_SECS as u64 * 2));
        let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
        let received = gw
            .received_body(&id)
            .expect("the demo upstream has the body");
        assert_eq!(received, chunks.concat(), "{http:?}");
    }
}

#[test]
fn a_sender_that_stalls_is_request_stalled_not_upstream_timeout() {
    let gw = Gateway::dev().config(limits).start();
    for http in [Http::One, Http::Two] {
        let client = Client::tenant(&gw, "sz-genomics").with_http(http);
        let (call, gate) = client
            .post_transfer()
            .non_personal()
            .held(vec![7u8; 50_000], vec![8u8; 50_000]);
        let r = call.try_send().unwrap_or_else(|e| panic!("no answer: {e}"));
        drop(gate);
        r.assert_error(408, "request.stalled", true);
        assert_failed_with(&gw, &r.json(), "request.stalled");
    }
}

#[test]
fn an_upstream_that_stops_taking_the_body_is_upstream_timeout() {
    let upstream = Stalling::start(64 * 1024);
    let (url, ca) = (upstream.url(), upstream.ca_path());
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| limits(c).upstream_with_ca("hk-biolab", &url, &ca))
        .start();
    // Far more than the socket buffers between the gateway and the upstream hold.
    let body = vec![9u8; 64 * 1024 * 1024];
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(body)
        .try_send()
        .unwrap_or_else(|e| panic!("no answer: {e}"));
    r.assert_error(504, "upstream.timeout", true);
    assert_failed_with(&gw, &r.json(), "upstream.timeout");
    assert!(upstream.stalled() >= 1);
}
