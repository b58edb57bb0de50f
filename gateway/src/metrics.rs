//! What `/metrics` serves (Prometheus text format 0.0.4, `prometheus-client`): requests by route
//! template and status, decisions by reason, transfer bytes and transfers in flight, the log's
//! size, append latency and checkpoint age, certificate expiry times, the policy version and
//! reloads. Labels are bounded: route templates (never raw paths), reason codes, status codes,
//! and the certificate files the config names.
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
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Why a certificate's expiry time could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
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
struct CertLabels {
    kind: &'static str,
    file: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

/// The log's state at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct LogGauges {
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
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    transfer_bytes: Counter,
    in_flight: Gauge,
    log_records: Gauge,
    log_queued: Gauge,
    log_available: Gauge,
    append_seconds: Histogram,
    batch_records: Histogram,
    checkpoint_age: Gauge<f64, AtomicU64>,
    cert_expiry: Family<CertLabels, Gauge>,
    policy_version: Gauge,
    reloads: Family<ReloadLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics registered under the `loopgate_` prefix, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("loopgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "API requests by route template and HTTP status",
            requests.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Transfer decisions by verdict and reason code (allow has reason \"none\")",
            decisions.clone(),
        );
        let transfer_bytes = Counter::default();
        registry.register(
            "transfer_bytes",
            "Body bytes of admitted transfers, counted when each transfer ends",
            transfer_bytes.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "transfers_in_flight",
            "Admitted transfers whose body is streaming to the upstream",
            in_flight.clone(),
        );
        let log_records = Gauge::default();
        registry.register(
            "log_records",
            "Records in the audit log",
            log_records.clone(),
        );
        let log_queued = Gauge::default();
        registry.register(
            "log_queued_appends",
            "Appends waiting for the audit log writer",
            log_queued.clone(),
        );
        let log_available = Gauge::default();
        registry.register(
            "log_available",
            "1 while the audit log accepts writes, 0 while it fails closed",
            log_available.clone(),
        );
        let append_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 15));
        registry.register(
            "log_append_seconds",
            "Time from queueing a record to its durable acknowledgement",
            append_seconds.clone(),
        );
        let batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "log_batch_records",
            "Records per commit batch (one write, one fdatasync and one signed checkpoint each)",
            batch_records.clone(),
        );
        let checkpoint_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since the latest checkpoint was signed (the last acknowledged append)",
            checkpoint_age.clone(),
        );
        let cert_expiry = Family::<CertLabels, Gauge>::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "notAfter (unix seconds) of the earliest-expiring certificate in each loaded file",
            cert_expiry.clone(),
        );
        let policy_version = Gauge::default();
        registry.register(
            "policy_version",
            "Log index of the policy_change record in force",
            policy_version.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "SIGHUP reloads by result (ok or refused)",
            reloads.clone(),
        );
        // Both series exist from the start, so an alert on `refused` sees 0 before the first.
        for result in ["ok", "refused"] {
            let _ = reloads.get_or_create(&ReloadLabels { result });
        }
        Self {
            registry,
            requests,
            decisions,
            transfer_bytes,
            in_flight,
            log_records,
            log_queued,
            log_available,
            append_seconds,
            batch_records,
            checkpoint_age,
            cert_expiry,
            policy_version,
            reloads,
        }
    }

    /// One API request answered.
    pub fn request(&self, route: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }

    /// One transfer decision: `reason` is `None` for an allow.
    pub fn decision(&self, allowed: bool, reason: Option<&'static str>) {
        let labels = DecisionLabels {
            decision: if allowed { "allow" } else { "deny" },
            reason: if allowed {
                "none"
            } else {
                reason.unwrap_or("none")
            },
        };
        self.decisions.get_or_create(&labels).inc();
    }

    /// Body bytes of a transfer that ended.
    pub fn transfer_bytes(&self, bytes: u64) {
        self.transfer_bytes.inc_by(bytes);
    }

    /// One transfer starts streaming; the guard counts it until dropped.
    pub fn transfer_started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// One append acknowledged (or refused) after `seconds`.
    pub fn append_latency(&self, seconds: f64) {
        self.append_seconds.observe(seconds);
    }

    /// One commit batch of `records` records was made durable.
    pub fn batch(&self, records: u64) {
        self.batch_records.observe(records as f64);
    }

    /// One reload, done or refused.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// Sets the expiry times of the certificate files now in force (`kind` is `server` or
    /// `client_ca`), replacing the files loaded before.
    pub fn certificates(&self, files: &[(&'static str, i64, &Path)]) {
        self.cert_expiry.clear();
        for (kind, not_after, path) in files {
            let labels = CertLabels {
                kind,
                file: path.display().to_string(),
            };
            self.cert_expiry.get_or_create(&labels).set(*not_after);
        }
    }

    /// The Prometheus text exposition, with the log gauges set to `log`.
    pub fn render(&self, log: LogGauges) -> String {
        self.log_records
            .set(i64::try_from(log.records).unwrap_or(i64::MAX));
        self.log_queued
            .set(i64::try_from(log.queued).unwrap_or(i64::MAX));
        self.log_available.set(i64::from(log.available));
        self.checkpoint_age.set(log.checkpoint_age_secs);
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

/// Counts one transfer in flight until dropped (also when its task is cancelled).
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The earliest `notAfter` (unix seconds) of the PEM certificates in `path`.
pub fn certificate_expiry(path: &Path) -> Result<i64, MetricsError> {
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
