//! `[server] worker_threads`: the runtime serving connections has that many workers (0 or
//! absent: one per CPU), as the `loopgate ready` line reports, and a transfer goes through with
//! one worker.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};

/// The `workers` field of the gateway's `loopgate ready` line.
fn workers(gw: &Gateway) -> usize {
    let stderr = gw.stderr_once(|s| s.contains("loopgate ready"));
    let line = stderr
        .lines()
        .find(|l| l.contains("loopgate ready"))
        .unwrap_or_else(|| panic!("no ready line: {stderr}"));
    let value = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("workers="))
        .unwrap_or_else(|| panic!("no workers field: {line}"));
    value.parse().unwrap()
}

#[test]
fn the_runtime_has_the_configured_number_of_workers() {
    for n in [1, 3] {
        let gw = Gateway::dev()
            .config(move |c: ConfigToml| c.set("server", "worker_threads", n))
            .start();
        assert_eq!(workers(&gw), n as usize);
        let r = Client::tenant(&gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .body("one worker or three")
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

#[test]
fn by_default_the_runtime_has_a_worker_per_cpu() {
    let gw = Gateway::dev().start();
    assert_eq!(workers(&gw), loopgate::config::default_worker_threads());
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.set("server", "worker_threads", 0))
        .start();
    assert_eq!(workers(&gw), loopgate::config::default_worker_threads());
}
