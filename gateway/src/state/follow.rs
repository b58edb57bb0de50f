//! Keeps the gateway's views in sled following the log (DESIGN.md 9: memory does not grow with
//! the log's history). One sled tree of the log's database, [`TREE`], holds the views of
//! `crate::views` (retention, counters per route, admitted transfers), rule 19's counters
//! (`transfer::volume`), the idempotency keys (`transfer::idempotency`) and the shipments' list
//! and keys (`shipment::view`), each under its own key prefix, and `m/` for this module:
//! - `m/version`: [`VERSION`], the layout of everything in the tree;
//! - `m/covered`: how many records the views cover (8 bytes): records `0..covered` applied;
//! - `m/last`: the leaf hash of record `covered - 1`, so a tree that belongs to another log
//!   (a restored `index/` over other segments) is noticed.
//!
//! Records are applied in log order, consecutive ones (up to [`MAX_RUN`]) as one sled batch that
//! also moves `m/covered`, so the views are always those of a prefix of the log, whatever sled
//! kept after a crash; what a record changes in memory (the shipments' list) changes only once
//! its batch is applied, so a record applied again after a failed batch counts once.
//!
//! Batches are kept few (the follower applies at most every [`APPLY_EVERY`], a catch-up in runs
//! of [`MAX_RUN`]): each sled 0.34 batch seals sled's log buffer and queues its write on sled's
//! IO threads, and a flood of them can deadlock sled (its segment accountant waits, under its
//! lock, for a file truncation queued behind writes that wait for that lock; the fix, sled
//! pull request 1269, is in no 0.34 release). A start's catch-up of 40,000 records as one batch
//! each wrote over 300 MiB and hung about one start in three; in runs, it writes a few MiB. A durable append hands its record
//! over ([`AppState::followed`]) and wakes the follower task, which applies it on a blocking
//! thread: sled writes never run on the threads serving connections. With more than
//! [`MAX_PENDING`] records waiting, the appender waits (asynchronously) until its own is
//! applied, so the backlog in memory is bounded and requests slow to the views' pace. A record
//! whose append went another way (a reload's policy change) leaves a gap that the follower
//! fills from the log within a second, as does a reader that needs the views current
//! ([`AppState::catch_up`]). At start only the records past `m/covered` are replayed; when the
//! tree is missing, of another version or of another log, it is cleared and rebuilt from the
//! whole log, which is the truth.
//!
//! The tree is in the log's sled database, which the log reopens in the same process after its
//! index failed (`Log::heal`); sled loses the writes it had not flushed, of this tree too. So
//! the views remember the log's [`generation`](loopgate_audit::Log::generation) they were read
//! at, and when it changes they are read back from the tree as at start (`m/covered`, checked
//! against the log by `m/last`, and the shipments' list) and caught up from there: the records
//! sled lost are applied again, none is skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::shipment::view::Relisted;
use crate::state::keys::{Changes, ViewsTree};
use loopgate_audit::{Hash, Record, leaf_hash};
use loopgate_policy::Registry;
use tokio::sync::Notify;

use super::AppState;
use super::keys::u64_at;
use crate::transfer::idempotency::{Claim, Fingerprint, Idempotency};
use crate::transfer::volume::Volumes;

/// The name of the gateway's tree in the log's sled database.
pub(crate) const TREE: &str = "gateway-views";
/// The layout of the tree; another value (or none) rebuilds it from the log.
/// 2: the regulator overview's per-day aggregates (`views::stats`, keys `o/`).
const VERSION: &[u8] = b"loopgate-views 2";
const META_VERSION: &[u8] = b"m/version";
const META_COVERED: &[u8] = b"m/covered";
const META_LAST: &[u8] = b"m/last";
/// Records handed over and waiting to be applied beyond which the appender waits until its own
/// is applied: when appends outrun the views, requests slow down to their pace instead of the
/// backlog (about 1 KiB a record) growing in memory.
const MAX_PENDING: usize = 4096;
/// The most records applied as one sled batch: enough that a start's catch-up or a backlog
/// shares sled's page writes among many records, few enough that a batch stays small (a few
/// keys per record).
const MAX_RUN: usize = 1024;
/// The follower applies what was handed over at most this often, so records arriving
/// together share a batch (readers that need the views current catch up by themselves).
const APPLY_EVERY: Duration = Duration::from_millis(10);
/// How often the follower forgets expired idempotency keys.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How long a gap (a record not handed over) may stay before the follower reads it from the
/// log, and how long the follower waits for a wake-up before it checks the log anyway.
const GAP_WAIT: Duration = Duration::from_secs(1);

/// The follower's state; see the module documentation.
#[derive(Debug)]
pub(crate) struct Follow {
    tree: ViewsTree,
    /// Durable records handed over and not yet applied, by log index.
    pending: Mutex<BTreeMap<u64, (Record, Hash)>>,
    /// Held while applying, so records are applied once and in order.
    applying: Mutex<()>,
    /// Records `0..covered` are applied (`m/covered`).
    covered: AtomicU64,
    /// The sled batches applied so far.
    batches: AtomicU64,
    /// The log's generation (`Log::generation`) `covered` was read back at.
    generation: AtomicU64,
    /// Wakes the follower task (which waits on it without holding the state).
    wake: Arc<Notify>,
    /// Tells appenders waiting for the backlog that records were applied (or could not be).
    drained: Notify,
    /// Whether the follower's last attempt failed: appenders then do not wait for it.
    failing: AtomicBool,
}

impl Follow {
    pub(crate) fn new(tree: ViewsTree) -> Self {
        Self {
            tree,
            pending: Mutex::default(),
            applying: Mutex::new(()),
            covered: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
            drained: Notify::new(),
            failing: AtomicBool::new(false),
        }
    }

    /// How many records the views cover.
    pub(crate) fn covered(&self) -> u64 {
        self.covered.load(Ordering::Acquire)
    }

    /// How many sled batches applied records so far (unit tests).
    #[cfg(test)]
    pub(crate) fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// The log's generation the views were read back at.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (Record, Hash)>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_applying(&self) -> std::sync::MutexGuard<'_, ()> {
        self.applying.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `count` records over from `index` on, as appends would (unit tests).
    #[cfg(test)]
    pub(super) fn hand_over_for_tests(&self, index: u64, count: u64, record: &Record) {
        let mut pending = self.pending();
        for i in index..index + count {
            pending.insert(i, (record.clone(), [0; 32]));
        }
    }

    /// Forgets the handed-over records, as the follower does once they are applied (unit tests).
    #[cfg(test)]
    pub(super) fn drain_for_tests(&self) {
        self.pending().clear();
        self.drained.notify_waiters();
    }
}

impl AppState {
    /// Opens the views at start: keeps them when they are of this layout and of this log, else
    /// clears them, and loads the shipments' list from them. Returns whether they were kept.
    /// Blocking.
    pub(super) fn open_views(&self) -> Result<bool, loopgate_audit::Error> {
        let _applying = self.follow.lock_applying();
        let generation = self.log.generation();
        let tree = self.follow.tree.now()?;
        let kept = self.read_back(&tree)?;
        self.follow.generation.store(generation, Ordering::SeqCst);
        Ok(kept)
    }

    /// Reads the views back from `tree` (held `applying`): `m/covered` when the tree is of this
    /// layout and of this log (its `m/last` is the leaf hash of the log's record there), else
    /// clears it; and the shipments' list it keeps. Returns whether they were kept. Blocking
    /// (reads the log).
    fn read_back(&self, tree: &sled::Tree) -> Result<bool, loopgate_audit::Error> {
        let size = self.log.size();
        let version = tree.get(META_VERSION)?;
        let mut covered = tree.get(META_COVERED)?.map_or(0, |v| u64_at(&v, 0));
        let mut kept = version.as_deref() == Some(VERSION) && covered <= size;
        if kept && covered > 0 {
            let last = leaf_hash(&self.log.read(covered - 1)?);
            kept = tree.get(META_LAST)?.as_deref() == Some(&last[..]);
        }
        if !kept {
            tree.clear()?;
            tree.insert(META_VERSION, VERSION)?;
            covered = 0;
        }
        let read = |index: u64| -> Result<Record, loopgate_audit::Error> {
            Record::from_leaf(&self.log.read(index)?)
        };
        self.shipments.load(read)?;
        self.follow.covered.store(covered, Ordering::Release);
        Ok(kept)
    }

    /// The views tree to apply records to, of the log's current generation: read back first
    /// (with `read_back`, from a blocking thread) when the log reopened its index since the
    /// views were last read; `None` when that is needed and not allowed here.
    fn tree_to_apply(&self, read_back: bool) -> Result<Option<sled::Tree>, loopgate_audit::Error> {
        loop {
            let before = self.log.generation();
            let tree = self.follow.tree.now()?;
            let generation = self.log.generation();
            if generation != before {
                continue;
            }
            if generation == self.follow.generation() {
                return Ok(Some(tree));
            }
            if !read_back {
                return Ok(None);
            }
            let was = self.follow.covered();
            let kept = self.read_back(&tree)?;
            self.follow.generation.store(generation, Ordering::SeqCst);
            tracing::warn!(
                covered_before = was,
                covered = self.follow.covered(),
                views_kept = kept,
                "the audit log reopened its index; the views resume from what sled kept"
            );
        }
    }

    /// How many records of the log the views cover (records `0..n` are applied).
    pub(crate) fn views_covered(&self) -> u64 {
        self.follow.covered()
    }

    /// Hands the durable `record` at `index` over to the views and wakes the follower, which
    /// applies it on a blocking thread. With more than [`MAX_PENDING`] records waiting, waits
    /// (without blocking the thread) until this one is applied, unless the follower is failing
    /// (then the record is left to be read from the log, so the backlog stays bounded).
    pub(super) async fn followed(&self, index: u64, record: Record, hash: Hash) {
        let backlog = {
            let mut pending = self.follow.pending();
            pending.insert(index, (record, hash));
            pending.len()
        };
        self.follow.wake.notify_one();
        if backlog <= MAX_PENDING {
            return;
        }
        loop {
            let drained = self.follow.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let mut pending = self.follow.pending();
                if pending.len() <= MAX_PENDING || !pending.contains_key(&index) {
                    return;
                }
                if self.follow.failing.load(Ordering::Acquire) {
                    pending.remove(&index);
                    return;
                }
            }
            self.follow.wake.notify_one();
            let _ = tokio::time::timeout(GAP_WAIT, drained).await;
        }
    }

    /// Applies the handed-over records that follow the views without a gap. With `wait`, waits
    /// for whoever is applying (a reader that wants every acknowledged record in the views);
    /// without, leaves them to them. Blocking (sled); records the log's reopening made the
    /// views re-read are left to the follower.
    pub(crate) fn apply_handed_over(&self, wait: bool) {
        if let Err(e) = self.apply_pending(wait, false) {
            tracing::warn!(error = %e, "the views could not take a record; the follower retries from the log");
        }
    }

    /// [`AppState::apply_handed_over`], reading the views back first when the log reopened its
    /// index (with `read_back`).
    fn apply_pending(&self, wait: bool, read_back: bool) -> Result<(), loopgate_audit::Error> {
        let guard = if wait {
            Some(self.follow.lock_applying())
        } else {
            self.follow.applying.try_lock().ok()
        };
        let Some(_applying) = guard else {
            return Ok(());
        };
        let registry = self.policy();
        let applied = loop {
            let Some(tree) = self.tree_to_apply(read_back)? else {
                self.follow.wake.notify_one();
                break Ok(());
            };
            let covered = self.follow.covered();
            let run = self.take_run(covered, MAX_RUN);
            if run.is_empty() {
                break Ok(());
            }
            if let Err(e) = self.apply(&tree, covered, &run, &registry.registry) {
                // Applied again from the log.
                break Err(e.into());
            }
        };
        drop(_applying);
        self.follow.drained.notify_waiters();
        applied
    }

    /// The handed-over records from `index` on that follow each other without a gap, at most
    /// `max`, forgetting any before `index` (applied from the log).
    fn take_run(&self, index: u64, max: usize) -> Vec<(Record, Hash)> {
        let mut pending = self.follow.pending();
        while pending.first_key_value().is_some_and(|(i, _)| *i < index) {
            pending.pop_first();
        }
        let mut run = Vec::new();
        while run.len() < max {
            let next = index + run.len() as u64;
            match pending.remove(&next) {
                Some(handed) => run.push(handed),
                None => break,
            }
        }
        run
    }

    /// Applies every record below `target` that the views do not cover, reading from the log
    /// those not handed over (and reading the views back first when the log reopened its
    /// index). Blocking (log reads wait for its index); returns how many it applied.
    pub(crate) fn catch_up(&self, target: u64) -> Result<u64, loopgate_audit::Error> {
        let applying = self.follow.lock_applying();
        let snapshot = self.policy();
        let mut applied = 0;
        let done = loop {
            let tree = match self.tree_to_apply(true) {
                Ok(Some(tree)) => tree,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let covered = self.follow.covered();
            if covered >= target {
                break Ok(());
            }
            let want = usize::try_from(target - covered).map_or(MAX_RUN, |n| n.min(MAX_RUN));
            let mut run = self.take_run(covered, want);
            // What was not handed over, from the log, up to the next record that was.
            let mut read = Ok(());
            while run.len() < want {
                let index = covered + run.len() as u64;
                if self.follow.pending().contains_key(&index) {
                    break;
                }
                match self
                    .log
                    .read(index)
                    .and_then(|leaf| Ok((Record::from_leaf(&leaf)?, leaf_hash(&leaf))))
                {
                    Ok(record) => run.push(record),
                    Err(e) => {
                        read = Err(e);
                        break;
                    }
                }
            }
            if !run.is_empty() {
                if let Err(e) = self.apply(&tree, covered, &run, &snapshot.registry) {
                    break Err(e.into());
                }
                applied += run.len() as u64;
            }
            if let Err(e) = read {
                break Err(e);
            }
        };
        drop(applying);
        self.follow.drained.notify_waiters();
        done.map(|()| applied)
    }

    /// [`AppState::catch_up`] to the log's size when the views are behind it (or the log
    /// reopened its index since they were read).
    pub(crate) fn views_current(&self) -> Result<(), loopgate_audit::Error> {
        let size = self.log.size();
        if self.follow.covered() < size || self.log.generation() != self.follow.generation() {
            self.catch_up(size)?;
        }
        Ok(())
    }

    /// At a clean stop, before the log closes: brings the views up to the log, so the next
    /// start replays nothing (what is left is replayed then, so a failure here is only logged).
    pub(crate) async fn views_before_stop(self: &Arc<Self>) {
        let state = self.clone();
        let caught_up = tokio::task::spawn_blocking(move || state.views_current()).await;
        if let Ok(Err(e)) = caught_up {
            tracing::warn!(error = %e, "the views are left behind the log; the next start replays the rest");
        }
    }

    /// What `sender`'s `Idempotency-Key` `key` is for a request with fingerprint `asked`
    /// ([`Idempotency::claim`]), once the views hold every record acknowledged before (a
    /// decision durable but not yet applied would otherwise let a retry run again), and read at
    /// one generation of the log (one whose reopening lost the key's record from sled is
    /// caught up again first). Blocking.
    pub(crate) fn claim_key(
        &self,
        sender: &str,
        key: &str,
        asked: Fingerprint,
    ) -> Result<Claim, loopgate_audit::Error> {
        let retention = self.config().limits.idempotency_retention;
        loop {
            self.views_current()?;
            let generation = self.follow.generation();
            let claim = self
                .idempotency
                .claim(sender, key, asked, self.clock.now(), retention)?;
            if self.log.generation() == generation {
                return Ok(claim);
            }
            // The log reopened its index while this read: look again once caught up.
            drop(claim);
        }
    }

    /// Keeps `held` (an idempotency key marked running) until the views cover the log's first
    /// `target` records, where a retry finds the key: at once when they can be caught up now,
    /// else in a task that tries every second (while the log is failed), so that no retry runs
    /// the transfer again meanwhile. Returns whether they cover them now.
    pub(crate) async fn release_when_covered<T: Send + 'static>(
        self: &Arc<Self>,
        target: u64,
        held: T,
    ) -> bool {
        if self.cover(target).await {
            drop(held);
            return true;
        }
        tracing::warn!(
            target,
            covered = self.follow.covered(),
            "the views cannot take this transfer's records yet; its idempotency key stays marked running until they do"
        );
        let weak = self.me.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(GAP_WAIT).await;
                let Some(state) = weak.upgrade() else {
                    return;
                };
                if state.cover(target).await {
                    drop(held);
                    return;
                }
            }
        });
        false
    }

    /// Whether the views cover the log's first `target` records, catching them up on a
    /// blocking thread.
    async fn cover(self: &Arc<Self>, target: u64) -> bool {
        let state = self.clone();
        let current = tokio::task::spawn_blocking(move || {
            state.views_current()?;
            Ok::<_, loopgate_audit::Error>(state.follow.covered() >= target)
        })
        .await;
        matches!(current, Ok(Ok(true)))
    }

    /// Applies `run`, the records from `first` on (`first == covered`), to `tree` as one sled
    /// batch, then what they change in memory.
    fn apply(
        &self,
        tree: &sled::Tree,
        first: u64,
        run: &[(Record, Hash)],
        registry: &Registry,
    ) -> Result<(), sled::Error> {
        let Some((_, last)) = run.last() else {
            return Ok(());
        };
        let mut changes = Changes::new(tree.clone());
        let mut relisted = Relisted::default();
        for (index, (record, _)) in (first..).zip(run) {
            self.views
                .observe_into(&mut changes, index, record, registry)?;
            self.shipments
                .observe_into(&mut changes, &mut relisted, index, record)?;
            Idempotency::observe_into(&mut changes, record);
            Volumes::observe_into(&mut changes, record, registry)?;
        }
        let covered = first + run.len() as u64;
        changes.insert(META_COVERED, covered.to_be_bytes());
        changes.insert(META_LAST, last);
        changes.apply()?;
        self.follow.batches.fetch_add(1, Ordering::Relaxed);
        self.shipments.commit(relisted);
        self.follow.covered.store(covered, Ordering::Release);
        Ok(())
    }

    /// Forgets the idempotency keys (transfers' and declarations') past their retention.
    pub(crate) fn purge_keys(&self) -> Result<usize, sled::Error> {
        let retention = self.config().limits.idempotency_retention;
        let now = self.clock.now();
        Ok(self.idempotency.purge(now, retention)? + self.shipments.purge(now, retention)?)
    }

    /// One round of the follower, on a blocking thread: applies the handed-over records (reading
    /// the views back first when the log reopened its index), and with `from_log` the records
    /// not handed over too.
    fn follow_step(&self, from_log: bool) -> Result<(), loopgate_audit::Error> {
        self.apply_pending(true, true)?;
        if from_log {
            self.views_current()?;
        }
        Ok(())
    }

    /// Starts the follower task on the current runtime: woken by each append (and every
    /// second), it applies the handed-over records on a blocking thread, fills from the log a
    /// gap that stayed a second (or any, after a quiet second), and purges expired keys every
    /// minute. It ends once the state is dropped.
    pub(super) fn start_following(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = self.me.clone();
        let wake = self.follow.wake.clone();
        runtime.spawn(async move {
            let mut purged: Option<Instant> = None;
            // Since when the views have been behind the log at this many records.
            let mut behind: Option<(u64, Instant)> = None;
            loop {
                let woken = tokio::time::timeout(GAP_WAIT, wake.notified())
                    .await
                    .is_ok();
                let Some(state) = weak.upgrade() else {
                    return;
                };
                let purge = purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY);
                if purge {
                    purged = Some(Instant::now());
                }
                let covered = state.follow.covered();
                behind = match behind {
                    _ if covered >= state.log.size() => None,
                    Some((at, since)) if at == covered => Some((at, since)),
                    _ => Some((covered, Instant::now())),
                };
                let stale = state.log.generation() != state.follow.generation();
                let from_log = stale
                    || behind.is_some_and(|(_, since)| !woken || since.elapsed() >= GAP_WAIT);
                let handed = state.follow.pending().contains_key(&covered);
                if !handed && !from_log && !purge {
                    continue;
                }
                let work = state.clone();
                drop(state);
                let next_step = tokio::time::Instant::now() + APPLY_EVERY;
                let done = tokio::task::spawn_blocking(move || {
                    let stepped = work.follow_step(from_log);
                    work.follow
                        .failing
                        .store(stepped.is_err(), Ordering::Release);
                    work.follow.drained.notify_waiters();
                    stepped?;
                    if purge {
                        let forgotten = work.purge_keys()?;
                        if forgotten > 0 {
                            tracing::debug!(forgotten, "expired idempotency keys forgotten");
                        }
                    }
                    Ok::<_, loopgate_audit::Error>(())
                })
                .await;
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "the views cannot follow the log; retrying in a second");
                        tokio::time::sleep(GAP_WAIT).await;
                    }
                    Err(e) => tracing::error!(error = %e, "the views' follower failed"),
                }
                tokio::time::sleep_until(next_step).await;
            }
        });
    }
}
