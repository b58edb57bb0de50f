//! The admin API and policy changes as log records (SPEC.md section 6, DESIGN.md invariant 7):
//! a bundle applied through the API is logged with the admin and the diff and then decides the
//! next transfer; an invalid bundle changes nothing; a suspension takes effect at once; the
//! bundle in force survives restarts and a lost sled folder, and only an edited file replaces it.

#![allow(clippy::unwrap_used)]

use http::Method;
use loopgate_tests::Loopgate;
use loopgate_tests::client::{Client, Response, TestBody};
use loopgate_tests::gateway::Gateway;
use serde_json::Value;

/// The sled folder inside the log directory (audit/README.md "the life of a record").
const SLED: &str = "index";

fn admin(gw: &Gateway) -> Client {
    Client::principal(gw, "admin", "park-ops")
}

fn put_policy(gw: &Gateway, text: &str) -> Response {
    let client = admin(gw);
    client.request(
        client
            .builder(Method::PUT, "/v1/admin/policy")
            .header("content-type", "application/toml")
            .body(TestBody::bytes(text.to_owned()))
            .unwrap(),
    )
}

fn suspend(gw: &Gateway, tenant: &str, body: &str) -> Response {
    let client = admin(gw);
    client.request(
        client
            .builder(Method::POST, &format!("/v1/admin/tenants/{tenant}/suspend"))
            .body(TestBody::bytes(body.to_owned()))
            .unwrap(),
    )
}

fn bundle_file(gw: &Gateway) -> String {
    std::fs::read_to_string(gw.dir().join("policy.toml")).unwrap()
}

fn in_force(gw: &Gateway) -> String {
    let response = admin(gw).get("/v1/admin/policy");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.headers["content-type"],
        "application/toml; charset=utf-8"
    );
    assert!(response.headers.contains_key("loop-policy-version"));
    response.text()
}

/// The decision record of a transfer, as its sender sees it.
fn decision_of(gw: &Gateway, transfer_id: &str) -> Value {
    Client::tenant(gw, "sz-genomics").decision_of(transfer_id)
}

/// Sends one non-personal transfer; its transfer id and status.
fn transfer(gw: &Gateway) -> (String, Response) {
    let response = Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"instrument readings"[..])
        .send();
    let body = response.json();
    let id = body["transfer_id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    (id, response)
}

/// A new Hong Kong Park tenant appended to `text`.
fn with_new_tenant(text: &str) -> String {
    format!(
        "{text}\n[[tenant]]\nid = \"hk-newlab\"\nlegal_name = \"HK New Lab Limited\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2036-12-31\nciio = false\n"
    )
}

fn suspended_sender(text: &str) -> String {
    let at = text.find("id = \"sz-genomics\"").unwrap();
    let status = at + text[at..].find("status = \"approved\"").unwrap();
    format!(
        "{}status = \"suspended\"{}",
        &text[..status],
        &text[status + "status = \"approved\"".len()..]
    )
}

#[test]
fn get_returns_the_bundle_in_force_and_put_applies_a_logged_change() {
    let gw = Gateway::dev().start();
    let original = bundle_file(&gw);
    assert_eq!(in_force(&gw), original);

    let new = with_new_tenant(&original);
    let response = put_policy(&gw, &new);
    assert_eq!(response.status, 200, "{}", response.text());
    let applied = response.json();
    let version = applied["policy_version"].as_u64().unwrap();
    assert_eq!(
        applied["diff"]["tenant"]["added"],
        serde_json::json!(["hk-newlab"])
    );
    assert_eq!(in_force(&gw), new);

    // The next transfer is evaluated under the new version.
    let (id, response) = transfer(&gw);
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(decision_of(&gw, &id)["policy_version"], version);

    // The change itself is a log record naming the admin, with the diff and the whole bundle.
    let records = gw.stop().records();
    let change = &records[version as usize];
    assert_eq!(change["kind"], "policy_change");
    assert_eq!(change["principal"], "admin/park-ops");
    assert_eq!(change["source"], "admin_api");
    assert_eq!(
        change["diff"]["tenant"]["added"],
        serde_json::json!(["hk-newlab"])
    );
    assert_eq!(change["bundle"], new.as_str());
}

#[test]
fn a_bundle_that_suspends_the_sender_denies_under_the_new_version() {
    let gw = Gateway::dev().start();
    let (_, before) = transfer(&gw);
    assert_eq!(before.status, 201);

    let response = put_policy(&gw, &suspended_sender(&bundle_file(&gw)));
    assert_eq!(response.status, 200, "{}", response.text());
    let applied = response.json();
    let version = applied["policy_version"].as_u64().unwrap();
    let status = &applied["diff"]["tenant"]["changed"]["sz-genomics"]["status"];
    assert_eq!(status["from"], "approved");
    assert_eq!(status["to"], "suspended");

    let (_, denied) = transfer(&gw);
    let index = denied.assert_error(403, "tenant.suspended", true).unwrap();
    let records = gw.stop().records();
    assert_eq!(records[index as usize]["policy_version"], version);
}

#[test]
fn an_invalid_bundle_gets_every_problem_and_changes_nothing() {
    let gw = Gateway::dev().start();
    let original = bundle_file(&gw);
    let broken = original
        .replacen("ciio = false", "ciio = \"no\"", 1)
        .replacen("retention_days = 365", "retention_days = -1", 1)
        + "\n[surprise]\nkey = 1\n";
    let response = put_policy(&gw, &broken);
    assert_eq!(response.status, 422, "{}", response.text());
    let body = response.json();
    assert_eq!(body["error"], "policy.invalid");
    assert_eq!(body["log_index"], Value::Null);
    let problems = body["problems"].as_array().unwrap();
    assert!(problems.len() >= 3, "{body}");
    for problem in problems {
        assert!(problem["line"].as_u64().unwrap() >= 1, "{problem}");
        assert!(problem["column"].as_u64().unwrap() >= 1, "{problem}");
        assert!(!problem["message"].as_str().unwrap().is_empty());
    }
    let ciio_line = 1 + original[..original.find("ciio = false").unwrap()]
        .matches('\n')
        .count();
    assert!(
        problems.iter().any(|p| p["line"] == ciio_line as u64),
        "no problem at line {ciio_line}: {body}"
    );
    // Not UTF-8 either.
    let client = admin(&gw);
    let response = client.request(
        client
            .builder(Method::PUT, "/v1/admin/policy")
            .body(TestBody::bytes(vec![0xff, 0xfe, b'[']))
            .unwrap(),
    );
    assert_eq!(response.error(), "policy.invalid");

    assert_eq!(in_force(&gw), original);
    let (_, allowed) = transfer(&gw);
    assert_eq!(allowed.status, 201);
    let records = gw.stop().records();
    let changes = records
        .iter()
        .filter(|r| r["kind"] == "policy_change")
        .count();
    assert_eq!(changes, 1, "only the start's policy_change");
}

#[test]
fn suspension_is_logged_and_effective_for_the_next_request() {
    let gw = Gateway::dev().start();
    let response = suspend(&gw, "sz-genomics", r#"{"reason": "incident 42"}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    let version = response.json()["policy_version"].as_u64().unwrap();
    let (_, denied) = transfer(&gw);
    denied.assert_error(403, "tenant.suspended", true);
    assert!(in_force(&gw).contains("status = \"suspended\""));

    suspend(&gw, "no-such-tenant", "").assert_error(404, "request.not_found", false);
    suspend(&gw, "hk-biolab", "[1, 2]").assert_error(400, "request.malformed_body", false);
    suspend(&gw, "hk-biolab", r#"{"why": "x"}"#).assert_error(400, "request.malformed_body", false);

    let records = gw.stop().records();
    let change = &records[version as usize];
    assert_eq!(change["source"], "suspension");
    assert_eq!(change["tenant"], "sz-genomics");
    assert_eq!(change["reason"], "incident 42");
    assert_eq!(change["principal"], "admin/park-ops");
}

#[test]
fn the_bundle_in_force_survives_restarts_and_a_lost_index_until_the_file_changes() {
    let gw = Gateway::dev().start();
    let new = with_new_tenant(&bundle_file(&gw));
    let version = put_policy(&gw, &new).json()["policy_version"]
        .as_u64()
        .unwrap();

    // A restart keeps the admin's bundle and logs nothing new.
    let gw = gw.restart();
    assert_eq!(in_force(&gw), new);
    let (id, _) = transfer(&gw);
    assert_eq!(decision_of(&gw, &id)["policy_version"], version);

    // So does a restart without the sled folder: the view is rebuilt from the log.
    let folder = gw.stop();
    std::fs::remove_dir_all(folder.path().join("data").join(SLED)).unwrap();
    let gw = Gateway::resume(folder).start();
    assert_eq!(in_force(&gw), new);
    let (id, _) = transfer(&gw);
    assert_eq!(decision_of(&gw, &id)["policy_version"], version);

    // Editing the file puts the file in force at the next reload, logged as such.
    let file = gw.dir().join("policy.toml");
    let edited = suspended_sender(&std::fs::read_to_string(&file).unwrap());
    std::fs::write(&file, &edited).unwrap();
    assert!(gw.reload());
    assert_eq!(in_force(&gw), edited);
    let (_, denied) = transfer(&gw);
    let index = denied.assert_error(403, "tenant.suspended", true).unwrap();
    let records = gw.stop().records();
    let file_version = records[index as usize]["policy_version"].as_u64().unwrap();
    assert!(file_version > version);
    let change = &records[file_version as usize];
    assert_eq!(change["source"], "file");
    assert_eq!(change["previous_version"], version);
    assert_eq!(
        change["diff"]["tenant"]["removed"],
        serde_json::json!(["hk-newlab"])
    );
}

#[test]
fn policy_apply_shows_the_diff_and_applies_through_the_api() {
    let gw = Gateway::dev().start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.toml");
    std::fs::write(&file, with_new_tenant(&bundle_file(&gw))).unwrap();
    let apply = |extra: &[&str]| {
        Loopgate::new()
            .args(["policy", "apply"])
            .args([file.as_os_str()])
            .args(["--url", &format!("https://localhost:{}", gw.api().port())])
            .args(["--cert"])
            .args([gw.pki("admin-park-ops.pem").into_os_string()])
            .args(["--key"])
            .args([gw.pki("admin-park-ops.key").into_os_string()])
            .args(["--ca"])
            .args([gw.pki("ca.pem").into_os_string()])
            .args(extra.iter().copied())
            .run()
    };
    let dry = apply(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("+ [[tenant]] hk-newlab"), "{dry:?}");
    assert_eq!(in_force(&gw), bundle_file(&gw));

    let run = apply(&["--yes"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("+ [[tenant]] hk-newlab"), "{run:?}");
    assert!(run.stdout.contains("applied: policy_version "), "{run:?}");
    assert_eq!(in_force(&gw), std::fs::read_to_string(&file).unwrap());

    // An invalid file is refused before anything is sent.
    std::fs::write(&file, "[[tenant]]\nid = 3\n").unwrap();
    let run = apply(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bundle.toml:2:"), "{run:?}");

    // A tenant's certificate is not an admin's.
    std::fs::write(&file, bundle_file(&gw)).unwrap();
    let run = Loopgate::new()
        .args(["policy", "apply"])
        .args([file.as_os_str()])
        .args(["--url", &format!("https://localhost:{}", gw.api().port())])
        .args(["--cert"])
        .args([gw.pki("tenant-sz-genomics.pem").into_os_string()])
        .args(["--key"])
        .args([gw.pki("tenant-sz-genomics.key").into_os_string()])
        .args(["--ca"])
        .args([gw.pki("ca.pem").into_os_string()])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("auth.forbidden"), "{run:?}");
}

#[test]
fn suspending_a_suspended_tenant_changes_and_logs_nothing_and_says_so() {
    let gw = Gateway::dev().start();
    let first = suspend(&gw, "sz-genomics", "");
    assert_eq!(first.status, 200, "{}", first.text());
    let version = first.json()["policy_version"].as_u64().unwrap();
    let in_force_before = in_force(&gw);

    let again = suspend(&gw, "sz-genomics", r#"{"reason": "again"}"#);
    assert_eq!(again.status, 200, "{}", again.text());
    let body = again.json();
    assert_eq!(body["policy_version"], version, "{body}");
    assert_eq!(body["unchanged"], true, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("already"),
        "{body}"
    );
    assert_eq!(in_force(&gw), in_force_before);

    let records = gw.stop().records();
    let changes = records
        .iter()
        .filter(|r| r["kind"] == "policy_change" && r["source"] == "suspension")
        .count();
    assert_eq!(changes, 1, "the second suspension was logged");
    assert_eq!(
        records.len() as u64,
        version + 1,
        "something was logged after it"
    );
}
