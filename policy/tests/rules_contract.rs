//! Rules 11-18: a personal-information transfer needs both headers and a filed, effective,
//! assessed GBA Standard Contract (or other route) between exactly these parties that covers it.
//!
//! The reference filing `GBA-SC-DEMO-001` takes effect on Monday 2026-03-02. Its due date is the
//! 10th Mainland working day strictly after that: 03-03 (1), 04, 05, 06, 09, 10, 11, 12, 13 (9),
//! Monday 03-16 (10). It was filed on 03-10, in time.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::*;
use loopgate_policy::{
    DataClass, FilingStatus, LegalBasis, Party, ReasonCode as R, Registry, Route, Side,
};

fn not_filed(r: &mut Registry) {
    r.filed(Party::Processor, None);
}

/// A contract effective on Friday 2026-09-25, just before the Mainland's National Day holiday.
///
/// Due date by hand, on `[calendar.mainland]` (weekend Saturday and Sunday; holidays 10-01,
/// 10-02, 10-05, 10-06, 10-07; make-up working days Sunday 09-27 and Saturday 10-10):
///   Sat 09-26 weekend; Sun 09-27 make-up (1); Mon 09-28 (2); Tue 09-29 (3); Wed 09-30 (4);
///   Thu 10-01 and Fri 10-02 holidays; Sat 10-03, Sun 10-04 weekend; Mon 10-05 to Wed 10-07
///   holidays; Thu 10-08 (5); Fri 10-09 (6); Sat 10-10 make-up (7); Sun 10-11 weekend;
///   Mon 10-12 (8); Tue 10-13 (9); Wed 10-14 (10). Due: 2026-10-14.
/// (On the Hong Kong calendar it would be Monday 10-12: the processor's side decides.)
fn golden_week(r: &mut Registry) {
    let f = r.demo_filing();
    f.effective_on = date("2026-09-25");
    f.pia_completed_on = Some(date("2026-09-01"));
    r.filed(Party::Processor, None);
}

/// A second Mainland GBA tenant, and a second Hong Kong Park tenant the item lists.
fn other_parties(r: &mut Registry) {
    r.clone_tenant(SENDER, "gz-labs").city = "guangzhou".to_owned();
    r.clone_tenant(RECIPIENT, "hk-other");
    r.pi_item().recipients.insert("hk-other".to_owned());
}

fn sensitive(r: &mut Registry) {
    r.pi_item().data_class = DataClass::SensitivePersonal;
}

fn covered(r: &mut Registry) {
    r.demo_filing().covers_sensitive = true;
}

fn no_consent(r: &mut Registry) {
    r.demo_filing().separate_consent = false;
}

fn ciio(r: &mut Registry) {
    r.sender().ciio = true;
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        // Rule 11.
        Case::new(
            "no filing header",
            pi().filing(None),
            "2026-04-15",
            Err(R::RequestMissingHeader),
        ),
        Case::new(
            "no subjects header",
            pi().subjects(None),
            "2026-04-15",
            Err(R::RequestMissingHeader),
        ),
        Case::new(
            "neither header",
            pi().filing(None).subjects(None),
            "2026-04-15",
            Err(R::RequestMissingHeader),
        ),
        Case::new(
            "zero subjects is malformed (rule 11)",
            pi().subjects(Some(0)),
            "2026-04-15",
            Err(R::RequestMalformedHeader),
        ),
        Case::new("one subject", pi().subjects(Some(1)), "2026-04-15", ALLOW),
        // Rule 12.
        Case::new(
            "filing unknown",
            pi().filing(Some("GBA-SC-NONE")),
            "2026-04-15",
            Err(R::ContractUnknown),
        ),
        Case::new(
            "filing of another processor",
            pi(),
            "2026-04-15",
            Err(R::ContractPartiesMismatch),
        )
        .tweak(|r| {
            other_parties(r);
            r.demo_filing().processor = "gz-labs".to_owned();
        }),
        Case::new(
            "filing for another recipient",
            pi().recipient("hk-other"),
            "2026-04-15",
            Err(R::ContractPartiesMismatch),
        )
        .tweak(other_parties),
        Case::new(
            "filing for the other recipient",
            pi().recipient("hk-other"),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            other_parties(r);
            r.demo_filing().recipient = "hk-other".to_owned();
        }),
        Case::new(
            "recipient outside the GBA",
            pi(),
            "2026-04-15",
            Err(R::ContractPartyOutsideGba),
        )
        .tweak(|r| r.recipient().city = "macao".to_owned()),
        Case::new(
            "hong kong removed from gba_cities",
            pi(),
            "2026-04-15",
            Err(R::ContractPartyOutsideGba),
        )
        .tweak(|r| {
            r.parameters.gba_cities.remove("hong_kong");
        }),
        Case::new(
            "both parties on the mainland side",
            pi(),
            "2026-04-15",
            Err(R::ContractPartyOutsideGba),
        )
        .tweak(|r| {
            r.recipient().side = Side::Mainland;
            r.recipient().city = "shenzhen".to_owned();
        }),
        // The GBA cities and sides are the GBA Standard Contract's conditions only.
        Case::new(
            "national_sc recipient outside the GBA",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            r.recipient().city = "macao".to_owned();
            r.demo_filing().route = Route::NationalSc;
        }),
        Case::new(
            "security assessment with both parties on the mainland side",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            r.recipient().side = Side::Mainland;
            r.recipient().city = "shenzhen".to_owned();
            r.demo_filing().route = Route::SecurityAssessment;
        }),
        // Rule 13: effective_on <= today.
        Case::new(
            "effective tomorrow",
            pi(),
            "2026-03-01",
            Err(R::ContractNotEffective),
        ),
        Case::new("effective today", pi(), "2026-03-02", ALLOW).tweak(|r| {
            r.filed(Party::Processor, Some("2026-03-02"));
        }),
        Case::new(
            "effective at 16:00Z the day before",
            pi(),
            "2026-03-01T16:00:00Z",
            ALLOW,
        )
        .tweak(not_filed),
        Case::new(
            "not effective at 15:59:59Z the day before",
            pi(),
            "2026-03-01T15:59:59Z",
            Err(R::ContractNotEffective),
        )
        .tweak(not_filed),
        Case::new(
            "filing terminated",
            pi(),
            "2026-04-15",
            Err(R::ContractTerminated),
        )
        .tweak(|r| r.demo_filing().status = FilingStatus::Terminated),
        Case::new(
            "filing suspended",
            pi(),
            "2026-04-15",
            Err(R::ContractSuspended),
        )
        .tweak(|r| r.demo_filing().status = FilingStatus::Suspended),
        // Reading of the code: a terminated/suspended status is reported before "not effective yet".
        Case::new(
            "terminated before it took effect",
            pi(),
            "2026-03-01",
            Err(R::ContractTerminated),
        )
        .tweak(|r| r.demo_filing().status = FilingStatus::Terminated),
        Case::new(
            "suspended before it took effect",
            pi(),
            "2026-03-01",
            Err(R::ContractSuspended),
        )
        .tweak(|r| r.demo_filing().status = FilingStatus::Suspended),
        // Rule 14: reference due date Monday 2026-03-16.
        Case::new(
            "not filed, today is the due date",
            pi(),
            "2026-03-16",
            ALLOW,
        )
        .tweak(not_filed),
        Case::new(
            "not filed, the day after due",
            pi(),
            "2026-03-17",
            Err(R::ContractFilingOverdue),
        )
        .tweak(not_filed),
        Case::new(
            "not filed, last second of the due date",
            pi(),
            "2026-03-16T15:59:59Z",
            ALLOW,
        )
        .tweak(not_filed),
        Case::new(
            "not filed, first second after the due date",
            pi(),
            "2026-03-16T16:00:00Z",
            Err(R::ContractFilingOverdue),
        )
        .tweak(not_filed),
        Case::new("filed on the due date", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.filed(Party::Processor, Some("2026-03-16"))),
        Case::new(
            "filed the day after the due date",
            pi(),
            "2026-04-15",
            ALLOW_FILED_LATE,
        )
        .tweak(|r| r.filed(Party::Processor, Some("2026-03-17"))),
        Case::new("filed before it took effect", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.filed(Party::Processor, Some("2026-02-25"))),
        Case::new(
            "filed late, evaluated on the filing day",
            pi(),
            "2026-03-17",
            ALLOW_FILED_LATE,
        )
        .tweak(|r| r.filed(Party::Processor, Some("2026-03-17"))),
        // A filed_on later than today counts as not filed yet.
        Case::new(
            "filed_on in the future, before due",
            pi(),
            "2026-03-16",
            ALLOW,
        )
        .tweak(|r| r.filed(Party::Processor, Some("2026-03-20"))),
        Case::new(
            "filed_on in the future, past due",
            pi(),
            "2026-03-18",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| r.filed(Party::Processor, Some("2026-03-20"))),
        Case::new(
            "filed_on reached, past due",
            pi(),
            "2026-03-20",
            ALLOW_FILED_LATE,
        )
        .tweak(|r| r.filed(Party::Processor, Some("2026-03-20"))),
        Case::new(
            "filing_working_days is a parameter",
            pi(),
            "2026-04-15",
            ALLOW_BOTH_LATE,
        )
        .tweak(|r| r.parameters.filing_working_days = 5),
        Case::new(
            "zero working days: due on effective_on",
            pi(),
            "2026-03-03",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            r.parameters.filing_working_days = 0;
            not_filed(r);
        }),
        Case::new(
            "mainland holiday moves the due date",
            pi(),
            "2026-03-17",
            ALLOW,
        )
        .tweak(|r| {
            not_filed(r);
            r.calendars.mainland.holidays.insert(date("2026-03-04"));
        }),
        Case::new(
            "hong kong holidays do not move a mainland processor's due date",
            pi(),
            "2026-03-17",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            not_filed(r);
            r.calendars.hong_kong.holidays.insert(date("2026-03-04"));
            r.calendars.hong_kong.holidays.insert(date("2026-03-05"));
        }),
        // Golden Week 2026: due Wednesday 2026-10-14 (see `golden_week`).
        Case::new(
            "golden week: not filed on the due date",
            pi(),
            "2026-10-14",
            ALLOW,
        )
        .tweak(golden_week),
        Case::new(
            "golden week: not filed the day after",
            pi(),
            "2026-10-15",
            Err(R::ContractFilingOverdue),
        )
        .tweak(golden_week),
        Case::new(
            "golden week: not filed on the hong kong due date",
            pi(),
            "2026-10-12",
            ALLOW,
        )
        .tweak(golden_week),
        Case::new(
            "golden week: not filed at 15:59:59Z on the due date",
            pi(),
            "2026-10-14T15:59:59Z",
            ALLOW,
        )
        .tweak(golden_week),
        Case::new(
            "golden week: not filed at 16:00Z on the due date",
            pi(),
            "2026-10-14T16:00:00Z",
            Err(R::ContractFilingOverdue),
        )
        .tweak(golden_week),
        Case::new(
            "golden week: filed on the due date",
            pi(),
            "2026-10-20",
            ALLOW,
        )
        .tweak(|r| {
            golden_week(r);
            r.filed(Party::Processor, Some("2026-10-14"));
        }),
        Case::new(
            "golden week: filed the day after",
            pi(),
            "2026-10-20",
            ALLOW_FILED_LATE,
        )
        .tweak(|r| {
            golden_week(r);
            r.filed(Party::Processor, Some("2026-10-15"));
        }),
        Case::new(
            "golden week: without the make-up days due is 10-16",
            pi(),
            "2026-10-16",
            ALLOW,
        )
        .tweak(|r| {
            golden_week(r);
            r.calendars.mainland.workdays.clear();
        }),
        Case::new(
            "golden week: without the make-up days, 10-17 is overdue",
            pi(),
            "2026-10-19",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            golden_week(r);
            r.calendars.mainland.workdays.clear();
        }),
        // Rule 14, per party: the recipient (Hong Kong) files with the DPO by its own calendar.
        // Reference: due Monday 2026-03-16 on the Hong Kong calendar too; it filed on 03-12.
        Case::new(
            "recipient not filed, today is its due date",
            pi(),
            "2026-03-16",
            ALLOW,
        )
        .tweak(|r| r.filed(Party::Recipient, None)),
        Case::new(
            "recipient not filed, the day after its due date",
            pi(),
            "2026-03-17",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| r.filed(Party::Recipient, None)),
        Case::new(
            "recipient filed the day after its due date",
            pi(),
            "2026-04-15",
            ALLOW_RECIPIENT_LATE,
        )
        .tweak(|r| r.filed(Party::Recipient, Some("2026-03-17"))),
        Case::new("recipient filed on its due date", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.filed(Party::Recipient, Some("2026-03-16"))),
        Case::new(
            "both parties filed late",
            pi(),
            "2026-04-15",
            ALLOW_BOTH_LATE,
        )
        .tweak(|r| {
            r.filed(Party::Processor, Some("2026-03-20"));
            r.filed(Party::Recipient, Some("2026-03-17"));
        }),
        Case::new(
            "recipient's entry missing counts as not filed",
            pi(),
            "2026-03-17",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            r.demo_filing()
                .filings
                .retain(|e| e.party == Party::Processor);
        }),
        Case::new(
            "a hong kong holiday moves the recipient's due date",
            pi(),
            "2026-03-17",
            ALLOW,
        )
        .tweak(|r| {
            r.filed(Party::Recipient, None);
            r.calendars.hong_kong.holidays.insert(date("2026-03-04"));
        }),
        Case::new(
            "a mainland holiday does not move the recipient's due date",
            pi(),
            "2026-03-17",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            r.filed(Party::Recipient, None);
            r.calendars.mainland.holidays.insert(date("2026-03-04"));
        }),
        // Golden Week 2026, effective Friday 09-25: the recipient's due date on the Hong Kong
        // calendar (09-26/27 weekend, 10-01 holiday, no make-up days) is Monday 10-12, the
        // processor's on the Mainland calendar Wednesday 10-14.
        Case::new(
            "golden week: recipient not filed on its due date",
            pi(),
            "2026-10-12",
            ALLOW,
        )
        .tweak(|r| {
            golden_week(r);
            r.filed(Party::Processor, Some("2026-09-28"));
            r.filed(Party::Recipient, None);
        }),
        Case::new(
            "golden week: recipient not filed the day after",
            pi(),
            "2026-10-13",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            golden_week(r);
            r.filed(Party::Processor, Some("2026-09-28"));
            r.filed(Party::Recipient, None);
        }),
        Case::new(
            "golden week: recipient filed on the mainland due date is late",
            pi(),
            "2026-10-20",
            ALLOW_RECIPIENT_LATE,
        )
        .tweak(|r| {
            golden_week(r);
            r.filed(Party::Processor, Some("2026-09-28"));
            r.filed(Party::Recipient, Some("2026-10-14"));
        }),
        // filing_parties decides who must file.
        Case::new(
            "national_sc needs no recipient filing",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            r.demo_filing().route = Route::NationalSc;
            r.filed(Party::Recipient, None);
        }),
        Case::new("certification needs no filing", pi(), "2026-04-15", ALLOW).tweak(|r| {
            r.demo_filing().route = Route::Certification;
            r.demo_filing().filings.clear();
        }),
        Case::new("filing_parties is a parameter", pi(), "2026-04-15", ALLOW).tweak(|r| {
            r.filed(Party::Recipient, None);
            r.parameters
                .filing_parties
                .get_mut(&Route::GbaSc)
                .unwrap()
                .retain(|p| p.party == Party::Processor);
        }),
        // Rule 15: PIA on or before today, and not before scope_changed_on when set. It is no
        // longer tied to effective_on.
        Case::new(
            "no impact assessment",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaMissing),
        )
        .tweak(|r| r.demo_filing().pia_completed_on = None),
        Case::new(
            "impact assessment after effective_on",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| r.demo_filing().pia_completed_on = Some(date("2026-03-03"))),
        Case::new("impact assessment today", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.demo_filing().pia_completed_on = Some(date("2026-04-15"))),
        Case::new(
            "impact assessment tomorrow",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaMissing),
        )
        .tweak(|r| r.demo_filing().pia_completed_on = Some(date("2026-04-16"))),
        Case::new(
            "impact assessment today, at 16:00Z the day before",
            pi(),
            "2026-04-14T16:00:00Z",
            ALLOW,
        )
        .tweak(|r| r.demo_filing().pia_completed_on = Some(date("2026-04-15"))),
        Case::new(
            "impact assessment tomorrow, at 15:59:59Z the day before",
            pi(),
            "2026-04-14T15:59:59Z",
            Err(R::ContractPiaMissing),
        )
        .tweak(|r| r.demo_filing().pia_completed_on = Some(date("2026-04-15"))),
        Case::new(
            "impact assessment on the day scope changed",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            r.demo_filing().scope_changed_on = Some(date("2026-04-01"));
            r.demo_filing().pia_completed_on = Some(date("2026-04-01"));
        }),
        Case::new(
            "impact assessment the day before scope changed",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaStale),
        )
        .tweak(|r| {
            r.demo_filing().scope_changed_on = Some(date("2026-04-01"));
            r.demo_filing().pia_completed_on = Some(date("2026-03-31"));
        }),
        // Reading: a scope change dated after today already makes an older assessment stale.
        Case::new(
            "scope change dated after today",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaStale),
        )
        .tweak(|r| r.demo_filing().scope_changed_on = Some(date("2026-05-01"))),
        Case::new(
            "order: pia missing before stale",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaMissing),
        )
        .tweak(|r| {
            r.demo_filing().scope_changed_on = Some(date("2026-04-01"));
            r.demo_filing().pia_completed_on = None;
        }),
        // Rule 16.
        Case::new(
            "item category outside the filing",
            pi(),
            "2026-04-15",
            Err(R::ContractScopeExceeded),
        )
        .tweak(|r| {
            r.pi_item().categories.insert("imaging".to_owned());
        }),
        Case::new(
            "filing covers no category",
            pi(),
            "2026-04-15",
            Err(R::ContractScopeExceeded),
        )
        .tweak(|r| r.demo_filing().categories.clear()),
        Case::new(
            "purpose on the item but not in the filing",
            pi().purpose("research.followup"),
            "2026-04-15",
            Err(R::ContractScopeExceeded),
        )
        .tweak(|r| {
            r.pi_item().purposes.insert("research.followup".to_owned());
        }),
        Case::new(
            "item method outside the filing",
            pi(),
            "2026-04-15",
            Err(R::ContractScopeExceeded),
        )
        .tweak(|r| {
            r.pi_item().methods.insert("model_training".to_owned());
        }),
        Case::new(
            "filing without methods, item with methods",
            pi(),
            "2026-04-15",
            Err(R::ContractScopeExceeded),
        )
        .tweak(|r| r.demo_filing().methods.clear()),
        Case::new("item without methods", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.pi_item().methods.clear()),
        Case::new("filing wider than the item", pi(), "2026-04-15", ALLOW).tweak(|r| {
            r.demo_filing().categories.insert("imaging".to_owned());
            r.demo_filing()
                .purposes
                .insert("research.followup".to_owned());
            r.demo_filing().methods.insert("model_training".to_owned());
        }),
        // Rule 17: consent-based items need separate consent; sensitive ones covers_sensitive.
        Case::new(
            "consent without separate consent",
            pi(),
            "2026-04-15",
            Err(R::ContractConsentMissing),
        )
        .tweak(no_consent),
        Case::new(
            "contract basis needs no separate consent",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            no_consent(r);
            r.pi_item().legal_basis = Some(LegalBasis::Contract);
        }),
        Case::new(
            "sensitive, not covered",
            pi(),
            "2026-04-15",
            Err(R::ContractSensitiveNotCovered),
        )
        .tweak(sensitive),
        Case::new("sensitive, covered and consent", pi(), "2026-04-15", ALLOW).tweak(|r| {
            sensitive(r);
            covered(r);
        }),
        Case::new(
            "sensitive, covered, no separate consent",
            pi(),
            "2026-04-15",
            Err(R::ContractConsentMissing),
        )
        .tweak(|r| {
            sensitive(r);
            covered(r);
            no_consent(r);
        }),
        Case::new(
            "sensitive on a statutory duty, covered, no separate consent",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            sensitive(r);
            covered(r);
            no_consent(r);
            r.pi_item().legal_basis = Some(LegalBasis::StatutoryDuty);
        }),
        Case::new(
            "sensitive on a statutory duty, not covered",
            pi(),
            "2026-04-15",
            Err(R::ContractSensitiveNotCovered),
        )
        .tweak(|r| {
            sensitive(r);
            r.pi_item().legal_basis = Some(LegalBasis::StatutoryDuty);
        }),
        Case::new(
            "human genetic is sensitive",
            pi(),
            "2026-04-15",
            Err(R::ContractSensitiveNotCovered),
        )
        .tweak(|r| {
            r.pi_item().data_class = DataClass::HumanGenetic;
            // Rule 9's approvals are rules_inventory.rs's subject.
            r.pi_item().hgr = false;
        }),
        Case::new(
            "order: consent before sensitive",
            pi(),
            "2026-04-15",
            Err(R::ContractConsentMissing),
        )
        .tweak(|r| {
            sensitive(r);
            no_consent(r);
        }),
        // Rule 17a (recorded as rule 17): valid_until, inclusive.
        Case::new("filing's last valid day", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.demo_filing().valid_until = Some(date("2026-04-15"))),
        Case::new(
            "the day after the filing's last valid day",
            pi(),
            "2026-04-16",
            Err(R::ContractExpired),
        )
        .tweak(|r| r.demo_filing().valid_until = Some(date("2026-04-15"))),
        Case::new(
            "filing valid until 15:59:59Z on its last day",
            pi(),
            "2026-04-15T15:59:59Z",
            ALLOW,
        )
        .tweak(|r| r.demo_filing().valid_until = Some(date("2026-04-15"))),
        Case::new(
            "filing expired at 16:00Z on its last day",
            pi(),
            "2026-04-15T16:00:00Z",
            Err(R::ContractExpired),
        )
        .tweak(|r| r.demo_filing().valid_until = Some(date("2026-04-15"))),
        Case::new(
            "order: sensitive before expired",
            pi(),
            "2026-04-16",
            Err(R::ContractSensitiveNotCovered),
        )
        .tweak(|r| {
            sensitive(r);
            r.demo_filing().valid_until = Some(date("2026-04-15"));
        }),
        Case::new(
            "order: expired before ciio",
            pi(),
            "2026-04-16",
            Err(R::ContractExpired),
        )
        .tweak(|r| {
            ciio(r);
            r.demo_filing().valid_until = Some(date("2026-04-15"));
        }),
        // Rule 18: a CIIO sender needs route security_assessment.
        Case::new(
            "ciio on gba_sc",
            pi(),
            "2026-04-15",
            Err(R::ContractCiioRequiresAssessment),
        )
        .tweak(ciio),
        Case::new(
            "ciio on national_sc",
            pi(),
            "2026-04-15",
            Err(R::ContractCiioRequiresAssessment),
        )
        .tweak(|r| {
            ciio(r);
            r.demo_filing().route = Route::NationalSc;
        }),
        Case::new(
            "ciio on certification",
            pi(),
            "2026-04-15",
            Err(R::ContractCiioRequiresAssessment),
        )
        .tweak(|r| {
            ciio(r);
            r.demo_filing().route = Route::Certification;
        }),
        Case::new("ciio on security_assessment", pi(), "2026-04-15", ALLOW).tweak(|r| {
            ciio(r);
            r.demo_filing().route = Route::SecurityAssessment;
        }),
        Case::new("ciio sending non-personal data", np(), "2026-04-15", ALLOW).tweak(ciio),
        Case::new("ciio recipient does not matter", pi(), "2026-04-15", ALLOW)
            .tweak(|r| r.recipient().ciio = true),
        // Order.
        Case::new(
            "order: missing header before unknown filing",
            pi().filing(Some("NOPE")).subjects(None),
            "2026-04-15",
            Err(R::RequestMissingHeader),
        ),
        Case::new(
            "order: unknown before anything about the filing",
            pi().filing(Some("NOPE")),
            "2026-04-15",
            Err(R::ContractUnknown),
        )
        .tweak(|r| r.recipient().city = "macao".to_owned()),
        Case::new(
            "order: parties mismatch before outside gba",
            pi().recipient("hk-other"),
            "2026-04-15",
            Err(R::ContractPartiesMismatch),
        )
        .tweak(|r| {
            other_parties(r);
            r.tenant("hk-other").city = "macao".to_owned();
        }),
        Case::new(
            "order: outside gba before terminated",
            pi(),
            "2026-04-15",
            Err(R::ContractPartyOutsideGba),
        )
        .tweak(|r| {
            r.recipient().city = "macao".to_owned();
            r.demo_filing().status = FilingStatus::Terminated;
        }),
        Case::new(
            "order: not effective before overdue and pia",
            pi(),
            "2026-03-01",
            Err(R::ContractNotEffective),
        )
        .tweak(|r| {
            not_filed(r);
            r.demo_filing().pia_completed_on = None;
        }),
        Case::new(
            "order: suspended before overdue",
            pi(),
            "2026-04-15",
            Err(R::ContractSuspended),
        )
        .tweak(|r| {
            not_filed(r);
            r.demo_filing().status = FilingStatus::Suspended;
        }),
        Case::new(
            "order: overdue before pia",
            pi(),
            "2026-04-15",
            Err(R::ContractFilingOverdue),
        )
        .tweak(|r| {
            not_filed(r);
            r.demo_filing().pia_completed_on = None;
        }),
        Case::new(
            "order: pia before scope",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaMissing),
        )
        .tweak(|r| {
            r.demo_filing().pia_completed_on = None;
            r.demo_filing().categories.clear();
        }),
        Case::new(
            "order: scope before sensitive",
            pi(),
            "2026-04-15",
            Err(R::ContractScopeExceeded),
        )
        .tweak(|r| {
            sensitive(r);
            r.demo_filing().categories.clear();
        }),
        Case::new(
            "order: sensitive before ciio",
            pi(),
            "2026-04-15",
            Err(R::ContractSensitiveNotCovered),
        )
        .tweak(|r| {
            sensitive(r);
            ciio(r);
        }),
        Case::new(
            "order: ciio before volume",
            pi().ytd(u64::MAX, u64::MAX),
            "2026-04-15",
            Err(R::ContractCiioRequiresAssessment),
        )
        .tweak(|r| {
            ciio(r);
            r.demo_filing().route = Route::NationalSc;
        }),
        // A deny inside rules 15-18 returns before the rule 14 flag is recorded.
        Case::new(
            "filed late but pia missing",
            pi(),
            "2026-04-15",
            Err(R::ContractPiaMissing),
        )
        .tweak(|r| {
            r.filed(Party::Processor, Some("2026-03-17"));
            r.demo_filing().pia_completed_on = None;
        }),
    ]
}

#[test]
fn contract_table() {
    run_table(&cases());
}

#[test]
fn decision_records_the_computed_due_dates() {
    let mut registry = reference();
    let decision = loopgate_policy::evaluate(&registry, &pi(), day("2026-04-15"));
    assert_eq!(
        decision.filing_due,
        [
            (Party::Processor, date("2026-03-16")),
            (Party::Recipient, date("2026-03-16"))
        ]
    );
    golden_week(&mut registry);
    let decision = loopgate_policy::evaluate(&registry, &pi(), day("2026-10-12"));
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.filing_due,
        [
            (Party::Processor, date("2026-10-14")),
            (Party::Recipient, date("2026-10-12"))
        ]
    );
    // Non-personal transfers compute no due date.
    let decision = loopgate_policy::evaluate(&registry, &np(), day("2026-10-14"));
    assert_eq!(decision.filing_due, []);
}

#[test]
fn decision_names_the_overdue_party() {
    let mut registry = reference();
    registry.filed(Party::Recipient, None);
    let decision = loopgate_policy::evaluate(&registry, &pi(), day("2026-03-17"));
    assert_eq!(decision.reason, Some(R::ContractFilingOverdue));
    assert_eq!(decision.overdue_party, Some(Party::Recipient));
    // Both overdue: the first party of `filing_parties` (the processor) is named.
    registry.filed(Party::Processor, None);
    let decision = loopgate_policy::evaluate(&registry, &pi(), day("2026-03-17"));
    assert_eq!(decision.overdue_party, Some(Party::Processor));
    // Not overdue: none.
    let decision = loopgate_policy::evaluate(&reference(), &pi(), day("2026-03-17"));
    assert_eq!(decision.overdue_party, None);
}

#[test]
fn decision_records_the_filing_numbers_and_report_digest() {
    let decision = loopgate_policy::evaluate(&reference(), &pi(), day("2026-04-15"));
    assert!(decision.is_allowed());
    assert_eq!(
        decision.filing_numbers,
        [
            (Party::Processor, "GD-SC-2026-0142".to_owned()),
            (Party::Recipient, "DPO-GBA-2026-0087".to_owned())
        ]
    );
    assert_eq!(
        decision.pia_report_sha256.as_deref(),
        Some("9f2c4e1b7a0d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6")
    );
    assert_eq!(decision.legal_entity.as_deref(), Some(SENDER));
    // Kept on a denial under the same filing (every decision under it records them)...
    let mut registry = reference();
    registry.demo_filing().pia_completed_on = None;
    let denied = loopgate_policy::evaluate(&registry, &pi(), day("2026-04-15"));
    assert_eq!(denied.reason, Some(R::ContractPiaMissing));
    assert_eq!(denied.filing_numbers.len(), 2);
    assert!(denied.pia_report_sha256.is_some());
    // ...but not when the filing is another processor's.
    let denied = loopgate_policy::evaluate(
        &reference(),
        &pi().filing(Some("GBA-SC-NONE")),
        day("2026-04-15"),
    );
    assert!(denied.filing_numbers.is_empty());
    assert_eq!(denied.pia_report_sha256, None);
}

#[test]
fn zero_data_subjects_is_rule_11() {
    let decision =
        loopgate_policy::evaluate(&reference(), &pi().subjects(Some(0)), day("2026-04-15"));
    assert_eq!(decision.reason, Some(R::RequestMalformedHeader));
    assert_eq!(decision.rule, Some(11));
    assert_eq!(R::RequestMalformedHeader.rule(), None);
}

/// Regression guard: a deny at rule 19 used to keep the `filed_late` flag rule 14 found while a
/// deny at rules 15-18 dropped it. Flags qualify allowed transfers only (policy/README.md), so a
/// deny at any rule carries none.
#[test]
fn deny_at_rule_19_carries_no_flags() {
    let mut registry = reference();
    registry.filed(Party::Processor, Some("2026-03-17"));
    registry.demo_filing().route = Route::NationalSc;
    let decision = loopgate_policy::evaluate(&registry, &pi().ytd(1_000_000, 0), day("2026-04-15"));
    assert_eq!(decision.reason, Some(R::VolumeRouteInsufficient));
    assert_eq!(decision.rule, Some(19));
    assert_eq!(decision.flags, vec![]);
}
