//! Rule 19 across transfers (RULES.md): routes other than `gba_sc` are held to the Mainland
//! thresholds counted per the sender's legal entity over the year, across all its tenants'
//! admitted transfers and across restarts (the counters are rebuilt from the log under the
//! bundle in force, so a tenant moved to another legal entity takes its subjects along); the
//! GBA route has no cap.

#![allow(clippy::unwrap_used)]

use http::Method;
use loopgate_tests::client::{Client, Response, TestBody};
use loopgate_tests::gateway::{Bundle, Gateway};
use serde_json::{Value, json};

fn national(gw: &Gateway, subjects: u64) -> Response {
    Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .personal(subjects)
        .set("Loop-Contract-Filing", "NSC-DEMO-002")
        .body("rows")
        .send()
}

#[test]
fn the_year_count_reaches_the_assessment_threshold_and_survives_a_restart() {
    let gw = Gateway::dev()
        .policy(|bundle: Bundle| {
            bundle.copy_block(
                "reference = \"GBA-SC-DEMO-001\"",
                &[
                    ("GBA-SC-DEMO-001", "NSC-DEMO-002"),
                    ("route = \"gba_sc\"", "route = \"national_sc\""),
                ],
            )
        })
        .start();
    // threshold_assessment is 1,000,000 in the dev bundle: reaching it needs an assessment.
    assert_eq!(national(&gw, 600_000).status, 201);
    national(&gw, 400_000).assert_error(403, "volume.route_insufficient", true);
    assert_eq!(national(&gw, 399_999).status, 201, "999,999 is below it");

    let gw = gw.restart();
    national(&gw, 1).assert_error(403, "volume.route_insufficient", true);
    // The GBA Standard Contract route has no head-count cap.
    let r = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .personal(1_000_000)
        .body("rows")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(gw.received().len(), 3);
}

/// The dev bundle with a second tenant of sz-genomics's legal entity, `sz-cellbank`, each with
/// a personal item and a national_sc filing of its own.
fn one_entity_two_tenants(bundle: Bundle) -> Bundle {
    bundle
        .copy_block(
            "id = \"sz-genomics\"",
            &[("id = \"sz-genomics\"", "id = \"sz-cellbank\"")],
        )
        .copy_block(
            "id = \"INV-PI-001\"",
            &[
                ("INV-PI-001", "INV-PI-CB"),
                ("owner = \"sz-genomics\"", "owner = \"sz-cellbank\""),
            ],
        )
        .copy_block(
            "reference = \"GBA-SC-DEMO-001\"",
            &[
                ("GBA-SC-DEMO-001", "NSC-DEMO-002"),
                ("route = \"gba_sc\"", "route = \"national_sc\""),
            ],
        )
        .copy_block(
            "reference = \"GBA-SC-DEMO-001\"",
            &[
                ("GBA-SC-DEMO-001", "NSC-CB-003"),
                ("route = \"gba_sc\"", "route = \"national_sc\""),
                ("processor = \"sz-genomics\"", "processor = \"sz-cellbank\""),
            ],
        )
}

fn cellbank(gw: &Gateway, subjects: u64) -> Response {
    Client::tenant(gw, "sz-cellbank")
        .post_transfer()
        .personal(subjects)
        .set("Loop-Inventory-Item", "INV-PI-CB")
        .set("Loop-Contract-Filing", "NSC-CB-003")
        .body("rows")
        .send()
}

/// The counters as (legal entity, tenants, route, subjects).
fn counters(gw: &Gateway) -> Vec<(String, Value, String, u64)> {
    let r = Client::regulator(gw, "pcpd").get("/v1/audit/counters");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["legal_entity"].as_str().unwrap().to_owned(),
                c["tenants"].clone(),
                c["route"].as_str().unwrap().to_owned(),
                c["subjects"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_legal_entitys_tenants_count_together_and_a_moved_tenant_takes_its_subjects_along() {
    let gw = Gateway::dev().policy(one_entity_two_tenants).start();
    gw.issue_cert("tenant", "sz-cellbank");
    assert_eq!(national(&gw, 600_000).status, 201);
    // The other tenant of the same legal entity: the entity's year count is what counts.
    cellbank(&gw, 400_000).assert_error(403, "volume.route_insufficient", true);
    let r = cellbank(&gw, 399_999);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    let decision = Client::tenant(&gw, "sz-cellbank").decision_of(&id);
    assert_eq!(decision["legal_entity"], "sz-genomics");
    assert_eq!(
        counters(&gw),
        [(
            "sz-genomics".to_owned(),
            json!(["sz-cellbank", "sz-genomics"]),
            "national_sc".to_owned(),
            999_999
        )]
    );

    // sz-cellbank becomes a legal person of its own: its subjects leave sz-genomics's count.
    let admin = Client::principal(&gw, "admin", "park-ops");
    let in_force = admin.get("/v1/admin/policy").text();
    let moved = Bundle(in_force)
        .edit_after(
            "id = \"sz-cellbank\"",
            "legal_entity = \"sz-genomics\"",
            "legal_entity = \"sz-cellbank-ltd\"",
        )
        .0;
    let put = admin.request(
        admin
            .builder(Method::PUT, "/v1/admin/policy")
            .header("content-type", "application/toml")
            .body(TestBody::bytes(moved))
            .unwrap(),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let split = [
        (
            "sz-cellbank-ltd".to_owned(),
            json!(["sz-cellbank"]),
            "national_sc".to_owned(),
            399_999,
        ),
        (
            "sz-genomics".to_owned(),
            json!(["sz-genomics"]),
            "national_sc".to_owned(),
            600_000,
        ),
    ];
    assert_eq!(counters(&gw), split);
    // Each is now held to its own count.
    assert_eq!(cellbank(&gw, 600_000).status, 201);
    national(&gw, 400_000).assert_error(403, "volume.route_insufficient", true);

    // Rebuilt from the log after a restart, under the bundle in force.
    let gw = gw.restart();
    let rows = counters(&gw);
    assert_eq!(rows[0].3, 999_999, "{rows:?}");
    assert_eq!(rows[1], split[1]);
}
