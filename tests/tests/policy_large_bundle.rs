//! Bundles larger than a record (probe item 4): a 300-tenant bundle (over 100 KB; records are
//! capped at 64 KiB) applies through `PUT /v1/admin/policy` and loads from the configured file
//! at start, survives a restart, and is stored as a content-addressed blob beside the log
//! (`data/blobs/sha256/<hex>`) that its `policy_change` record names by SHA-256 and size.
//! `audit verify --data-dir` checks every blob a record names, and a tampered blob is found by
//! it and refused at start, naming the file. `check-config` says ok exactly when `serve` starts.

#![allow(clippy::unwrap_used)]

use http::Method;
use loopgate_tests::Loopgate;
use loopgate_tests::client::{Client, Response, TestBody};
use loopgate_tests::gateway::{Folder, Gateway};
use serde_json::Value;

/// `count` more Hong Kong Park tenants, each with a comment line: about 350 bytes each.
fn tenants(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "\n# Tenant {i} of the bulk registration of the park's second phase; \
                 registered by the park office on behalf of the tenant\n[[tenant]]\nid = \"hk-bulk-{i:03}\"\n\
                 legal_name = \"HK Bulk Research Laboratory {i:03} Limited\"\n\
                 side = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\n\
                 status = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2036-12-31\n\
                 ciio = false\n"
            )
        })
        .collect()
}

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

fn in_force(gw: &Gateway) -> String {
    let response = admin(gw).get("/v1/admin/policy");
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

fn transfer_status(gw: &Gateway) -> u16 {
    Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"instrument readings"[..])
        .send()
        .status
}

fn verify(folder: &Folder) -> loopgate_tests::Run {
    Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([folder.path().join("data").as_os_str()])
        .run()
}

/// The blob file a record names under `blobs.<name>`.
fn blob_path(folder: &Folder, record: &Value, name: &str) -> std::path::PathBuf {
    let hex = record["blobs"][name]["sha256"].as_str().unwrap();
    folder.path().join("data/blobs/sha256").join(hex)
}

fn check_config(folder: &Folder) -> loopgate_tests::Run {
    Loopgate::new()
        .args(["check-config", "--config"])
        .args([folder.path().join("gateway.toml").as_os_str()])
        .run()
}

#[test]
fn a_300_tenant_bundle_applies_through_the_admin_api_and_survives_a_restart() {
    let gw = Gateway::dev().start();
    let original = in_force(&gw);
    let big = format!("{original}{}", tenants(300));
    assert!(big.len() > 100_000, "{} bytes", big.len());

    let response = put_policy(&gw, &big);
    assert_eq!(response.status, 200, "{}", response.text());
    let applied = response.json();
    let version = applied["policy_version"].as_u64().unwrap();
    assert_eq!(
        applied["diff"]["tenant"]["added"].as_array().unwrap().len(),
        300
    );
    assert_eq!(in_force(&gw), big);
    assert_eq!(transfer_status(&gw), 201);

    // The record names the blob instead of holding the bundle, and stays small.
    let folder = gw.stop();
    let records = folder.records();
    let change = &records[usize::try_from(version).unwrap()];
    assert_eq!(change["kind"], "policy_change");
    assert!(change.get("bundle").is_none(), "{change}");
    assert_eq!(change["blobs"]["bundle"]["size"], big.len());
    let blob = blob_path(&folder, change, "bundle");
    assert_eq!(std::fs::read_to_string(&blob).unwrap(), big);
    assert!(change.to_string().len() < 64 * 1024);
    let run = verify(&folder);
    assert_eq!(run.code, 0, "{run:?}");

    // A restart puts the bundle in force again from its blob.
    let gw = Gateway::resume(folder).start();
    assert_eq!(in_force(&gw), big);
    assert_eq!(transfer_status(&gw), 201);
    let folder = gw.stop();

    // A tampered blob: `audit verify` names it and fails, and `serve` refuses to start on it.
    let mut altered = big.clone().into_bytes();
    altered[100] ^= 1;
    std::fs::write(&blob, &altered).unwrap();
    let run = verify(&folder);
    assert_eq!(run.code, 1, "{run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains(&blob.display().to_string()), "{said}");
    let (code, stderr, folder) = Gateway::resume(folder).start_refused();
    assert_ne!(code, Some(0));
    assert!(stderr.contains(&blob.display().to_string()), "{stderr}");
    // A missing one too.
    std::fs::remove_file(&blob).unwrap();
    let run = verify(&folder);
    assert_eq!(run.code, 1, "{run:?}");
    let (code, stderr, _) = Gateway::resume(folder).start_refused();
    assert_ne!(code, Some(0));
    assert!(stderr.contains(&blob.display().to_string()), "{stderr}");
}

#[test]
fn a_300_tenant_bundle_file_loads_at_start_and_check_config_agrees_with_serve() {
    let gw = Gateway::dev().policy(|b| b.append(&tenants(300))).start();
    let big = std::fs::read_to_string(gw.dir().join("policy.toml")).unwrap();
    assert!(big.len() > 100_000, "{} bytes", big.len());
    assert_eq!(in_force(&gw), big);
    assert_eq!(transfer_status(&gw), 201);
    let folder = gw.stop();
    let run = check_config(&folder);
    assert_eq!(run.code, 0, "{run:?}");
    let records = folder.records();
    let change = records
        .iter()
        .rev()
        .find(|r| r["kind"] == "policy_change")
        .unwrap();
    assert_eq!(change["source"], "file");
    assert_eq!(change["blobs"]["bundle"]["size"], big.len());
    let run = verify(&folder);
    assert_eq!(run.code, 0, "{run:?}");
    let gw = Gateway::resume(folder).start();
    assert_eq!(in_force(&gw), big);
    let folder = gw.stop();

    // A bundle serve refuses, check-config refuses too.
    let file = folder.path().join("policy.toml");
    std::fs::write(&file, format!("{big}\n[[tenant]]\nid = 7\n")).unwrap();
    let run = check_config(&folder);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stdout.contains("policy.toml"), "{run:?}");
    let (code, _, _) = Gateway::resume(folder).start_refused();
    assert_ne!(code, Some(0));
}

#[test]
fn a_diff_too_large_to_be_inline_is_a_blob_too() {
    let gw = Gateway::dev().start();
    let original = in_force(&gw);
    let big = format!("{original}{}", tenants(1200));
    let response = put_policy(&gw, &big);
    assert_eq!(response.status, 200, "{}", response.text());
    let applied = response.json();
    let version = applied["policy_version"].as_u64().unwrap();
    assert_eq!(
        applied["diff"]["tenant"]["added"].as_array().unwrap().len(),
        1200
    );
    let folder = gw.stop();
    let records = folder.records();
    let change = &records[usize::try_from(version).unwrap()];
    assert!(change.get("diff").is_none(), "{change}");
    assert!(change.get("bundle").is_none(), "{change}");
    let diff: Value =
        serde_json::from_slice(&std::fs::read(blob_path(&folder, change, "diff")).unwrap())
            .unwrap();
    assert_eq!(diff, applied["diff"]);
    let run = verify(&folder);
    assert_eq!(run.code, 0, "{run:?}");
    let gw = Gateway::resume(folder).start();
    assert_eq!(in_force(&gw), big);
    gw.stop();
}
