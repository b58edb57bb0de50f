//! Rules 4-10: the transfer matches an approved, valid inventory item of the sender, listing
//! this recipient, this purpose and only catalogue categories; the data class may use the green
//! channel and the declared size fits.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::*;
use loopgate_policy::{
    ApprovalStatus, DataClass, FilingStatus, HgrApproval, HgrAuthority, HgrKind, ReasonCode as R,
    Registry, Route, Status,
};

/// Largest body `INV-NP-001` allows (1 GiB).
const NP_MAX: u64 = 1_073_741_824;

/// A second Mainland sender, so an item can belong to someone else.
fn other_sender(r: &mut Registry) {
    r.clone_tenant(SENDER, "gz-labs").city = "guangzhou".to_owned();
}

/// A second Hong Kong Park recipient that the items do not list.
fn other_recipient(r: &mut Registry) {
    r.clone_tenant(RECIPIENT, "hk-other");
}

fn np_april(r: &mut Registry) {
    r.np_item().valid_from = date("2026-04-01");
    r.np_item().valid_until = date("2026-04-30");
}

fn pi_april(r: &mut Registry) {
    r.pi_item().valid_from = date("2026-04-01");
    r.pi_item().valid_until = date("2026-04-30");
}

/// The security assessment that lets `INV-NP-001` through once it is `important` data.
const SA: &str = "SA-2026-001";
const HGR_F: &str = "HGR-F-2026-001";
const HGR_B: &str = "HGR-B-2026-001";

/// `INV-NP-001` as important data, and a security assessment of these parties covering it:
/// effective 2026-03-02, valid until 2026-06-30.
fn important(r: &mut Registry) {
    r.np_item().data_class = DataClass::Important;
    let f = r.clone_filing(FILING, SA);
    f.route = Route::SecurityAssessment;
    f.valid_until = Some(date("2026-06-30"));
    f.filings.clear();
    f.categories = set(&["instrument_telemetry"]);
    f.purposes = set(&[NP_PURPOSE]);
    f.methods.clear();
    f.pia_report_sha256 = Some("ab".repeat(32));
}

fn sa(r: &mut Registry) -> &mut loopgate_policy::ContractFiling {
    r.filing(SA)
}

/// An HGR approval of `kind` held by the sender, covering `item`, in force through 2027, listed
/// on the item.
fn approve(r: &mut Registry, reference: &str, kind: HgrKind, item: &str) {
    r.hgr_approvals.insert(
        reference.to_owned(),
        HgrApproval {
            reference: reference.to_owned(),
            kind,
            authority: HgrAuthority::Nhc,
            holder: SENDER.to_owned(),
            covers: set(&[item]),
            valid_from: date("2026-01-01"),
            valid_until: date("2027-12-31"),
            status: ApprovalStatus::Effective,
        },
    );
    r.item(item).hgr_approvals.insert(reference.to_owned());
}

/// `INV-NP-001` as (anonymised) HGR information with its filing and backup approvals.
fn hgr_np(r: &mut Registry) {
    r.np_item().hgr = true;
    approve(r, HGR_F, HgrKind::InformationFiling, NP_ITEM);
    approve(r, HGR_B, HgrKind::InformationBackup, NP_ITEM);
}

/// `INV-PI-001` as human genetic data with both approvals, under a filing that covers
/// sensitive data.
fn human_genetic(r: &mut Registry) {
    r.pi_item().data_class = DataClass::HumanGenetic;
    r.pi_item().hgr = true;
    approve(r, HGR_F, HgrKind::InformationFiling, PI_ITEM);
    approve(r, HGR_B, HgrKind::InformationBackup, PI_ITEM);
    r.demo_filing().covers_sensitive = true;
}

fn important_rows() -> Vec<Case> {
    let sa_req = || np().filing(Some(SA));
    vec![
        Case::new(
            "important with its security assessment",
            sa_req(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(important),
        Case::new(
            "important without Loop-Contract-Filing",
            np(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(important),
        Case::new(
            "important naming an unknown filing",
            np().filing(Some("SA-NONE")),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(important),
        Case::new(
            "important under a gba standard contract",
            np().filing(Some(FILING)),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            r.demo_filing()
                .categories
                .insert("instrument_telemetry".to_owned());
            r.demo_filing().purposes.insert(NP_PURPOSE.to_owned());
        }),
        Case::new(
            "important: assessment of another recipient",
            sa_req(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            other_recipient(r);
            sa(r).recipient = "hk-other".to_owned();
        }),
        Case::new(
            "important: assessment of another processor",
            sa_req(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            other_sender(r);
            sa(r).processor = "gz-labs".to_owned();
        }),
        Case::new(
            "important: assessment without the category",
            sa_req(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            sa(r).categories = set(&["imaging"]);
        }),
        Case::new(
            "important: assessment without the purpose",
            sa_req(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            sa(r).purposes = set(&["research.other"]);
        }),
        Case::new(
            "important: assessment suspended",
            sa_req(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            sa(r).status = FilingStatus::Suspended;
        }),
        Case::new(
            "important: assessment effective today",
            sa_req(),
            "2026-03-02",
            ALLOW,
        )
        .tweak(important),
        Case::new(
            "important: assessment effective tomorrow",
            sa_req(),
            "2026-03-01",
            Err(R::DataImportantData),
        )
        .tweak(important),
        Case::new(
            "important: assessment's last valid day",
            sa_req(),
            "2026-06-30",
            ALLOW,
        )
        .tweak(important),
        Case::new(
            "important: the day after the assessment's last valid day",
            sa_req(),
            "2026-07-01",
            Err(R::DataImportantData),
        )
        .tweak(important),
        Case::new(
            "important: the assessment ends at 15:59:59Z on its last day",
            sa_req(),
            "2026-06-30T15:59:59Z",
            ALLOW,
        )
        .tweak(important),
        Case::new(
            "important: and is over at 16:00Z",
            sa_req(),
            "2026-06-30T16:00:00Z",
            Err(R::DataImportantData),
        )
        .tweak(important),
        // After rule 8 the personal-information rules do not apply: no subjects header, no
        // volume cap, no consent, no CIIO rule.
        Case::new(
            "important is not personal information",
            sa_req().subjects(None).ytd(u64::MAX, u64::MAX),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            important(r);
            r.sender().ciio = true;
            sa(r).separate_consent = false;
        }),
        Case::new(
            "order: important before hgr",
            np(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| {
            important(r);
            r.np_item().hgr = true;
        }),
        Case::new(
            "important hgr data needs its approvals too",
            sa_req(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            important(r);
            r.np_item().hgr = true;
        }),
    ]
}

fn hgr_rows() -> Vec<Case> {
    vec![
        Case::new("hgr with filing and backup", np(), "2026-04-15", ALLOW).tweak(hgr_np),
        Case::new(
            "hgr without approvals",
            np(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| r.np_item().hgr = true),
        Case::new(
            "hgr with the backup only",
            np(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            r.np_item().hgr = true;
            approve(r, HGR_B, HgrKind::InformationBackup, NP_ITEM);
        }),
        Case::new(
            "hgr with the filing only",
            np(),
            "2026-04-15",
            Err(R::HgrBackupMissing),
        )
        .tweak(|r| {
            r.np_item().hgr = true;
            approve(r, HGR_F, HgrKind::InformationFiling, NP_ITEM);
        }),
        Case::new(
            "hgr: an export approval is not a filing",
            np(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.approval(HGR_F).kind = HgrKind::ExportApproval;
        }),
        Case::new(
            "hgr: filing revoked",
            np(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.approval(HGR_F).status = ApprovalStatus::Revoked;
        }),
        Case::new(
            "hgr: backup revoked",
            np(),
            "2026-04-15",
            Err(R::HgrBackupMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.approval(HGR_B).status = ApprovalStatus::Revoked;
        }),
        Case::new("hgr: filing's first valid day", np(), "2026-04-01", ALLOW).tweak(|r| {
            hgr_np(r);
            r.approval(HGR_F).valid_from = date("2026-04-01");
        }),
        Case::new(
            "hgr: the day before the filing's first valid day",
            np(),
            "2026-03-31",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.approval(HGR_F).valid_from = date("2026-04-01");
        }),
        Case::new("hgr: backup's last valid day", np(), "2026-04-30", ALLOW).tweak(|r| {
            hgr_np(r);
            r.approval(HGR_B).valid_until = date("2026-04-30");
        }),
        Case::new(
            "hgr: the day after the backup's last valid day",
            np(),
            "2026-05-01",
            Err(R::HgrBackupMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.approval(HGR_B).valid_until = date("2026-04-30");
        }),
        Case::new(
            "hgr: filing held by another tenant",
            np(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            other_sender(r);
            r.approval(HGR_F).holder = "gz-labs".to_owned();
        }),
        Case::new(
            "hgr: backup that does not cover the item",
            np(),
            "2026-04-15",
            Err(R::HgrBackupMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.approval(HGR_B).covers = set(&[PI_ITEM]);
        }),
        Case::new(
            "hgr: an approval the item does not list",
            np(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            hgr_np(r);
            r.np_item().hgr_approvals.remove(HGR_F);
        }),
        Case::new(
            "human genetic with both approvals",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(human_genetic),
        Case::new(
            "human genetic without approvals",
            pi(),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            human_genetic(r);
            r.pi_item().hgr_approvals.clear();
        }),
        Case::new(
            "approvals not needed when hgr is false",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| r.pi_item().hgr = false),
    ]
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        // Rule 4.
        Case::new(
            "item unknown",
            np().item("INV-NONE"),
            "2026-04-15",
            Err(R::InventoryUnknownItem),
        ),
        Case::new(
            "item id is case-sensitive",
            np().item("inv-np-001"),
            "2026-04-15",
            Err(R::InventoryUnknownItem),
        ),
        Case::new(
            "item of another sender",
            np().sender("gz-labs"),
            "2026-04-15",
            Err(R::InventoryNotOwner),
        )
        .tweak(other_sender),
        Case::new(
            "item owned by someone else",
            np(),
            "2026-04-15",
            Err(R::InventoryNotOwner),
        )
        .tweak(|r| {
            other_sender(r);
            r.np_item().owner = "gz-labs".to_owned();
        }),
        Case::new(
            "item suspended",
            np(),
            "2026-04-15",
            Err(R::InventoryNotValid),
        )
        .tweak(|r| r.np_item().status = Status::Suspended),
        Case::new(
            "item revoked",
            np(),
            "2026-04-15",
            Err(R::InventoryNotValid),
        )
        .tweak(|r| r.np_item().status = Status::Revoked),
        Case::new(
            "item day before first valid day",
            np(),
            "2026-03-31",
            Err(R::InventoryNotValid),
        )
        .tweak(np_april),
        Case::new("item first valid day", np(), "2026-04-01", ALLOW).tweak(np_april),
        Case::new("item last valid day", np(), "2026-04-30", ALLOW).tweak(np_april),
        Case::new(
            "item day after last valid day",
            np(),
            "2026-05-01",
            Err(R::InventoryNotValid),
        )
        .tweak(np_april),
        Case::new(
            "item opens at 16:00Z the day before",
            np(),
            "2026-03-31T16:00:00Z",
            ALLOW,
        )
        .tweak(np_april),
        Case::new(
            "item closed at 15:59:59Z the day before",
            np(),
            "2026-03-31T15:59:59Z",
            Err(R::InventoryNotValid),
        )
        .tweak(np_april),
        Case::new(
            "item open at 15:59:59Z on the last day",
            np(),
            "2026-04-30T15:59:59Z",
            ALLOW,
        )
        .tweak(np_april),
        Case::new(
            "item closed at 16:00Z on the last day",
            np(),
            "2026-04-30T16:00:00Z",
            Err(R::InventoryNotValid),
        )
        .tweak(np_april),
        Case::new("personal item first valid day", pi(), "2026-04-01", ALLOW).tweak(pi_april),
        Case::new(
            "personal item day after last valid day",
            pi(),
            "2026-05-01",
            Err(R::InventoryNotValid),
        )
        .tweak(pi_april),
        // Rule 5.
        Case::new(
            "recipient not on the item",
            np().recipient("hk-other"),
            "2026-04-15",
            Err(R::InventoryRecipientNotAllowed),
        )
        .tweak(other_recipient),
        Case::new(
            "item lists the other recipient",
            np().recipient("hk-other"),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| {
            other_recipient(r);
            r.np_item().recipients.insert("hk-other".to_owned());
        }),
        // Rule 6.
        Case::new(
            "purpose not on the item",
            np().purpose("marketing"),
            "2026-04-15",
            Err(R::InventoryPurposeNotAllowed),
        ),
        Case::new(
            "purpose of another item",
            np().purpose(PI_PURPOSE),
            "2026-04-15",
            Err(R::InventoryPurposeNotAllowed),
        ),
        Case::new(
            "purpose is matched exactly",
            np().purpose("research.instrument_qc "),
            "2026-04-15",
            Err(R::InventoryPurposeNotAllowed),
        ),
        // Rule 7.
        Case::new(
            "item category not in catalogue",
            np(),
            "2026-04-15",
            Err(R::InventoryCategoryNotInCatalogue),
        )
        .tweak(|r| {
            r.np_item()
                .categories
                .insert("satellite_imagery".to_owned());
        }),
        Case::new(
            "catalogue is a parameter",
            np(),
            "2026-04-15",
            Err(R::InventoryCategoryNotInCatalogue),
        )
        .tweak(|r| {
            r.catalogue.remove("instrument_telemetry");
        }),
        Case::new(
            "empty catalogue",
            pi(),
            "2026-04-15",
            Err(R::InventoryCategoryNotInCatalogue),
        )
        .tweak(|r| r.catalogue.clear()),
        // Rule 10: the declared size may equal the maximum.
        Case::new(
            "size one below max",
            np().size(Some(NP_MAX - 1)),
            "2026-04-15",
            ALLOW,
        ),
        Case::new("size at max", np().size(Some(NP_MAX)), "2026-04-15", ALLOW),
        Case::new(
            "size one above max",
            np().size(Some(NP_MAX + 1)),
            "2026-04-15",
            Err(R::RequestBodyTooLarge),
        ),
        Case::new(
            "size u64::MAX",
            np().size(Some(u64::MAX)),
            "2026-04-15",
            Err(R::RequestBodyTooLarge),
        ),
        Case::new(
            "size not declared (checked while streaming)",
            np().size(None),
            "2026-04-15",
            ALLOW,
        ),
        Case::new("size zero", np().size(Some(0)), "2026-04-15", ALLOW),
        Case::new(
            "personal item size above its own max",
            pi().size(Some(104_857_601)),
            "2026-04-15",
            Err(R::RequestBodyTooLarge),
        ),
        Case::new(
            "personal item size at its own max",
            pi().size(Some(104_857_600)),
            "2026-04-15",
            ALLOW,
        ),
        // Rules 11-19 apply to personal information only.
        Case::new(
            "non-personal needs no filing",
            np().filing(None).subjects(None),
            "2026-04-15",
            ALLOW,
        ),
        Case::new(
            "non-personal ignores a bogus filing",
            np().filing(Some("NOPE")),
            "2026-04-15",
            ALLOW,
        ),
        Case::new(
            "non-personal ignores volume",
            np().subjects(Some(u64::MAX)).ytd(u64::MAX, u64::MAX),
            "2026-04-15",
            ALLOW,
        ),
        // Order.
        Case::new(
            "order: rule 3 before unknown item",
            np().item("INV-NONE"),
            "2026-04-15",
            Err(R::RecipientSuspended),
        )
        .tweak(|r| r.recipient().status = Status::Suspended),
        Case::new(
            "order: not owner before not valid",
            np().sender("gz-labs"),
            "2026-05-01",
            Err(R::InventoryNotOwner),
        )
        .tweak(|r| {
            other_sender(r);
            np_april(r);
        }),
        Case::new(
            "order: not valid before recipient not allowed",
            np().recipient("hk-other"),
            "2026-04-15",
            Err(R::InventoryNotValid),
        )
        .tweak(|r| {
            other_recipient(r);
            r.np_item().status = Status::Suspended;
        }),
        Case::new(
            "order: recipient before purpose",
            np().recipient("hk-other").purpose("marketing"),
            "2026-04-15",
            Err(R::InventoryRecipientNotAllowed),
        )
        .tweak(other_recipient),
        Case::new(
            "order: purpose before category",
            np().purpose("marketing"),
            "2026-04-15",
            Err(R::InventoryPurposeNotAllowed),
        )
        .tweak(|r| r.catalogue.clear()),
        Case::new(
            "order: category before important",
            np(),
            "2026-04-15",
            Err(R::InventoryCategoryNotInCatalogue),
        )
        .tweak(|r| {
            r.catalogue.clear();
            r.np_item().data_class = DataClass::Important;
        }),
        Case::new(
            "order: important before size",
            np().size(Some(u64::MAX)),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| r.np_item().data_class = DataClass::Important),
        Case::new(
            "order: hgr before size",
            pi().size(Some(u64::MAX)),
            "2026-04-15",
            Err(R::HgrFilingMissing),
        )
        .tweak(|r| {
            r.pi_item().data_class = DataClass::HumanGenetic;
            r.pi_item().hgr = true;
        }),
        Case::new(
            "order: size after important when it passes",
            np().filing(Some(SA)).size(Some(u64::MAX)),
            "2026-04-15",
            Err(R::RequestBodyTooLarge),
        )
        .tweak(important),
        Case::new(
            "order: size before missing header",
            pi().size(Some(u64::MAX)).filing(None),
            "2026-04-15",
            Err(R::RequestBodyTooLarge),
        ),
    ]
    .into_iter()
    .chain(important_rows())
    .chain(hgr_rows())
    .collect()
}

#[test]
fn inventory_table() {
    run_table(&cases());
}

#[test]
fn decision_records_item_class_and_retention_once_the_item_is_known() {
    let registry = reference();
    let allowed = loopgate_policy::evaluate(&registry, &pi(), day("2026-04-15"));
    assert_eq!(allowed.data_class, Some(DataClass::Personal));
    assert_eq!(allowed.retention_days, Some(180));
    // Denied at rule 10: the item was found, so its class and retention are recorded.
    let too_big =
        loopgate_policy::evaluate(&registry, &np().size(Some(NP_MAX + 1)), day("2026-04-15"));
    assert_eq!(too_big.data_class, Some(DataClass::NonPersonal));
    assert_eq!(too_big.retention_days, Some(365));
    assert_eq!(too_big.filing_due, []);
    assert_eq!(too_big.hgr, Some(false));
    assert_eq!(too_big.legal_entity.as_deref(), Some(SENDER));
    // Denied before rule 4 finished: nothing about the item.
    let unknown = loopgate_policy::evaluate(&registry, &np().item("INV-NONE"), day("2026-04-15"));
    assert_eq!(unknown.data_class, None);
    assert_eq!(unknown.retention_days, None);
    assert_eq!(unknown.hgr, None);
}

#[test]
fn decision_records_the_hgr_approvals_used() {
    let mut registry = reference();
    hgr_np(&mut registry);
    let decision = loopgate_policy::evaluate(&registry, &np(), day("2026-04-15"));
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(decision.hgr, Some(true));
    assert_eq!(decision.hgr_approvals, [HGR_F, HGR_B]);
    // Without HGR data, none.
    let decision = loopgate_policy::evaluate(&reference(), &np(), day("2026-04-15"));
    assert!(decision.hgr_approvals.is_empty());
}

#[test]
fn important_data_records_its_assessment() {
    let mut registry = reference();
    important(&mut registry);
    let decision = loopgate_policy::evaluate(&registry, &np().filing(Some(SA)), day("2026-04-15"));
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(decision.pia_report_sha256, Some("ab".repeat(32)));
    assert!(decision.filing_due.is_empty());
}
