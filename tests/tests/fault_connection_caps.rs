//! Connections the gateway does not keep (issue 20, security probe item 3): an idle HTTP/2 or
//! HTTP/1.1 connection is closed after `[limits] idle_timeout_secs`; a principal over
//! `max_connections_per_principal` gets `429 quota.exceeded` and its connection is closed; a
//! certificate that names no valid identity gets its `401 auth.bad_identity` and its connection
//! is closed; the ops listener closes a connection that sends nothing.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use loopgate_tests::client::{Client, Connection, Http};
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};

const IDLE_SECS: i64 = 2;

fn now() -> time::OffsetDateTime {
    loopgate::Clock::system().now()
}

fn transfer(client: &Client, body: &str) -> http::Request<loopgate_tests::client::TestBody> {
    client
        .post_transfer()
        .non_personal()
        .body(body.to_owned())
        .build()
}

/// Sends a transfer on `open` and returns its status, or why there was none.
fn send(open: &mut Connection, client: &Client, body: &str) -> Result<u16, String> {
    open.try_request(transfer(client, body)).map(|r| r.status)
}

/// A connection answered with a refusal of its own ends within a few seconds: every request
/// sent on it meanwhile is refused again (never served), then the connection is gone.
fn closes(open: &mut Connection, client: &Client, http: Http) {
    let closed = eventually(Duration::from_secs(5), || {
        match send(open, client, "again") {
            Err(_) => Some(()),
            Ok(401 | 429) => None,
            Ok(status) => panic!("{http:?}: a refused connection served a request: {status}"),
        }
    });
    assert!(
        closed.is_some(),
        "{http:?}: a refused connection was kept open"
    );
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout_over_both_protocols() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("idle_timeout_secs", IDLE_SECS))
        .start();
    for http in [Http::One, Http::Two] {
        let sz = Client::tenant(&gw, "sz-genomics").with_http(http);
        let mut open = sz.open();
        assert_eq!(send(&mut open, &sz, "first"), Ok(201), "{http:?}");
        // Half the idle timeout later it is still open: a request restarts the clock.
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(send(&mut open, &sz, "second"), Ok(201), "{http:?}");
        // Past it, the gateway has closed it (HTTP/2: GOAWAY).
        std::thread::sleep(Duration::from_millis(3500));
        let late = send(&mut open, &sz, "too late");
        assert!(
            late.is_err(),
            "{http:?}: an idle connection was kept: {late:?}"
        );
    }
    assert_eq!(
        gw.metrics()
            .value("loopgate_connections_open", &[("listener", "api")]),
        0.0
    );
}

#[test]
fn a_principal_over_its_connection_cap_gets_429_and_is_closed() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("max_connections_per_principal", 2))
        .start();
    for http in [Http::One, Http::Two] {
        let sz = Client::tenant(&gw, "sz-genomics").with_http(http);
        let mut first = sz.open();
        let mut second = sz.open();
        assert_eq!(send(&mut first, &sz, "one"), Ok(201));
        assert_eq!(send(&mut second, &sz, "two"), Ok(201));
        let mut third = sz.open();
        let refused = third.try_request(transfer(&sz, "three")).unwrap();
        refused.assert_error(429, "quota.exceeded", false);
        assert!(
            refused.text().contains("max_connections_per_principal"),
            "{}",
            refused.text()
        );
        // Answered, then closed. (An HTTP/2 request that crosses the GOAWAY in flight is refused
        // again; the connection still ends.)
        closes(&mut third, &sz, http);
        assert!(gw.received_containing(b"three").is_empty());
        // Another principal is not affected; a closed connection gives its slot back.
        let hk = Client::tenant(&gw, "hk-biolab").with_http(http);
        let mut other = hk.open();
        assert_eq!(
            other
                .try_request(
                    hk.builder(http::Method::GET, "/v1/transfers/0")
                        .body(loopgate_tests::client::TestBody::empty())
                        .unwrap()
                )
                .map(|r| r.status),
            Ok(404)
        );
        drop(first);
        let mut fourth = eventually(Duration::from_secs(5), || {
            let mut open = sz.open();
            (send(&mut open, &sz, "four") == Ok(201)).then_some(open)
        })
        .expect("a slot came back when a connection closed");
        assert_eq!(send(&mut fourth, &sz, "four again"), Ok(201));
        drop((second, fourth, other));
        // Every slot is back before the next protocol's round.
        eventually(Duration::from_secs(5), || {
            let open = gw
                .metrics()
                .value("loopgate_connections_open", &[("listener", "api")]);
            (open == 0.0).then_some(())
        })
        .expect("the connections closed");
    }
    let refused = gw.metrics().value(
        "loopgate_connections_refused_total",
        &[("reason", "per_principal")],
    );
    assert_eq!(refused, 2.0);
}

#[test]
fn a_certificate_without_a_valid_identity_gets_its_401_and_is_closed() {
    let gw = Gateway::dev().start();
    let issued = gw
        .dev_ca()
        .issue_client_with_uris("odd", &["spiffe://evil.example/tenant/sz-genomics"], now())
        .unwrap();
    for http in [Http::One, Http::Two] {
        let client = Client::with_cert(&gw, &issued.cert_pem, &issued.key_pem).with_http(http);
        let mut open = client.open();
        let refused = open.try_request(transfer(&client, "bad identity")).unwrap();
        refused.assert_error(401, "auth.bad_identity", false);
        closes(&mut open, &client, http);
    }
    assert_eq!(
        gw.metrics().value(
            "loopgate_connections_refused_total",
            &[("reason", "bad_identity")]
        ),
        2.0
    );
}

/// Reads from `tcp` until the peer closes it (true) or `within` passes (false).
fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn the_ops_listener_closes_idle_connections_and_caps_how_many_it_serves() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.limit("idle_timeout_secs", IDLE_SECS))
        .start();
    // Sends nothing: closed after the idle timeout (not the 10 s header timeout).
    let started = Instant::now();
    let mut silent = TcpStream::connect(gw.ops()).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(8)));
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // Kept alive after an answer, then idle: closed too.
    let mut kept = TcpStream::connect(gw.ops()).unwrap();
    std::io::Write::write_all(&mut kept, b"GET /healthz HTTP/1.1\r\nHost: ops\r\n\r\n").unwrap();
    assert!(closed_within(&mut kept, Duration::from_secs(8)));

    // At most 16 at once: the 17th is closed at once, and /metrics answers again once they go.
    let held: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(gw.ops()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut over = TcpStream::connect(gw.ops()).unwrap();
    assert!(closed_within(&mut over, Duration::from_secs(1)));
    drop(held);
    let refused = eventually(Duration::from_secs(5), || {
        let mut tcp = TcpStream::connect(gw.ops()).ok()?;
        std::io::Write::write_all(
            &mut tcp,
            b"GET /metrics HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n\r\n",
        )
        .ok()?;
        let mut text = String::new();
        tcp.read_to_string(&mut text).ok()?;
        text.starts_with("HTTP/1.1 200").then_some(text)
    })
    .expect("/metrics answers once the held connections are gone");
    let body = refused.split_once("\r\n\r\n").unwrap().1;
    let metrics = loopgate_tests::metrics::Exposition::parse(body).unwrap();
    // The 17th, and any retry above that came while the 16 were still being closed.
    let ops_limit = metrics.value(
        "loopgate_connections_refused_total",
        &[("reason", "ops_limit")],
    );
    assert!(ops_limit >= 1.0, "{body}");
}

#[test]
fn an_http2_peer_that_stops_answering_pings_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // The idle timeout is far away: only the keep-alive PING can close it.
    let gw = Gateway::dev()
        .config(|c: ConfigToml| {
            c.limit("keepalive_interval_secs", 1)
                .limit("idle_timeout_secs", 300)
        })
        .start();
    let client = Client::tenant(&gw, "sz-genomics").http2();
    let closed = loopgate_tests::client::runtime().block_on(async {
        let mut tls = client.connect().await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        // The connection preface and an empty SETTINGS frame, then silence: nothing the
        // gateway sends is read, so no PING is ever acknowledged.
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        tls.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
        tls.flush().await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut out = Vec::new();
        // Everything it sent, then the end (with or without close_notify): closed.
        tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out))
            .await
            .is_ok()
    });
    assert!(closed, "a peer that never acknowledged a PING was kept");
}
