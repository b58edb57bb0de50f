//! A flood of plain TCP connections that never speak TLS, against a gateway with 512 file
//! descriptors (issue 20, security probe items 1 and 2). Before, the flood filled the
//! descriptor table: sled failed with EMFILE (read as a full disk), transfers were logged as
//! `failed upstream.unavailable`, the accept loop spun writing a line per turn, and the stop hung.
//! Now connections are capped below the descriptor limit and pending handshakes give way to new
//! ones: certified clients keep completing transfers during the flood, the gateway writes a
//! bounded number of lines, nothing is blamed on an upstream, and SIGTERM still exits 0.

#![allow(clippy::unwrap_used)]

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loopgate_tests::client::{Client, Http};
use loopgate_tests::gateway::Gateway;

const NOFILE: u64 = 512;
/// Connections the flood holds open at once, well above the gateway's descriptor limit.
const HELD: usize = 1500;

#[test]
fn a_plain_tcp_flood_under_a_low_descriptor_limit_locks_out_no_certified_client() {
    let gw = Gateway::dev().descriptor_limit(NOFILE).start();
    let stderr_before = gw.stderr().lines().count();

    let flooding = Arc::new(AtomicBool::new(true));
    let opened = Arc::new(AtomicUsize::new(0));
    let api = gw.api();
    let flood = {
        let flooding = flooding.clone();
        let opened = opened.clone();
        std::thread::spawn(move || {
            // The newest HELD connections stay open (never a byte of TLS); older ones are
            // dropped as new ones come, so the flood goes on for as long as the test runs.
            let mut held = std::collections::VecDeque::with_capacity(HELD);
            while flooding.load(Ordering::Relaxed) {
                if let Ok(tcp) = TcpStream::connect_timeout(&api, Duration::from_secs(1)) {
                    if held.len() == HELD {
                        held.pop_front();
                    }
                    held.push_back(tcp);
                    opened.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // The flood is well past the descriptor limit before the transfers start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while opened.load(Ordering::Relaxed) < HELD && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(opened.load(Ordering::Relaxed) > NOFILE as usize);

    // Certified clients, each on a new connection, while the flood goes on. A handshake that
    // a burst of newer connections evicts is retried, as any client retries a reset.
    let started = Instant::now();
    let mut completed = 0;
    let mut retries = 0;
    for i in 0..20 {
        let http = if i % 2 == 0 { Http::One } else { Http::Two };
        let sz = Client::tenant(&gw, "sz-genomics").with_http(http);
        let body = format!("during the flood {i}");
        for _attempt in 0..5 {
            match sz
                .post_transfer()
                .non_personal()
                .body(body.clone())
                .try_send()
            {
                Ok(r) => {
                    assert_eq!(r.status, 201, "{}", r.text());
                    completed += 1;
                    break;
                }
                Err(_) => retries += 1,
            }
        }
    }
    eprintln!(
        "20 transfers in {:?} with {retries} retries during a flood of {} connections",
        started.elapsed(),
        opened.load(Ordering::Relaxed)
    );
    assert_eq!(
        completed, 20,
        "transfers lost to the flood ({retries} retries)"
    );
    assert!(retries <= 10, "{retries} retries for 20 transfers");
    assert_eq!(gw.ops_get("/readyz").0, 200, "{}", gw.stderr());
    let metrics = gw.metrics();
    assert!(
        metrics.value(
            "loopgate_connections_refused_total",
            &[("reason", "handshake_evicted")]
        ) > 0.0,
        "the flood never filled the handshake pool"
    );
    flooding.store(false, Ordering::Relaxed);
    flood.join().unwrap();
    let flooded = opened.load(Ordering::Relaxed);
    assert!(flooded > HELD, "{flooded}");

    // A bounded number of lines over the whole flood (no line per connection, no spin).
    let stderr = gw.stderr();
    let lines = stderr.lines().count() - stderr_before;
    assert!(lines < 200, "{lines} lines over the flood:\n{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");

    let folder = gw.stop();
    let records = folder.records();
    for record in &records {
        let text = record.to_string();
        assert!(
            !text.contains("upstream.unavailable") && !text.contains("gateway.unavailable"),
            "a transfer failed during the flood: {text}"
        );
    }
}
