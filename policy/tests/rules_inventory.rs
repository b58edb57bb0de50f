//! Rules 4-10: the transfer matches an approved, valid inventory item of the sender, listing
//! this recipient, this purpose and only catalogue categories; the data class may use the green
//! channel and the declared size fits.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use common::*;
use loopgate_policy::{DataClass, ReasonCode as R, Registry, Status};

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

/// `INV-PI-001` as human genetic data with its HGR filing, under a filing that covers sensitive
/// data with separate consent.
fn human_genetic(r: &mut Registry) {
    r.pi_item().data_class = DataClass::HumanGenetic;
    r.pi_item().hgr_filing = Some("HGR-2026-0001".to_owned());
    r.demo_filing().covers_sensitive = true;
    r.demo_filing().separate_consent = true;
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
        // Rule 8.
        Case::new(
            "important data",
            np(),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| r.np_item().data_class = DataClass::Important),
        Case::new(
            "important data needs no filing to be refused",
            pi().filing(None),
            "2026-04-15",
            Err(R::DataImportantData),
        )
        .tweak(|r| r.pi_item().data_class = DataClass::Important),
        // Rule 9.
        Case::new(
            "human genetic without hgr filing",
            pi(),
            "2026-04-15",
            Err(R::DataHgrFilingMissing),
        )
        .tweak(|r| {
            human_genetic(r);
            r.pi_item().hgr_filing = None;
        }),
        Case::new("human genetic with hgr filing", pi(), "2026-04-15", ALLOW).tweak(human_genetic),
        Case::new(
            "hgr filing not needed for other classes",
            pi(),
            "2026-04-15",
            ALLOW,
        )
        .tweak(|r| r.pi_item().hgr_filing = None),
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
            Err(R::DataHgrFilingMissing),
        )
        .tweak(|r| r.pi_item().data_class = DataClass::HumanGenetic),
        Case::new(
            "order: size before missing header",
            pi().size(Some(u64::MAX)).filing(None),
            "2026-04-15",
            Err(R::RequestBodyTooLarge),
        ),
    ]
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
    assert_eq!(too_big.filing_due, None);
    // Denied before rule 4 finished: nothing about the item.
    let unknown = loopgate_policy::evaluate(&registry, &np().item("INV-NONE"), day("2026-04-15"));
    assert_eq!(unknown.data_class, None);
    assert_eq!(unknown.retention_days, None);
}
