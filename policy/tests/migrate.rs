//! `migrate`: a first-version bundle rewritten in the second version's schema by text edits
//! (comments and layout kept), mechanical where it can be, `# migrate:` comments where not; a
//! second-version bundle comes back unchanged; an invalid input is refused, located.
#![allow(clippy::unwrap_used)]

mod common;

use common::{FIRST_VERSION, REFERENCE};
use loopgate_policy::{Party, PolicyError, Severity, migrate, parse_bundle};

fn problems(text: &str) -> Vec<loopgate_policy::Diagnostic> {
    match migrate(text) {
        Ok(m) => panic!("expected a refusal, got {}", m.text),
        Err(PolicyError::InvalidBundle { problems }) => problems,
    }
}

#[test]
fn the_first_reference_bundle_migrates_to_a_valid_second_version() {
    let migrated = migrate(FIRST_VERSION).unwrap();
    assert!(migrated.changed);
    assert!(migrated.complete, "{}", migrated.text);
    let bundle = parse_bundle(&migrated.text).unwrap();
    let filing = &bundle.registry.filings["GBA-SC-DEMO-001"];
    // The first version's one filing was the processor's (guangdong_cac), with its date.
    let processor = filing.entry(Party::Processor).unwrap();
    assert_eq!(processor.filed_on, Some(common::date("2026-03-10")));
    // The recipient's (gba_sc needs it) is there, not filed, with a comment saying so.
    assert_eq!(filing.entry(Party::Recipient).unwrap().filed_on, None);
    assert!(
        migrated
            .text
            .contains("# migrate: the recipient's filing (with dpo) was not in the first version")
    );
    // separate_consent = false under a consent-based item: a comment that v2 denies it.
    assert!(
        migrated
            .text
            .contains("# migrate: inventory item \"INV-PI-001\" is consent-based")
    );
    // No regulator is listed: a commented [[regulator]] says every regulator is refused until
    // one is, and it stays a comment (the bundle lists none).
    assert!(
        migrated
            .text
            .contains("a regulator principal that is not listed gets 403")
    );
    assert!(migrated.text.contains("\n# [[regulator]]\n# id = "));
    assert!(bundle.registry.regulators.is_empty());
    assert_eq!(migrated.notes.len(), 3, "{:#?}", migrated.notes);
    // Comments and layout elsewhere survive: every line of the input that had no first-version
    // field is still there, in order.
    let kept: Vec<&str> = FIRST_VERSION
        .lines()
        .filter(|l| !l.starts_with("filed_on") && !l.starts_with("authority"))
        .collect();
    let mut out = migrated.text.lines();
    for line in kept {
        assert!(out.any(|o| o == line), "lost or reordered: {line:?}");
    }
}

#[test]
fn a_second_version_bundle_migrates_to_itself() {
    let migrated = migrate(REFERENCE).unwrap();
    assert!(!migrated.changed);
    assert!(migrated.complete);
    assert_eq!(migrated.text, REFERENCE);
    assert!(migrated.notes.is_empty());
}

#[test]
fn migrating_twice_changes_nothing_more() {
    let once = migrate(FIRST_VERSION).unwrap();
    let twice = migrate(&once.text).unwrap();
    assert!(!twice.changed);
    assert_eq!(twice.text, once.text);
}

#[test]
fn a_dpo_filing_was_the_recipients() {
    let text = FIRST_VERSION.replace("authority = \"guangdong_cac\"", "authority = \"dpo\"");
    let migrated = migrate(&text).unwrap();
    assert!(migrated.complete, "{}", migrated.text);
    let registry = parse_bundle(&migrated.text).unwrap().registry;
    let filing = &registry.filings["GBA-SC-DEMO-001"];
    assert_eq!(
        filing.entry(Party::Recipient).unwrap().filed_on,
        Some(common::date("2026-03-10"))
    );
    assert_eq!(filing.entry(Party::Processor).unwrap().filed_on, None);
    assert!(
        migrated
            .text
            .contains("the processor's filing (with guangdong_cac) was not in the first version")
    );
}

#[test]
fn a_national_contract_needs_only_the_processor() {
    let text = FIRST_VERSION.replace("route = \"gba_sc\"", "route = \"national_sc\"");
    let migrated = migrate(&text).unwrap();
    assert!(migrated.complete);
    let registry = parse_bundle(&migrated.text).unwrap().registry;
    assert_eq!(registry.filings["GBA-SC-DEMO-001"].filings.len(), 1);
}

#[test]
fn an_unfiled_contract_keeps_no_date() {
    let text = FIRST_VERSION.replace(
        "filed_on = 2026-03-10                        # omit when not filed yet\n",
        "",
    );
    let migrated = migrate(&text).unwrap();
    assert!(migrated.complete, "{}", migrated.text);
    let registry = parse_bundle(&migrated.text).unwrap().registry;
    assert!(
        registry.filings["GBA-SC-DEMO-001"]
            .filings
            .iter()
            .all(|e| e.filed_on.is_none())
    );
}

#[test]
fn an_assessment_needs_a_human_for_valid_until() {
    let text = FIRST_VERSION.replace("route = \"gba_sc\"", "route = \"security_assessment\"");
    let migrated = migrate(&text).unwrap();
    assert!(!migrated.complete);
    assert!(migrated.text.contains("# valid_until = YYYY-MM-DD"));
    // Filling it in is all it takes.
    let filled = migrated
        .text
        .replace("# valid_until = YYYY-MM-DD", "valid_until = 2029-03-01");
    parse_bundle(&filled).unwrap();
}

#[test]
fn an_hgr_filing_becomes_approvals_and_a_skeleton_a_human_completes() {
    let text = FIRST_VERSION.replace(
        "data_class = \"personal\"",
        "data_class = \"human_genetic\"\nhgr_filing = \"HGR-2026-0001\"",
    );
    let migrated = migrate(&text).unwrap();
    assert!(!migrated.complete, "{}", migrated.text);
    assert!(
        migrated
            .text
            .contains("hgr_approvals = [\"HGR-2026-0001\"]")
    );
    assert!(migrated.text.contains(
        "[[hgr_approval]]\nreference = \"HGR-2026-0001\"\nkind = \"information_filing\""
    ));
    assert!(
        migrated
            .text
            .contains("holder = \"sz-genomics\"\ncovers = [\"INV-PI-001\"]")
    );
    assert!(
        migrated
            .text
            .contains("# valid_from = YYYY-MM-DD\n# valid_until = YYYY-MM-DD")
    );
    // With the window written, it validates (rule 9 still wants the backup: a warning).
    let filled = migrated
        .text
        .replace("# valid_from = YYYY-MM-DD", "valid_from = 2026-01-01")
        .replace("# valid_until = YYYY-MM-DD", "valid_until = 2027-12-31");
    let bundle = parse_bundle(&filled).unwrap();
    assert!(
        bundle
            .warnings
            .iter()
            .any(|w| w.message.contains("no information_backup approval"))
    );
}

#[test]
fn an_invalid_first_version_bundle_is_refused_where_the_input_is_wrong() {
    // A dangling owner, away from anything migrate rewrites.
    let text = FIRST_VERSION.replacen("owner = \"sz-genomics\"", "owner = \"sz-nobody\"", 1);
    let found = problems(&text);
    let errors: Vec<_> = found
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{found:#?}");
    let line = text[..text.find("sz-nobody").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert_eq!((errors[0].line, errors[0].column), (line, 9), "{found:#?}");
    // A first-version value that version did not allow either.
    let text = FIRST_VERSION.replace("authority = \"guangdong_cac\"", "authority = \"cac\"");
    let found = problems(&text);
    assert!(
        found[0]
            .message
            .contains("must be \"guangdong_cac\" or \"dpo\"")
    );
    // Not TOML.
    let found = problems("[catalogue");
    assert!(found[0].message.starts_with("invalid TOML"));
}

// ---------------------------------------------------------------------------------------------
// Properties: any mechanical first-version bundle (routes that need no `valid_until`, no
// `hgr_filing`) migrates to a valid second-version bundle, and migrating that again changes
// nothing; a second-version bundle always migrates to itself.

mod properties {
    use loopgate_policy::{migrate, parse_bundle};
    use proptest::prelude::*;
    use proptest::sample::select;

    const HEAD: &str = "[catalogue]\ncategories = [\"imaging\", \"clinical_phenotype\"]\n\n[[tenant]]\nid = \"sz\"\nlegal_name = \"SZ\"\nside = \"mainland\"\ncity = \"shenzhen\"\npark = \"shenzhen_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n[[tenant]]\nid = \"hk\"\nlegal_name = \"HK\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n";

    /// A comment or a blank line, or nothing, between keys.
    fn filler() -> impl Strategy<Value = &'static str> {
        select(vec!["", "", "\n", "# a note\n", "   # indented note\n"])
    }

    /// A trailing comment, or none.
    fn trailing() -> impl Strategy<Value = &'static str> {
        select(vec!["", "", "   # where it was filed", "\t# x"])
    }

    prop_compose! {
        fn item()(
            id in 0usize..3,
            class in select(vec!["personal", "sensitive_personal", "non_personal"]),
            basis in select(vec![None, Some("consent"), Some("contract")]),
            gap in filler(),
        ) -> String {
            let basis = match (class, basis) {
                ("non_personal", _) | (_, None) => String::new(),
                (_, Some(basis)) => format!("legal_basis = \"{basis}\"\n"),
            };
            format!("[[inventory_item]]\nid = \"I{id}\"\nowner = \"sz\"\nrecipients = [\"hk\"]\ndata_class = \"{class}\"\n{basis}{gap}categories = [\"imaging\"]\npurposes = [\"research\"]\nmax_transfer_bytes = 1000\nretention_days = 30\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n")
        }
    }

    prop_compose! {
        fn filing()(
            id in 0usize..3,
            route in select(vec!["gba_sc", "national_sc"]),
            filed in select(vec![None, Some("2026-03-10"), Some("\"2026-03-20\"")]),
            authority in select(vec!["guangdong_cac", "dpo"]),
            authority_first in any::<bool>(),
            consent in select(vec![None, Some(true), Some(false)]),
            gaps in (filler(), filler()),
            comments in (trailing(), trailing()),
        ) -> String {
            let filed = filed.map_or(String::new(), |day| format!("filed_on = {day}{}\n", comments.0));
            let authority = format!("authority = \"{authority}\"{}\n", comments.1);
            let (first, second) = if authority_first { (authority, filed) } else { (filed, authority) };
            let consent = consent.map_or(String::new(), |c| format!("separate_consent = {c}\n"));
            format!("[[contract_filing]]\nreference = \"F{id}\"\nroute = \"{route}\"\nprocessor = \"sz\"\nrecipient = \"hk\"\neffective_on = 2026-03-02\n{}{first}{}{second}pia_completed_on = 2026-02-20\ncategories = [\"imaging\"]\npurposes = [\"research\"]\n{consent}status = \"effective\"\n\n", gaps.0, gaps.1)
        }
    }

    prop_compose! {
        fn first_version_bundle()(
            items in prop::collection::btree_map(0usize..3, item(), 0..3),
            filings in prop::collection::btree_map(0usize..3, filing(), 1..3),
        ) -> String {
            // Unique ids: one entry per key.
            let items: String = items.iter().map(|(i, text)| text.replace("id = \"I0\"", &format!("id = \"I{i}\"")).replace("id = \"I1\"", &format!("id = \"I{i}\"")).replace("id = \"I2\"", &format!("id = \"I{i}\""))).collect();
            let filings: String = filings.iter().map(|(i, text)| text.replace("reference = \"F0\"", &format!("reference = \"F{i}\"")).replace("reference = \"F1\"", &format!("reference = \"F{i}\"")).replace("reference = \"F2\"", &format!("reference = \"F{i}\""))).collect();
            format!("{HEAD}{items}{filings}")
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_mechanical_first_version_bundle_migrates_to_a_valid_one(text in first_version_bundle()) {
            prop_assert!(parse_bundle(&text).is_err(), "a first-version bundle validated:\n{text}");
            let once = migrate(&text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
            prop_assert!(once.changed);
            prop_assert!(once.complete, "not complete:\n{}", once.text);
            let bundle = parse_bundle(&once.text);
            prop_assert!(bundle.is_ok(), "{:?}\n{}", bundle.err(), once.text);
            // Idempotent on its own output (a second-version bundle).
            let twice = migrate(&once.text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert!(!twice.changed);
            prop_assert_eq!(&twice.text, &once.text);
            // Nothing but the first-version lines went away, in order.
            let mut out = once.text.lines();
            for line in text.lines().filter(|l| !l.starts_with("filed_on") && !l.starts_with("authority")) {
                prop_assert!(out.any(|o| o == line), "lost {:?}", line);
            }
        }

        #[test]
        fn a_second_version_bundle_migrates_to_itself(text in first_version_bundle()) {
            let v2 = migrate(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?.text;
            let again = migrate(&v2).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert!(!again.changed && again.complete);
            prop_assert_eq!(again.text, v2);
        }
    }
}
