//! A shipment's chain: every record the log holds about one shipment (its declaration, then its
//! custody events, accepted or refused), in log order, and the custody state the accepted events
//! fold into (`loopgate_policy::Custody`). The same fold serves a new event's check, the parties'
//! view and the regulators' list, so the state is always what the log says (DESIGN.md invariant
//! 10).

use loopgate_audit::{Field, Kind, Log, Record, Verdict};
use loopgate_policy::{Custody, Declared};

use super::records::{CustodyDetails, ShipmentDetails};
use crate::record;
use crate::transfer::history::{Found, read_all};

/// Most records one shipment has: one index query reads them all.
pub(crate) const MAX_RECORDS: usize = 1000;

/// Every record of one shipment, in log order.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    records: Vec<Found>,
}

impl Chain {
    /// Reads the records of `shipment_id` through the log's shipment index (blocking).
    pub(crate) fn read(log: &Log, shipment_id: &str) -> Result<Self, loopgate_audit::Error> {
        let records = read_all(log, Field::Shipment, shipment_id, MAX_RECORDS)?;
        Ok(Self { records })
    }

    /// Every record, in log order.
    pub(crate) fn records(&self) -> &[Found] {
        &self.records
    }

    /// The latest record.
    pub(crate) fn last(&self) -> Option<&Found> {
        self.records.last()
    }

    /// The declaration; `None` when the log has no such shipment.
    pub(crate) fn declaration(&self) -> Option<&Found> {
        self.records
            .iter()
            .find(|f| f.record.kind == Kind::Shipment)
    }

    /// The declaration's details.
    pub(crate) fn details(&self) -> Option<ShipmentDetails<'_>> {
        self.declaration().and_then(|f| record::read(&f.record))
    }

    /// The custody records, accepted and refused, with their details.
    pub(crate) fn events(&self) -> impl Iterator<Item = (&Found, CustodyDetails<'_>)> {
        self.records
            .iter()
            .filter_map(|f| Some((f, record::read::<CustodyDetails>(&f.record)?)))
    }

    /// How many custody records (accepted or refused) it has.
    pub(crate) fn logged_events(&self) -> usize {
        self.records
            .iter()
            .filter(|f| f.record.kind == Kind::Custody)
            .count()
    }

    /// The custody state of an allowed declaration, with every accepted event applied.
    pub(crate) fn custody(&self) -> Option<Custody> {
        let declaration = self.declaration()?;
        let mut custody = start(&declaration.record)?;
        for (found, details) in self.events() {
            if !found.refused() {
                details.apply_to(&mut custody);
            }
        }
        Some(custody)
    }
}

/// The custody state an allowed `shipment` record starts: `None` for a denial or a record
/// whose details cannot be read.
pub(crate) fn start(declaration: &Record) -> Option<Custody> {
    if declaration.decision != Some(Verdict::Allow) {
        return None;
    }
    let details = record::read::<ShipmentDetails>(declaration)?;
    Some(Custody::new(Declared {
        quantity: u64::try_from(details.quantity).ok()?,
        storage_facility: details.storage_facility?.into_owned(),
        retention_days: details.retention_days?,
        at: declaration.instant().ok()?,
    }))
}
