//! No payload in the log (DESIGN.md invariant 5): records hold metadata and digests only. Each
//! transfer here carries a body made of a random marker, over HTTP/1.1 and HTTP/2, and ends each
//! way a transfer can end — completed (non-personal and personal), failed (a wrong digest),
//! denied (before any byte is read) and interrupted (the gateway killed mid-body, closed by
//! recovery at the next start). Then every file the gateway wrote (the segments, sled's files,
//! the checkpoint, its diagnostics on stderr) is searched for every marker: raw, as hex and as
//! base64. The demo upstream's `received/` folder is searched too, as the control: the markers
//! of completed transfers must be found there, so the search finds what is there.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use loopgate_tests::client::{Client, Http, content_digest};
use loopgate_tests::gateway::{Gateway, eventually};
use loopgate_tests::rng::Rng;

/// A marker: random bytes, as long as a base64 quantum multiple (so its base64 form appears in
/// the base64 of a body made of it).
type Marker = [u8; 24];

fn marker(rng: &mut Rng) -> Marker {
    let mut m = [0u8; 24];
    for chunk in m.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    m
}

/// A body made of the marker, repeated.
fn body(m: &Marker) -> Vec<u8> {
    m.repeat(100)
}

/// The forms a marker could take in a file: raw, hex (both cases), base64 (standard and URL).
fn forms(m: &Marker) -> Vec<Vec<u8>> {
    let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        m.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(m)
            .into_bytes(),
        base64::engine::general_purpose::URL_SAFE
            .encode(m)
            .into_bytes(),
    ]
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The files among `files` that hold any form of `m`.
fn holding(files: &[PathBuf], m: &Marker) -> Vec<PathBuf> {
    let forms = forms(m);
    files
        .iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap_or_default();
            forms
                .iter()
                .any(|form| bytes.windows(form.len()).any(|w| w == form.as_slice()))
        })
        .cloned()
        .collect()
}

#[test]
fn no_body_byte_reaches_the_log_or_the_diagnostics() {
    let (mut rng, _) = Rng::from_env("LOOPGATE_PAYLOAD_SEED");
    let gw = Gateway::dev().start();
    let mut delivered = Vec::new();
    let mut refused = Vec::new();
    for http in [Http::One, Http::Two] {
        let sz = Client::tenant(&gw, "sz-genomics").with_http(http);
        let m = marker(&mut rng);
        let r = sz.post_transfer().non_personal().body(body(&m)).send();
        assert_eq!(r.status, 201, "{}", r.text());
        delivered.push(m);

        let m = marker(&mut rng);
        let r = sz.post_transfer().personal(7).body(body(&m)).send();
        assert_eq!(r.status, 201, "{}", r.text());
        delivered.push(m);

        let m = marker(&mut rng);
        let r = sz
            .post_transfer()
            .non_personal()
            .set("Content-Digest", content_digest(b"not this body"))
            .body(body(&m))
            .send();
        r.assert_error(400, "request.digest_mismatch", true);
        refused.push(m);

        let m = marker(&mut rng);
        let r = sz
            .post_transfer()
            .non_personal()
            .set("Loop-Purpose", "marketing")
            .body(body(&m))
            .send();
        r.assert_error(403, "inventory.purpose_not_allowed", true);
        refused.push(m);
    }

    // Interrupted: killed while the body streams (the demo upstream holds a partial file).
    let m = marker(&mut rng);
    let chunks: Vec<Vec<u8>> = (0..20).map(|_| body(&m)).collect();
    let cut_off_before = gw.partial();
    let folder = std::thread::scope(|s| {
        let sz = Client::tenant(&gw, "sz-genomics");
        let sending = s.spawn(move || {
            sz.post_transfer()
                .non_personal()
                .slow(chunks, Duration::from_millis(200))
                .try_send()
        });
        // A body the upstream started that is not one of the earlier, cut-off ones.
        eventually(Duration::from_secs(10), || {
            gw.partial()
                .iter()
                .any(|id| !cut_off_before.contains(id))
                .then_some(())
        })
        .expect("the slow transfer reached the upstream");
        let folder = gw.kill();
        let _ = sending.join();
        folder
    });
    refused.push(m);
    let gw = Gateway::resume(folder).start();
    let stderr = gw.stderr_once(|s| s.contains("outcome recorded"));
    assert!(
        stderr.contains("transfer interrupted by the last stop"),
        "the cut transfer was closed at the restart:\n{stderr}"
    );
    let folder = gw.stop();

    // The control: what the upstream received holds the completed transfers' markers.
    let mut all = Vec::new();
    files(folder.path(), &mut all);
    let received = folder.path().join("received");
    let (upstream, gateway): (Vec<PathBuf>, Vec<PathBuf>) = all
        .into_iter()
        .partition(|path| path.starts_with(&received));
    assert!(
        gateway
            .iter()
            .any(|p| p.starts_with(folder.path().join("data/segments")))
    );
    for m in &delivered {
        assert!(
            !holding(&upstream, m).is_empty(),
            "the search finds a delivered body in received/"
        );
    }
    // Nothing the gateway wrote holds any marker.
    let found: Vec<PathBuf> = delivered
        .iter()
        .chain(&refused)
        .flat_map(|m| holding(&gateway, m))
        .collect();
    assert!(found.is_empty(), "payload bytes found in {found:?}");
}
