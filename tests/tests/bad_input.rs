//! Hostile and broken requests through the real server (SPEC.md section 2, DESIGN.md
//! invariants 1-2): oversize heads, bytes that are not UTF-8 in `Loop-*` headers, headers sent
//! twice, counts that are negative, huge or not numbers, transfer ids with traversal and odd
//! bytes, unknown methods. Each gets its 4xx status and reason code with the JSON error body;
//! a malformed transfer request is a logged denial (`log_index`, a `deny` decision record with
//! that reason); nothing reaches the upstream; the gateway stays up and serves the next
//! transfer. Raw HTTP/1.1 over TLS sends what a well-behaved client library refuses to.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::{Client, NP_ITEM, PI_ITEM, Response, TestBody, content_digest};
use loopgate_tests::gateway::Gateway;
use loopgate_tests::raw::{self, RawAnswer};

/// One gateway per test: what it logged is read back from its log when the test ends.
struct Rig {
    gw: Gateway,
    /// `(log_index, reason)` of every logged denial the test caused.
    logged: Vec<(u64, &'static str)>,
}

impl Rig {
    fn start() -> Self {
        Self {
            gw: Gateway::dev().start(),
            logged: Vec::new(),
        }
    }

    fn sz(&self) -> Client {
        Client::tenant(&self.gw, "sz-genomics")
    }

    /// Sends `head` (request line and headers, each line ending `\r\n`, without the blank
    /// line) and `body` over TLS as raw bytes, and parses the answer.
    fn raw(&self, head: &[u8], body: &[u8]) -> RawAnswer {
        let mut request = head.to_vec();
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        raw::exchange(&self.sz(), &request)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(head)))
    }

    /// The head of a transfer of the dev bundle's non-personal item without the headers named
    /// in `drop`, then the `extra` header lines (raw bytes).
    fn transfer_head(&self, drop: &[&str], extra: &[&[u8]]) -> Vec<u8> {
        let port = self.gw.api().port();
        let mut head = format!(
            "POST /v1/transfers HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n"
        )
        .into_bytes();
        for (name, value) in [
            ("Loop-Inventory-Item", NP_ITEM.0),
            ("Loop-Recipient", "hk-biolab"),
            ("Loop-Purpose", NP_ITEM.1),
        ] {
            if !drop.contains(&name) {
                head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        for line in extra {
            head.extend_from_slice(line);
            head.extend_from_slice(b"\r\n");
        }
        head
    }

    /// A logged denial through the client library.
    fn denied(&mut self, r: &Response, status: u16, code: &'static str) {
        let index = r.assert_error(status, code, true).unwrap();
        self.logged.push((index, code));
    }

    /// A logged denial over raw HTTP.
    fn raw_denied(&mut self, r: &RawAnswer, status: u16, code: &'static str) {
        let index = assert_raw_error(r, status, code, true).unwrap();
        self.logged.push((index, code));
    }

    /// Nothing reached the upstream, the gateway still serves a good transfer, and each
    /// logged denial is a `deny` decision record with its reason and no outcome.
    fn finish(self) {
        let gw = self.gw;
        assert!(gw.received().is_empty(), "received: {:?}", gw.received());
        assert!(gw.partial().is_empty(), "started: {:?}", gw.partial());
        assert_eq!(gw.ops_get("/healthz").0, 200);
        assert_eq!(gw.ops_get("/readyz").0, 200);
        let sz = Client::tenant(&gw, "sz-genomics");
        let ok = sz.post_transfer().non_personal().body("still up").send();
        assert_eq!(ok.status, 201, "{}", ok.text());
        let id = ok.json()["transfer_id"].as_str().unwrap().to_owned();
        assert_eq!(gw.received(), vec![id]);
        let records = gw.stop().records();
        let mut seen = std::collections::BTreeSet::new();
        for (index, code) in self.logged {
            assert!(seen.insert(index), "two answers share log_index {index}");
            let record = &records[usize::try_from(index).unwrap()];
            assert_eq!(record["kind"], "decision", "{record}");
            assert_eq!(record["decision"], "deny", "{record}");
            assert_eq!(record["reason"], code, "{record}");
            assert_eq!(record["sender"], "sz-genomics", "{record}");
            let tid = &record["transfer_id"];
            assert_eq!(
                records.iter().filter(|r| &r["transfer_id"] == tid).count(),
                1,
                "a denial has no outcome: {tid}"
            );
        }
    }
}

/// A head hyper's HTTP/1.1 parser refuses before the gateway sees the request: an invalid
/// `Content-Length`, a byte HTTP forbids in a field value, a head past the 400 KiB read buffer.
/// hyper writes that answer itself (`status`, an empty body, `connection: close`); SPEC.md
/// section 2 wants the JSON error body here too, which hyper gives no hook for (a known gap,
/// see docs/RESULTS.md). Either way nothing is logged: the request never became a transfer.
fn assert_refused_by_the_parser(r: &RawAnswer, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    if r.body.is_null() {
        assert!(
            r.head.to_ascii_lowercase().contains("content-length: 0"),
            "{}",
            r.text
        );
        assert!(
            r.head.to_ascii_lowercase().contains("connection: close"),
            "{}",
            r.text
        );
    } else {
        assert_raw_error(r, status, code, false);
    }
}

/// SPEC.md section 2's body with this status and code; a `log_index` exactly when `logged`.
fn assert_raw_error(r: &RawAnswer, status: u16, code: &str, logged: bool) -> Option<u64> {
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (status, Some(code)),
        "{}",
        r.text
    );
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text
    );
    let index = r.body["log_index"].as_u64();
    assert_eq!(index.is_some(), logged, "log_index: {}", r.text);
    index
}

#[test]
fn loop_headers_that_are_not_utf8_or_not_visible_ascii_are_malformed() {
    let mut rig = Rig::start();
    for value in [
        &b"\xff\xfe"[..],
        b"caf\xc3\xa9",    // UTF-8, but not ASCII
        b"\xc0\xaf../etc", // an overlong UTF-8 slash
        b"research. qc",   // a space inside
        b"research\tqc",   // a tab inside
    ] {
        for header in ["Loop-Purpose", "Loop-Recipient", "Loop-Inventory-Item"] {
            let mut line = format!("{header}: ").into_bytes();
            line.extend_from_slice(value);
            let head = rig.transfer_head(&[header], &[&line, b"Content-Length: 1"]);
            let r = rig.raw(&head, b"x");
            rig.raw_denied(&r, 400, "request.malformed_header");
        }
    }
    // Bytes HTTP itself forbids in a field value (a control byte, a bare CR): hyper refuses the
    // head before the gateway sees it, so nothing is logged.
    for value in [&b"research\x01qc"[..], b"research\x7fqc"] {
        let mut line = b"Loop-Purpose: ".to_vec();
        line.extend_from_slice(value);
        let head = rig.transfer_head(&["Loop-Purpose"], &[&line, b"Content-Length: 1"]);
        let r = rig.raw(&head, b"x");
        assert_refused_by_the_parser(&r, 400, "request.malformed_header");
    }
    rig.finish();
}

#[test]
fn loop_headers_sent_twice_are_malformed() {
    let mut rig = Rig::start();
    for (header, value) in [
        ("Loop-Inventory-Item", PI_ITEM.0.to_owned()),
        ("Loop-Recipient", "hk-biolab".to_owned()),
        ("Loop-Purpose", PI_ITEM.1.to_owned()),
        ("Loop-Contract-Filing", PI_ITEM.2.to_owned()),
        ("Loop-Data-Subjects", "3".to_owned()),
        ("Content-Digest", content_digest(b"rows")),
        ("Idempotency-Key", "retry-1".to_owned()),
    ] {
        // Twice with the same value is still twice: the gateway does not guess.
        let r = rig
            .sz()
            .post_transfer()
            .personal(3)
            .header(header, &value)
            .header(header, &value)
            .body("rows")
            .send();
        rig.denied(&r, 400, "request.malformed_header");
        assert!(
            r.json()["message"].as_str().unwrap().contains(header),
            "the message names the header: {}",
            r.text()
        );
    }
    rig.finish();
}

#[test]
fn data_subject_counts_that_are_not_whole_numbers_are_malformed() {
    let mut rig = Rig::start();
    for value in [
        "-1",
        "-0",
        "+5",
        "1e3",
        "3.0",
        "0x10",
        "five",
        "٣",                                      // an Arabic-Indic digit three
        "10000000001",                            // more people than live on Earth
        "18446744073709551616",                   // u64::MAX + 1
        "99999999999999999999999999999999999999", // past any integer type
    ] {
        let r = rig
            .sz()
            .post_transfer()
            .personal(1)
            .set("Loop-Data-Subjects", value)
            .body("rows")
            .send();
        rig.denied(&r, 400, "request.malformed_header");
    }
    // Present but empty is not "absent": it is malformed too.
    let head = rig.transfer_head(&[], &[b"Loop-Data-Subjects: ", b"Content-Length: 1"]);
    let r = rig.raw(&head, b"x");
    rig.raw_denied(&r, 400, "request.malformed_header");
    rig.finish();
}

#[test]
fn content_lengths_that_are_not_whole_numbers_are_refused() {
    let mut rig = Rig::start();
    for value in [
        "-1",
        "+1",
        "1.0",
        "one",
        "0x1",
        "18446744073709551616",
        "1, 2",
    ] {
        let line = format!("Content-Length: {value}");
        let head = rig.transfer_head(&[], &[line.as_bytes()]);
        let r = rig.raw(&head, b"x");
        assert_refused_by_the_parser(&r, 400, "request.malformed_header");
    }
    // A well-formed but huge declared length is a policy denial (rule 10) before any byte is
    // read: 413 and a log_index.
    let head = rig.transfer_head(&[], &[b"Content-Length: 18446744073709551612"]);
    let r = rig.raw(&head, b"x");
    rig.raw_denied(&r, 413, "request.body_too_large");
    // hyper keeps the top three values of u64 for itself and refuses them as too large.
    let head = rig.transfer_head(&[], &[b"Content-Length: 18446744073709551615"]);
    assert_refused_by_the_parser(&rig.raw(&head, b"x"), 431, "request.headers_too_large");
    rig.finish();
}

#[test]
fn oversize_heads_get_431_and_nothing_is_logged() {
    let rig = Rig::start();
    // Up to hyper's 400 KiB read buffer the gateway measures the head itself (JSON 431).
    for size in [17 * 1024, 64 * 1024, 300 * 1024] {
        let r = rig
            .sz()
            .post_transfer()
            .non_personal()
            .set("X-Padding", "p".repeat(size))
            .body("x")
            .try_send()
            .unwrap_or_else(|e| panic!("a {size}-byte header got no answer: {e}"));
        assert!(!r.body.is_empty(), "{size}: {} with no body", r.status);
        r.assert_error(431, "request.headers_too_large", false);
    }
    // Past the read buffer hyper answers 431 itself.
    let mut head = rig.transfer_head(&[], &[b"Content-Length: 1"]);
    head.extend_from_slice(b"X-Padding: ");
    head.extend_from_slice(&vec![b'p'; 1024 * 1024]);
    head.extend_from_slice(b"\r\n");
    assert_refused_by_the_parser(&rig.raw(&head, b"x"), 431, "request.headers_too_large");
    // The same over HTTP/2. Regression: h2's own header-list cap was `max_header_bytes`, so
    // h2 answered 431 with an empty body (or GOAWAY past 32 KiB) before the gateway could.
    for size in [17 * 1024, 64 * 1024, 300 * 1024] {
        let r = rig
            .sz()
            .http2()
            .post_transfer()
            .non_personal()
            .set("X-Padding", "p".repeat(size))
            .body("x")
            .try_send()
            .unwrap_or_else(|e| panic!("h2: a {size}-byte header got no answer: {e}"));
        assert!(!r.body.is_empty(), "h2 {size}: {} with no body", r.status);
        r.assert_error(431, "request.headers_too_large", false);
    }
    // Many headers add up the same way (90 of 200 bytes: 18 KiB).
    let sz = rig.sz();
    let mut call = sz.post_transfer().non_personal();
    for i in 0..90 {
        call = call.header(&format!("X-Many-{i}"), "v".repeat(200));
    }
    call.body("x")
        .send()
        .assert_error(431, "request.headers_too_large", false);
    // More than hyper's 100 header fields: hyper answers 431 itself, however small they are.
    let many: Vec<Vec<u8>> = (0..120)
        .map(|i| format!("X-Many-{i}: v").into_bytes())
        .collect();
    let mut lines: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    lines.push(b"Content-Length: 1");
    let head = rig.transfer_head(&[], &lines);
    assert_refused_by_the_parser(&rig.raw(&head, b"x"), 431, "request.headers_too_large");
    rig.finish();
}

#[test]
fn transfer_ids_with_traversal_or_odd_bytes_are_not_found() {
    let rig = Rig::start();
    let sz = rig.sz();
    for path in [
        "/v1/transfers/..%2F..%2Fetc%2Fpasswd",
        "/v1/transfers/..%2F..%2Fetc",
        "/v1/transfers/%2e%2e",
        "/v1/transfers/%00",
        "/v1/transfers/%ff%fe",
        "/v1/transfers/%E2%80%AE",
        "/v1/transfers/id;rm%20-rf",
        "/v1/transfers/*",
    ] {
        sz.get(path).assert_error(404, "request.not_found", false);
    }
    let long = format!("/v1/transfers/{}", "a".repeat(8 * 1024));
    sz.get(&long).assert_error(404, "request.not_found", false);
    let too_long = format!("/v1/transfers/{}", "a".repeat(20 * 1024));
    sz.get(&too_long)
        .assert_error(431, "request.headers_too_large", false);
    // Paths are not normalised: `..` resolves nothing, so these are no route at all.
    let port = rig.gw.api().port();
    for path in ["/v1/transfers/../../etc/passwd", "/v1/../v1/transfers/x/.."] {
        let r = rig.raw(
            format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n")
                .as_bytes(),
            b"",
        );
        assert_raw_error(&r, 404, "request.not_found", false);
    }
    rig.finish();
}

#[test]
fn unknown_methods_get_405_or_404() {
    let rig = Rig::start();
    let port = rig.gw.api().port();
    for (method, path, status, code) in [
        ("BREW", "/v1/transfers", 405, "request.method_not_allowed"),
        (
            "DELETE",
            "/v1/transfers/abc",
            405,
            "request.method_not_allowed",
        ),
        ("PUT", "/v1/transfers", 405, "request.method_not_allowed"),
        (
            "PATCH",
            "/v1/audit/checkpoint",
            405,
            "request.method_not_allowed",
        ),
        ("TRACE", "/v1/transfers", 405, "request.method_not_allowed"),
        (
            "OPTIONS",
            "/v1/transfers",
            405,
            "request.method_not_allowed",
        ),
        ("BREW", "/coffee", 404, "request.not_found"),
    ] {
        let r = rig.raw(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\
                 Content-Length: 0\r\n"
            )
            .as_bytes(),
            b"",
        );
        assert_raw_error(&r, status, code, false);
    }
    rig.finish();
}

/// A 405 names the methods its path takes (RFC 9110 section 15.5.6), from the route table.
#[test]
fn a_405_names_the_methods_its_path_takes() {
    let rig = Rig::start();
    let admin = Client::principal(&rig.gw, "admin", "park-ops");
    let sz = rig.sz();
    for (client, path, allow) in [
        (&admin, "/v1/admin/policy", "GET, PUT"),
        (&sz, "/v1/transfers/abc", "GET"),
        (&sz, "/v1/transfers", "POST, GET"),
    ] {
        let request = client
            .builder(http::Method::DELETE, path)
            .body(TestBody::empty())
            .unwrap();
        let r = client.request(request);
        r.assert_error(405, "request.method_not_allowed", false);
        assert_eq!(r.headers["allow"], allow, "{path}");
    }
    rig.finish();
}
