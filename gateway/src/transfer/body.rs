//! The body on its way to the upstream (DESIGN.md invariant 6): counted, hashed, limited, and
//! always one chunk behind. The last chunk is only released once the whole body has arrived and
//! its size and SHA-256 match what was declared; on any mismatch the body fails instead, the HTTP
//! client aborts the upstream request, and the upstream never sees a complete body.
//!
//! Memory stays bounded by one chunk whatever the body's size (invariant 9).
//!
//! It also says who the transfer waits for ([`Progress`]): while the upstream takes its chunks
//! as fast as the sender sends them, only the sender's idle timeout applies (a slow upload that
//! keeps coming is never cut); a body the upstream stopped taking, or the upstream's answer
//! after the last chunk, is timed from the last chunk it took (`forward`).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use ring::digest;
use tokio::time::{Instant, Sleep};

/// What the sender declared about the body, and the limits it must stay within.
#[derive(Debug, Clone)]
pub struct Expected {
    /// `Content-Length`, when sent.
    pub length: Option<u64>,
    /// `Content-Digest: sha-256=:...:`, when sent.
    pub sha256: Option<[u8; 32]>,
    /// The item's `max_transfer_bytes`.
    pub max_bytes: u64,
    /// Longest wait for the next bytes from the sender.
    pub idle_timeout: Duration,
}

/// A body that arrived whole and matched its declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Bytes received (and forwarded).
    pub size: u64,
    /// SHA-256 of those bytes.
    pub sha256: [u8; 32],
}

/// Why a body was not forwarded whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyFault {
    /// More bytes than the item allows.
    #[error("the body is larger than the item's limit of {limit} bytes")]
    TooLarge {
        /// `max_transfer_bytes`.
        limit: u64,
    },
    /// More or fewer bytes than `Content-Length` said.
    #[error("the body has {actual} bytes but Content-Length declared {declared}")]
    LengthMismatch {
        /// `Content-Length`.
        declared: u64,
        /// What arrived (so far, when there were too many).
        actual: u64,
    },
    /// The SHA-256 differs from `Content-Digest`.
    #[error("the body's SHA-256 does not match its Content-Digest")]
    DigestMismatch,
    /// The sender stopped sending for longer than the idle timeout.
    #[error("the sender sent nothing for {0:?}")]
    IdleTimeout(Duration),
    /// The sender's connection failed mid-body.
    #[error("the sender's body failed: {0}")]
    Client(String),
}

/// Where the pipeline learns how the body ended: `None` while streaming (or when the upstream
/// stopped reading early), then the verified body or the fault.
pub(crate) type BodyReport = Arc<Mutex<Option<Result<Verified, BodyFault>>>>;

/// Where a forwarded body stands: when it last moved towards the upstream, and whether it now
/// waits for the sender. Shared between the body (polled by the upstream connection) and the
/// transfer that times the upstream (`forward`).
#[derive(Debug)]
pub(crate) struct Progress {
    base: Instant,
    /// Nanoseconds after `base` when a chunk was last handed on, or the body ended.
    moved: AtomicU64,
    /// The upstream asked for more and the sender has not sent it yet.
    waiting_on_sender: AtomicBool,
}

impl Progress {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            moved: AtomicU64::new(0),
            waiting_on_sender: AtomicBool::new(false),
        }
    }

    fn moved_now(&self) {
        self.moved_at(Instant::now());
    }

    fn moved_at(&self, at: Instant) {
        let nanos = u64::try_from(at.duration_since(self.base).as_nanos()).unwrap_or(u64::MAX);
        self.moved.store(nanos, Ordering::Relaxed);
        self.waiting_on_sender.store(false, Ordering::Relaxed);
    }

    fn waiting(&self, waiting: bool) {
        self.waiting_on_sender.store(waiting, Ordering::Relaxed);
    }

    /// When the upstream has taken `timeout` without taking more of the body (or, once the body
    /// was all handed on, without answering); `None` while the body waits for the sender, whose
    /// own idle timeout applies then.
    pub(crate) fn upstream_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.waiting_on_sender.load(Ordering::Relaxed) {
            return None;
        }
        let moved = Duration::from_nanos(self.moved.load(Ordering::Relaxed));
        Some(self.base + moved + timeout)
    }
}

/// Wraps the sender's body for forwarding; see the module documentation.
pub struct VerifyingBody<B> {
    inner: Pin<Box<B>>,
    expected: Expected,
    hasher: Option<digest::Context>,
    count: u64,
    held: Option<Bytes>,
    finished: bool,
    /// Fires at the idle deadline as it was when last armed; a frame only moves `last_frame`,
    /// and the timer is re-armed when it fires early (re-arming a tokio timer for every frame
    /// cost a wake-up of the runtime's driver each time).
    idle: Pin<Box<Sleep>>,
    last_frame: Instant,
    report: BodyReport,
    progress: Arc<Progress>,
}

impl<B> VerifyingBody<B> {
    /// Wraps `inner`; the outcome is written to the returned report.
    pub fn new(inner: B, expected: Expected) -> (Self, BodyReport) {
        let report: BodyReport = Arc::default();
        let idle = Box::pin(tokio::time::sleep(expected.idle_timeout));
        let body = Self {
            inner: Box::pin(inner),
            expected,
            hasher: Some(digest::Context::new(&digest::SHA256)),
            count: 0,
            held: None,
            finished: false,
            idle,
            last_frame: Instant::now(),
            report: report.clone(),
            progress: Arc::new(Progress::new()),
        };
        (body, report)
    }

    /// Where the body stands, for timing the upstream.
    pub(crate) fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    fn fail(&mut self, fault: BodyFault) -> Poll<Option<Result<Frame<Bytes>, BodyFault>>> {
        self.finished = true;
        self.held = None;
        self.set_report(Err(fault.clone()));
        Poll::Ready(Some(Err(fault)))
    }

    fn set_report(&self, outcome: Result<Verified, BodyFault>) {
        if let Ok(mut slot) = self.report.lock() {
            *slot = Some(outcome);
        }
    }

    /// Counts and hashes one chunk; the error is the fault to fail with.
    fn take_in(&mut self, chunk: &Bytes) -> Result<(), BodyFault> {
        self.count = self.count.saturating_add(chunk.len() as u64);
        if self.count > self.expected.max_bytes {
            return Err(BodyFault::TooLarge {
                limit: self.expected.max_bytes,
            });
        }
        if let Some(declared) = self.expected.length {
            if self.count > declared {
                return Err(BodyFault::LengthMismatch {
                    declared,
                    actual: self.count,
                });
            }
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(chunk);
        }
        Ok(())
    }

    /// End of the sender's body: checks length and digest.
    fn verify(&mut self) -> Result<Verified, BodyFault> {
        if let Some(declared) = self.expected.length {
            if self.count != declared {
                return Err(BodyFault::LengthMismatch {
                    declared,
                    actual: self.count,
                });
            }
        }
        let digest = self
            .hasher
            .take()
            .map(digest::Context::finish)
            .ok_or_else(|| BodyFault::Client("the body ended twice".to_owned()))?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest.as_ref());
        if self
            .expected
            .sha256
            .is_some_and(|expected| expected != sha256)
        {
            return Err(BodyFault::DigestMismatch);
        }
        Ok(Verified {
            size: self.count,
            sha256,
        })
    }
}

impl<B> Body for VerifyingBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = BodyFault;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyFault>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                this.progress.moved_now();
                return Poll::Ready(this.held.take().map(|chunk| Ok(Frame::data(chunk))));
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    this.progress.waiting(true);
                    while this.idle.as_mut().poll(cx).is_ready() {
                        let deadline = this.last_frame + this.expected.idle_timeout;
                        if Instant::now() >= deadline {
                            return this.fail(BodyFault::IdleTimeout(this.expected.idle_timeout));
                        }
                        this.idle.as_mut().reset(deadline);
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(e))) => {
                    // The HTTP layer enforces Content-Length itself, so a body that ends short
                    // of it arrives as an error, not as an early end: still a length mismatch.
                    let fault = match this.expected.length {
                        Some(declared) if this.count < declared => BodyFault::LengthMismatch {
                            declared,
                            actual: this.count,
                        },
                        _ => BodyFault::Client(e.to_string()),
                    };
                    return this.fail(fault);
                }
                Poll::Ready(Some(Ok(frame))) => {
                    this.last_frame = Instant::now();
                    // Trailers are not forwarded: the declaration is in the headers.
                    let Ok(chunk) = frame.into_data() else {
                        continue;
                    };
                    if chunk.is_empty() {
                        continue;
                    }
                    if let Err(fault) = this.take_in(&chunk) {
                        return this.fail(fault);
                    }
                    if let Some(previous) = this.held.replace(chunk) {
                        this.progress.moved_at(this.last_frame);
                        return Poll::Ready(Some(Ok(Frame::data(previous))));
                    }
                }
                Poll::Ready(None) => match this.verify() {
                    Ok(verified) => {
                        this.finished = true;
                        this.set_report(Ok(verified));
                    }
                    Err(fault) => return this.fail(fault),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.held.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.expected.length {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
