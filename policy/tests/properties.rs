//! Properties of the engine and the bundle parser, with proptest.
//!
//! - evaluation is deterministic and depends on `at` only through its UTC+8 calendar day;
//! - adding a failing condition never turns a deny into an allow, and turns an allow into a deny
//!   at the rule of that condition (or an earlier one);
//! - a bundle that validates never references a tenant it does not define, and one whose only
//!   flaw is a dangling reference never validates;
//! - the parser never panics: arbitrary strings, every prefix of the reference bundle, random
//!   byte flips, shuffled reference lines, huge and deeply nested inputs.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use loopgate_policy::{
    DataClass, Decision, FilingStatus, MAX_BUNDLE_BYTES, PolicyError, Registry, Route, Severity,
    Status, TransferRequest, Verdict, evaluate, parse_bundle,
};
use proptest::prelude::*;
use proptest::sample::select;
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------------------------
// Scenarios: the reference registry with random changes, a random request and a random instant.

#[derive(Debug, Clone)]
struct Scenario {
    registry: Registry,
    request: TransferRequest,
    at: OffsetDateTime,
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        6 => Just(Status::Approved),
        1 => Just(Status::Suspended),
        1 => Just(Status::Revoked),
    ]
}

fn class() -> impl Strategy<Value = DataClass> {
    prop_oneof![
        Just(DataClass::NonPersonal),
        Just(DataClass::Personal),
        Just(DataClass::SensitivePersonal),
        Just(DataClass::HumanGenetic),
        Just(DataClass::Important),
    ]
}

fn route() -> impl Strategy<Value = Route> {
    prop_oneof![
        Just(Route::GbaSc),
        Just(Route::NationalSc),
        Just(Route::Certification),
        Just(Route::SecurityAssessment),
    ]
}

fn filing_status() -> impl Strategy<Value = FilingStatus> {
    prop_oneof![
        6 => Just(FilingStatus::Effective),
        1 => Just(FilingStatus::Suspended),
        1 => Just(FilingStatus::Terminated),
    ]
}

/// Days from 2025-12-01 to 2028-01-31, and a second of that day (UTC).
fn instant_strategy() -> impl Strategy<Value = OffsetDateTime> {
    (0i64..792, 0i64..86_400).prop_map(|(days, secs)| {
        instant("2025-12-01T00:00:00Z") + Duration::days(days) + Duration::seconds(secs)
    })
}

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..200_000,
        1 => 990_000u64..1_010_000,
        1 => 9_000u64..11_000,
        1 => Just(u64::MAX),
    ]
}

prop_compose! {
    fn registry_strategy()(
        sender_status in status(),
        recipient_status in status(),
        item_status in status(),
        pi_class in class(),
        np_class in class(),
        hgr in any::<bool>(),
        hgr_approved in any::<bool>(),
        recipient_filed in select(vec![None, Some("2026-03-12"), Some("2026-03-17")]),
        consent_based in any::<bool>(),
        route in route(),
        filing_status in filing_status(),
        filed_on in select(vec![None, Some("2026-03-10"), Some("2026-03-16"), Some("2026-03-17"), Some("2026-06-01")]),
        pia in select(vec![None, Some("2026-02-20"), Some("2026-03-02"), Some("2026-03-03")]),
        covers_sensitive in any::<bool>(),
        separate_consent in any::<bool>(),
        ciio in any::<bool>(),
        sender_until in select(vec!["2026-06-30", "2027-12-31"]),
    ) -> Registry {
        let mut r = reference();
        r.sender().status = sender_status;
        r.recipient().status = recipient_status;
        r.pi_item().status = item_status;
        r.pi_item().data_class = pi_class;
        r.np_item().data_class = np_class;
        r.pi_item().hgr = hgr || pi_class == DataClass::HumanGenetic;
        r.np_item().hgr = hgr;
        if hgr_approved {
            approve_hgr(&mut r, &[PI_ITEM, NP_ITEM]);
        }
        if !consent_based {
            r.pi_item().legal_basis = Some(loopgate_policy::LegalBasis::Contract);
        }
        r.np_item().categories = r.pi_item().categories.clone();
        r.np_item().purposes.insert(PI_PURPOSE.to_owned());
        let f = r.demo_filing();
        f.route = route;
        f.status = filing_status;
        r.filed(loopgate_policy::Party::Processor, filed_on);
        r.filed(loopgate_policy::Party::Recipient, recipient_filed);
        let f = r.demo_filing();
        f.pia_completed_on = pia.map(date);
        f.covers_sensitive = covers_sensitive;
        f.separate_consent = separate_consent;
        r.sender().ciio = ciio;
        r.sender().valid_until = date(sender_until);
        r
    }
}

prop_compose! {
    fn request_strategy()(
        sender in select(vec![SENDER, SENDER, SENDER, RECIPIENT, "nobody"]),
        recipient in select(vec![RECIPIENT, RECIPIENT, RECIPIENT, SENDER, "nobody"]),
        item in select(vec![PI_ITEM, PI_ITEM, NP_ITEM, "INV-NONE"]),
        purpose in select(vec![PI_PURPOSE, PI_PURPOSE, NP_PURPOSE, "marketing"]),
        filing in select(vec![Some(FILING), Some(FILING), Some(FILING), None, Some("NOPE")]),
        subjects in prop::option::weighted(0.9, 0u64..20_000),
        size in prop::option::weighted(0.8, prop_oneof![0u64..1_000_000, Just(104_857_601u64), Just(u64::MAX)]),
        ytd in (counter(), counter()),
    ) -> TransferRequest {
        pi()
            .sender(sender)
            .recipient(recipient)
            .item(item)
            .purpose(purpose)
            .filing(filing)
            .subjects(subjects)
            .size(size)
            .ytd(ytd.0, ytd.1)
    }
}

prop_compose! {
    fn scenario()(registry in registry_strategy(), request in request_strategy(), at in instant_strategy()) -> Scenario {
        Scenario { registry, request, at }
    }
}

impl Scenario {
    fn decide(&self) -> Decision {
        evaluate(&self.registry, &self.request, self.at)
    }
}

/// A deny that stays a deny, or an allow that becomes a deny at rule `rule` or earlier.
#[track_caller]
fn assert_worse(before: &Decision, after: &Decision, rule: u8, what: &str) {
    assert_eq!(
        after.verdict,
        Verdict::Deny,
        "{what}: {before:?} became {after:?}"
    );
    let got = after.rule.unwrap();
    assert!(
        got <= rule,
        "{what}: denied at rule {got}, expected rule {rule} or earlier"
    );
    if before.verdict == Verdict::Deny {
        // The earlier failure, if earlier than this condition, still decides.
        let was = before.rule.unwrap();
        if was < rule {
            assert_eq!(after.reason, before.reason, "{what}");
        }
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn evaluation_is_deterministic(s in scenario(), second in 0i64..86_400) {
        let first = s.decide();
        prop_assert_eq!(&first, &evaluate(&s.registry.clone(), &s.request.clone(), s.at));
        prop_assert_eq!(&first, &s.decide());
        // Only the calendar day in UTC+8 matters: any other second of that park day agrees.
        let park = s.at.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap());
        let midnight = park.replace_time(time::Time::MIDNIGHT);
        let same_day = midnight + Duration::seconds(second);
        prop_assert_eq!(&first, &evaluate(&s.registry, &s.request, same_day));
        // The decision is self-consistent.
        prop_assert_eq!(first.is_allowed(), first.reason.is_none());
        prop_assert_eq!(first.rule, first.reason.and_then(|c| c.rule()));
        if first.is_allowed() {
            prop_assert!(first.data_class.is_some());
        }
    }

    /// Any instant time can represent, in any offset, gives a decision (see the regression
    /// test `park_date_at_the_ends_of_the_date_range` in calendar.rs).
    #[test]
    fn evaluation_decides_at_any_instant(
        s in scenario(),
        unix in time::OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp()
            ..=time::OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp(),
        offset_seconds in -86_399i32..=86_399,
    ) {
        let Ok(utc) = OffsetDateTime::from_unix_timestamp(unix) else { return Ok(()) };
        let offset = time::UtcOffset::from_whole_seconds(offset_seconds).unwrap();
        let Some(at) = utc.checked_to_offset(offset) else { return Ok(()) };
        let decision = evaluate(&s.registry, &s.request, at);
        prop_assert_eq!(decision.is_allowed(), decision.reason.is_none());
    }

    #[test]
    fn suspending_or_revoking_the_sender_denies_at_rule_1(s in scenario(), revoke in any::<bool>()) {
        let before = s.decide();
        let mut worse = s.clone();
        if let Some(t) = worse.registry.tenants.get_mut(&s.request.sender) {
            t.status = if revoke { Status::Revoked } else { Status::Suspended };
        }
        assert_worse(&before, &worse.decide(), 1, "sender suspended");
    }

    #[test]
    fn moving_at_outside_the_sender_window_denies_at_rule_1(s in scenario(), after in any::<bool>(), days in 1i64..400) {
        let Some(sender) = s.registry.tenants.get(&s.request.sender) else {
            return Ok(());
        };
        let day = if after {
            sender.valid_until + Duration::days(days)
        } else {
            sender.valid_from - Duration::days(days)
        };
        let mut worse = s.clone();
        worse.at = day.with_hms(12, 0, 0).unwrap().assume_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap());
        let decided = worse.decide();
        prop_assert_eq!(decided.verdict, Verdict::Deny);
        prop_assert_eq!(decided.rule, Some(1));
    }

    #[test]
    fn suspending_the_recipient_denies_by_rule_3(s in scenario()) {
        // (A request naming the sender as its own recipient would suspend the sender too.)
        prop_assume!(s.request.recipient != s.request.sender);
        let before = s.decide();
        let mut worse = s.clone();
        if let Some(t) = worse.registry.tenants.get_mut(&s.request.recipient) {
            t.status = Status::Suspended;
        }
        assert_worse(&before, &worse.decide(), 3, "recipient suspended");
    }

    #[test]
    fn removing_the_purpose_from_the_item_denies_by_rule_6(s in scenario()) {
        let before = s.decide();
        let mut worse = s.clone();
        if let Some(item) = worse.registry.items.get_mut(&s.request.item) {
            item.purposes.remove(&s.request.purpose);
        }
        assert_worse(&before, &worse.decide(), 6, "purpose removed");
    }

    #[test]
    fn shrinking_the_item_size_limit_below_the_declared_size_denies_by_rule_10(s in scenario()) {
        let before = s.decide();
        let Some(size) = s.request.declared_size.filter(|size| *size > 0) else {
            return Ok(());
        };
        let mut worse = s.clone();
        if let Some(item) = worse.registry.items.get_mut(&s.request.item) {
            item.max_transfer_bytes = size - 1;
        }
        assert_worse(&before, &worse.decide(), 10, "size limit");
    }

    #[test]
    fn terminating_the_filing_never_helps(s in scenario(), suspend in any::<bool>()) {
        let before = s.decide();
        let mut worse = s.clone();
        for filing in worse.registry.filings.values_mut() {
            filing.status = if suspend { FilingStatus::Suspended } else { FilingStatus::Terminated };
        }
        let after = worse.decide();
        let personal = s.registry.items.get(&s.request.item).is_some_and(|i| i.data_class.is_personal());
        if personal {
            assert_worse(&before, &after, 13, "filing terminated");
        } else {
            // Non-personal data does not use a filing: the decision is unchanged.
            prop_assert_eq!(before, after);
        }
    }

    #[test]
    fn unfiling_an_overdue_contract_never_helps(s in scenario()) {
        let before = s.decide();
        let mut worse = s.clone();
        for filing in worse.registry.filings.values_mut() {
            for entry in &mut filing.filings {
                entry.filed_on = None;
            }
        }
        let after = worse.decide();
        if before.verdict == Verdict::Deny {
            prop_assert_eq!(after.verdict, Verdict::Deny);
        }
        // Never filed and long past due.
        let mut overdue = worse.clone();
        overdue.at = instant("2026-06-01T04:00:00Z");
        let decided = overdue.decide();
        let personal = s.registry.items.get(&s.request.item).is_some_and(|i| i.data_class.is_personal());
        // Certification and security assessments need no filing (`filing_parties`).
        let needs_filing = matches!(s.registry.filings[FILING].route, Route::GbaSc | Route::NationalSc);
        if personal && needs_filing && decided.verdict == Verdict::Allow {
            prop_assert!(false, "an overdue, unfiled contract allowed: {decided:?}");
        }
    }

    #[test]
    fn more_volume_never_helps(s in scenario(), extra in (0u64..2_000_000, 0u64..20_000)) {
        let before = s.decide();
        let mut worse = s.clone();
        worse.request.volume.subjects = worse.request.volume.subjects.saturating_add(extra.0);
        worse.request.volume.sensitive_subjects = worse.request.volume.sensitive_subjects.saturating_add(extra.1);
        let after = worse.decide();
        if before.verdict == Verdict::Deny {
            prop_assert_eq!(after.verdict, Verdict::Deny);
            prop_assert_eq!(after.reason, before.reason);
        } else if after.verdict == Verdict::Deny {
            prop_assert_eq!(after.rule, Some(19));
        }
    }

    #[test]
    fn a_ciio_sender_on_a_contract_route_never_gets_personal_data_through(s in scenario()) {
        let mut worse = s.clone();
        worse.registry.sender().ciio = true;
        let before = s.decide();
        let after = worse.decide();
        let route = s.registry.filings[FILING].route;
        if before.verdict == Verdict::Deny {
            prop_assert_eq!(after.verdict, Verdict::Deny);
        } else if s.request.sender == SENDER
            && s.registry.items.get(&s.request.item).is_some_and(|i| i.data_class.is_personal())
            && route != Route::SecurityAssessment
        {
            prop_assert_eq!(after.reason, Some(loopgate_policy::ReasonCode::ContractCiioRequiresAssessment));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated bundles with random references, some dangling.

const TENANT_POOL: &[&str] = &["t0", "t1", "t2", "t3", "t4"];

fn tenant_toml(id: &str, mainland: bool) -> String {
    let (side, city, park) = if mainland {
        ("mainland", "shenzhen", "shenzhen_park")
    } else {
        ("hong_kong", "hong_kong", "hk_park")
    };
    format!(
        "[[tenant]]\nid = \"{id}\"\nlegal_name = \"{id} Ltd\"\nside = \"{side}\"\ncity = \"{city}\"\npark = \"{park}\"\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n"
    )
}

fn item_toml(id: usize, owner: &str, recipients: &[&str]) -> String {
    let recipients: Vec<String> = recipients.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "[[inventory_item]]\nid = \"I{id}\"\nowner = \"{owner}\"\nrecipients = [{}]\ndata_class = \"personal\"\ncategories = [\"imaging\"]\npurposes = [\"research\"]\nmax_transfer_bytes = 1000\nretention_days = 30\nstatus = \"approved\"\nvalid_from = 2026-01-01\nvalid_until = 2027-12-31\n\n",
        recipients.join(", ")
    )
}

fn filing_toml(id: usize, processor: &str, recipient: &str) -> String {
    format!(
        "[[contract_filing]]\nreference = \"F{id}\"\nroute = \"gba_sc\"\nprocessor = \"{processor}\"\nrecipient = \"{recipient}\"\neffective_on = 2026-03-02\ncategories = [\"imaging\"]\npurposes = [\"research\"]\nstatus = \"effective\"\n\n"
    )
}

prop_compose! {
    fn generated_bundle()(
        defined in prop::collection::btree_set(select(TENANT_POOL.to_vec()), 0..=5),
        items in prop::collection::vec((select(TENANT_POOL.to_vec()), prop::collection::vec(select(TENANT_POOL.to_vec()), 0..3)), 0..4),
        filings in prop::collection::vec((select(TENANT_POOL.to_vec()), select(TENANT_POOL.to_vec())), 0..4),
        order in any::<bool>(),
    ) -> (String, Vec<&'static str>, bool) {
        let mut text = String::from("[catalogue]\ncategories = [\"imaging\"]\n\n");
        let tenants: String = defined.iter().enumerate().map(|(i, id)| tenant_toml(id, i % 2 == 0)).collect();
        let mut rest = String::new();
        let mut dangling = false;
        for (i, (owner, recipients)) in items.iter().enumerate() {
            dangling |= !defined.contains(owner) || recipients.iter().any(|r| !defined.contains(r));
            rest.push_str(&item_toml(i, owner, recipients));
        }
        for (i, (processor, recipient)) in filings.iter().enumerate() {
            dangling |= !defined.contains(processor) || !defined.contains(recipient);
            rest.push_str(&filing_toml(i, processor, recipient));
        }
        // Tenants may come before or after what refers to them.
        if order {
            text.push_str(&tenants);
            text.push_str(&rest);
        } else {
            text.push_str(&rest);
            text.push_str(&tenants);
        }
        (text, defined.into_iter().collect(), dangling)
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_valid_bundle_references_only_tenants_it_defines((text, defined, dangling) in generated_bundle()) {
        match parse_bundle(&text) {
            Ok(bundle) => {
                prop_assert!(!dangling, "a dangling reference validated:\n{text}");
                let r = &bundle.registry;
                prop_assert_eq!(r.tenants.keys().map(String::as_str).collect::<Vec<_>>(), defined);
                for item in r.items.values() {
                    prop_assert!(r.tenants.contains_key(&item.owner));
                    for recipient in &item.recipients {
                        prop_assert!(r.tenants.contains_key(recipient));
                    }
                }
                for filing in r.filings.values() {
                    prop_assert!(r.tenants.contains_key(&filing.processor));
                    prop_assert!(r.tenants.contains_key(&filing.recipient));
                }
                prop_assert!(bundle.warnings.iter().all(|w| w.severity == Severity::Warning));
            }
            Err(PolicyError::InvalidBundle { problems }) => {
                prop_assert!(dangling, "refused without a dangling reference: {problems:#?}\n{text}");
                // Every error is a dangling reference, and each one points at its id.
                for p in problems.iter().filter(|p| p.severity == Severity::Error) {
                    prop_assert!(p.message.contains("names no [[tenant]]"), "{}", p);
                    let line = text.lines().nth(p.line - 1).unwrap();
                    let rest: String = line.chars().skip(p.column - 1).collect();
                    prop_assert!(rest.starts_with("\"t"), "{} points at {:?}", p, rest);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parser never panics.

/// Parses and checks the shape of the answer: errors are sorted, positions are inside the text.
fn parse_checked(text: &str) {
    let lines = text.split('\n').count();
    match parse_bundle(text) {
        Ok(bundle) => {
            assert!(
                bundle
                    .warnings
                    .iter()
                    .all(|w| w.severity == Severity::Warning)
            );
        }
        Err(PolicyError::InvalidBundle { problems }) => {
            assert!(
                problems.iter().any(|p| p.severity == Severity::Error),
                "refused without an error: {problems:?}"
            );
            for p in &problems {
                assert!(p.line >= 1 && p.line <= lines, "{p} outside {lines} lines");
                assert!(p.column >= 1, "{p}");
                assert!(!p.message.is_empty());
            }
            let positions: Vec<_> = problems.iter().map(|p| (p.line, p.column)).collect();
            let mut sorted = positions.clone();
            sorted.sort();
            assert_eq!(positions, sorted, "problems are not in source order");
        }
    }
}

#[test]
fn every_prefix_of_the_reference_parses_without_panic() {
    for (at, _) in REFERENCE.char_indices() {
        parse_checked(&REFERENCE[..at]);
    }
    parse_checked(REFERENCE);
}

#[test]
fn every_line_dropped_from_the_reference_parses_without_panic() {
    let lines: Vec<&str> = REFERENCE.lines().collect();
    for skip in 0..lines.len() {
        let text: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        parse_checked(&text);
    }
}

#[test]
fn a_9_mib_input_is_refused_naming_the_limit() {
    let text = "#".repeat(9 * 1024 * 1024);
    let Err(PolicyError::InvalidBundle { problems }) = parse_bundle(&text) else {
        panic!("a 9 MiB bundle was accepted");
    };
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains(&MAX_BUNDLE_BYTES.to_string()),
        "{}",
        problems[0]
    );
    assert!(problems[0].message.contains("limit"), "{}", problems[0]);
}

/// Regression guard: nesting 10,000 deep must be a located error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let keys = vec!["a"; depth].join(".");
    let inputs = [
        format!("a = {}", "[".repeat(depth)),
        format!("a = {}1{}", "[".repeat(depth), "]".repeat(depth)),
        format!("a = {}1{}", "{b=".repeat(depth), "}".repeat(depth)),
        format!("a = {}", "[{b=".repeat(depth)),
        format!("{keys} = 1\n"),
        format!("[{keys}]\n"),
        format!("[[{keys}]]\n"),
        format!("[[tenant]]\n{keys} = 1\n"),
    ];
    for text in &inputs {
        let result = parse_bundle(text);
        assert!(result.is_err(), "{}…", &text[..20]);
        parse_checked(text);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        parse_checked(&text);
    }

    #[test]
    fn toml_looking_strings_never_panic(text in "([a-z_\\[\\]{}=\",.0-9 #\n-]|tenant|inventory_item|contract_filing|2026-03-02|true){0,200}") {
        parse_checked(&text);
    }

    #[test]
    fn flipped_bytes_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = REFERENCE.as_bytes().to_vec();
        for (at, byte) in flips {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        parse_checked(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn shuffled_reference_lines_never_panic(picks in prop::collection::vec(any::<prop::sample::Index>(), 0..120)) {
        let lines: Vec<&str> = REFERENCE.lines().collect();
        let text: String = picks.iter().map(|i| format!("{}\n", lines[i.index(lines.len())])).collect();
        parse_checked(&text);
    }
}
