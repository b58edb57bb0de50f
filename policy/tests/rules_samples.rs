//! Rules S1-S8: a shipment declaration is decided like a transfer. S1-S3 are rules 1-3 with their
//! codes; then the sample item (S4), the quantity (S5), the biosafety level (S6), the export
//! approval of HGR material (S7) and the carrier (S8). One row per reason code and per boundary;
//! the first failing rule decides, and the decision records its S-rule number.
#![allow(clippy::unwrap_used)]

pub(crate) mod common;

use std::collections::BTreeSet;

use common::*;
use loopgate_policy::{
    ApprovalStatus, HgrKind, Park, ReasonCode as R, Registry, ShipmentDecision, ShipmentRequest,
    Side, Status, Verdict, evaluate_shipment,
};
use time::{OffsetDateTime, UtcOffset};

/// One row: a tweak of the reference registry, a declaration, an instant, the outcome.
pub(crate) struct Row {
    name: &'static str,
    tweak: fn(&mut Registry),
    request: ShipmentRequest,
    at: OffsetDateTime,
    expect: Result<(), R>,
}

impl Row {
    fn new(name: &'static str, request: ShipmentRequest, at: &str, expect: Result<(), R>) -> Self {
        Self {
            name,
            tweak: same,
            request,
            at: parse_at(at),
            expect,
        }
    }

    fn tweak(mut self, tweak: fn(&mut Registry)) -> Self {
        self.tweak = tweak;
        self
    }

    fn decide(&self) -> ShipmentDecision {
        let mut registry = reference();
        (self.tweak)(&mut registry);
        evaluate_shipment(&registry, &self.request, self.at)
    }
}

const ALLOW: Result<(), R> = Ok(());

/// A declaration of `quantity` units of the reference shipment.
fn quantity(quantity: i64) -> ShipmentRequest {
    ShipmentRequest {
        quantity,
        ..shipment()
    }
}

/// A second approved Mainland tenant in the Shenzhen Park, `sz-other`.
fn other_sender(r: &mut Registry) {
    r.clone_tenant(SENDER, "sz-other");
}

/// A second approved Hong Kong Park tenant, `hk-other`.
fn other_recipient(r: &mut Registry) {
    r.clone_tenant(RECIPIENT, "hk-other");
}

fn sample_april(r: &mut Registry) {
    r.blood().valid_from = date("2026-04-01");
    r.blood().valid_until = date("2026-04-30");
}

fn approval_april(r: &mut Registry) {
    r.export_approval().valid_from = date("2026-04-01");
    r.export_approval().valid_until = date("2026-04-30");
}

fn carrier_april(r: &mut Registry) {
    r.carrier(CARRIER).valid_from = date("2026-04-01");
    r.carrier(CARRIER).valid_until = date("2026-04-30");
}

pub(crate) fn rows() -> Vec<Row> {
    let day = "2026-04-15";
    vec![
        Row::new("baseline", shipment(), day, ALLOW),
        // S1 (rule 1).
        Row::new(
            "sender unknown",
            ShipmentRequest {
                sender: "nobody".to_owned(),
                ..shipment()
            },
            day,
            Err(R::TenantNotWhitelisted),
        ),
        Row::new("sender suspended", shipment(), day, Err(R::TenantSuspended))
            .tweak(|r| r.sender().status = Status::Suspended),
        Row::new("sender revoked", shipment(), day, Err(R::TenantRevoked))
            .tweak(|r| r.sender().status = Status::Revoked),
        Row::new(
            "sender day before first valid day",
            shipment(),
            "2025-12-31",
            Err(R::TenantNotValid),
        ),
        Row::new(
            "sender day after last valid day",
            shipment(),
            "2028-01-01",
            Err(R::TenantNotValid),
        ),
        // S2 (rule 2).
        Row::new(
            "sender on the hong kong side",
            shipment(),
            day,
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| r.sender().side = Side::HongKong),
        Row::new(
            "sender outside the gba",
            shipment(),
            day,
            Err(R::TenantOutsideGba),
        )
        .tweak(|r| r.sender().city = "beijing".to_owned()),
        Row::new(
            "sender in no park",
            shipment(),
            day,
            Err(R::TenantNotInSenderPark),
        )
        .tweak(|r| r.sender().park = Park::None),
        // S3 (rule 3).
        Row::new(
            "recipient unknown",
            ShipmentRequest {
                recipient: "nobody".to_owned(),
                ..shipment()
            },
            day,
            Err(R::RecipientNotWhitelisted),
        ),
        Row::new(
            "recipient suspended",
            shipment(),
            day,
            Err(R::RecipientSuspended),
        )
        .tweak(|r| r.recipient().status = Status::Suspended),
        Row::new(
            "recipient revoked",
            shipment(),
            day,
            Err(R::RecipientRevoked),
        )
        .tweak(|r| r.recipient().status = Status::Revoked),
        Row::new(
            "recipient outside its window",
            shipment(),
            day,
            Err(R::RecipientNotValid),
        )
        .tweak(|r| r.recipient().valid_until = date("2026-04-14")),
        Row::new(
            "recipient not in the hong kong park",
            shipment(),
            day,
            Err(R::RecipientNotInHkPark),
        )
        .tweak(|r| r.recipient().park = Park::ShenzhenPark),
        // S4: the sample item.
        Row::new(
            "sample item unknown",
            ShipmentRequest {
                sample_item: "SMP-NONE".to_owned(),
                ..shipment()
            },
            day,
            Err(R::SampleUnknownItem),
        ),
        Row::new(
            "sample item id is case-sensitive",
            ShipmentRequest {
                sample_item: SAMPLE.to_lowercase(),
                ..shipment()
            },
            day,
            Err(R::SampleUnknownItem),
        ),
        Row::new(
            "an inventory item is not a sample item",
            ShipmentRequest {
                sample_item: NP_ITEM.to_owned(),
                ..shipment()
            },
            day,
            Err(R::SampleUnknownItem),
        ),
        Row::new(
            "sample item of another sender",
            ShipmentRequest {
                sender: "sz-other".to_owned(),
                ..shipment()
            },
            day,
            Err(R::SampleNotOwner),
        )
        .tweak(other_sender),
        Row::new(
            "sample item handed to another owner",
            shipment(),
            day,
            Err(R::SampleNotOwner),
        )
        .tweak(|r| {
            other_sender(r);
            r.blood().owner = "sz-other".to_owned();
        }),
        Row::new(
            "sample item suspended",
            shipment(),
            day,
            Err(R::SampleNotValid),
        )
        .tweak(|r| r.blood().status = Status::Suspended),
        Row::new(
            "sample item revoked",
            shipment(),
            day,
            Err(R::SampleNotValid),
        )
        .tweak(|r| r.blood().status = Status::Revoked),
        Row::new(
            "sample item: day before first valid day",
            shipment(),
            "2026-03-31",
            Err(R::SampleNotValid),
        )
        .tweak(sample_april),
        Row::new(
            "sample item: first valid day",
            shipment(),
            "2026-04-01",
            ALLOW,
        )
        .tweak(sample_april),
        Row::new(
            "sample item: last valid day",
            shipment(),
            "2026-04-30",
            ALLOW,
        )
        .tweak(sample_april),
        Row::new(
            "sample item: day after last valid day",
            shipment(),
            "2026-05-01",
            Err(R::SampleNotValid),
        )
        .tweak(sample_april),
        Row::new(
            "sample item opens at 16:00Z the day before",
            shipment(),
            "2026-03-31T16:00:00Z",
            ALLOW,
        )
        .tweak(sample_april),
        Row::new(
            "sample item still closed at 15:59:59Z the day before",
            shipment(),
            "2026-03-31T15:59:59Z",
            Err(R::SampleNotValid),
        )
        .tweak(sample_april),
        Row::new(
            "sample item closed at 16:00Z on its last day",
            shipment(),
            "2026-04-30T16:00:00Z",
            Err(R::SampleNotValid),
        )
        .tweak(sample_april),
        Row::new(
            "recipient not listed on the sample item",
            ShipmentRequest {
                recipient: "hk-other".to_owned(),
                ..shipment()
            },
            day,
            Err(R::SampleRecipientNotAllowed),
        )
        .tweak(other_recipient),
        Row::new(
            "recipient listed on the sample item",
            ShipmentRequest {
                recipient: "hk-other".to_owned(),
                ..shipment()
            },
            day,
            ALLOW,
        )
        .tweak(|r| {
            other_recipient(r);
            r.blood().recipients.insert("hk-other".to_owned());
        }),
        Row::new(
            "purpose not listed on the sample item",
            ShipmentRequest {
                purpose: NP_PURPOSE.to_owned(),
                ..shipment()
            },
            day,
            Err(R::SamplePurposeNotAllowed),
        ),
        Row::new(
            "empty purpose",
            ShipmentRequest {
                purpose: String::new(),
                ..shipment()
            },
            day,
            Err(R::SamplePurposeNotAllowed),
        ),
        // S5: 1..=max_quantity (200 in the reference bundle).
        Row::new(
            "quantity 0",
            quantity(0),
            day,
            Err(R::SampleQuantityExceeded),
        ),
        Row::new(
            "quantity -1",
            quantity(-1),
            day,
            Err(R::SampleQuantityExceeded),
        ),
        Row::new(
            "quantity i64::MIN",
            quantity(i64::MIN),
            day,
            Err(R::SampleQuantityExceeded),
        ),
        Row::new("quantity 1", quantity(1), day, ALLOW),
        Row::new("quantity at max_quantity", quantity(200), day, ALLOW),
        Row::new(
            "quantity max_quantity + 1",
            quantity(201),
            day,
            Err(R::SampleQuantityExceeded),
        ),
        Row::new(
            "quantity i64::MAX",
            quantity(i64::MAX),
            day,
            Err(R::SampleQuantityExceeded),
        ),
        Row::new("max_quantity 1: one unit", quantity(1), day, ALLOW)
            .tweak(|r| r.blood().max_quantity = 1),
        Row::new(
            "max_quantity 1: two units",
            quantity(2),
            day,
            Err(R::SampleQuantityExceeded),
        )
        .tweak(|r| r.blood().max_quantity = 1),
        // S6: biosafety_level <= max_biosafety_level (2 by default).
        Row::new("biosafety level 1", shipment(), day, ALLOW)
            .tweak(|r| r.blood().biosafety_level = 1),
        Row::new("biosafety level at the limit", shipment(), day, ALLOW)
            .tweak(|r| r.blood().biosafety_level = 2),
        Row::new(
            "biosafety level over the limit",
            shipment(),
            day,
            Err(R::SampleBiosafetyLevel),
        )
        .tweak(|r| r.blood().biosafety_level = 3),
        Row::new("max_biosafety_level is a parameter", shipment(), day, ALLOW).tweak(|r| {
            r.blood().biosafety_level = 3;
            r.parameters.max_biosafety_level = 3;
        }),
        Row::new(
            "biosafety level 4 over a raised limit",
            shipment(),
            day,
            Err(R::SampleBiosafetyLevel),
        )
        .tweak(|r| {
            r.blood().biosafety_level = 4;
            r.parameters.max_biosafety_level = 3;
        }),
        Row::new(
            "max_biosafety_level 1 refuses level 2",
            shipment(),
            day,
            Err(R::SampleBiosafetyLevel),
        )
        .tweak(|r| r.parameters.max_biosafety_level = 1),
        // S7: an effective, in-window export approval, held by the sender, covering the item and
        // listed on it.
        Row::new(
            "export approval revoked",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| r.export_approval().status = ApprovalStatus::Revoked),
        Row::new(
            "export approval: day before its window (reference)",
            shipment(),
            "2026-01-31",
            Err(R::HgrExportApprovalMissing),
        ),
        Row::new(
            "export approval: first day of its window (reference)",
            shipment(),
            "2026-02-01",
            ALLOW,
        ),
        Row::new(
            "export approval: day before its window",
            shipment(),
            "2026-03-31",
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(approval_april),
        Row::new(
            "export approval: first valid day",
            shipment(),
            "2026-04-01",
            ALLOW,
        )
        .tweak(approval_april),
        Row::new(
            "export approval: last valid day",
            shipment(),
            "2026-04-30",
            ALLOW,
        )
        .tweak(approval_april),
        Row::new(
            "export approval: day after its window",
            shipment(),
            "2026-05-01",
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(approval_april),
        Row::new(
            "export approval held by another tenant",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| {
            other_sender(r);
            r.export_approval().holder = "sz-other".to_owned();
        }),
        Row::new(
            "export approval not covering the item",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| r.export_approval().covers = set(&[NP_ITEM])),
        Row::new(
            "approval of the wrong kind",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| r.export_approval().kind = HgrKind::InformationFiling),
        Row::new(
            "information filing and backup are not an export approval",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| {
            r.export_approval().kind = HgrKind::InformationBackup;
            approve_hgr(r, &[PI_ITEM]);
            let filing = r.approval("HGR-F-1");
            filing.covers.insert(SAMPLE.to_owned());
            r.blood().hgr_approvals.insert("HGR-F-1".to_owned());
        }),
        Row::new(
            "export approval not listed on the item",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| r.blood().hgr_approvals.clear()),
        Row::new(
            "listed reference missing from the registry",
            shipment(),
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| {
            r.hgr_approvals.remove(EXPORT_APPROVAL);
        }),
        Row::new(
            "material that is not hgr needs no approval",
            shipment(),
            day,
            ALLOW,
        )
        .tweak(|r| {
            r.blood().hgr = false;
            r.blood().hgr_approvals.clear();
        }),
        // S8: the carrier.
        Row::new(
            "carrier unknown",
            ShipmentRequest {
                carrier: "nobody-logistics".to_owned(),
                ..shipment()
            },
            day,
            Err(R::CarrierNotWhitelisted),
        ),
        Row::new(
            "carrier id is case-sensitive",
            ShipmentRequest {
                carrier: CARRIER.to_uppercase(),
                ..shipment()
            },
            day,
            Err(R::CarrierNotWhitelisted),
        ),
        Row::new(
            "a tenant is not a carrier",
            ShipmentRequest {
                carrier: SENDER.to_owned(),
                ..shipment()
            },
            day,
            Err(R::CarrierNotWhitelisted),
        ),
        Row::new(
            "carrier suspended",
            shipment(),
            day,
            Err(R::CarrierNotValid),
        )
        .tweak(|r| r.carrier(CARRIER).status = Status::Suspended),
        Row::new("carrier revoked", shipment(), day, Err(R::CarrierNotValid))
            .tweak(|r| r.carrier(CARRIER).status = Status::Revoked),
        Row::new(
            "carrier: day before first valid day",
            shipment(),
            "2026-03-31",
            Err(R::CarrierNotValid),
        )
        .tweak(carrier_april),
        Row::new("carrier: first valid day", shipment(), "2026-04-01", ALLOW).tweak(carrier_april),
        Row::new("carrier: last valid day", shipment(), "2026-04-30", ALLOW).tweak(carrier_april),
        Row::new(
            "carrier: day after last valid day",
            shipment(),
            "2026-05-01",
            Err(R::CarrierNotValid),
        )
        .tweak(carrier_april),
        Row::new(
            "carrier closed at 16:00Z on its last day",
            shipment(),
            "2026-04-30T16:00:00Z",
            Err(R::CarrierNotValid),
        )
        .tweak(carrier_april),
        // Order: the earlier rule, and the earlier check inside a rule, decides.
        Row::new(
            "order: S1 before S4",
            ShipmentRequest {
                sender: "nobody".to_owned(),
                sample_item: "SMP-NONE".to_owned(),
                ..shipment()
            },
            day,
            Err(R::TenantNotWhitelisted),
        ),
        Row::new(
            "order: S3 before S4",
            ShipmentRequest {
                recipient: "nobody".to_owned(),
                sample_item: "SMP-NONE".to_owned(),
                ..shipment()
            },
            day,
            Err(R::RecipientNotWhitelisted),
        ),
        Row::new(
            "order: not owner before not valid",
            shipment(),
            day,
            Err(R::SampleNotOwner),
        )
        .tweak(|r| {
            other_sender(r);
            r.blood().owner = "sz-other".to_owned();
            r.blood().status = Status::Revoked;
        }),
        Row::new(
            "order: not valid before recipient not listed",
            shipment(),
            day,
            Err(R::SampleNotValid),
        )
        .tweak(|r| {
            r.blood().status = Status::Suspended;
            r.blood().recipients.clear();
        }),
        Row::new(
            "order: recipient before purpose",
            ShipmentRequest {
                purpose: NP_PURPOSE.to_owned(),
                ..shipment()
            },
            day,
            Err(R::SampleRecipientNotAllowed),
        )
        .tweak(|r| {
            r.blood().recipients.clear();
        }),
        Row::new(
            "order: S4 before S5",
            ShipmentRequest {
                purpose: NP_PURPOSE.to_owned(),
                quantity: 0,
                ..shipment()
            },
            day,
            Err(R::SamplePurposeNotAllowed),
        ),
        Row::new(
            "order: S5 before S6",
            quantity(201),
            day,
            Err(R::SampleQuantityExceeded),
        )
        .tweak(|r| r.blood().biosafety_level = 4),
        Row::new(
            "order: S6 before S7",
            shipment(),
            day,
            Err(R::SampleBiosafetyLevel),
        )
        .tweak(|r| {
            r.blood().biosafety_level = 3;
            r.blood().hgr_approvals.clear();
        }),
        Row::new(
            "order: S7 before S8",
            ShipmentRequest {
                carrier: "nobody-logistics".to_owned(),
                ..shipment()
            },
            day,
            Err(R::HgrExportApprovalMissing),
        )
        .tweak(|r| r.export_approval().status = ApprovalStatus::Revoked),
    ]
}

/// Runs every row, checks verdict, reason and S-rule number, the day and determinism, and
/// returns the codes the rows produced (for coverage).
pub(crate) fn run(rows: &[Row]) -> Vec<R> {
    let mut names = BTreeSet::new();
    let mut seen = Vec::new();
    for row in rows {
        assert!(names.insert(row.name), "duplicate row name {}", row.name);
        let decision = row.decide();
        match row.expect {
            Ok(()) => {
                assert_eq!(
                    decision.verdict,
                    Verdict::Allow,
                    "{}: expected allow, got {decision:?}",
                    row.name
                );
                assert_eq!(decision.reason, None, "{}", row.name);
                assert_eq!(decision.rule, None, "{}", row.name);
            }
            Err(code) => {
                assert_eq!(
                    decision.verdict,
                    Verdict::Deny,
                    "{}: expected deny {code}, got {decision:?}",
                    row.name
                );
                assert_eq!(decision.reason, Some(code), "{}: reason", row.name);
                assert_eq!(decision.rule, code.shipment_rule(), "{}: rule", row.name);
                assert!(
                    code.shipment_rule().is_some_and(|s| (1..=8).contains(&s)),
                    "{}: {code} is not a code of S1-S8",
                    row.name
                );
                seen.push(code);
            }
        }
        assert_eq!(decision.is_allowed(), row.expect.is_ok(), "{}", row.name);
        assert_eq!(
            decision.evaluated_on,
            row.at
                .to_offset(UtcOffset::from_hms(8, 0, 0).unwrap())
                .date(),
            "{}: evaluated_on",
            row.name
        );
        assert_eq!(decision, row.decide(), "{}: not deterministic", row.name);
    }
    seen
}

#[test]
fn samples_table() {
    run(&rows());
}

#[test]
fn every_code_of_s1_to_s8_has_a_row() {
    let seen: BTreeSet<R> = run(&rows()).into_iter().collect();
    let wanted: BTreeSet<R> = R::ALL
        .iter()
        .copied()
        .filter(|code| code.shipment_rule().is_some_and(|s| s <= 8))
        .collect();
    assert_eq!(
        wanted.difference(&seen).collect::<Vec<_>>(),
        Vec::<&R>::new(),
        "codes of S1-S8 no row produces"
    );
}

/// An allowed shipment carries everything its record needs, read from the sample item, the
/// sender and the export approval.
#[test]
fn allowed_shipment_holds_every_field() {
    let decision = evaluate_shipment(&reference(), &shipment(), day("2026-04-15"));
    assert_eq!(
        decision,
        ShipmentDecision {
            verdict: Verdict::Allow,
            reason: None,
            rule: None,
            evaluated_on: date("2026-04-15"),
            legal_entity: Some(SENDER.to_owned()),
            hgr: Some(true),
            biosafety_level: Some(2),
            unit: Some("tube".to_owned()),
            sample_type: Some("whole_blood".to_owned()),
            retention_days: Some(365),
            storage_facility: Some(FACILITY.to_owned()),
            hgr_approvals: vec![EXPORT_APPROVAL.to_owned()],
        }
    );
    assert!(decision.is_allowed());
}

/// The sender's legal entity, not its id, is recorded; every qualifying approval is listed (in
/// reference order), and one that does not qualify is left out.
#[test]
fn allowed_shipment_records_entity_and_every_qualifying_approval() {
    let mut r = reference();
    r.sender().legal_entity = "sz-group".to_owned();
    for (reference, status) in [
        ("HGR-EX-0001", ApprovalStatus::Effective),
        ("HGR-EX-9999", ApprovalStatus::Revoked),
    ] {
        let mut approval = r.export_approval().clone();
        approval.reference = reference.to_owned();
        approval.status = status;
        r.hgr_approvals.insert(reference.to_owned(), approval);
        r.blood().hgr_approvals.insert(reference.to_owned());
    }
    let decision = evaluate_shipment(&r, &shipment(), day("2026-04-15"));
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(decision.legal_entity.as_deref(), Some("sz-group"));
    assert_eq!(
        decision.hgr_approvals,
        ["HGR-EX-0001".to_owned(), EXPORT_APPROVAL.to_owned()]
    );
    // Material that is not HGR relies on no approval, even a listed one.
    r.blood().hgr = false;
    let decision = evaluate_shipment(&r, &shipment(), day("2026-04-15"));
    assert!(decision.is_allowed(), "{decision:?}");
    assert!(decision.hgr_approvals.is_empty());
}

/// What a denial keeps: the sender's entity once S1-S2 passed, the item's fields once S4
/// passed, the approvals once S7 passed; nothing a later rule would have set.
#[test]
fn a_denial_keeps_what_the_rules_before_it_established() {
    struct Stage {
        name: &'static str,
        tweak: fn(&mut Registry),
        request: ShipmentRequest,
        entity: bool,
        item: bool,
        approvals: bool,
    }
    let stages = [
        Stage {
            name: "S1",
            tweak: |r| r.sender().status = Status::Revoked,
            request: shipment(),
            entity: false,
            item: false,
            approvals: false,
        },
        Stage {
            name: "S2",
            tweak: |r| r.sender().park = Park::None,
            request: shipment(),
            entity: false,
            item: false,
            approvals: false,
        },
        Stage {
            name: "S3",
            tweak: |r| r.recipient().status = Status::Revoked,
            request: shipment(),
            entity: true,
            item: false,
            approvals: false,
        },
        Stage {
            name: "S4 (purpose)",
            tweak: same,
            request: ShipmentRequest {
                purpose: NP_PURPOSE.to_owned(),
                ..shipment()
            },
            entity: true,
            item: false,
            approvals: false,
        },
        Stage {
            name: "S5",
            tweak: same,
            request: quantity(0),
            entity: true,
            item: true,
            approvals: false,
        },
        Stage {
            name: "S6",
            tweak: |r| r.blood().biosafety_level = 3,
            request: shipment(),
            entity: true,
            item: true,
            approvals: false,
        },
        Stage {
            name: "S7",
            tweak: |r| r.export_approval().status = ApprovalStatus::Revoked,
            request: shipment(),
            entity: true,
            item: true,
            approvals: false,
        },
        Stage {
            name: "S8",
            tweak: |r| r.carrier(CARRIER).status = Status::Suspended,
            request: shipment(),
            entity: true,
            item: true,
            approvals: true,
        },
    ];
    for stage in stages {
        let mut r = reference();
        (stage.tweak)(&mut r);
        let d = evaluate_shipment(&r, &stage.request, day("2026-04-15"));
        let name = stage.name;
        assert_eq!(d.verdict, Verdict::Deny, "{name}: {d:?}");
        assert_eq!(d.rule.map(|n| format!("S{n}")), Some(name[..2].to_owned()));
        assert_eq!(d.legal_entity.is_some(), stage.entity, "{name}: {d:?}");
        for (field, set) in [
            ("hgr", d.hgr.is_some()),
            ("biosafety_level", d.biosafety_level.is_some()),
            ("unit", d.unit.is_some()),
            ("sample_type", d.sample_type.is_some()),
            ("retention_days", d.retention_days.is_some()),
            ("storage_facility", d.storage_facility.is_some()),
        ] {
            assert_eq!(set, stage.item, "{name}: {field} in {d:?}");
        }
        assert_eq!(
            !d.hgr_approvals.is_empty(),
            stage.approvals,
            "{name}: {d:?}"
        );
    }
}

#[test]
fn shipment_rule_numbers() {
    use loopgate_policy::ReasonCode::*;
    let table: &[(R, Option<u8>)] = &[
        (TenantNotWhitelisted, Some(1)),
        (TenantNotValid, Some(1)),
        (TenantOutsideGba, Some(2)),
        (TenantNotInSenderPark, Some(2)),
        (RecipientNotWhitelisted, Some(3)),
        (RecipientNotInHkPark, Some(3)),
        (SampleUnknownItem, Some(4)),
        (SamplePurposeNotAllowed, Some(4)),
        (SampleQuantityExceeded, Some(5)),
        (SampleBiosafetyLevel, Some(6)),
        (HgrExportApprovalMissing, Some(7)),
        (CarrierNotWhitelisted, Some(8)),
        (CarrierNotValid, Some(8)),
        (CustodyInvalidTransition, Some(9)),
        (CustodyBadTime, Some(10)),
        (CustodyMissingEvidence, Some(10)),
        // Codes of data transfers only, and the gateway's own.
        (InventoryUnknownItem, None),
        (HgrFilingMissing, None),
        (LifecycleBadTime, None),
        (AuthForbidden, None),
        (RequestIdempotencyConflict, None),
    ];
    for (code, rule) in table {
        assert_eq!(code.shipment_rule(), *rule, "{code}");
    }
    // The shipment codes of their own carry no data-transfer rule number.
    for code in R::ALL {
        if code.shipment_rule().is_some_and(|s| s >= 4) {
            assert_eq!(code.rule(), None, "{code}");
        }
    }
    assert_eq!(RequestIdempotencyConflict.http_status(), 422);
    assert_eq!(CustodyInvalidTransition.http_status(), 409);
    assert_eq!(CustodyBadTime.http_status(), 422);
    assert_eq!(CustodyMissingEvidence.http_status(), 422);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// S5 and S6 against their plain statement, for any quantity and any limits; the
        /// decision is deterministic and only the UTC+8 day of `at` matters.
        #[test]
        fn quantity_and_biosafety_as_stated(
            quantity in prop_oneof![any::<i64>(), -3i64..300],
            max_quantity in prop_oneof![1u64..300, Just(u64::MAX)],
            level in 1u8..=4,
            max_level in 1u8..=4,
            second in 0i64..86_400,
        ) {
            let mut r = reference();
            r.blood().max_quantity = max_quantity;
            r.blood().biosafety_level = level;
            r.parameters.max_biosafety_level = max_level;
            let request = ShipmentRequest { quantity, ..shipment() };
            let midnight = parse_at("2026-04-15T00:00:00+08:00");
            let at = midnight + time::Duration::seconds(second);
            let decision = evaluate_shipment(&r, &request, at);
            let quantity_ok = quantity >= 1 && quantity.unsigned_abs() <= max_quantity;
            let expected = if !quantity_ok {
                Some(R::SampleQuantityExceeded)
            } else if level > max_level {
                Some(R::SampleBiosafetyLevel)
            } else {
                None
            };
            prop_assert_eq!(decision.reason, expected);
            prop_assert_eq!(decision.rule, expected.and_then(R::shipment_rule));
            prop_assert_eq!(decision.is_allowed(), expected.is_none());
            prop_assert_eq!(&decision, &evaluate_shipment(&r, &request, midnight));
        }
    }
}

/// S8 again for a carrier reporting a custody step: the same codes, on the day of the step.
#[test]
fn a_carrier_taking_a_step_is_checked_as_s8_checks_it() {
    use loopgate_policy::check_carrier;
    type Case = (
        &'static str,
        fn(&mut Registry),
        &'static str,
        &'static str,
        Result<(), R>,
    );
    let cases: [Case; 8] = [
        ("valid", same, CARRIER, "2026-04-15T12:00:00+08:00", Ok(())),
        (
            "unknown",
            same,
            "fly-by-night",
            "2026-04-15T12:00:00+08:00",
            Err(R::CarrierNotWhitelisted),
        ),
        (
            "suspended",
            |r| r.carrier(CARRIER).status = Status::Suspended,
            CARRIER,
            "2026-04-15T12:00:00+08:00",
            Err(R::CarrierNotValid),
        ),
        (
            "revoked",
            |r| r.carrier(CARRIER).status = Status::Revoked,
            CARRIER,
            "2026-04-15T12:00:00+08:00",
            Err(R::CarrierNotValid),
        ),
        (
            "first day",
            carrier_april,
            CARRIER,
            "2026-04-01T00:00:00+08:00",
            Ok(()),
        ),
        (
            "the day before",
            carrier_april,
            CARRIER,
            "2026-03-31T23:59:59+08:00",
            Err(R::CarrierNotValid),
        ),
        (
            "last day",
            carrier_april,
            CARRIER,
            "2026-04-30T23:59:59+08:00",
            Ok(()),
        ),
        // 16:00 UTC on the last day is already the next day in UTC+8.
        (
            "the day after",
            carrier_april,
            CARRIER,
            "2026-04-30T16:00:00Z",
            Err(R::CarrierNotValid),
        ),
    ];
    for (name, tweak, carrier, at, expect) in cases {
        let mut registry = reference();
        tweak(&mut registry);
        assert_eq!(
            check_carrier(&registry, carrier, parse_at(at)),
            expect,
            "{name}"
        );
    }
}
