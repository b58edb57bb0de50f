//! What happens to a delivered transfer's data (RULES.md rules 20 and 21): the recipient
//! reports `stored`, `accessed` and `destroyed` events (`POST /v1/transfers/{id}/events`);
//! each is a durable `lifecycle` record, and `destroyed` closes the retention clock.
//!
//! The check against the transfer's history and the append are one step per transfer (a lock
//! held across both), so two concurrent `destroyed` events cannot both be accepted.

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use loopgate_audit::{Appended, Kind, Record};
use loopgate_policy::{LifecycleEvent, ReasonCode, check_transition};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::history::History;
use crate::record::{self, Details};
use crate::reply::ApiError;
use crate::state::{self, AppState};

/// Longest `note`, characters.
pub(crate) const MAX_NOTE_CHARS: usize = 1024;
/// Most lifecycle events one transfer may have: with its decision and outcome, its whole
/// history stays within what one index query (and `GET /v1/transfers/{id}`) reads.
pub(crate) const MAX_EVENTS: usize = super::history::MAX_RECORDS - 10;

/// What a `lifecycle` record says beyond the transfer and its parties.
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
    /// Who reported it: `tenant/<id>`.
    #[serde(default, borrow)]
    pub(crate) principal: Cow<'a, str>,
}

impl Details for LifecycleDetails<'_> {
    const KIND: Kind = Kind::Lifecycle;
}

/// A reported event, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) event: LifecycleEvent,
    /// When it happened, as the recipient says (UTC), if it said.
    pub(crate) at: Option<OffsetDateTime>,
    pub(crate) note: Option<String>,
}

/// The `lifecycle` record of `event` reported by tenant `tenant` on the transfer decided by
/// `decision` (its `principal` is `tenant/<id>`, as principals are written everywhere).
pub(crate) fn record(
    decision: &Record,
    event: &Event,
    tenant: &str,
    now: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::Lifecycle, now)?;
    record.transfer_id = decision.transfer_id.clone();
    record.sender = decision.sender.clone();
    record.recipient = decision.recipient.clone();
    record.item = decision.item.clone();
    let details = LifecycleDetails {
        event: event.event,
        reported_at: event.at,
        note: event.note.as_deref().map(Cow::Borrowed),
        principal: Cow::Owned(format!("tenant/{tenant}")),
    };
    record::write(&mut record, &details)?;
    Ok(record)
}

/// Checks `event` from tenant `tenant` against the transfer's history (rule 20) and appends its
/// record; returns the acknowledgement and the leaf.
pub(crate) async fn report(
    state: &Arc<AppState>,
    tenant: &str,
    transfer_id: &str,
    event: &Event,
) -> Result<(Appended, Vec<u8>), ApiError> {
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
    check(&history, event, tenant, transfer_id)?;
    state
        .append_record(|at| record(&decision.record, event, tenant, at))
        .await
        .map_err(|e| {
            ApiError::audit_unavailable("lifecycle event: the audit log cannot be written", e)
        })
}

/// Rule 20 for `event` on a transfer with `history`: only its recipient reports, only on
/// delivered data, nothing after `destroyed`, at most [`MAX_EVENTS`].
fn check(
    history: &History,
    event: &Event,
    tenant: &str,
    transfer_id: &str,
) -> Result<(), ApiError> {
    let (is_sender, is_recipient) = history.party(tenant);
    if !is_recipient && !is_sender {
        // Not a party: refused as `GET /v1/transfers/{id}` refuses it.
        return Err(ApiError::new(ReasonCode::AuthForbidden)
            .message("only the recipient of a transfer reports its lifecycle events (rule 20)"));
    }
    let reported: Vec<LifecycleEvent> = history.events().map(|(_, e)| e.event).collect();
    check_transition(&reported, event.event, is_recipient).map_err(|code| {
        let message = match code {
            ReasonCode::AuthForbidden => {
                "only the recipient reports lifecycle events (rule 20)".to_owned()
            }
            _ => format!(
                "transfer {transfer_id} was destroyed already: no event can follow (rule 20)"
            ),
        };
        ApiError::new(code).message(message)
    })?;
    if reported.len() >= MAX_EVENTS {
        return Err(ApiError::new(ReasonCode::LifecycleInvalidTransition).message(format!(
            "transfer {transfer_id} has {MAX_EVENTS} lifecycle events, the most one transfer may have"
        )));
    }
    if history.completed().is_none() {
        return Err(
            ApiError::new(ReasonCode::LifecycleInvalidTransition).message(format!(
                "transfer {transfer_id} was not completed: only delivered data has a lifecycle"
            )),
        );
    }
    Ok(())
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
