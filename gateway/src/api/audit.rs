//! The regulator API (SPEC.md section 4, role `regulator`: read only, DESIGN.md invariant 8):
//! record queries, one record with its proof, inclusion and consistency proofs, the streamed
//! export, overdue retention (rule 21) and the year-to-date counters (rule 19). The checkpoint
//! (`GET /v1/audit/checkpoint`) is served by the router itself.
//!
//! Reads of the log and its index are blocking (files, sled): they run on tokio's blocking
//! threads. Bad parameters get 400 `request.malformed_query` with what to send instead.

mod export;
mod proofs;
mod query;
mod records;
mod retention;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::{Method, StatusCode, Uri};
use loopgate_policy::ReasonCode;
use serde_json::Value;

use super::{Answer, ApiError};
use crate::state::AppState;

/// One regulator endpoint, resolved from the path below `/v1/audit/`.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    /// `GET /v1/audit/records`
    Records,
    /// `GET /v1/audit/records/{log_index}` (the segment as sent).
    Record(String),
    /// `GET /v1/audit/proof/inclusion`
    Inclusion,
    /// `GET /v1/audit/proof/consistency`
    Consistency,
    /// `GET /v1/audit/export`
    Export,
    /// `GET /v1/audit/retention/overdue`
    Overdue,
    /// `GET /v1/audit/counters`
    Counters,
}

/// Resolves `rest` (the path segments after `/v1/audit`): 404 for an unknown path, 405 for a
/// method other than GET.
pub(super) fn endpoint(rest: &[&str], method: &Method, path: &str) -> Result<Endpoint, ApiError> {
    let endpoint = match rest {
        ["records"] => Some(Endpoint::Records),
        ["records", index] => Some(Endpoint::Record((*index).to_owned())),
        ["proof", "inclusion"] => Some(Endpoint::Inclusion),
        ["proof", "consistency"] => Some(Endpoint::Consistency),
        ["export"] => Some(Endpoint::Export),
        ["retention", "overdue"] => Some(Endpoint::Overdue),
        ["counters"] => Some(Endpoint::Counters),
        // GET is served by the router; any other method is not allowed.
        ["checkpoint"] => None,
        _ => {
            return Err(ApiError::new(ReasonCode::RequestNotFound)
                .message(format!("no endpoint {method} {path}")));
        }
    };
    match endpoint {
        Some(endpoint) if method == Method::GET => Ok(endpoint),
        _ => Err(ApiError::new(ReasonCode::RequestMethodNotAllowed)
            .message(format!("{path} takes GET only"))),
    }
}

/// The route template for metrics and request logs (a bounded label, never the raw path).
pub(super) fn route_template(rest: &[&str]) -> &'static str {
    match rest {
        ["records"] => "/v1/audit/records",
        ["records", _] => "/v1/audit/records/{log_index}",
        ["proof", "inclusion"] => "/v1/audit/proof/inclusion",
        ["proof", "consistency"] => "/v1/audit/proof/consistency",
        ["export"] => "/v1/audit/export",
        ["retention", "overdue"] => "/v1/audit/retention/overdue",
        ["counters"] => "/v1/audit/counters",
        ["checkpoint"] => "/v1/audit/checkpoint",
        _ => "other",
    }
}

/// Serves a regulator endpoint (the role was checked by the router).
pub(super) async fn serve(
    state: &Arc<AppState>,
    endpoint: Endpoint,
    uri: &Uri,
) -> Result<Answer, ApiError> {
    let query = uri.query();
    match endpoint {
        Endpoint::Records => whole(records::select(state, query).await?),
        Endpoint::Record(index) => whole(proofs::record(state, &index, query).await?),
        Endpoint::Inclusion => json(proofs::inclusion(state, query).await?),
        Endpoint::Consistency => json(proofs::consistency(state, query).await?),
        Endpoint::Export => export::stream(state, query).await,
        Endpoint::Overdue => json(retention::overdue(state, query)?),
        Endpoint::Counters => json(retention::counters(state, query)?),
    }
}

fn json(body: Value) -> Result<Answer, ApiError> {
    Ok(Answer::Whole((
        StatusCode::OK,
        bytes::Bytes::from(body.to_string()),
    )))
}

/// A 200 answer with a body already serialised as JSON.
fn whole(body: Vec<u8>) -> Result<Answer, ApiError> {
    Ok(Answer::Whole((StatusCode::OK, bytes::Bytes::from(body))))
}

/// 503 `audit.unavailable` for a log that cannot be read.
fn unreadable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "audit log read failed");
    ApiError::new(ReasonCode::AuditUnavailable)
        .message(format!("the audit log cannot be read: {e}"))
}

/// Runs `read` on a blocking thread with the shared state (sled and segment reads, and the
/// wait for the index to cover the latest records, must not stall a tokio worker).
pub(super) async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    read: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || read(&state))
        .await
        .map_err(unreadable)?
}
