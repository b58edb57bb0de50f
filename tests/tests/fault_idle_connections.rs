//! Ten thousand idle connections (opt-in: `LOOPGATE_HEAVY=1`): TCP connections that never start
//! TLS, plus a hundred that finished the handshake and sit idle on HTTP/1.1 keep-alive. While
//! the test holds them all open the gateway still serves a transfer, and its ops listener
//! answers (the gateway itself keeps only `[limits] max_handshakes` of the pending handshakes:
//! each new connection closes the oldest).
//!
//! The test process and the gateway each need a file descriptor per connection: the test raises
//! its own `RLIMIT_NOFILE` soft limit to the hard limit with `prlimit` before it starts the
//! gateway (which inherits it), and skips with a note when the hard limit is too low.

#![allow(clippy::unwrap_used)]

use std::net::TcpStream;
use std::process::Command;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};

const IDLE: usize = 10_000;
const IDLE_TLS: usize = 100;

/// `(soft, hard)` `RLIMIT_NOFILE` of this process.
fn nofile() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn ten_thousand_idle_connections_do_not_stop_a_transfer() {
    if std::env::var_os("LOOPGATE_HEAVY").is_none() {
        eprintln!("skipped: set LOOPGATE_HEAVY=1 to hold {IDLE} idle connections");
        return;
    }
    let needed = (IDLE + IDLE_TLS + 1000) as u64;
    let (soft, hard) = nofile();
    if soft < needed {
        assert!(
            hard >= needed,
            "RLIMIT_NOFILE hard limit {hard} is below the {needed} this test needs; raise it (ulimit -Hn)"
        );
        let raised = Command::new("prlimit")
            .args(["--pid", &std::process::id().to_string()])
            .arg(format!("--nofile={hard}:{hard}"))
            .status()
            .unwrap();
        assert!(raised.success(), "prlimit could not raise RLIMIT_NOFILE");
    }
    // Idle connections must outlive the test's setup: long handshake and idle timeouts, and
    // room for the hundred TLS connections of one tenant.
    let gw = Gateway::dev()
        .config(|c: ConfigToml| {
            c.limit("handshake_timeout_secs", 300)
                .limit("idle_timeout_secs", 300)
                .limit("max_connections_per_principal", 200)
        })
        .start();
    let mut idle: Vec<TcpStream> = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let tcp = TcpStream::connect(gw.api())
            .unwrap_or_else(|e| panic!("idle connection {i} of {IDLE}: {e}"));
        idle.push(tcp);
    }
    let sz = Client::tenant(&gw, "sz-genomics");
    let kept: Vec<_> = (0..IDLE_TLS).map(|_| sz.open()).collect();

    let r = sz
        .post_transfer()
        .non_personal()
        .body("while ten thousand wait")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw.received_body(&id).unwrap(), b"while ten thousand wait");
    assert_eq!(gw.ops_get("/healthz").0, 200);
    assert_eq!(gw.ops_get("/readyz").0, 200);
    // The connections that finished TLS are still usable.
    let mut first = kept.into_iter().next().unwrap();
    let again = first.try_request(
        sz.builder(http::Method::GET, &format!("/v1/transfers/{id}"))
            .body(loopgate_tests::client::TestBody::empty())
            .unwrap(),
    );
    assert_eq!(again.map(|r| r.status), Ok(200));
    drop(idle);
}
