//! `loopgate policy check` and `loopgate policy eval` as a real process (SPEC.md section 7):
//! output format and exit codes are part of the contract.

#![allow(clippy::unwrap_used)]

use loopgate_tests::{BundleText, Loopgate, workspace_root};
use serde_json::json;
use tempfile::TempDir;

const NOON: &str = "2026-06-01T12:00:00+08:00";

fn check(bundle: &BundleText) -> (loopgate_tests::Run, String) {
    let dir = TempDir::new().unwrap();
    let path = bundle.write_to(dir.path());
    let run = Loopgate::new()
        .args(["policy", "check"])
        .arg_path(&path)
        .run();
    (run, path.display().to_string())
}

trait ArgPath {
    fn arg_path(self, path: &std::path::Path) -> Self;
}

impl ArgPath for Loopgate {
    fn arg_path(self, path: &std::path::Path) -> Self {
        self.args([path.as_os_str()])
    }
}

/// `policy eval` on `bundle` with the sample sender and recipient plus `extra` arguments.
fn eval(bundle: &BundleText, at: &str, extra: &[&str]) -> loopgate_tests::Run {
    let dir = TempDir::new().unwrap();
    let path = bundle.write_to(dir.path());
    Loopgate::new()
        .args(["policy", "eval", "--bundle"])
        .arg_path(&path)
        .args([
            "--at",
            at,
            "--sender",
            "sz-genomics",
            "--recipient",
            "hk-biolab",
        ])
        .args(extra)
        .run()
}

const PERSONAL: &[&str] = &[
    "--item",
    "INV-PI-001",
    "--purpose",
    "research.cohort_study",
    "--filing",
    "GBA-SC-DEMO-001",
    "--subjects",
    "250",
];

#[test]
fn the_fixture_is_the_reference_bundle() {
    // Guards against the in-repo copy drifting from ../shared/examples/policy-v2.toml.
    let shared = workspace_root().join("../shared/examples/policy-v2.toml");
    match std::fs::read_to_string(&shared) {
        Ok(reference) => assert_eq!(BundleText::example().0, reference),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {} is not beside the repository", shared.display());
        }
        Err(e) => panic!(
            "{}: {e} (CI runs with ../shared beside the clone)",
            shared.display()
        ),
    }
}

/// The example bundle the packages ship (`deploy/policy.toml`) passes `policy check` and is the
/// reference bundle with its own header: only the leading comment lines differ.
#[test]
fn the_shipped_example_bundle_is_the_reference_bundle_and_checks() {
    let path = workspace_root().join("deploy/policy.toml");
    let example = std::fs::read_to_string(&path).unwrap();
    let without_header = |text: &str| -> String {
        text.lines()
            .skip_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_header(&example),
        without_header(&BundleText::example().0),
        "deploy/policy.toml drifted from the reference bundle"
    );
    let run = Loopgate::new()
        .args(["policy", "check"])
        .arg_path(&path)
        .run();
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn check_accepts_the_reference_bundle() {
    let (run, path) = check(&BundleText::example());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout.trim(),
        format!(
            "{path}: ok: 2 tenants, 1 carriers, 2 inventory items, 1 sample items, 1 contract filings, 1 HGR approvals, 1 regulators"
        )
    );
}

#[test]
fn check_reports_every_problem_with_file_line_and_column() {
    let bundle = BundleText::example()
        .replace("ciio = false", "ciio = false\ncolour = \"red\"")
        .replace(
            "recipients = [\"hk-biolab\"]",
            "recipients = [\"hk-nobody\"]",
        )
        .replace("route = \"gba_sc\"", "route = \"gba\"");
    let colour = bundle.line_of("colour");
    let nobody = bundle.line_of("\"hk-nobody\"");
    let route = bundle.line_of("route = \"gba\"");
    let (run, path) = check(&bundle);
    assert_eq!(run.code, 2, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(
        lines[0].starts_with(&format!("{path}:{colour}:1: unknown key `colour`")),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with(&format!("{path}:{nobody}:15: recipient \"hk-nobody\"")),
        "{run:?}"
    );
    assert!(
        lines[2].starts_with(&format!("{path}:{route}:9: `route`")),
        "{run:?}"
    );
    assert!(lines[2].contains("gba_sc, national_sc, certification, security_assessment"));
}

#[test]
fn check_reports_toml_syntax_errors_with_a_location() {
    let bundle = BundleText::example().replace("[catalogue]", "[catalogue");
    let line = bundle.line_of("[catalogue");
    let (run, path) = check(&bundle);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!("{path}:{line}:")),
        "{run:?}"
    );
    assert!(run.stdout.contains("invalid TOML"), "{run:?}");
}

#[test]
fn check_prints_warnings_but_accepts() {
    let bundle = BundleText::example().replace(
        "categories = [\"instrument_telemetry\"]",
        "categories = [\"instrument_telemetry\", \"soil_samples\"]",
    );
    let line = bundle.line_of("soil_samples");
    let (run, path) = check(&bundle);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!("{path}:{line}:"))
            && run.stdout.contains("warning: category \"soil_samples\""),
        "{run:?}"
    );
}

#[test]
fn check_of_a_missing_or_non_utf8_file_is_a_usage_error() {
    let run = Loopgate::new()
        .args(["policy", "check", "/nonexistent/policy.toml"])
        .run();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout
            .contains("/nonexistent/policy.toml: cannot read the bundle"),
        "{run:?}"
    );

    let dir = TempDir::new().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[catalogue]\ncategories = [\"caf\xe9\"]\n").unwrap();
    let run = Loopgate::new()
        .args(["policy", "check"])
        .arg_path(&path)
        .run();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("not UTF-8"), "{run:?}");
}

#[test]
fn eval_allows_a_non_personal_transfer() {
    let run = eval(
        &BundleText::example(),
        NOON,
        &[
            "--item",
            "INV-NP-001",
            "--purpose",
            "research.instrument_qc",
            "--size",
            "1024",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"decision": "allow", "reason": null, "rule": null, "flags": []})
    );
}

#[test]
fn eval_allows_a_personal_transfer_under_the_filed_contract() {
    let run = eval(&BundleText::example(), NOON, PERSONAL);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"decision": "allow", "reason": null, "rule": null, "flags": []})
    );
}

#[test]
fn eval_denies_with_the_first_failing_rule_and_exit_1() {
    // Missing personal-information headers: rule 11.
    let run = eval(
        &BundleText::example(),
        NOON,
        &["--item", "INV-PI-001", "--purpose", "research.cohort_study"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"decision": "deny", "reason": "request.missing_header", "rule": 11, "flags": []})
    );

    // A suspended sender fails rule 1 before anything else is looked at.
    let suspended =
        BundleText::example().replace("status = \"approved\"", "status = \"suspended\"");
    let run = eval(&suspended, NOON, &["--item", "nope", "--purpose", "nope"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"decision": "deny", "reason": "tenant.suspended", "rule": 1, "flags": []})
    );
}

#[test]
fn eval_flags_a_late_filing_but_allows() {
    // Effective Monday 2026-03-02: the 10th working day after it is Monday 2026-03-16.
    let on_time = BundleText::example().replace("filed_on = 2026-03-10", "filed_on = 2026-03-16");
    let run = eval(&on_time, NOON, PERSONAL);
    assert_eq!(run.json()["flags"], json!([]), "{run:?}");

    let late = BundleText::example().replace("filed_on = 2026-03-10", "filed_on = 2026-03-17");
    let run = eval(&late, NOON, PERSONAL);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"decision": "allow", "reason": null, "rule": null, "flags": ["filed_late:processor"]})
    );

    // Each party on its own calendar: the recipient (Hong Kong) filed late too.
    let both = BundleText::example()
        .replace("filed_on = 2026-03-10", "filed_on = 2026-03-17")
        .replace("filed_on = 2026-03-12", "filed_on = 2026-03-18");
    let run = eval(&both, NOON, PERSONAL);
    assert_eq!(
        run.json()["flags"],
        json!(["filed_late:processor", "filed_late:recipient"]),
        "{run:?}"
    );
}

#[test]
fn eval_uses_the_calendar_day_in_utc_plus_8() {
    // The filing was never filed: overdue from 2026-03-17 (UTC+8), i.e. from 16:00 UTC on the 16th.
    let unfiled = BundleText::example().replace("filed_on = 2026-03-10, ", "");
    let run = eval(&unfiled, "2026-03-16T15:59:59Z", PERSONAL);
    assert_eq!(run.code, 0, "{run:?}");
    let run = eval(&unfiled, "2026-03-16T16:00:00Z", PERSONAL);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["reason"], json!("contract.filing_overdue"));
    assert_eq!(run.json()["rule"], json!(14));
}

#[test]
fn eval_holds_national_routes_to_the_volume_thresholds() {
    let national = BundleText::example().replace("route = \"gba_sc\"", "route = \"national_sc\"");
    let below = eval(
        &national,
        NOON,
        &[PERSONAL, &["--ytd-subjects", "999749"]].concat(),
    );
    assert_eq!(below.code, 0, "{below:?}");
    let at = eval(
        &national,
        NOON,
        &[PERSONAL, &["--ytd-subjects", "999750"]].concat(),
    );
    assert_eq!(at.code, 1, "{at:?}");
    assert_eq!(at.json()["reason"], json!("volume.route_insufficient"));
    // The GBA route has no head-count cap.
    let gba = eval(
        &BundleText::example(),
        NOON,
        &[PERSONAL, &["--ytd-subjects", "5000000"]].concat(),
    );
    assert_eq!(gba.code, 0, "{gba:?}");
}

#[test]
fn eval_on_an_invalid_bundle_exits_2_and_lists_the_problems() {
    let broken = BundleText::example().replace("owner = \"sz-genomics\"", "owner = \"sz-nobody\"");
    let line = broken.line_of("sz-nobody");
    let run = eval(&broken, NOON, PERSONAL);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("policy.toml:{line}:9: `owner`")),
        "{run:?}"
    );
}

/// `--sample-item` and its companions in place of `--item`: a shipment declaration (S1-S8).
fn shipment(quantity: &str, carrier: &str) -> Vec<String> {
    [
        "--sample-item",
        "SMP-BLOOD-001",
        "--quantity",
        quantity,
        "--carrier",
        carrier,
        "--purpose",
        "research.cohort_study",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn eval_decides_a_shipment_declaration_with_rules_s1_to_s8() {
    let bundle = BundleText::example();
    let args = shipment("24", "hkp-logistics");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = eval(&bundle, NOON, &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"decision": "allow", "reason": null, "rule": null, "flags": []})
    );
    for (quantity, carrier, reason, rule) in [
        ("0", "hkp-logistics", "sample.quantity_exceeded", "S5"),
        ("-4", "hkp-logistics", "sample.quantity_exceeded", "S5"),
        ("201", "hkp-logistics", "sample.quantity_exceeded", "S5"),
        ("24", "fly-by-night", "carrier.not_whitelisted", "S8"),
    ] {
        let args = shipment(quantity, carrier);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = eval(&bundle, NOON, &args);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(
            run.json(),
            json!({"decision": "deny", "reason": reason, "rule": rule, "flags": []}),
            "{quantity} {carrier}"
        );
    }
    // S1-S3 are rules 1-3, with their codes, under their S numbers.
    let suspended =
        BundleText::example().replace("status = \"approved\"", "status = \"suspended\"");
    let args = shipment("24", "hkp-logistics");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = eval(&suspended, NOON, &args);
    assert_eq!(
        run.json(),
        json!({"decision": "deny", "reason": "tenant.suspended", "rule": "S1", "flags": []})
    );
    // A shipment needs its quantity and carrier, and is not also a transfer.
    for extra in [
        &[
            "--sample-item",
            "SMP-BLOOD-001",
            "--purpose",
            "p",
            "--carrier",
            "c",
        ][..],
        &[
            "--sample-item",
            "SMP-BLOOD-001",
            "--purpose",
            "p",
            "--quantity",
            "1",
        ][..],
        &[
            "--item",
            "INV-NP-001",
            "--sample-item",
            "SMP-BLOOD-001",
            "--quantity",
            "1",
            "--carrier",
            "c",
            "--purpose",
            "p",
        ][..],
        &["--item", "INV-NP-001", "--purpose", "p", "--quantity", "1"][..],
        &["--purpose", "p"][..],
    ] {
        let run = eval(&bundle, NOON, extra);
        assert_eq!(run.code, 2, "{extra:?}: {run:?}");
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn eval_rejects_bad_usage_with_exit_2() {
    let bundle = BundleText::example();
    for extra in [
        &["--item", "INV-NP-001"][..], // no --purpose
        &["--item", "INV-NP-001", "--purpose", "p", "--subjects", "-1"][..], // negative count
        &["--item", "INV-NP-001", "--purpose", "p", "--size", "1e9"][..], // not an integer
    ] {
        let run = eval(&bundle, NOON, extra);
        assert_eq!(run.code, 2, "{extra:?}: {run:?}");
        assert!(run.stdout.is_empty());
    }
    let run = eval(
        &bundle,
        "2026-06-01 12:00",
        &["--item", "INV-NP-001", "--purpose", "p"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("RFC 3339"), "{run:?}");
}

#[test]
fn eval_accepts_a_bare_date_as_that_day_in_utc_plus_8() {
    let unfiled = BundleText::example().replace("filed_on = 2026-03-10, ", "");
    let due = eval(&unfiled, "2026-03-16", PERSONAL);
    assert_eq!(due.code, 0, "{due:?}");
    let after = eval(&unfiled, "2026-03-17", PERSONAL);
    assert_eq!(
        after.json()["reason"],
        json!("contract.filing_overdue"),
        "{after:?}"
    );
}

#[test]
fn quoted_dates_and_spelled_out_cities_read_like_their_canonical_forms() {
    let bundle = BundleText::example()
        .replace("valid_from = 2026-01-01", "valid_from = \"2026-01-01\"")
        .replace("city = \"hong_kong\"", "city = \"Hong Kong\"")
        .replace("city = \"shenzhen\"", "city = \"Shenzhen\"");
    let run = eval(&bundle, NOON, PERSONAL);
    assert_eq!(run.code, 0, "{run:?}");
    let (run, _) =
        check(&BundleText::example().replace("valid_from = 2026-01-01", "valid_from = \"Jan 1\""));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("must be a date such as 2026-03-02"),
        "{run:?}"
    );
}

#[test]
fn check_refuses_a_first_version_bundle_naming_each_field_to_change() {
    let bundle = BundleText::first_version();
    let filed = bundle.line_of("filed_on = 2026-03-10");
    let authority = bundle.line_of("authority = \"guangdong_cac\"");
    let (run, path) = check(&bundle);
    assert_eq!(run.code, 2, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{path}:{filed}:12: `filed_on` of [[contract_filing]] #1 is the first version's; write `filings = [{{ party = \"processor\", authority = \"guangdong_cac\", filed_on = 2026-03-10 }}, …]`"
        )),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with(&format!("{path}:{authority}:13: `authority`")),
        "{run:?}"
    );
    assert!(lines.iter().all(|l| l.contains("loopgate policy migrate")));
}

fn migrate(bundle: &BundleText) -> loopgate_tests::Run {
    let dir = TempDir::new().unwrap();
    let path = bundle.write_to(dir.path());
    Loopgate::new()
        .args(["policy", "migrate"])
        .arg_path(&path)
        .run()
}

#[test]
fn migrate_prints_a_valid_second_version_bundle_and_exits_0() {
    let run = migrate(&BundleText::first_version());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("filings = [\n  { party = \"processor\", authority = \"guangdong_cac\", filed_on = 2026-03-10 },"), "{run:?}");
    assert!(
        run.stdout
            .contains("# migrate: the recipient's filing (with dpo)"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("migrated; the output validates"),
        "{run:?}"
    );
    // The output passes `policy check`.
    let (checked, _) = check(&BundleText(run.stdout.clone()));
    assert_eq!(checked.code, 0, "{checked:?}");
    // A second-version bundle is printed unchanged.
    let run = migrate(&BundleText::example());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, BundleText::example().0);
}

#[test]
fn migrate_exits_1_when_a_human_must_fill_in_and_2_on_an_invalid_input() {
    let hgr = BundleText::first_version().replace(
        "# hgr_filing = \"HGR-2026-0001\"",
        "hgr_filing = \"HGR-2026-0001\"",
    );
    let run = migrate(&hgr);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("[[hgr_approval]]\nreference = \"HGR-2026-0001\""),
        "{run:?}"
    );
    assert!(run.stderr.contains("a human must fill in"), "{run:?}");

    let broken =
        BundleText::first_version().replace("owner = \"sz-genomics\"", "owner = \"sz-nobody\"");
    let line = broken.line_of("sz-nobody");
    let run = migrate(&broken);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("policy.toml:{line}:9: `owner`")),
        "{run:?}"
    );

    let run = Loopgate::new()
        .args(["policy", "migrate", "/nonexistent/policy.toml"])
        .run();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot read the bundle"), "{run:?}");
}
