//! What start-up rebuilds from the log, reading every record once, in order: the regulator's
//! views, rule 19's counters, the idempotency keys of logged transfers, and the admitted
//! transfers the last stop cut off (an allow decision with no outcome), which recovery then
//! closes with `interrupted`. O(records); runs once, before the gateway serves.

use std::collections::{BTreeMap, HashMap};

use loopgate_audit::{Kind, Record, Verdict};

use super::AppState;
use crate::record;
use crate::transfer::records::DecisionDetails;

/// What the rebuild found.
#[derive(Debug)]
pub(crate) struct Rebuilt {
    /// Records read.
    pub(crate) records: u64,
    /// The allow decisions without an outcome, in log order.
    pub(crate) unfinished: Vec<Record>,
}

/// The admitted transfers still waiting for their outcome, by log index and transfer id.
#[derive(Default)]
struct Open {
    by_index: BTreeMap<u64, Record>,
    by_transfer: HashMap<String, u64>,
}

impl Open {
    fn admitted(&mut self, index: u64, transfer_id: &str, record: &Record) {
        self.by_transfer.insert(transfer_id.to_owned(), index);
        self.by_index.insert(index, record.clone());
    }

    fn ended(&mut self, transfer_id: &str) {
        if let Some(index) = self.by_transfer.remove(transfer_id) {
            self.by_index.remove(&index);
        }
    }
}

impl AppState {
    /// Rebuilds the views, the counters and the idempotency keys from every record in the log;
    /// returns how many records it read and the transfers left unfinished.
    pub(crate) fn rebuild(&self) -> Result<Rebuilt, loopgate_audit::Error> {
        let size = self.log.size();
        let registry = self.policy().registry.clone();
        let mut open = Open::default();
        for index in 0..size {
            let record = Record::from_leaf(&self.log.read(index)?)?;
            self.views.observe(index, &record, &registry);
            self.shipments.observe(index, &record);
            let Some(transfer) = record.transfer_id.as_deref() else {
                continue;
            };
            match record.kind {
                Kind::Outcome => open.ended(transfer),
                Kind::Decision => {
                    if record.decision == Some(Verdict::Allow) {
                        open.admitted(index, transfer, &record);
                    }
                    self.decided(transfer, &record, &registry);
                }
                _ => {}
            }
        }
        Ok(Rebuilt {
            records: size,
            unfinished: open.by_index.into_values().collect(),
        })
    }

    /// A logged decision's idempotency key and, for an admitted personal-information transfer,
    /// its subjects in rule 19's counters.
    fn decided(&self, transfer: &str, record: &Record, registry: &loopgate_policy::Registry) {
        let (Some(sender), Some(details)) = (
            record.sender.as_deref(),
            record::read::<DecisionDetails>(record),
        ) else {
            return;
        };
        if let Some(key) = &details.idempotency_key {
            self.idempotency.logged(sender, key, transfer);
        }
        if let (Some(Verdict::Allow), Some(class), Some(subjects), Ok(at)) = (
            record.decision,
            details.data_class,
            details.data_subjects,
            record.instant(),
        ) {
            self.volumes.count(sender, at, registry, class, subjects);
        }
    }
}
