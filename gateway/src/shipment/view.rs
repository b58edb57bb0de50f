//! What the gateway keeps in memory about shipments, rebuilt from the log at start and updated
//! after every durable append (as `views.rs` is for transfers): the regulators' list (every
//! shipment still open, and every one whose chain raised a discrepancy) and the declarations'
//! `idempotency_key`s. A shipment that closes without a discrepancy leaves the list, so what is
//! held grows with the shipments under way, not with the log's history. Nothing here decides:
//! a new custody event is checked against its chain as read from the log.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use loopgate_audit::{Kind, Record};
use loopgate_policy::Custody;

use super::chain::start;
use super::records::{CustodyDetails, ShipmentDetails};
use crate::record;

/// One shipment on the regulators' list.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub(crate) shipment_id: String,
    pub(crate) sender: String,
    pub(crate) recipient: String,
    pub(crate) carrier: String,
    pub(crate) sample_item: String,
    /// Whether the samples are human genetic resources (regulator scope), as declared.
    pub(crate) hgr: Option<bool>,
    pub(crate) declared_quantity: u64,
    /// The custody state with every accepted event applied.
    pub(crate) custody: Custody,
    /// The log index of the declaration and of the chain's latest record.
    pub(crate) declared_index: u64,
    pub(crate) last_index: u64,
}

#[derive(Debug, Default)]
struct Inner {
    tracked: BTreeMap<String, Tracked>,
    keys: HashMap<(String, String), String>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Shipments {
    inner: Mutex<Inner>,
    /// Serialises declarations that carry an `idempotency_key`, so a retry racing its first
    /// request finds the first one's key (declarations are rare; transfers never take it).
    pub(crate) declaring: tokio::sync::Mutex<()>,
}

impl Shipments {
    /// Updates the list and the keys with the durable `record` at `index`.
    pub(crate) fn observe(&self, index: u64, record: &Record) {
        let Some(id) = record.shipment_id.as_deref() else {
            return;
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match record.kind {
            Kind::Shipment => {
                let Some(details) = record::read::<ShipmentDetails>(record) else {
                    return;
                };
                if let (Some(sender), Some(key)) = (&record.sender, &details.idempotency_key) {
                    inner
                        .keys
                        .insert((sender.clone(), key.to_string()), id.to_owned());
                }
                let Some(custody) = start(record) else {
                    return;
                };
                let tracked = Tracked {
                    shipment_id: id.to_owned(),
                    sender: record.sender.clone().unwrap_or_default(),
                    recipient: record.recipient.clone().unwrap_or_default(),
                    carrier: details.carrier.to_string(),
                    sample_item: record.sample_item.clone().unwrap_or_default(),
                    hgr: details.hgr,
                    declared_quantity: custody.held(),
                    custody,
                    declared_index: index,
                    last_index: index,
                };
                inner.tracked.insert(id.to_owned(), tracked);
            }
            Kind::Custody => {
                if matches!(record.reason, Some(Some(_))) {
                    return;
                }
                let Some(details) = record::read::<CustodyDetails>(record) else {
                    return;
                };
                let Some(tracked) = inner.tracked.get_mut(id) else {
                    return;
                };
                details.apply_to(&mut tracked.custody);
                tracked.last_index = index;
                if tracked.custody.is_closed() && tracked.custody.flags().is_empty() {
                    inner.tracked.remove(id);
                }
            }
            _ => {}
        }
    }

    /// The shipment `sender` declared with `key`, if any.
    pub(crate) fn key(&self, sender: &str, key: &str) -> Option<String> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .keys
            .get(&(sender.to_owned(), key.to_owned()))
            .cloned()
    }

    /// Every shipment on the list, in shipment id order (ids sort by declaration time).
    pub(crate) fn list(&self) -> Vec<Tracked> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tracked.values().cloned().collect()
    }
}
