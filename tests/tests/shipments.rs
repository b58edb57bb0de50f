//! Shipments of samples end to end (SPEC.md section 3, RULES.md S1-S12), through the real binary
//! with the sender's, the carrier's, the recipient's and regulators' certificates: a whole chain
//! to `closed` with every receipt verified three ways (in process, the CLI, Go); every step out
//! of order (409) and by the wrong party (403), both logged; missing evidence and bad times
//! (422); discrepancies flagged and listed, never refused; an overdue handover under a shifted
//! clock; chains that survive a restart and a deleted index; regulators' scopes; declarations
//! decided like transfers, with idempotency keys; bad input refused before anything is logged.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::{Client, Response};
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::assert_verifies;
use loopgate_tests::shipment::{self, CHAIN, EVENTS, QUANTITY, declaration, step, with};
use serde_json::{Value, json};

struct Parties {
    sender: Client,
    carrier: Client,
    recipient: Client,
    regulator: Client,
}

impl Parties {
    fn of(gw: &Gateway) -> Self {
        Self {
            sender: Client::tenant(gw, "sz-genomics"),
            carrier: Client::carrier(gw, "hkp-logistics"),
            recipient: Client::tenant(gw, "hk-biolab"),
            regulator: Client::regulator(gw, "pcpd"),
        }
    }

    /// The client of `party` (`sender`, `carrier` or `recipient`).
    fn as_party(&self, party: &str) -> &Client {
        match party {
            "sender" => &self.sender,
            "carrier" => &self.carrier,
            _ => &self.recipient,
        }
    }

    /// Step `body` of shipment `id`, reported by the party whose step it is.
    fn report(&self, id: &str, body: &Value) -> Response {
        let event = body["event"].as_str().unwrap();
        self.as_party(shipment::party(event)).custody(id, body)
    }

    /// Declares the dev shipment; its id.
    fn declare(&self) -> String {
        let response = self.sender.declare(&declaration());
        assert_eq!(response.status, 201, "{}", response.text());
        response.json()["shipment_id"].as_str().unwrap().to_owned()
    }

    /// Declares and takes the shipment through `steps`.
    fn declare_through(&self, steps: &[&str]) -> String {
        let id = self.declare();
        for event in steps {
            let response = self.report(&id, &step(event));
            assert_eq!(response.status, 201, "{event}: {}", response.text());
        }
        id
    }

    fn log_size(&self) -> u64 {
        let text = self.regulator.get("/v1/audit/checkpoint").text();
        text.lines().nth(1).unwrap().parse().unwrap()
    }
}

#[test]
fn a_whole_chain_closes_and_every_receipt_verifies() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let declared = p.sender.clone().http2().declare(&declaration());
    assert_eq!(declared.status, 201, "{}", declared.text());
    let receipt = declared.json();
    assert_verifies(&receipt, &gw.log_pub_path());
    let id = receipt["shipment_id"].as_str().unwrap().to_owned();
    let record = &receipt["record"];
    assert_eq!(record["kind"], "shipment");
    assert_eq!(record["decision"], "allow");
    assert_eq!(record["shipment_id"], id.as_str());
    assert_eq!(record["sample_item"], "SMP-BLOOD-001");
    assert_eq!(record["carrier"], "hkp-logistics");
    assert_eq!(record["hgr_approvals"], json!(["HGR-EX-DEMO-001"]));
    assert_eq!(record["rule"], Value::Null);

    let mut holders = Vec::new();
    for event in CHAIN {
        let response = p.report(&id, &step(event));
        assert_eq!(response.status, 201, "{event}: {}", response.text());
        let receipt = response.json();
        assert_verifies(&receipt, &gw.log_pub_path());
        assert_eq!(receipt["shipment_id"], id.as_str());
        assert_eq!(receipt["flags"], json!([]), "{event}");
        assert_eq!(receipt["record"]["kind"], "custody");
        assert_eq!(receipt["record"]["event"], event);
        assert_eq!(receipt["record"]["reason"], Value::Null);
        let view = p.sender.get(&format!("/v1/shipments/{id}")).json();
        holders.push((view["holder"].clone(), view["quantity_held"].clone()));
    }
    assert_eq!(
        holders,
        [
            (json!("sender"), json!(QUANTITY)),
            (json!("carrier"), json!(QUANTITY)),
            (json!("carrier"), json!(QUANTITY)),
            (json!("carrier"), json!(QUANTITY)),
            (json!("recipient"), json!(QUANTITY)),
            (json!("recipient"), json!(QUANTITY)),
            (json!("recipient"), json!(QUANTITY - 4)),
            (Value::Null, json!(0)),
        ]
    );

    // Its three parties see the closed chain; anyone else is refused.
    for client in [&p.sender, &p.carrier, &p.recipient] {
        let view = client.get(&format!("/v1/shipments/{id}"));
        assert_eq!(view.status, 200, "{}", view.text());
        let view = view.json();
        assert_eq!(view["status"], "closed");
        assert_eq!(view["quantity_held"], 0);
        assert_eq!(view["quantity_received"], QUANTITY);
        assert_eq!(view["custody"].as_array().unwrap().len(), CHAIN.len());
        assert_eq!(view["records"].as_array().unwrap().len(), CHAIN.len() + 1);
        assert_eq!(view["next_events"], json!([]));
        assert_verifies(&view["receipt"], &gw.log_pub_path());
    }
    let (cert, key) = gw.issue_cert("tenant", "hk-otherlab");
    let stranger = Client::with_cert(&gw, &cert, &key).get(&format!("/v1/shipments/{id}"));
    stranger.assert_error(403, "auth.forbidden", false);
    let (cert, key) = gw.issue_cert("carrier", "other-logistics");
    let other_carrier = Client::with_cert(&gw, &cert, &key);
    other_carrier
        .get(&format!("/v1/shipments/{id}"))
        .assert_error(403, "auth.forbidden", false);
    other_carrier
        .custody(&id, &step("picked_up"))
        .assert_error(403, "auth.forbidden", false);

    // The regulator finds the chain by shipment and by sample item; a closed chain without a
    // discrepancy has left the list of shipments under way.
    let page = p
        .regulator
        .get(&format!("/v1/audit/records?shipment={id}"))
        .json();
    let kinds: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), CHAIN.len() + 1);
    assert_eq!(kinds[0], "shipment");
    assert!(kinds[1..].iter().all(|k| *k == "custody"), "{kinds:?}");
    let by_item = p
        .regulator
        .get("/v1/audit/records?sample_item=SMP-BLOOD-001&kind=custody")
        .json();
    assert_eq!(by_item["records"].as_array().unwrap().len(), CHAIN.len());
    let listed = p.regulator.get("/v1/audit/shipments").json();
    assert_eq!(listed["shipments"], json!([]), "{listed}");
    // A closed shipment takes no further step.
    p.recipient
        .custody(&id, &step("used"))
        .assert_error(409, "custody.invalid_transition", true);
    // The operator's view: one declaration allowed, each step accepted once, the refusal.
    let metrics = gw.metrics();
    let allowed = [("decision", "allow"), ("reason", "none")];
    assert_eq!(
        metrics.value("loopgate_shipment_decisions_total", &allowed),
        1.0
    );
    for event in CHAIN {
        let accepted = [("event", event), ("result", "accepted")];
        assert_eq!(
            metrics.value("loopgate_custody_steps_total", &accepted),
            1.0,
            "{event}"
        );
    }
    let refused = [("event", "used"), ("result", "custody.invalid_transition")];
    assert_eq!(metrics.value("loopgate_custody_steps_total", &refused), 1.0);
}

#[test]
fn out_of_order_steps_and_wrong_parties_are_refused_and_logged() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let id = p.declare();
    // Before `sealed`, every other step is out of order, each refused and logged.
    for event in &EVENTS[1..] {
        let before = p.log_size();
        let response = p.report(&id, &step(event));
        let index = response.assert_error(409, "custody.invalid_transition", true);
        assert_eq!(response.json()["shipment_id"], id.as_str());
        assert_eq!(p.log_size(), before + 1, "{event}");
        let logged = p
            .regulator
            .get(&format!("/v1/audit/records/{}", index.unwrap()))
            .json();
        assert_eq!(logged["record"]["kind"], "custody");
        assert_eq!(logged["record"]["event"], *event);
        assert_eq!(logged["record"]["reason"], "custody.invalid_transition");
    }
    // Each step reported by a party whose step it is not: 403, logged.
    for event in EVENTS {
        for party in ["sender", "carrier", "recipient"] {
            if party == shipment::party(event) {
                continue;
            }
            let response = p.as_party(party).custody(&id, &step(event));
            response.assert_error(403, "auth.forbidden", true);
        }
    }
    // Skipping a step: after `sealed`, `border_cleared` before `picked_up`.
    p.report(&id, &step("sealed"));
    let skipped = p.report(&id, &step("border_cleared"));
    skipped.assert_error(409, "custody.invalid_transition", true);
    assert!(
        skipped.json()["message"]
            .as_str()
            .unwrap()
            .contains("picked_up"),
        "{}",
        skipped.text()
    );
    // Twice the same handover.
    p.report(&id, &step("picked_up"));
    p.report(&id, &step("picked_up"))
        .assert_error(409, "custody.invalid_transition", true);
    // Nothing refused changed the chain.
    let view = p.sender.get(&format!("/v1/shipments/{id}")).json();
    assert_eq!(view["last_event"], "picked_up");
    assert_eq!(view["holder"], "carrier");
    // The regulators' list, kept apart from the log reads, says the same.
    let listed = p.regulator.get("/v1/audit/shipments").json();
    let entry = &listed["shipments"][0];
    for key in [
        "status",
        "holder",
        "quantity_held",
        "last_event",
        "next_events",
        "flags",
    ] {
        assert_eq!(entry[key], view[key], "{key}: {entry}");
    }
    // An unknown shipment.
    p.sender
        .custody("00112233445566778899aabbccddeeff", &step("sealed"))
        .assert_error(404, "request.not_found", false);
}

#[test]
fn missing_evidence_and_bad_times_are_refused_with_422() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let id = p.declare();
    let hour_ahead = (loopgate::Clock::system().now() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let day_before = (loopgate::Clock::system().now() - time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (case, body, code) in [
        (
            "no seals",
            with(step("sealed"), json!({"seal_ids": null})),
            "custody.missing_evidence",
        ),
        (
            "an empty list",
            with(step("sealed"), json!({"seal_ids": []})),
            "custody.missing_evidence",
        ),
        (
            "a blank seal",
            with(step("sealed"), json!({"seal_ids": ["  "]})),
            "custody.missing_evidence",
        ),
        (
            "no at",
            with(step("sealed"), json!({"at": null})),
            "custody.missing_evidence",
        ),
        (
            "an hour ahead",
            with(step("sealed"), json!({"at": hour_ahead})),
            "custody.bad_time",
        ),
        (
            "before the declaration",
            with(step("sealed"), json!({"at": day_before})),
            "custody.bad_time",
        ),
    ] {
        p.sender
            .custody(&id, &body)
            .assert_error(422, code, true)
            .unwrap_or_else(|| panic!("{case}"));
    }
    let id = p.declare_through(&CHAIN[..6]);
    for (event, field) in [
        ("used", "project"),
        ("used", "quantity"),
        ("destroyed", "method"),
        ("destroyed", "certificate_sha256"),
    ] {
        p.recipient
            .custody(&id, &with(step(event), json!({ field: null })))
            .assert_error(422, "custody.missing_evidence", true);
    }
    p.recipient
        .custody(
            &id,
            &with(step("destroyed"), json!({"certificate_sha256": "abc"})),
        )
        .assert_error(422, "custody.missing_evidence", true);
    p.recipient
        .custody(&id, &with(step("used"), json!({"quantity": 0})))
        .assert_error(422, "custody.missing_evidence", true);
}

#[test]
fn discrepancies_are_flagged_on_their_records_and_listed_never_refused() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let id = p.declare_through(&CHAIN[..1]);
    let resealed = with(
        step("picked_up"),
        json!({"seal_ids": ["SEAL-0001", "SEAL-9999"]}),
    );
    let flags = |r: Response| {
        assert_eq!(r.status, 201, "{}", r.text());
        let receipt = r.json();
        assert_eq!(receipt["record"]["flags"], receipt["flags"]);
        receipt["flags"].clone()
    };
    assert_eq!(
        flags(p.carrier.custody(&id, &resealed)),
        json!(["seal_mismatch"])
    );
    assert_eq!(flags(p.report(&id, &step("border_cleared"))), json!([]));
    assert_eq!(flags(p.report(&id, &step("delivered"))), json!([]));
    let short = with(step("received"), json!({"quantity": 20}));
    assert_eq!(
        flags(p.recipient.custody(&id, &short)),
        json!(["quantity_mismatch"])
    );
    let elsewhere = with(step("stored"), json!({"facility": "HKP-COLDROOM-9"}));
    assert_eq!(
        flags(p.recipient.custody(&id, &elsewhere)),
        json!(["facility_mismatch"])
    );
    let too_many = with(step("used"), json!({"quantity": 21}));
    assert_eq!(
        flags(p.recipient.custody(&id, &too_many)),
        json!(["over_consumed"])
    );

    let view = p.sender.get(&format!("/v1/shipments/{id}")).json();
    assert_eq!(
        view["status"], "closed",
        "over-consumption leaves nothing held: {view}"
    );
    assert_eq!(
        view["flags"],
        json!([
            "seal_mismatch",
            "quantity_mismatch",
            "facility_mismatch",
            "over_consumed"
        ])
    );
    // A clean shipment under way is open, not a discrepancy.
    let clean = p.declare_through(&CHAIN[..2]);
    let list = |status: &str| -> Vec<String> {
        p.regulator
            .get(&format!("/v1/audit/shipments?status={status}"))
            .json()["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["shipment_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(list("discrepancy"), [id.as_str()]);
    assert_eq!(list("open"), [clean.as_str()]);
    let all = p.regulator.get("/v1/audit/shipments").json();
    let listed = &all["shipments"][0];
    assert_eq!(listed["shipment_id"], id.as_str());
    assert_eq!(listed["status"], "closed");
    assert_eq!(listed["flags"], view["flags"]);
    p.regulator
        .get("/v1/audit/shipments?status=lost")
        .assert_error(400, "request.malformed_query", false);
}

#[test]
fn an_overdue_handover_is_listed_and_chains_survive_a_restart_and_a_deleted_index() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let sealed = p.declare_through(&CHAIN[..1]);
    let stored = p.declare_through(&CHAIN[..6]);
    assert!(
        p.regulator.get("/v1/audit/shipments?status=overdue").json()["shipments"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    drop(p);

    // Three days on (custody_handover_hours is 48), with the index deleted: rebuilt from the log.
    let folder = gw.stop();
    std::fs::remove_dir_all(folder.path().join("data/index")).unwrap();
    let gw = Gateway::resume(folder)
        .config(|c| c.set("clock", "offset_days", 3))
        .start();
    let p = Parties::of(&gw);
    let overdue = p.regulator.get("/v1/audit/shipments?status=overdue").json();
    let overdue = overdue["shipments"].as_array().unwrap();
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0]["shipment_id"], sealed.as_str());
    assert_eq!(overdue[0]["overdue"]["kind"], "handover");
    assert_eq!(overdue[0]["holder"], "sender");
    // Stored samples wait for no handover: the second shipment is open, not overdue.
    let open = p.regulator.get("/v1/audit/shipments?status=open").json();
    assert_eq!(open["shipments"][0]["shipment_id"], stored.as_str());
    let view = p.sender.get(&format!("/v1/shipments/{sealed}")).json();
    assert_eq!(view["status"], "overdue");
    assert_eq!(view["custody"].as_array().unwrap().len(), 1);
    // The chain goes on where it stopped, at the shifted clock's now.
    let now = (loopgate::Clock::system().now() + time::Duration::days(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let picked = with(step("picked_up"), json!({ "at": now }));
    assert_eq!(p.carrier.custody(&sealed, &picked).status, 201);
    let view = p.sender.get(&format!("/v1/shipments/{sealed}")).json();
    assert_eq!(view["status"], "open", "{view}");
    assert_eq!(view["holder"], "carrier");
    let used = with(step("used"), json!({ "at": now }));
    assert_eq!(p.recipient.custody(&stored, &used).status, 201);
    assert_eq!(
        p.sender.get(&format!("/v1/shipments/{stored}")).json()["quantity_held"],
        QUANTITY - 4
    );
}

#[test]
fn regulators_see_shipments_only_within_their_scope() {
    let gw = Gateway::dev()
        .policy(|b| {
            b.append(
                "\n[[regulator]]\nid = \"dpo-data\"\nauthority = \"Digital Policy Office\"\nsees = [\"personal\"]\n\
                 \n[[regulator]]\nid = \"nhc\"\nauthority = \"National Health Commission\"\nsees = [\"hgr\"]\n",
            )
        })
        .start();
    let p = Parties::of(&gw);
    let id = p.declare_through(&CHAIN[..2]);
    let (cert, key) = gw.issue_cert("regulator", "dpo-data");
    let personal = Client::with_cert(&gw, &cert, &key);
    let none = personal
        .get(&format!("/v1/audit/records?shipment={id}"))
        .json();
    assert_eq!(none["records"], json!([]), "{none}");
    let custody = personal.get("/v1/audit/records?kind=custody").json();
    assert_eq!(custody["records"], json!([]));
    personal
        .get("/v1/audit/shipments")
        .assert_error(403, "auth.forbidden", false);
    // The samples are human genetic resources: an HGR-only regulator sees them.
    let (cert, key) = gw.issue_cert("regulator", "nhc");
    let hgr = Client::with_cert(&gw, &cert, &key);
    let seen = hgr.get(&format!("/v1/audit/records?shipment={id}")).json();
    assert_eq!(seen["records"].as_array().unwrap().len(), 3);
    let listed = hgr.get("/v1/audit/shipments").json();
    assert_eq!(listed["shipments"][0]["shipment_id"], id.as_str());
}

#[test]
fn declarations_are_decided_like_transfers_with_logged_denials_and_idempotency_keys() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    for (case, change, code) in [
        (
            "unknown item",
            json!({"sample_item": "SMP-NONE"}),
            "sample.unknown_item",
        ),
        ("zero", json!({"quantity": 0}), "sample.quantity_exceeded"),
        (
            "negative",
            json!({"quantity": -3}),
            "sample.quantity_exceeded",
        ),
        (
            "above max_quantity",
            json!({"quantity": 201}),
            "sample.quantity_exceeded",
        ),
        (
            "purpose",
            json!({"purpose": "marketing"}),
            "sample.purpose_not_allowed",
        ),
        (
            "unknown carrier",
            json!({"carrier": "fly-by-night"}),
            "carrier.not_whitelisted",
        ),
        (
            "recipient",
            json!({"recipient": "sz-genomics"}),
            "recipient.not_in_hk_park",
        ),
    ] {
        let response = p.sender.declare(&with(declaration(), change));
        let index = response
            .assert_error(403, code, true)
            .unwrap_or_else(|| panic!("{case}"));
        let id = response.json()["shipment_id"].as_str().unwrap().to_owned();
        let logged = p
            .regulator
            .get(&format!("/v1/audit/records/{index}"))
            .json();
        assert_eq!(logged["record"]["kind"], "shipment", "{case}");
        assert_eq!(logged["record"]["decision"], "deny");
        assert_eq!(logged["record"]["reason"], code);
        assert!(logged["record"]["rule"].as_str().unwrap().starts_with('S'));
        // A denied declaration starts no chain.
        p.sender.custody(&id, &step("sealed")).assert_error(
            409,
            "custody.invalid_transition",
            true,
        );
        assert_eq!(
            p.sender.get(&format!("/v1/shipments/{id}")).json()["status"],
            "denied"
        );
    }
    // Only a tenant declares.
    p.carrier
        .declare(&declaration())
        .assert_error(403, "auth.forbidden", false);

    // The same key and declaration: the first answer, once in the log.
    let keyed = with(
        declaration(),
        json!({"idempotency_key": "manifest-2026-0042"}),
    );
    let first = p.sender.declare(&keyed);
    assert_eq!(first.status, 201, "{}", first.text());
    let size = p.log_size();
    let again = p.sender.declare(&keyed);
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["shipment_id"], first.json()["shipment_id"]);
    assert_eq!(again.json()["log_index"], first.json()["log_index"]);
    assert_eq!(p.log_size(), size);
    // The same key with another declaration: refused, not logged.
    p.sender
        .declare(&with(keyed.clone(), json!({"quantity": 25})))
        .assert_error(422, "request.idempotency_conflict", false);
    assert_eq!(p.log_size(), size);
    // A denial's key replays the denial; after a restart too.
    let denied_key = with(
        declaration(),
        json!({"quantity": 0, "idempotency_key": "k-denied"}),
    );
    let denied = p
        .sender
        .declare(&denied_key)
        .assert_error(403, "sample.quantity_exceeded", true);
    drop(p);
    let gw = gw.restart();
    let p = Parties::of(&gw);
    let size = p.log_size();
    let replayed = p.sender.declare(&keyed);
    assert_eq!(replayed.json()["shipment_id"], first.json()["shipment_id"]);
    let again = p.sender.declare(&denied_key);
    assert_eq!(
        again.assert_error(403, "sample.quantity_exceeded", true),
        denied
    );
    assert_eq!(p.log_size(), size, "replays after a restart log nothing");
}

#[test]
fn bad_input_gets_a_clear_400_and_nothing_is_logged() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let id = p.declare_through(&CHAIN[..5]);
    let size = p.log_size();
    let seals: Vec<String> = (0..101).map(|i| format!("SEAL-{i}")).collect();
    let declarations = [
        "{not json".to_owned(),
        "[]".to_owned(),
        with(declaration(), json!({"colour": "red"})).to_string(),
        with(declaration(), json!({"quantity": "24"})).to_string(),
        with(declaration(), json!({"quantity": 2.5})).to_string(),
        r#"{"sample_item":"SMP-BLOOD-001","recipient":"hk-biolab","quantity":100000000000000000000000,"purpose":"research.cohort_study","carrier":"hkp-logistics"}"#.to_owned(),
        with(declaration(), json!({"recipient": null})).to_string(),
    ];
    for body in &declarations {
        let response = p.sender.post("/v1/shipments", body.clone());
        response.assert_error(400, "request.malformed_body", false);
        assert!(!response.json()["message"].as_str().unwrap().is_empty());
    }
    let events = [
        "{".to_owned(),
        with(step("stored"), json!({"colour": "red"})).to_string(),
        with(step("stored"), json!({"event": "teleported"})).to_string(),
        with(step("stored"), json!({"at": "yesterday"})).to_string(),
        with(step("stored"), json!({"quantity": -1})).to_string(),
        with(step("stored"), json!({"quantity": 1e30})).to_string(),
        with(step("stored"), json!({"seal_ids": seals})).to_string(),
        with(step("stored"), json!({"seal_ids": "SEAL-0001"})).to_string(),
        with(step("stored"), json!({"facility": "x".repeat(5000)})).to_string(),
    ];
    for body in &events {
        p.recipient
            .post(&format!("/v1/shipments/{id}/events"), body.clone())
            .assert_error(400, "request.malformed_body", false);
    }
    let huge = format!(
        "{{\"event\":\"stored\",\"note\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let response = p
        .recipient
        .post(&format!("/v1/shipments/{id}/events"), huge);
    assert_eq!(response.status, 413, "{}", response.text());
    p.recipient
        .get("/v1/shipments/not-an-id")
        .assert_error(404, "request.not_found", false);
    assert_eq!(p.log_size(), size, "nothing refused here was logged");
    // And the chain goes on.
    assert_eq!(p.report(&id, &step("stored")).status, 201);
    assert_eq!(
        p.sender.get(&format!("/v1/shipments/{id}")).json()["last_event"],
        "stored"
    );
}

#[test]
fn a_shipment_takes_at_most_990_custody_records() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let id = p.declare();
    let out_of_order = step("delivered");
    for _ in 0..990 {
        p.carrier
            .custody(&id, &out_of_order)
            .assert_error(409, "custody.invalid_transition", true);
    }
    let size = p.log_size();
    // Past the cap nothing more is logged, not even a valid step: the chain stays readable in
    // one index query.
    let full = p.sender.custody(&id, &step("sealed"));
    full.assert_error(409, "custody.invalid_transition", false);
    assert!(
        full.json()["message"].as_str().unwrap().contains("990"),
        "{}",
        full.text()
    );
    assert_eq!(p.log_size(), size);
    let view = p.sender.get(&format!("/v1/shipments/{id}")).json();
    assert_eq!(view["custody"].as_array().unwrap().len(), 990);
    assert_eq!(view["last_event"], Value::Null);
}

#[test]
fn every_declaration_code_of_s4_to_s8_is_answered_and_logged() {
    const ITEM: &str = "id = \"SMP-BLOOD-001\"";
    let variant = |id: &str, field: &str, value: &str| -> Vec<(String, String)> {
        vec![
            (ITEM.to_owned(), format!("id = \"{id}\"")),
            (field.to_owned(), value.to_owned()),
        ]
    };
    let variants = [
        variant(
            "SMP-THEIRS",
            "owner = \"sz-genomics\"",
            "owner = \"hk-biolab\"",
        ),
        variant(
            "SMP-SUSPENDED",
            "status = \"approved\"",
            "status = \"suspended\"",
        ),
        variant(
            "SMP-ELSEWHERE",
            "recipients = [\"hk-biolab\"]",
            "recipients = [\"sz-genomics\"]",
        ),
        variant("SMP-BSL3", "biosafety_level = 2", "biosafety_level = 3"),
        variant(
            "SMP-NO-EXPORT",
            "hgr_approvals = [\"HGR-EX-DEMO-001\"]",
            "hgr_approvals = []",
        ),
    ];
    let gw = Gateway::dev()
        .policy(move |mut bundle| {
            for replacements in &variants {
                let pairs: Vec<(&str, &str)> = replacements
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                bundle = bundle.copy_block(ITEM, &pairs);
            }
            bundle.copy_block(
                "id = \"hkp-logistics\"",
                &[
                    ("id = \"hkp-logistics\"", "id = \"idle-logistics\""),
                    ("status = \"approved\"", "status = \"suspended\""),
                ],
            )
        })
        .start();
    let p = Parties::of(&gw);
    for (change, code, rule) in [
        (
            json!({"sample_item": "SMP-THEIRS"}),
            "sample.not_owner",
            "S4",
        ),
        (
            json!({"sample_item": "SMP-SUSPENDED"}),
            "sample.not_valid",
            "S4",
        ),
        (
            json!({"sample_item": "SMP-ELSEWHERE"}),
            "sample.recipient_not_allowed",
            "S4",
        ),
        (
            json!({"sample_item": "SMP-BSL3"}),
            "sample.biosafety_level",
            "S6",
        ),
        (
            json!({"sample_item": "SMP-NO-EXPORT"}),
            "hgr.export_approval_missing",
            "S7",
        ),
        (
            json!({"carrier": "idle-logistics"}),
            "carrier.not_valid",
            "S8",
        ),
    ] {
        let response = p.sender.declare(&with(declaration(), change));
        let index = response.assert_error(403, code, true).unwrap();
        let record = &p
            .regulator
            .get(&format!("/v1/audit/records/{index}"))
            .json()["record"];
        assert_eq!(record["reason"], code);
        assert_eq!(record["rule"], rule, "{record}");
    }
}

#[test]
fn a_carrier_suspended_after_the_declaration_takes_no_further_step() {
    let gw = Gateway::dev().start();
    let p = Parties::of(&gw);
    let id = p.declare_through(&CHAIN[..2]);
    drop(p);
    let gw = Gateway::resume(gw.stop())
        .policy(|b| {
            b.edit_after(
                "id = \"hkp-logistics\"",
                "status = \"approved\"",
                "status = \"suspended\"",
            )
        })
        .start();
    let p = Parties::of(&gw);
    let refused = p.carrier.custody(&id, &step("border_cleared"));
    let index = refused
        .assert_error(403, "carrier.not_valid", true)
        .unwrap();
    let logged = &p
        .regulator
        .get(&format!("/v1/audit/records/{index}"))
        .json()["record"];
    assert_eq!(logged["kind"], "custody");
    assert_eq!(logged["principal"], "carrier/hkp-logistics");
    // Checked before anything else: also for a step that is not its own.
    p.carrier
        .custody(&id, &step("received"))
        .assert_error(403, "carrier.not_valid", true);
    // It still sees the chain it carried.
    let view = p.carrier.get(&format!("/v1/shipments/{id}")).json();
    assert_eq!(view["last_event"], "picked_up");
    assert_eq!(view["holder"], "carrier");
}
