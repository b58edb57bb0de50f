//! Every reason code a rule returns (`ReasonCode::rule()` or `ReasonCode::shipment_rule()` is
//! `Some`) is produced by some row of the rule tables: a code no row produces is a rule no test
//! pins down. The tables are the `rules_*.rs` and `custody.rs` files themselves, included here
//! so they are run from one test binary.
#![allow(clippy::unwrap_used)]
// Each included table file declares `mod common;` for its own test binary; here they are
// loaded together, so the helper module is compiled once per table (on purpose).
#![allow(clippy::duplicate_mod)]

#[path = "rules_contract.rs"]
mod contract;
#[path = "custody.rs"]
mod custody;
#[path = "rules_identity.rs"]
mod identity;
#[path = "rules_inventory.rs"]
mod inventory;
#[path = "rules_lifecycle.rs"]
mod lifecycle;
#[path = "rules_samples.rs"]
mod samples;
#[path = "rules_volume.rs"]
mod volume;

use std::collections::BTreeSet;

use loopgate_policy::ReasonCode;

#[test]
fn every_rule_code_is_produced_by_a_table_row() {
    let mut seen = BTreeSet::new();
    seen.extend(identity::common::run_table(&identity::cases()));
    seen.extend(inventory::common::run_table(&inventory::cases()));
    seen.extend(contract::common::run_table(&contract::cases()));
    seen.extend(volume::common::run_table(&volume::cases()));
    seen.extend(lifecycle::codes());
    let expected: BTreeSet<ReasonCode> = ReasonCode::ALL
        .iter()
        .copied()
        .filter(|code| code.rule().is_some())
        .collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "codes no table row produces: {missing:?}"
    );
    // Rule 11 also denies with `request.malformed_header`, a code of no fixed rule; auth.forbidden
    // is rule 20's first answer.
    seen.remove(&ReasonCode::RequestMalformedHeader);
    seen.remove(&ReasonCode::AuthForbidden);
    let stray: Vec<_> = seen.difference(&expected).collect();
    assert!(stray.is_empty(), "codes that are not rule codes: {stray:?}");
}

#[test]
fn every_shipment_rule_code_is_produced_by_a_table_row() {
    let mut seen = BTreeSet::new();
    seen.extend(samples::run(&samples::rows()));
    seen.extend(custody::codes());
    let expected: BTreeSet<ReasonCode> = ReasonCode::ALL
        .iter()
        .copied()
        .filter(|code| code.shipment_rule().is_some())
        .collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "codes no table row produces: {missing:?}"
    );
    // S9 also refuses a custody event by the wrong party with auth.forbidden, the gateway's code.
    seen.remove(&ReasonCode::AuthForbidden);
    let stray: Vec<_> = seen.difference(&expected).collect();
    assert!(
        stray.is_empty(),
        "codes that are not shipment rule codes: {stray:?}"
    );
}

/// S1-S3 are rules 1-3: every identity row decides a shipment between the same parties, on the
/// same registry and day, with the same code at the same rule number, and lets it past S3 when
/// it lets the transfer past rule 3.
#[test]
fn shipments_share_rules_1_to_3_with_transfers() {
    use identity::common::{reference, shipment};
    for case in identity::cases() {
        let transfer = case.decide();
        let mut registry = reference();
        (case.tweak)(&mut registry);
        let request = loopgate_policy::ShipmentRequest {
            sender: case.request.sender.clone(),
            recipient: case.request.recipient.clone(),
            ..shipment()
        };
        let decided = loopgate_policy::evaluate_shipment(&registry, &request, case.at);
        match transfer.rule {
            Some(rule @ 1..=3) => {
                assert_eq!(decided.reason, transfer.reason, "{}", case.name);
                assert_eq!(decided.rule, Some(rule), "{}", case.name);
                assert_eq!(
                    decided.legal_entity, transfer.legal_entity,
                    "{}: legal entity",
                    case.name
                );
            }
            _ => assert!(
                decided.rule.is_none_or(|rule| rule >= 4),
                "{}: {decided:?}",
                case.name
            ),
        }
    }
}

#[test]
fn rule_numbers_follow_the_order_of_all() {
    // ReasonCode::ALL lists the data-transfer rules' codes in rule order, then the shipment
    // rules' own codes in S-rule order, then the request-level codes.
    let rules: Vec<u8> = ReasonCode::ALL.iter().filter_map(|c| c.rule()).collect();
    assert!(rules.windows(2).all(|w| w[0] <= w[1]), "{rules:?}");
    assert_eq!(rules.first(), Some(&1));
    assert_eq!(rules.last(), Some(&20));
    for n in 1..=20u8 {
        assert!(rules.contains(&n), "no code for rule {n}");
    }
    let first_non_rule = ReasonCode::ALL
        .iter()
        .position(|c| c.rule().is_none())
        .unwrap();
    let rest = &ReasonCode::ALL[first_non_rule..];
    assert!(rest.iter().all(|c| c.rule().is_none()));
    // The shipment rules' own codes come first among the rest, S4 to S10 in order; every
    // S-rule that refuses (S11 flags and S12 lists, they never refuse) has a code.
    let own = rest
        .iter()
        .take_while(|c| c.shipment_rule().is_some())
        .count();
    let shipment: Vec<u8> = rest[..own]
        .iter()
        .filter_map(|c| c.shipment_rule())
        .collect();
    assert!(shipment.windows(2).all(|w| w[0] <= w[1]), "{shipment:?}");
    assert_eq!(shipment.first(), Some(&4));
    assert_eq!(shipment.last(), Some(&10));
    for n in 4..=10u8 {
        assert!(shipment.contains(&n), "no code for rule S{n}");
    }
    assert!(rest[own..].iter().all(|c| c.shipment_rule().is_none()));
    // S1-S3 are rules 1-3: exactly their codes, with the same number.
    for code in ReasonCode::ALL {
        let shared = code.rule().filter(|rule| (1..=3).contains(rule));
        if code.shipment_rule().is_none_or(|s| s <= 3) {
            assert_eq!(code.shipment_rule(), shared, "{code}");
        }
    }
}

#[test]
fn codes_round_trip_through_their_spelling() {
    for code in ReasonCode::ALL {
        assert_eq!(code.as_str().parse::<ReasonCode>(), Ok(*code));
        assert_eq!(code.to_string(), code.as_str());
    }
    assert!("tenant.nope".parse::<ReasonCode>().is_err());
}
