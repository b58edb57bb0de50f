//! `GET /v1/audit/export?from=&to=`: the records the regulator sees, as JSON Lines, streamed
//! with constant memory.
//!
//! Each line is the envelope `{"log_index", "leaf", "leaf_hash", "record"}` (the same as a
//! `/v1/audit/records` entry), so a regulator can check every hash and rebuild the tree. `from`
//! and `to` are both log indexes (`from..to`, `to` exclusive) or both RFC 3339 instants (each
//! record's `time` in `from..=to`, both inclusive as in `/v1/audit/records`); both optional. The export covers the log as it was
//! when the request arrived.
//!
//! A blocking thread reads the records in order (`Log::read_range`) and sends ~64 KiB chunks
//! through a bounded channel: it waits while the client is slow (backpressure) and stops when
//! the client goes away. A read error mid-stream aborts the body, so the client sees a cut
//! transfer, never a complete-looking one.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::query::{Params, instant, malformed};
use super::reader::Reader;
use super::{blocking, unreadable};
use crate::api::receipt::entry;
use crate::api::{Answer, BodyError};
use crate::reply::ApiError;
use crate::state::AppState;

/// The content type of the export.
pub(crate) const CONTENT_TYPE: &str = "application/jsonl";
/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks that may wait in the channel for a slow client.
const CHANNEL_CHUNKS: usize = 4;

/// What the export covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// Log indexes `from..to`.
    Indexes { from: u64, to: u64 },
    /// Records whose time is in `from..=to`.
    Times {
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    },
}

/// A bound as given: an index or an instant.
enum Bound {
    Index(u64),
    Instant(OffsetDateTime),
}

fn bound(params: &Params, name: &str) -> Result<Option<Bound>, ApiError> {
    let Some(text) = params.text(name) else {
        return Ok(None);
    };
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let index = text
            .parse()
            .map_err(|_| malformed(format!("{name}={text:?} is too large for a log index")))?;
        return Ok(Some(Bound::Index(index)));
    }
    instant(name, text).map(|t| Some(Bound::Instant(t)))
}

fn range(params: &Params, size: u64) -> Result<Range, ApiError> {
    let (from, to) = (bound(params, "from")?, bound(params, "to")?);
    match (from, to) {
        (Some(Bound::Index(_)), Some(Bound::Instant(_)))
        | (Some(Bound::Instant(_)), Some(Bound::Index(_))) => Err(malformed(
            "from and to must both be log indexes or both RFC 3339 instants",
        )),
        (from @ (None | Some(Bound::Instant(_))), to @ (None | Some(Bound::Instant(_))))
            if from.is_some() || to.is_some() =>
        {
            let at = |b: Option<Bound>| match b {
                Some(Bound::Instant(t)) => Some(t),
                _ => None,
            };
            let (from, to) = (at(from), at(to));
            if let (Some(f), Some(t)) = (from, to) {
                if f > t {
                    return Err(malformed(
                        "from is after to; give the earlier instant first",
                    ));
                }
            }
            Ok(Range::Times { from, to })
        }
        (from, to) => {
            let index = |b: Option<Bound>, default: u64| match b {
                Some(Bound::Index(i)) => i,
                _ => default,
            };
            let (from, to) = (index(from, 0), index(to, size));
            if to > size {
                return Err(malformed(format!(
                    "to={to} is beyond the log: its current size is {size}; ask for at most {size}"
                )));
            }
            if from > to {
                return Err(malformed(format!(
                    "from={from} is larger than to={to}; give the smaller index first"
                )));
            }
            Ok(Range::Indexes { from, to })
        }
    }
}

/// Starts the export and answers with its streamed body.
pub(super) async fn stream(
    state: &Arc<AppState>,
    reader: Reader,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let params = Params::parse(query, &["from", "to"])?;
    let size = state.log.size();
    let range = range(&params, size)?;
    let (start, end, times) = match range {
        Range::Indexes { from, to } => (from, to, None),
        Range::Times { from, to } => {
            let (start, end) = blocking(state, move |state| {
                state.log.time_bounds(from, to).map_err(unreadable)
            })
            .await?;
            (start, end.min(size), Some((from, to)))
        }
    };
    let (sender, body) = Channel::<Bytes, BodyError>::new(CHANNEL_CHUNKS);
    let (opened, open) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    let log_state = state.clone();
    tokio::task::spawn_blocking(move || {
        // The records are read on this thread from start to end: an error opening the range
        // is still an HTTP error; one after the first bytes aborts the body.
        match log_state.log.read_range(start, end.max(start)) {
            Ok(rows) => {
                if opened.send(Ok(())).is_ok() {
                    produce(rows, (times, &reader), sender, &runtime);
                }
            }
            Err(e) => {
                let _ = opened.send(Err(unreadable(e)));
            }
        }
    });
    open.await.map_err(unreadable)??;
    let mut response = Response::new(body.boxed_unsync());
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(Answer::Response(response))
}

/// The one field of a record the time filter reads.
#[derive(Deserialize)]
struct Timed<'a> {
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
}

/// Whether `record` (an object with a string `time`) is in `from..=to`.
fn in_times(
    record: Option<&RawValue>,
    (from, to): (Option<OffsetDateTime>, Option<OffsetDateTime>),
) -> bool {
    let Some(time) = record
        // Only an object has a `time` (serde would also read a struct from an array).
        .filter(|raw| raw.get().starts_with('{'))
        .and_then(|raw| serde_json::from_str::<Timed<'_>>(raw.get()).ok())
        .and_then(|timed| timed.time)
        .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
    else {
        return false;
    };
    from.is_none_or(|f| time >= f) && to.is_none_or(|t| time <= t)
}

/// Reads the records and sends them as lines, a chunk at a time, until done or the client left.
#[allow(clippy::type_complexity)]
fn produce(
    rows: impl Iterator<Item = loopgate_audit::Result<(u64, Vec<u8>)>>,
    (times, reader): (
        Option<(Option<OffsetDateTime>, Option<OffsetDateTime>)>,
        &Reader,
    ),
    mut sender: http_body_util::channel::Sender<Bytes, BodyError>,
    runtime: &tokio::runtime::Handle,
) {
    let mut chunk = BytesMut::with_capacity(CHUNK_BYTES * 2);
    for row in rows {
        let (index, leaf) = match row {
            Ok(row) => row,
            Err(e) => {
                tracing::error!(error = %e, "export: the audit log cannot be read; body aborted");
                sender.abort(Box::new(e));
                return;
            }
        };
        let line = entry(index, &leaf);
        if times.is_some_and(|times| !in_times(line.record, times)) || !reader.sees_leaf(&leaf) {
            continue;
        }
        if let Err(e) = serde_json::to_writer((&mut chunk).writer(), &line) {
            tracing::error!(error = %e, "export: cannot serialise a record; body aborted");
            sender.abort(Box::new(e));
            return;
        }
        chunk.extend_from_slice(b"\n");
        if chunk.len() >= CHUNK_BYTES {
            let full = chunk.split().freeze();
            if runtime.block_on(sender.send_data(full)).is_err() {
                tracing::info!("export: the client went away");
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = runtime.block_on(sender.send_data(chunk.freeze()));
    }
}
