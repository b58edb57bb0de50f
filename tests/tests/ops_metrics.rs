//! The ops listener (SPEC.md section 1): `/metrics` is Prometheus text that a strict parser
//! reads back, with every family operators alert on, counters that move with transfers, and
//! labels bounded by route templates (never raw paths); `/readyz` names the policy version.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Gateway, eventually};
use loopgate_tests::metrics::Exposition;

/// Families exported from the start.
const ALWAYS: &[(&str, &str)] = &[
    ("loopgate_transfer_bytes_total", "counter"),
    ("loopgate_transfers_in_flight", "gauge"),
    ("loopgate_log_records", "gauge"),
    ("loopgate_log_queued_appends", "gauge"),
    ("loopgate_log_available", "gauge"),
    ("loopgate_log_append_seconds", "histogram"),
    ("loopgate_log_batch_records", "histogram"),
    ("loopgate_checkpoint_age_seconds", "gauge"),
    ("loopgate_certificate_expiry_timestamp_seconds", "gauge"),
    ("loopgate_policy_version", "gauge"),
    ("loopgate_reloads_total", "counter"),
];

/// Families with a series per label set, exported once the first request has one.
const AFTER_REQUESTS: &[(&str, &str)] = &[
    ("loopgate_http_requests_total", "counter"),
    ("loopgate_decisions_total", "counter"),
];

fn requests(m: &Exposition, route: &str, status: &str) -> f64 {
    m.value(
        "loopgate_http_requests_total",
        &[("route", route), ("status", status)],
    )
}

fn decisions(m: &Exposition, decision: &str, reason: &str) -> f64 {
    m.value(
        "loopgate_decisions_total",
        &[("decision", decision), ("reason", reason)],
    )
}

#[test]
fn metrics_parse_and_move_with_transfers() {
    let gw = Gateway::dev().start();
    let before = gw.metrics();
    let check = |m: &Exposition, families: &[(&str, &str)]| {
        for (name, kind) in families {
            assert_eq!(m.family(name).kind, *kind, "{name}");
            assert!(m.family(name).help.is_some(), "{name} has no HELP");
        }
    };
    check(&before, ALWAYS);
    let sz = Client::tenant(&gw, "sz-genomics");
    let body = vec![b'x'; 1000];
    let allowed = sz.post_transfer().non_personal().body(body).send();
    assert_eq!(allowed.status, 201, "{}", allowed.text());
    let denied = sz
        .post_transfer()
        .non_personal()
        .set("Loop-Purpose", "marketing")
        .body("x")
        .send();
    denied.assert_error(403, "inventory.purpose_not_allowed", true);
    // Two raw paths, one route template; an unknown path is "other".
    for id in ["a1b2", "c3d4"] {
        assert_eq!(sz.get_transfer(id).status, 404);
    }
    assert_eq!(sz.get("/nope/secret-raw-path").status, 404);

    let after = gw.metrics();
    check(&after, ALWAYS);
    check(&after, AFTER_REQUESTS);
    let moved = |f: &dyn Fn(&Exposition) -> f64| f(&after) - f(&before);
    assert_eq!(moved(&|m| requests(m, "/v1/transfers", "201")), 1.0);
    assert_eq!(moved(&|m| requests(m, "/v1/transfers", "403")), 1.0);
    assert_eq!(
        moved(&|m| requests(m, "/v1/transfers/{transfer_id}", "404")),
        2.0
    );
    assert_eq!(moved(&|m| requests(m, "other", "404")), 1.0);
    assert_eq!(moved(&|m| decisions(m, "allow", "none")), 1.0);
    assert_eq!(
        moved(&|m| decisions(m, "deny", "inventory.purpose_not_allowed")),
        1.0
    );
    assert_eq!(
        moved(&|m| m.value("loopgate_transfer_bytes_total", &[])),
        1000.0
    );
    // Decision, outcome, decision: three records, three timed appends.
    assert_eq!(moved(&|m| m.value("loopgate_log_records", &[])), 3.0);
    assert_eq!(
        moved(&|m| m.value("loopgate_log_append_seconds_count", &[])),
        3.0
    );
    // Each batch is observed once; the three records were in batches of their own or shared.
    assert_eq!(
        moved(&|m| m.value("loopgate_log_batch_records_sum", &[])),
        3.0
    );
    assert_eq!(after.value("loopgate_transfers_in_flight", &[]), 0.0);
    assert_eq!(after.value("loopgate_log_available", &[]), 1.0);
    let age = after.value("loopgate_checkpoint_age_seconds", &[]);
    assert!((0.0..60.0).contains(&age), "checkpoint age {age}");

    // Bounded labels: no raw path, transfer id or principal in any label.
    for family in after.families.values() {
        for sample in &family.samples {
            for value in sample.labels.values() {
                assert!(
                    !value.contains("a1b2")
                        && !value.contains("secret")
                        && !value.contains("sz-genomics"),
                    "unbounded label in {sample:?}"
                );
            }
        }
    }

    // Certificate expiry: the dev server certificate's notAfter, a year from now.
    let server_pem = gw.pki("server.pem").display().to_string();
    let expiry = after.value(
        "loopgate_certificate_expiry_timestamp_seconds",
        &[("kind", "server"), ("file", &server_pem)],
    );
    let now = loopgate::Clock::system().now().unix_timestamp() as f64;
    assert!(
        expiry > now + 300.0 * 86_400.0 && expiry < now + 370.0 * 86_400.0,
        "server certificate expiry {expiry}, now {now}"
    );

    // `/readyz` names the policy version in force.
    let (status, ready) = gw.ops_get("/readyz");
    assert_eq!(status, 200);
    let version = after.value("loopgate_policy_version", &[]);
    assert_eq!(ready.trim(), format!("ready: policy version {version}"));
}

#[test]
fn a_slow_transfer_shows_in_flight() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    std::thread::scope(|s| {
        let sending = s.spawn(|| {
            sz.post_transfer()
                .non_personal()
                .slow(["a", "b", "c", "d"], Duration::from_millis(300))
                .send()
        });
        eventually(Duration::from_secs(5), || {
            (gw.metrics().value("loopgate_transfers_in_flight", &[]) == 1.0).then_some(())
        })
        .expect("the transfer shows as in flight");
        assert_eq!(sending.join().unwrap().status, 201);
    });
    assert_eq!(gw.metrics().value("loopgate_transfers_in_flight", &[]), 0.0);
    assert_eq!(
        gw.metrics().value("loopgate_transfer_bytes_total", &[]),
        4.0
    );
}
