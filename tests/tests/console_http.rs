//! The regulator console's HTTP side, without a browser (README "Regulator console"): every
//! console URL answers the app shell to a listed regulator, with the console's security headers;
//! assets carry an ETag and answer 304 to it; HEAD is GET without the content; an unknown asset
//! or page is 404; a tenant, carrier or admin certificate, or an unlisted regulator, gets the
//! HTML page "This console is for regulators" saying why, logged like any refusal, and no data.

#![allow(clippy::unwrap_used)]

use http::Method;
use loopgate_tests::client::{Client, Response, TestBody};
use loopgate_tests::gateway::Gateway;

const PAGES: &[&str] = &[
    "/console",
    "/console/",
    "/console/records",
    "/console/records?tenant=sz-genomics&decision=deny&limit=2",
    "/console/records/0",
    "/console/transfers/00112233445566778899aabbccddeeff",
    "/console/shipments/00112233445566778899aabbccddeeff",
    "/console/overdue",
    "/console/reports",
    "/console/reports?month=2026-12",
];

fn assert_secured(response: &Response, what: &str) {
    let header = |name: &str| {
        response
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp:?} lacks {directive}"
        );
    }
    assert!(
        !csp.contains("unsafe"),
        "{what}: no unsafe-inline or unsafe-eval: {csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
}

/// The log's size, from the latest checkpoint.
fn log_size(gw: &Gateway) -> u64 {
    let text = Client::regulator(gw, "pcpd")
        .get("/v1/audit/checkpoint")
        .text();
    text.lines().nth(1).unwrap().parse().unwrap()
}

fn get(client: &Client, path: &str) -> Response {
    client.get(path)
}

#[test]
fn a_regulator_gets_the_shell_on_every_console_url_with_strict_headers() {
    let gw = Gateway::dev().start();
    let pcpd = Client::regulator(&gw, "pcpd");
    let shell = get(&pcpd, "/console/");
    assert_eq!(shell.status, 200, "{}", shell.text());
    assert_eq!(shell.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(shell.headers["cache-control"], "no-store");
    assert_secured(&shell, "/console/");
    let html = shell.text();
    for needle in [
        "<main id=\"main\"",
        "<nav aria-label=\"Console\"",
        "src=\"/console/assets/app.js\"",
        "href=\"/console/assets/app.css\"",
        "<label for=\"language\"",
    ] {
        assert!(html.contains(needle), "the shell lacks {needle}");
    }
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline script or style"
    );
    for path in PAGES {
        let page = get(&pcpd, path);
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        assert_eq!(page.body, shell.body, "{path} answers the same shell");
        assert_secured(&page, path);
    }
    // Over HTTP/2 too, and HEAD is GET's headers without the content.
    let h2 = Client::regulator(&gw, "pcpd").http2();
    let head = h2.request(
        h2.builder(Method::HEAD, "/console/records")
            .body(TestBody::empty())
            .unwrap(),
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD sends no content");
    assert_eq!(
        head.headers["content-length"].to_str().unwrap(),
        shell.body.len().to_string()
    );
    assert_secured(&head, "HEAD /console/records");

    // Unknown pages are 404 pages (HTML, secured), not the shell.
    for path in [
        "/console/nothing",
        "/console/records/1/x",
        "/console/assets/a/b",
    ] {
        let page = get(&pcpd, path);
        assert_eq!(page.status, 404, "{path}");
        assert!(page.text().contains("Not found"), "{path}: {}", page.text());
        assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
        assert_secured(&page, path);
    }
    // The console reads the API, it does not replace it: POST is 405 with Allow.
    let post = pcpd.post("/console/", "x");
    assert_eq!(post.status, 405, "{}", post.text());
    assert_eq!(post.headers["allow"], "GET");
}

#[test]
fn assets_have_types_etags_and_revalidate_and_an_unknown_asset_is_404() {
    let gw = Gateway::dev().start();
    let pcpd = Client::regulator(&gw, "pcpd");
    for (name, content_type, needle) in [
        ("app.js", "text/javascript; charset=utf-8", "History API"),
        (
            "verify.js",
            "text/javascript; charset=utf-8",
            "cosignature/v1",
        ),
        ("i18n.js", "text/javascript; charset=utf-8", "zh-Hant"),
        ("app.css", "text/css; charset=utf-8", "@media print"),
        ("icon.svg", "image/svg+xml", "<svg"),
    ] {
        let path = format!("/console/assets/{name}");
        let asset = get(&pcpd, &path);
        assert_eq!(asset.status, 200, "{path}");
        assert_eq!(asset.headers["content-type"], content_type, "{path}");
        assert!(asset.text().contains(needle), "{path} lacks {needle}");
        assert_eq!(asset.headers["cache-control"], "no-cache", "{path}");
        assert_secured(&asset, &path);
        let etag = asset.headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again = pcpd.request(
            pcpd.builder(Method::GET, &path)
                .header("if-none-match", &etag)
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(again.status, 304, "{path} with its ETag");
        assert!(again.body.is_empty());
        assert_eq!(again.headers["etag"].to_str().unwrap(), etag);
        let stale = pcpd.request(
            pcpd.builder(Method::GET, &path)
                .header("if-none-match", "\"0000\"")
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(stale.status, 200, "{path} with another ETag");
        let head = pcpd.request(
            pcpd.builder(Method::HEAD, &path)
                .body(TestBody::empty())
                .unwrap(),
        );
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(head.headers["etag"].to_str().unwrap(), etag);
    }
    for name in ["nope.js", "index.html", "..%2Fapp.js", "APP.JS"] {
        let missing = get(&pcpd, &format!("/console/assets/{name}"));
        assert_eq!(missing.status, 404, "{name}: {}", missing.text());
        assert_secured(&missing, name);
    }
    // The assets hold no data: the refusal page's style sheet loads for anyone.
    let tenant = Client::tenant(&gw, "sz-genomics");
    assert_eq!(get(&tenant, "/console/assets/app.css").status, 200);
}

#[test]
fn anyone_but_a_listed_regulator_gets_the_regulators_only_page_and_no_data() {
    let gw = Gateway::dev().start();
    // A record to hide.
    let sent = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"console"[..])
        .send();
    assert_eq!(sent.status, 201, "{}", sent.text());
    let (cert, key) = gw.issue_cert("regulator", "unlisted");
    let callers = [
        (Client::tenant(&gw, "sz-genomics"), "tenant"),
        (Client::carrier(&gw, "hkp-logistics"), "carrier"),
        (Client::principal(&gw, "admin", "park-ops"), "admin"),
        (Client::with_cert(&gw, &cert, &key), "regulator/unlisted"),
    ];
    let before = log_size(&gw);
    let mut refusals = 0;
    for (client, who) in &callers {
        for path in ["/console/", "/console/records?tenant=sz-genomics"] {
            let page = get(client, path);
            assert_eq!(page.status, 403, "{who} {path}: {}", page.text());
            assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
            assert_secured(&page, path);
            let html = page.text();
            assert!(
                html.contains("<h1>This console is for regulators</h1>"),
                "{who}: {html}"
            );
            assert!(html.contains("auth.forbidden"), "{who}: {html}");
            let why = if *who == "regulator/unlisted" {
                "has no [[regulator]] entry"
            } else {
                "is for the regulator role"
            };
            assert!(html.contains(why), "{who} is told why: {html}");
            assert!(html.contains("logged as record"), "{who}: {html}");
            assert!(!html.contains("<script"), "{who}: no app for them");
            assert!(!html.contains("sz-genomics"), "{who}: no data");
            refusals += 1;
        }
        // Nor through the API the console reads.
        assert_eq!(get(client, "/v1/audit/records").status, 403, "{who}");
        refusals += 1;
    }
    // Each refusal is a `system` record, as any 401/403 is.
    let after = log_size(&gw);
    assert_eq!(after - before, refusals, "one refusal record each");
}
