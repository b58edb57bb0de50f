//! Bundle validation: the reference bundle is valid; each broken copy gives the right problem at
//! the right line:column; several problems are all reported at once, in source order; warnings
//! do not make a bundle invalid.
#![allow(clippy::unwrap_used)]

mod common;

use common::{REFERENCE, errors_of, pos, pos_nth, problems, valid, variant};
use loopgate_policy::{DataClass, MAX_BUNDLE_BYTES, Parameters, Severity, parse_bundle};

/// Asserts that the only error is at `at` and its message contains `message`.
#[track_caller]
fn only_error(text: &str, at: (usize, usize), message: &str) {
    let errors = errors_of(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let e = &errors[0];
    assert_eq!((e.line, e.column), at, "position of {e}");
    assert!(e.message.contains(message), "{e} should say {message:?}");
}

/// Asserts some error is at `at` with `message` in it.
#[track_caller]
fn has_error(text: &str, at: (usize, usize), message: &str) {
    let errors = errors_of(text);
    assert!(
        errors
            .iter()
            .any(|e| (e.line, e.column) == at && e.message.contains(message)),
        "no error at {at:?} saying {message:?} in {errors:#?}"
    );
}

#[test]
fn reference_bundle_is_valid_without_warnings() {
    let bundle = valid(REFERENCE);
    assert!(bundle.warnings.is_empty(), "{:?}", bundle.warnings);
    let r = bundle.registry;
    assert_eq!(r.parameters, Parameters::default());
    assert_eq!(r.catalogue.len(), 6);
    assert_eq!(
        r.tenants.keys().collect::<Vec<_>>(),
        ["hk-biolab", "sz-genomics"]
    );
    assert_eq!(
        r.items.keys().collect::<Vec<_>>(),
        ["INV-NP-001", "INV-PI-001"]
    );
    assert_eq!(r.filings.keys().collect::<Vec<_>>(), ["GBA-SC-DEMO-001"]);
    assert_eq!(r.items["INV-PI-001"].data_class, DataClass::Personal);
    assert_eq!(r.items["INV-NP-001"].max_transfer_bytes, 1_073_741_824);
    assert_eq!(r.calendars.mainland.holidays.len(), 5);
    assert_eq!(r.calendars.mainland.workdays.len(), 2);
    assert_eq!(r.calendars.hong_kong.holidays.len(), 4);
    assert!(r.calendars.hong_kong.workdays.is_empty());
    let filing = &r.filings["GBA-SC-DEMO-001"];
    assert_eq!(
        filing
            .entry(loopgate_policy::Party::Processor)
            .and_then(|e| e.filed_on),
        Some(common::date("2026-03-10"))
    );
    assert_eq!(filing.pia_completed_on, Some(common::date("2026-02-20")));
}

#[test]
fn unknown_keys_are_refused_where_they_are() {
    // (name, from, to, the text the error points at, what it names)
    let rows: &[(&str, &str, &str, &str, &str)] = &[
        (
            "top level",
            "[parameters]",
            "bogus_top = 1\n[parameters]",
            "bogus_top",
            "in the bundle",
        ),
        (
            "parameters",
            "filing_working_days = 10",
            "filing_working_days = 10\nbogus_p = 1",
            "bogus_p",
            "in [parameters]",
        ),
        (
            "catalogue",
            "[catalogue]\n",
            "[catalogue]\nbogus_c = 1\n",
            "bogus_c",
            "in [catalogue]",
        ),
        (
            "calendar side",
            "[calendar.hong_kong]",
            "[calendar.macao]\n[calendar.hong_kong]",
            "macao",
            "in [calendar]",
        ),
        (
            "calendar",
            "workdays = []",
            "workdays = []\nbogus_cal = 1",
            "bogus_cal",
            "in [calendar.hong_kong]",
        ),
        (
            "tenant",
            "ciio = false\n\n[[tenant]]",
            "ciio = false\nbogus_t = 1\n\n[[tenant]]",
            "bogus_t",
            "in [[tenant]] #1",
        ),
        (
            "inventory item",
            "retention_days = 180",
            "retention_days = 180\nbogus_i = 1",
            "bogus_i",
            "in [[inventory_item]] #2",
        ),
        (
            "contract filing",
            "separate_consent = true",
            "separate_consent = true\nbogus_f = 1",
            "bogus_f",
            "in [[contract_filing]] #1",
        ),
        // A misspelled array-of-tables name is an unknown top-level key, not silently ignored.
        (
            "misspelled table",
            "[[contract_filing]]",
            "[[contract_filings]]",
            "contract_filings",
            "in the bundle",
        ),
    ];
    for (name, from, to, at, message) in rows {
        let text = variant(from, to);
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{name}: {errors:#?}");
        let e = &errors[0];
        assert_eq!((e.line, e.column), pos(&text, at), "{name}: {e}");
        assert!(
            e.message.contains(&format!("unknown key `{at}` {message}")),
            "{name}: {e}"
        );
        assert!(e.message.contains("allowed keys are"), "{name}: {e}");
    }
}

#[test]
fn references_to_missing_tenants_are_refused() {
    let rows: &[(&str, &str, &str, &str, &str)] = &[
        (
            "item recipient",
            "recipients = [\"hk-biolab\"]\ndata_class = \"personal\"",
            "recipients = [\"hk-biolab\", \"hk-nobody\"]\ndata_class = \"personal\"",
            "\"hk-nobody\"",
            "recipient \"hk-nobody\" of inventory item \"INV-PI-001\" names no [[tenant]]",
        ),
        (
            "item owner",
            "owner = \"sz-genomics\"",
            "owner = \"sz-nobody\"",
            "\"sz-nobody\"",
            "`owner` of inventory item \"INV-NP-001\" is \"sz-nobody\", which names no [[tenant]]",
        ),
        (
            "filing processor",
            "processor = \"sz-genomics\"",
            "processor = \"sz-nobody\"",
            "\"sz-nobody\"",
            "`processor` of contract filing \"GBA-SC-DEMO-001\" is \"sz-nobody\", which names no [[tenant]]",
        ),
        (
            "filing recipient",
            "recipient = \"hk-biolab\"",
            "recipient = \"hk-nobody\"",
            "\"hk-nobody\"",
            "`recipient` of contract filing \"GBA-SC-DEMO-001\" is \"hk-nobody\", which names no [[tenant]]",
        ),
    ];
    for (name, from, to, at, message) in rows {
        let text = variant(from, to);
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{name}: {errors:#?}");
        assert_eq!((errors[0].line, errors[0].column), pos(&text, at), "{name}");
        assert!(errors[0].message.contains(message), "{name}: {}", errors[0]);
    }
}

#[test]
fn wrong_enum_values_name_the_allowed_spellings() {
    let text = variant("route = \"gba_sc\"", "route = \"gba\"");
    only_error(
        &text,
        pos(&text, "\"gba\""),
        "`route` of [[contract_filing]] #1 is \"gba\"; use one of: gba_sc, national_sc, certification, security_assessment",
    );
    let text = variant("data_class = \"personal\"", "data_class = \"Personal\"");
    only_error(
        &text,
        pos(&text, "\"Personal\""),
        "`data_class` of [[inventory_item]] #2 is \"Personal\"",
    );
    let text = variant(
        "authority = \"guangdong_cac\", filed_on",
        "authority = \"cac\", filed_on",
    );
    only_error(
        &text,
        pos(&text, "\"cac\""),
        "`authority` of `filings` #1 of [[contract_filing]] #1 is \"cac\"",
    );
    let text = variant("park = \"hk_park\"", "park = \"hong_kong_park\"");
    // The tenant is dropped, so what referred to it is reported too, after it.
    let errs = errors_of(&text);
    assert_eq!(
        (errs[0].line, errs[0].column),
        pos(&text, "\"hong_kong_park\"")
    );
    assert!(errs[0].message.contains(
        "`park` of [[tenant]] #2 is \"hong_kong_park\"; use one of: shenzhen_park, hk_park, none"
    ));
    assert!(
        errs[1..]
            .iter()
            .all(|e| e.message.contains("names no [[tenant]]")),
        "{errs:#?}"
    );
}

#[test]
fn wrong_types_say_what_was_found() {
    let rows: &[(&str, &str, &str, &str)] = &[
        (
            "retention_days = 180",
            "retention_days = \"180\"",
            "\"180\"",
            "`retention_days` of [[inventory_item]] #2 must be an integer, found a string",
        ),
        (
            "retention_days = 180",
            "retention_days = 180.0",
            "180.0",
            "must be an integer, found a float",
        ),
        (
            "covers_sensitive = false",
            "covers_sensitive = 0",
            "0",
            "`covers_sensitive` of [[contract_filing]] #1 must be true or false, found an integer",
        ),
        (
            "purposes = [\"research.cohort_study\"]\nmethods",
            "purposes = \"research.cohort_study\"\nmethods",
            "\"research.cohort_study\"\nmethods",
            "`purposes` of [[inventory_item]] #2 must be an array, found a string",
        ),
        (
            "purposes = [\"research.cohort_study\"]\nmethods",
            "purposes = [1]\nmethods",
            "1]",
            "`purposes` of [[inventory_item]] #2 must be a string, found an integer",
        ),
        (
            "effective_on = 2026-03-02",
            "effective_on = 2026-03-02T10:00:00",
            "2026-03-02T10:00:00",
            "`effective_on` of [[contract_filing]] #1 must be a date such as 2026-03-02",
        ),
        (
            "effective_on = 2026-03-02",
            "effective_on = \"2026-03-02T10:00:00\"",
            "\"2026-03-02T10:00:00\"",
            "`effective_on` of [[contract_filing]] #1 must be a date such as 2026-03-02",
        ),
        (
            "effective_on = 2026-03-02",
            "effective_on = \"2026-03-02T10:00:00+08:00\"",
            "\"2026-03-02T10:00:00+08:00\"",
            "must be a date such as 2026-03-02",
        ),
        (
            "effective_on = 2026-03-02",
            "effective_on = \"next monday\"",
            "\"next monday\"",
            "must be a date such as 2026-03-02",
        ),
    ];
    for (from, to, at, message) in rows {
        let text = variant(from, to);
        let (line, column) = pos(&text, to);
        let at = (line, column + to.find(at).unwrap());
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 1, "{to}: {errs:#?}");
        assert_eq!((errs[0].line, errs[0].column), at, "{to}");
        assert!(errs[0].message.contains(message), "{to}: {}", errs[0]);
    }
}

/// Quoted dates are read as dates (commit "read quoted dates"); guards that they keep meaning
/// the same day as the bare TOML date.
#[test]
fn quoted_dates_mean_the_same_day() {
    let text = variant("effective_on = 2026-03-02", "effective_on = \"2026-03-02\"");
    assert_eq!(valid(&text).registry, valid(REFERENCE).registry);
}

#[test]
fn missing_required_keys_point_at_their_table() {
    let text = variant(
        "status = \"effective\"                         # effective | suspended | terminated\n",
        "",
    );
    only_error(
        &text,
        pos(&text, "[[contract_filing]]"),
        "[[contract_filing]] #1 is missing the required key `status`",
    );
    let text = variant("purposes = [\"research.cohort_study\"]\nmethods", "methods");
    only_error(
        &text,
        pos_nth(&text, "[[inventory_item]]", 1),
        "[[inventory_item]] #2 is missing the required key `purposes`",
    );
    let text = variant("legal_name = \"HK Park Biolab Limited\"\n", "");
    has_error(
        &text,
        pos_nth(&text, "[[tenant]]", 1),
        "[[tenant]] #2 is missing the required key `legal_name`",
    );
    let text = variant("reference = \"GBA-SC-DEMO-001\"\n", "");
    only_error(
        &text,
        pos(&text, "[[contract_filing]]"),
        "is missing the required key `reference`",
    );
}

#[test]
fn windows_that_end_before_they_start() {
    let text = variant(
        "valid_until = 2027-12-31\nciio = false\n\n[[carrier]]",
        "valid_until = 2025-12-31\nciio = false\n\n[[carrier]]",
    );
    only_error(
        &text,
        pos(&text, "2025-12-31"),
        "tenant \"hk-biolab\" is valid until 2025-12-31 but only from 2026-01-01",
    );
    let text = variant(
        "valid_until = 2027-12-31\n\n[[contract_filing]]",
        "valid_until = 2026-01-01\n\n[[contract_filing]]",
    );
    // A one-day window is fine.
    valid(&text);
    let text = variant(
        "valid_until = 2027-12-31\n\n[[contract_filing]]",
        "valid_until = 2025-06-30\n\n[[contract_filing]]",
    );
    only_error(
        &text,
        pos(&text, "2025-06-30"),
        "inventory item \"INV-PI-001\" is valid until 2025-06-30 but only from 2026-01-01",
    );
    // A contract filing valid only on the day it takes effect; a day less is refused.
    let text = variant("# valid_until = 2029-03-01", "valid_until = 2026-03-02");
    let filing = &valid(&text).registry.filings["GBA-SC-DEMO-001"];
    assert_eq!(filing.valid_until, Some(filing.effective_on));
    let text = variant("# valid_until = 2029-03-01", "valid_until = 2026-03-01");
    only_error(
        &text,
        pos(&text, "2026-03-01"),
        "the window ends before it starts",
    );
}

#[test]
fn duplicate_ids_point_at_the_second_and_name_the_first() {
    let text = variant("id = \"INV-PI-001\"", "id = \"INV-NP-001\"");
    only_error(
        &text,
        (pos_nth(&text, "\"INV-NP-001\"", 1).0, 6),
        &format!(
            "duplicate inventory item id \"INV-NP-001\"; the first one is on line {}",
            pos(&text, "\"INV-NP-001\"").0
        ),
    );
    let text = variant("id = \"hk-biolab\"", "id = \"sz-genomics\"");
    has_error(
        &text,
        {
            let (line, column) = pos_nth(&text, "id = \"sz-genomics\"", 1);
            (line, column + 5)
        },
        &format!(
            "duplicate tenant id \"sz-genomics\"; the first one is on line {}",
            pos(&text, "\"sz-genomics\"").0
        ),
    );
    let filing = &REFERENCE[REFERENCE.find("[[contract_filing]]").unwrap()
        ..REFERENCE.find("[[sample_item]]").unwrap()];
    let text = format!("{REFERENCE}\n{filing}");
    only_error(
        &text,
        pos_nth(&text, "\"GBA-SC-DEMO-001\"", 1),
        &format!(
            "duplicate contract filing reference \"GBA-SC-DEMO-001\"; the first one is on line {}",
            pos(&text, "\"GBA-SC-DEMO-001\"").0
        ),
    );
}

#[test]
fn calendar_problems() {
    let text = variant(
        "workdays = [2026-09-27, 2026-10-10]",
        "workdays = [2026-09-27, 2026-10-10, 2026-10-05]",
    );
    only_error(
        &text,
        pos(&text, "2026-10-05]"),
        "2026-10-05 of [calendar.mainland] is both a holiday and a make-up working day",
    );
    let all = "weekend = [\"monday\", \"tuesday\", \"wednesday\", \"thursday\", \"friday\", \"saturday\", \"sunday\"]";
    let text = variant(
        "weekend = [\"saturday\", \"sunday\"]\nholidays = [2026-10-01, 2026-10-19",
        &format!("{all}\nholidays = [2026-10-01, 2026-10-19"),
    );
    only_error(
        &text,
        pos(&text, "[calendar.hong_kong]"),
        "`weekend` of [calendar.hong_kong] lists every day of the week",
    );
    // Six days off is allowed.
    let six = "weekend = [\"monday\", \"tuesday\", \"wednesday\", \"thursday\", \"friday\", \"saturday\"]";
    valid(&variant("weekend = [\"saturday\", \"sunday\"]", six));
    let text = variant(
        "weekend = [\"saturday\", \"sunday\"]",
        "weekend = [\"Saturday\", \"sunday\"]",
    );
    only_error(
        &text,
        pos(&text, "\"Saturday\""),
        "\"Saturday\" in `weekend` of [calendar.mainland] is not a day of the week",
    );
    let text = variant(
        "holidays = [2026-10-01, 2026-10-02",
        "holidays = [2026-10-01, 2026-02-30",
    );
    // 30 February is already a TOML syntax error.
    has_error(
        &text,
        pos(&text, "2026-02-30"),
        "invalid TOML: invalid date",
    );
}

#[test]
fn volume_year_start_must_be_a_month_and_day() {
    for bad in [
        "\"02-30\"",
        "\"1-1\"",
        "\"13-01\"",
        "\"0101\"",
        "\"01-01-2026\"",
        "\"\"",
    ] {
        let text = variant("\"01-01\"", bad);
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 1, "{bad}: {errs:#?}");
        assert_eq!((errs[0].line, errs[0].column), pos(&text, bad), "{bad}");
        assert!(
            errs[0].message.contains("volume_year_start"),
            "{bad}: {}",
            errs[0]
        );
    }
    let text = variant("\"01-01\"", "101");
    only_error(
        &text,
        pos(&text, "101"),
        "`volume_year_start` of [parameters] must be a string, found an integer",
    );
    // 29 February exists in leap years and is accepted.
    let leap = valid(&variant("\"01-01\"", "\"02-29\""));
    assert_eq!(
        leap.registry.parameters.volume_year_start,
        (time::Month::February, 29)
    );
    let april = valid(&variant("\"01-01\"", "\"04-01\""));
    assert_eq!(
        april.registry.parameters.volume_year_start,
        (time::Month::April, 1)
    );
}

#[test]
fn hgr_written_out_as_true_is_the_default() {
    // `hgr = true` written out on a human_genetic item says what the default says.
    let text = variant(
        "data_class = \"personal\"",
        "data_class = \"human_genetic\"\nhgr = true",
    );
    let written = valid(&text);
    let text = variant(
        "data_class = \"personal\"",
        "data_class = \"human_genetic\"",
    );
    assert_eq!(written.registry, valid(&text).registry);
    assert!(written.registry.items["INV-PI-001"].hgr);
}

#[test]
fn gba_cities_and_thresholds() {
    // An empty list would make every personal-data transfer fail rule 3.
    let start = REFERENCE.find("gba_cities = [").unwrap();
    let end = start + REFERENCE[start..].find(']').unwrap() + 1;
    let text = format!(
        "{}gba_cities = []{}",
        &REFERENCE[..start],
        &REFERENCE[end..]
    );
    only_error(
        &text,
        pos(&text, "[parameters]"),
        "`gba_cities` of [parameters] must list at least one city",
    );
    // The contract threshold may equal the assessment threshold (above it: numbers_out_of_range).
    let equal = variant(
        "threshold_contract = 100000 ",
        "threshold_contract = 1000000 ",
    );
    assert_eq!(
        valid(&equal).registry.parameters.threshold_contract,
        1_000_000
    );
}

#[test]
fn numbers_out_of_range() {
    let rows: &[(&str, &str, &str, &str)] = &[
        (
            "retention_days = 180",
            "retention_days = -1",
            "-1",
            "`retention_days` of [[inventory_item]] #2 must be a whole number from 0 to 36525, found -1",
        ),
        (
            "max_transfer_bytes = 104857600",
            "max_transfer_bytes = -5",
            "-5",
            "`max_transfer_bytes` of [[inventory_item]] #2 must be a whole number from 1 to",
        ),
        (
            "max_transfer_bytes = 104857600",
            "max_transfer_bytes = 0",
            "0",
            "must be a whole number from 1 to",
        ),
        (
            "filing_working_days = 10 ",
            "filing_working_days = -10 ",
            "-10",
            "`filing_working_days` of [parameters] must be a whole number from 0 to 366, found -10",
        ),
        (
            "threshold_contract = 100000 ",
            "threshold_contract = -1 ",
            "-1",
            "`threshold_contract` of [parameters] must be a whole number from 1 to",
        ),
        (
            "threshold_sensitive_assessment = 10000 ",
            "threshold_sensitive_assessment = 0 ",
            "0 ",
            "`threshold_sensitive_assessment` of [parameters] must be a whole number from 1 to",
        ),
        (
            "retention_days = 180",
            "retention_days = 99999999999999999999",
            "99999999999999999999",
            "must be a whole number from 0 to 36525",
        ),
    ];
    for (from, to, at, message) in rows {
        let text = variant(from, to);
        let (line, column) = pos(&text, to);
        let at = (line, column + to.find(at).unwrap());
        let errs = errors_of(&text);
        assert_eq!(errs.len(), 1, "{to}: {errs:#?}");
        assert_eq!((errs[0].line, errs[0].column), at, "{to}");
        assert!(errs[0].message.contains(message), "{to}: {}", errs[0]);
    }
    // Hex and underscores are integers too.
    let text = variant("retention_days = 180", "retention_days = 0xB4");
    assert_eq!(
        valid(&text).registry.items["INV-PI-001"].retention_days,
        180
    );
    let text = variant(
        "threshold_assessment = 1000000 ",
        "threshold_assessment = 1_000_000 ",
    );
    assert_eq!(
        valid(&text).registry.parameters.threshold_assessment,
        1_000_000
    );
    let text = variant(
        "threshold_contract = 100000 ",
        "threshold_contract = 2000000 ",
    );
    only_error(
        &text,
        pos(&text, "[parameters]"),
        "`threshold_contract` (2000000) of [parameters] is above `threshold_assessment` (1000000)",
    );
}

#[test]
fn ids_must_be_visible_ascii() {
    let text = variant("id = \"INV-PI-001\"", "id = \"INV PI 001\"");
    only_error(&text, pos(&text, "\"INV PI 001\""), "is not a valid id");
    let text = variant("id = \"INV-PI-001\"", "id = \"  \"");
    only_error(
        &text,
        pos(&text, "\"  \""),
        "`id` of [[inventory_item]] #2 must not be empty",
    );
    let long = format!("id = \"{}\"", "x".repeat(129));
    let text = variant("id = \"INV-PI-001\"", &long);
    only_error(
        &text,
        pos(&text, "\"xxx"),
        "at most 128 visible ASCII characters",
    );
    let text = variant("id = \"INV-PI-001\"", "id = \"INV-PI-001\u{e9}\"");
    only_error(
        &text,
        pos(&text, "\"INV-PI-001\u{e9}\""),
        "is not a valid id",
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let rows: &[(&str, &str, (usize, usize), &str)] = &[
        ("[catalogue]", "[catalogue", (25, 11), "invalid TOML"),
        (
            "ciio = false\n\n[[carrier]]",
            "ciio = \n\n[[carrier]]",
            (60, 8),
            "invalid TOML",
        ),
        // An unterminated string: where the closing quote was expected (end of line 53).
        (
            "legal_name = \"HK Park Biolab Limited\"",
            "legal_name = \"HK Park Biolab Limited",
            (53, 37),
            "invalid TOML: invalid basic string",
        ),
        // A key written twice.
        (
            "legal_name = \"HK Park Biolab Limited\"",
            "legal_name = \"HK Park Biolab Limited\"\nlegal_name = \"again\"",
            (54, 1),
            "invalid TOML",
        ),
        // A table written twice.
        (
            "[calendar.hong_kong]",
            "[calendar.mainland]",
            (34, 11),
            "invalid TOML: duplicate key",
        ),
    ];
    for (from, to, at, message) in rows {
        let text = variant(from, to);
        let errs = errors_of(&text);
        assert!(!errs.is_empty(), "{to}");
        assert!(
            errs.iter().all(|e| e.message.starts_with(message)),
            "{to}: {errs:#?}"
        );
        assert_eq!((errs[0].line, errs[0].column), *at, "{to}: {errs:#?}");
    }
}

#[test]
fn several_problems_are_all_reported_in_source_order() {
    let mut text = REFERENCE.to_owned();
    for (from, to) in [
        ("filing_working_days = 10 ", "filing_working_days = -1 "),
        ("\"01-01\"", "\"00-00\""),
        (
            "workdays = [2026-09-27, 2026-10-10]",
            "workdays = [2026-09-27, 2026-10-01]",
        ),
        (
            "legal_name = \"Shenzhen",
            "nickname = \"sz\"\nlegal_name = \"Shenzhen",
        ),
        ("retention_days = 365", "retention_days = -365"),
        ("route = \"gba_sc\"", "route = \"green\""),
        ("processor = \"sz-genomics\"", "processor = \"sz-nobody\""),
    ] {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    let errs = errors_of(&text);
    let expected = [
        (pos(&text, "-1 "), "filing_working_days"),
        (pos(&text, "\"00-00\""), "volume_year_start"),
        (
            pos(&text, "2026-10-01]"),
            "both a holiday and a make-up working day",
        ),
        (pos(&text, "nickname"), "unknown key `nickname`"),
        (pos(&text, "-365"), "retention_days"),
        (pos(&text, "\"green\""), "`route`"),
    ];
    let got: Vec<_> = errs.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        got,
        expected.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
        "{errs:#?}"
    );
    for (e, (_, message)) in errs.iter().zip(expected) {
        assert!(e.message.contains(message), "{e} should say {message}");
    }
    // (The broken filing is dropped before its processor is checked.)
    let sorted = {
        let mut s = got.clone();
        s.sort();
        s
    };
    assert_eq!(got, sorted);
}

#[test]
fn problems_of_an_invalid_bundle_include_its_warnings_in_order() {
    // An error after a warning: both are listed, in source order.
    let text = variant(
        "categories = [\"instrument_telemetry\"]",
        "categories = [\"instrument_telemetry\", \"satellite\"]",
    );
    let text = text.replacen("route = \"gba_sc\"", "route = \"green\"", 1);
    let all = problems(&text);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0].severity, Severity::Warning);
    assert_eq!((all[0].line, all[0].column), pos(&text, "\"satellite\""));
    assert_eq!(all[1].severity, Severity::Error);
    assert!(all[0].to_string().contains(": warning: "));
    assert!(!all[1].to_string().contains("warning"));
    // The error's message counts errors only.
    let err = parse_bundle(&text).unwrap_err();
    assert!(err.to_string().contains("has 1 problem(s)"), "{err}");
}

#[test]
fn warnings_do_not_make_a_bundle_invalid() {
    // A category not in the catalogue.
    let text = variant(
        "categories = [\"instrument_telemetry\"]",
        "categories = [\"instrument_telemetry\", \"satellite\"]",
    );
    let w = valid(&text).warnings;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0].line, w[0].column), pos(&text, "\"satellite\""));
    assert!(
        w[0].message.contains(
            "category \"satellite\" of inventory item \"INV-NP-001\" is not in [catalogue]"
        )
    );
    assert_eq!(w[0].severity, Severity::Warning);

    // human_genetic (hgr by default) without approvals: one warning per missing kind, at the
    // item's table. The bundle is valid; rule 9 denies.
    let text = variant(
        "data_class = \"personal\"",
        "data_class = \"human_genetic\"",
    );
    let w = valid(&text).warnings;
    assert_eq!(w.len(), 2, "{w:#?}");
    for w in &w {
        assert_eq!((w.line, w.column), pos_nth(&text, "[[inventory_item]]", 1));
    }
    assert!(
        w[0].message
            .contains("lists no information_backup approval")
    );
    assert!(
        w[1].message
            .contains("lists no information_filing approval")
    );
    assert!(w[1].message.contains("denied with hgr.filing_missing"));

    // A filing whose processor owns no item listing its recipient: a third tenant as recipient.
    let hk2 = "[[tenant]]\nid = \"hk-two\"\nlegal_name = \"Two\"\nside = \"hong_kong\"\ncity = \"hong_kong\"\npark = \"hk_park\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n[[inventory_item]]";
    let text = variant("[[inventory_item]]", hk2).replacen(
        "recipient = \"hk-biolab\"",
        "recipient = \"hk-two\"",
        1,
    );
    let w = valid(&text).warnings;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0].line, w[0].column), {
        let (line, column) = pos(&text, "processor = \"sz-genomics\"");
        (line, column + 12)
    });
    assert!(w[0].message.contains(
        "processor \"sz-genomics\" owns no inventory item that lists recipient \"hk-two\""
    ));

    // No catalogue at all: one warning at 1:1 and one per category.
    let start = REFERENCE.find("[catalogue]").unwrap();
    let end = REFERENCE.find("[calendar.mainland]").unwrap();
    let text = format!("{}{}", &REFERENCE[..start], &REFERENCE[end..]);
    let w = valid(&text).warnings;
    assert_eq!((w[0].line, w[0].column), (1, 1));
    assert!(w[0].message.contains("the bundle has no [catalogue]"));
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(w.iter().all(|w| w.severity == Severity::Warning));
    let lines: Vec<_> = w.iter().map(|w| (w.line, w.column)).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn minimal_bundles() {
    // An empty bundle is valid: defaults everywhere, nothing whitelisted, a catalogue warning.
    let empty = valid("");
    assert_eq!(empty.registry.parameters, Parameters::default());
    assert!(empty.registry.tenants.is_empty());
    assert_eq!(empty.warnings.len(), 1);
    only_error(
        "catalogue = 1\n",
        (1, 13),
        "[catalogue] must be a table, found an integer",
    );
    only_error(
        "[calendar]\nmainland = []\n",
        (2, 12),
        "[calendar.mainland] must be a table, found an array",
    );
    // `[[tenant]]` written as a plain key.
    only_error(
        "tenant = 1\n[catalogue]\ncategories = []\n",
        (1, 10),
        "`tenant` must be an array of tables",
    );
    only_error(
        "[catalogue]\ncategories = []\n[tenant]\nid = \"x\"\n",
        (3, 1),
        "`tenant` must be an array of tables",
    );
}

#[test]
fn size_limit() {
    assert_eq!(
        MAX_BUNDLE_BYTES,
        8 << 20,
        "policy/README.md and the admin API say 8 MiB"
    );
    // One byte over the limit is refused before parsing, naming the limit.
    let mut text = REFERENCE.to_owned();
    text.push_str(&"#".repeat(MAX_BUNDLE_BYTES + 1 - text.len()));
    let errs = errors_of(&text);
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].line, errs[0].column), (1, 1));
    assert!(
        errs[0]
            .message
            .contains(&format!("the limit is {MAX_BUNDLE_BYTES} bytes")),
        "{}",
        errs[0]
    );
    // Exactly at the limit is parsed.
    text.pop();
    assert_eq!(text.len(), MAX_BUNDLE_BYTES);
    valid(&text);
}

/// Every syntax error is reported up to 256 KiB; past that only the first (recovering after a
/// syntax error can produce one per byte).
#[test]
fn syntax_errors_are_all_reported_up_to_256_kib() {
    let two_errors = |size: usize| {
        let mut text = format!("{REFERENCE}\nbroken = \nalso broken = \n");
        text.push_str(&"#".repeat(size - text.len()));
        assert_eq!(text.len(), size);
        errors_of(&text)
    };
    let small = two_errors(4096 + REFERENCE.len());
    let at_limit = two_errors(256 * 1024);
    for errs in [&small, &at_limit] {
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter().all(|e| e.message.starts_with("invalid TOML")),
            "{errs:?}"
        );
        assert_eq!(errs[1].line, errs[0].line + 1, "{errs:?}");
    }
    let over = two_errors(256 * 1024 + 1);
    assert_eq!(over.len(), 1, "{over:?}");
    assert!(over[0].message.starts_with("invalid TOML"), "{over:?}");
}

/// Regression guard: one diagnostic per byte on a long line used to cost quadratic time (each
/// position was counted from the start of its line) and unbounded memory. Reports are capped and
/// positions found in one pass.
#[test]
fn pathological_inputs_report_a_bounded_number_of_problems() {
    let long_line = format!("[catalogue]\ncategories = [{}]\n", "1, ".repeat(200_000));
    let Err(loopgate_policy::PolicyError::InvalidBundle { problems }) =
        loopgate_policy::parse_bundle(&long_line)
    else {
        panic!("a catalogue of integers is invalid");
    };
    assert!(problems.len() <= 201, "{} problems", problems.len());
    assert!(
        problems[0].message.contains("must be a string"),
        "{}",
        problems[0]
    );
    let last = problems.last().unwrap();
    assert!(
        last.message.starts_with("and ") && last.message.contains("more problems"),
        "{last}"
    );

    let garbage = "=".repeat(300_000);
    let Err(loopgate_policy::PolicyError::InvalidBundle { problems }) =
        loopgate_policy::parse_bundle(&garbage)
    else {
        panic!("garbage is invalid");
    };
    assert!(!problems.is_empty() && problems.len() <= 201);
}
