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

// ---------------------------------------------------------------------------------------------
// Exactly what migrate writes for a small first-version bundle: lines rewritten in place (their
// newlines with them), comments before the entries they concern, blocks appended after one blank
// line. A bundle without a final newline gets one.

const SMALL_HEAD: &str = "[catalogue]\ncategories = [\"imaging\"]\n\n[[tenant]]\nid = \"sz\"\nlegal_name = \"SZ\"\nside = \"mainland\"\ncity = \"shenzhen\"\npark = \"shenzhen_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n[[tenant]]\nid = \"hk\"\nlegal_name = \"HK\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n[[tenant]]\nid = \"sz2\"\nlegal_name = \"SZ2\"\nside = \"mainland\"\ncity = \"shenzhen\"\npark = \"shenzhen_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n[[tenant]]\nid = \"hk2\"\nlegal_name = \"HK2\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n";

fn small_item(id: &str, owner: &str, extra: &str) -> String {
    format!(
        "\n[[inventory_item]]\nid = \"{id}\"\nowner = \"{owner}\"\nrecipients = [\"hk\"]\n{extra}categories = [\"imaging\"]\npurposes = [\"research\"]\nmax_transfer_bytes = 1000\nretention_days = 30\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n"
    )
}

fn small_filing(processor: &str, recipient: &str, dated: &str) -> String {
    format!(
        "\n[[contract_filing]]\nreference = \"F-{processor}-{recipient}\"\nroute = \"gba_sc\"\nprocessor = \"{processor}\"\nrecipient = \"{recipient}\"\neffective_on = 2026-03-02\n{dated}pia_completed_on = 2026-02-20\ncategories = [\"imaging\"]\npurposes = [\"research\"]\nstatus = \"effective\"\n"
    )
}

const REGULATOR_NOTE: &str = "\n# migrate: the second version lists the regulators who may read the audit trail and what each sees (rule scopes: personal, hgr, important, samples, non_personal, all); a regulator principal that is not listed gets 403: add one [[regulator]] per regulator certificate\n# [[regulator]]\n# id = \"…\"                  # the principal regulator/<id>\n# authority = \"…\"\n# sees = [\"all\"]\n";

fn consent_note(item: &str, filing: &str) -> String {
    format!(
        "# migrate: inventory item \"{item}\" is consent-based (no `legal_basis` means consent) and filing(s) {filing} have separate_consent unset or false: the second version denies its transfers with contract.consent_missing (rule 17); obtain separate consent and set `separate_consent = true`, or write the item's `legal_basis`\n"
    )
}

#[test]
fn migrate_writes_exactly_this() {
    // `filed_on` and `authority` (indented, with a comment) become one `filings` block in place
    // of the first of them; the other's line goes, newline and all.
    let dated = "filed_on = 2026-03-10   # filed\n  authority = \"guangdong_cac\"\n";
    let item = small_item("I1", "sz", "data_class = \"personal\"\n");
    let text = format!("{SMALL_HEAD}{item}{}", small_filing("sz", "hk", dated));
    let filings = "filings = [\n  { party = \"processor\", authority = \"guangdong_cac\", filed_on = 2026-03-10 },\n  # migrate: the recipient's filing (with dpo) was not in the first version: add `filed_on = …` and `number = \"…\"` once it has filed; until then it counts as not filed (rule 14)\n  { party = \"recipient\", authority = \"dpo\" },\n]\n";
    let expected_of = |text: &str, dated: &str| {
        format!(
            "{}{REGULATOR_NOTE}",
            text.replace(dated, filings).replace(
                "\n[[inventory_item]]\n",
                &format!("\n{}[[inventory_item]]\n", consent_note("I1", "F-sz-hk"))
            )
        )
    };
    let expected = expected_of(&text, dated);
    let migrated = migrate(&text).unwrap();
    assert_eq!(migrated.text, expected);
    assert!(migrated.complete && migrated.changed);
    assert_eq!(migrated.notes.len(), 3, "{:?}", migrated.notes);
    // A last line without its newline gets one before what is appended.
    let unterminated = migrate(text.trim_end_matches('\n')).unwrap();
    assert_eq!(unterminated.text, expected);

    // The same with `authority` first: its line becomes the block.
    let dated = "authority = \"guangdong_cac\"\nfiled_on = 2026-03-10\n";
    let text = format!("{SMALL_HEAD}{item}{}", small_filing("sz", "hk", dated));
    assert_eq!(migrate(&text).unwrap().text, expected_of(&text, dated));
}

#[test]
fn items_sharing_an_hgr_filing_share_one_approval_skeleton() {
    let hgr = |reference: &str| {
        format!(
            "data_class = \"human_genetic\"\nlegal_basis = \"contract\"\nhgr_filing = \"{reference}\"\n"
        )
    };
    let skeleton = |reference: &str, holder: &str, covers: &str| {
        format!(
            "\n# migrate: HGR approval \"{reference}\" (the first version's `hgr_filing`): its validity window was not in the first version: write `valid_from` and `valid_until` and check `kind`, `holder` and `status`\n[[hgr_approval]]\nreference = \"{reference}\"\nkind = \"information_filing\"\nauthority = \"nhc\"\n{holder}covers = [{covers}]\n# valid_from = YYYY-MM-DD\n# valid_until = YYYY-MM-DD\nstatus = \"effective\"\n"
        )
    };
    let approvals = |reference: &str, item: &str| {
        format!(
            "hgr_approvals = [\"{reference}\"]\n# migrate: inventory item \"{item}\": rule 9 also needs an effective information_backup approval: add its reference here and an [[hgr_approval]] of kind \"information_backup\" for it\n"
        )
    };
    // Two items of one owner name H-1, a third H-2: two skeletons, the first covering both.
    let text = format!(
        "{SMALL_HEAD}{}{}{}",
        small_item("I1", "sz", &hgr("H-1")),
        small_item("I2", "sz", &hgr("H-1")),
        small_item("I3", "sz", &hgr("H-2")),
    );
    let migrated = migrate(text.trim_end_matches('\n')).unwrap();
    assert!(!migrated.complete);
    let mut expected = text.clone();
    for (at, (item, reference)) in [("I1", "H-1"), ("I2", "H-1"), ("I3", "H-2")]
        .into_iter()
        .enumerate()
    {
        let line = format!("hgr_filing = \"{reference}\"\n");
        let found = expected.find(&line);
        let i = found.unwrap_or_else(|| panic!("{at}: {line}"));
        expected.replace_range(i..i + line.len(), &approvals(reference, item));
    }
    expected.push_str(&skeleton("H-1", "holder = \"sz\"\n", "\"I1\", \"I2\""));
    expected.push_str(&skeleton("H-2", "holder = \"sz\"\n", "\"I3\""));
    expected.push_str(REGULATOR_NOTE);
    assert_eq!(migrated.text, expected);

    // Owners differ: a human picks the holder.
    let text = format!(
        "{SMALL_HEAD}{}{}",
        small_item("I1", "sz", &hgr("H-1")),
        small_item("I2", "hk", &hgr("H-1")),
    );
    let migrated = migrate(&text).unwrap();
    assert!(migrated.text.contains(&skeleton(
        "H-1",
        "# migrate: HGR approval \"H-1\" is named by items of several owners (sz, hk): write the one `holder` that holds it (the others need their own approvals)\n# holder = \"…\"\n",
        "\"I1\", \"I2\""
    )), "{}", migrated.text);
}

#[test]
fn only_consent_based_items_under_a_filing_without_separate_consent_get_a_note() {
    let note_for = |item_extra: &str, filing: String| {
        let text = format!("{SMALL_HEAD}{}{filing}", small_item("I1", "sz", item_extra));
        let migrated = migrate(&text).unwrap();
        migrated.text.contains("is consent-based")
    };
    let dated = "filed_on = 2026-03-10\nauthority = \"guangdong_cac\"\n";
    let personal = "data_class = \"personal\"\n";
    assert!(note_for(personal, small_filing("sz", "hk", dated)));
    let consent = "data_class = \"personal\"\nlegal_basis = \"consent\"\n";
    assert!(note_for(consent, small_filing("sz", "hk", dated)));
    let contract = "data_class = \"personal\"\nlegal_basis = \"contract\"\n";
    assert!(!note_for(contract, small_filing("sz", "hk", dated)));
    assert!(!note_for(
        "data_class = \"non_personal\"\n",
        small_filing("sz", "hk", dated)
    ));
    // A filing of another processor, or to another recipient, does not cover the item.
    assert!(!note_for(personal, small_filing("sz2", "hk", dated)));
    assert!(!note_for(personal, small_filing("sz", "hk2", dated)));
    // Separate consent given.
    let given = small_filing("sz", "hk", dated).replace(
        "status = \"effective\"",
        "separate_consent = true\nstatus = \"effective\"",
    );
    assert!(!note_for(personal, given));
}

#[test]
fn values_the_first_version_did_not_allow_are_refused_where_they_are() {
    let refused = |text: &str, at: &str, says: &str| {
        let found = problems(text);
        let line = common::pos(text, at).0;
        assert!(
            found
                .iter()
                .any(|p| p.line == line && p.message.contains(says)),
            "{at}: {found:#?}"
        );
    };
    for day in [
        "2026-03-10T09:00:00",
        "2026-03-10T09:00:00Z",
        "09:00:00",
        "\"2026-03-10T09:00:00\"",
        "\"2026-03-10T09:00:00+08:00\"",
        "\"10 March\"",
        "20260310",
    ] {
        let dated = format!("filed_on = {day}\nauthority = \"guangdong_cac\"\n");
        let text = format!("{SMALL_HEAD}{}", small_filing("sz", "hk", &dated));
        // Named as the input names it (not as the second version's `filings` would).
        refused(
            &text,
            "filed_on",
            "`filed_on` of [[contract_filing]] \"F-sz-hk\" must be a date such as 2026-03-02",
        );
    }
    let long = format!("\"{}\"", "H".repeat(129));
    for reference in ["\"\"", "\"  \"", "\"HGR 1\"", long.as_str(), "7"] {
        let extra = format!("data_class = \"human_genetic\"\nhgr_filing = {reference}\n");
        let text = format!("{SMALL_HEAD}{}", small_item("I1", "sz", &extra));
        refused(
            &text,
            "hgr_filing",
            "`hgr_filing` of [[inventory_item]] \"I1\" must be a reference such as",
        );
    }
    // At the limit, a reference is taken.
    let extra = format!(
        "data_class = \"human_genetic\"\nhgr_filing = \"{}\"\n",
        "H".repeat(128)
    );
    let text = format!("{SMALL_HEAD}{}", small_item("I1", "sz", &extra));
    assert!(migrate(&text).unwrap().text.contains(&"H".repeat(128)));
}

#[test]
fn a_key_that_shares_its_line_is_refused_not_rewritten() {
    // An inline table over several lines (TOML 1.1): `authority` ends its line but shares it
    // with the keys before it, `filed_on` shares its line with the comma before it. Rewriting
    // either line would take the other keys with it.
    let text = format!(
        "contract_filing = [{{ reference = \"F\", route = \"gba_sc\", processor = \"sz\", recipient = \"hk\", effective_on = 2026-03-02, pia_completed_on = 2026-02-20, categories = [\"imaging\"], purposes = [\"research\"], status = \"effective\", authority = \"guangdong_cac\"\n, filed_on = 2026-03-10\n}}]\n{SMALL_HEAD}"
    );
    let found = problems(&text);
    let at: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|p| (p.line, p.column, p.message.as_str()))
        .collect();
    let says = |key: &str| {
        format!(
            "`{key}` is not on a line of its own, so it cannot be rewritten in place; put it on its own line (or write the second version's fields by hand) and migrate again"
        )
    };
    let column = text.find("authority").unwrap() + 1;
    assert_eq!(
        at,
        [
            (1, column, says("authority").as_str()),
            (2, 3, says("filed_on").as_str())
        ]
    );
}

#[test]
fn problems_in_the_output_point_at_the_input() {
    let errors = |text: &str| -> Vec<(usize, usize, String)> {
        problems(text)
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| (p.line, p.column, p.message))
            .collect()
    };
    let line_of = |text: &str, what: &str| common::pos(text, what).0;
    // Dangling owners before and after a rewritten filing (its block is longer than the lines
    // it replaces) and a consent note: each where it is in the input.
    let dated = "filed_on = 2026-03-10\nauthority = \"guangdong_cac\"\n";
    let text = format!(
        "{SMALL_HEAD}{}{}{}{}",
        small_item("I0", "nobody-0", "data_class = \"non_personal\"\n"),
        small_item("I1", "sz", "data_class = \"personal\"\n"),
        small_filing("sz", "hk", dated),
        small_item("I2", "nobody-2", "data_class = \"non_personal\"\n"),
    );
    let found = errors(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(
        (found[0].0, found[0].1),
        (line_of(&text, "\"nobody-0\""), 9),
        "{found:#?}"
    );
    assert!(found[0].2.contains("nobody-0"), "{found:#?}");
    assert_eq!(
        (found[1].0, found[1].1),
        (line_of(&text, "\"nobody-2\""), 9),
        "{found:#?}"
    );
    assert!(found[1].2.contains("nobody-2"), "{found:#?}");

    // A problem inside the rewritten block (a Hong Kong processor filing with the Mainland's
    // authority) points at the first line it replaced.
    let text = format!(
        "{SMALL_HEAD}{}{}",
        small_filing("hk", "sz", dated),
        small_item("I2", "nobody-2", "data_class = \"non_personal\"\n"),
    );
    let found = errors(&text);
    let block = line_of(&text, "filed_on");
    assert!(
        found
            .iter()
            .any(|e| (e.0, e.1) == (block, 1) && e.2.contains("\"hk\" is on the hong_kong side")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .all(|e| (e.0, e.1) == (block, 1) || e.2.contains("nobody-2")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|e| (e.0, e.1) == (line_of(&text, "\"nobody-2\""), 9)),
        "{found:#?}"
    );

    // The line right after a rewritten block is itself, not the block.
    let text = format!(
        "{SMALL_HEAD}{}",
        small_filing("sz", "hk", &format!("{dated}surprise = 1\n")),
    );
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].0, found[0].1),
        (line_of(&text, "surprise"), 1),
        "{found:#?}"
    );
}
