//! Lifecycle events end to end (SPEC.md section 3, RULES.md 20 and 21): the recipient reports
//! `stored`, `accessed` (with its `project`), `destroyed` (with `method` and
//! `certificate_sha256`), each with the time it happened; each is a logged `lifecycle` record
//! with a verifiable receipt. The sender, strangers and other roles are refused unlogged; rule
//! 20's refusals (an event on an undelivered transfer or after `destroyed`, a time before the
//! transfer completed or ahead of the clock, missing evidence) are logged with their codes and
//! change nothing. Two concurrent `destroyed` give one 201 and one 409; a transfer past its
//! retention period with no `destroyed` is listed as overdue (the clock moved by
//! `[clock] offset_days` across restarts, not by sleeping).

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use loopgate_tests::client::Client;
use loopgate_tests::event::{self, CERTIFICATE_SHA256};
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::assert_verifies;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// One gateway for the tests that only add transfers of their own.
fn gw() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| {
        let gw = Gateway::dev().start();
        gw.issue_cert("tenant", "stranger");
        gw
    })
}

/// A completed non-personal transfer from `sz-genomics` to `hk-biolab`: its id.
fn delivered(gw: &Gateway) -> String {
    let r = Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"qc run: all sensors nominal"[..])
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["transfer_id"].as_str().unwrap().to_owned()
}

/// A valid body for event `name`, happening now.
fn event(name: &str) -> String {
    event::valid(name)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[test]
fn the_recipient_reports_stored_accessed_destroyed_and_each_is_a_verifiable_record() {
    let gw = gw();
    let id = delivered(gw);
    let hk = Client::tenant(gw, "hk-biolab");
    // `at` in Hong Kong time: the record and the view carry it in UTC.
    let local = loopgate::Clock::system()
        .now()
        .to_offset(UtcOffset::from_hms(8, 0, 0).unwrap());
    let bodies = [
        json!({"event": "stored", "at": rfc3339(local), "note": "freezer 3, rack B"}),
        event::body("accessed"),
        json!({"event": "destroyed", "at": event::now(), "note": "wiped",
               "method": "crypto-shredded", "certificate_sha256": CERTIFICATE_SHA256}),
    ];
    let mut indexes = Vec::new();
    for (body, name) in bodies.iter().zip(["stored", "accessed", "destroyed"]) {
        let r = hk.post_event(&id, &body.to_string());
        assert_eq!(r.status, 201, "{name}: {}", r.text());
        let receipt = r.json();
        assert_eq!(
            loopgate_tests::json_keys(&receipt),
            [
                "checkpoint",
                "inclusion_proof",
                "leaf",
                "leaf_hash",
                "log_index",
                "record",
                "transfer_id"
            ]
        );
        let record = &receipt["record"];
        assert_eq!(record["kind"], "lifecycle");
        assert_eq!(record["event"], name);
        assert_eq!(record["transfer_id"], id.as_str());
        assert_eq!(record["sender"], "sz-genomics");
        assert_eq!(record["recipient"], "hk-biolab");
        assert_eq!(record["item"], "INV-NP-001");
        assert_eq!(record["principal"], "tenant/hk-biolab");
        assert_eq!(record["data_class"], "non_personal");
        assert_eq!(record["hgr"], false);
        assert!(record.get("reason").is_none(), "accepted: {record}");
        for key in ["project", "method", "certificate_sha256"] {
            assert_eq!(record.get(key), body.get(key), "{name}: {key}");
        }
        assert_verifies(&receipt, &gw.log_pub_path());
        indexes.push(receipt["log_index"].as_u64().unwrap());
    }
    let view = hk.get_transfer(&id).json();
    let events: Vec<(&str, u64)> = view["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["log_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("stored", indexes[0]),
            ("accessed", indexes[1]),
            ("destroyed", indexes[2])
        ]
    );
    assert_eq!(
        view["lifecycle"][0]["reported_at"],
        rfc3339(local.to_offset(UtcOffset::UTC)),
        "reported_at is the recipient's `at`, in UTC"
    );
    assert_eq!(view["lifecycle"][0]["note"], bodies[0]["note"]);
    assert_eq!(view["lifecycle"][1]["project"], bodies[1]["project"]);
    assert_eq!(view["lifecycle"][2]["method"], "crypto-shredded");
    assert_eq!(
        view["lifecycle"][2]["certificate_sha256"],
        CERTIFICATE_SHA256
    );
    assert_eq!(view["overdue"], false);
    assert!(view["retention_due"].is_string(), "{view}");
    // The sender sees the same history.
    let seen = Client::tenant(gw, "sz-genomics").get_transfer(&id).json();
    assert_eq!(seen["lifecycle"], view["lifecycle"]);

    // Rule 20: nothing after destroyed; each refusal is logged with its code.
    for name in ["accessed", "stored", "destroyed"] {
        let index = hk
            .post_event(&id, &event(name))
            .assert_error(409, "lifecycle.invalid_transition", true)
            .unwrap();
        let record = &regulator_record(gw, index)["record"];
        assert_eq!(record["event"], name);
        assert_eq!(record["reason"], "lifecycle.invalid_transition");
    }
    let after = hk.get_transfer(&id).json();
    assert_eq!(
        after["lifecycle"], view["lifecycle"],
        "refusals are not events"
    );
}

/// `GET /v1/audit/records/{index}` as the regulator `pcpd`.
fn regulator_record(gw: &Gateway, index: u64) -> Value {
    let r = Client::regulator(gw, "pcpd").get(&format!("/v1/audit/records/{index}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let found = r.json();
    assert_eq!(found["record"]["kind"], "lifecycle", "{found}");
    found
}

#[test]
fn rule_20_refusals_are_logged_with_their_code_and_change_nothing() {
    let gw = gw();
    let id = delivered(gw);
    let hk = Client::tenant(gw, "hk-biolab");
    let completed = hk.get_transfer(&id).json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record"]["kind"] == "outcome")
        .map(|r| r["record"]["time"].as_str().unwrap().to_owned())
        .unwrap();
    let completed = OffsetDateTime::parse(&completed, &Rfc3339).unwrap();
    let before = rfc3339(completed - Duration::seconds(1));
    let ahead = rfc3339(loopgate::Clock::system().now() + Duration::seconds(300 + 120));
    let refused: [(String, u16, &str); 10] = [
        // A `destroyed` dated before the transfer completed.
        (
            event::with("destroyed", json!({"at": before})),
            422,
            "lifecycle.bad_time",
        ),
        (
            event::with("stored", json!({"at": before})),
            422,
            "lifecycle.bad_time",
        ),
        // Ahead of the gateway's clock by more than clock_skew_secs (300).
        (
            event::with("accessed", json!({"at": ahead})),
            422,
            "lifecycle.bad_time",
        ),
        // No time at all: nothing says when it happened.
        (
            event::with("stored", json!({"at": null})),
            422,
            "lifecycle.missing_evidence",
        ),
        (
            event::with("accessed", json!({"project": null})),
            422,
            "lifecycle.missing_evidence",
        ),
        (
            event::with("accessed", json!({"project": "  "})),
            422,
            "lifecycle.missing_evidence",
        ),
        (
            event::with("destroyed", json!({"method": null})),
            422,
            "lifecycle.missing_evidence",
        ),
        (
            event::with("destroyed", json!({"certificate_sha256": null})),
            422,
            "lifecycle.missing_evidence",
        ),
        (
            event::with("destroyed", json!({"certificate_sha256": "abc123"})),
            422,
            "lifecycle.missing_evidence",
        ),
        (
            event::with("destroyed", json!({"certificate_sha256": "z".repeat(64)})),
            422,
            "lifecycle.missing_evidence",
        ),
    ];
    for (body, status, code) in &refused {
        let r = hk.post_event(&id, body);
        let index = r.assert_error(*status, code, true).unwrap();
        let found = regulator_record(gw, index);
        let record = &found["record"];
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(record["reason"], *code, "{body}");
        assert_eq!(record["event"], sent["event"]);
        assert_eq!(record["transfer_id"], id.as_str());
        assert_eq!(record["principal"], "tenant/hk-biolab");
        assert!(
            r.json()["message"].as_str().unwrap().contains("rule 20"),
            "{}",
            r.text()
        );
    }
    // None of them is an event: the view lists none, the transfer is not closed, and a
    // well-evidenced `destroyed` a moment after completion is accepted.
    let view = hk.get_transfer(&id).json();
    assert_eq!(view["lifecycle"], json!([]), "{view}");
    let at_completion = rfc3339(completed);
    let r = hk.post_event(&id, &event::with("destroyed", json!({"at": at_completion})));
    assert_eq!(
        r.status,
        201,
        "`at` equal to completion is allowed: {}",
        r.text()
    );
    // Within the allowed skew ahead of the clock is allowed too (the transfer is closed now,
    // so a second transfer takes it).
    let second = delivered(gw);
    let soon = rfc3339(loopgate::Clock::system().now() + Duration::seconds(120));
    let r = hk.post_event(&second, &event::with("stored", json!({"at": soon})));
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn only_the_recipient_reports_and_strangers_are_refused_as_get_refuses_them() {
    let gw = gw();
    let id = delivered(gw);
    Client::tenant(gw, "sz-genomics")
        .post_event(&id, &event("stored"))
        .assert_error(403, "auth.forbidden", false);
    // To a stranger the transfer does not exist, as GET answers it.
    Client::tenant(gw, "stranger")
        .post_event(&id, &event("stored"))
        .assert_error(404, "request.not_found", false);
    Client::tenant(gw, "stranger")
        .get_transfer(&id)
        .assert_error(404, "request.not_found", false);
    let unknown = "0123456789abcdef0123456789abcdef";
    Client::tenant(gw, "hk-biolab")
        .post_event(unknown, &event("stored"))
        .assert_error(404, "request.not_found", false);
    Client::tenant(gw, "hk-biolab")
        .post_event("not-an-id", &event("stored"))
        .assert_error(404, "request.not_found", false);
    for role in [
        Client::regulator(gw, "pcpd"),
        Client::principal(gw, "admin", "park-ops"),
    ] {
        role.post_event(&id, &event("stored"))
            .assert_error(403, "auth.forbidden", false);
    }
    let r = Client::tenant(gw, "hk-biolab").get(&format!("/v1/transfers/{id}/events"));
    r.assert_error(405, "request.method_not_allowed", false);
    // None of these was logged: the transfer still has no lifecycle event.
    let view = Client::tenant(gw, "hk-biolab").get_transfer(&id).json();
    assert_eq!(view["lifecycle"], serde_json::json!([]));
}

#[test]
fn a_denied_transfer_has_no_lifecycle() {
    let gw = gw();
    let r = Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .set("Loop-Purpose", "marketing")
        .body(&b"x"[..])
        .send();
    let index = r
        .assert_error(403, "inventory.purpose_not_allowed", true)
        .unwrap();
    let record = Client::regulator(gw, "pcpd")
        .get(&format!("/v1/audit/records/{index}"))
        .json();
    let id = record["record"]["transfer_id"].as_str().unwrap();
    let refused = Client::tenant(gw, "hk-biolab")
        .post_event(id, &event("stored"))
        .assert_error(409, "lifecycle.invalid_transition", true)
        .unwrap();
    assert_eq!(
        regulator_record(gw, refused)["record"]["reason"],
        "lifecycle.invalid_transition"
    );
}

#[test]
fn malformed_event_bodies_are_refused_with_400_and_oversized_ones_with_413() {
    let gw = gw();
    let id = delivered(gw);
    let hk = Client::tenant(gw, "hk-biolab");
    let long = "n".repeat(1025);
    let huge = event::with("stored", json!({"note": " ".repeat(17 * 1024)}));
    let bodies = [
        String::new(),
        "{".to_owned(),
        event::with("archived", json!({})),
        event::with("stored", json!({"at": "25/11/2026"})),
        event::with("stored", json!({"at": "2026-11-25T08:00:00"})),
        event::with("stored", json!({"at": 1764057600})),
        event::with("stored", json!({"who": "me"})),
        event::with("stored", json!({"event": null})),
        event::with("stored", json!({"note": long})),
        event::with("accessed", json!({"project": long})),
        event::with("destroyed", json!({"method": long})),
        event::with("destroyed", json!({"certificate_sha256": 42})),
    ];
    for body in &bodies {
        let r = hk.post_event(&id, body);
        r.assert_error(400, "request.malformed_body", false);
    }
    // A body over the endpoint's 16 KiB is refused as every whole-body endpoint refuses one.
    hk.post_event(&id, &huge)
        .assert_error(413, "request.body_too_large", false);
    // Still nothing logged, and a good event is accepted afterwards.
    assert_eq!(hk.post_event(&id, &event("stored")).status, 201);
}

#[test]
fn two_concurrent_destroyed_events_one_is_accepted_the_other_refused() {
    let gw = gw();
    for _ in 0..4 {
        let id = delivered(gw);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let id = id.clone();
                    scope.spawn(move || {
                        Client::tenant(gw, "hk-biolab")
                            .post_event(&id, &event("destroyed"))
                            .status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(sorted, [201, 409], "{statuses:?}");
        let view = Client::tenant(gw, "hk-biolab").get_transfer(&id).json();
        assert_eq!(view["lifecycle"].as_array().unwrap().len(), 1);
    }
}

/// The overdue list as (transfer id, due) pairs.
fn overdue(gw: &Gateway) -> Vec<(String, String)> {
    let r = Client::regulator(gw, "pcpd").get("/v1/audit/retention/overdue");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert!(body["as_of"].is_string());
    body["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["transfer_id"].as_str().unwrap().to_owned(),
                t["due"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_transfer_past_its_retention_without_destroyed_is_overdue_until_destroyed() {
    const DAYS: i64 = 3;
    let days = DAYS.to_string();
    let gw = Gateway::dev()
        .policy(move |bundle| {
            bundle.edit_after(
                "id = \"INV-NP-001\"",
                "retention_days = 365",
                &format!("retention_days = {days}"),
            )
        })
        .start();
    let kept = delivered(&gw);
    let destroyed = delivered(&gw);
    let hk = Client::tenant(&gw, "hk-biolab");
    assert_eq!(hk.post_event(&kept, &event("stored")).status, 201);
    assert_eq!(hk.post_event(&destroyed, &event("destroyed")).status, 201);
    assert!(overdue(&gw).is_empty());

    // A day before the deadline: nothing is overdue (the views are rebuilt from the log).
    let gw = Gateway::resume(gw.stop())
        .config(|c| c.set("clock", "offset_days", DAYS - 1))
        .start();
    assert!(overdue(&gw).is_empty());
    assert_eq!(
        Client::tenant(&gw, "hk-biolab").get_transfer(&kept).json()["overdue"],
        false
    );

    // A day after: the transfer that was only stored is overdue, the destroyed one is not.
    let gw = Gateway::resume(gw.stop())
        .config(|c| c.set("clock", "offset_days", DAYS + 1))
        .start();
    assert!(
        gw.stderr_once(|s| s.contains("offset_days"))
            .contains("offset_days"),
        "a shifted clock is logged"
    );
    let listed = overdue(&gw);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, kept);
    let r = Client::regulator(&gw, "pcpd").get("/v1/audit/retention/overdue");
    let entry = &r.json()["transfers"][0];
    assert_eq!(entry["sender"], "sz-genomics");
    assert_eq!(entry["recipient"], "hk-biolab");
    assert_eq!(entry["inventory_item"], "INV-NP-001");
    assert_eq!(entry["retention_days"], DAYS);
    let outcome = entry["outcome_log_index"].as_u64().unwrap();
    let record = Client::regulator(&gw, "pcpd")
        .get(&format!("/v1/audit/records/{outcome}"))
        .json();
    assert_eq!(record["record"]["outcome"], "completed");
    assert_eq!(record["record"]["transfer_id"], kept.as_str());
    assert_eq!(entry["received"], record["record"]["time"]);
    let view = Client::tenant(&gw, "hk-biolab").get_transfer(&kept).json();
    assert_eq!(view["overdue"], true);
    assert_eq!(view["retention_due"], listed[0].1.as_str());

    // Destroyed now: it leaves the list at once (the view follows each append).
    let hk = Client::tenant(&gw, "hk-biolab");
    assert_eq!(hk.post_event(&kept, &event("destroyed")).status, 201);
    assert!(overdue(&gw).is_empty());
    assert_eq!(hk.get_transfer(&kept).json()["overdue"], false);
}
