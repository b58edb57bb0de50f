//! The regulators' list of shipments and the declarations' keys, fed with records as the
//! gateway writes them (`records::shipment`, `records::custody`).

use loopgate_policy::{
    CustodyEvent, CustodyFlag, ReasonCode, ShipmentRequest, evaluate_shipment, parse_bundle,
};
use time::OffsetDateTime;
use time::macros::{date, datetime};

use super::*;
use crate::shipment::records::{self, Declaration, Event, Reported};

const AT: OffsetDateTime = datetime!(2026-11-25 10:00:00 UTC);
const T: OffsetDateTime = datetime!(2026-11-25 11:00:00 UTC);
const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

fn declared(id: &str, quantity: i64, key: Option<&str>) -> Record {
    let registry = parse_bundle(&crate::devmode::sample_bundle(date!(2026 - 11 - 25)))
        .unwrap()
        .registry;
    let declaration = Declaration {
        sample_item: "SMP-BLOOD-001".into(),
        recipient: "hk-biolab".into(),
        quantity,
        purpose: "research.cohort_study".into(),
        carrier: "hkp-logistics".into(),
        idempotency_key: key.map(str::to_owned),
    };
    let request = ShipmentRequest {
        sender: "sz-genomics".into(),
        recipient: declaration.recipient.clone(),
        sample_item: declaration.sample_item.clone(),
        quantity,
        purpose: declaration.purpose.clone(),
        carrier: declaration.carrier.clone(),
    };
    let decision = evaluate_shipment(&registry, &request, AT);
    records::shipment(id, "sz-genomics", &declaration, &decision, 7, AT).unwrap()
}

fn step(
    declaration: &Record,
    event: CustodyEvent,
    body: Event,
    verdict: Result<Vec<CustodyFlag>, ReasonCode>,
) -> Record {
    let reported = Reported {
        declaration,
        carrier: "hkp-logistics",
        hgr: Some(true),
        principal: "tenant/hk-biolab".into(),
        event,
        body: &body,
        verdict,
        held: 0,
    };
    records::custody(&reported, AT).unwrap()
}

fn received(quantity: u64) -> Event {
    Event {
        at: Some(AT),
        quantity: Some(quantity),
        seal_ids: Some(vec!["SEAL-1".into()]),
        ..Event::default()
    }
}

/// The recipient's receipt of `quantity`, fewer samples than `declaration` declared.
fn received_short(declaration: &Record, quantity: u64) -> Record {
    step(
        declaration,
        CustodyEvent::Received,
        received(quantity),
        Ok(vec![CustodyFlag::QuantityMismatch]),
    )
}

/// The log indexes the views tree keeps for shipment `id`.
fn listed_indexes(shipments: &Shipments, id: &str) -> Vec<u64> {
    let stored = shipments
        .tree
        .now()
        .unwrap()
        .get([LISTED, id.as_bytes()].concat())
        .unwrap()
        .unwrap();
    stored
        .chunks_exact(8)
        .map(|at| keys::u64_at(at, 0))
        .collect()
}

fn ids(shipments: &Shipments) -> Vec<String> {
    shipments
        .list()
        .into_iter()
        .map(|t| t.shipment_id)
        .collect()
}

#[test]
fn an_allowed_declaration_is_listed_and_a_denied_one_only_keeps_its_key() {
    let shipments = Shipments::temporary();
    shipments.observe(3, &declared("s-1", 24, Some("k-1")));
    shipments.observe(4, &declared("s-2", 0, Some("k-2")));
    assert_eq!(ids(&shipments), ["s-1"]);
    let listed = &shipments.list()[0];
    assert_eq!(
        (
            listed.declared_index,
            listed.last_index,
            listed.declared_quantity
        ),
        (3, 3, 24)
    );
    assert_eq!(listed.carrier, "hkp-logistics");
    assert_eq!(listed.hgr, Some(true));
    assert_eq!(
        shipments
            .key("sz-genomics", "k-1", T, DAY)
            .unwrap()
            .as_deref(),
        Some("s-1")
    );
    assert_eq!(
        shipments
            .key("sz-genomics", "k-2", T, DAY)
            .unwrap()
            .as_deref(),
        Some("s-2")
    );
    assert_eq!(
        shipments.key("hk-biolab", "k-1", T, DAY).unwrap(),
        None,
        "keys are the sender's"
    );
    // A day after the declaration the keys are forgotten, and purged.
    let later = AT + time::Duration::seconds(86_401);
    assert_eq!(
        shipments.key("sz-genomics", "k-1", later, DAY).unwrap(),
        None
    );
    assert_eq!(shipments.purge(later, DAY).unwrap(), 2);
}

#[test]
fn the_list_is_loaded_back_from_the_indexes_it_keeps() {
    let shipments = Shipments::temporary();
    let declaration = declared("s-9", 24, None);
    let mut log = vec![declaration.clone()];
    shipments.observe(0, &declaration);
    let short = received_short(&declaration, 20);
    log.push(short.clone());
    shipments.observe(1, &short);
    let before = shipments.list();
    // A new process: the same tree, nothing in memory; the records come from the "log".
    let again = Shipments::new(shipments.tree.clone());
    let loaded = again
        .load(|i| Ok::<_, sled::Error>(log[usize::try_from(i).unwrap()].clone()))
        .unwrap();
    assert_eq!(loaded, 1);
    let after = again.list();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].custody.held(), 20);
    assert_eq!(
        (after[0].last_index, after[0].custody.flags()),
        (before[0].last_index, before[0].custody.flags())
    );
}

#[test]
fn refused_steps_change_nothing_and_a_clean_close_leaves_the_list() {
    let shipments = Shipments::temporary();
    let declaration = declared("s-1", 2, None);
    shipments.observe(0, &declaration);
    // Refused: not applied, whatever it says.
    let refused = step(
        &declaration,
        CustodyEvent::Received,
        received(0),
        Err(ReasonCode::CustodyInvalidTransition),
    );
    shipments.observe(1, &refused);
    let listed = &shipments.list()[0];
    assert_eq!((listed.last_index, listed.custody.last_event()), (0, None));
    // Accepted, closing (nothing received) without a flag: the shipment leaves the list.
    let closing = step(
        &declaration,
        CustodyEvent::Received,
        received(0),
        Ok(vec![]),
    );
    shipments.observe(2, &closing);
    assert!(ids(&shipments).is_empty());
}

#[test]
fn a_flagged_shipment_stays_listed_once_closed() {
    let shipments = Shipments::temporary();
    let declaration = declared("s-1", 2, None);
    shipments.observe(0, &declaration);
    let short = received_short(&declaration, 0);
    shipments.observe(5, &short);
    let listed = shipments.list();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].custody.is_closed());
    assert_eq!(listed[0].last_index, 5);
    assert!(
        listed[0]
            .custody
            .flags()
            .contains(&CustodyFlag::QuantityMismatch)
    );
}

/// A custody event whose batch was never applied (the sled write failed, or a later step of the
/// same record did) changes nothing in memory: applied again from the log, it counts once.
#[test]
fn an_event_whose_batch_failed_is_applied_once_when_retried() {
    let shipments = Shipments::temporary();
    let declaration = declared("s-1", 24, None);
    shipments.observe(0, &declaration);
    let short = received_short(&declaration, 20);
    // First attempt: the batch is built, then lost.
    let mut lost = Changes::new(shipments.tree.now().unwrap());
    let mut never_committed = Relisted::default();
    shipments
        .observe_into(&mut lost, &mut never_committed, 1, &short)
        .unwrap();
    assert_eq!(shipments.list()[0].last_index, 0, "nothing changed yet");
    assert_eq!(shipments.list()[0].custody.last_event(), None);
    // The follower applies it again from the log.
    shipments.observe(1, &short);
    let listed = &shipments.list()[0];
    assert_eq!(listed.last_index, 1);
    assert_eq!(listed.custody.held(), 20);
    assert_eq!(
        listed_indexes(&shipments, "s-1"),
        [0, 1],
        "the declaration and the event, once each"
    );
}

/// Records applied as one batch see what those before them in the batch changed: an event
/// finds the shipment its declaration (in the same batch) listed, on the list and in the
/// tree, and nothing is on the list until the batch is committed.
#[test]
fn records_of_one_batch_see_each_others_changes() {
    let shipments = Shipments::temporary();
    let declaration = declared("s-1", 24, None);
    let short = received_short(&declaration, 20);
    let mut changes = Changes::new(shipments.tree.now().unwrap());
    let mut relisted = Relisted::default();
    for (index, record) in [(0, &declaration), (1, &short)] {
        shipments
            .observe_into(&mut changes, &mut relisted, index, record)
            .unwrap();
    }
    assert!(
        shipments.list().is_empty(),
        "nothing listed before the commit"
    );
    changes.apply().unwrap();
    shipments.commit(relisted);
    let listed = &shipments.list()[0];
    assert_eq!((listed.last_index, listed.custody.held()), (1, 20));
    assert_eq!(
        listed_indexes(&shipments, "s-1"),
        [0, 1],
        "the declaration and the event"
    );
}
