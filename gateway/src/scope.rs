//! Which regulators see a record (`[[regulator]] sees`, SPEC.md section 4). A transfer's
//! records fall under the scope of its data's class (`personal`, `important`, `non_personal`),
//! and under `hgr` as well when the data is human genetic resources information; a shipment's
//! under `samples` (and `hgr`). The class is read from the record itself, which repeats it on
//! every record of the transfer; records of the first version did not, and fall back to the
//! item's class in the registry in force. Policy changes, the gateway's own records and
//! records whose class cannot be told are seen only by a regulator that sees `all`.

use loopgate_audit::{Kind, Outcome, Record};
use loopgate_policy::{Registry, Regulator, Scope};

use crate::record;
use crate::shipment::records::{CustodyDetails, ShipmentDetails};
use crate::transfer::lifecycle::LifecycleDetails;
use crate::transfer::records::{CompletedDetails, DataScope, DecisionDetails, FailedDetails};

/// The scopes `record` falls under (none: only `all` sees it).
pub(crate) fn of_record(record: &Record, registry: &Registry) -> Vec<Scope> {
    let recorded = match record.kind {
        Kind::Decision => record::read::<DecisionDetails>(record).map(|d| d.data_scope()),
        Kind::Outcome => match record.outcome {
            Some(Outcome::Completed) => {
                record::read::<CompletedDetails>(record).map(|d| d.data_scope())
            }
            _ => record::read::<FailedDetails>(record).map(|d| d.data_scope()),
        },
        Kind::Lifecycle => record::read::<LifecycleDetails>(record).map(|d| d.data_scope()),
        Kind::Shipment => {
            let hgr = record::read::<ShipmentDetails>(record).and_then(|d| d.hgr);
            return of_shipment(hgr, record.sample_item.as_deref(), registry);
        }
        Kind::Custody => {
            let hgr = record::read::<CustodyDetails>(record).and_then(|d| d.hgr);
            return of_shipment(hgr, record.sample_item.as_deref(), registry);
        }
        Kind::PolicyChange | Kind::System => return Vec::new(),
    };
    match recorded {
        Some(scope) if scope.data_class.is_some() => scope.scopes(),
        _ => of_item(record.item.as_deref(), registry),
    }
}

/// The scopes of an item's records by the registry in force: an inventory item's class, or a
/// sample item's; none for an item it does not know.
pub(crate) fn of_item(item: Option<&str>, registry: &Registry) -> Vec<Scope> {
    let Some(item) = item else {
        return Vec::new();
    };
    if let Some(item) = registry.items.get(item) {
        return Scope::of_transfer(item.data_class, item.hgr);
    }
    if let Some(sample) = registry.sample_items.get(item) {
        return Scope::of_shipment(sample.hgr);
    }
    Vec::new()
}

/// The scopes of a shipment of `sample_item`: `samples`, and `hgr` when the samples are human
/// genetic resources (as its records say, `hgr`, else as the item in the registry in force says).
pub(crate) fn of_shipment(
    hgr: Option<bool>,
    sample_item: Option<&str>,
    registry: &Registry,
) -> Vec<Scope> {
    match hgr {
        Some(hgr) => Scope::of_shipment(hgr),
        None => of_item(sample_item, registry),
    }
}

/// Whether `regulator` sees records under `scopes`.
pub(crate) fn sees(regulator: &Regulator, scopes: &[Scope]) -> bool {
    regulator.sees(Scope::All) || regulator.sees_any(scopes)
}

/// The scopes of a transfer whose data's class `scope` records, or, when it does not, of its
/// item in the registry in force.
pub(crate) fn of_transfer(scope: DataScope, item: &str, registry: &Registry) -> Vec<Scope> {
    if scope.data_class.is_some() {
        scope.scopes()
    } else {
        of_item(Some(item), registry)
    }
}

/// `scopes` as one byte: bit `i` for [`Scope::ALL`]'s `i`th scope (the sled views that sum
/// records per scope keep it in their keys). None: only `all` sees the record.
pub(crate) fn to_bits(scopes: &[Scope]) -> u8 {
    Scope::ALL
        .iter()
        .take(8)
        .enumerate()
        .filter(|(_, s)| scopes.contains(s))
        .fold(0, |bits, (i, _)| bits | (1 << i))
}

/// [`to_bits`] read back.
pub(crate) fn from_bits(bits: u8) -> Vec<Scope> {
    Scope::ALL
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, s)| *s)
        .collect()
}

#[cfg(test)]
mod tests;
