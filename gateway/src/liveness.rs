//! Is the gateway alive, for the systemd watchdog: the accept loop beats on every turn (and on
//! a short timer while idle), and every append the gateway makes is tracked from queueing to
//! acknowledgement. The gateway is alive when the accept loop beat recently and no append has
//! waited longer than the limit without any append being acknowledged meanwhile (a writer
//! stuck in `fdatasync` stops the pings; a log that fails fast, e.g. a full disk, does not:
//! `/readyz` reports that one).
//!
//! It takes no decision on its own; the watchdog task in `server` asks [`Liveness::check`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Why the gateway does not look alive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stalled {
    /// The accept loop did not turn for this long.
    #[error("the accept loop has not run for {0:?}; the runtime is blocked or the loop is stuck")]
    AcceptLoop(Duration),
    /// Appends have waited this long with none acknowledged.
    #[error(
        "{pending} audit log append(s) waiting for {waited:?} with none acknowledged; the log writer is stuck (check the disk)"
    )]
    LogWriter {
        /// Appends in progress.
        pending: usize,
        /// Since the last progress.
        waited: Duration,
    },
}

/// Heartbeats of the accept loop and the log writer.
#[derive(Debug)]
pub(crate) struct Liveness {
    accept: Mutex<Instant>,
    stopping: AtomicBool,
    pending: AtomicUsize,
    /// When an append was last acknowledged, or the first of the pending ones was queued.
    progress: Mutex<Instant>,
    /// When an append was last acknowledged durable (its checkpoint was signed then).
    last_appended: Mutex<Instant>,
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Liveness {
    /// Everything fresh as of `now`.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            accept: Mutex::new(now),
            stopping: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            progress: Mutex::new(now),
            last_appended: Mutex::new(now),
        }
    }

    /// The accept loop turned.
    pub(crate) fn beat_accept(&self, now: Instant) {
        *lock(&self.accept) = now;
    }

    /// The accept loop ended on purpose (SIGTERM): it is no longer expected to beat.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// An append was queued; the guard marks it finished when dropped.
    pub(crate) fn append_started(&self, now: Instant) -> PendingAppend<'_> {
        if self.pending.fetch_add(1, Ordering::AcqRel) == 0 {
            *lock(&self.progress) = now;
        }
        PendingAppend(self)
    }

    /// An append was acknowledged durable.
    pub(crate) fn appended(&self, now: Instant) {
        *lock(&self.progress) = now;
        *lock(&self.last_appended) = now;
    }

    /// When the last append was acknowledged (its checkpoint signed).
    pub(crate) fn last_appended(&self) -> Instant {
        *lock(&self.last_appended)
    }

    /// Alive at `now` if the accept loop beat within `limit` (or is stopping) and no append
    /// has waited longer than `limit` without progress.
    pub(crate) fn check(&self, now: Instant, limit: Duration) -> Result<(), Stalled> {
        let accept = now.saturating_duration_since(*lock(&self.accept));
        if accept > limit && !self.stopping.load(Ordering::Acquire) {
            return Err(Stalled::AcceptLoop(accept));
        }
        let pending = self.pending.load(Ordering::Acquire);
        let waited = now.saturating_duration_since(*lock(&self.progress));
        if pending > 0 && waited > limit {
            return Err(Stalled::LogWriter { pending, waited });
        }
        Ok(())
    }
}

/// One append in progress; dropping it (acknowledged, refused or cancelled) ends it.
#[derive(Debug)]
pub(crate) struct PendingAppend<'a>(&'a Liveness);

impl Drop for PendingAppend<'_> {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
