//! A log written by the previous version of the gateway (commit 5519436, before its records'
//! details were typed; `tests/fixtures/log-5519436/make.sh` made it through the real API) is
//! read by today's gateway as it was written: every record kind is read back through the typed
//! details — transfer views with their lifecycle events and receipts, idempotent replays of
//! each kind of ending, the suspension in force from the last `policy_change`, the rule-19
//! counters, the overdue list — with the index rebuilt from the segments alone.
//!
//! It is also the upgrade to the rules' second version: the old bundle file is refused at start
//! with a message per field to change and the log left as it was; the bundle in force migrated
//! (`policy-v2.toml`) starts, logged as one `policy_change` with its diff.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use loopgate_tests::client::Client;
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::assert_verifies;
use loopgate_tests::workspace_root;
use serde_json::Value;
use time::Date;
use time::macros::format_description;

fn fixture() -> PathBuf {
    workspace_root().join("tests/fixtures/log-5519436")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
        .unwrap()
}

/// Days from today to `days_after` days after the day the fixture was made: the gateway's
/// `[clock] offset_days` that puts its clock then.
fn offset_to(days_after: i64) -> i64 {
    let text = expected()["made_on"].as_str().unwrap().to_owned();
    let made = Date::parse(&text, format_description!("[year]-[month]-[day]")).unwrap();
    let today = loopgate::Clock::system().now().date();
    (made - today).whole_days() + days_after
}

/// Puts the fixture's log, key and migrated bundle in the dev folder at `dir`.
fn install(dir: &Path) {
    install_with(dir, "policy-v2.toml");
}

/// Puts the fixture's log and key in the dev folder at `dir`, with `bundle` (a file of the
/// fixture) as its `policy.toml`.
fn install_with(dir: &Path, bundle: &str) {
    let from = fixture();
    let segments = dir.join("data/segments");
    std::fs::create_dir_all(&segments).unwrap();
    for entry in std::fs::read_dir(from.join("data/segments")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), segments.join(entry.file_name())).unwrap();
    }
    std::fs::copy(from.join("data/checkpoint"), dir.join("data/checkpoint")).unwrap();
    for file in ["log.key", "log.pub"] {
        std::fs::copy(from.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(from.join(bundle), dir.join("policy.toml")).unwrap();
    // git keeps no file modes beyond the executable bit; the key must be private.
    std::fs::set_permissions(dir.join("log.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn start(days_after: i64) -> Gateway {
    Gateway::dev()
        .config(move |config| config.set("clock", "offset_days", offset_to(days_after)))
        .files(install)
        .start()
}

#[test]
fn the_first_versions_bundle_is_refused_at_start_and_the_log_left_as_it_was() {
    let (code, stderr, folder) = Gateway::dev()
        .config(move |config| config.set("clock", "offset_days", offset_to(0)))
        .files(|dir| install_with(dir, "policy.toml"))
        .start_refused();
    assert_eq!(
        code,
        Some(64),
        "a bundle the config names is invalid: {stderr}"
    );
    for field in ["filed_on", "authority"] {
        assert!(
            stderr.contains(&format!(
                "`{field}` of [[contract_filing]] #1 is the first version's"
            )),
            "{stderr}"
        );
    }
    assert!(stderr.contains("loopgate policy migrate"), "{stderr}");
    // Nothing was appended: the segments are the fixture's, byte for byte.
    let segments = |dir: &Path| -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir.join("data/segments"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    assert_eq!(segments(folder.path()), segments(&fixture()));

    // With the bundle migrated, the same folder starts.
    let gw = Gateway::resume(folder)
        .files(|dir| {
            std::fs::copy(fixture().join("policy-v2.toml"), dir.join("policy.toml")).unwrap();
        })
        .start();
    let r = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn the_migrated_bundle_is_logged_once_with_its_diff() {
    let gw = start(0);
    let pcpd = Client::regulator(&gw, "pcpd");
    let changes = pcpd.get("/v1/audit/records?kind=policy_change").json();
    let changes = changes["records"].as_array().unwrap();
    assert_eq!(
        changes.len(),
        3,
        "two old changes and the upgrade: {changes:?}"
    );
    let upgrade = &changes[2]["record"];
    assert_eq!(upgrade["source"], "file");
    assert_eq!(
        upgrade["previous_version"], changes[1]["log_index"],
        "the upgrade follows the old bundle in force"
    );
    let diff = &upgrade["diff"];
    assert!(
        diff["contract_filing"]["changed"]["GBA-SC-DEMO-001"].is_object(),
        "{diff}"
    );
    let filing = &diff["contract_filing"]["changed"]["GBA-SC-DEMO-001"];
    assert_eq!(filing["filed_on"]["to"], serde_json::Value::Null);
    assert_eq!(filing["filings"]["to"][1]["party"], "recipient");
    assert_eq!(filing["separate_consent"]["to"], true);
    assert_eq!(diff["regulator"]["added"], serde_json::json!(["pcpd"]));
    assert_eq!(
        diff["tenant"]["changed"],
        serde_json::json!({}),
        "the suspension is kept: {diff}"
    );
    // A restart with the same file logs nothing more.
    let gw = Gateway::resume(gw.stop()).start();
    let again = Client::regulator(&gw, "pcpd")
        .get("/v1/audit/records?kind=policy_change")
        .json();
    assert_eq!(again["records"].as_array().unwrap().len(), 3);
}

fn id(key: &str) -> String {
    expected()[key].as_str().unwrap().to_owned()
}

#[test]
fn transfers_of_the_previous_version_read_back_whole() {
    let gw = start(0);
    let sz = Client::tenant(&gw, "sz-genomics");
    let hk = Client::tenant(&gw, "hk-biolab");

    // Delivered, then stored, accessed and destroyed: the lifecycle reads back in order.
    let np = sz.get_transfer(&id("np"));
    assert_eq!(np.status, 200, "{}", np.text());
    let view = np.json();
    assert_eq!(view["status"], "completed");
    let events: Vec<(&str, &str)> = view["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["note"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("stored", "fixture stored"),
            ("accessed", "fixture accessed"),
            ("destroyed", "fixture destroyed")
        ]
    );
    assert_eq!(view["overdue"], false);
    assert!(view["retention_due"].is_string(), "{view}");
    assert_verifies(&view["receipt"], &gw.log_pub_path());

    // The recipient's view of the personal transfer: one event, its reported time kept.
    let pi = hk.get_transfer(&id("pi")).json();
    assert_eq!(pi["status"], "completed");
    assert_eq!(pi["lifecycle"][0]["event"], "stored");
    assert_eq!(pi["lifecycle"][0]["reported_at"], "2026-12-06T01:00:00Z");
    assert_eq!(pi["records"].as_array().unwrap().len(), 3);

    // Replays of every kind of ending, by the keys found in the old decisions, each the same
    // request as the first (tests/fixtures/log-5519436/make.sh); another request under a key
    // is a conflict.
    let request = |key: &str| sz.post_transfer().non_personal().idempotency_key(key);
    let replay = |key: &str| match key {
        "fixture-np" => request(key).body("qc run 1").send(),
        "fixture-denied" => request(key)
            .set("Loop-Purpose", "marketing")
            .body("x")
            .send(),
        "fixture-failed" => request(key)
            .set(
                "Content-Digest",
                "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
            )
            .body("not empty")
            .send(),
        _ => request(key).chunked(["the first bytes"]).send(),
    };
    request("fixture-np").body("qc run 22").send().assert_error(
        422,
        "request.idempotency_conflict",
        true,
    );
    let first = replay("fixture-np");
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["transfer_id"], id("np"));
    assert_eq!(first.json()["upstream_status"], 201);
    assert_verifies(&first.json(), &gw.log_pub_path());
    let denied = expected()["denied_index"].as_u64();
    let failed = expected()["failed_index"].as_u64();
    assert_eq!(
        replay("fixture-denied").assert_error(403, "inventory.purpose_not_allowed", true),
        denied
    );
    assert_eq!(
        replay("fixture-failed").assert_error(400, "request.digest_mismatch", true),
        failed
    );
    // The transfer cut off by kill -9 got its `interrupted` outcome from the old version's
    // recovery; it is not closed a second time, and its retry says delivery is unknown.
    assert!(
        replay("fixture-cut")
            .assert_error(409, "transfer.interrupted", true)
            .is_some()
    );

    // The suspension, the old log's last policy change, is in force.
    let now = sz
        .post_transfer()
        .non_personal()
        .body("after the suspension")
        .send();
    now.assert_error(403, "tenant.suspended", true);
    let bundle = Client::principal(&gw, "admin", "park-ops")
        .get("/v1/admin/policy")
        .text();
    assert!(bundle.contains("status = \"suspended\""), "{bundle}");

    // Rule 19's counters of the old decisions, per route.
    let counters = Client::regulator(&gw, "pcpd")
        .get("/v1/audit/counters")
        .json();
    let rows = counters["counters"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{counters}");
    assert_eq!(rows[0]["legal_entity"], "sz-genomics");
    assert_eq!(rows[0]["tenants"], serde_json::json!(["sz-genomics"]));
    assert_eq!(rows[0]["route"], "gba_sc");
    assert_eq!(rows[0]["subjects"], 250);

    // The whole log, old records and new, verifies offline.
    let folder = gw.stop();
    let run = loopgate_tests::Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([folder.path().join("data").as_os_str()])
        .args(["--key"])
        .args([folder.path().join("log.pub").as_os_str()])
        .run();
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn old_transfers_go_overdue_unless_destroyed() {
    // 181 days after: the personal item's 180-day retention has passed.
    let gw = start(181);
    let overdue = Client::regulator(&gw, "pcpd")
        .get("/v1/audit/retention/overdue")
        .json();
    let ids: Vec<&str> = overdue["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transfer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id("pi")], "{overdue}");
    let view = Client::tenant(&gw, "hk-biolab")
        .get_transfer(&id("pi"))
        .json();
    assert_eq!(view["overdue"], true);
}
