//! What every request shares: the config, the clock, the log, the policy snapshot in force, the
//! upstream clients, metrics and liveness, and the views rebuilt from the log at start (rule 19
//! volume counters and idempotency keys). The config, the policy snapshot and the upstream
//! clients are swapped whole by a SIGHUP reload; a request keeps the ones it started with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use hyper::body::Incoming;
use loopgate_audit::{Appended, Kind, Log, Record, Verdict};
use loopgate_policy::{
    DataClass, Decision, Registry, TransferRequest, VolumeCounters, counters_after, park_date,
    volume_year_start,
};
use time::{Date, OffsetDateTime};
use tokio::sync::OnceCell;

use crate::clock::Clock;
use crate::config::Config;
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::stamp::Stamper;
use crate::transfer::body::VerifyingBody;
use crate::upstream::Upstreams;

/// The registry in force and the log index of the record that put it in force.
#[derive(Debug)]
pub struct PolicySnapshot {
    /// The validated registry.
    pub registry: Registry,
    /// The policy version: the log index of its `policy_change` record.
    pub version: u64,
    /// The bundle's text, exactly as applied (`GET /v1/admin/policy` serves it).
    pub text: Arc<str>,
    /// SHA-256 of the configured bundle file when it was last put in force from the file: a
    /// start or reload applies the file only when its bytes differ from this, so a change made
    /// through the admin API survives restarts until the file itself is edited.
    pub file_sha256: [u8; 32],
}

/// A response kept for `Idempotency-Key` retries: status and JSON body.
pub type Reply = (StatusCode, Bytes);

/// Idempotency entries: a transfer in flight or done (its reply), or known from the log only
/// (its transfer id, whose reply is rebuilt from its records).
#[derive(Debug, Clone)]
pub enum Remembered {
    /// Made since start: the first request's reply, once it has one.
    Live(Arc<OnceCell<Reply>>),
    /// Found in the log at start.
    Logged(String),
}

/// Upstream clients for transfer bodies.
pub type TransferUpstreams = Upstreams<VerifyingBody<Incoming>>;

/// Shared state of the running gateway.
pub struct AppState {
    config: RwLock<Arc<Config>>,
    /// The clock.
    pub clock: Clock,
    /// Stamps and queues every record the gateway writes, in time order.
    stamper: Stamper,
    /// The audit log.
    pub log: Log,
    /// Serialises policy changes (admin API, suspension, reload), so each diff is against the
    /// bundle it replaces.
    pub policy_changes: tokio::sync::Mutex<()>,
    policy: RwLock<Arc<PolicySnapshot>>,
    upstreams: RwLock<Arc<TransferUpstreams>>,
    /// What `/metrics` serves.
    pub metrics: Metrics,
    /// Heartbeats for the systemd watchdog.
    pub liveness: Liveness,
    volumes: Mutex<HashMap<(String, Date), VolumeCounters>>,
    idempotency: Mutex<HashMap<(String, String), Remembered>>,
    /// The regulator's views (retention, counters per route), rebuilt by `scan`.
    pub views: crate::views::Views,
}

impl AppState {
    /// Builds the state; `scan` rebuilds the views from every record in the log.
    pub fn new(
        config: Config,
        stamper: Stamper,
        log: Log,
        policy: PolicySnapshot,
        upstreams: TransferUpstreams,
    ) -> Self {
        Self {
            config: RwLock::new(Arc::new(config)),
            clock: *stamper.clock(),
            stamper,
            log,
            policy_changes: tokio::sync::Mutex::new(()),
            policy: RwLock::new(Arc::new(policy)),
            upstreams: RwLock::new(Arc::new(upstreams)),
            metrics: Metrics::new(),
            liveness: Liveness::default(),
            volumes: Mutex::default(),
            idempotency: Mutex::default(),
            views: crate::views::Views::default(),
        }
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The upstream clients in force.
    pub fn upstreams(&self) -> Arc<TransferUpstreams> {
        self.upstreams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a reloaded config and upstream clients in force. Requests in flight keep the ones
    /// they started with.
    pub fn swap(&self, config: Config, upstreams: TransferUpstreams) {
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        *self
            .upstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(upstreams);
    }

    /// Builds a record with `build(at)` (`at`: its time, never before the previous record's, see
    /// [`Stamper`]), appends it and waits until it is durable, timing it for `/metrics` and
    /// tracking it for the watchdog. Every append the gateway makes goes through here. Returns
    /// the acknowledgement and the leaf.
    pub async fn append_record<F>(
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
                return Err(e);
            }
        };
        let appended = durable.await;
        let done = Instant::now();
        if let Ok(appended) = &appended {
            let registry = &self.policy().registry;
            self.views.observe(appended.index, &record, registry);
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
        drop(pending);
        self.metrics
            .append_latency(done.duration_since(started).as_secs_f64());
        appended.map(|appended| (appended, leaf))
    }

    /// Puts `policy` in force for the requests that start from now on.
    pub fn set_policy(&self, policy: PolicySnapshot) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// The snapshot in force. A request keeps the one it started with.
    pub fn policy(&self) -> Arc<PolicySnapshot> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Evaluates a transfer with the sender's year-to-date counters and, when it is an allowed
    /// personal-information transfer, counts its subjects, all under one lock: two concurrent
    /// transfers cannot both pass a threshold that together they cross. Rule 19 counts every
    /// admitted transfer.
    pub fn evaluate(
        &self,
        registry: &Registry,
        mut request: TransferRequest,
        at: OffsetDateTime,
    ) -> Decision {
        let key = volume_key(&request.sender, at, registry);
        let mut volumes = self.volumes.lock().unwrap_or_else(PoisonError::into_inner);
        request.volume = volumes.get(&key).copied().unwrap_or_default();
        let decision = loopgate_policy::evaluate(registry, &request, at);
        if let (true, Some(class), Some(subjects)) = (
            decision.is_allowed(),
            decision.data_class,
            request.data_subjects,
        ) {
            if class.is_personal() {
                count(&mut volumes, key, class, subjects);
            }
        }
        decision
    }

    fn count_volume(
        &self,
        processor: &str,
        at: OffsetDateTime,
        registry: &Registry,
        class: DataClass,
        subjects: u64,
    ) {
        let mut volumes = self.volumes.lock().unwrap_or_else(PoisonError::into_inner);
        count(
            &mut volumes,
            volume_key(processor, at, registry),
            class,
            subjects,
        );
    }

    /// The entry for `(sender, key)`, making a live one if there is none.
    pub fn remember(&self, sender: &str, key: &str) -> (Remembered, bool) {
        let mut map = self
            .idempotency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match map.get(&(sender.to_owned(), key.to_owned())) {
            Some(found) => (found.clone(), false),
            None => {
                let live = Remembered::Live(Arc::new(OnceCell::new()));
                map.insert((sender.to_owned(), key.to_owned()), live.clone());
                (live, true)
            }
        }
    }

    /// Rebuilds the volume counters and idempotency keys from every record in the log.
    /// O(records); runs once at start.
    /// Returns the number of records and the allow decisions that have no outcome record (the
    /// gateway stopped mid-transfer), in log order, for recovery to close.
    pub fn scan(&self) -> Result<(u64, Vec<Record>), loopgate_audit::Error> {
        let size = self.log.size();
        let registry = self.policy().registry.clone();
        let mut open: std::collections::BTreeMap<u64, Record> = Default::default();
        let mut open_index: HashMap<String, u64> = HashMap::new();
        for index in 0..size {
            let record = Record::from_leaf(&self.log.read(index)?)?;
            self.views.observe(index, &record, &registry);
            if record.kind == Kind::Outcome {
                if let Some(at) = record
                    .transfer_id
                    .as_ref()
                    .and_then(|t| open_index.remove(t))
                {
                    open.remove(&at);
                }
                continue;
            }
            if record.kind != Kind::Decision {
                continue;
            }
            if let (Some(Verdict::Allow), Some(transfer)) = (record.decision, &record.transfer_id) {
                open_index.insert(transfer.clone(), index);
                open.insert(index, record.clone());
            }
            let (Some(sender), Some(transfer)) = (&record.sender, &record.transfer_id) else {
                continue;
            };
            if let Some(key) = record
                .details
                .get("idempotency_key")
                .and_then(|k| k.as_str())
            {
                self.idempotency
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        (sender.clone(), key.to_owned()),
                        Remembered::Logged(transfer.clone()),
                    );
            }
            let class = record
                .details
                .get("data_class")
                .and_then(serde_json::Value::as_str)
                .and_then(DataClass::parse);
            let subjects = record
                .details
                .get("data_subjects")
                .and_then(serde_json::Value::as_u64);
            if let (Some(Verdict::Allow), Some(class), Some(subjects), Ok(at)) =
                (record.decision, class, subjects, record.instant())
            {
                if class.is_personal() {
                    self.count_volume(sender, at, &registry, class, subjects);
                }
            }
        }
        Ok((size, open.into_values().collect()))
    }
}

/// The rule 19 counters of `processor` for the counting year (UTC+8) that contains `at`.
fn volume_key(processor: &str, at: OffsetDateTime, registry: &Registry) -> (String, Date) {
    let start = volume_year_start(park_date(at), registry.parameters.volume_year_start);
    (processor.to_owned(), start)
}

/// Adds one admitted transfer's subjects to its processor's counters.
fn count(
    volumes: &mut HashMap<(String, Date), VolumeCounters>,
    key: (String, Date),
    class: DataClass,
    subjects: u64,
) {
    let counters = volumes.entry(key).or_default();
    *counters = counters_after(*counters, class.is_sensitive(), subjects);
}

#[cfg(test)]
mod tests;
