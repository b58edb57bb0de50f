//! What happens to a delivered transfer's data (RULES.md rules 20 and 21): the recipient
//! reports `stored`, `accessed` (naming a `project`) and `destroyed` (naming a `method` and the
//! destruction certificate's `certificate_sha256`), each with the time it happened (`at`);
//! `destroyed` closes the retention clock. An accepted event is a durable `lifecycle` record;
//! one refused by rule 20 (a time before the transfer completed or ahead of the clock, an
//! event after `destroyed`, missing evidence) is a `lifecycle` record too, with the refusal's
//! reason code, so the regulator sees what was attempted.
//!
//! The check against the transfer's history and the append are one step per transfer (a lock
//! held across both, and the check made at the record's own time), so two concurrent
//! `destroyed` events cannot both be accepted.

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use loopgate_audit::{Appended, Kind, Record};
use loopgate_policy::{
    DataClass, LifecycleEvent, LifecycleReport, Parameters, ReasonCode, check_event,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::history::History;
use super::records::DataScope;
use crate::record::{self, Details};
use crate::reply::ApiError;
use crate::state::{self, AppState};

/// Longest `note`, `project` or `method`, characters.
pub(crate) const MAX_TEXT_CHARS: usize = 1024;
/// Most lifecycle records (accepted or refused) one transfer may have: with its decision and
/// outcome, its whole history stays within what one index query (and
/// `GET /v1/transfers/{id}`) reads.
pub(crate) const MAX_EVENTS: usize = super::history::MAX_RECORDS - 10;

/// What a `lifecycle` record says beyond the transfer and its parties. A refused report is
/// the same, with the record's `reason` set to the refusal's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LifecycleDetails<'a> {
    /// What happened.
    pub(crate) event: LifecycleEvent,
    /// When it happened, as the recipient says (UTC); the record's `time` is when it was
    /// logged.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) reported_at: Option<OffsetDateTime>,
    /// The recipient's note.
    #[serde(default, borrow)]
    pub(crate) note: Option<Cow<'a, str>>,
    /// What the data was used for (`accessed`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) project: Option<Cow<'a, str>>,
    /// How it was destroyed (`destroyed`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<Cow<'a, str>>,
    /// The destruction certificate's SHA-256, hex (`destroyed`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub(crate) certificate_sha256: Option<Cow<'a, str>>,
    /// Who reported it: `tenant/<id>`.
    #[serde(default, borrow)]
    pub(crate) principal: Cow<'a, str>,
    /// The class of the transfer's data (see [`DataScope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data_class: Option<DataClass>,
    /// Whether it is human genetic resources information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hgr: Option<bool>,
}

impl Details for LifecycleDetails<'_> {
    const KIND: Kind = Kind::Lifecycle;
}

impl LifecycleDetails<'_> {
    /// The class of the transfer's data, as the record repeats it.
    pub(crate) fn data_scope(&self) -> DataScope {
        DataScope {
            data_class: self.data_class,
            hgr: self.hgr,
        }
    }
}

/// A reported event, as the body says it (well-formed; rule 20 is checked against the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) event: LifecycleEvent,
    /// When it happened, as the recipient says (UTC).
    pub(crate) at: Option<OffsetDateTime>,
    pub(crate) note: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) certificate_sha256: Option<String>,
}

/// The `lifecycle` record of `event` reported by tenant `tenant` on the transfer decided by
/// `decision`, refused with `refused` when that is set. Its `principal` is
/// `tenant/<id>`, as principals are written everywhere.
pub(crate) fn record(
    decision: &Record,
    event: &Event,
    tenant: &str,
    refused: Option<ReasonCode>,
    now: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::Lifecycle, now)?;
    record.transfer_id = decision.transfer_id.clone();
    record.sender = decision.sender.clone();
    record.recipient = decision.recipient.clone();
    record.item = decision.item.clone();
    if let Some(code) = refused {
        record.reason = Some(Some(code.as_str().to_owned()));
    }
    let scope = record::read::<super::records::DecisionDetails>(decision)
        .map(|d| d.data_scope())
        .unwrap_or_default();
    let details = LifecycleDetails {
        event: event.event,
        reported_at: event.at,
        note: record::borrowed(&event.note),
        project: record::borrowed(&event.project),
        method: record::borrowed(&event.method),
        certificate_sha256: record::borrowed(&event.certificate_sha256),
        principal: Cow::Owned(format!("tenant/{tenant}")),
        data_class: scope.data_class,
        hgr: scope.hgr,
    };
    record::write(&mut record, &details)?;
    Ok(record)
}

/// Rule 20 for a report from the transfer's recipient at `now`: the code that refuses it.
fn refusal(
    event: &Event,
    history: &History,
    now: OffsetDateTime,
    params: &Parameters,
) -> Option<ReasonCode> {
    // Without `at` there is no time to check: the evidence of when it happened is missing.
    let Some(at) = event.at else {
        return Some(ReasonCode::LifecycleMissingEvidence);
    };
    let accepted: Vec<LifecycleEvent> = history.events().map(|(_, e)| e.event).collect();
    let completed_at = history
        .completed()
        .and_then(|(found, _)| found.record.instant().ok());
    let report = LifecycleReport {
        event: event.event,
        at,
        by_recipient: true,
        project: event.project.as_deref(),
        method: event.method.as_deref(),
        certificate_sha256: event.certificate_sha256.as_deref(),
    };
    check_event(&report, &accepted, completed_at, now, params).err()
}

/// What became of a report.
#[derive(Debug)]
pub(crate) enum Reported {
    /// Accepted and durable: the acknowledgement and the leaf.
    Accepted(Appended, Vec<u8>),
    /// Refused by rule 20, and logged.
    Refused(ApiError),
}

/// Checks `event` from tenant `tenant` against the transfer's history (rule
/// 20) at the record's own time and appends its record, accepted or refused. `Err` for what is
/// not logged: no such transfer (404), a tenant that is not its recipient (403), a transfer
/// with the most records it may have (409), a log that cannot be written (503).
pub(crate) async fn report(
    state: &Arc<AppState>,
    tenant: &str,
    transfer_id: &str,
    event: &Event,
) -> Result<Reported, ApiError> {
    let _lock = state.transfer_locks.lock(transfer_id).await;
    let id = transfer_id.to_owned();
    let history = state::blocking(state, move |state| {
        History::read(&state.log, &id)
            .map_err(|e| ApiError::audit_unavailable("the audit log cannot be read", e))
    })
    .await?;
    let Some(decision) = history.decision() else {
        return Err(not_found(transfer_id));
    };
    admit(&history, tenant, transfer_id)?;
    let params = state.policy().registry.parameters.clone();
    let mut refused = None;
    let (appended, leaf) = state
        .append_record(|now| {
            refused = refusal(event, &history, now, &params);
            record(&decision.record, event, tenant, refused, now)
        })
        .await
        .map_err(|e| {
            ApiError::audit_unavailable("lifecycle event: the audit log cannot be written", e)
        })?;
    Ok(match refused {
        None => Reported::Accepted(appended, leaf),
        Some(code) => Reported::Refused(
            ApiError::new(code)
                .message(refusal_message(code, transfer_id))
                .logged(appended.index),
        ),
    })
}

/// What is refused before anything is logged: the sender (only the recipient reports, rule
/// 20), a tenant that is no party (404, as for an unknown transfer), and a transfer with the most lifecycle records it
/// may have.
fn admit(history: &History, tenant: &str, transfer_id: &str) -> Result<(), ApiError> {
    match history.party(tenant) {
        (_, true) => {}
        (true, false) => {
            return Err(ApiError::new(ReasonCode::AuthForbidden)
                .message("only the recipient reports lifecycle events (rule 20)"));
        }
        // Not a party: unknown to it, as `GET /v1/transfers/{id}` answers it.
        (false, false) => return Err(not_found(transfer_id)),
    }
    let logged = history
        .records()
        .iter()
        .filter(|f| f.record.kind == Kind::Lifecycle)
        .count();
    if logged >= MAX_EVENTS {
        return Err(ApiError::new(ReasonCode::LifecycleInvalidTransition).message(format!(
            "transfer {transfer_id} has {MAX_EVENTS} lifecycle records, the most one transfer may have"
        )));
    }
    Ok(())
}

fn refusal_message(code: ReasonCode, transfer_id: &str) -> String {
    match code {
        ReasonCode::LifecycleBadTime => format!(
            "`at` is before transfer {transfer_id} completed or ahead of the gateway's clock by more than clock_skew_secs; give when it really happened (rule 20)"
        ),
        ReasonCode::LifecycleMissingEvidence => "say when it happened (`at`), and for `accessed` the `project`, for `destroyed` the `method` and the destruction certificate's `certificate_sha256` (64 hex digits) (rule 20)".to_owned(),
        _ => format!(
            "transfer {transfer_id} was not delivered, or its data was destroyed already: no event can follow (rule 20)"
        ),
    }
}

/// `request.not_found` for a transfer nobody may see or that does not exist.
pub(crate) fn not_found(transfer_id: &str) -> ApiError {
    ApiError::new(ReasonCode::RequestNotFound).message(format!("no transfer {transfer_id:?}"))
}

/// The per-transfer locks that serialise a lifecycle event's check and append.
#[derive(Debug, Default)]
pub(crate) struct Locks {
    held: Arc<LockMap>,
}

type LockMap = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// Holds one transfer's lock; dropping it releases the lock.
pub(crate) struct TransferLock {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    transfer_id: String,
    held: Arc<LockMap>,
}

impl Drop for TransferLock {
    fn drop(&mut self) {
        self.guard.take();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it now: nobody waits, forget it so the map stays small.
        if held
            .get(&self.transfer_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            held.remove(&self.transfer_id);
        }
    }
}

impl Locks {
    /// Takes `transfer_id`'s lock, waiting for a holder to finish.
    pub(crate) async fn lock(&self, transfer_id: &str) -> TransferLock {
        let lock = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(transfer_id.to_owned())
            .or_default()
            .clone();
        let guard = lock.lock_owned().await;
        TransferLock {
            guard: Some(guard),
            transfer_id: transfer_id.to_owned(),
            held: self.held.clone(),
        }
    }

    /// How many transfers have a lock held or waited for.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
