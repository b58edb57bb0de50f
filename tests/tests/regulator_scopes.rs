//! Regulators see only their share of the audit trail (RULES.md registry object `regulator`,
//! SPEC.md section 5): a `[[regulator]]` entry's `sees` filters `/v1/audit/records`,
//! `/v1/audit/records/{i}`, `/v1/audit/export` and the overdue list; the counters need the
//! personal scope; a regulator principal with no entry gets 403 on all of them. Checkpoints and
//! proofs reveal no record and stay open to every regulator.
//!
//! The world: a non-personal transfer, a personal one, an HGR one (anonymised genomic data: HGR
//! information without being personal) with a lifecycle event, and a denied HGR request. An
//! HGR regulator (`sees = ["hgr"]`) must find exactly the HGR transfers' records; a personal
//! one exactly the personal transfer's.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Bundle, Gateway};
use serde_json::Value;

/// The dev bundle plus an HGR item with its information filing and backup, and three
/// regulators: one for HGR, one for personal information, one for everything (pcpd).
fn with_scopes(bundle: Bundle) -> Bundle {
    bundle
        .with_hgr_item()
        .with_regulator(
            "nhc-hgr",
            "National Health Commission, human genetic resources",
            &["hgr"],
        )
        .with_regulator(
            "dpo-personal",
            "Digital Policy Office, Hong Kong",
            &["personal"],
        )
}

struct World {
    gw: Gateway,
    np: String,
    pi: String,
    hgr: String,
    hgr_denied: String,
}

fn transfer_id(r: &loopgate_tests::client::Response) -> String {
    r.json()["transfer_id"].as_str().unwrap().to_owned()
}

fn world() -> World {
    let gw = Gateway::dev().policy(with_scopes).start();
    for id in ["nhc-hgr", "dpo-personal", "unlisted"] {
        gw.issue_cert("regulator", id);
    }
    let sz = Client::tenant(&gw, "sz-genomics");
    let np = sz.post_transfer().non_personal().body("telemetry").send();
    assert_eq!(np.status, 201, "{}", np.text());
    let pi = sz.post_transfer().personal(12).body("cohort rows").send();
    assert_eq!(pi.status, 201, "{}", pi.text());
    let hgr = sz
        .post_transfer()
        .hgr()
        .body("anonymised variant calls")
        .send();
    assert_eq!(hgr.status, 201, "{}", hgr.text());
    let denied = sz
        .post_transfer()
        .hgr()
        .set("Loop-Purpose", "marketing")
        .body("x")
        .send();
    let index = denied
        .assert_error(403, "inventory.purpose_not_allowed", true)
        .unwrap();
    let hgr_denied = Client::regulator(&gw, "pcpd")
        .get(&format!("/v1/audit/records/{index}"))
        .json()["record"]["transfer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let world = World {
        np: transfer_id(&np),
        pi: transfer_id(&pi),
        hgr: transfer_id(&hgr),
        hgr_denied,
        gw,
    };
    let stored = Client::tenant(&world.gw, "hk-biolab")
        .post_event(&world.hgr, &loopgate_tests::event::valid("stored"));
    assert_eq!(stored.status, 201, "{}", stored.text());
    world
}

/// Every record `who` finds through `/v1/audit/records`, page by page, as (log index, record).
fn listed(client: &Client) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let r = client.get(&format!("/v1/audit/records?limit=3{after}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        for entry in page["records"].as_array().unwrap() {
            out.push((
                entry["log_index"].as_u64().unwrap(),
                entry["record"].clone(),
            ));
        }
        match page["next"].as_u64() {
            Some(next) => after = format!("&after={next}"),
            None => return out,
        }
    }
}

/// Every record of `export`, as (log index, record).
fn exported(client: &Client) -> Vec<(u64, Value)> {
    let r = client.get("/v1/audit/export");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            (
                entry["log_index"].as_u64().unwrap(),
                entry["record"].clone(),
            )
        })
        .collect()
}

/// The log indexes of the records of `transfers` in the whole log.
fn indexes_of(all: &[(u64, Value)], transfers: &[&str]) -> Vec<u64> {
    all.iter()
        .filter(|(_, r)| {
            r["transfer_id"]
                .as_str()
                .is_some_and(|id| transfers.contains(&id))
        })
        .map(|(i, _)| *i)
        .collect()
}

fn indexes(records: &[(u64, Value)]) -> Vec<u64> {
    records.iter().map(|(i, _)| *i).collect()
}

#[test]
fn each_regulator_finds_exactly_its_share_in_records_record_and_export() {
    let world = world();
    let gw = &world.gw;
    let pcpd = Client::regulator(gw, "pcpd");
    let all = listed(&pcpd);
    assert_eq!(indexes(&all), indexes(&exported(&pcpd)), "pcpd sees it all");
    assert!(
        all.iter().any(|(_, r)| r["kind"] == "policy_change"),
        "sees = all includes the registry's changes"
    );

    let nhc = Client::regulator(gw, "nhc-hgr");
    let hgr = indexes_of(&all, &[&world.hgr, &world.hgr_denied]);
    // decision + outcome + lifecycle of the delivered one, the denial of the other.
    assert_eq!(hgr.len(), 4, "{all:?}");
    let seen = listed(&nhc);
    assert_eq!(indexes(&seen), hgr);
    let kinds: BTreeSet<&str> = seen
        .iter()
        .map(|(_, r)| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["decision", "lifecycle", "outcome"]));
    assert!(seen.iter().all(|(_, r)| r["item"] == "INV-HGR-001"));
    assert_eq!(indexes(&exported(&nhc)), hgr, "export filters the same way");

    let dpo = Client::regulator(gw, "dpo-personal");
    let personal = indexes_of(&all, &[&world.pi]);
    assert_eq!(personal.len(), 2, "decision and outcome");
    assert_eq!(indexes(&listed(&dpo)), personal);
    assert_eq!(indexes(&exported(&dpo)), personal);

    // One record: its own share gets it with its proof, anything else is 403.
    for (i, record) in &all {
        let id = record["transfer_id"].as_str().unwrap_or("");
        for (client, share) in [(&nhc, &hgr), (&dpo, &personal)] {
            let r = client.get(&format!("/v1/audit/records/{i}"));
            if share.contains(i) {
                assert_eq!(r.status, 200, "{id}: {}", r.text());
                assert!(r.json()["inclusion_proof"].is_array());
            } else {
                r.assert_error(403, "auth.forbidden", false);
            }
        }
    }
    // Filters still apply inside the share: the HGR regulator asking for the non-personal
    // item's records finds none, though they exist.
    let np_item = nhc
        .get("/v1/audit/records?inventory_item=INV-NP-001")
        .json();
    assert_eq!(np_item["records"], serde_json::json!([]));
    assert!(!indexes_of(&all, &[&world.np]).is_empty());
}

#[test]
fn counters_need_the_personal_scope_and_an_unlisted_regulator_sees_no_record() {
    let world = world();
    let gw = &world.gw;
    Client::regulator(gw, "nhc-hgr")
        .get("/v1/audit/counters")
        .assert_error(403, "auth.forbidden", false);
    let counters = Client::regulator(gw, "dpo-personal").get("/v1/audit/counters");
    assert_eq!(counters.status, 200, "{}", counters.text());
    assert_eq!(counters.json()["counters"][0]["subjects"], 12);

    let unlisted = Client::regulator(gw, "unlisted");
    for path in [
        "/v1/audit/records",
        "/v1/audit/records/0",
        "/v1/audit/export",
        "/v1/audit/retention/overdue",
        "/v1/audit/counters",
    ] {
        let r = unlisted.get(path);
        r.assert_error(403, "auth.forbidden", false);
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("no [[regulator]] entry"),
            "{path}: {}",
            r.text()
        );
    }
    // Checkpoints and proofs reveal no record: open to every regulator, listed or not.
    for client in [&unlisted, &Client::regulator(gw, "nhc-hgr")] {
        let checkpoint = client.get("/v1/audit/checkpoint");
        assert_eq!(checkpoint.status, 200, "{}", checkpoint.text());
        let inclusion = client.get("/v1/audit/proof/inclusion?log_index=0");
        assert_eq!(inclusion.status, 200, "{}", inclusion.text());
        let consistency = client.get("/v1/audit/proof/consistency?from=1");
        assert_eq!(consistency.status, 200, "{}", consistency.text());
    }
}

#[test]
fn the_overdue_list_is_filtered_by_scope_too() {
    let world = world();
    let overdue_ids = |gw: &Gateway, who: &str| -> Vec<String> {
        let r = Client::regulator(gw, who).get("/v1/audit/retention/overdue");
        assert_eq!(r.status, 200, "{who}: {}", r.text());
        let mut ids: Vec<String> = r.json()["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["transfer_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    // 400 days on: every delivered transfer is past its retention (365, 180 and 30 days).
    let gw = Gateway::resume(world.gw.stop())
        .config(|c| c.set("clock", "offset_days", 400))
        .start();
    let mut everything = vec![world.np.clone(), world.pi.clone(), world.hgr.clone()];
    everything.sort();
    assert_eq!(overdue_ids(&gw, "pcpd"), everything);
    assert_eq!(overdue_ids(&gw, "nhc-hgr"), vec![world.hgr.clone()]);
    assert_eq!(overdue_ids(&gw, "dpo-personal"), vec![world.pi.clone()]);
}
