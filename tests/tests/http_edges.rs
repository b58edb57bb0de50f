//! HTTP edge cases an outside probe found (issue 20, item 10): HEAD sends no content over
//! HTTP/2 or HTTP/1.1 (and answers what GET would, headers only); `records` with `from` after
//! `to` is a 400 like `export`; HTTP/2 exports whose client never opens its window hold no
//! thread and no memory, and leave nothing behind once their connections close.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use http::Method;
use hyper_util::rt::{TokioExecutor, TokioIo};
use loopgate_tests::client::{Client, Http, TestBody, runtime};
use loopgate_tests::gateway::{Gateway, eventually};

#[test]
fn head_answers_like_get_without_content() {
    let gw = Gateway::dev().start();
    for http in [Http::One, Http::Two] {
        let regulator = Client::regulator(&gw, "pcpd").with_http(http);
        let get = regulator.get("/v1/audit/checkpoint");
        assert_eq!(get.status, 200);
        let head = regulator.request(
            regulator
                .builder(Method::HEAD, "/v1/audit/checkpoint")
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(head.status, 200, "{http:?}");
        assert!(
            head.body.is_empty(),
            "{http:?}: HEAD sent {:?}",
            head.text()
        );
        assert_eq!(
            head.headers.get("content-length").unwrap(),
            &get.body.len().to_string(),
            "{http:?}"
        );
        // A refusal to HEAD has no content either.
        let refused = Client::tenant(&gw, "sz-genomics").with_http(http);
        let head = refused.request(
            refused
                .builder(Method::HEAD, "/v1/audit/checkpoint")
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(head.status, 403, "{http:?}");
        assert!(
            head.body.is_empty(),
            "{http:?}: HEAD sent {:?}",
            head.text()
        );
    }
    // Debian's curl over HTTP/2, as the probe ran it.
    let pki = |f: &str| gw.pki(f).display().to_string();
    if let Ok(out) = Command::new("curl")
        .args(["-sS", "--http2", "-I", "--max-time", "20"])
        .args(["--cacert", &pki("ca.pem")])
        .args(["--cert", &pki("regulator-pcpd.pem")])
        .args(["--key", &pki("regulator-pcpd.key")])
        .arg(format!(
            "https://localhost:{}/v1/audit/checkpoint",
            gw.api().port()
        ))
        .output()
    {
        let head = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{head}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(head.starts_with("HTTP/2 200"), "{head}");
    }
}

#[test]
fn records_with_from_after_to_is_a_malformed_query() {
    let gw = Gateway::dev().start();
    let regulator = Client::regulator(&gw, "pcpd");
    let query = "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z";
    for endpoint in ["records", "export"] {
        let r = regulator.get(&format!("/v1/audit/{endpoint}?{query}"));
        r.assert_error(400, "request.malformed_query", false);
    }
    let r = regulator.get("/v1/audit/records?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Exports on HTTP/2 streams whose window the client never opens.
const STALLED_EXPORTS: usize = 200;

#[test]
fn zero_window_http2_exports_hold_no_thread_and_leave_nothing_behind() {
    // Room for them all: the export caps are tested in fault_export_streams.rs.
    let gw = Gateway::dev()
        .config(|c| {
            c.limit("max_exports", 1000)
                .limit("max_exports_per_principal", 1000)
        })
        .start();
    // Enough records that one export is many chunks (each denial is one record).
    let sz = Client::tenant(&gw, "sz-genomics");
    sz.post_denials(400);
    let whole = Client::regulator(&gw, "pcpd").get("/v1/audit/export");
    assert_eq!(whole.status, 200);
    assert!(
        whole.body.len() > 512 * 1024,
        "export of {} bytes",
        whole.body.len()
    );

    let before = (gw.threads(), gw.rss_kib());
    let regulator = Client::regulator(&gw, "pcpd").with_http(Http::Two);
    let port = gw.api().port();
    let (responses, connections) = runtime().block_on(async {
        let (mut responses, mut connections) = (Vec::new(), Vec::new());
        for _ in 0..STALLED_EXPORTS / 50 {
            let tls = regulator.connect().await.unwrap();
            let (sender, connection) =
                hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    .initial_stream_window_size(0)
                    .handshake::<_, TestBody>(TokioIo::new(tls))
                    .await
                    .unwrap();
            connections.push(tokio::spawn(connection));
            for _ in 0..50 {
                let mut sender = sender.clone();
                let request =
                    http::Request::get(format!("https://localhost:{port}/v1/audit/export"))
                        .body(TestBody::empty())
                        .unwrap();
                let response =
                    tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
                        .await
                        .expect("the export's head in time")
                        .unwrap();
                assert_eq!(response.status(), 200);
                responses.push(response);
            }
        }
        (responses, connections)
    });
    // Give any producer time to run ahead.
    std::thread::sleep(Duration::from_secs(2));
    let during = (gw.threads(), gw.rss_kib());
    drop(responses);
    for connection in connections {
        connection.abort();
    }
    let after = eventually(Duration::from_secs(30), || {
        let now = (gw.threads(), gw.rss_kib());
        (now.0 <= before.0 + 8).then_some(now)
    });
    eprintln!(
        "{STALLED_EXPORTS} zero-window HTTP/2 exports: threads {} -> {} -> {:?}, RSS KiB {} -> {} -> {:?}",
        before.0,
        during.0,
        after.map(|a| a.0),
        before.1,
        during.1,
        after.map(|a| a.1)
    );
    assert!(
        during.0 < before.0 + 32,
        "stalled exports held threads: {} before, {} during",
        before.0,
        during.0
    );
    assert!(
        after.is_some(),
        "threads stayed after the connections closed"
    );
}
