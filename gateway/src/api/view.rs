//! `GET /v1/transfers/{id}` (the sender's and recipient's view: records, status, lifecycle
//! events, retention deadline, current receipt) and the replies replayed for `Idempotency-Key`
//! retries.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use loopgate_audit::{Checkpoint, Field, Hash, Kind, Outcome as Ended, Record, Verdict};
use loopgate_policy::{LifecycleEvent, ReasonCode, is_overdue, retention_due};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ApiError;
use super::receipt::{Entry, Receipt, entry, receipt, to_vec};
use crate::state::{AppState, Reply};

/// Most records one transfer has (decision, outcome, lifecycle events).
const MAX_RECORDS: usize = 1000;

/// One record of a transfer, with its log index and leaf.
pub(super) struct Found {
    pub(super) index: u64,
    pub(super) leaf: Vec<u8>,
    pub(super) record: Record,
}

/// `request.not_found` unless `transfer_id` looks like a transfer id (at most 64 hex digits),
/// so nothing else reaches the index.
pub(super) fn check_transfer_id(transfer_id: &str) -> Result<(), ApiError> {
    let plausible = !transfer_id.is_empty()
        && transfer_id.len() <= 64
        && transfer_id.bytes().all(|b| b.is_ascii_hexdigit());
    if plausible {
        Ok(())
    } else {
        Err(not_found(transfer_id))
    }
}

/// `request.not_found` for a transfer nobody may see or that does not exist.
pub(super) fn not_found(transfer_id: &str) -> ApiError {
    ApiError::new(ReasonCode::RequestNotFound).message(format!("no transfer {transfer_id:?}"))
}

fn unavailable(e: loopgate_audit::Error) -> ApiError {
    ApiError::new(ReasonCode::AuditUnavailable)
        .message(format!("the audit log cannot be read: {e}"))
}

/// Every record of `transfer_id`, in log order (blocking: sled and file reads).
pub(super) fn records(state: &AppState, transfer_id: &str) -> Result<Vec<Found>, ApiError> {
    let indexes = state
        .log
        .query(Field::Transfer, transfer_id.as_bytes(), None, MAX_RECORDS)
        .map_err(unavailable)?;
    indexes
        .into_iter()
        .map(|index| {
            let leaf = state.log.read(index).map_err(unavailable)?;
            let record = Record::from_leaf(&leaf).map_err(unavailable)?;
            Ok(Found {
                index,
                leaf,
                record,
            })
        })
        .collect()
}

fn status(found: &[Found]) -> &'static str {
    let outcome = found.iter().rev().find_map(|f| f.record.outcome);
    match outcome {
        Some(Ended::Completed) => "completed",
        Some(Ended::Failed) => "failed",
        Some(Ended::Interrupted) => "interrupted",
        None if found
            .iter()
            .any(|f| f.record.decision == Some(Verdict::Deny)) =>
        {
            "denied"
        }
        None => "in_progress",
    }
}

/// What the receipt of a transfer's latest record needs beside the record: the latest
/// checkpoint and the inclusion proof into it.
struct Proven {
    checkpoint: Arc<Checkpoint>,
    proof: Vec<Hash>,
}

impl Proven {
    /// The latest checkpoint and the proof of `last` into it.
    fn latest(state: &AppState, last: &Found) -> Result<Self, ApiError> {
        let checkpoint = state.log.latest_checkpoint();
        let proof = state
            .log
            .inclusion_proof(last.index, checkpoint.size())
            .map_err(unavailable)?;
        Ok(Proven { checkpoint, proof })
    }

    /// The receipt of `last`, the transfer's latest record.
    fn receipt<'a>(&'a self, transfer_id: &'a str, last: &'a Found) -> Receipt<'a> {
        let upstream = last
            .record
            .details
            .get("upstream_status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok());
        receipt(
            transfer_id,
            last.index,
            &last.leaf,
            None,
            &self.checkpoint,
            &self.proof,
            upstream,
        )
    }
}

/// The body of `GET /v1/transfers/{id}` (keys in alphabetical order, as a `Value` map had them).
#[derive(Serialize)]
struct View<'a> {
    lifecycle: Vec<Value>,
    overdue: bool,
    receipt: Receipt<'a>,
    records: Vec<Entry<'a>>,
    retention_due: Value,
    status: &'static str,
    transfer_id: &'a str,
}

/// The lifecycle events reported for the transfer, in log order: `{"event", "time",
/// "reported_at", "note", "log_index"}` (`time` is when the gateway logged it, `reported_at`
/// when the recipient says it happened).
fn lifecycle(found: &[Found]) -> Vec<Value> {
    found
        .iter()
        .filter(|f| f.record.kind == Kind::Lifecycle)
        .map(|f| {
            let detail = |key: &str| f.record.details.get(key).cloned().unwrap_or(Value::Null);
            json!({
                "event": detail("event"),
                "time": f.record.time,
                "reported_at": detail("reported_at"),
                "note": detail("note"),
                "log_index": f.index,
            })
        })
        .collect()
}

/// Rule 21 for one transfer: its retention deadline (received + `retention_days`, RFC 3339) and
/// whether it is overdue now; `(null, false)` until it completed.
fn retention(found: &[Found], decision: &Found, now: OffsetDateTime) -> (Value, bool) {
    let received = found
        .iter()
        .find(|f| f.record.outcome == Some(Ended::Completed))
        .and_then(|f| f.record.instant().ok());
    let days = decision
        .record
        .details
        .get("retention_days")
        .and_then(Value::as_u64)
        .and_then(|d| u32::try_from(d).ok());
    let (Some(received), Some(days)) = (received, days) else {
        return (Value::Null, false);
    };
    let destroyed = found.iter().any(|f| {
        f.record.kind == Kind::Lifecycle
            && f.record.details.get("event").and_then(Value::as_str)
                == Some(LifecycleEvent::Destroyed.as_str())
    });
    let due = retention_due(received, days)
        .format(&Rfc3339)
        .map_or(Value::Null, Value::String);
    (due, is_overdue(received, days, destroyed, now))
}

/// The sender's or recipient's view of one transfer; anyone else is refused. The reads run on
/// a blocking thread.
pub(super) async fn get(
    state: &Arc<AppState>,
    tenant: &str,
    transfer_id: &str,
) -> Result<Reply, ApiError> {
    check_transfer_id(transfer_id)?;
    let (tenant, transfer_id) = (tenant.to_owned(), transfer_id.to_owned());
    super::audit::blocking(state, move |state| view(state, &tenant, &transfer_id)).await
}

fn view(state: &AppState, tenant: &str, transfer_id: &str) -> Result<Reply, ApiError> {
    let not_found = || not_found(transfer_id);
    let found = records(state, transfer_id)?;
    let Some(decision) = found.iter().find(|f| f.record.kind == Kind::Decision) else {
        return Err(not_found());
    };
    let parties = [&decision.record.sender, &decision.record.recipient];
    if !parties.iter().any(|p| p.as_deref() == Some(tenant)) {
        return Err(ApiError::new(ReasonCode::AuthForbidden)
            .message("only the sender and the recipient may see a transfer"));
    }
    let Some(last) = found.last() else {
        return Err(not_found());
    };
    let (due, overdue) = retention(&found, decision, state.clock.now());
    let proven = Proven::latest(state, last)?;
    let body = View {
        lifecycle: lifecycle(&found),
        overdue,
        receipt: proven.receipt(transfer_id, last),
        records: found.iter().map(|f| entry(f.index, &f.leaf)).collect(),
        retention_due: due,
        status: status(&found),
        transfer_id,
    };
    Ok((StatusCode::OK, Bytes::from(to_vec(&body))))
}

/// What a retry with the key of a transfer found in the log gets: the same kind of answer the
/// first request got (its receipt or its error, with the same log index). The reads run on a
/// blocking thread.
pub(super) async fn replay(state: &Arc<AppState>, transfer_id: &str) -> Reply {
    let transfer_id = transfer_id.to_owned();
    super::audit::blocking(state, move |state| Ok(replayed(state, &transfer_id)))
        .await
        .unwrap_or_else(|e| e.reply())
}

fn replayed(state: &AppState, transfer_id: &str) -> Reply {
    let found = match records(state, transfer_id) {
        Ok(found) => found,
        Err(e) => return e.reply(),
    };
    let code_of = |f: &Found| {
        f.record
            .reason
            .clone()
            .flatten()
            .and_then(|r| r.parse::<ReasonCode>().ok())
    };
    if let Some(outcome) = found.iter().find(|f| f.record.kind == Kind::Outcome) {
        if outcome.record.outcome == Some(Ended::Completed) {
            return match Proven::latest(state, outcome) {
                Ok(proven) => {
                    let body = proven.receipt(transfer_id, outcome).to_vec();
                    (StatusCode::CREATED, Bytes::from(body))
                }
                Err(e) => e.reply(),
            };
        }
        let code = code_of(outcome).unwrap_or(ReasonCode::UpstreamUnavailable);
        return ApiError::new(code).logged(outcome.index).reply();
    }
    match found
        .iter()
        .find(|f| f.record.decision == Some(Verdict::Deny))
    {
        Some(denial) => {
            let code = code_of(denial).unwrap_or(ReasonCode::AuthForbidden);
            ApiError::new(code).logged(denial.index).reply()
        }
        None => ApiError::new(ReasonCode::RequestInProgress).reply(),
    }
}
