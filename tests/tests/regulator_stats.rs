//! The regulator console's API: `GET /v1/audit/stats` (per park day, from aggregates kept in
//! sled), `GET /v1/audit/whoami`, the `transfer_id` filter of `/v1/audit/records` and the
//! thresholds beside `/v1/audit/counters`. The stats must say what the records say, as each
//! regulator's scope sees them, and stay the same over a restart and a rebuilt index.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Bundle, Gateway};
use loopgate_tests::shipment::{declaration, with};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

fn with_scopes(bundle: Bundle) -> Bundle {
    bundle
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
        .with_regulator(
            "cac-gd",
            "Cyberspace Administration of China, Guangdong office",
            &["all"],
        )
}

/// Allowed and denied transfers (non-personal and personal), completed ones, and an allowed
/// and a denied shipment declaration of the dev (HGR) sample item.
fn world() -> Gateway {
    let gw = Gateway::dev().policy(with_scopes).start();
    for id in ["nhc-hgr", "dpo-personal", "cac-gd", "unlisted"] {
        gw.issue_cert("regulator", id);
    }
    let sz = Client::tenant(&gw, "sz-genomics");
    for i in 0..3 {
        let r = sz
            .post_transfer()
            .non_personal()
            .body(format!("telemetry {i}"))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for subjects in [5, 7] {
        let r = sz
            .post_transfer()
            .personal(subjects)
            .body("cohort rows, a longer body")
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    sz.post_denials(2);
    let r = sz
        .post_transfer()
        .personal(3)
        .set("Loop-Purpose", "marketing")
        .body("x")
        .send();
    assert_eq!(r.status, 403, "{}", r.text());
    let r = sz.declare(&declaration());
    assert_eq!(r.status, 201, "{}", r.text());
    let r = sz.declare(&with(declaration(), json!({ "quantity": 100_000 })));
    assert_eq!(r.status, 403, "{}", r.text());
    gw
}

/// Every record `client` sees through `/v1/audit/records`.
fn listed(client: &Client, filter: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let r = client.get(&format!("/v1/audit/records?limit=1000{filter}{after}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        for entry in page["records"].as_array().unwrap() {
            out.push(entry["record"].clone());
        }
        match page["next"].as_u64() {
            Some(next) => after = format!("&after={next}"),
            None => return out,
        }
    }
}

fn park_day(record: &Value) -> String {
    let t = OffsetDateTime::parse(record["time"].as_str().unwrap(), &Rfc3339).unwrap();
    t.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap())
        .date()
        .to_string()
}

/// What the stats should say, computed from the records: per day `[transfers allow, deny,
/// shipments allow, deny, bytes]`, and the denials per reason.
#[allow(clippy::type_complexity)]
fn expected(records: &[Value]) -> (BTreeMap<String, [u64; 5]>, BTreeMap<String, u64>) {
    let mut days: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let mut denials = BTreeMap::new();
    for r in records {
        let day = days.entry(park_day(r)).or_default();
        let deny = r["decision"] == "deny";
        match (r["kind"].as_str().unwrap(), r["decision"].as_str()) {
            ("decision", Some(_)) => day[usize::from(deny)] += 1,
            ("shipment", Some(_)) => day[2 + usize::from(deny)] += 1,
            ("outcome", None) if r["outcome"] == "completed" => {
                day[4] += r["size"].as_u64().unwrap();
            }
            _ => {}
        }
        if deny {
            *denials
                .entry(r["reason"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    days.retain(|_, d| d.iter().any(|n| *n > 0));
    (days, denials)
}

/// The stats' nonzero days and denials in the same shape.
#[allow(clippy::type_complexity)]
fn said(stats: &Value) -> (BTreeMap<String, [u64; 5]>, BTreeMap<String, u64>) {
    let n = |v: &Value| v.as_u64().unwrap();
    let days = stats["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                [
                    n(&d["transfers"]["allow"]),
                    n(&d["transfers"]["deny"]),
                    n(&d["shipments"]["allow"]),
                    n(&d["shipments"]["deny"]),
                    n(&d["bytes"]),
                ],
            )
        })
        .filter(|(_, d)| d.iter().any(|n| *n > 0))
        .collect();
    let denials = stats["denials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["reason"].as_str().unwrap().to_owned(), n(&d["count"])))
        .collect();
    (days, denials)
}

fn stats(client: &Client, query: &str) -> Value {
    let r = client.get(&format!("/v1/audit/stats{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut json = r.json();
    json.as_object_mut().unwrap().remove("as_of");
    json
}

#[test]
fn stats_say_what_the_records_say_within_each_scope() {
    let gw = world();
    let mut seen = BTreeMap::new();
    for id in ["pcpd", "nhc-hgr", "dpo-personal"] {
        let client = Client::regulator(&gw, id);
        let records = listed(&client, "");
        let got = stats(&client, "");
        assert_eq!(said(&got), expected(&records), "{id}: {got:#}");
        let days = got["days"].as_array().unwrap();
        assert_eq!(days.len(), 30, "the last 30 days by default");
        assert_eq!(got["to"], days[29]["date"]);
        assert_eq!(got["utc_offset"], "+08:00");
        seen.insert(id, got);
    }
    let all = &seen["pcpd"];
    assert_eq!(all["totals"]["transfers"], json!({"allow": 5, "deny": 3}));
    assert_eq!(all["totals"]["shipments"], json!({"allow": 1, "deny": 1}));
    assert!(all["totals"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(all["senders"][0]["tenant"], "sz-genomics");
    assert_eq!(all["senders"][0]["transfers"], all["totals"]["transfers"]);
    assert!(all["covered"].as_u64().unwrap() >= 15, "{all:#}");
    let purpose = all["denials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"] == "inventory.purpose_not_allowed")
        .unwrap();
    assert_eq!(purpose["count"], 3, "{all:#}");
    assert!(purpose["rule"].is_u64(), "{purpose}");
    assert!(!purpose["meaning"].as_str().unwrap().is_empty());
    // The HGR regulator sees the HGR shipments only, the personal one the personal transfers.
    let hgr = &seen["nhc-hgr"];
    assert_eq!(hgr["totals"]["transfers"], json!({"allow": 0, "deny": 0}));
    assert_eq!(hgr["totals"]["shipments"], json!({"allow": 1, "deny": 1}));
    assert_eq!(hgr["totals"]["bytes"], 0);
    let personal = &seen["dpo-personal"];
    assert_eq!(
        personal["totals"]["transfers"],
        json!({"allow": 2, "deny": 1})
    );
    assert_eq!(
        personal["totals"]["shipments"],
        json!({"allow": 0, "deny": 0})
    );

    // A sender filter, a range of one day, and what is refused.
    let pcpd = Client::regulator(&gw, "pcpd");
    let to = all["to"].as_str().unwrap();
    let sender = stats(&pcpd, "?tenant=sz-genomics");
    assert_eq!(sender["totals"], all["totals"]);
    let nobody = stats(&pcpd, "?tenant=hk-biolab");
    assert_eq!(
        nobody["totals"]["transfers"],
        json!({"allow": 0, "deny": 0})
    );
    assert_eq!(nobody["senders"], json!([]));
    let one = stats(&pcpd, &format!("?from={to}&to={to}"));
    assert_eq!(one["days"].as_array().unwrap().len(), 1);
    for bad in [
        "?from=2026-12-02&to=2026-12-01",
        "?from=2025-01-01&to=2026-01-02",
        "?to=yesterday",
        "?since=2026-01-01",
    ] {
        pcpd.get(&format!("/v1/audit/stats{bad}")).assert_error(
            400,
            "request.malformed_query",
            false,
        );
    }
    let year = stats(&pcpd, "?from=2025-01-01&to=2026-01-01");
    assert_eq!(year["days"].as_array().unwrap().len(), 366);
    Client::regulator(&gw, "unlisted")
        .get("/v1/audit/stats")
        .assert_error(403, "auth.forbidden", false);
    Client::tenant(&gw, "sz-genomics")
        .get("/v1/audit/stats")
        .assert_error(403, "auth.forbidden", false);

    // The same after a restart, and from views rebuilt from the log without the index.
    // (`covered` grows by the start and stop records.)
    let uncovered = |mut v: Value| {
        v.as_object_mut().unwrap().remove("covered");
        v
    };
    let before: Vec<Value> = ["pcpd", "nhc-hgr", "dpo-personal"]
        .iter()
        .map(|id| uncovered(seen[id].clone()))
        .collect();
    let after = |gw: &Gateway| -> Vec<Value> {
        ["pcpd", "nhc-hgr", "dpo-personal"]
            .iter()
            .map(|id| uncovered(stats(&Client::regulator(gw, id), "")))
            .collect()
    };
    let gw = gw.restart();
    assert_eq!(after(&gw), before);
    let folder = gw.stop();
    std::fs::remove_dir_all(folder.path().join("data").join("index")).unwrap();
    let gw = Gateway::resume(folder).start();
    assert_eq!(after(&gw), before);
}

#[test]
fn whoami_transfer_filter_and_thresholds() {
    let gw = Gateway::dev().policy(with_scopes).start();
    gw.issue_cert("regulator", "nhc-hgr");
    gw.issue_cert("regulator", "unlisted");
    let pcpd = Client::regulator(&gw, "pcpd");
    let me = pcpd.get("/v1/audit/whoami");
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["regulator"], "pcpd");
    assert_eq!(me["sees"], json!(["all"]));
    let checkpoint = pcpd.get("/v1/audit/checkpoint").text();
    assert_eq!(
        me["log_origin"].as_str().unwrap(),
        checkpoint.lines().next().unwrap()
    );
    assert!(me["witness_quorum"].is_u64(), "{me}");
    for w in me["witnesses"].as_array().unwrap() {
        assert!(w["name"].is_string() && w["key"].is_string(), "{w}");
    }
    let hgr = Client::regulator(&gw, "nhc-hgr")
        .get("/v1/audit/whoami")
        .json();
    assert_eq!(hgr["sees"], json!(["hgr"]));
    Client::regulator(&gw, "unlisted")
        .get("/v1/audit/whoami")
        .assert_error(403, "auth.forbidden", false);

    // One transfer's records, in order, by its id.
    let sz = Client::tenant(&gw, "sz-genomics");
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = sz
            .post_transfer()
            .non_personal()
            .body(format!("b{i}"))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["transfer_id"].as_str().unwrap().to_owned());
    }
    let one = listed(&pcpd, &format!("&transfer_id={}", ids[1]));
    let kinds: Vec<&str> = one.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["decision", "outcome"], "{one:#?}");
    assert!(one.iter().all(|r| r["transfer_id"] == ids[1].as_str()));
    assert!(listed(&pcpd, "&transfer_id=no-such-transfer").is_empty());

    // The counters name the thresholds they are held to.
    let counters = pcpd.get("/v1/audit/counters").json();
    assert_eq!(
        counters["thresholds"],
        json!({
            "threshold_contract": 100_000,
            "threshold_assessment": 1_000_000,
            "threshold_sensitive_assessment": 10_000,
            "volume_year_start": "01-01",
        }),
        "{counters:#}"
    );
}

fn header(r: &loopgate_tests::client::Response, name: &str) -> Option<String> {
    r.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[test]
fn the_monthly_report_names_its_tree_and_repeats_at_it() {
    let gw = world();
    let pcpd = Client::regulator(&gw, "pcpd");
    let checkpoint = pcpd.get("/v1/audit/checkpoint").text();
    let lines: Vec<&str> = checkpoint.lines().collect();
    let (size, root) = (lines[1].parse::<u64>().unwrap(), lines[2].to_owned());

    let r = pcpd.get("/v1/audit/report");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(header(&r, "content-type").unwrap(), "application/json");
    assert_eq!(
        header(&r, "content-disposition"),
        None,
        "JSON by default is no download"
    );
    let report = r.json();
    let month = report["month"].as_str().unwrap().to_owned();
    assert_eq!(
        report["checkpoint"],
        json!({"tree_size": size, "root_hash": root})
    );
    assert_eq!(report["scope"], json!(["all"]));
    assert_eq!(report["tenant"], Value::Null);
    let sz = &report["enterprises"][0];
    assert_eq!(
        report["enterprises"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert_eq!(sz["tenant"], "sz-genomics");
    assert_eq!(sz["transfers"], json!({"allow": 5, "deny": 3}));
    assert_eq!(sz["completed"], 5);
    assert_eq!(sz["failed"], 0);
    assert_eq!(sz["data_subjects"], 12);
    assert_eq!(sz["shipments"], json!({"allow": 1, "deny": 1}));
    assert_eq!(sz["custody_events"], 0);
    assert_eq!(sz["denials"]["inventory.purpose_not_allowed"], 3, "{sz}");
    assert_eq!(sz["denials"].as_object().unwrap().len(), 2, "{sz}");
    let stats = stats(&pcpd, "");
    assert_eq!(sz["bytes"], stats["totals"]["bytes"]);

    // The proof endpoints' tree at that size has that root.
    let proof = pcpd
        .get(&format!(
            "/v1/audit/proof/consistency?from={size}&to={size}"
        ))
        .json();
    assert_eq!(proof["to"], size);

    // The CSV says the same.
    let csv = pcpd.get("/v1/audit/report?format=csv");
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(
        header(&csv, "content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        header(&csv, "content-disposition").unwrap(),
        format!("attachment; filename=\"loopgate-report-{month}-{size}.csv\"")
    );
    let text = csv.text();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(
        rows[0],
        "month,tenant,transfers_allowed,transfers_denied,completed,failed,bytes,data_subjects,shipments_allowed,shipments_denied,custody_events,denials,tree_size,root_hash"
    );
    let denials: Vec<String> = sz["denials"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        rows[1],
        format!(
            "{month},sz-genomics,5,3,5,0,{},12,1,1,0,{},{size},{root}",
            sz["bytes"],
            denials.join(";")
        )
    );
    let named = pcpd.get("/v1/audit/report?format=json&tenant=sz-genomics");
    assert_eq!(
        header(&named, "content-disposition").unwrap(),
        format!("attachment; filename=\"loopgate-report-{month}-sz-genomics-{size}.json\"")
    );
    assert_eq!(named.json()["enterprises"], report["enterprises"]);
    let other = pcpd.get("/v1/audit/report?tenant=hk-biolab").json();
    assert_eq!(other["enterprises"], json!([]));

    // More records later: the report at the same tree size is the same, byte for byte, for
    // another regulator of the same scope too; the HGR regulator's holds its share only.
    let tenant = Client::tenant(&gw, "sz-genomics");
    for i in 0..2 {
        let r = tenant
            .post_transfer()
            .non_personal()
            .body(format!("later {i}"))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let at = format!("/v1/audit/report?format=csv&tree_size={size}");
    assert_eq!(pcpd.get(&at).body, csv.body);
    assert_eq!(Client::regulator(&gw, "cac-gd").get(&at).body, csv.body);
    let without_time = |mut v: Value| {
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    let json_at = format!("/v1/audit/report?tree_size={size}");
    let cac = Client::regulator(&gw, "cac-gd").get(&json_at).json();
    assert_eq!(without_time(cac), without_time(report.clone()));
    let hgr = Client::regulator(&gw, "nhc-hgr").get(&json_at).json();
    assert_eq!(hgr["scope"], json!(["hgr"]));
    assert_eq!(
        hgr["enterprises"][0]["transfers"],
        json!({"allow": 0, "deny": 0})
    );
    assert_eq!(
        hgr["enterprises"][0]["shipments"],
        json!({"allow": 1, "deny": 1})
    );
    let now = pcpd.get("/v1/audit/report").json();
    assert_eq!(now["enterprises"][0]["transfers"]["allow"], 7);

    // What is refused.
    let beyond = now["checkpoint"]["tree_size"].as_u64().unwrap() + 1;
    for bad in [
        format!("?tree_size={beyond}"),
        "?month=2026-13".to_owned(),
        "?month=2026-1".to_owned(),
        "?month=november".to_owned(),
        "?format=xml".to_owned(),
    ] {
        pcpd.get(&format!("/v1/audit/report{bad}")).assert_error(
            400,
            "request.malformed_query",
            false,
        );
    }
    Client::regulator(&gw, "unlisted")
        .get("/v1/audit/report")
        .assert_error(403, "auth.forbidden", false);
}

/// `loopgate audit fill` (the console benchmark's log) appends records the stats and the
/// records agree on, within each scope (its shipments are of HGR samples).
#[test]
fn a_filled_log_sums_up_as_its_records_say() {
    let gw = Gateway::dev().policy(with_scopes).start();
    gw.issue_cert("regulator", "nhc-hgr");
    let folder = gw.stop();
    let config = folder.path().join("gateway.toml");
    let run = loopgate_tests::Loopgate::new()
        .args([
            "audit",
            "fill",
            "--records",
            "2500",
            "--days",
            "10",
            "--senders",
            "4",
        ])
        .args(["--config".as_ref(), config.as_os_str()])
        .run();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("appended 2500 records"), "{run:?}");
    let gw = Gateway::resume(folder).start();
    for id in ["pcpd", "nhc-hgr"] {
        let client = Client::regulator(&gw, id);
        let records = listed(&client, "");
        let got = stats(&client, "");
        assert_eq!(said(&got), expected(&records), "{id}: {got:#}");
        assert!(
            got["totals"]["shipments"]["allow"].as_u64().unwrap() > 0,
            "{got:#}"
        );
        if id == "pcpd" {
            assert!(got["totals"]["transfers"]["deny"].as_u64().unwrap() > 0);
            assert_eq!(got["senders"].as_array().unwrap().len(), 4, "{got:#}");
            for denial in got["denials"].as_array().unwrap() {
                assert!(
                    denial["meaning"].is_string(),
                    "a real reason code: {denial}"
                );
            }
        }
    }
    // A stopped gateway's log only: while it runs, its folder is locked.
    let run = loopgate_tests::Loopgate::new()
        .args(["audit", "fill", "--records", "1"])
        .args([
            "--config".as_ref(),
            gw.dir().join("gateway.toml").as_os_str(),
        ])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
}
