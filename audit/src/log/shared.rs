//! State shared by the writer thread and the readers: the published size and checkpoint, and
//! the availability flag that makes appends fail fast after a write error. It outlives the
//! writer threads and the index: when the index is reopened after a failure (see
//! `Log::heal`), the new threads take it over.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::fault::Fault;

/// The log's health, for readiness probes and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Whether appends are accepted (the last write worked, or the backoff after a failure
    /// has passed and the next append will probe the disk again).
    pub available: bool,
    /// Records in the log.
    pub size: u64,
    /// The last write error, while the log is unavailable.
    pub last_error: Option<String>,
    /// What caused it (a full disk, no file descriptors left, another I/O error), while the log
    /// is unavailable.
    pub fault: Option<Fault>,
    /// Appends waiting for the writer.
    pub queued: usize,
    /// The index store could not follow a durable batch (a full disk, no file descriptors
    /// left): the log refuses appends until it has reopened the index by itself, which it
    /// tries every couple of seconds once its folder takes writes again (recovery then replays
    /// the segments into the index).
    pub reopening: bool,
}

#[derive(Debug)]
pub(crate) struct Shared {
    published: RwLock<Arc<Checkpoint>>,
    available: AtomicBool,
    failure: Mutex<Option<(Instant, String, Fault)>>,
    /// Set when the index could not follow a durable batch: unavailable until reopened.
    broken: Mutex<Option<String>>,
    pub(crate) queued: AtomicUsize,
    backoff: Duration,
    /// Records the index covers (the `log` tree's tiles and positions and the query terms),
    /// and a signal when that grows.
    indexed: Mutex<u64>,
    indexed_grew: Condvar,
    /// Tests: while set, the indexer writes nothing (the index trails the commits).
    #[cfg(test)]
    pub(crate) hold_index: AtomicBool,
}

impl Shared {
    pub(crate) fn new(checkpoint: Arc<Checkpoint>, backoff: Duration) -> Self {
        let checkpoint_size = checkpoint.size();
        Self {
            published: RwLock::new(checkpoint),
            available: AtomicBool::new(true),
            failure: Mutex::new(None),
            broken: Mutex::new(None),
            queued: AtomicUsize::new(0),
            backoff,
            indexed: Mutex::new(checkpoint_size),
            indexed_grew: Condvar::new(),
            #[cfg(test)]
            hold_index: AtomicBool::new(false),
        }
    }

    /// The latest published checkpoint (its size is the readable size of the log).
    pub(crate) fn checkpoint(&self) -> Arc<Checkpoint> {
        match self.published.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn publish(&self, cp: Arc<Checkpoint>) {
        match self.published.write() {
            Ok(mut g) => *g = cp,
            Err(poisoned) => *poisoned.into_inner() = cp,
        }
    }

    /// `Err(Unavailable)` while the log is failed and its backoff has not passed yet.
    pub(crate) fn check_available(&self) -> Result<()> {
        self.check_broken()?;
        if self.available.load(Ordering::Acquire) {
            return Ok(());
        }
        let failure = self.failure.lock().map(|f| f.clone()).unwrap_or(None);
        match failure {
            Some((at, why, _)) if at.elapsed() < self.backoff => Err(Error::Unavailable(why)),
            _ => Ok(()),
        }
    }

    pub(crate) fn set_failed(&self, why: String, fault: Fault) {
        if let Ok(mut f) = self.failure.lock() {
            *f = Some((Instant::now(), why, fault));
        }
        self.available.store(false, Ordering::Release);
    }

    pub(crate) fn set_broken(&self, why: String, fault: Fault) {
        if let Ok(mut b) = self.broken.lock() {
            *b = Some(why.clone());
        }
        self.set_failed(why, fault);
    }

    /// Whether the index failed and must be reopened.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.lock().map(|b| b.is_some()).unwrap_or(true)
    }

    /// Why the index failed (or a generic reason while it is being reopened).
    pub(crate) fn broken_why(&self) -> String {
        self.broken
            .lock()
            .ok()
            .and_then(|b| b.clone())
            .unwrap_or_else(|| "the audit log is reopening its index".into())
    }

    /// The index was reopened and caught up with the segments up to `checkpoint`: the log
    /// accepts appends again.
    pub(crate) fn reopened(&self, checkpoint: Arc<Checkpoint>) {
        let size = checkpoint.size();
        self.publish(checkpoint);
        if let Ok(mut b) = self.broken.lock() {
            *b = None;
        }
        if let Ok(mut f) = self.failure.lock() {
            *f = None;
        }
        self.available.store(true, Ordering::Release);
        self.set_indexed(size);
    }

    pub(crate) fn set_working(&self) {
        let broken = self.broken.lock().map(|b| b.is_some()).unwrap_or(true);
        if !broken && !self.available.load(Ordering::Acquire) {
            if let Ok(mut f) = self.failure.lock() {
                *f = None;
            }
            self.available.store(true, Ordering::Release);
        }
    }

    /// The indexer covered records `0..size`.
    pub(crate) fn set_indexed(&self, size: u64) {
        if let Ok(mut t) = self.indexed.lock() {
            *t = size;
        }
        self.indexed_grew.notify_all();
    }

    /// How many records the index covers.
    pub(crate) fn indexed(&self) -> u64 {
        match self.indexed.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Waits until the index covers records `0..size` (it trails the acknowledgements by up
    /// to about 10 ms): their positions, tree tiles and query terms.
    pub(crate) fn wait_indexed(&self, size: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut t = self
            .indexed
            .lock()
            .map_err(|_| Error::Unavailable("index lock poisoned".into()))?;
        while *t < size {
            self.check_broken()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Unavailable(
                    "the query index is behind; retry".into(),
                ));
            }
            t = self
                .indexed_grew
                .wait_timeout(t, left.min(Duration::from_millis(50)))
                .map_err(|_| Error::Unavailable("index lock poisoned".into()))?
                .0;
        }
        Ok(())
    }

    fn check_broken(&self) -> Result<()> {
        match self.broken.lock().ok().and_then(|b| b.clone()) {
            Some(why) => Err(Error::Unavailable(why)),
            None => Ok(()),
        }
    }

    pub(crate) fn health(&self) -> Health {
        let available = self.available.load(Ordering::Acquire);
        let failure = if available {
            None
        } else {
            self.failure
                .lock()
                .ok()
                .and_then(|f| f.as_ref().map(|(_, w, c)| (w.clone(), *c)))
        };
        Health {
            available,
            size: self.checkpoint().size(),
            fault: failure.as_ref().map(|f| f.1),
            last_error: failure.map(|f| f.0),
            queued: self.queued.load(Ordering::Relaxed),
            reopening: self.is_broken(),
        }
    }
}
