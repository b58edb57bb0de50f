//! A transfer's history: every record the log holds about one transfer (its decision, its
//! outcome, its lifecycle events), in log order, read back through the typed details. What a
//! transfer's records say — its status, whether it completed, whether its data was destroyed —
//! is answered here, once, for `GET /v1/transfers/{id}`, idempotent replays and lifecycle
//! events alike.

use loopgate_audit::{Field, Kind, Log, Outcome, Record, Verdict};
use loopgate_policy::{LifecycleEvent, ReasonCode};

use super::lifecycle::LifecycleDetails;
use super::records::{CompletedDetails, DecisionDetails, FailedDetails};
use crate::record;

/// Most records one transfer has (decision, outcome, lifecycle events): one index query.
pub(crate) const MAX_RECORDS: usize = 1000;

/// One record of a transfer, with its log index and leaf.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) index: u64,
    pub(crate) leaf: Vec<u8>,
    pub(crate) record: Record,
}

impl Found {
    /// The record's reason code, when it has one this version knows.
    pub(crate) fn reason(&self) -> Option<ReasonCode> {
        self.record
            .reason
            .clone()
            .flatten()
            .and_then(|r| r.parse::<ReasonCode>().ok())
    }

    /// Whether the record states a refusal's reason code (a refused lifecycle report).
    pub(crate) fn refused(&self) -> bool {
        matches!(self.record.reason, Some(Some(_)))
    }

    /// The upstream's status, when the record is an outcome that names one.
    pub(crate) fn upstream_status(&self) -> Option<u16> {
        match self.record.outcome? {
            Outcome::Completed => record::read::<CompletedDetails>(&self.record)
                .map(|details| details.upstream_status),
            Outcome::Failed => record::read::<FailedDetails>(&self.record)
                .and_then(|details| details.upstream_status),
            Outcome::Interrupted => None,
        }
    }
}

/// The first `max` records indexed under `field` = `value`, in log order, read and parsed
/// (blocking: sled and file reads). A transfer's history and a shipment's chain are read so.
pub(crate) fn read_all(
    log: &Log,
    field: Field,
    value: &str,
    max: usize,
) -> Result<Vec<Found>, loopgate_audit::Error> {
    log.query(field, value.as_bytes(), None, max)?
        .into_iter()
        .map(|index| {
            let leaf = log.read(index)?;
            let record = Record::from_leaf(&leaf)?;
            Ok(Found {
                index,
                leaf,
                record,
            })
        })
        .collect()
}

/// Every record of one transfer, in log order.
#[derive(Debug, Clone)]
pub(crate) struct History {
    records: Vec<Found>,
}

impl History {
    /// Reads the records of `transfer_id` through the log's transfer index (blocking: sled and
    /// file reads).
    pub(crate) fn read(log: &Log, transfer_id: &str) -> Result<Self, loopgate_audit::Error> {
        let records = read_all(log, Field::Transfer, transfer_id, MAX_RECORDS)?;
        Ok(Self { records })
    }

    /// A history of these records (in log order).
    #[cfg(test)]
    pub(crate) fn of(records: Vec<Found>) -> Self {
        Self { records }
    }

    /// Every record, in log order.
    pub(crate) fn records(&self) -> &[Found] {
        &self.records
    }

    /// The latest record.
    pub(crate) fn last(&self) -> Option<&Found> {
        self.records.last()
    }

    /// The decision record; `None` when the log has no such transfer.
    pub(crate) fn decision(&self) -> Option<&Found> {
        self.records
            .iter()
            .find(|f| f.record.kind == Kind::Decision)
    }

    /// The decision's details.
    pub(crate) fn decision_details(&self) -> Option<DecisionDetails<'_>> {
        self.decision().and_then(|f| record::read(&f.record))
    }

    /// Whether `tenant` is the transfer's sender or recipient: `(sender, recipient)`.
    pub(crate) fn party(&self, tenant: &str) -> (bool, bool) {
        let Some(decision) = self.decision() else {
            return (false, false);
        };
        (
            decision.record.sender.as_deref() == Some(tenant),
            decision.record.recipient.as_deref() == Some(tenant),
        )
    }

    /// The outcome record, once the transfer ended.
    pub(crate) fn outcome(&self) -> Option<&Found> {
        self.records.iter().find(|f| f.record.kind == Kind::Outcome)
    }

    /// The `completed` outcome and its details, when the upstream took the body.
    pub(crate) fn completed(&self) -> Option<(&Found, CompletedDetails)> {
        self.records
            .iter()
            .filter(|f| f.record.outcome == Some(Outcome::Completed))
            .find_map(|f| Some((f, record::read(&f.record)?)))
    }

    /// The denial, when the transfer was refused.
    pub(crate) fn denial(&self) -> Option<&Found> {
        self.records
            .iter()
            .find(|f| f.record.decision == Some(Verdict::Deny))
    }

    /// `completed`, `failed` or `interrupted` once it ended; `denied`; else `in_progress`.
    pub(crate) fn status(&self) -> &'static str {
        let outcome = self.records.iter().rev().find_map(|f| f.record.outcome);
        match outcome {
            Some(Outcome::Completed) => "completed",
            Some(Outcome::Failed) => "failed",
            Some(Outcome::Interrupted) => "interrupted",
            None if self.denial().is_some() => "denied",
            None => "in_progress",
        }
    }

    /// The lifecycle events accepted, in log order, with their records (a refused report is
    /// logged too, with its reason code: see [`History::refused_events`]).
    pub(crate) fn events(&self) -> impl Iterator<Item = (&Found, LifecycleDetails<'_>)> {
        self.lifecycle().filter(|(f, _)| !f.refused())
    }

    fn lifecycle(&self) -> impl Iterator<Item = (&Found, LifecycleDetails<'_>)> {
        self.records
            .iter()
            .filter_map(|f| Some((f, record::read::<LifecycleDetails>(&f.record)?)))
    }

    /// Whether the recipient reported the data destroyed (rule 21's clock stops).
    pub(crate) fn destroyed(&self) -> bool {
        self.events()
            .any(|(_, e)| e.event == LifecycleEvent::Destroyed)
    }
}
