//! `GET /v1/audit/export?from=&to=`: the records the regulator sees, as JSON Lines, streamed
//! with constant memory.
//!
//! Each line is the envelope `{"log_index", "leaf", "leaf_hash", "record"}` (the same as a
//! `/v1/audit/records` entry), so a regulator can check every hash and rebuild the tree. `from`
//! and `to` are both log indexes (`from..to`, `to` exclusive) or both RFC 3339 instants (each
//! record's `time` in `from..=to`, both inclusive as in `/v1/audit/records`); both optional. The export covers the log as it was
//! when the request arrived.
//!
//! The body is produced on demand: each time the connection asks for more (HTTP/2 only once the
//! client's window has room), one blocking task reads the next ~64 KiB of lines
//! (`Log::read_range`, on tokio's blocking threads) and returns. A client that does not read
//! holds no thread, no file and at most one chunk: the segment file is closed once each chunk
//! is produced (`Frames::release`) and reopened at the offset reached for the next. (Kept open
//! between chunks, the stalled streams of one regulator certificate, up to
//! `max_concurrent_streams` per connection, filled the descriptor table.) One that goes away
//! drops the body, and with it the reader. A read error mid-stream aborts the body, so the
//! client sees a cut transfer, never a complete-looking one; its line names the cause (out of
//! descriptors is not a disk fault) and is rate-limited.
//!
//! Exports being sent are bounded: `[limits] max_exports` at once in all, and
//! `max_exports_per_principal` for one principal; one more is answered `429 quota.exceeded`
//! before anything is read. An export's slot is held by its body, so it comes back when the body
//! ends or is dropped (the client read it all, reset the stream or closed the connection). A
//! stalled export holds one chunk of memory and a slot, nothing else.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use loopgate_audit::{Fault, Frames};
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;

use super::query::{Params, instant, malformed};
use super::reader::Reader;
use super::{blocking, unreadable};
use crate::api::receipt::entry;
use crate::api::{Answer, BodyError};
use crate::reply::ApiError;
use crate::state::AppState;
use loopgate_policy::ReasonCode;

/// The content type of the export.
pub(crate) const CONTENT_TYPE: &str = "application/jsonl";
/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;

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

/// The exports being sent, in all and per principal (one gateway per process).
static SENDING: Mutex<Option<Sending>> = Mutex::new(None);

#[derive(Debug, Default)]
struct Sending {
    total: usize,
    per_principal: std::collections::HashMap<String, usize>,
}

/// One export's place among those being sent; dropping it frees it.
#[derive(Debug)]
pub(super) struct Slot {
    principal: String,
    sending: &'static Mutex<Option<Sending>>,
}

impl Slot {
    /// A slot for `principal` under the configured `[limits] max_exports` and
    /// `max_exports_per_principal`, or 429 `quota.exceeded` when either is reached.
    pub(super) fn take(state: &AppState, principal: &str) -> Result<Self, ApiError> {
        let limits = &state.config().limits;
        Self::take_in(
            &SENDING,
            principal,
            limits.max_exports,
            limits.max_exports_per_principal,
        )
    }

    fn take_in(
        sending: &'static Mutex<Option<Sending>>,
        principal: &str,
        max: usize,
        per_principal: usize,
    ) -> Result<Self, ApiError> {
        let registry = sending;
        let mut guard = registry.lock().unwrap_or_else(PoisonError::into_inner);
        let sending = guard.get_or_insert_with(Sending::default);
        let mine = sending.per_principal.get(principal).copied().unwrap_or(0);
        if mine >= per_principal {
            return Err(ApiError::new(ReasonCode::QuotaExceeded).message(format!(
                "{principal} already has {mine} audit exports being sent ([limits] max_exports_per_principal); finish or close one of them first"
            )));
        }
        if sending.total >= max {
            return Err(ApiError::new(ReasonCode::QuotaExceeded).message(format!(
                "{} audit exports are being sent already ([limits] max_exports); retry once one has ended",
                sending.total
            )));
        }
        sending.total += 1;
        *sending
            .per_principal
            .entry(principal.to_owned())
            .or_insert(0) += 1;
        Ok(Self {
            principal: principal.to_owned(),
            sending: registry,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.sending.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sending) = guard.as_mut() else {
            return;
        };
        sending.total = sending.total.saturating_sub(1);
        if let Some(count) = sending.per_principal.get_mut(&self.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                sending.per_principal.remove(&self.principal);
            }
        }
    }
}

/// Starts the export and answers with its streamed body.
pub(super) async fn stream(
    state: &Arc<AppState>,
    reader: Reader,
    principal: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let params = Params::parse(query, &["from", "to"])?;
    let slot = Slot::take(state, principal)?;
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
    let rows = blocking(state, move |state| {
        let rows = state.log.read_range(start, end.max(start));
        rows.map_err(unreadable)
    })
    .await?;
    let body = Export {
        next: Some(Box::new(Lines {
            rows,
            times,
            reader,
        })),
        reading: None,
        _slot: slot,
    };
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

/// The log's records in order, from a blocking read.
type Rows = Frames;

/// Lines about unreadable exports written per [`READ_ERRORS_EVERY`] (many stalled streams fail
/// together when the cause is shared, e.g. the descriptor table is full).
const READ_ERRORS_LOGGED: u64 = 5;
/// The window of [`READ_ERRORS_LOGGED`].
const READ_ERRORS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

static READ_ERRORS: Mutex<Option<crate::server::Throttled>> = Mutex::new(None);

/// Logs an export's read error at a bounded rate, naming its cause and remedy.
fn log_read_error(e: &loopgate_audit::Error) {
    let fault = Fault::of(e);
    let hit = READ_ERRORS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(|| crate::server::Throttled::new(READ_ERRORS_EVERY, READ_ERRORS_LOGGED))
        .hit(std::time::Instant::now());
    if let Some(suppressed) = hit {
        tracing::error!(
            error = %e,
            fault = %fault,
            remedy = fault.remedy(),
            suppressed,
            "export: the audit log cannot be read; body aborted (suppressed: like lines since the last)"
        );
    }
}

/// The records still to export, and what filters them.
struct Lines {
    rows: Rows,
    times: Option<(Option<OffsetDateTime>, Option<OffsetDateTime>)>,
    reader: Reader,
}

/// What one blocking read gives: the next chunk (`None` at the end) and the rest to read.
type Read = (Result<Option<Bytes>, BodyError>, Box<Lines>);

impl Lines {
    /// Reads on until a chunk of about [`CHUNK_BYTES`] is gathered or the records end.
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        // Grows past this only for a line longer than the headroom.
        let mut chunk = BytesMut::with_capacity(CHUNK_BYTES + 8 * 1024);
        for row in self.rows.by_ref() {
            let (index, leaf) = row.map_err(|e| {
                log_read_error(&e);
                Box::new(e) as BodyError
            })?;
            let line = entry(index, &leaf);
            if self
                .times
                .is_some_and(|times| !in_times(line.record, times))
                || !self.reader.sees_leaf(&leaf)
            {
                continue;
            }
            serde_json::to_writer((&mut chunk).writer(), &line).map_err(|e| {
                tracing::error!(error = %e, "export: cannot serialise a record; body aborted");
                Box::new(e) as BodyError
            })?;
            chunk.extend_from_slice(b"\n");
            if chunk.len() >= CHUNK_BYTES {
                break;
            }
        }
        Ok((!chunk.is_empty()).then(|| chunk.freeze()))
    }
}

/// The export's body: one chunk read when the connection polls for it, none ahead.
struct Export {
    /// The records to read; `None` while a read runs and once done.
    next: Option<Box<Lines>>,
    /// The blocking read under way.
    reading: Option<JoinHandle<Read>>,
    /// Its place among the exports being sent.
    _slot: Slot,
}

impl Body for Export {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.reading.is_none() {
            let Some(mut lines) = this.next.take() else {
                return Poll::Ready(None);
            };
            this.reading = Some(tokio::task::spawn_blocking(move || {
                let chunk = lines.next_chunk();
                // No file stays open while the client takes its time with this chunk.
                lines.rows.release();
                (chunk, lines)
            }));
        }
        let Some(reading) = this.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let read = ready!(Pin::new(reading).poll(cx));
        this.reading = None;
        match read {
            Ok((Ok(Some(chunk)), lines)) => {
                this.next = Some(lines);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Ok((Ok(None), _)) => Poll::Ready(None),
            Ok((Err(e), _)) => Poll::Ready(Some(Err(e))),
            Err(e) => Poll::Ready(Some(Err(Box::new(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.next.is_none() && self.reading.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_bounded_per_principal_and_in_all_and_their_slots_come_back() {
        static SENDING: Mutex<Option<Sending>> = Mutex::new(None);
        let take = |who: &str| Slot::take_in(&SENDING, who, 3, 2);
        let a1 = take("regulator/a").unwrap();
        let a2 = take("regulator/a").unwrap();
        let over = take("regulator/a").unwrap_err();
        assert_eq!(over.code, ReasonCode::QuotaExceeded);
        let b1 = take("regulator/b").unwrap();
        let full = take("regulator/c").unwrap_err();
        assert_eq!(full.code, ReasonCode::QuotaExceeded);
        drop(a1);
        let a3 = take("regulator/a").unwrap();
        drop((a2, a3, b1));
        let guard = SENDING.lock().unwrap();
        let sending = guard.as_ref().unwrap();
        assert_eq!(sending.total, 0);
        assert!(sending.per_principal.is_empty());
    }
}
