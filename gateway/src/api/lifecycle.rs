//! `POST /v1/transfers/{id}/events` (SPEC.md section 3, RULES.md 20): the recipient reports
//! what happened to the data after it crossed: `stored`, `accessed`, `destroyed` (which closes
//! the retention clock of rule 21). Each event is a durable `lifecycle` record; the answer is its
//! receipt.
//!
//! The check against the transfer's history and the append are one step per transfer (a lock
//! held across both), so two concurrent `destroyed` events cannot both be accepted.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use loopgate_audit::{Kind, Outcome as Ended, Record};
use loopgate_policy::{LifecycleEvent, ReasonCode, check_transition};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::receipt::Receipt;
use super::{ApiError, view};
use crate::state::{AppState, Reply};

/// Largest event body, bytes.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest `note`, characters.
pub(crate) const MAX_NOTE_CHARS: usize = 1024;
/// Most lifecycle events one transfer may have: with its decision and outcome, its whole
/// history stays within what one index query (and `GET /v1/transfers/{id}`) reads.
pub(crate) const MAX_EVENTS: usize = 990;

/// The request body as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    event: String,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// A validated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) event: LifecycleEvent,
    /// When it happened, as the recipient says (UTC), if it said.
    pub(crate) at: Option<OffsetDateTime>,
    pub(crate) note: Option<String>,
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ReasonCode::RequestMalformedBody).message(message)
}

/// Parses and checks an event body.
pub(crate) fn parse(body: &[u8]) -> Result<Event, ApiError> {
    let raw: RawEvent = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the body is not an event ({e}); send {{\"event\": \"stored\"|\"accessed\"|\"destroyed\", \"at\": \"<RFC 3339>\", \"note\": \"...\"}}"
        ))
    })?;
    let event = LifecycleEvent::parse(&raw.event).ok_or_else(|| {
        malformed(format!(
            "event {:?} is not stored, accessed or destroyed",
            raw.event
        ))
    })?;
    let at = raw
        .at
        .map(|text| {
            OffsetDateTime::parse(&text, &Rfc3339)
                .map(|t| t.to_offset(time::UtcOffset::UTC))
                .map_err(|_| {
                    malformed(format!(
                        "at {text:?} is not an RFC 3339 instant; use e.g. 2026-11-25T08:00:00Z"
                    ))
                })
        })
        .transpose()?;
    if let Some(note) = &raw.note {
        let chars = note.chars().count();
        if chars > MAX_NOTE_CHARS {
            return Err(malformed(format!(
                "note has {chars} characters; keep it to {MAX_NOTE_CHARS}"
            )));
        }
    }
    Ok(Event {
        event,
        at,
        note: raw.note,
    })
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let too_large = || malformed(format!("the body is larger than {MAX_BODY_BYTES} bytes"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::new(ReasonCode::RequestBodyIncomplete)
                    .message(format!("the body could not be read: {e}"))
            }
        })
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "lifecycle event: audit log failed");
    ApiError::new(ReasonCode::AuditUnavailable)
        .message(format!("the audit log cannot be read or written: {e}"))
}

/// The lifecycle events in a transfer's records.
pub(crate) fn events(records: &[(u64, Record)]) -> Vec<LifecycleEvent> {
    records
        .iter()
        .filter(|(_, r)| r.kind == Kind::Lifecycle)
        .filter_map(|(_, r)| {
            r.details
                .get("event")
                .and_then(Value::as_str)
                .and_then(LifecycleEvent::parse)
        })
        .collect()
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
    let reported_at = event.at.and_then(|t| t.format(&Rfc3339).ok());
    let details = [
        ("event", json!(event.event.as_str())),
        ("reported_at", json!(reported_at)),
        ("note", json!(event.note)),
        ("principal", json!(format!("tenant/{tenant}"))),
    ];
    for (key, value) in details {
        record.details.insert(key.to_owned(), value);
    }
    Ok(record)
}

/// Serves one event from tenant `tenant`.
pub(super) async fn post(
    state: &Arc<AppState>,
    tenant: &str,
    transfer_id: &str,
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    view::check_transfer_id(transfer_id)?;
    let not_found = || view::not_found(transfer_id);
    let body = read_body(request).await?;
    let event = parse(&body)?;

    let _lock = state.views.lock_transfer(transfer_id).await;
    let id = transfer_id.to_owned();
    let found = super::audit::blocking(state, move |state| view::records(state, &id))
        .await?
        .into_iter()
        .map(|found| (found.index, found.record))
        .collect::<Vec<_>>();
    let Some((_, decision)) = found.iter().find(|(_, r)| r.kind == Kind::Decision) else {
        return Err(not_found());
    };
    let is_recipient = decision.recipient.as_deref() == Some(tenant);
    if !is_recipient && decision.sender.as_deref() != Some(tenant) {
        // Not a party: refused as `GET /v1/transfers/{id}` refuses it.
        return Err(ApiError::new(ReasonCode::AuthForbidden)
            .message("only the recipient of a transfer reports its lifecycle events (rule 20)"));
    }
    let completed = found
        .iter()
        .any(|(_, r)| r.kind == Kind::Outcome && r.outcome == Some(Ended::Completed));
    let history = events(&found);
    check_transition(&history, event.event, is_recipient).map_err(|code| {
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
    if history.len() >= MAX_EVENTS {
        return Err(ApiError::new(ReasonCode::LifecycleInvalidTransition).message(format!(
            "transfer {transfer_id} has {MAX_EVENTS} lifecycle events, the most one transfer may have"
        )));
    }
    if !completed {
        return Err(
            ApiError::new(ReasonCode::LifecycleInvalidTransition).message(format!(
                "transfer {transfer_id} was not completed: only delivered data has a lifecycle"
            )),
        );
    }

    let (appended, leaf) = state
        .append_record(|at| record(decision, &event, tenant, at))
        .await
        .map_err(unavailable)?;
    // A lifecycle receipt has no `upstream_status`.
    let body = Receipt::proven(
        appended.index,
        &leaf,
        Some(appended.leaf_hash),
        &appended.checkpoint,
        &appended.inclusion_proof,
    )
    .transfer(transfer_id)
    .to_vec();
    tracing::info!(
        transfer_id,
        event = event.event.as_str(),
        log_index = appended.index,
        "lifecycle event recorded"
    );
    Ok((StatusCode::CREATED, Bytes::from(body)))
}
