//! `GET /v1/transfers/{id}` (the sender's and recipient's view: records, status, lifecycle
//! events, retention deadline, current receipt) and the replies replayed for `Idempotency-Key`
//! retries. Both read the transfer's [`History`].

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use loopgate_audit::{Checkpoint, Hash, Outcome};
use loopgate_policy::{ReasonCode, is_overdue, retention_due};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::receipt::{Entry, Receipt, entry, receipt, to_vec};
use crate::cosign::Witnessed;
use crate::reply::{ApiError, Reply};
use crate::state::{self, AppState};
use crate::transfer::history::{Found, History};
use crate::transfer::lifecycle::not_found;
use crate::transfer::records::CompletedDetails;

/// `request.not_found` unless `transfer_id` looks like a transfer id (at most 64 hex digits),
/// so nothing else reaches the index.
pub(super) fn check_transfer_id(transfer_id: &str) -> Result<(), ApiError> {
    if crate::transfer::id::is_plausible(transfer_id) {
        Ok(())
    } else {
        Err(not_found(transfer_id))
    }
}

fn unreadable(e: loopgate_audit::Error) -> ApiError {
    ApiError::audit_unavailable("the audit log cannot be read", e)
}

/// What the receipt of a record read back from the log (a transfer's or a shipment's latest, a
/// replayed answer) needs beside the record: the checkpoint and the inclusion proof into it.
/// With `[[witness]]`, the checkpoint is the latest one the quorum cosigned when it covers the
/// record (`"cosigned": true`), else the log's latest (`"cosigned": false`), as receipts have it.
pub(crate) struct Proven {
    checkpoint: Arc<Checkpoint>,
    proof: Vec<Hash>,
    witnessed: Witnessed,
}

impl Proven {
    /// The latest (cosigned, with witnesses) checkpoint covering `last` and the proof of
    /// `last` into it.
    pub(crate) fn latest(state: &AppState, last: &Found) -> Result<Self, ApiError> {
        let cosigned = state
            .cosigning
            .latest()
            .filter(|c| c.checkpoint.size() > last.index);
        let checkpoint = cosigned
            .as_ref()
            .map_or_else(|| state.log.latest_checkpoint(), |c| c.checkpoint.clone());
        let proof = state
            .log
            .inclusion_proof(last.index, checkpoint.size())
            .map_err(unreadable)?;
        let witnessed = match cosigned {
            Some(cosigned) => Witnessed::Cosigned {
                cosigned,
                proof: proof.clone(),
            },
            None if state.cosigning.enabled() => Witnessed::NotCosigned,
            None => Witnessed::Off,
        };
        Ok(Proven {
            checkpoint,
            proof,
            witnessed,
        })
    }

    /// The receipt of `last` (the record this was proven for), naming no transfer or shipment.
    pub(crate) fn of<'a>(&'a self, last: &'a Found) -> Receipt<'a> {
        Receipt::proven(last.index, &last.leaf, None, &self.checkpoint, &self.proof)
            .witnessed(&self.witnessed)
    }

    /// The receipt of `last`, one of the transfer's records, with the upstream's status when
    /// it is an outcome that names one, and the body's digest in hex when it is the
    /// `completed` outcome.
    fn receipt<'a>(
        &'a self,
        transfer_id: &'a str,
        last: &'a Found,
        upstream_status: Option<u16>,
        completed: Option<&CompletedDetails>,
    ) -> Receipt<'a> {
        let receipt = receipt(
            transfer_id,
            last.index,
            &last.leaf,
            None,
            &self.checkpoint,
            &self.proof,
            upstream_status,
        )
        .witnessed(&self.witnessed);
        match completed {
            Some(details) => receipt.body_sha256(&details.sha256),
            None => receipt,
        }
    }
}

/// The body of `GET /v1/transfers/{id}` (keys in alphabetical order, as a `Value` map had them).
#[derive(Serialize)]
struct View<'a> {
    lifecycle: Vec<LifecycleEntry<'a>>,
    overdue: bool,
    receipt: Receipt<'a>,
    records: Vec<Entry<'a>>,
    retention_due: Value,
    status: &'static str,
    transfer_id: &'a str,
}

/// One lifecycle event of the view: `time` is when the gateway logged it, `reported_at` when
/// the recipient says it happened; the evidence (`project`, `method`, `certificate_sha256`)
/// appears on the events that carry it.
#[derive(Serialize)]
struct LifecycleEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_sha256: Option<Cow<'a, str>>,
    event: &'static str,
    log_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<Cow<'a, str>>,
    note: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<Cow<'a, str>>,
    #[serde(with = "time::serde::rfc3339::option")]
    reported_at: Option<OffsetDateTime>,
    time: &'a str,
}

/// The lifecycle events reported for the transfer, in log order.
fn lifecycle(history: &History) -> Vec<LifecycleEntry<'_>> {
    history
        .events()
        .map(|(found, event)| LifecycleEntry {
            certificate_sha256: event.certificate_sha256,
            event: event.event.as_str(),
            log_index: found.index,
            method: event.method,
            note: event.note,
            project: event.project,
            reported_at: event.reported_at,
            time: &found.record.time,
        })
        .collect()
}

/// Rule 21 for one transfer: its retention deadline (received + `retention_days`, RFC 3339) and
/// whether it is overdue now; `(null, false)` until it completed.
fn retention(history: &History, now: OffsetDateTime) -> (Value, bool) {
    let received = history
        .completed()
        .and_then(|(found, _)| found.record.instant().ok());
    let days = history
        .decision_details()
        .and_then(|details| details.retention_days());
    let (Some(received), Some(days)) = (received, days) else {
        return (Value::Null, false);
    };
    let due = retention_due(received, days)
        .format(&Rfc3339)
        .map_or(Value::Null, Value::String);
    (due, is_overdue(received, days, history.destroyed(), now))
}

/// The sender's or recipient's view of one transfer; for any other tenant it does not exist
/// (404, as an unknown id). The reads run on a blocking thread.
pub(super) async fn get(
    state: &Arc<AppState>,
    tenant: &str,
    transfer_id: &str,
) -> Result<Reply, ApiError> {
    check_transfer_id(transfer_id)?;
    let (tenant, transfer_id) = (tenant.to_owned(), transfer_id.to_owned());
    state::blocking(state, move |state| view(state, &tenant, &transfer_id)).await
}

fn view(state: &AppState, tenant: &str, transfer_id: &str) -> Result<Reply, ApiError> {
    let history = History::read(&state.log, transfer_id).map_err(unreadable)?;
    if history.decision().is_none() {
        return Err(not_found(transfer_id));
    }
    // Another tenant's transfer is answered as an unknown one: its id says nothing.
    if history.party(tenant) == (false, false) {
        return Err(not_found(transfer_id));
    }
    let Some(last) = history.last() else {
        return Err(not_found(transfer_id));
    };
    let (due, overdue) = retention(&history, state.clock.now());
    let proven = Proven::latest(state, last)?;
    // The digest goes with the receipt of the `completed` outcome only (the record it is in).
    let completed = history
        .completed()
        .filter(|(found, _)| found.index == last.index)
        .map(|(_, details)| details);
    let completed = completed.as_ref();
    let body = View {
        lifecycle: lifecycle(&history),
        overdue,
        receipt: proven.receipt(transfer_id, last, last.upstream_status(), completed),
        records: history
            .records()
            .iter()
            .map(|f| entry(f.index, &f.leaf))
            .collect(),
        retention_due: due,
        status: history.status(),
        transfer_id,
    };
    Ok((StatusCode::OK, Bytes::from(to_vec(&body))))
}

/// What a retry with the key of a transfer found in the log gets: the same kind of answer the
/// first request got (its receipt or its error, with the same log index). The reads run on a
/// blocking thread.
pub(super) async fn replay(state: &Arc<AppState>, transfer_id: &str) -> Reply {
    let transfer_id = transfer_id.to_owned();
    state::blocking(state, move |state| Ok(replayed(state, &transfer_id)))
        .await
        .unwrap_or_else(|e| e.reply())
}

fn replayed(state: &AppState, transfer_id: &str) -> Reply {
    let history = match History::read(&state.log, transfer_id) {
        Ok(history) => history,
        Err(e) => return unreadable(e).reply(),
    };
    if let Some((outcome, details)) = history.completed() {
        return match Proven::latest(state, outcome) {
            Ok(proven) => {
                let receipt = proven.receipt(
                    transfer_id,
                    outcome,
                    Some(details.upstream_status),
                    Some(&details),
                );
                (StatusCode::CREATED, Bytes::from(receipt.to_vec()))
            }
            Err(e) => e.reply(),
        };
    }
    if let Some(outcome) = history.outcome() {
        if outcome.record.outcome == Some(Outcome::Interrupted) {
            let decision = history.decision().map_or(outcome.index, |d| d.index);
            return ApiError::new(ReasonCode::TransferInterrupted)
                .message(format!(
                    "transfer {transfer_id} was admitted (decision at log index {decision}) but the gateway stopped while it streamed: delivery is unknown (the recipient may or may not have the whole body), and it is not sent again; check with the recipient, or send it as a new transfer with a new Idempotency-Key"
                ))
                .logged(outcome.index)
                .transfer(transfer_id)
                .reply();
        }
        // The first answer's words (`api/transfer.rs`).
        let code = outcome.reason().unwrap_or(ReasonCode::UpstreamUnavailable);
        return ApiError::new(code)
            .message(format!("transfer {transfer_id} failed: {}", code.meaning()))
            .logged(outcome.index)
            .transfer(transfer_id)
            .reply();
    }
    match history.denial() {
        Some(denial) => {
            let code = denial.reason().unwrap_or(ReasonCode::AuthForbidden);
            ApiError::new(code)
                .logged(denial.index)
                .transfer(transfer_id)
                .reply()
        }
        None => ApiError::new(ReasonCode::RequestInProgress).reply(),
    }
}
