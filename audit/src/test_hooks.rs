//! Hooks for tests of what callers do while an append is not yet durable (cargo feature
//! `test-hooks`; the gateway's tests enable it as a dev-dependency, so no build of the binary
//! for use has it). [`hold_writes`] stops every log in this process just before it writes a
//! batch, until the returned guard is dropped: the appends stay queued and unacknowledged, as
//! they would on a disk that stalls.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Whether writes are held, and how many batches wait at the hook.
struct Hold {
    held: bool,
    waiting: usize,
}

static HOLD: Mutex<Hold> = Mutex::new(Hold {
    held: false,
    waiting: 0,
});
static CHANGED: Condvar = Condvar::new();

/// Holds every batch write until dropped (one holder at a time).
#[derive(Debug)]
#[must_use = "writes are released when the guard is dropped"]
pub struct HeldWrites(());

/// Holds every log's batch writes in this process from now until the guard is dropped.
///
/// # Panics
/// When writes are already held.
pub fn hold_writes() -> HeldWrites {
    let mut hold = HOLD.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(!hold.held, "writes are held already");
    hold.held = true;
    HeldWrites(())
}

impl HeldWrites {
    /// Waits until a batch is held at the hook (true), or `timeout` passes (false).
    pub fn wait_for_batch(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut hold = HOLD.lock().unwrap_or_else(PoisonError::into_inner);
        while hold.waiting == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            hold = CHANGED
                .wait_timeout(hold, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl Drop for HeldWrites {
    fn drop(&mut self) {
        HOLD.lock().unwrap_or_else(PoisonError::into_inner).held = false;
        CHANGED.notify_all();
    }
}

/// Called by the writer before each batch write: waits while writes are held.
pub(crate) fn before_write() {
    let mut hold = HOLD.lock().unwrap_or_else(PoisonError::into_inner);
    if !hold.held {
        return;
    }
    hold.waiting += 1;
    CHANGED.notify_all();
    while hold.held {
        hold = CHANGED.wait(hold).unwrap_or_else(PoisonError::into_inner);
    }
    hold.waiting -= 1;
}
