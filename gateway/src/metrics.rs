//! What `/metrics` serves (Prometheus text format 0.0.4, `prometheus-client`): requests by route
//! template and status, decisions by reason, transfer bytes and transfers in flight, shipment
//! decisions by reason and custody steps by event and result, the log's
//! size, append latency and checkpoint age, certificate expiry times, the policy version and
//! reloads. Labels are bounded: route templates (never raw paths), reason codes, status codes,
//! custody events, and the certificate files the config names.
//!
//! It does not read the log or the disk at scrape time beyond what the caller passes to
//! [`Metrics::render`]; certificate expiry is set when the certificates are loaded.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Why a certificate's expiry time could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetricsError {
    /// The file does not hold a PEM certificate that parses.
    #[error("{}: cannot read the certificate's expiry time: {why}; check that the file is a PEM certificate", path.display())]
    Certificate {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        why: String,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CustodyLabels {
    event: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertLabels {
    kind: &'static str,
    file: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
}

/// One witness's state at scrape time.
#[derive(Debug)]
pub(crate) struct WitnessGauges {
    /// `[[witness]] name`.
    pub name: String,
    /// The size of the latest checkpoint it cosigned (0: none yet).
    pub cosigned_size: u64,
    /// Seconds since it last cosigned (`None`: never since the start).
    pub cosigned_age_secs: Option<f64>,
    /// Refusals so far.
    pub refusals: u64,
    /// Requests without a usable answer so far.
    pub failures: u64,
}

/// The witnesses' metrics: gauges set at scrape time, and the requests' and receipts' times.
#[derive(Debug)]
struct WitnessMetrics {
    cosigned_size: Family<WitnessLabels, Gauge>,
    cosigned_age: Family<WitnessLabels, Gauge<f64, AtomicU64>>,
    refusals: Family<WitnessLabels, Gauge>,
    failures: Family<WitnessLabels, Gauge>,
    quorum_size: Gauge,
    request_seconds: Family<WitnessLabels, Histogram, fn() -> Histogram>,
    receipt_wait: Histogram,
}

/// Buckets of the witness times: 0.25 ms to about 8 s.
fn witness_time_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LingerLabels {
    outcome: &'static str,
}

/// The ends of a lingering drain (`api::linger`), each a series from the start.
const LINGER_OUTCOMES: [&str; 5] = ["drained", "closed", "bytes", "time", "idle"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

/// The log's state at scrape time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogGauges {
    /// Records in the log.
    pub records: u64,
    /// Appends waiting for the writer.
    pub queued: usize,
    /// Whether the log accepts writes.
    pub available: bool,
    /// Seconds since the latest checkpoint was signed (the last acknowledged append).
    pub checkpoint_age_secs: f64,
    /// The policy version in force.
    pub policy_version: u64,
}

/// Every metric the gateway exports; cheap to update from any task.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    traffic: Traffic,
    log: LogMetrics,
    cert_expiry: Family<CertLabels, Gauge>,
    policy_version: Gauge,
    reloads: Family<ReloadLabels, Counter>,
    connections: ConnectionMetrics,
    lingering: Family<LingerLabels, Counter>,
    witnesses: WitnessMetrics,
}

/// The API's requests and transfers.
#[derive(Debug)]
struct Traffic {
    requests: Family<RequestLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    transfer_bytes: Counter,
    in_flight: Gauge,
    shipment_decisions: Family<DecisionLabels, Counter>,
    custody_steps: Family<CustodyLabels, Counter>,
}

/// The audit log: its size and state (set at scrape time), its appends and batches.
#[derive(Debug)]
struct LogMetrics {
    records: Gauge,
    queued: Gauge,
    available: Gauge,
    append_seconds: Histogram,
    batch_records: Histogram,
    checkpoint_age: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` as `loopgate_<name>` and returns it (a handle to the same value).
fn register<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// All metrics registered under the `loopgate_` prefix, at zero.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("loopgate");
        let traffic = Traffic::register(&mut registry);
        let log = LogMetrics::register(&mut registry);
        let cert_expiry = register(
            &mut registry,
            "certificate_expiry_timestamp_seconds",
            "notAfter (unix seconds) of the earliest-expiring certificate in each loaded file",
            Family::<CertLabels, Gauge>::default(),
        );
        let policy_version = register(
            &mut registry,
            "policy_version",
            "Log index of the policy_change record in force",
            Gauge::default(),
        );
        let reloads = register(
            &mut registry,
            "reloads",
            "SIGHUP reloads by result (ok or refused)",
            Family::<ReloadLabels, Counter>::default(),
        );
        // Both series exist from the start, so an alert on `refused` sees 0 before the first.
        for result in ["ok", "refused"] {
            let _ = reloads.get_or_create(&ReloadLabels { result });
        }
        let connections = ConnectionMetrics::register(&mut registry);
        let lingering = register(
            &mut registry,
            "lingering_drains",
            "Request bodies read and discarded after an early answer, by how the drain ended: drained (to the end), closed (the client ended it), bytes, time or idle (cut at [limits] lingering_bytes, lingering_time_secs or lingering_timeout_secs)",
            Family::<LingerLabels, Counter>::default(),
        );
        for outcome in LINGER_OUTCOMES {
            let _ = lingering.get_or_create(&LingerLabels { outcome });
        }
        let witnesses = WitnessMetrics {
            cosigned_size: register(
                &mut registry,
                "witness_cosigned_size",
                "Size of the latest checkpoint each [[witness]] cosigned (0: none since the start)",
                Family::default(),
            ),
            cosigned_age: register(
                &mut registry,
                "witness_cosigned_age_seconds",
                "Seconds since each [[witness]] last cosigned (absent: never since the start)",
                Family::default(),
            ),
            refusals: register(
                &mut registry,
                "witness_refusals",
                "Checkpoints each [[witness]] refused (403, 422, ...: an alarm; each distinct refusal is also a system record)",
                Family::default(),
            ),
            failures: register(
                &mut registry,
                "witness_failures",
                "Requests to each [[witness]] without a usable answer (unreachable, timeout, 5xx)",
                Family::default(),
            ),
            quorum_size: register(
                &mut registry,
                "witness_quorum_cosigned_size",
                "Size of the latest checkpoint cosigned by witness_quorum witnesses (0: none)",
                Gauge::default(),
            ),
            request_seconds: register(
                &mut registry,
                "witness_request_seconds",
                "Time of each add-checkpoint request to each [[witness]], from sending to its answer or failure",
                Family::new_with_constructor(witness_time_histogram as fn() -> Histogram),
            ),
            receipt_wait: register(
                &mut registry,
                "witness_receipt_wait_seconds",
                "Time each receipt waited for a checkpoint cosigned by witness_quorum witnesses that covers its record (at most witness_timeout_ms)",
                witness_time_histogram(),
            ),
        };
        Self {
            registry,
            traffic,
            log,
            cert_expiry,
            policy_version,
            reloads,
            connections,
            lingering,
            witnesses,
        }
    }

    /// Counts one add-checkpoint request to `witness` that took `seconds`.
    pub(crate) fn witness_request(&self, witness: &str, seconds: f64) {
        self.witnesses
            .request_seconds
            .get_or_create(&WitnessLabels {
                witness: witness.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one receipt that waited `seconds` for a cosigned checkpoint.
    pub(crate) fn receipt_wait(&self, seconds: f64) {
        self.witnesses.receipt_wait.observe(seconds);
    }

    /// Sets the witnesses' gauges (at scrape time): each witness's, and the quorum's size.
    pub(crate) fn witnesses(&self, witnesses: &[WitnessGauges], quorum_size: u64) {
        let m = &self.witnesses;
        for w in witnesses {
            let labels = WitnessLabels {
                witness: w.name.clone(),
            };
            let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            m.cosigned_size
                .get_or_create(&labels)
                .set(int(w.cosigned_size));
            m.refusals.get_or_create(&labels).set(int(w.refusals));
            m.failures.get_or_create(&labels).set(int(w.failures));
            if let Some(age) = w.cosigned_age_secs {
                m.cosigned_age.get_or_create(&labels).set(age);
            }
        }
        m.quorum_size
            .set(i64::try_from(quorum_size).unwrap_or(i64::MAX));
    }

    /// One API request answered.
    pub(crate) fn request(&self, route: &'static str, status: u16) {
        self.traffic
            .requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }

    /// One transfer decision: `reason` is `None` for an allow.
    pub(crate) fn decision(&self, allowed: bool, reason: Option<&'static str>) {
        let labels = DecisionLabels {
            decision: if allowed { "allow" } else { "deny" },
            reason: if allowed {
                "none"
            } else {
                reason.unwrap_or("none")
            },
        };
        self.traffic.decisions.get_or_create(&labels).inc();
    }

    /// One shipment declaration decided (not a replay): `reason` is `None` for an allow.
    pub(crate) fn shipment_decision(&self, reason: Option<&'static str>) {
        let labels = DecisionLabels {
            decision: if reason.is_none() { "allow" } else { "deny" },
            reason: reason.unwrap_or("none"),
        };
        self.traffic.shipment_decisions.get_or_create(&labels).inc();
    }

    /// One custody step logged: `refused` is its reason code, `None` when it was accepted.
    pub(crate) fn custody_step(&self, event: &'static str, refused: Option<&'static str>) {
        let labels = CustodyLabels {
            event,
            result: refused.unwrap_or("accepted"),
        };
        self.traffic.custody_steps.get_or_create(&labels).inc();
    }

    /// Body bytes of a transfer that ended.
    pub(crate) fn transfer_bytes(&self, bytes: u64) {
        self.traffic.transfer_bytes.inc_by(bytes);
    }

    /// One transfer starts streaming; the guard counts it until dropped.
    pub(crate) fn transfer_started(&self) -> InFlight {
        self.traffic.in_flight.inc();
        InFlight(self.traffic.in_flight.clone())
    }

    /// One append acknowledged (or refused) after `seconds`.
    pub(crate) fn append_latency(&self, seconds: f64) {
        self.log.append_seconds.observe(seconds);
    }

    /// One commit batch of `records` records was made durable.
    pub(crate) fn batch(&self, records: u64) {
        self.log.batch_records.observe(records as f64);
    }

    /// One reload, done or refused.
    pub(crate) fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// Sets the expiry times of the certificate files now in force (`kind` is `server` or
    /// `client_ca`), replacing the files loaded before.
    /// One lingering drain ended with `outcome`, one of [`LINGER_OUTCOMES`].
    pub(crate) fn lingered(&self, outcome: &'static str) {
        self.lingering
            .get_or_create(&LingerLabels { outcome })
            .inc();
    }

    pub(crate) fn certificates(&self, files: &[(&'static str, i64, &Path)]) {
        self.cert_expiry.clear();
        for (kind, not_after, path) in files {
            let labels = CertLabels {
                kind,
                file: path.display().to_string(),
            };
            self.cert_expiry.get_or_create(&labels).set(*not_after);
        }
    }

    /// The connection metrics (handles the connection registry updates).
    pub(crate) fn connections(&self) -> &ConnectionMetrics {
        &self.connections
    }

    /// The Prometheus text exposition, with the log gauges set to `log`.
    pub(crate) fn render(&self, log: LogGauges) -> String {
        self.log
            .records
            .set(i64::try_from(log.records).unwrap_or(i64::MAX));
        self.log
            .queued
            .set(i64::try_from(log.queued).unwrap_or(i64::MAX));
        self.log.available.set(i64::from(log.available));
        self.log.checkpoint_age.set(log.checkpoint_age_secs);
        self.policy_version
            .set(i64::try_from(log.policy_version).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    reason: &'static str,
}

/// Connections of the API and ops listeners (see `server::conns`): open ones by listener,
/// refused or closed early ones by reason, and those closed because a reload revoked their
/// certificate. Cloning shares the same values.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMetrics {
    open: Family<ListenerLabels, Gauge>,
    refused: Family<RefusedLabels, Counter>,
    revoked: Counter,
}

impl ConnectionMetrics {
    fn register(registry: &mut Registry) -> Self {
        let open = register(
            registry,
            "connections_open",
            "Open connections by listener (api: TLS handshakes included; ops)",
            Family::<ListenerLabels, Gauge>::default(),
        );
        for listener in ["api", "ops"] {
            let _ = open.get_or_create(&ListenerLabels { listener });
        }
        let refused = register(
            registry,
            "connections_refused",
            "Connections refused or closed early by reason (limit, handshake_evicted, handshake_timeout, handshake_failed, per_principal, bad_identity, ops_limit)",
            Family::<RefusedLabels, Counter>::default(),
        );
        let revoked = register(
            registry,
            "connections_revoked",
            "Open API connections closed because a reload found their client certificate revoked",
            Counter::default(),
        );
        Self {
            open,
            refused,
            revoked,
        }
    }

    /// `count` connections are open on `listener` (`api` or `ops`).
    pub(crate) fn open(&self, listener: &'static str, count: usize) {
        self.open
            .get_or_create(&ListenerLabels { listener })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// One connection refused or closed early for `reason`.
    pub(crate) fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&RefusedLabels { reason }).inc();
    }

    /// `count` connections closed by a revocation.
    pub(crate) fn revoked(&self, count: u64) {
        self.revoked.inc_by(count);
    }
}

impl Traffic {
    fn register(registry: &mut Registry) -> Self {
        let requests = register(
            registry,
            "http_requests",
            "API requests by route template and HTTP status",
            Family::<RequestLabels, Counter>::default(),
        );
        let decisions = register(
            registry,
            "decisions",
            "Transfer decisions by verdict and reason code (allow has reason \"none\")",
            Family::<DecisionLabels, Counter>::default(),
        );
        let transfer_bytes = register(
            registry,
            "transfer_bytes",
            "Body bytes of admitted transfers, counted when each transfer ends",
            Counter::default(),
        );
        let in_flight = register(
            registry,
            "transfers_in_flight",
            "Admitted transfers whose body is streaming to the upstream",
            Gauge::default(),
        );
        let shipment_decisions = register(
            registry,
            "shipment_decisions",
            "Shipment declarations by verdict and reason code (allow has reason \"none\")",
            Family::<DecisionLabels, Counter>::default(),
        );
        let custody_steps = register(
            registry,
            "custody_steps",
            "Custody steps logged, by event and result (accepted, or the refusal's reason code)",
            Family::<CustodyLabels, Counter>::default(),
        );
        Self {
            requests,
            decisions,
            transfer_bytes,
            in_flight,
            shipment_decisions,
            custody_steps,
        }
    }
}

impl LogMetrics {
    fn register(registry: &mut Registry) -> Self {
        let records = register(
            registry,
            "log_records",
            "Records in the audit log",
            Gauge::default(),
        );
        let queued = register(
            registry,
            "log_queued_appends",
            "Appends waiting for the audit log writer",
            Gauge::default(),
        );
        let available = register(
            registry,
            "log_available",
            "1 while the audit log accepts writes, 0 while it fails closed",
            Gauge::default(),
        );
        let append_seconds = register(
            registry,
            "log_append_seconds",
            "Time from queueing a record to its durable acknowledgement",
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
        );
        let batch_records = register(
            registry,
            "log_batch_records",
            "Records per commit batch (one write, one fdatasync and one signed checkpoint each)",
            Histogram::new(exponential_buckets(1.0, 2.0, 14)),
        );
        let checkpoint_age = register(
            registry,
            "checkpoint_age_seconds",
            "Seconds since the latest checkpoint was signed (the last acknowledged append)",
            Gauge::<f64, AtomicU64>::default(),
        );
        Self {
            records,
            queued,
            available,
            append_seconds,
            batch_records,
            checkpoint_age,
        }
    }
}

/// Counts one transfer in flight until dropped (also when its task is cancelled).
#[derive(Debug)]
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The earliest `notAfter` (unix seconds) of the PEM certificates in `path`.
pub(crate) fn certificate_expiry(path: &Path) -> Result<i64, MetricsError> {
    let fail = |why: String| MetricsError::Certificate {
        path: path.to_owned(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    certs
        .iter()
        .map(|der| {
            x509_parser::parse_x509_certificate(der)
                .map(|(_, cert)| cert.validity().not_after.timestamp())
                .map_err(|e| fail(e.to_string()))
        })
        .try_fold(None, |earliest: Option<i64>, t| {
            let t = t?;
            Ok(Some(earliest.map_or(t, |e| e.min(t))))
        })?
        .ok_or_else(|| fail("no certificate in the file".to_owned()))
}

#[cfg(test)]
mod tests;
