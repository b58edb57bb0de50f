//! Every reason code a rule returns (`ReasonCode::rule()` is `Some`) is produced by some row of
//! the rule tables: a code no row produces is a rule no test pins down. The tables are the
//! `rules_*.rs` files themselves, included here so they are run from one test binary.
#![allow(clippy::unwrap_used)]
// Each included table file declares `mod common;` for its own test binary; here they are
// loaded together, so the helper module is compiled once per table (on purpose).
#![allow(clippy::duplicate_mod)]

#[path = "rules_contract.rs"]
mod contract;
#[path = "rules_identity.rs"]
mod identity;
#[path = "rules_inventory.rs"]
mod inventory;
#[path = "rules_lifecycle.rs"]
mod lifecycle;
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
fn rule_numbers_follow_the_order_of_all() {
    // ReasonCode::ALL lists rule codes in rule order, then the request-level codes.
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
    assert!(
        ReasonCode::ALL[first_non_rule..]
            .iter()
            .all(|c| c.rule().is_none())
    );
}

#[test]
fn codes_round_trip_through_their_spelling() {
    for code in ReasonCode::ALL {
        assert_eq!(code.as_str().parse::<ReasonCode>(), Ok(*code));
        assert_eq!(code.to_string(), code.as_str());
    }
    assert!("tenant.nope".parse::<ReasonCode>().is_err());
}
