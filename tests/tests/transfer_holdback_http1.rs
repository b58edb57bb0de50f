//! Hold-back against an HTTP/1.1 upstream (DESIGN.md invariant 6): a body that does not match
//! what was declared never reaches the upstream complete. With `Content-Length` framing,
//! releasing the held-back last bytes is exactly what would complete the upstream's body, so
//! these are the cases where a broken hold-back shows: a wrong `Content-Digest`, a body cut
//! short by its sender, and (chunked) a body over the item's limit. Each request reaches the
//! upstream (its head, then all but the last bytes) and none completes there. The demo upstream
//! speaks HTTP/2, where the framing differs; this one speaks HTTP/1.1 only.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use loopgate_tests::client::{Client, content_digest};
use loopgate_tests::gateway::{Gateway, eventually};
use loopgate_tests::upstream::Answering;

/// INV-NP-001's limit in these tests.
const LIMIT: usize = 64 * 1024;

fn start(upstream: &Answering) -> Gateway {
    let (url, ca) = (upstream.url(), upstream.ca_path());
    Gateway::dev()
        .policy(|bundle| {
            bundle.edit_after(
                "id = \"INV-NP-001\"",
                "max_transfer_bytes = 1073741824",
                &format!("max_transfer_bytes = {LIMIT}"),
            )
        })
        .config(move |config| config.upstream_with_ca("hk-biolab", &url, &ca))
        .start()
}

/// Waits until the upstream saw `started` requests and `incomplete` of them cut short.
fn upstream_saw(upstream: &Answering, started: usize, incomplete: usize) {
    let seen = eventually(Duration::from_secs(10), || {
        (upstream.started() == started && upstream.incomplete() == incomplete).then_some(())
    });
    assert!(
        seen.is_some(),
        "the upstream saw {} requests, {} cut short (expected {started}, {incomplete}); bodies {:?}",
        upstream.started(),
        upstream.incomplete(),
        upstream.bodies().iter().map(Bytes::len).collect::<Vec<_>>()
    );
}

fn body(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| fill ^ (i as u8)).collect()
}

#[test]
fn a_body_that_does_not_match_what_was_declared_never_completes_upstream() {
    let upstream = Answering::start(201);
    let gw = start(&upstream);
    let sz = Client::tenant(&gw, "sz-genomics").with_http(loopgate_tests::client::Http::One);

    // The probe sees a whole body when there is one: a good transfer completes upstream.
    let good = body(20_000, 1);
    let r = sz
        .post_transfer()
        .non_personal()
        .digest_of(&good)
        .body(good.clone())
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    upstream_saw(&upstream, 1, 0);
    assert_eq!(upstream.bodies(), vec![Bytes::from(good)]);

    // A wrong Content-Digest: every byte but the held-back last ones went upstream, and the
    // request was aborted there.
    let sent = body(20_000, 2);
    let r = sz
        .post_transfer()
        .non_personal()
        .set("Content-Digest", content_digest(b"something else"))
        .body(sent)
        .send();
    r.assert_error(400, "request.digest_mismatch", true);
    upstream_saw(&upstream, 2, 1);

    // A body its sender cut short of its Content-Length.
    let cut = sz
        .post_transfer()
        .non_personal()
        .set("Content-Length", 30_000)
        .failing([body(10_000, 3), body(10_000, 4)])
        .try_send();
    assert!(cut.is_err(), "an aborted body gets no answer: {cut:?}");
    upstream_saw(&upstream, 3, 2);

    // Chunked, over the item's limit: refused once the limit is passed.
    let r = sz
        .post_transfer()
        .non_personal()
        .chunked([body(LIMIT / 2, 5), body(LIMIT / 2, 6), body(LIMIT / 2, 7)])
        .send();
    r.assert_error(413, "request.body_too_large", true);
    upstream_saw(&upstream, 4, 3);

    // Only the good body ever completed.
    assert_eq!(upstream.bodies().len(), 1);
}
