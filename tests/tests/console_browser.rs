//! The regulator console in a real browser (issue 22): Debian's Chromium driven by Playwright
//! for Python (`tests/browser/console.py`), presenting the regulators' and a tenant's client
//! certificates to the real gateway. The script checks that the overview shows the numbers the
//! API gives (30 and 90 days), that a search by tenant and reason pages like the API, that
//! "Verify in this browser" says `Verified` for real records (a transfer's, a shipment's) and
//! `Not verified: ...` for a leaf altered in transit (`page.route` rewrites the answer), a
//! wrong or malformed pinned key and no key, that the pinned witnesses' cosignatures (two
//! `loopgate witness` processes, quorum 2) verify and a wrong witness key misses the quorum, that the overdue page and a monthly report show
//! the API's answers, the language switch, that a tenant certificate gets the "This console is
//! for regulators" page and no data, and that an HGR-only regulator sees only its scope. It
//! saves a screenshot of each page under `<target>/console-screenshots/`.
//!
//! Skipped, with a message saying what to install, when `chromium` or the `playwright` package
//! is missing, except with `CI` set: then it fails (`.ci/run` installs both).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Bundle, Folder, Gateway};
use loopgate_tests::witness::WitnessFolder;

/// The dev bundle plus an HGR item (with its information filing and backup) and a regulator
/// that sees HGR transfers only.
fn with_hgr_regulator(bundle: Bundle) -> Bundle {
    bundle.with_hgr_item().with_regulator(
        "nhc-hgr",
        "National Health Commission, human genetic resources",
        &["hgr"],
    )
}

/// Why the browser test cannot run here, if it cannot.
fn missing_browser() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !std::path::Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output();
    match playwright {
        Ok(out) if out.status.success() => None,
        _ => Some("no Python package playwright (python3 -m pip install playwright)".to_owned()),
    }
}

/// `<target>/console-screenshots` (this test runs from `<target>/<profile>/deps/`).
fn screenshots() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    target.join("console-screenshots")
}

#[test]
fn the_console_in_chromium_shows_the_apis_numbers_and_verifies_in_the_browser() {
    if let Some(why) = missing_browser() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the browser test cannot run: {why}"
        );
        eprintln!("SKIPPED console_browser: {why}; install both to run it");
        return;
    }
    // Two witnesses, quorum 2: checkpoints carry both cosignatures for the browser to check.
    let folder = Folder::init();
    let log_pub = std::fs::read_to_string(folder.path().join("log.pub")).unwrap();
    let witnesses: Vec<_> = ["witness.pcpd.hk.example", "witness.cac-gd.cn.example"]
        .into_iter()
        .map(|name| WitnessFolder::following(name, loopgate::dev::ORIGIN, &log_pub).start())
        .collect();
    let keys: Vec<String> = witnesses
        .iter()
        .map(|w| w.folder().verifier.clone())
        .collect();
    let urls: Vec<String> = witnesses.iter().map(|w| w.url()).collect();
    let (config_keys, config_urls) = (keys.clone(), urls.clone());
    let gw = Gateway::in_folder(folder)
        .policy(with_hgr_regulator)
        .config(move |c| {
            c.witness("hk", &config_urls[0], &config_keys[0])
                .witness("gd", &config_urls[1], &config_keys[1])
                .set("log", "witness_quorum", 2)
        })
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    for i in 0..3 {
        let sent = sz
            .post_transfer()
            .non_personal()
            .body(format!("qc run {i}"))
            .send();
        assert_eq!(sent.status, 201, "{}", sent.text());
    }
    let personal = sz.post_transfer().personal(12).body("cohort rows").send();
    assert_eq!(personal.status, 201, "{}", personal.text());
    sz.post_denials(4);
    let hgr = sz
        .post_transfer()
        .hgr()
        .body("anonymised variant calls")
        .send();
    assert_eq!(hgr.status, 201, "{}", hgr.text());
    let hgr_denied = sz
        .post_transfer()
        .hgr()
        .set("Loop-Purpose", "marketing")
        .body("x")
        .send();
    assert_eq!(hgr_denied.status, 403, "{}", hgr_denied.text());
    let declared = sz.declare(&loopgate_tests::shipment::declaration());
    assert_eq!(declared.status, 201, "{}", declared.text());
    let shipment = declared.json()["shipment_id"].as_str().unwrap().to_owned();
    let sealed = sz.custody(&shipment, &loopgate_tests::shipment::step("sealed"));
    assert_eq!(sealed.status, 201, "{}", sealed.text());
    gw.issue_cert("regulator", "nhc-hgr");

    let out_dir = screenshots();
    let _ = std::fs::remove_dir_all(&out_dir);
    let pem = |name: &str| gw.pki(name).display().to_string();
    let out = Command::new("python3")
        .arg(loopgate_tests::workspace_root().join("tests/browser/console.py"))
        .arg(format!("https://127.0.0.1:{}", gw.api().port()))
        .args([pem("regulator-pcpd.pem"), pem("regulator-pcpd.key")])
        .arg(gw.log_pub_path())
        .arg(&out_dir)
        .arg("--tenant")
        .args([pem("tenant-sz-genomics.pem"), pem("tenant-sz-genomics.key")])
        .arg("--scoped")
        .args([pem("regulator-nhc-hgr.pem"), pem("regulator-nhc-hgr.key")])
        .args(["--witness", &keys[0], "--witness", &keys[1]])
        .output()
        .unwrap();
    let (success, said) = loopgate_tests::printed(&out);
    println!("{said}");
    assert!(success, "the browser checks failed:\n{said}");
    for check in [
        "ok: overview shows the API's numbers (5 allowed, 5 denied transfers",
        "ok: a search by tenant and reason",
        "ok: verify says Verified for the",
        "ok: verify fails for a leaf altered in transit",
        "ok: verify fails with a wrong pinned key",
        "ok: verify checks the pinned witnesses' cosignatures",
        &format!("ok: shipment {shipment}"),
        "ok: overdue page",
        "ok: report for",
        "ok: the language switch relabels the page",
        "ok: a tenant certificate gets the 403 page",
        "ok: a scoped regulator sees only its scope",
        "done: every check passed",
    ] {
        assert!(said.contains(check), "no {check:?} in:\n{said}");
    }
    for shot in [
        "overview.png",
        "records.png",
        "record.png",
        "transfer.png",
        "shipment.png",
        "overdue.png",
        "reports.png",
        "forbidden.png",
        "scoped-overview.png",
    ] {
        let size = std::fs::metadata(out_dir.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 1000, "screenshot {shot}: {size} bytes");
    }
}
