//! The second version's schema: a first-version bundle is refused with one located message per
//! field to change; the new keys take their defaults; every new object's references, malformed
//! and missing fields are located errors (never a panic); valid-but-denied is a warning.
#![allow(clippy::unwrap_used)]

mod common;

use common::{FIRST_VERSION, REFERENCE, errors_of, pos, problems, valid, variant};
use loopgate_policy::{Authority, DataClass, LegalBasis, Parameters, Park, Party, Route, Scope};

/// The only error is at `needle` and says `message`.
#[track_caller]
fn only_error_at(text: &str, needle: &str, message: &str) {
    let errors = errors_of(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert_eq!(
        (errors[0].line, errors[0].column),
        pos(text, needle),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].message.contains(message),
        "{} should say {message:?}",
        errors[0]
    );
}

#[test]
fn a_first_version_bundle_is_refused_field_by_field() {
    let errors = errors_of(FIRST_VERSION);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].column), {
        let (l, c) = pos(FIRST_VERSION, "filed_on = 2026-03-10");
        (l, c + 11)
    });
    assert!(errors[0].message.contains("`filed_on` of [[contract_filing]] #1 is the first version's; write `filings = [{ party = \"processor\", authority = \"guangdong_cac\", filed_on = 2026-03-10 }, …]`"), "{}", errors[0]);
    assert!(
        errors[0]
            .message
            .contains("(see `loopgate policy migrate`)")
    );
    assert_eq!((errors[1].line, errors[1].column), {
        let (l, c) = pos(FIRST_VERSION, "authority = \"guangdong_cac\"");
        (l, c + 12)
    });
    assert!(
        errors[1]
            .message
            .contains("`authority` of [[contract_filing]] #1 is the first version's")
    );
    // No "unknown key" message for them, and no noise about missing filings, also when only
    // one of the two is there.
    let filed_on = FIRST_VERSION
        .lines()
        .find(|l| l.starts_with("filed_on = "))
        .unwrap();
    let authority = FIRST_VERSION
        .lines()
        .find(|l| l.starts_with("authority = "))
        .unwrap();
    for text in [
        FIRST_VERSION.to_owned(),
        FIRST_VERSION.replacen(&format!("{filed_on}\n"), "", 1),
        FIRST_VERSION.replacen(&format!("{authority}\n"), "", 1),
    ] {
        let all = problems(&text);
        assert!(
            all.iter()
                .any(|p| p.message.contains("is the first version's")),
            "{all:#?}"
        );
        assert!(
            all.iter().all(|p| !p.message.contains("unknown key")),
            "{all:#?}"
        );
        assert!(
            all.iter().all(|p| !p.message.contains("lists no filing")),
            "{all:#?}"
        );
    }
}

#[test]
fn a_first_version_hgr_filing_is_refused_naming_approvals() {
    let text = FIRST_VERSION.replace(
        "# hgr_filing = \"HGR-2026-0001\"",
        "hgr_filing = \"HGR-2026-0001\"",
    );
    let errors = errors_of(&text);
    let hgr = errors
        .iter()
        .find(|e| e.message.contains("`hgr_filing`"))
        .unwrap();
    let (line, column) = pos(&text, "hgr_filing = ");
    assert_eq!((hgr.line, hgr.column), (line, column + 13));
    assert!(
        hgr.message.contains(
            "write `hgr_approvals = [\"HGR-2026-0001\", …]` and an [[hgr_approval]] entry"
        )
    );
    assert!(hgr.message.contains("information_backup"));
    // A dpo authority suggests the recipient's entry.
    let text = FIRST_VERSION.replace("authority = \"guangdong_cac\"", "authority = \"dpo\"");
    assert!(
        errors_of(&text)[0]
            .message
            .contains("{ party = \"recipient\", authority = \"dpo\", filed_on = 2026-03-10 }")
    );
}

#[test]
fn omitted_keys_take_their_defaults() {
    let registry = valid(REFERENCE).registry;
    assert_eq!(registry.parameters, Parameters::default());
    let p = &registry.parameters;
    assert_eq!(
        p.sender_parks.iter().copied().collect::<Vec<_>>(),
        [Park::ShenzhenPark]
    );
    assert_eq!(
        (
            p.max_biosafety_level,
            p.clock_skew_secs,
            p.custody_handover_hours
        ),
        (2, 300, 48)
    );
    let gba = p.filing_parties(Route::GbaSc);
    assert_eq!(
        gba.iter()
            .map(|f| (f.party, f.authority))
            .collect::<Vec<_>>(),
        [
            (Party::Processor, Authority::GuangdongCac),
            (Party::Recipient, Authority::Dpo)
        ]
    );
    assert_eq!(p.filing_parties(Route::NationalSc).len(), 1);
    assert!(p.filing_parties(Route::Certification).is_empty());
    assert!(p.filing_parties(Route::SecurityAssessment).is_empty());
    // legal_entity defaults to the id; legal_basis to consent for personal classes only; hgr
    // to the class; methods to none.
    assert_eq!(registry.tenants["hk-biolab"].legal_entity, "hk-biolab");
    assert_eq!(
        registry.items["INV-PI-001"].legal_basis,
        Some(LegalBasis::Consent)
    );
    assert_eq!(registry.items["INV-NP-001"].legal_basis, None);
    assert!(!registry.items["INV-PI-001"].hgr);
    // The whole [parameters] table omitted: every default.
    let start = REFERENCE.find("[parameters]").unwrap();
    let end = REFERENCE.find("[catalogue]").unwrap();
    let text = format!("{}{}", &REFERENCE[..start], &REFERENCE[end..]);
    assert_eq!(valid(&text).registry.parameters, Parameters::default());
    // A route omitted from [parameters.filing_parties] keeps its default.
    let text = variant(
        "national_sc = [{ party = \"processor\", authority = \"guangdong_cac\" }]\n",
        "",
    );
    assert_eq!(valid(&text).registry.parameters, Parameters::default());
    // hgr defaults to true for human_genetic.
    let text = variant(
        "data_class = \"personal\"",
        "data_class = \"human_genetic\"",
    );
    assert!(valid(&text).registry.items["INV-PI-001"].hgr);
    let text = variant("id = \"INV-PI-001\"", "id = \"INV-PI-001\"\nmethods = []").replacen(
        "methods = [\"storage\", \"analysis\"]\nmax_transfer_bytes = 104857600",
        "max_transfer_bytes = 104857600",
        1,
    );
    assert!(valid(&text).registry.items["INV-PI-001"].methods.is_empty());
}

#[test]
fn the_reference_objects_read_as_written() {
    let r = valid(REFERENCE).registry;
    assert_eq!(
        r.carriers["hkp-logistics"].legal_name,
        "Park Cold-Chain Logistics Ltd."
    );
    let sample = &r.sample_items["SMP-BLOOD-001"];
    assert_eq!(
        (sample.max_quantity, sample.biosafety_level, sample.hgr),
        (200, 2, true)
    );
    assert_eq!(sample.storage_facility, "HKP-BIOBANK-1");
    let approval = &r.hgr_approvals["HGR-EX-2026-007"];
    assert_eq!(approval.holder, "sz-genomics");
    assert!(approval.covers.contains("SMP-BLOOD-001"));
    let pcpd = &r.regulators["pcpd"];
    assert!(pcpd.sees(Scope::Samples) && pcpd.sees(Scope::Important));
    assert!(r.regulator_sees("pcpd", Scope::Hgr));
    assert!(!r.regulator_sees("nobody", Scope::Personal));
    assert_eq!(r.legal_entity_of("sz-genomics"), Some("sz-genomics"));
    assert_eq!(
        r.tenants_of_entity("sz-genomics").collect::<Vec<_>>(),
        ["sz-genomics"]
    );
    let filing = &r.filings["GBA-SC-DEMO-001"];
    assert_eq!(filing.filings.len(), 2);
    assert_eq!(
        filing.entry(Party::Recipient).unwrap().number.as_deref(),
        Some("DPO-GBA-2026-0087")
    );
    assert_eq!(filing.valid_until, None);
}

#[test]
fn tenants_of_a_legal_entity() {
    let hk2 = "[[tenant]]\nid = \"sz-genomics-lab2\"\nlegal_name = \"Lab 2\"\nlegal_entity = \"sz-genomics\"\nside = \"mainland\"\ncity = \"shenzhen\"\npark = \"shenzhen_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n[[carrier]]";
    let r = valid(&variant("[[carrier]]", hk2)).registry;
    assert_eq!(
        r.tenants_of_entity("sz-genomics").collect::<Vec<_>>(),
        ["sz-genomics", "sz-genomics-lab2"]
    );
    assert_eq!(r.legal_entity_of("sz-genomics-lab2"), Some("sz-genomics"));
    assert_eq!(r.tenants_of_entity("nobody").count(), 0);
}

#[test]
fn regulator_scopes() {
    let text = variant("sees = [\"all\"]", "sees = [\"personal\", \"hgr\"]");
    let r = valid(&text).registry;
    let pcpd = &r.regulators["pcpd"];
    assert!(pcpd.sees(Scope::Personal) && pcpd.sees(Scope::Hgr));
    assert!(!pcpd.sees(Scope::Samples) && !pcpd.sees(Scope::NonPersonal));
    // A record is visible when the regulator sees any of its scopes.
    assert!(pcpd.sees_any(&Scope::of_shipment(true)));
    assert!(!pcpd.sees_any(&Scope::of_shipment(false)));
    assert!(pcpd.sees_any(&Scope::of_transfer(DataClass::NonPersonal, true)));
    assert!(!pcpd.sees_any(&Scope::of_transfer(DataClass::Important, false)));
    for scope in Scope::ALL {
        assert_eq!(Scope::parse(scope.as_str()), Some(*scope));
    }
    // Each class falls under exactly one class scope, and `hgr` adds its own.
    use Scope::{Hgr, Important, NonPersonal, Personal, Samples};
    for (class, scope) in [
        (DataClass::NonPersonal, NonPersonal),
        (DataClass::Personal, Personal),
        (DataClass::SensitivePersonal, Personal),
        (DataClass::HumanGenetic, Personal),
        (DataClass::Important, Important),
    ] {
        assert_eq!(Scope::of_transfer(class, false), [scope], "{class:?}");
        assert_eq!(Scope::of_transfer(class, true), [scope, Hgr], "{class:?}");
    }
    assert_eq!(Scope::of_shipment(false), [Samples]);
    assert_eq!(Scope::of_shipment(true), [Samples, Hgr]);
    only_error_at(
        &variant("sees = [\"all\"]", "sees = [\"everything\"]"),
        "\"everything\"",
        "`sees` of [[regulator]] #1 is \"everything\"; use one of: personal, hgr, important, samples, non_personal, all",
    );
    let text = variant("sees = [\"all\"]", "sees = []");
    let (line, column) = pos(&text, "sees = []");
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].column), (line, column + 7));
    assert!(
        errors[0]
            .message
            .contains("is empty, so the regulator would see nothing")
    );
    only_error_at(
        &variant(
            "sees = [\"all\"]                               # personal | hgr | important | samples | non_personal | all\n",
            "",
        ),
        "[[regulator]]",
        "[[regulator]] #1 is missing the required key `sees`",
    );
}

/// (name, from, to, where the error points, what it says) on the reference bundle.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

#[test]
fn broken_references_are_located_errors() {
    let rows: &[Row] = &[
        (
            "approval holder",
            "holder = \"sz-genomics\"",
            "holder = \"sz-nobody\"",
            "\"sz-nobody\"",
            "`holder` of HGR approval \"HGR-EX-2026-007\" is \"sz-nobody\", which names no [[tenant]]",
        ),
        (
            "approval covers",
            "covers = [\"SMP-BLOOD-001\"]",
            "covers = [\"SMP-BLOOD-001\", \"SMP-NONE\"]",
            "\"SMP-NONE\"",
            "\"SMP-NONE\" in `covers` of HGR approval \"HGR-EX-2026-007\" names no [[inventory_item]] or [[sample_item]]",
        ),
        (
            "item approvals",
            "data_class = \"personal\"",
            "data_class = \"personal\"\nhgr_approvals = [\"HGR-NONE\"]",
            "\"HGR-NONE\"",
            "HGR approval \"HGR-NONE\" of inventory item \"INV-PI-001\" names no [[hgr_approval]]",
        ),
        (
            "sample approvals",
            "hgr_approvals = [\"HGR-EX-2026-007\"]",
            "hgr_approvals = [\"HGR-EX-2026-007\", \"HGR-NONE\"]",
            "\"HGR-NONE\"",
            "HGR approval \"HGR-NONE\" of sample item \"SMP-BLOOD-001\" names no [[hgr_approval]]",
        ),
        (
            "sample owner",
            "unit = \"tube\"",
            "unit = \"tube\"\nowner = \"sz-nobody\"",
            "",
            "",
        ),
        (
            "sample recipients",
            "sample_type = \"whole_blood\"",
            "sample_type = \"whole_blood\"",
            "",
            "",
        ),
    ];
    for (name, from, to, at, message) in rows.iter().filter(|r| !r.3.is_empty()) {
        let text = variant(from, to);
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{name}: {errors:#?}");
        assert_eq!(
            (errors[0].line, errors[0].column),
            pos(&text, at),
            "{name}: {}",
            errors[0]
        );
        assert!(errors[0].message.contains(message), "{name}: {}", errors[0]);
    }
    // Sample owner and recipients: at the values.
    let sample = &REFERENCE[REFERENCE.find("[[sample_item]]").unwrap()..];
    let at = REFERENCE.len() - sample.len();
    let edited = sample
        .replacen("owner = \"sz-genomics\"", "owner = \"sz-nobody\"", 1)
        .replacen(
            "recipients = [\"hk-biolab\"]",
            "recipients = [\"hk-nobody\"]",
            1,
        );
    let text = format!("{}{edited}", &REFERENCE[..at]);
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(
        (errors[0].line, errors[0].column),
        pos(&text, "\"sz-nobody\"")
    );
    assert!(
        errors[0]
            .message
            .contains("`owner` of sample item \"SMP-BLOOD-001\"")
    );
    assert_eq!(
        (errors[1].line, errors[1].column),
        pos(&text, "\"hk-nobody\"")
    );
    assert!(
        errors[1]
            .message
            .contains("recipient \"hk-nobody\" of sample item \"SMP-BLOOD-001\"")
    );
}

#[test]
fn a_filing_entry_files_with_its_own_sides_authority() {
    let text = variant(
        "{ party = \"recipient\", authority = \"dpo\", filed_on",
        "{ party = \"recipient\", authority = \"guangdong_cac\", filed_on",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let (line, column) = pos(
        &text,
        "{ party = \"recipient\", authority = \"guangdong_cac\"",
    );
    assert_eq!((errors[0].line, errors[0].column), (line, column + 35));
    assert!(errors[0].message.contains("the recipient's filing of contract filing \"GBA-SC-DEMO-001\" is with guangdong_cac, but \"hk-biolab\" is on the hong_kong side and files with dpo"), "{}", errors[0]);
    // The same party twice.
    let text = variant(
        "{ party = \"recipient\", authority = \"dpo\", filed_on",
        "{ party = \"processor\", authority = \"guangdong_cac\", filed_on",
    );
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .message
            .contains("lists the processor a second time")
    );
    // An unknown key and a malformed entry are located inside the entry.
    only_error_at(
        &variant(
            "number = \"GD-SC-2026-0142\"",
            "numero = \"GD-SC-2026-0142\"",
        ),
        "numero",
        "unknown key `numero` in `filings` #1 of [[contract_filing]] #1",
    );
    only_error_at(
        &variant(
            "party = \"processor\", authority = \"guangdong_cac\", filed_on",
            "party = \"cac\", authority = \"guangdong_cac\", filed_on",
        ),
        "\"cac\"",
        "`party` of `filings` #1 of [[contract_filing]] #1 is \"cac\"; use one of: processor, recipient",
    );
    only_error_at(
        &variant("filed_on = 2026-03-10", "filed_on = \"soon\""),
        "\"soon\"",
        "`filed_on` of `filings` #1 of [[contract_filing]] #1 must be a date",
    );
    let text = variant("filings = [", "filings = [1, ");
    let (line, column) = pos(&text, "filings = [1, ");
    let errors = errors_of(&text);
    assert_eq!((errors[0].line, errors[0].column), (line, column + 11));
    assert!(
        errors[0]
            .message
            .contains("`filings` #1 of [[contract_filing]] #1 must be a table, found an integer")
    );
    // A party the route needs but the bundle does not list: a warning, not an error.
    let text = variant(
        "  { party = \"recipient\", authority = \"dpo\", filed_on = 2026-03-12, number = \"DPO-GBA-2026-0087\" },\n",
        "",
    );
    let w = valid(&text).warnings;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(w[0].message.contains("lists no filing by the recipient"));
    // A party the route does not need may be listed (national_sc and the recipient's entry).
    valid(&variant("route = \"gba_sc\"", "route = \"national_sc\""));
}

#[test]
fn malformed_and_missing_fields_of_the_new_objects() {
    let rows: &[(&str, &str, &str, &str)] = &[
        (
            "pia_report_sha256 = \"9f2c",
            "pia_report_sha256 = \"9g2c",
            "\"9g2c",
            "`pia_report_sha256` of [[contract_filing]] #1 must be a SHA-256 digest written as 64 hex digits",
        ),
        (
            "biosafety_level = 2\nhgr",
            "biosafety_level = 5\nhgr",
            "5",
            "`biosafety_level` of [[sample_item]] #1 must be a whole number from 1 to 4",
        ),
        (
            "max_quantity = 200",
            "max_quantity = 0",
            "0",
            "`max_quantity` of [[sample_item]] #1 must be a whole number from 1",
        ),
        (
            "kind = \"export_approval\"",
            "kind = \"export\"",
            "\"export\"",
            "`kind` of [[hgr_approval]] #1 is \"export\"; use one of: information_filing, information_backup, export_approval",
        ),
        (
            "authority = \"nhc\"",
            "authority = \"cac\"",
            "\"cac\"",
            "`authority` of [[hgr_approval]] #1 is \"cac\"; use one of: nhc",
        ),
        (
            "status = \"effective\"                         # effective | revoked",
            "status = \"suspended\"",
            "\"suspended\"",
            "`status` of [[hgr_approval]] #1 is \"suspended\"; use one of: effective, revoked",
        ),
        (
            "legal_basis = \"consent\"",
            "legal_basis = \"agreed\"",
            "\"agreed\"",
            "`legal_basis` of [[inventory_item]] #2 is \"agreed\"",
        ),
        (
            "hgr = false",
            "hgr = \"no\"",
            "\"no\"",
            "`hgr` of [[inventory_item]] #1 must be true or false",
        ),
        (
            "sender_parks = [\"shenzhen_park\"]",
            "sender_parks = [\"lok_ma_chau\"]",
            "\"lok_ma_chau\"",
            "`sender_parks` of [parameters] is \"lok_ma_chau\"",
        ),
        (
            "sender_parks = [\"shenzhen_park\"]",
            "sender_parks = []",
            "[]",
            "`sender_parks` of [parameters] must list at least one park",
        ),
        (
            "max_biosafety_level = 2",
            "max_biosafety_level = 9",
            "9",
            "`max_biosafety_level` of [parameters] must be a whole number from 1 to 4",
        ),
        (
            "clock_skew_secs = 300",
            "clock_skew_secs = -1",
            "-1",
            "`clock_skew_secs` of [parameters] must be a whole number from 0 to 86400",
        ),
        (
            "custody_handover_hours = 48",
            "custody_handover_hours = 0",
            "0",
            "`custody_handover_hours` of [parameters] must be a whole number from 1",
        ),
        (
            "certification = []",
            "certification = [{ party = \"notary\", authority = \"dpo\" }]",
            "\"notary\"",
            "`party` of `certification` #1 of [parameters.filing_parties] is \"notary\"",
        ),
        (
            "certification = []",
            "wire_transfer = []\ncertification = []",
            "wire_transfer",
            "unknown key `wire_transfer` in [parameters.filing_parties]",
        ),
        (
            "id = \"hkp-logistics\"",
            "id = \"hkp logistics\"",
            "\"hkp logistics\"",
            "is not a valid id",
        ),
        (
            "legal_entity = \"sz-genomics\"",
            "legal_entity = \"\"",
            "\"\"",
            "`legal_entity` of [[tenant]] #1 must not be empty",
        ),
    ];
    for (from, to, at, message) in rows {
        let text = variant(from, to);
        let errors = errors_of(&text);
        // A broken entry is dropped, so what refers to it is reported too (and only that).
        let (line, column) = pos(&text, to);
        let column = column + text[text.find(to).unwrap()..].find(at).unwrap();
        assert!(
            errors
                .iter()
                .any(|e| (e.line, e.column) == (line, column) && e.message.contains(message)),
            "{to}: no error at {line}:{column} saying {message:?}: {errors:#?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| (e.line, e.column) == (line, column) || e.message.contains("names no [[")),
            "{to}: {errors:#?}"
        );
    }
    // Missing required keys point at their table.
    for (table, key) in [
        (
            "[[carrier]]",
            "legal_name = \"Park Cold-Chain Logistics Ltd.\"\n",
        ),
        (
            "[[sample_item]]",
            "storage_facility = \"HKP-BIOBANK-1\"           # the recipient's facility inside the Hong Kong Park\n",
        ),
        ("[[sample_item]]", "hgr = true\n"),
        ("[[hgr_approval]]", "holder = \"sz-genomics\"\n"),
        (
            "[[regulator]]",
            "authority = \"Office of the Privacy Commissioner for Personal Data, Hong Kong\"\n",
        ),
    ] {
        let text = variant(key, "");
        let errors = errors_of(&text);
        let name = key.split(' ').next().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| (e.line, e.column) == pos(&text, table)
                    && e.message
                        .contains(&format!("is missing the required key `{name}`"))),
            "{table} {name}: {errors:#?}"
        );
    }
}

#[test]
fn rules_of_the_new_schema() {
    // valid_until is required for certification and security assessments, at the table.
    let text = variant("route = \"gba_sc\"", "route = \"security_assessment\"");
    only_error_at(
        &text,
        "[[contract_filing]]",
        "is missing `valid_until`, which route security_assessment requires",
    );
    let text = variant("# valid_until = 2029-03-01", "valid_until = 2029-03-01");
    assert_eq!(
        valid(&text).registry.filings["GBA-SC-DEMO-001"].valid_until,
        Some(common::date("2029-03-01"))
    );
    only_error_at(
        &variant("# valid_until = 2029-03-01", "valid_until = 2026-03-01"),
        "2026-03-01",
        "is valid until 2026-03-01 but only takes effect on 2026-03-02",
    );
    // legal_basis is for personal classes only.
    only_error_at(
        &variant(
            "data_class = \"non_personal\"",
            "data_class = \"non_personal\"\nlegal_basis = \"consent\"",
        ),
        "\"consent\"",
        "`legal_basis` of [[inventory_item]] #1 is only for personal classes",
    );
    // human_genetic data is HGR information.
    only_error_at(
        &variant(
            "data_class = \"personal\"",
            "data_class = \"human_genetic\"\nhgr = false",
        ),
        "false\nlegal_basis",
        "is false, but human_genetic data is human genetic resources information",
    );
    // An inventory item and a sample item may not share an id.
    // (The approval covering the renamed sample is reported too.)
    let text = variant("id = \"SMP-BLOOD-001\"", "id = \"INV-NP-001\"");
    let errors = errors_of(&text);
    assert_eq!(
        (errors[0].line, errors[0].column),
        pos(
            &text,
            "\"INV-NP-001\"\nowner = \"sz-genomics\"\nrecipients = [\"hk-biolab\"]\nsample_type"
        )
    );
    assert!(
        errors[0].message.contains(&format!(
            "sample item id \"INV-NP-001\" is also an inventory item id (line {})",
            pos(&text, "\"INV-NP-001\"").0
        )),
        "{}",
        errors[0]
    );
    // Duplicates per kind.
    let carrier = &REFERENCE
        [REFERENCE.find("[[carrier]]").unwrap()..REFERENCE.find("[[inventory_item]]").unwrap()];
    let approval = &REFERENCE
        [REFERENCE.find("[[hgr_approval]]").unwrap()..REFERENCE.find("[[regulator]]").unwrap()];
    let regulator = &REFERENCE[REFERENCE.find("[[regulator]]").unwrap()..];
    let sample = &REFERENCE
        [REFERENCE.find("[[sample_item]]").unwrap()..REFERENCE.find("[[hgr_approval]]").unwrap()];
    for (copy, kind) in [
        (carrier, "duplicate carrier id \"hkp-logistics\""),
        (
            approval,
            "duplicate HGR approval reference \"HGR-EX-2026-007\"",
        ),
        (regulator, "duplicate regulator id \"pcpd\""),
        (sample, "duplicate sample item id \"SMP-BLOOD-001\""),
    ] {
        let text = format!("{REFERENCE}\n{copy}");
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{kind}: {errors:#?}");
        assert!(errors[0].message.contains(kind), "{}", errors[0]);
        assert!(errors[0].line > REFERENCE.lines().count(), "{}", errors[0]);
    }
    // Windows that end before they start.
    only_error_at(
        &variant("valid_until = 2028-01-31", "valid_until = 2026-01-31"),
        "2026-01-31",
        "HGR approval \"HGR-EX-2026-007\" is valid until 2026-01-31 but only from 2026-02-01",
    );
}

#[test]
fn valid_but_denied_is_a_warning() {
    // An HGR sample item without an export approval: valid; rule S7 will deny.
    let text = variant(
        "hgr_approvals = [\"HGR-EX-2026-007\"]",
        "hgr_approvals = []",
    );
    let w = valid(&text).warnings;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(w[0].message.contains("lists no export_approval"));
    assert_eq!((w[0].line, w[0].column), pos(&text, "[[sample_item]]"));
    // An approval that does not cover the item naming it, or held by someone else.
    let text = variant("covers = [\"SMP-BLOOD-001\"]", "covers = [\"INV-NP-001\"]");
    let w = valid(&text).warnings;
    assert!(
        w.iter().any(|w| w
            .message
            .contains("does not list \"SMP-BLOOD-001\" in its `covers`")),
        "{w:#?}"
    );
    // A filing dated before the contract took effect: counted as on time, worth a look. The
    // day it takes effect is fine.
    for (filed, warned) in [("2026-03-01", true), ("2026-03-02", false)] {
        let text = variant("filed_on = 2026-03-10", &format!("filed_on = {filed}"));
        let w = valid(&text).warnings;
        let before = w
            .iter()
            .find(|w| w.message.contains("before the contract took effect"));
        assert_eq!(before.is_some(), warned, "{filed}: {w:#?}");
        if let Some(w) = before {
            assert_eq!((w.line, w.column), pos(&text, "2026-03-01, number"));
            assert!(
                w.message.contains(
                    "processor's filing of contract filing \"GBA-SC-DEMO-001\" is dated 2026-03-01"
                ),
                "{}",
                w.message
            );
        }
    }
}

/// Flags and the bundle's words are written (and read back) in one spelling each; regression
/// guard for records written by the first version, whose `filed_late` meant the processor.
#[test]
fn flags_and_words_round_trip_through_json() {
    use loopgate_policy::{Flag, HgrKind, LegalBasis, Party};
    for (flag, text) in [
        (
            Flag::FiledLate(Party::Processor),
            "\"filed_late:processor\"",
        ),
        (
            Flag::FiledLate(Party::Recipient),
            "\"filed_late:recipient\"",
        ),
    ] {
        assert_eq!(serde_json::to_string(&flag).unwrap(), text);
        assert_eq!(serde_json::from_str::<Flag>(text).unwrap(), flag);
        assert_eq!(Flag::parse(flag.as_str()), Some(flag));
        assert_eq!(
            format!("\"{flag}\""),
            text,
            "Display writes the same spelling"
        );
    }
    assert_eq!(
        serde_json::from_str::<Flag>("\"filed_late\"").unwrap(),
        Flag::FiledLate(Party::Processor)
    );
    assert!(serde_json::from_str::<Flag>("\"late\"").is_err());
    for scope in Scope::ALL {
        assert_eq!(
            serde_json::to_string(scope).unwrap(),
            format!("{:?}", scope.as_str())
        );
    }
    for kind in HgrKind::ALL {
        assert_eq!(
            serde_json::to_string(kind).unwrap(),
            format!("{:?}", kind.as_str())
        );
    }
    for basis in LegalBasis::ALL {
        assert_eq!(
            serde_json::to_string(basis).unwrap(),
            format!("{:?}", basis.as_str())
        );
    }
    for party in Party::ALL {
        assert_eq!(
            serde_json::to_string(party).unwrap(),
            format!("{:?}", party.as_str())
        );
    }
}
