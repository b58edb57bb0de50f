//! `POST /v1/transfers/{id}/events`, the HTTP side (SPEC.md section 3): the JSON body, read
//! whole and parsed into an event; the answer, the receipt of its `lifecycle` record. Rule 20's
//! checks and the record are `transfer::lifecycle`.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use loopgate_policy::LifecycleEvent;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::body::{self, bounded, malformed};
use super::receipt::Receipt;
use super::view;
use crate::api::RequestBody;
use crate::reply::{ApiError, Reply};
use crate::state::AppState;
use crate::transfer::lifecycle::{self, Event, MAX_TEXT_CHARS, Reported};

/// Largest event body, bytes.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// The request body as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    event: String,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    certificate_sha256: Option<String>,
}

/// Parses and checks an event body.
pub(crate) fn parse(body: &[u8]) -> Result<Event, ApiError> {
    let raw: RawEvent = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the body is not an event ({e}); send {{\"event\": \"stored\"|\"accessed\"|\"destroyed\", \"at\": \"<RFC 3339>\", \"note\": \"...\"}} with \"project\" for accessed, \"method\" and \"certificate_sha256\" for destroyed"
        ))
    })?;
    let event = LifecycleEvent::parse(&raw.event).ok_or_else(|| {
        malformed(format!(
            "event {:?} is not stored, accessed or destroyed",
            raw.event
        ))
    })?;
    let at = raw.at.map(|text| instant(&text)).transpose()?;
    for (name, text) in [
        ("note", &raw.note),
        ("project", &raw.project),
        ("method", &raw.method),
        ("certificate_sha256", &raw.certificate_sha256),
    ] {
        bounded(name, text.as_deref(), MAX_TEXT_CHARS)?;
    }
    Ok(Event {
        event,
        at,
        note: raw.note,
        project: raw.project,
        method: raw.method,
        certificate_sha256: raw.certificate_sha256,
    })
}

/// `at` as a UTC instant that the record can carry (RFC 3339 again, so years 0000-9999).
pub(super) fn instant(text: &str) -> Result<OffsetDateTime, ApiError> {
    let bad = || {
        malformed(format!(
            "at {text:?} is not an RFC 3339 instant; use e.g. 2026-11-25T08:00:00Z"
        ))
    };
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|_| bad())?;
    at.format(&Rfc3339).map_err(|_| bad())?;
    Ok(at)
}

/// Serves one event from tenant `tenant`.
pub(super) async fn post(
    state: &Arc<AppState>,
    tenant: &str,
    transfer_id: &str,
    request: Request<RequestBody>,
) -> Result<Reply, ApiError> {
    view::check_transfer_id(transfer_id)?;
    let idle = state.config().limits.body_idle_timeout;
    let body = body::read_whole(request, MAX_BODY_BYTES, idle).await?;
    let event = parse(&body)?;
    let (appended, leaf) = match lifecycle::report(state, tenant, transfer_id, &event).await? {
        Reported::Accepted(appended, leaf) => (appended, leaf),
        Reported::Refused(error) => return Err(error),
    };
    // A lifecycle receipt has no `upstream_status`.
    let witnessed = crate::cosign::witness(state, &appended).await;
    let body = Receipt::proven(
        appended.index,
        &leaf,
        Some(appended.leaf_hash),
        &appended.checkpoint,
        &appended.inclusion_proof,
    )
    .witnessed(&witnessed)
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
