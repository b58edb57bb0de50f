//! The admin's command line against a real gateway (README "Command line"): `policy apply`
//! asks before it applies (`--yes` for scripts, exit 3 when not confirmed), sends nothing for
//! the bundle in force, and calls out a change that lifts a suspension, which needs `--yes`
//! even at a terminal; `tenant suspend` / `tenant unsuspend` log their reason; connection
//! files that cannot be read are named with their flag.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use http::Method;
use loopgate_tests::client::{Client, Response, TestBody};
use loopgate_tests::gateway::Gateway;
use loopgate_tests::{Loopgate, Run, loopgate_bin};

fn admin(gw: &Gateway) -> Client {
    Client::principal(gw, "admin", "park-ops")
}

fn in_force(gw: &Gateway) -> (String, u64) {
    let response = admin(gw).get("/v1/admin/policy");
    assert_eq!(response.status, 200, "{}", response.text());
    let version = response.headers["loop-policy-version"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (response.text(), version)
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

fn post_admin(gw: &Gateway, path: &str, body: &str) -> Response {
    let client = admin(gw);
    client.request(
        client
            .builder(Method::POST, path)
            .body(TestBody::bytes(body.to_owned()))
            .unwrap(),
    )
}

/// The connection flags for `gw` as its admin.
fn connection(gw: &Gateway) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--url".into(),
        format!("https://localhost:{}", gw.api().port()).into(),
    ];
    for (flag, file) in [
        ("--cert", "admin-park-ops.pem"),
        ("--key", "admin-park-ops.key"),
        ("--ca", "ca.pem"),
    ] {
        args.push(flag.into());
        args.push(gw.pki(file).into_os_string());
    }
    args
}

fn apply(gw: &Gateway, file: &Path, extra: &[&str]) -> Run {
    Loopgate::new()
        .args(["policy", "apply"])
        .args([file.as_os_str()])
        .args(connection(gw))
        .args(extra.iter().copied())
        .run()
}

fn tenant(gw: &Gateway, action: &str, id: &str, reason: &str) -> Run {
    Loopgate::new()
        .args(["tenant", action, id, "--reason", reason])
        .args(connection(gw))
        .run()
}

/// One non-personal transfer from sz-genomics: its status and error code.
fn transfer(gw: &Gateway) -> Response {
    Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(&b"instrument readings"[..])
        .send()
}

fn with_new_tenant(text: &str) -> String {
    format!(
        "{text}\n[[tenant]]\nid = \"hk-newlab\"\nlegal_name = \"HK New Lab Limited\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2036-12-31\nciio = false\n"
    )
}

fn policy_changes(records: &[serde_json::Value]) -> usize {
    records
        .iter()
        .filter(|r| r["kind"] == "policy_change")
        .count()
}

/// `script` runs a command on a pseudo-terminal; without it the terminal cases cannot run.
fn have_script() -> bool {
    let found = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`script` (util-linux) is not installed, and CI is set"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the terminal cases: `script` (util-linux) is not installed"
        );
    }
    found
}

/// `policy apply` on a pseudo-terminal whose keyboard types `typed`: exit code and everything
/// the terminal showed.
fn apply_at_a_terminal(gw: &Gateway, file: &Path, typed: &str) -> (i32, String) {
    let mut line = vec![
        loopgate_bin().display().to_string(),
        "policy".into(),
        "apply".into(),
        file.display().to_string(),
    ];
    line.extend(
        connection(gw)
            .iter()
            .map(|a| a.to_string_lossy().into_owned()),
    );
    let quoted: Vec<String> = line.iter().map(|a| format!("'{a}'")).collect();
    let mut child = Command::new("script")
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(typed.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), shown)
}

#[test]
fn policy_apply_without_a_terminal_needs_yes_and_an_identical_bundle_logs_nothing() {
    let gw = Gateway::dev().start();
    let (original, start_version) = in_force(&gw);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.toml");
    let new = with_new_tenant(&original);
    std::fs::write(&file, &new).unwrap();

    // No terminal (the harness gives no standard input) and no --yes: the diff, then a refusal
    // naming --yes, exit 3, and nothing applied.
    let refused = apply(&gw, &file, &[]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stdout.contains("+ [[tenant]] hk-newlab"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert!(
        refused.stderr.contains("nothing was applied"),
        "{refused:?}"
    );
    assert_eq!(in_force(&gw), (original.clone(), start_version));

    let applied = apply(&gw, &file, &["--yes"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied.stdout.contains("applied: policy_version "),
        "{applied:?}"
    );
    let (text, version) = in_force(&gw);
    assert_eq!(text, new);
    assert!(version > start_version);

    // The same file again: nothing sent, nothing logged, and it says so.
    let again = apply(&gw, &file, &["--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains(&format!(
            "no changes: {} is the bundle in force (policy_version {version})",
            file.display()
        )),
        "{again:?}"
    );
    // The gateway's side: an identical PUT answers the version in force and an empty diff.
    let put = put_policy(&gw, &new);
    assert_eq!(put.status, 200, "{}", put.text());
    let body = put.json();
    assert_eq!(body["policy_version"], version, "{body}");
    assert_eq!(body["unchanged"], true, "{body}");
    assert_eq!(
        body["diff"]["tenant"]["added"],
        serde_json::json!([]),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("identical"),
        "{body}"
    );
    assert_eq!(in_force(&gw), (new.clone(), version));

    // A change of comments only is a new text in force: logged, with an empty diff.
    let commented = format!("{new}# reviewed\n");
    let put = put_policy(&gw, &commented);
    assert_eq!(put.status, 200, "{}", put.text());
    assert!(put.json()["unchanged"].is_null(), "{}", put.text());
    let commented_version = put.json()["policy_version"].as_u64().unwrap();
    assert!(commented_version > version);

    let records = gw.stop().records();
    // The start's, the applied file's and the comment's: not the refused run's, nor the
    // identical ones.
    assert_eq!(policy_changes(&records), 3, "{records:#?}");
    assert_eq!(records.len() as u64, commented_version + 1);
}

#[test]
fn a_lift_of_a_suspension_is_called_out_and_needs_yes_even_at_a_terminal() {
    let gw = Gateway::dev().start();
    let (original, _) = in_force(&gw);
    let suspended = post_admin(&gw, "/v1/admin/tenants/sz-genomics/suspend", "");
    assert_eq!(suspended.status, 200, "{}", suspended.text());
    let (_, suspended_version) = in_force(&gw);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.toml");
    std::fs::write(&file, &original).unwrap();
    let lift = "! lifts a suspension: [[tenant]] sz-genomics status \"suspended\" -> \"approved\"";

    let dry = apply(&gw, &file, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains(lift), "{dry:?}");

    let refused = apply(&gw, &file, &[]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stdout.contains(lift), "{refused:?}");
    assert!(refused.stderr.contains("lifts 1 suspension"), "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");

    if have_script() {
        // At a terminal, typing y does not lift it: nothing is even asked.
        let (code, shown) = apply_at_a_terminal(&gw, &file, "y\n");
        assert_eq!(code, 3, "{shown}");
        assert!(shown.contains(lift), "{shown}");
        assert!(!shown.contains("[y/N]"), "{shown}");
        assert_eq!(in_force(&gw).1, suspended_version);

        // A change that lifts nothing is asked for: no applies nothing, y applies it.
        let (suspended_text, _) = in_force(&gw);
        std::fs::write(&file, with_new_tenant(&suspended_text)).unwrap();
        let (code, shown) = apply_at_a_terminal(&gw, &file, "n\n");
        assert_eq!(code, 3, "{shown}");
        assert!(shown.contains("[y/N]"), "{shown}");
        assert_eq!(in_force(&gw).1, suspended_version);
        let (code, shown) = apply_at_a_terminal(&gw, &file, "y\n");
        assert_eq!(code, 0, "{shown}");
        assert!(shown.contains("applied: policy_version "), "{shown}");
        assert!(in_force(&gw).1 > suspended_version);
        std::fs::write(&file, &original).unwrap();
    }
    assert_eq!(transfer(&gw).error(), "tenant.suspended");

    let lifted = apply(&gw, &file, &["--yes"]);
    assert_eq!(lifted.code, 0, "{lifted:?}");
    assert!(lifted.stdout.contains(lift), "{lifted:?}");
    assert_eq!(transfer(&gw).status, 201);
}

#[test]
fn tenant_suspend_and_unsuspend_log_their_reason_and_take_effect_at_once() {
    let gw = Gateway::dev().start();
    let run = tenant(
        &gw,
        "suspend",
        "sz-genomics",
        "incident-42 exfiltration alert",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("suspended sz-genomics: policy_version "),
        "{run:?}"
    );
    transfer(&gw).assert_error(403, "tenant.suspended", true);

    // Again: already so, nothing logged, exit 0.
    let again = tenant(&gw, "suspend", "sz-genomics", "again");
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("suspended already"), "{again:?}");

    // The regulator finds the suspension by its reason.
    let regulator = Client::regulator(&gw, "pcpd");
    let found = regulator
        .get("/v1/audit/records?kind=policy_change&reason=incident-42%20exfiltration%20alert");
    assert_eq!(found.status, 200, "{}", found.text());
    let records = found.json()["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["record"]["source"], "suspension");
    assert_eq!(records[0]["record"]["tenant"], "sz-genomics");

    let run = tenant(&gw, "unsuspend", "sz-genomics", "incident-42 closed");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("unsuspended sz-genomics: policy_version "),
        "{run:?}"
    );
    let version: u64 = run
        .stdout
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(transfer(&gw).status, 201);
    assert_eq!(in_force(&gw).1, version);

    // Nothing to lift: 409 policy.not_suspended, exit 1, nothing logged.
    let run = tenant(&gw, "unsuspend", "sz-genomics", "twice");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("policy.not_suspended"), "{run:?}");
    assert!(run.stderr.contains("409"), "{run:?}");
    post_admin(&gw, "/v1/admin/tenants/sz-genomics/unsuspend", "").assert_error(
        409,
        "policy.not_suspended",
        false,
    );
    post_admin(&gw, "/v1/admin/tenants/no-such-tenant/unsuspend", "").assert_error(
        404,
        "request.not_found",
        false,
    );
    post_admin(&gw, "/v1/admin/tenants/sz-genomics/unsuspend", "[1]").assert_error(
        400,
        "request.malformed_body",
        false,
    );
    let run = tenant(&gw, "suspend", "no-such-tenant", "x");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("request.not_found"), "{run:?}");

    // A revocation is not a suspension: unsuspend refuses it and says how it is lifted.
    let (text, _) = in_force(&gw);
    let at = text.find("id = \"hk-biolab\"").unwrap();
    let status = at + text[at..].find("status = \"approved\"").unwrap();
    let revoked = format!(
        "{}status = \"revoked\"{}",
        &text[..status],
        &text[status + "status = \"approved\"".len()..]
    );
    assert_eq!(put_policy(&gw, &revoked).status, 200);
    let run = tenant(&gw, "unsuspend", "hk-biolab", "try");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("revoked"), "{run:?}");
    assert!(run.stderr.contains("--yes"), "{run:?}");

    let records = gw.stop().records();
    let change = &records[version as usize];
    assert_eq!(change["kind"], "policy_change");
    assert_eq!(change["source"], "unsuspension");
    assert_eq!(change["tenant"], "sz-genomics");
    assert_eq!(change["reason"], "incident-42 closed");
    assert_eq!(change["principal"], "admin/park-ops");
    assert_eq!(
        change["diff"]["tenant"]["changed"]["sz-genomics"]["status"],
        serde_json::json!({"from": "suspended", "to": "approved"})
    );
    let unsuspensions = records
        .iter()
        .filter(|r| r["source"] == "unsuspension")
        .count();
    assert_eq!(unsuspensions, 1, "a refused unsuspension was logged");
    let suspensions = records
        .iter()
        .filter(|r| r["source"] == "suspension")
        .count();
    assert_eq!(suspensions, 1, "the second suspension was logged");
}

/// Run from another folder, the dev-mode defaults point nowhere: the message names the default
/// path tried, the folder it was relative to and the flag that sets it (exit 2).
#[test]
fn a_connection_file_that_cannot_be_read_is_named_with_its_flag() {
    let elsewhere = tempfile::tempdir().unwrap();
    let bundle = loopgate_tests::BundleText::example().write_to(elsewhere.path());
    let run = |args: &[&str]| {
        let out = Command::new(loopgate_bin())
            .args(args)
            .current_dir(elsewhere.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let bundle = bundle.to_str().unwrap();
    let cwd = elsewhere.path().canonicalize().unwrap();
    for args in [
        vec!["policy", "apply", bundle, "--yes"],
        vec!["tenant", "suspend", "sz-genomics", "--reason", "x"],
    ] {
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("loopgate-dev/pki/ca.pem (the default, relative to "),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(&cwd.display().to_string()), "{stderr}");
        assert!(stderr.contains("pass --ca FILE"), "{stderr}");
    }
    // A path given explicitly is named with its flag.
    let (code, stderr) = run(&[
        "tenant",
        "unsuspend",
        "sz-genomics",
        "--reason",
        "x",
        "--ca",
        bundle,
        "--cert",
        "/nonexistent/admin.pem",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the admin certificate (--cert) /nonexistent/admin.pem: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("check the path given to --cert"),
        "{stderr}"
    );
}
