//! The log as C2SP `tlog-tiles` (SPEC.md section 5): `GET /v1/audit/tile/<L>/<N>[.p/<W>]` hash
//! tiles for every regulator, `GET /v1/audit/tile/entries/<N>[.p/<W>]` entry bundles for one
//! that sees `all`. A mirror of every tile of a 600-odd record log (records appended straight
//! into the stopped gateway's log, as `regulator_export` does) is checked by Go's
//! `golang.org/x/mod/sumdb/{note,tlog}` (`tests/go/tiles`): the checkpoint's signature, every
//! tile against its root, every entry against its level-0 hash, every record's inclusion; the
//! partial tiles of an earlier checkpoint too. One wrong byte in a hash tile or a bundle fails
//! it. Then caching headers, 404 past the tree and for paths outside the spec's encoding, 400
//! for a query, 405, and 403 on entry bundles for a scoped or unlisted regulator.

#![allow(clippy::unwrap_used)]

use http::Method;
use loopgate_audit::leaf_hash;
use loopgate_tests::client::{Client, TestBody};
use loopgate_tests::gateway::{Bundle, Gateway};
use loopgate_tests::tiles::{entries, go_checks_tiles, mirror};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const RECORDS: u64 = 600;

/// The dev bundle plus a regulator that sees personal data only, not every record.
fn with_scoped_regulator(bundle: Bundle) -> Bundle {
    bundle.append(
        r#"
[[regulator]]
id = "pd-office"
authority = "a personal data regulator"
sees = ["personal"]
"#,
    )
}

/// The latest checkpoint and its size; never to be cached by a mirror (C2SP tlog-tiles).
fn checkpoint(gw: &Gateway) -> (String, u64) {
    let r = Client::regulator(gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-cache")
    );
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/plain; charset=utf-8")
    );
    let text = r.text();
    let size = text.lines().nth(1).unwrap().parse().unwrap();
    (text, size)
}

/// Runs the Go checker on `dir`: `Some(accepted, what it said)`, `None` without Go.
fn go(gw: &Gateway, dir: &std::path::Path) -> Option<(bool, String)> {
    go_checks_tiles(dir, &gw.log_pub_path())
}

#[test]
fn a_mirror_of_the_tiles_verifies_with_go_and_a_wrong_byte_fails_it() {
    let gw = Gateway::dev().start();
    let (old, old_size) = checkpoint(&gw);
    let folder = gw.stop();
    let existing = folder.records();
    let last = existing.last().unwrap()["time"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = OffsetDateTime::parse(&last, &Rfc3339).unwrap() + Duration::seconds(1);
    let at = move |i: u64| base + Duration::milliseconds(i as i64);
    let before = existing.len() as u64;
    let size =
        loopgate_tests::log::append(&folder, RECORDS, |i| loopgate_tests::log::denial(i, at(i)));
    assert_eq!(size, before + RECORDS);
    let gw = Gateway::resume(folder).start();
    let (new, new_size) = checkpoint(&gw);
    assert!(new_size >= size, "{new_size} < {size}");
    let regulator = Client::regulator(&gw, "pcpd");

    let dir = tempfile::TempDir::new().unwrap();
    let tiles = mirror(&regulator, &new, dir.path());
    let mut leaves = Vec::new();
    for (path, r) in &tiles {
        let partial = path.contains(".p/");
        let expected = match (path.starts_with("tile/entries/"), partial) {
            (_, true) => "no-cache",
            (true, false) => "private, max-age=31536000, immutable",
            (false, false) => "public, max-age=31536000, immutable",
        };
        assert_eq!(r.headers["cache-control"], expected, "{path}");
        if path.starts_with("tile/entries/") {
            leaves.extend(entries(&r.body).into_iter().map(<[u8]>::to_vec));
        }
    }
    // The bundles hold every record, in order, exactly.
    assert_eq!(leaves.len() as u64, new_size);
    for (i, leaf) in leaves.iter().enumerate().take(before as usize) {
        let r = regulator.get(&format!("/v1/audit/records/{i}"));
        assert_eq!(r.json()["leaf"].as_str().unwrap().as_bytes(), leaf, "{i}");
    }
    for n in 0..RECORDS {
        assert_eq!(
            leaves[(before + n) as usize],
            loopgate_tests::log::denial(n, at(n))
        );
    }
    // Go's tlog checks the mirror first (the interop this is for), then the level-0 tiles must
    // hold the leaf hashes, without Go too.
    let go_said = go(&gw, dir.path());
    if let Some((ok, said)) = &go_said {
        eprintln!("{said}");
        assert!(ok, "Go's tlog refused the mirror: {said}");
        assert!(said.contains(&format!("tree of size {new_size}")), "{said}");
    }
    let level0: Vec<u8> = tiles
        .iter()
        .filter(|(path, _)| path.starts_with("tile/0/"))
        .flat_map(|(_, r)| r.body.to_vec())
        .collect();
    let hashed: Vec<u8> = leaves.iter().flat_map(|l| leaf_hash(l)).collect();
    assert!(level0 == hashed, "the level-0 tiles are the leaf hashes");
    if go_said.is_none() {
        return;
    }

    // The earlier checkpoint's partial tiles are still served (prefixes of today's tiles).
    let old_dir = tempfile::TempDir::new().unwrap();
    let old_tiles = mirror(&regulator, &old, old_dir.path());
    assert!(old_tiles.iter().all(|(path, _)| path.contains(".p/")));
    let (ok, said) = go(&gw, old_dir.path()).unwrap();
    eprintln!("{said}");
    assert!(
        ok,
        "Go's tlog refused the earlier checkpoint's mirror: {said}"
    );
    assert!(said.contains(&format!("tree of size {old_size}")), "{said}");

    // One wrong byte anywhere fails the check.
    let targets = [
        ("tile/0/001", 100),
        ("tile/0/002.p/", 0),
        ("tile/1/000.p/", 33),
        ("tile/entries/000", 40),
        ("tile/entries/002.p/", 2),
    ];
    for (target, offset) in targets {
        let broken = tempfile::TempDir::new().unwrap();
        std::fs::write(broken.path().join("checkpoint"), &new).unwrap();
        let mut hit = false;
        for (path, r) in &tiles {
            let mut body = r.body.to_vec();
            if path.starts_with(target) && (target.ends_with('/') || path == target) {
                body[offset] ^= 1;
                hit = true;
            }
            let file = broken.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, body).unwrap();
        }
        assert!(hit, "{target} is one of the tiles");
        let (ok, said) = go(&gw, broken.path()).unwrap();
        assert!(!ok, "a flipped byte in {target} passed: {said}");
        eprintln!("{target} with a flipped byte: {said}");
    }
}

#[test]
fn past_the_tree_bad_paths_other_methods_and_scopes_get_their_errors() {
    let gw = Gateway::dev().policy(with_scoped_regulator).start();
    let (_, size) = checkpoint(&gw);
    assert!((1..256).contains(&size), "{size}");
    let pcpd = Client::regulator(&gw, "pcpd");
    for id in ["pd-office", "nobody"] {
        gw.issue_cert("regulator", id);
    }

    let r = pcpd.get(&format!("/v1/audit/tile/0/000.p/{size}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len() as u64, 32 * size);
    assert_eq!(r.headers["cache-control"], "no-cache");
    let r = pcpd.get("/v1/audit/tile/0/000.p/1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), 32);
    let r = pcpd.get(&format!("/v1/audit/tile/entries/000.p/{size}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(entries(&r.body).len() as u64, size);

    let past = [
        "/v1/audit/tile/0/000".to_owned(),
        format!("/v1/audit/tile/0/000.p/{}", size + 1),
        "/v1/audit/tile/0/001.p/1".to_owned(),
        "/v1/audit/tile/1/000.p/1".to_owned(),
        "/v1/audit/tile/7/000.p/1".to_owned(),
        "/v1/audit/tile/63/000".to_owned(),
        "/v1/audit/tile/0/x018/x446/x744/x073/x709/x551/615".to_owned(),
        "/v1/audit/tile/entries/000".to_owned(),
        format!("/v1/audit/tile/entries/000.p/{}", size + 1),
        "/v1/audit/tile/entries/x001/000.p/1".to_owned(),
    ];
    for path in &past {
        let r = pcpd.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(r.error(), "request.not_found", "{path}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("reaches past the log"),
            "{path}: {message}"
        );
    }
    let bad = [
        "/v1/audit/tile/0/x000/000",
        "/v1/audit/tile/0/x001",
        "/v1/audit/tile/0/001/002",
        "/v1/audit/tile/0/x01/002",
        "/v1/audit/tile/0/0a0",
        "/v1/audit/tile/0/00",
        "/v1/audit/tile/0/000.p/0",
        "/v1/audit/tile/0/000.p/256",
        "/v1/audit/tile/0/000.p/01",
        "/v1/audit/tile/0/000.p/",
        "/v1/audit/tile/00/000",
        "/v1/audit/tile/64/000",
        "/v1/audit/tile/a/000",
        "/v1/audit/tile/0",
        "/v1/audit/tile/0/x001/x001/x001/x001/x001/x001/x001/001",
        "/v1/audit/tile/0/x999/x999/x999/x999/x999/x999/999",
        "/v1/audit/tile/entries",
        "/v1/audit/tile/entries/x000/001",
        "/v1/audit/tile/entries/000.p/0",
        "/v1/audit/tile/entries/0/000",
    ];
    for path in bad {
        let r = pcpd.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(r.error(), "request.not_found", "{path}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("is not a tile path"), "{path}: {message}");
    }
    let r = pcpd.get("/v1/audit/tile/0/000.p/1?fresh=1");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error(), "request.malformed_query");
    for path in ["/v1/audit/tile/0/000.p/1", "/v1/audit/tile/entries/000.p/1"] {
        let r = pcpd.request(
            pcpd.builder(Method::POST, path)
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(r.status, 405, "{path}: {}", r.text());
        assert_eq!(r.headers["allow"], "GET", "{path}");
        let r = pcpd.request(
            pcpd.builder(Method::HEAD, path)
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty(), "HEAD {path}");
    }

    // Hash tiles for every regulator; entry bundles only for one that sees all.
    for id in ["pd-office", "nobody"] {
        let regulator = Client::regulator(&gw, id);
        let r = regulator.get("/v1/audit/tile/0/000.p/1");
        assert_eq!(r.status, 200, "{id}: {}", r.text());
        let r = regulator.get("/v1/audit/tile/entries/000.p/1");
        assert_eq!(r.status, 403, "{id}: {}", r.text());
        assert_eq!(r.error(), "auth.forbidden");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        eprintln!("{id}: {message}");
        assert!(message.contains(&format!("regulator/{id}")), "{message}");
    }
    let r = Client::regulator(&gw, "pd-office").get("/v1/audit/tile/entries/000.p/1");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not see all records"),
        "{}",
        r.text()
    );
    let r = Client::tenant(&gw, "sz-genomics").get("/v1/audit/tile/0/000.p/1");
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "auth.forbidden");
}
