//! Clients that hold the gateway's resources without finishing (SPEC.md section 8's limits):
//! a TLS handshake that never comes and a head sent one line at a time are cut off after
//! `limits.header_timeout_secs`; a client that never reads its answers blocks nobody else, and
//! its transfer still ends with its outcome. While each holds on, other clients are served.
//! (A body that stalls past `body_idle_timeout_secs` is `transfer_body.rs`'s
//! `a_stalled_body_times_out`: 408 `request.stalled`, a failed outcome, no complete body.)

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use loopgate_tests::client::{Client, NP_ITEM, runtime};
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The header timeout of this file's gateway, seconds.
const HEADER_TIMEOUT_SECS: i64 = 1;
/// Longest a held connection may survive before the test calls the timeout broken (a bound
/// for liveness, far above the timeout; not a timing assert).
const GIVE_UP: Duration = Duration::from_secs(20);

fn gw() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| {
        Gateway::dev()
            .config(|c: ConfigToml| c.limit("header_timeout_secs", HEADER_TIMEOUT_SECS))
            .start()
    })
}

fn sz() -> Client {
    Client::tenant(gw(), "sz-genomics")
}

/// A transfer by another client goes through.
fn others_are_served() {
    let r = sz().post_transfer().non_personal().body("meanwhile").send();
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn a_tls_handshake_that_never_comes_is_cut_off() {
    let addr = gw().api();
    let held = std::thread::spawn(move || {
        runtime().block_on(async {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let started = Instant::now();
            let mut buf = [0u8; 64];
            // Not a byte from us; the gateway must close (EOF or reset), not wait forever.
            let closed = tokio::time::timeout(GIVE_UP, tcp.read(&mut buf)).await;
            (closed.is_ok(), started.elapsed())
        })
    });
    others_are_served();
    let (closed, after) = held.join().unwrap();
    assert!(
        closed,
        "a silent connection was still open after {GIVE_UP:?}"
    );
    eprintln!("silent connection closed after {after:?}");
}

#[test]
fn a_head_sent_one_line_at_a_time_is_cut_off() {
    let client = sz();
    let port = gw().api().port();
    let held = std::thread::spawn(move || {
        runtime().block_on(async {
            let mut tls = client.connect().await.unwrap();
            let head = format!(
                "POST /v1/transfers HTTP/1.1\r\nHost: localhost:{port}\r\n\
                 Loop-Inventory-Item: {}\r\n",
                NP_ITEM.0
            );
            tls.write_all(head.as_bytes()).await.unwrap();
            tls.flush().await.unwrap();
            let started = Instant::now();
            let mut answer = Vec::new();
            // One more header line every 300 ms, never the blank line that ends the head.
            for i in 0.. {
                if started.elapsed() > GIVE_UP {
                    return (false, answer, started.elapsed());
                }
                let line = format!("X-Slow-{i}: {}\r\n", "s".repeat(8));
                if tls.write_all(line.as_bytes()).await.is_err() || tls.flush().await.is_err() {
                    break;
                }
                let mut buf = [0u8; 1024];
                match tokio::time::timeout(Duration::from_millis(300), tls.read(&mut buf)).await {
                    Err(_) => continue, // nothing yet
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                }
            }
            (true, answer, started.elapsed())
        })
    });
    others_are_served();
    let (closed, answer, after) = held.join().unwrap();
    assert!(closed, "a head trickled for {after:?} was never cut off");
    let answer = String::from_utf8_lossy(&answer);
    // hyper closes the connection, answering 408 when it can; never a transfer's answer.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    eprintln!("trickled head cut off after {after:?}: {answer:?}");
}

#[test]
fn a_client_that_never_reads_blocks_nobody_and_its_transfer_still_ends() {
    let client = sz();
    let port = gw().api().port();
    // A transfer whose view (records and receipt, a few KiB) the flood asks for.
    let viewed = sz().post_transfer().non_personal().body("viewed").send();
    assert_eq!(viewed.status, 201, "{}", viewed.text());
    let viewed = viewed.json()["transfer_id"].as_str().unwrap().to_owned();
    // First a transfer whose answer is never read, then thousands of pipelined GETs whose
    // answers (each a few KiB) fill both socket buffers: the connection's writer is stuck.
    let (stuck_tx, stuck_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let flood = std::thread::spawn(move || {
        let tls = runtime().block_on(async {
            let mut tls = client.connect().await.unwrap();
            let body = "never read";
            let transfer = format!(
                "POST /v1/transfers HTTP/1.1\r\nHost: localhost:{port}\r\n\
                 Loop-Inventory-Item: {}\r\nLoop-Recipient: hk-biolab\r\nLoop-Purpose: {}\r\n\
                 Idempotency-Key: never-read-1\r\nContent-Length: {}\r\n\r\n{body}",
                NP_ITEM.0,
                NP_ITEM.1,
                body.len()
            );
            tls.write_all(transfer.as_bytes()).await.unwrap();
            // Padded to 2 KiB, so that the requests alone outgrow every buffer on the way.
            let get = format!(
                "GET /v1/transfers/{viewed} HTTP/1.1\r\nHost: localhost:{port}\r\nX-Pad: {}\r\n\r\n",
                "p".repeat(2048)
            );
            let mut sent = 0usize;
            // Writes stop completing once the gateway stops reading (its answers are stuck).
            for _ in 0..20_000 {
                match tokio::time::timeout(Duration::from_secs(2), tls.write_all(get.as_bytes()))
                    .await
                {
                    Ok(Ok(())) => sent += 1,
                    _ => break,
                }
            }
            stuck_tx.send(sent).unwrap();
            tls
        });
        // Hold the connection, unread, until the test is done with the others.
        let _ = done_rx.recv();
        drop(tls);
    });
    let sent = stuck_rx.recv_timeout(GIVE_UP * 3).unwrap();
    assert!(
        sent < 20_000,
        "the connection never stalled: the test proves nothing"
    );
    eprintln!("pipelined {sent} requests before the connection stalled");
    for _ in 0..3 {
        others_are_served();
    }
    // The transfer whose answer was never read ended, and its result is kept: a retry with the
    // same key (on another connection) gets it.
    let retried = eventually(GIVE_UP, || {
        let r = sz()
            .post_transfer()
            .non_personal()
            .idempotency_key("never-read-1")
            .body("never read")
            .send();
        (r.status != 409).then_some(r)
    })
    .expect("the unread transfer ended");
    assert_eq!(retried.status, 201, "{}", retried.text());
    let id = retried.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw().received_body(&id).unwrap(), b"never read");
    done_tx.send(()).unwrap();
    flood.join().unwrap();
    assert_eq!(gw().ops_get("/healthz").0, 200);
}
