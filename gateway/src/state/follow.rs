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
//! Records are applied in log order, each as one sled batch that also moves `m/covered`, so
//! the views are always those of a prefix of the log, whatever sled kept after a crash. A
//! durable append hands its record over ([`AppState::followed`]) and it is applied at once,
//! by this caller or by whoever is applying already (with more than [`MAX_PENDING`] waiting,
//! the caller waits its turn, so the backlog in memory is bounded). A record whose append went
//! another way (a reload's policy change) leaves a gap that the follower task fills from the
//! log within a second, as does a reader that needs the views current
//! ([`AppState::catch_up`]). At start
//! only the records past `m/covered` are replayed; when the tree is missing, of another
//! version or of another log, it is cleared and rebuilt from the whole log, which is the
//! truth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use loopgate_audit::{Hash, Record, leaf_hash};
use loopgate_policy::Registry;
use sled::Batch;

use crate::state::keys::ViewsTree;
use tokio::sync::Notify;

use super::AppState;
use super::keys::u64_at;
use crate::transfer::idempotency::Idempotency;
use crate::transfer::volume::Volumes;

/// The name of the gateway's tree in the log's sled database.
pub(crate) const TREE: &str = "gateway-views";
/// The layout of the tree; another value (or none) rebuilds it from the log.
const VERSION: &[u8] = b"loopgate-views 1";
const META_VERSION: &[u8] = b"m/version";
const META_COVERED: &[u8] = b"m/covered";
const META_LAST: &[u8] = b"m/last";
/// Records handed over and waiting to be applied beyond which the appender applies them itself,
/// waiting for whoever is applying: when appends outrun the views, requests slow down to their
/// pace instead of the backlog (about 1 KiB a record) growing in memory.
const MAX_PENDING: usize = 4096;
/// How often the follower forgets expired idempotency keys.
const PURGE_EVERY: Duration = Duration::from_secs(60);

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
    /// Wakes the follower task (which waits on it without holding the state).
    wake: Arc<Notify>,
}

impl Follow {
    pub(crate) fn new(tree: ViewsTree) -> Self {
        Self {
            tree,
            pending: Mutex::default(),
            applying: Mutex::new(()),
            covered: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
        }
    }

    /// How many records the views cover.
    pub(crate) fn covered(&self) -> u64 {
        self.covered.load(Ordering::Acquire)
    }
}

impl AppState {
    /// Opens the views at start: keeps them when they are of this layout and of this log
    /// (`size` records), else clears them. Returns whether they were kept.
    pub(super) fn open_views(&self, size: u64) -> Result<bool, loopgate_audit::Error> {
        let tree = &self.follow.tree.now()?;
        let version = tree.get(META_VERSION)?;
        let covered = tree.get(META_COVERED)?.map_or(0, |v| u64_at(&v, 0));
        let mut kept = version.as_deref() == Some(VERSION) && covered <= size;
        if kept && covered > 0 {
            let last = leaf_hash(&self.log.read(covered - 1)?);
            kept = tree.get(META_LAST)?.as_deref() == Some(&last[..]);
        }
        if kept {
            self.follow.covered.store(covered, Ordering::Release);
            return Ok(true);
        }
        tree.clear()?;
        tree.insert(META_VERSION, VERSION)?;
        self.follow.covered.store(0, Ordering::Release);
        Ok(false)
    }

    /// Hands the durable `record` at `index` over to the views, and applies what can be
    /// applied without reading the log, unless someone is applying already.
    pub(super) fn followed(&self, index: u64, record: Record, hash: Hash) {
        let backlog = {
            let mut pending = self
                .follow
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.insert(index, (record, hash));
            pending.len()
        };
        self.apply_handed_over(backlog > MAX_PENDING);
        self.follow.wake.notify_one();
    }

    /// Applies the handed-over records that follow the views without a gap. With `wait`, waits
    /// for whoever is applying (a reader that wants every acknowledged record in the views);
    /// without, leaves them to them.
    pub(crate) fn apply_handed_over(&self, wait: bool) {
        loop {
            let guard = if wait {
                Some(
                    self.follow
                        .applying
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner),
                )
            } else {
                self.follow.applying.try_lock().ok()
            };
            let Some(_applying) = guard else {
                return;
            };
            let registry = self.policy();
            let mut covered = self.follow.covered();
            while let Some((record, hash)) = self.take_pending(covered) {
                if let Err(e) = self.apply(covered, &record, &hash, &registry.registry) {
                    tracing::warn!(error = %e, log_index = covered, "the views could not take a record; the follower retries from the log");
                    return;
                }
                covered += 1;
            }
            drop(_applying);
            // A record handed over while this applied, by a caller that found the lock held:
            // apply it now, or nobody would until the next append.
            let next = self
                .follow
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&self.follow.covered());
            if !next {
                return;
            }
        }
    }

    /// The handed-over record `index`, forgetting any before it (applied from the log).
    fn take_pending(&self, index: u64) -> Option<(Record, Hash)> {
        let mut pending = self
            .follow
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while pending.first_key_value().is_some_and(|(i, _)| *i < index) {
            pending.pop_first();
        }
        pending.remove(&index)
    }

    /// Applies every record below `target` that the views do not cover, reading from the log
    /// those not handed over. Blocking (log reads wait for its index); returns how many it
    /// applied.
    pub(crate) fn catch_up(&self, target: u64) -> Result<u64, loopgate_audit::Error> {
        let _applying = self
            .follow
            .applying
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let snapshot = self.policy();
        let start = self.follow.covered();
        let mut covered = start;
        while covered < target {
            let (record, hash) = match self.take_pending(covered) {
                Some(handed) => handed,
                None => {
                    let leaf = self.log.read(covered)?;
                    (Record::from_leaf(&leaf)?, leaf_hash(&leaf))
                }
            };
            self.apply(covered, &record, &hash, &snapshot.registry)?;
            covered += 1;
        }
        Ok(covered - start)
    }

    /// [`AppState::catch_up`] to the log's size when the views are behind it.
    pub(crate) fn views_current(&self) -> Result<(), loopgate_audit::Error> {
        let size = self.log.size();
        if self.follow.covered() < size {
            self.catch_up(size)?;
        }
        Ok(())
    }

    /// Applies `record` (the next one, `index == covered`) as one sled batch.
    fn apply(
        &self,
        index: u64,
        record: &Record,
        hash: &Hash,
        registry: &Registry,
    ) -> Result<(), sled::Error> {
        let tree = &self.follow.tree.now()?;
        let mut batch = Batch::default();
        self.views
            .observe_into(&mut batch, index, record, registry)?;
        self.shipments
            .observe_into(Some(&mut batch), index, record)?;
        Idempotency::observe_into(&mut batch, record);
        Volumes::observe_into(tree, &mut batch, record, registry)?;
        batch.insert(META_COVERED, &(index + 1).to_be_bytes());
        batch.insert(META_LAST, &hash[..]);
        tree.apply_batch(batch)?;
        self.follow.covered.store(index + 1, Ordering::Release);
        Ok(())
    }

    /// Forgets the idempotency keys (transfers' and declarations') past their retention.
    pub(crate) fn purge_keys(&self) -> Result<usize, sled::Error> {
        let retention = self.config().limits.idempotency_retention;
        let now = self.clock.now();
        Ok(self.idempotency.purge(now, retention)? + self.shipments.purge(now, retention)?)
    }

    /// Starts the follower task on the current runtime: woken by each append (and every
    /// second), it catches the views up with the log on a blocking thread, and purges expired
    /// keys every minute. It ends once the state is dropped.
    pub(super) fn start_following(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = self.me.clone();
        let wake = self.follow.wake.clone();
        runtime.spawn(async move {
            let mut purged: Option<Instant> = None;
            loop {
                let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
                let Some(state) = weak.upgrade() else {
                    return;
                };
                let purge = purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY);
                if purge {
                    purged = Some(Instant::now());
                }
                if state.follow.covered() >= state.log.size() && !purge {
                    continue;
                }
                let work = state.clone();
                drop(state);
                let done = tokio::task::spawn_blocking(move || {
                    work.views_current()?;
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
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => tracing::error!(error = %e, "the views' follower failed"),
                }
            }
        });
    }
}
