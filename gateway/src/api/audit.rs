//! The regulator API (SPEC.md section 4, role `regulator`: read only, DESIGN.md invariant 8):
//! the latest checkpoint, record queries, one record with its proof, inclusion and consistency
//! proofs, the streamed export, overdue retention (rule 21), the year-to-date counters
//! (rule 19) and the log as C2SP `tlog-tiles` (hash tiles and entry bundles). What shows
//! records shows only those the regulator's `[[regulator]] sees` covers (`reader`); checkpoints, proofs and hash tiles reveal no record and are open to every
//! regulator; entry bundles hold every record of their range: only for one that sees `all`.
//!
//! Reads of the log and its index are blocking (files, sled): they run on tokio's blocking
//! threads (`state::blocking`). Bad parameters get 400 `request.malformed_query` with what to
//! send instead.

mod export;
mod proofs;
pub(super) mod query;
mod reader;
mod records;
mod report;
mod retention;
mod shipments;
mod stats;
#[cfg(test)]
mod tests;
mod tiles;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

use super::Answer;
use crate::reply::ApiError;
use crate::state::AppState;
use reader::Reader;

/// `GET /v1/audit/checkpoint`: the latest signed checkpoint, as text.
/// Not cached (`Cache-Control: no-cache`): a mirror following the log by its tiles re-reads it
/// each time, as C2SP tlog-tiles asks of a log's checkpoint.
/// With `[[witness]]`: the latest checkpoint the quorum cosigned (the log's signature line and
/// the witnesses' cosignature lines); the log's latest until one is.
pub(super) fn checkpoint(state: &AppState) -> Answer {
    let text = match state.cosigning.latest() {
        Some(cosigned) => cosigned.text.clone(),
        None => state.log.latest_checkpoint().text().to_owned(),
    };
    let mut response = super::json_response((StatusCode::OK, Bytes::from(text)));
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    Answer::Response(response)
}

/// `GET /v1/audit/whoami`: the calling regulator as the policy in force lists it, what it sees,
/// the log's origin and the configured witnesses' verifier keys (for the regulator to compare
/// with the keys it was given out of band; nothing here is to be trusted for verification).
pub(super) fn whoami(state: &AppState, regulator: &str) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    let config = state.config();
    let witnesses: Vec<Value> = config
        .witnesses
        .targets
        .iter()
        .map(|w| serde_json::json!({ "name": w.name, "key": w.key.to_string() }))
        .collect();
    json(serde_json::json!({
        "regulator": reader.id(),
        "sees": reader.scopes(),
        "log_origin": state.log.latest_checkpoint().origin(),
        "witness_quorum": config.witnesses.quorum,
        "witnesses": witnesses,
    }))
}

/// `GET /v1/audit/records`
pub(super) async fn records(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    whole(records::select(state, reader, query).await?)
}

/// `GET /v1/audit/records/{log_index}`
pub(super) async fn record(
    state: &Arc<AppState>,
    regulator: &str,
    index: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    whole(proofs::record(state, reader, index, query).await?)
}

/// `GET /v1/audit/proof/inclusion`
pub(super) async fn inclusion(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    json(proofs::inclusion(state, query).await?)
}

/// `GET /v1/audit/proof/consistency`
pub(super) async fn consistency(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    json(proofs::consistency(state, query).await?)
}

/// `GET /v1/audit/export`
pub(super) async fn export(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    export::stream(state, reader, &format!("regulator/{regulator}"), query).await
}

/// `GET /v1/audit/report`
pub(super) async fn report(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    report::report(state, reader, &format!("regulator/{regulator}"), query).await
}

/// `GET /v1/audit/retention/overdue`
pub(super) async fn overdue(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    from_views(state, regulator, query, retention::overdue).await
}

/// `GET /v1/audit/counters`
pub(super) async fn counters(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    from_views(state, regulator, query, retention::counters).await
}

/// `GET /v1/audit/stats`
pub(super) async fn stats(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    from_views(state, regulator, query, stats::stats).await
}

/// `GET /v1/audit/shipments`
pub(super) async fn shipments(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    from_views(state, regulator, query, shipments::list).await
}

/// `GET /v1/audit/tile/<L>/<N>[.p/<W>]`: a hash tile, for every regulator.
pub(super) async fn tile(
    state: &Arc<AppState>,
    path: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    tiles::tile(state, path, query).await
}

/// `GET /v1/audit/tile/entries/<N>[.p/<W>]`: an entry bundle, for a regulator that sees `all`.
pub(super) async fn entries(
    state: &Arc<AppState>,
    regulator: &str,
    path: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    tiles::entries(state, reader, path, query).await
}

/// A regulator's answer read from the views by `read`, which waits for them to take what was
/// acknowledged and then reads sled: on a blocking thread.
async fn from_views(
    state: &Arc<AppState>,
    regulator: &str,
    query: Option<&str>,
    read: fn(&AppState, &Reader, Option<&str>) -> Result<Value, ApiError>,
) -> Result<Answer, ApiError> {
    let reader = Reader::of(state, regulator)?;
    let query = query.map(str::to_owned);
    json(blocking(state, move |state| read(state, &reader, query.as_deref())).await?)
}

fn json(body: Value) -> Result<Answer, ApiError> {
    Ok(Answer::Whole((
        StatusCode::OK,
        Bytes::from(body.to_string()),
    )))
}

/// A 200 answer with a body already serialised as JSON.
fn whole(body: Vec<u8>) -> Result<Answer, ApiError> {
    Ok(Answer::Whole((StatusCode::OK, Bytes::from(body))))
}

/// 503 `audit.unavailable` for a log that cannot be read.
fn unreadable(e: impl std::fmt::Display) -> ApiError {
    ApiError::audit_unavailable("the audit log cannot be read", e)
}

/// [`crate::state::blocking`], for the endpoints here.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    read: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    crate::state::blocking(state, read).await
}
