//! The config file exactly as written (stage one): serde structs, unknown keys rejected.
//! Every field's meaning is documented here and in the dev-mode `gateway.toml`.

use serde::Deserialize;

/// `gateway.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// Listeners and identity.
    pub(crate) server: RawServer,
    /// The API listener's TLS material.
    pub(crate) tls: RawTls,
    /// The audit log.
    pub(crate) log: RawLog,
    /// The policy bundle.
    pub(crate) policy: RawPolicy,
    /// One upstream per recipient tenant.
    #[serde(default)]
    pub(crate) upstream: Vec<RawUpstream>,
    /// The witnesses asked to cosign each checkpoint (C2SP tlog-witness).
    #[serde(default)]
    pub(crate) witness: Vec<RawWitness>,
    /// Dev mode only: a built-in demo upstream.
    #[serde(default)]
    pub(crate) demo_upstream: Option<RawDemoUpstream>,
    /// Timeouts and sizes; every key has a default.
    #[serde(default)]
    pub(crate) limits: RawLimits,
    /// Diagnostics to stderr.
    #[serde(default)]
    pub(crate) logging: RawLogging,
    /// The gateway's clock (rehearsals and tests only).
    #[serde(default)]
    pub(crate) clock: RawClock,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// `host:port` of the API listener (tenants, regulators, admins; HTTPS, client certs).
    pub(crate) listen: String,
    /// `host:port` of the plain-HTTP ops listener (`/healthz`, `/readyz`, `/metrics`).
    #[serde(default = "default_ops_listen")]
    pub(crate) ops_listen: String,
    /// SPIFFE trust domain of client identities (`spiffe://<trust_domain>/<role>/<id>`).
    pub(crate) trust_domain: String,
    /// Threads serving connections; 0 or absent: one per CPU.
    #[serde(default)]
    pub(crate) worker_threads: Option<i64>,
}

fn default_ops_listen() -> String {
    "127.0.0.1:9464".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    /// PEM bundle of the park CA(s) that client certificates must chain to.
    pub(crate) client_ca: String,
    /// PEM CRL files checked for every client certificate.
    #[serde(default)]
    pub(crate) crls: Vec<String>,
    /// The gateway's certificate chain (PEM).
    pub(crate) cert: String,
    /// The gateway's private key (PEM).
    pub(crate) key: String,
    /// Also accept TLS 1.2 (TLS 1.3 only by default).
    #[serde(default)]
    pub(crate) allow_tls12: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    /// Folder of the log's segment files and its sled store.
    pub(crate) dir: String,
    /// The Ed25519 signing key made by `loopgate keygen` (mode 0600).
    pub(crate) key: String,
    /// The log's origin line in every checkpoint (e.g. `loop.example/loopgate`).
    pub(crate) origin: String,
    /// MiB of sled's page cache (the index and the gateway's views share it).
    #[serde(default = "default_cache_mb")]
    pub(crate) cache_mb: u64,
    /// How many of the `[[witness]]` must cosign a checkpoint for a receipt to be cosigned
    /// (absent: all of them; 0 only without witnesses).
    #[serde(default)]
    pub(crate) witness_quorum: Option<i64>,
    /// How long a receipt waits for a cosigned checkpoint that covers its record (ms).
    #[serde(default = "default_witness_timeout_ms")]
    pub(crate) witness_timeout_ms: u64,
}

fn default_witness_timeout_ms() -> u64 {
    2000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWitness {
    /// A short name for logs, metrics and `/readyz` (e.g. `witness.pcpd.hk.example`).
    pub(crate) name: String,
    /// The witness's submission prefix: requests go to `<url>/add-checkpoint`.
    pub(crate) url: String,
    /// Its cosignature/v1 verifier key, `<name>+<hex id>+<base64(0x04 || public key)>`.
    pub(crate) key: String,
    /// PEM CA bundle to trust for an `https` url (plain `http` only on loopback).
    #[serde(default)]
    pub(crate) ca: Option<String>,
}

fn default_cache_mb() -> u64 {
    64
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// The policy bundle (TOML) loaded at start and on SIGHUP.
    pub(crate) bundle: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    /// The recipient tenant whose transfers go here.
    pub(crate) tenant: String,
    /// `https://host:port/path` that receives the bodies (POST).
    pub(crate) url: String,
    /// PEM CA bundle that the upstream's server certificate must chain to.
    pub(crate) ca: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDemoUpstream {
    /// `host:port` it listens on (loopback).
    pub(crate) listen: String,
    /// The recipient tenant it stands in for.
    pub(crate) tenant: String,
    /// Folder where complete bodies are stored.
    pub(crate) received: String,
    /// Its certificate chain (PEM).
    pub(crate) cert: String,
    /// Its private key (PEM).
    pub(crate) key: String,
    /// The CA the gateway trusts for it.
    pub(crate) ca: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    /// Largest request head (request line and headers), bytes.
    pub(crate) max_header_bytes: u64,
    /// Seconds a client may take to send its request head.
    pub(crate) header_timeout_secs: u64,
    /// Seconds a body may stall (no bytes from the client) before the transfer fails.
    pub(crate) body_idle_timeout_secs: u64,
    /// Seconds to connect to an upstream.
    pub(crate) upstream_connect_timeout_secs: u64,
    /// Seconds for the upstream to answer once the body is sent.
    pub(crate) upstream_timeout_secs: u64,
    /// Seconds transfers in flight may run after SIGTERM before they are interrupted.
    pub(crate) drain_timeout_secs: u64,
    // Connections (see `server::conns`).
    /// Most API connections open at once (lowered further to fit the descriptor limit).
    pub(crate) max_connections: u64,
    /// Most established API connections of one principal.
    pub(crate) max_connections_per_principal: u64,
    /// Most API connections still in the TLS handshake; the oldest is closed for a new one.
    pub(crate) max_handshakes: u64,
    /// Seconds a client may take to complete the TLS handshake.
    pub(crate) handshake_timeout_secs: u64,
    /// Seconds a connection may sit without a request in flight before it is closed.
    pub(crate) idle_timeout_secs: u64,
    /// Seconds between HTTP/2 keep-alive PINGs (and the wait for each answer).
    pub(crate) keepalive_interval_secs: u64,
    /// Most HTTP/2 streams (requests) in flight at once on one API connection.
    pub(crate) max_concurrent_streams: u64,
    /// Seconds the log's flush and the lanes' stop may take after the drain before exit 75.
    pub(crate) stop_timeout_secs: u64,
    /// Most bytes of a body read and discarded after an answer sent before it was read.
    pub(crate) lingering_bytes: u64,
    /// Longest such reading and discarding, seconds.
    pub(crate) lingering_time_secs: u64,
    /// Longest wait for the next bytes while reading and discarding, seconds.
    pub(crate) lingering_timeout_secs: u64,
    /// Hours an `Idempotency-Key` (and a declaration's `idempotency_key`) is remembered.
    pub(crate) idempotency_retention_hours: u64,
    /// Requests per second each principal may make, on average (its token bucket's rate).
    pub(crate) requests_per_second_per_principal: u64,
    /// Requests a principal may make at once after a pause (its token bucket's size).
    pub(crate) request_burst: u64,
    /// Most `GET /v1/audit/export` bodies being sent at once, all principals together.
    pub(crate) max_exports: u64,
    /// ... and of one principal.
    pub(crate) max_exports_per_principal: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            header_timeout_secs: 10,
            body_idle_timeout_secs: 30,
            upstream_connect_timeout_secs: 5,
            upstream_timeout_secs: 60,
            drain_timeout_secs: 30,
            max_connections: 4096,
            max_connections_per_principal: 64,
            max_handshakes: 256,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            keepalive_interval_secs: 30,
            max_concurrent_streams: 100,
            stop_timeout_secs: 10,
            lingering_bytes: 64 * 1024 * 1024,
            lingering_time_secs: 30,
            lingering_timeout_secs: 5,
            idempotency_retention_hours: 24,
            requests_per_second_per_principal: 200,
            request_burst: 400,
            max_exports: 64,
            max_exports_per_principal: 8,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogging {
    /// `text` (default, for journald) or `json` (one JSON object per line).
    #[serde(default)]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClock {
    /// Days added to the system clock (signed; default 0). Rehearsals and tests only: it moves
    /// every decision, record time and retention deadline.
    #[serde(default)]
    pub(crate) offset_days: i64,
}
