//! Shared helpers for the policy integration tests: the reference bundle, a registry builder,
//! request builders, instants in UTC+8, and the table runner every `rules_*.rs` file uses.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;

use loopgate_policy::{
    Carrier, ContractFiling, DataClass, Decision, Diagnostic, FilingEntry, Flag, HgrApproval,
    InventoryItem, Party, PolicyError, ReasonCode, Registry, SampleItem, Severity, ShipmentRequest,
    Tenant, TransferRequest, ValidBundle, Verdict, VolumeCounters, evaluate, parse_bundle,
};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A copy of the reference bundle of the rules' second version, `examples/policy-v2.toml` (kept
/// in the crate so the tests do not depend on the layout around the repository; the e2e suite
/// checks it is the same file).
pub const REFERENCE: &str = include_str!("../fixtures/policy.toml");

/// The first version's reference bundle, `examples/policy.toml` as it was: refused by
/// `parse_bundle`, rewritten by `migrate`.
pub const FIRST_VERSION: &str = include_str!("../fixtures/policy-v1.toml");

/// The reference bundle's ids.
pub const SENDER: &str = "sz-genomics";
pub const RECIPIENT: &str = "hk-biolab";
pub const NP_ITEM: &str = "INV-NP-001";
pub const PI_ITEM: &str = "INV-PI-001";
pub const FILING: &str = "GBA-SC-DEMO-001";
pub const NP_PURPOSE: &str = "research.instrument_qc";
pub const PI_PURPOSE: &str = "research.cohort_study";
pub const SAMPLE: &str = "SMP-BLOOD-001";
pub const EXPORT_APPROVAL: &str = "HGR-EX-2026-007";
pub const CARRIER: &str = "hkp-logistics";
/// The sample item's purpose (the same code as the personal item's).
pub const SAMPLE_PURPOSE: &str = "research.cohort_study";
/// The sample item's `storage_facility`.
pub const FACILITY: &str = "HKP-BIOBANK-1";

/// The reference bundle, parsed (it must validate).
pub fn reference() -> Registry {
    match parse_bundle(REFERENCE) {
        Ok(valid) => valid.registry,
        Err(PolicyError::InvalidBundle { problems }) => {
            panic!("the reference bundle must validate: {problems:#?}")
        }
    }
}

/// A date written `YYYY-MM-DD`.
pub fn date(text: &str) -> Date {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, format).unwrap_or_else(|e| panic!("bad test date {text:?}: {e}"))
}

/// Noon (UTC+8) of a park calendar day: far from midnight, so the day is unambiguous.
pub fn day(text: &str) -> OffsetDateTime {
    PrimitiveDateTime::new(date(text), Time::from_hms(12, 0, 0).unwrap())
        .assume_offset(UtcOffset::from_hms(8, 0, 0).unwrap())
}

/// An RFC 3339 instant, e.g. `2026-03-16T15:59:59Z`.
pub fn instant(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("bad test instant {text:?}: {e}"))
}

/// Edits of the reference registry, by id, so table rows say only what they change.
pub trait RegistryExt {
    fn tenant(&mut self, id: &str) -> &mut Tenant;
    fn item(&mut self, id: &str) -> &mut InventoryItem;
    fn filing(&mut self, reference: &str) -> &mut ContractFiling;
    fn approval(&mut self, reference: &str) -> &mut HgrApproval;
    fn sample_item(&mut self, id: &str) -> &mut SampleItem;
    fn carrier(&mut self, id: &str) -> &mut Carrier;
    /// The reference sample item, `SMP-BLOOD-001`.
    fn blood(&mut self) -> &mut SampleItem {
        self.sample_item(SAMPLE)
    }
    /// The reference bundle's export approval of the blood samples.
    fn export_approval(&mut self) -> &mut HgrApproval {
        self.approval(EXPORT_APPROVAL)
    }
    /// The demo filing's entry for `party` (added, unfiled, when missing).
    fn entry(&mut self, party: Party) -> &mut FilingEntry;
    /// Sets when `party` filed the demo contract (`None`: not filed).
    fn filed(&mut self, party: Party, on: Option<&str>) {
        self.entry(party).filed_on = on.map(date);
    }
    fn sender(&mut self) -> &mut Tenant {
        self.tenant(SENDER)
    }
    fn recipient(&mut self) -> &mut Tenant {
        self.tenant(RECIPIENT)
    }
    fn pi_item(&mut self) -> &mut InventoryItem {
        self.item(PI_ITEM)
    }
    fn np_item(&mut self) -> &mut InventoryItem {
        self.item(NP_ITEM)
    }
    fn demo_filing(&mut self) -> &mut ContractFiling {
        self.filing(FILING)
    }
    /// Adds a copy of tenant `from` under a new id and returns it for editing.
    fn clone_tenant(&mut self, from: &str, id: &str) -> &mut Tenant;
    /// Adds a copy of item `from` under a new id and returns it for editing.
    fn clone_item(&mut self, from: &str, id: &str) -> &mut InventoryItem;
    /// Adds a copy of filing `from` under a new reference and returns it for editing.
    fn clone_filing(&mut self, from: &str, reference: &str) -> &mut ContractFiling;
}

impl RegistryExt for Registry {
    fn tenant(&mut self, id: &str) -> &mut Tenant {
        self.tenants
            .get_mut(id)
            .unwrap_or_else(|| panic!("no tenant {id}"))
    }
    fn item(&mut self, id: &str) -> &mut InventoryItem {
        self.items
            .get_mut(id)
            .unwrap_or_else(|| panic!("no item {id}"))
    }
    fn filing(&mut self, reference: &str) -> &mut ContractFiling {
        self.filings
            .get_mut(reference)
            .unwrap_or_else(|| panic!("no filing {reference}"))
    }
    fn clone_tenant(&mut self, from: &str, id: &str) -> &mut Tenant {
        let mut tenant = self.tenant(from).clone();
        tenant.id = id.to_owned();
        self.tenants.insert(id.to_owned(), tenant);
        self.tenant(id)
    }
    fn clone_item(&mut self, from: &str, id: &str) -> &mut InventoryItem {
        let mut item = self.item(from).clone();
        item.id = id.to_owned();
        self.items.insert(id.to_owned(), item);
        self.item(id)
    }
    fn approval(&mut self, reference: &str) -> &mut HgrApproval {
        self.hgr_approvals
            .get_mut(reference)
            .unwrap_or_else(|| panic!("no approval {reference}"))
    }
    fn sample_item(&mut self, id: &str) -> &mut SampleItem {
        self.sample_items
            .get_mut(id)
            .unwrap_or_else(|| panic!("no sample item {id}"))
    }
    fn carrier(&mut self, id: &str) -> &mut Carrier {
        self.carriers
            .get_mut(id)
            .unwrap_or_else(|| panic!("no carrier {id}"))
    }
    fn entry(&mut self, party: Party) -> &mut FilingEntry {
        let filing = self.demo_filing();
        let authority = match party {
            Party::Processor => loopgate_policy::Authority::GuangdongCac,
            Party::Recipient => loopgate_policy::Authority::Dpo,
        };
        if filing.entry(party).is_none() {
            filing.filings.push(FilingEntry {
                party,
                authority,
                filed_on: None,
                number: None,
            });
        }
        filing
            .filings
            .iter_mut()
            .find(|e| e.party == party)
            .unwrap()
    }
    fn clone_filing(&mut self, from: &str, reference: &str) -> &mut ContractFiling {
        let mut filing = self.filing(from).clone();
        filing.reference = reference.to_owned();
        self.filings.insert(reference.to_owned(), filing);
        self.filing(reference)
    }
}

/// An HGR information filing (`HGR-F-1`) and backup (`HGR-B-1`) held by the sender, in force
/// through 2027, covering and listed on each of `items`.
pub fn approve_hgr(r: &mut Registry, items: &[&str]) {
    for (reference, kind) in [
        ("HGR-F-1", loopgate_policy::HgrKind::InformationFiling),
        ("HGR-B-1", loopgate_policy::HgrKind::InformationBackup),
    ] {
        r.hgr_approvals.insert(
            reference.to_owned(),
            HgrApproval {
                reference: reference.to_owned(),
                kind,
                authority: loopgate_policy::HgrAuthority::Nhc,
                holder: SENDER.to_owned(),
                covers: set(items),
                valid_from: date("2026-01-01"),
                valid_until: date("2027-12-31"),
                status: loopgate_policy::ApprovalStatus::Effective,
            },
        );
        for item in items {
            r.item(item).hgr_approvals.insert(reference.to_owned());
        }
    }
}

/// A set of strings.
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The non-personal reference transfer (rules 1-10 only).
pub fn np() -> TransferRequest {
    TransferRequest {
        sender: SENDER.to_owned(),
        recipient: RECIPIENT.to_owned(),
        item: NP_ITEM.to_owned(),
        purpose: NP_PURPOSE.to_owned(),
        filing: None,
        data_subjects: None,
        declared_size: Some(1024),
        volume: VolumeCounters::default(),
    }
}

/// The personal reference transfer under `GBA-SC-DEMO-001`, 100 data subjects.
pub fn pi() -> TransferRequest {
    TransferRequest {
        sender: SENDER.to_owned(),
        recipient: RECIPIENT.to_owned(),
        item: PI_ITEM.to_owned(),
        purpose: PI_PURPOSE.to_owned(),
        filing: Some(FILING.to_owned()),
        data_subjects: Some(100),
        declared_size: Some(1024),
        volume: VolumeCounters::default(),
    }
}

/// The reference shipment: 10 tubes of `SMP-BLOOD-001` from the sender to the recipient for the
/// item's purpose, by `hkp-logistics`.
pub fn shipment() -> ShipmentRequest {
    ShipmentRequest {
        sender: SENDER.to_owned(),
        recipient: RECIPIENT.to_owned(),
        sample_item: SAMPLE.to_owned(),
        quantity: 10,
        purpose: SAMPLE_PURPOSE.to_owned(),
        carrier: CARRIER.to_owned(),
    }
}

/// Chainable edits of a request.
pub trait RequestExt: Sized {
    fn sender(self, id: &str) -> Self;
    fn recipient(self, id: &str) -> Self;
    fn item(self, id: &str) -> Self;
    fn purpose(self, purpose: &str) -> Self;
    fn filing(self, reference: Option<&str>) -> Self;
    fn subjects(self, subjects: Option<u64>) -> Self;
    fn size(self, size: Option<u64>) -> Self;
    fn ytd(self, subjects: u64, sensitive_subjects: u64) -> Self;
}

impl RequestExt for TransferRequest {
    fn sender(mut self, id: &str) -> Self {
        id.clone_into(&mut self.sender);
        self
    }
    fn recipient(mut self, id: &str) -> Self {
        id.clone_into(&mut self.recipient);
        self
    }
    fn item(mut self, id: &str) -> Self {
        id.clone_into(&mut self.item);
        self
    }
    fn purpose(mut self, purpose: &str) -> Self {
        purpose.clone_into(&mut self.purpose);
        self
    }
    fn filing(mut self, reference: Option<&str>) -> Self {
        self.filing = reference.map(str::to_owned);
        self
    }
    fn subjects(mut self, subjects: Option<u64>) -> Self {
        self.data_subjects = subjects;
        self
    }
    fn size(mut self, size: Option<u64>) -> Self {
        self.declared_size = size;
        self
    }
    fn ytd(mut self, subjects: u64, sensitive_subjects: u64) -> Self {
        self.volume = VolumeCounters {
            subjects,
            sensitive_subjects,
        };
        self
    }
}

/// What a row expects: allowed with exactly these flags, or denied with this code (and so with
/// the code's rule number and no flags set by a later rule).
pub type Expect = Result<&'static [Flag], ReasonCode>;

/// Allowed, no flags.
pub const ALLOW: Expect = Ok(&[]);
/// Allowed with `filed_late:processor`.
pub const ALLOW_FILED_LATE: Expect = Ok(&[Flag::FiledLate(Party::Processor)]);
/// Allowed with `filed_late:recipient`.
pub const ALLOW_RECIPIENT_LATE: Expect = Ok(&[Flag::FiledLate(Party::Recipient)]);
/// Allowed with both parties late.
pub const ALLOW_BOTH_LATE: Expect = Ok(&[
    Flag::FiledLate(Party::Processor),
    Flag::FiledLate(Party::Recipient),
]);

/// The rule a decision denied with `code` records: the code's own, except rule 11's
/// `request.malformed_header` (zero data subjects), a code of no fixed rule.
pub fn rule_of(code: ReasonCode) -> Option<u8> {
    code.rule()
        .or((code == ReasonCode::RequestMalformedHeader).then_some(11))
}

/// One table row: a registry tweak of the reference bundle, a request, an instant, the outcome.
pub struct Case {
    pub name: &'static str,
    pub tweak: fn(&mut Registry),
    pub request: TransferRequest,
    pub at: OffsetDateTime,
    pub expect: Expect,
}

/// No change to the reference registry.
pub fn same(_: &mut Registry) {}

impl Case {
    pub fn new(name: &'static str, request: TransferRequest, at: &str, expect: Expect) -> Self {
        Self {
            name,
            tweak: same,
            request,
            at: parse_at(at),
            expect,
        }
    }

    /// The same row with a registry tweak.
    pub fn tweak(mut self, tweak: fn(&mut Registry)) -> Self {
        self.tweak = tweak;
        self
    }

    /// Evaluates the row against the tweaked reference registry.
    pub fn decide(&self) -> Decision {
        let mut registry = reference();
        (self.tweak)(&mut registry);
        evaluate(&registry, &self.request, self.at)
    }
}

/// `YYYY-MM-DD` means noon of that day in UTC+8; anything longer is an RFC 3339 instant.
pub fn parse_at(text: &str) -> OffsetDateTime {
    if text.len() == 10 {
        day(text)
    } else {
        instant(text)
    }
}

/// Checks one decision against what a row expects: verdict, reason, rule and flags exactly.
pub fn check(name: &str, decision: &Decision, expect: Expect) {
    match expect {
        Ok(flags) => {
            assert_eq!(
                decision.verdict,
                Verdict::Allow,
                "{name}: expected allow, got {decision:?}"
            );
            assert_eq!(decision.reason, None, "{name}: an allow carries no reason");
            assert_eq!(decision.rule, None, "{name}: an allow carries no rule");
            assert_eq!(decision.flags, flags, "{name}: flags");
        }
        Err(code) => {
            assert_eq!(
                decision.verdict,
                Verdict::Deny,
                "{name}: expected deny {code}, got {decision:?}"
            );
            assert_eq!(decision.reason, Some(code), "{name}: reason code");
            assert_eq!(decision.rule, rule_of(code), "{name}: rule number");
            assert!(rule_of(code).is_some(), "{name}: {code} is not a rule code");
            assert!(decision.flags.is_empty(), "{name}: a deny carries no flags");
        }
    }
}

/// Runs every row, checks it, and returns the reason codes the rows produced (for coverage).
pub fn run_table(cases: &[Case]) -> Vec<ReasonCode> {
    let mut names = BTreeSet::new();
    let mut seen = Vec::new();
    for case in cases {
        assert!(names.insert(case.name), "duplicate row name {}", case.name);
        let decision = case.decide();
        check(case.name, &decision, case.expect);
        // The day every rule used is the instant's calendar day in UTC+8.
        assert_eq!(
            decision.evaluated_on,
            case.at
                .to_offset(UtcOffset::from_hms(8, 0, 0).unwrap())
                .date(),
            "{}: evaluated_on",
            case.name
        );
        // Deterministic: the same inputs give the same decision.
        assert_eq!(decision, case.decide(), "{}: not deterministic", case.name);
        if let Some(code) = decision.reason {
            seen.push(code);
        }
    }
    seen
}

/// The data class of an item, by id, in the reference registry.
pub fn class_of(registry: &Registry, item: &str) -> Option<DataClass> {
    registry.items.get(item).map(|i| i.data_class)
}

// ---------------------------------------------------------------------------------------------
// Bundle text: variants of the reference, its problems, and positions in it.

/// The reference bundle with the first `from` replaced by `to` (which must be there).
pub fn variant(from: &str, to: &str) -> String {
    assert!(REFERENCE.contains(from), "the reference has no {from:?}");
    REFERENCE.replacen(from, to, 1)
}

/// Every problem of a bundle that must be invalid.
pub fn problems(text: &str) -> Vec<Diagnostic> {
    match parse_bundle(text) {
        Ok(valid) => panic!("expected an invalid bundle, got {:?}", valid.warnings),
        Err(PolicyError::InvalidBundle { problems }) => problems,
    }
}

/// The errors (not the warnings) of a bundle that must be invalid.
pub fn errors_of(text: &str) -> Vec<Diagnostic> {
    problems(text)
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect()
}

/// A bundle that must be valid.
pub fn valid(text: &str) -> ValidBundle {
    match parse_bundle(text) {
        Ok(valid) => valid,
        Err(PolicyError::InvalidBundle { problems }) => {
            panic!("expected a valid bundle, got {problems:#?}")
        }
    }
}

/// 1-based line and column (in characters) of the `nth` (0-based) occurrence of `needle`.
pub fn pos_nth(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let (at, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times", nth + 1));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..at].chars().count() + 1)
}

/// 1-based line and column (in characters) of the first `needle`.
pub fn pos(text: &str, needle: &str) -> (usize, usize) {
    pos_nth(text, needle, 0)
}
