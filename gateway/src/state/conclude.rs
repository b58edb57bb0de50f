//! Exactly one outcome per admitted transfer (DESIGN.md invariant 2) while the log fails and
//! heals in the same process. An append the log refuses is not always absent from it: the
//! committer refuses a batch that is already durable when the index cannot follow it, and a
//! failed cut can leave a refused batch on disk; `Log::heal`'s recovery then puts those records
//! in the log. So what the pipeline saw (its outcome append failed, or its decision append
//! failed) says nothing certain about what the log holds, and only the log is asked:
//!
//! - after any failed append, once the log takes writes again, the views are brought up to the
//!   log's size and every allow decision without an outcome there (`Views::admitted`, as the
//!   start's recovery reads them) is a candidate;
//! - a candidate whose transfer is still running in this process ([`AppState::running`], held
//!   by the pipeline from before its decision is appended until its outcome is) is left alone,
//!   and its end asks for another pass (a pass can start between a pipeline's failed append
//!   and the end of its request);
//! - each other candidate's history is read from the log's transfer index and, if it has no
//!   outcome, it gets an `interrupted` one, behind one `system` `resumed` record.
//!
//! A refused outcome that reached the disk is thus never followed by a second one, and a
//! refused decision that reached it gets its outcome without a restart. The pass runs in a task
//! of its own, never inside a request's future, so a client that goes away cannot cut it off;
//! a pass that fails is tried again until one completes. A graceful stop runs a pending pass
//! before it closes the log ([`AppState::conclude_before_stop`]); if that cannot be done either,
//! the next start's recovery writes the outcomes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use loopgate_audit::Record;
use tokio::sync::Notify;

use super::AppState;
use crate::transfer::history::History;
use crate::transfer::records;

/// How often a pass that could not run (the log still failed) or failed is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What the concluding task works from; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Concluder {
    /// Transfers between their decision append and their outcome append, in this process.
    running: Mutex<Tracked>,
    /// An append failed since the last pass.
    pending: AtomicBool,
    /// Whether the task runs.
    started: AtomicBool,
    /// Held through a pass: two at once could both find a transfer without its outcome.
    passing: tokio::sync::Mutex<()>,
    wake: Arc<Notify>,
}

/// The transfers running, and those of them a pass left alone for it.
#[derive(Debug, Default)]
struct Tracked {
    running: HashSet<String>,
    /// Running when a pass looked: their end asks for another pass (their own failed append
    /// may have asked for the one that skipped them).
    skipped: HashSet<String>,
}

/// Held by the pipeline for one transfer from before its decision is appended until its
/// outcome is: the concluding task leaves the transfer alone meanwhile.
#[must_use = "the transfer counts as running only while this is held"]
pub(crate) struct Running<'a> {
    state: &'a AppState,
    transfer_id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let skipped = {
            let mut tracked = self
                .state
                .concluder
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            tracked.running.remove(&self.transfer_id);
            tracked.skipped.remove(&self.transfer_id)
        };
        if skipped {
            self.state.conclude_later();
        }
    }
}

impl AppState {
    /// Marks `transfer_id` running until the returned guard is dropped.
    pub(crate) fn running(&self, transfer_id: &str) -> Running<'_> {
        self.concluder
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .running
            .insert(transfer_id.to_owned());
        Running {
            state: self,
            transfer_id: transfer_id.to_owned(),
        }
    }

    /// Asks the concluding task for a pass once the log takes writes (starting the task on
    /// the current runtime the first time).
    pub(crate) fn conclude_later(&self) {
        let concluder = &self.concluder;
        concluder.pending.store(true, Ordering::Release);
        if !concluder.started.swap(true, Ordering::AcqRel) {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(concluding(self.me.clone(), concluder.wake.clone()));
                }
                // No runtime (a blocking caller outside it): the next caller on one starts it.
                Err(_) => concluder.started.store(false, Ordering::Release),
            }
        }
        concluder.wake.notify_one();
    }

    /// At a graceful stop, once the connections ended and before the log is closed: a pass,
    /// if one is pending and the log takes writes, so that a log which came back is not left
    /// with admissions for the next start to conclude. (Transfers the drain cut off are not
    /// a reason for a pass: the next start's recovery concludes them, as documented.)
    pub(crate) async fn conclude_before_stop(self: &Arc<Self>) {
        let concluder = &self.concluder;
        if !concluder.pending.swap(false, Ordering::AcqRel) || !self.log.is_available() {
            return;
        }
        if let Err(e) = self.conclude_admitted().await {
            tracing::warn!(error = %e, "the interrupted transfers are left for the next start's recovery");
        }
    }

    /// One pass: the `interrupted` outcomes of the admitted transfers that have none in the
    /// log and are not running. Returns how many it wrote.
    pub(crate) async fn conclude_admitted(
        self: &Arc<Self>,
    ) -> Result<usize, loopgate_audit::Error> {
        let _one = self.concluder.passing.lock().await;
        let state = self.clone();
        let unconcluded = tokio::task::spawn_blocking(move || state.unconcluded())
            .await
            .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))??;
        if unconcluded.is_empty() {
            return Ok(0);
        }
        let (version, count) = (self.policy().version, unconcluded.len());
        // The `system` record and the outcomes it announces, with nothing between them.
        let appended = self
            .append_consecutive(count + 1, |i, at| match i.checked_sub(1) {
                None => records::resumed(version, count, at),
                Some(n) => match unconcluded.get(n) {
                    Some(decision) => records::interrupted(decision, at),
                    None => Err(loopgate_audit::Error::InvalidRecord(
                        "no such interrupted transfer".to_owned(),
                    )),
                },
            })
            .await?;
        for (decision, appended) in unconcluded.iter().zip(appended.iter().skip(1)) {
            tracing::warn!(
                transfer_id = decision.transfer_id.as_deref().unwrap_or("-"),
                log_index = appended.index,
                "transfer interrupted by an audit log failure; outcome recorded"
            );
        }
        Ok(count)
    }

    /// The allow decisions, in log order, of the transfers not running whose history in the
    /// log has no outcome. Blocking.
    fn unconcluded(&self) -> Result<Vec<Record>, loopgate_audit::Error> {
        // The views then hold every record the log holds, those recovered by a heal included.
        self.views_current()?;
        let mut found = Vec::new();
        for index in self.views.admitted()? {
            let decision = Record::from_leaf(&self.log.read(index)?)?;
            let Some(id) = decision.transfer_id.as_deref() else {
                continue;
            };
            let running = {
                let mut tracked = self
                    .concluder
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let running = tracked.running.contains(id);
                if running {
                    tracked.skipped.insert(id.to_owned());
                }
                running
            };
            if running || History::read(&self.log, id)?.outcome().is_some() {
                continue;
            }
            found.push(decision);
        }
        Ok(found)
    }
}

/// The concluding task: woken by [`AppState::conclude_later`] (and every [`RETRY_EVERY`]), it
/// runs a pass while one is pending and the log takes writes. It ends once the state is
/// dropped.
async fn concluding(weak: std::sync::Weak<AppState>, wake: Arc<Notify>) {
    loop {
        let _ = tokio::time::timeout(RETRY_EVERY, wake.notified()).await;
        let Some(state) = weak.upgrade() else {
            return;
        };
        if !state.concluder.pending.load(Ordering::Acquire) || !state.log.is_available() {
            continue;
        }
        // Cleared first: a failure during the pass asks for another.
        state.concluder.pending.store(false, Ordering::Release);
        match state.conclude_admitted().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "interrupted transfers concluded"),
            Err(e) => {
                tracing::warn!(error = %e, "the interrupted transfers cannot be concluded yet; retrying");
                state.concluder.pending.store(true, Ordering::Release);
            }
        }
    }
}
