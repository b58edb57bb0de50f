//! HTTP/2 export streams that a regulator stalls (review of issue 20, findings 1 and 9). The
//! client opens each stream's window once (HTTP/2's default 65,535 bytes), takes the first
//! chunk into it and then reads nothing more, like a raw HTTP/2 client that never sends
//! WINDOW_UPDATE. Before, each such stream kept its segment file open between chunks: 4
//! connections of 100 streams held 402 descriptors, and under `prlimit --nofile=512` one
//! regulator certificate filled the table (EMFILE for accept, a certified transfer, /readyz).
//! Now no file is held between chunks. And a connection that is closing (here: its certificate
//! revoked by a reload) with such a stream in flight is dropped after `lingering_time_secs`
//! instead of staying open for as long as the client stalls. Exports being sent are capped
//! (`max_exports`, `max_exports_per_principal`): one more is a 429 `quota.exceeded`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use loopgate_tests::client::{Client, Http, TestBody, runtime};
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};

/// HTTP/2 connections, and export streams on each (at the default `max_concurrent_streams`).
const CONNECTIONS: usize = 2;
const STREAMS: usize = 100;

/// Enough records that an export is many 64 KiB chunks (each denial is one record).
fn fill_log(gw: &Gateway) {
    let sz = Client::tenant(gw, "sz-genomics");
    sz.post_denials(300);
    let whole = Client::regulator(gw, "pcpd").get("/v1/audit/export");
    assert_eq!(whole.status, 200);
    assert!(
        whole.body.len() > 256 * 1024,
        "export of {} bytes",
        whole.body.len()
    );
}

/// What keeps stalled exports open: the responses (unread), the request sender and the
/// connection's task.
type Stalled = (
    Vec<http::Response<hyper::body::Incoming>>,
    hyper::client::conn::http2::SendRequest<TestBody>,
    tokio::task::JoinHandle<hyper::Result<()>>,
);

/// Opens `streams` exports on one HTTP/2 connection of `client`, each with the default stream
/// window and never read.
async fn stalled_exports(client: &Client, port: u16, streams: usize) -> Stalled {
    let tls = client.connect().await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        // HTTP/2's default stream window (hyper's client would offer 2 MiB, enough for the
        // whole export); the connection's window is no limit.
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(64 << 20)
        .handshake::<_, TestBody>(TokioIo::new(tls))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut responses = Vec::new();
    for _ in 0..streams {
        let mut sender = sender.clone();
        let request = http::Request::get(format!("https://localhost:{port}/v1/audit/export"))
            .body(TestBody::empty())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
            .await
            .expect("the export's head in time")
            .unwrap();
        assert_eq!(response.status(), 200);
        responses.push(response);
    }
    (responses, sender, connection)
}

#[test]
fn stalled_http2_exports_hold_no_segment_file_between_chunks() {
    // Room for them all (the caps on exports are tested below).
    let gw = Gateway::dev()
        .config(|c| {
            c.limit("max_exports", 1000)
                .limit("max_exports_per_principal", 1000)
        })
        .start();
    fill_log(&gw);
    let before = gw.descriptors();
    let regulator = Client::regulator(&gw, "pcpd").with_http(Http::Two);
    let held = runtime().block_on(async {
        let mut held = Vec::new();
        for _ in 0..CONNECTIONS {
            held.push(stalled_exports(&regulator, gw.api().port(), STREAMS).await);
        }
        held
    });
    // Every stream has had its first chunk produced (it fills the window) and waits: give the
    // gateway time to read ahead, were it to.
    std::thread::sleep(Duration::from_secs(2));
    let during = gw.descriptors();
    eprintln!("{CONNECTIONS} x {STREAMS} stalled HTTP/2 exports: descriptors {before} -> {during}");
    // The connections' own sockets, and a little slack for the runtime; not one per stream.
    assert!(
        during <= before + CONNECTIONS + 16,
        "stalled exports held descriptors: {before} before, {during} during"
    );
    // The gateway still serves others meanwhile.
    let r = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200);
    drop(held);
}

#[test]
fn a_revoked_connection_with_a_stalled_export_is_dropped_after_the_lingering_time() {
    let gw = Gateway::dev()
        .config(|c| c.limit("lingering_time_secs", 2))
        .start();
    fill_log(&gw);
    let ca = gw.dev_ca();
    let now = loopgate::Clock::system().now();
    let issued = ca
        .issue_client("spiffe://loopgate.dev/regulator/pcpd", now)
        .unwrap();
    let revoked = Client::with_cert(&gw, &issued.cert_pem, &issued.key_pem).with_http(Http::Two);
    let rt = runtime();
    let stalled = rt.block_on(stalled_exports(&revoked, gw.api().port(), 1));
    let api_open = |gw: &Gateway| {
        gw.metrics()
            .value("loopgate_connections_open", &[("listener", "api")])
    };
    assert_eq!(api_open(&gw), 1.0);

    let crl = ca.revocation_list(&[&issued.serial], 1, now).unwrap();
    std::fs::write(gw.pki("crl.pem"), crl).unwrap();
    gw.edit_config(|c: ConfigToml| {
        c.set(
            "tls",
            "crls",
            toml::Value::Array(vec![toml::Value::from("pki/crl.pem")]),
        )
    });
    assert!(gw.reload(), "{}", gw.stderr());

    // The stream stays stalled (its response and the client connection are held, the body
    // unread); the gateway drops the connection anyway.
    let closed = eventually(Duration::from_secs(60), || {
        (api_open(&gw) == 0.0).then_some(())
    });
    assert!(
        closed.is_some(),
        "the revoked connection stayed open with its stalled stream"
    );
    drop(stalled);
    assert_eq!(
        gw.metrics()
            .value("loopgate_connections_revoked_total", &[]),
        1.0
    );
}

#[test]
fn exports_over_the_principals_cap_are_refused_until_one_ends() {
    let gw = Gateway::dev()
        .config(|c| c.limit("max_exports_per_principal", 2))
        .start();
    fill_log(&gw);
    let regulator = Client::regulator(&gw, "pcpd").with_http(Http::Two);
    let rt = runtime();
    let stalled = rt.block_on(stalled_exports(&regulator, gw.api().port(), 2));
    let r = regulator.get("/v1/audit/export");
    r.assert_error(429, "quota.exceeded", false);
    assert!(
        r.text().contains("max_exports_per_principal"),
        "{}",
        r.text()
    );
    // Other routes are not affected.
    assert_eq!(regulator.get("/v1/audit/checkpoint").status, 200);
    // Closing the stalled connection gives the slots back.
    drop(stalled);
    let whole = eventually(Duration::from_secs(30), || {
        let r = regulator.get("/v1/audit/export");
        (r.status == 200).then_some(r)
    });
    assert!(whole.is_some(), "the slots never came back");
}

#[test]
fn stalled_exports_under_a_low_descriptor_limit_leave_room_for_transfers_and_readyz() {
    // The reviewer's case: a gateway with 512 descriptors and a regulator that opens hundreds
    // of export streams and stalls them. The export caps are raised out of the way: the
    // descriptors themselves must not run out.
    let gw = Gateway::dev()
        .descriptor_limit(512)
        .config(|c| {
            c.limit("max_exports", 1000)
                .limit("max_exports_per_principal", 1000)
        })
        .start();
    fill_log(&gw);
    let regulator = Client::regulator(&gw, "pcpd").with_http(Http::Two);
    let held = runtime().block_on(async {
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(stalled_exports(&regulator, gw.api().port(), STREAMS).await);
        }
        held
    });
    std::thread::sleep(Duration::from_secs(2));
    let during = gw.descriptors();
    assert!(
        during < 256,
        "{during} descriptors with 600 stalled exports"
    );
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = sz
        .post_transfer()
        .non_personal()
        .body("during the stalled exports")
        .try_send()
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(gw.ops_get("/readyz").0, 200, "{}", gw.stderr());
    let stderr = gw.stderr();
    assert!(!stderr.contains("cannot be read"), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    drop(held);
}

#[test]
fn the_api_listener_announces_its_http2_stream_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::dev()
        .config(|c| c.limit("max_concurrent_streams", 7))
        .start();
    let regulator = Client::regulator(&gw, "pcpd").with_http(Http::Two);
    let settings = runtime().block_on(async {
        let mut tls = regulator.connect().await.unwrap();
        // The client preface and an empty SETTINGS frame.
        let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        tls.write_all(&preface).await.unwrap();
        // The server's first frame is its SETTINGS.
        let mut head = [0_u8; 9];
        tokio::time::timeout(Duration::from_secs(20), tls.read_exact(&mut head))
            .await
            .expect("the server's SETTINGS in time")
            .unwrap();
        assert_eq!(head[3], 4, "a SETTINGS frame");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0_u8; len];
        tls.read_exact(&mut payload).await.unwrap();
        payload
            .chunks_exact(6)
            .map(|s| {
                (
                    u16::from_be_bytes([s[0], s[1]]),
                    u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
                )
            })
            .collect::<Vec<_>>()
    });
    // SETTINGS_MAX_CONCURRENT_STREAMS is 0x3.
    assert!(settings.contains(&(3, 7)), "{settings:?}");
}
