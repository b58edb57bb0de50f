//! What the shipment records hold, byte for byte where the format is the contract.

use loopgate_policy::{CustodyEvent, CustodyFlag, CustodyParty, ShipmentRequest, parse_bundle};
use time::OffsetDateTime;
use time::macros::{date, datetime};

use super::*;
use crate::identity::Role;

const AT: OffsetDateTime = datetime!(2026-11-25 10:00:00 UTC);

fn declaration(quantity: i64) -> Declaration {
    Declaration {
        sample_item: "SMP-BLOOD-001".into(),
        recipient: "hk-biolab".into(),
        quantity,
        purpose: "research.cohort_study".into(),
        carrier: "hkp-logistics".into(),
        idempotency_key: Some("k-1".into()),
    }
}

fn record(quantity: i64) -> Record {
    let registry = parse_bundle(&crate::devmode::sample_bundle(date!(2026 - 11 - 25)))
        .unwrap()
        .registry;
    let declared = declaration(quantity);
    let request = ShipmentRequest {
        sender: "sz-genomics".into(),
        recipient: declared.recipient.clone(),
        sample_item: declared.sample_item.clone(),
        quantity,
        purpose: declared.purpose.clone(),
        carrier: declared.carrier.clone(),
    };
    let decision = loopgate_policy::evaluate_shipment(&registry, &request, AT);
    shipment("s-1", "sz-genomics", &declared, &decision, 7, AT).unwrap()
}

#[test]
fn an_allowed_declaration_records_what_the_chain_is_checked_against() {
    let leaf = record(24).to_leaf().unwrap();
    assert_eq!(
        String::from_utf8(leaf).unwrap(),
        r#"{"v":1,"kind":"shipment","time":"2026-11-25T10:00:00Z","shipment_id":"s-1","sender":"sz-genomics","recipient":"hk-biolab","sample_item":"SMP-BLOOD-001","decision":"allow","reason":null,"biosafety_level":2,"carrier":"hkp-logistics","evaluated_on":"2026-11-25","hgr":true,"hgr_approvals":["HGR-EX-DEMO-001"],"idempotency_key":"k-1","legal_entity":"sz-genomics","policy_version":7,"purpose":"research.cohort_study","quantity":24,"retention_days":365,"rule":null,"sample_type":"whole_blood","storage_facility":"HKP-BIOBANK-1","unit":"tube"}"#
    );
    let denied = record(0);
    assert_eq!(
        denied.reason,
        Some(Some("sample.quantity_exceeded".to_owned()))
    );
    let details = crate::record::read::<ShipmentDetails>(&denied).unwrap();
    assert_eq!(details.rule.as_deref(), Some("S5"));
    assert_eq!(details.quantity, 0);
    assert!(details.same_request(&denied, &declaration(0)));
    assert!(!details.same_request(&denied, &declaration(1)));
}

#[test]
fn a_custody_record_carries_the_chain_s_parties_and_its_verdict() {
    let declared = record(24);
    let body = Event {
        at: Some(AT),
        seal_ids: Some(vec!["SEAL-2".into(), "SEAL-1".into()]),
        note: Some("re-sealed at the border".into()),
        ..Event::default()
    };
    let reported = |verdict| Reported {
        declaration: &declared,
        carrier: "hkp-logistics",
        hgr: Some(true),
        principal: "carrier/hkp-logistics".into(),
        event: CustodyEvent::PickedUp,
        body: &body,
        verdict,
        held: 24,
    };
    let accepted = custody(&reported(Ok(vec![CustodyFlag::SealMismatch])), AT).unwrap();
    assert_eq!(accepted.reason, None, "an accepted step has no reason");
    assert_eq!(
        (
            &accepted.shipment_id,
            &accepted.sender,
            &accepted.recipient,
            &accepted.sample_item
        ),
        (
            &declared.shipment_id,
            &declared.sender,
            &declared.recipient,
            &declared.sample_item
        )
    );
    let details = crate::record::read::<CustodyDetails>(&accepted).unwrap();
    assert_eq!(details.flags, [CustodyFlag::SealMismatch]);
    assert_eq!(details.seals(), ["SEAL-2", "SEAL-1"]);
    assert_eq!(details.report(&details.seals()).by, CustodyParty::Carrier);
    assert_eq!(details.held, 24);
    let refused = custody(&reported(Err(ReasonCode::CustodyBadTime)), AT).unwrap();
    assert_eq!(refused.reason, Some(Some("custody.bad_time".to_owned())));
    let details = crate::record::read::<CustodyDetails>(&refused).unwrap();
    assert!(details.flags.is_empty(), "a refusal raises no flag");
}

#[test]
fn a_principal_is_a_party_by_its_role_and_id() {
    let declared = record(24);
    for (role, id, party) in [
        (Role::Tenant, "sz-genomics", Some(CustodyParty::Sender)),
        (Role::Tenant, "hk-biolab", Some(CustodyParty::Recipient)),
        (Role::Carrier, "hkp-logistics", Some(CustodyParty::Carrier)),
        // Names count only in their own role.
        (Role::Carrier, "sz-genomics", None),
        (Role::Tenant, "hkp-logistics", None),
        (Role::Carrier, "other-logistics", None),
        (Role::Regulator, "hk-biolab", None),
    ] {
        assert_eq!(
            party_of(&declared, "hkp-logistics", role, id),
            party,
            "{role:?} {id}"
        );
    }
}
