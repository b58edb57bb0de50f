//! What every request shares: the config, the clock, the log and the one way records are
//! appended to it, the policy snapshot in force, the upstream clients, metrics and liveness,
//! and the views of the log kept in sled and brought up to date at start (`rebuild`) and after
//! every append (`follow`): the rule-19 counters, the idempotency keys, the regulator's views
//! and the shipments' list. The config, the policy snapshot and the upstream clients are
//! swapped whole by a SIGHUP reload; a request keeps the ones it started with.

mod conclude;
mod follow;
pub(crate) mod keys;
mod rebuild;
#[cfg(test)]
mod tests;

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Instant;

use loopgate_audit::{Appended, Log, Record};
use loopgate_policy::Registry;
use time::OffsetDateTime;

pub(crate) use rebuild::Rebuilt;

use crate::api::RequestBody;
use crate::clock::Clock;
use crate::config::Config;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::record::stamp::Stamper;
use crate::reply::ApiError;
use crate::shipment::view::Shipments;
use crate::transfer::body::VerifyingBody;
use crate::transfer::idempotency::Idempotency;
use crate::transfer::lifecycle::Locks;
use crate::transfer::upstream::Upstreams;
use crate::transfer::volume::Volumes;
use crate::views::Views;

/// The registry in force and the log index of the record that put it in force.
#[derive(Debug)]
pub(crate) struct PolicySnapshot {
    /// The validated registry.
    pub(crate) registry: Registry,
    /// The policy version: the log index of its `policy_change` record.
    pub(crate) version: u64,
    /// The bundle's text, exactly as applied (`GET /v1/admin/policy` serves it).
    pub(crate) text: Arc<str>,
    /// SHA-256 of the configured bundle file when it was last put in force from the file: a
    /// start or reload applies the file only when its bytes differ from this, so a change made
    /// through the admin API survives restarts until the file itself is edited.
    pub(crate) file_sha256: [u8; 32],
}

/// Upstream clients for transfer bodies.
pub(crate) type TransferUpstreams = Upstreams<VerifyingBody<RequestBody>>;

/// Shared state of the running gateway.
pub(crate) struct AppState {
    config: RwLock<Arc<Config>>,
    /// The clock.
    pub(crate) clock: Clock,
    /// Stamps and queues every record the gateway writes, in time order.
    stamper: Stamper,
    /// The audit log.
    pub(crate) log: Log,
    /// Serialises policy changes (admin API, suspension, reload), so each diff is against the
    /// bundle it replaces.
    pub(crate) policy_changes: tokio::sync::Mutex<()>,
    policy: RwLock<Arc<PolicySnapshot>>,
    upstreams: RwLock<Arc<TransferUpstreams>>,
    /// What `/metrics` serves.
    pub(crate) metrics: Metrics,
    /// Heartbeats for the systemd watchdog.
    pub(crate) liveness: Liveness,
    /// Rule 19's counters, as decisions read them.
    pub(crate) volumes: Volumes,
    /// `Idempotency-Key`s.
    pub(crate) idempotency: Idempotency,
    /// The regulator's views (retention, counters per route, admitted transfers).
    pub(crate) views: Views,
    /// The sled tree of every view, and what keeps it following the log.
    views_tree: keys::ViewsTree,
    follow: follow::Follow,
    /// This state, for the follower task (which must not keep it alive).
    me: Weak<AppState>,
    /// Per-transfer locks of lifecycle events (and per-shipment locks of custody events, keyed
    /// `shipment/<id>`).
    pub(crate) transfer_locks: Locks,
    /// The regulators' list of shipments and the declarations' idempotency keys.
    pub(crate) shipments: Shipments,
    /// Per-principal request quotas and the rate limit of refusal records.
    pub(crate) quotas: crate::api::quota::Quotas,
    /// The transfers running, and the task that gives `interrupted` outcomes to admitted
    /// transfers left without one by a failed append (`conclude`).
    concluder: conclude::Concluder,
    /// The witnesses and the latest checkpoint a quorum of them cosigned.
    pub(crate) cosigning: Arc<crate::cosign::Cosigning>,
}

impl AppState {
    /// Builds the state, opening the views' tree in the log's sled database;
    /// [`AppState::rebuild`] then brings the views up to date with the log.
    pub(crate) fn new(
        config: Config,
        stamper: Stamper,
        log: Log,
        policy: PolicySnapshot,
        upstreams: TransferUpstreams,
        cosigning: crate::cosign::Cosigning,
    ) -> Result<Arc<Self>, loopgate_audit::Error> {
        // Checked once here, so a start fails on a database that cannot hold the views.
        log.view_tree(follow::TREE)?;
        let tree = keys::ViewsTree::of_log(log.clone(), follow::TREE);
        Ok(Arc::new_cyclic(|me| Self {
            config: RwLock::new(Arc::new(config)),
            clock: *stamper.clock(),
            stamper,
            log,
            policy_changes: tokio::sync::Mutex::new(()),
            policy: RwLock::new(Arc::new(policy)),
            upstreams: RwLock::new(Arc::new(upstreams)),
            metrics: Metrics::new(),
            liveness: Liveness::default(),
            volumes: Volumes::default(),
            idempotency: Idempotency::new(tree.clone()),
            views: Views::new(tree.clone()),
            transfer_locks: Locks::default(),
            shipments: Shipments::new(tree.clone()),
            follow: follow::Follow::new(tree.clone()),
            views_tree: tree,
            me: me.clone(),
            quotas: crate::api::quota::Quotas::default(),
            concluder: conclude::Concluder::default(),
            cosigning: Arc::new(cosigning),
        }))
    }

    /// The config in force.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The upstream clients in force.
    pub(crate) fn upstreams(&self) -> Arc<TransferUpstreams> {
        self.upstreams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a reloaded config and upstream clients in force. Requests in flight keep the ones
    /// they started with.
    pub(crate) fn swap(&self, config: Config, upstreams: TransferUpstreams) {
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        *self
            .upstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(upstreams);
    }

    /// Puts `policy` in force for the requests that start from now on.
    pub(crate) fn set_policy(&self, policy: PolicySnapshot) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// The snapshot in force. A request keeps the one it started with.
    pub(crate) fn policy(&self) -> Arc<PolicySnapshot> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Builds a record with `build(at)` (`at`: its time, never before the previous record's, see
    /// [`Stamper`]), appends it and waits until it is durable, timing it for `/metrics` and
    /// tracking it for the watchdog. Every append the gateway makes while serving goes through
    /// here. Returns the acknowledgement and the leaf.
    pub(crate) async fn append_record<F>(
        &self,
        build: F,
    ) -> Result<(Appended, Vec<u8>), loopgate_audit::Error>
    where
        F: FnOnce(OffsetDateTime) -> Result<Record, loopgate_audit::Error>,
    {
        let started = Instant::now();
        let pending = self.liveness.append_started(started);
        let (record, leaf, durable) = match self.stamper.append(&self.log, build) {
            Ok(queued) => queued,
            Err(e) => {
                drop(pending);
                self.conclude_later();
                return Err(e);
            }
        };
        let appended = durable.await;
        let done = Instant::now();
        if let Ok(appended) = &appended {
            self.acknowledged(appended, done);
        }
        drop(pending);
        self.metrics
            .append_latency(done.duration_since(started).as_secs_f64());
        match &appended {
            // After the append's own accounting: this may wait for the views' backlog.
            Ok(appended) => {
                self.followed(appended.index, record, appended.leaf_hash)
                    .await;
            }
            // A refused record may be in the log after all (see `conclude`): once it takes
            // writes again, the log itself says which admitted transfers lack an outcome. (A
            // record refused before it was queued, above, is not; but the transfer it would
            // have concluded lacks its outcome all the same.)
            Err(_) => self.conclude_later(),
        }
        appended.map(|appended| (appended, leaf))
    }

    /// The accounting of a durable append: the watchdog, the batch metric. (The views follow
    /// once the append is no longer pending.)
    fn acknowledged(&self, appended: &Appended, done: Instant) {
        self.liveness.appended(done);
        // Each batch is observed once, by the caller of its first record.
        if appended.index == appended.batch_start {
            let records = appended
                .checkpoint
                .size()
                .saturating_sub(appended.batch_start);
            self.metrics.batch(records);
        }
    }

    /// As [`AppState::append_record`] for `count` records built by `build(i, at)`, which follow
    /// each other in the log with no other record between (a `system` record and the outcomes
    /// it announces). Returns their acknowledgements, or the first error.
    pub(crate) async fn append_consecutive<F>(
        &self,
        count: usize,
        build: F,
    ) -> Result<Vec<Appended>, loopgate_audit::Error>
    where
        F: FnMut(usize, OffsetDateTime) -> Result<Record, loopgate_audit::Error>,
    {
        let started = Instant::now();
        let pending = self.liveness.append_started(started);
        let queued = match self.stamper.append_consecutive(&self.log, count, build) {
            Ok(queued) => queued,
            Err(e) => {
                drop(pending);
                // Those queued before the error are written; the views' follower takes them.
                self.conclude_later();
                return Err(e);
            }
        };
        let mut acknowledged = Vec::with_capacity(queued.len());
        let mut followed = Vec::with_capacity(queued.len());
        let mut failed = None;
        for (record, _, durable) in queued {
            match durable.await {
                Ok(appended) => {
                    self.acknowledged(&appended, Instant::now());
                    followed.push((appended.index, record, appended.leaf_hash));
                    acknowledged.push(appended);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        drop(pending);
        self.metrics
            .append_latency(Instant::now().duration_since(started).as_secs_f64());
        for (index, record, hash) in followed {
            self.followed(index, record, hash).await;
        }
        match failed {
            Some(e) => {
                self.conclude_later();
                Err(e)
            }
            None => Ok(acknowledged),
        }
    }
}

/// Runs `read` on a blocking thread with the shared state: sled and segment reads, and the wait
/// for the index to cover the latest records, must not stall the thread serving connections.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    read: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || read(&state))
        .await
        .map_err(|e| ApiError::audit_unavailable("the audit log cannot be read", e))?
}
