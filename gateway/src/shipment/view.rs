//! What the gateway keeps about shipments, updated by `state::follow` from every durable record
//! in log order (as `views.rs` is for transfers): the regulators' list (every shipment still
//! open, and every one whose chain raised a discrepancy) and the declarations'
//! `idempotency_key`s. A shipment that closes without a discrepancy leaves the list, so the
//! list grows with the shipments under way, not with the log's history; it is held in memory
//! and, so that a restart needs no scan of the log, in the views tree in sled as the log
//! indexes of each listed shipment's accepted records (`s/<shipment id>`), read back at start
//! and when the log reopens its index. A record changes the list in memory only once its batch
//! is applied ([`Shipments::commit`]), so a record applied again after a failed batch counts once.
//! The keys are only in sled, for `[limits] idempotency_retention_hours` (like transfers'
//! `Idempotency-Key`s): `k/<sender><key>` holds the declaration's time (8 bytes) and the
//! shipment id, `q/<time><sender><key>` the same by time for the purge. Nothing here decides:
//! a new custody event is checked against its chain as read from the log.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use loopgate_audit::{Kind, Record};
use loopgate_policy::Custody;

use crate::state::keys::{Changes, ViewsTree};
use time::OffsetDateTime;

use super::chain::start;
use super::records::{CustodyDetails, ShipmentDetails};
use crate::record;
use crate::state::keys;
use crate::transfer::idempotency::{cutoff, expired};

const LISTED: &[u8] = keys::prefix::SHIPMENTS;
const KEYS: &[u8] = keys::prefix::SHIPMENT_KEYS;
const BY_TIME: &[u8] = keys::prefix::SHIPMENT_KEYS_BY_TIME;

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

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Shipments {
    tree: ViewsTree,
    tracked: Mutex<BTreeMap<String, Tracked>>,
    /// Serialises declarations that carry an `idempotency_key`, so a retry racing its first
    /// request finds the first one's key (declarations are rare; transfers never take it).
    pub(crate) declaring: tokio::sync::Mutex<()>,
}

impl Shipments {
    /// The list and keys kept in `tree` (the list is empty until [`Shipments::load`]).
    pub(crate) fn new(tree: ViewsTree) -> Self {
        Self {
            tree,
            tracked: Mutex::default(),
            declaring: tokio::sync::Mutex::new(()),
        }
    }

    /// An empty list in a temporary sled database (unit tests).
    #[cfg(test)]
    pub(crate) fn temporary() -> Self {
        Self::new(ViewsTree::temporary())
    }

    /// Applies the durable `record` at `index` at once (unit tests; the gateway goes through
    /// [`Shipments::observe_into`] and [`Shipments::commit`]).
    #[cfg(test)]
    pub(crate) fn observe(&self, index: u64, record: &Record) {
        let mut changes = Changes::new(self.tree.now().unwrap());
        let mut relisted = Relisted::default();
        self.observe_into(&mut changes, &mut relisted, index, record)
            .unwrap();
        changes.apply().unwrap();
        self.commit(relisted);
    }

    /// Puts on the list, in memory, the shipments the views tree lists, reading their records
    /// with `read`, in place of what the list held (at start, and when the views are read back
    /// after the log's index was reopened; as many reads as the listed shipments have records).
    pub(crate) fn load<E: From<sled::Error>>(
        &self,
        read: impl Fn(u64) -> Result<Record, E>,
    ) -> Result<usize, E> {
        let tree = self.tree.now()?;
        let mut loaded = BTreeMap::new();
        for entry in tree.scan_prefix(LISTED) {
            let (_, indexes) = entry.map_err(E::from)?;
            for at in indexes.chunks_exact(8) {
                let index = keys::u64_at(at, 0);
                let record = read(index)?;
                let lookup = |id: &str| loaded.get(id).cloned();
                if let Some((id, after)) = change(lookup, None, index, &record)? {
                    match after {
                        Some(tracked) => loaded.insert(id, tracked),
                        None => loaded.remove(&id),
                    };
                }
            }
        }
        let listed = loaded.len();
        *self.tracked.lock().unwrap_or_else(PoisonError::into_inner) = loaded;
        Ok(listed)
    }

    /// Adds to `changes` what the durable `record` at `index` changes in the views tree, and to
    /// `relisted` what it changes on the list in memory, for [`Shipments::commit`] once the
    /// batch is applied: a batch that fails leaves the list as it was, and its records, applied
    /// again from the log, count once. The record sees the list as the records before it in
    /// the batch left it.
    pub(crate) fn observe_into(
        &self,
        changes: &mut Changes,
        relisted: &mut Relisted,
        index: u64,
        record: &Record,
    ) -> Result<(), sled::Error> {
        if record.shipment_id.is_none() {
            return Ok(());
        }
        let tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        let lookup = |id: &str| match relisted.0.get(id) {
            Some(after) => after.clone(),
            None => tracked.get(id).cloned(),
        };
        if let Some((id, after)) = change(lookup, Some(changes), index, record)? {
            relisted.0.insert(id, after);
        }
        Ok(())
    }

    /// Puts on the list what [`Shipments::observe_into`] gathered, once its batch is applied.
    pub(crate) fn commit(&self, relisted: Relisted) {
        if relisted.0.is_empty() {
            return;
        }
        let mut list = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, after) in relisted.0 {
            match after {
                Some(tracked) => list.insert(id, tracked),
                None => list.remove(&id),
            };
        }
    }

    /// The shipment `sender` declared with `key`, unless the key is older than `retention` at
    /// `now`.
    pub(crate) fn key(
        &self,
        sender: &str,
        key: &str,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<Option<String>, sled::Error> {
        let Some(value) = self
            .tree
            .now()?
            .get([KEYS, &keys::pair(sender, key)].concat())?
        else {
            return Ok(None);
        };
        if expired(keys::u64_at(&value, 0), now, retention) {
            return Ok(None);
        }
        Ok(value
            .get(8..)
            .map(|id| String::from_utf8_lossy(id).into_owned()))
    }

    /// Forgets the keys older than `retention` at `now`; returns how many.
    pub(crate) fn purge(
        &self,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<usize, sled::Error> {
        keys::purge_before(&self.tree.now()?, BY_TIME, KEYS, cutoff(now, retention))
    }

    /// Every shipment on the list, in shipment id order (ids sort by declaration time).
    pub(crate) fn list(&self) -> Vec<Tracked> {
        let tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        tracked.values().cloned().collect()
    }
}

/// What the records of one batch change on the list: each shipment they touch as it is after
/// them (`None`: it left the list).
#[derive(Debug, Default)]
pub(crate) struct Relisted(BTreeMap<String, Option<Tracked>>);

/// What the durable `record` at `index` changes on the list (`lookup` looks a shipment up as
/// the records before left it): the shipment id and its state after the record (`None`: it
/// leaves the list); and, when `batch` is given (not while loading), what it changes in the
/// views tree, added to `batch`.
fn change(
    lookup: impl Fn(&str) -> Option<Tracked>,
    mut batch: Option<&mut Changes>,
    index: u64,
    record: &Record,
) -> Result<Option<(String, Option<Tracked>)>, sled::Error> {
    let Some(id) = record.shipment_id.as_deref() else {
        return Ok(None);
    };
    let listed = [LISTED, id.as_bytes()].concat();
    match record.kind {
        Kind::Shipment => {
            let Some(details) = record::read::<ShipmentDetails>(record) else {
                return Ok(None);
            };
            if let (Some(batch), Some(sender), Some(key), Ok(at)) = (
                batch.as_deref_mut(),
                &record.sender,
                &details.idempotency_key,
                record.instant(),
            ) {
                let made = u64::try_from(at.unix_timestamp())
                    .unwrap_or(0)
                    .to_be_bytes();
                let pair = keys::pair(sender, key);
                batch.insert([KEYS, &pair].concat(), [&made[..], id.as_bytes()].concat());
                batch.insert([BY_TIME, &made[..], &pair].concat(), []);
            }
            let Some(custody) = start(record) else {
                return Ok(None);
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
            if let Some(batch) = batch {
                batch.insert(listed, index.to_be_bytes());
            }
            Ok(Some((id.to_owned(), Some(tracked))))
        }
        Kind::Custody => {
            if matches!(record.reason, Some(Some(_))) {
                return Ok(None);
            }
            let Some(details) = record::read::<CustodyDetails>(record) else {
                return Ok(None);
            };
            let Some(mut tracked) = lookup(id) else {
                return Ok(None);
            };
            details.apply_to(&mut tracked.custody);
            tracked.last_index = index;
            let done = tracked.custody.is_closed() && tracked.custody.flags().is_empty();
            if let Some(batch) = batch {
                if done {
                    batch.remove(listed);
                } else {
                    let mut indexes = batch.get(&listed)?.map(|v| v.to_vec()).unwrap_or_default();
                    indexes.extend_from_slice(&index.to_be_bytes());
                    batch.insert(listed, indexes);
                }
            }
            Ok(Some((id.to_owned(), (!done).then_some(tracked))))
        }
        _ => Ok(None),
    }
}
