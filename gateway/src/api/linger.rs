//! Every refusal reaches its client (DESIGN.md invariant 12). An answer is often sent before the
//! request's body is read: a denial, a wrong role, an unknown path, a body declared over its
//! limit, an idempotent replay. Closing the connection then, with the client's bytes unread,
//! makes the kernel reset it, and an HTTP/1.1 client that writes its whole body before reading
//! (Python's `http.client`, `requests`) loses the answer; resetting an HTTP/2 stream while the
//! client still uploads makes curl 7.88 drop the answer it already has (`curl: (92)`).
//!
//! So every handler gets its body as a [`RequestBody`]: dropped before its end, it hands hyper's
//! body to a task on the same runtime that reads and discards the rest, within `[limits]
//! lingering_bytes`, `lingering_time_secs` and `lingering_timeout_secs` (nginx's
//! `lingering_close`). Nothing read there goes anywhere. Meanwhile hyper sends the answer: over
//! HTTP/1.1 it is written while the body is still being read, and a body drained to its end
//! leaves the connection open for the next request; over HTTP/2 the stream's flow-control
//! window keeps opening as the drain reads, and the stream ends when the client ends its body.
//! Past a bound the body is dropped: HTTP/1.1 closes the connection, HTTP/2 resets the stream
//! (`NO_ERROR` once the answer is complete, RFC 9113 section 8.1). No handler has to remember any
//! of this.
//!
//! One exception, for HTTP/2 clients: a *successful* answer to a request whose body was not read
//! (an idempotent replay) is sent once the body is drained (`api::handle` waits for
//! [`Finished`]). curl 7.88 stops uploading when a 2xx answer arrives before its body is sent,
//! and then never completes, whatever the stream does next; on an error answer it stops sending
//! by itself and reports the answer, so error answers go at once.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Lingering;
use crate::state::AppState;

/// A request's body as handlers see it; see the module documentation.
pub(crate) struct RequestBody {
    /// hyper's body; `None` once handed to a drain.
    inner: Option<Incoming>,
    /// It ended, or failed: nothing is left to drain.
    done: bool,
    /// Where a drain gets its bounds and counts its outcome.
    state: Arc<AppState>,
    /// Dropped when the body was read to its end, dropped at its end, or drained: what
    /// [`Finished`] waits for.
    finished: Option<oneshot::Sender<()>>,
    /// Bytes handed to the handler (a drain's are not counted): the request log's `bytes_in`.
    read: Arc<AtomicU64>,
}

impl RequestBody {
    /// Wraps `inner`; the second half tells when it is finished with (see [`Lingered`]).
    pub(crate) fn new(inner: Incoming, state: Arc<AppState>) -> (Self, Finished) {
        let (finished, waiting) = oneshot::channel();
        let body = Self {
            inner: Some(inner),
            done: false,
            state,
            finished: Some(finished),
            read: Arc::default(),
        };
        (body, Finished(waiting))
    }

    /// The count of body bytes the handler has read so far (not those a drain discards).
    pub(crate) fn bytes_read(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }
}

/// Resolves once a [`RequestBody`] has been read, dropped at its end, or drained.
pub(crate) struct Finished(oneshot::Receiver<()>);

impl Finished {
    /// Whether the body is finished with already (the common case: read, or never sent).
    pub(crate) fn is_done(&mut self) -> bool {
        !matches!(self.0.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    }

    /// Waits until the body has been read, dropped at its end, or drained (within the lingering
    /// bounds).
    pub(crate) async fn wait(self) {
        let _ = self.0.await;
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.read
                    .fetch_add(bytes::Buf::remaining(data) as u64, Ordering::Relaxed);
            }
        }
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.done = true;
            // Finished with, even while a holder (an upstream request) keeps the wrapper.
            this.finished = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if self.is_end_stream() {
            return;
        }
        let Some(inner) = self.inner.take() else {
            return;
        };
        // Dropped outside a runtime (never on the request path): hyper closes as before.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let state = self.state.clone();
            let finished = self.finished.take();
            runtime.spawn(async move {
                let bounds = state.config().lingering;
                let (outcome, read) = drain(inner, bounds).await;
                drop(finished);
                state.metrics.lingered(outcome.as_str());
                tracing::debug!(
                    outcome = outcome.as_str(),
                    bytes = read,
                    "unread request body drained"
                );
            });
        }
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// The body was read to its end (an HTTP/1.1 connection stays open).
    ToEnd,
    /// The client ended it (reset, closed the connection or the stream).
    Closed,
    /// Cut at `lingering_bytes`.
    Bytes,
    /// Cut at `lingering_time_secs`.
    Time,
    /// Cut after `lingering_timeout_secs` without a byte.
    Idle,
}

impl Drained {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Drained::ToEnd => "drained",
            Drained::Closed => "closed",
            Drained::Bytes => "bytes",
            Drained::Time => "time",
            Drained::Idle => "idle",
        }
    }
}

/// Reads and discards `body` within `bounds`; how it ended and the bytes read. The body is
/// dropped on return.
pub(crate) async fn drain<B>(mut body: B, bounds: Lingering) -> (Drained, u64)
where
    B: Body + Unpin,
{
    let until = Instant::now() + bounds.time;
    let mut read: u64 = 0;
    if bounds.bytes == 0 {
        return (Drained::Bytes, 0);
    }
    loop {
        let idle_until = (Instant::now() + bounds.timeout).min(until);
        let frame = match tokio::time::timeout_at(idle_until, body.frame()).await {
            Ok(frame) => frame,
            Err(_) if idle_until >= until => return (Drained::Time, read),
            Err(_) => return (Drained::Idle, read),
        };
        match frame {
            None => return (Drained::ToEnd, read),
            Some(Err(_)) => return (Drained::Closed, read),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read = read.saturating_add(bytes::Buf::remaining(data) as u64);
                }
            }
        }
        if read > bounds.bytes && !body.is_end_stream() {
            return (Drained::Bytes, read);
        }
    }
}

#[cfg(test)]
mod tests;
