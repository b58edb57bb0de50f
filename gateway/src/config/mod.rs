//! Two-stage configuration (ripgrep's low/high args): `raw` is the file exactly as written,
//! unknown keys rejected; [`Config`] is what the gateway runs on, validated, with paths resolved
//! against the config file's folder. Every problem is reported, not just the first.

mod raw;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;

use crate::tls::ServerTlsFiles;

/// Why a config cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: cannot read the config: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (syntax, type, unknown or missing key).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// The values are wrong: every problem, one per line.
    #[error("{}: {}", path.display(), problems.join(&format!("\n{}: ", path.display())))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// One sentence per problem.
        problems: Vec<String>,
    },
}

impl ConfigError {
    /// One line per problem, each starting with the file name.
    pub fn lines(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_owned).collect()
    }
}

/// Diagnostics output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (journald adds the timestamp).
    Text,
    /// One JSON object per line.
    Json,
}

/// A validated upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `https://host:port/path`.
    pub url: Uri,
    /// CA bundle for the upstream's certificate.
    pub ca: PathBuf,
}

/// A witness the gateway asks to cosign its checkpoints (`[[witness]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessTarget {
    /// Its name in logs, metrics and `/readyz`.
    pub name: String,
    /// The submission prefix (`http(s)://host:port[/path]`, no trailing `/`).
    pub url: Uri,
    /// Its verifier key.
    pub key: loopgate_audit::WitnessVerifierKey,
    /// The CA bundle for an `https` url.
    pub ca: Option<PathBuf>,
}

/// The witnesses and how receipts wait for them (`[[witness]]`, `[log] witness_quorum`,
/// `witness_timeout_ms`). Read at start only.
#[derive(Debug, Clone, PartialEq)]
pub struct Witnesses {
    /// The witnesses, in config order.
    pub targets: Vec<WitnessTarget>,
    /// How many must cosign a checkpoint (0 only without witnesses).
    pub quorum: usize,
    /// How long a receipt waits for a cosigned checkpoint covering its record.
    pub timeout: Duration,
    /// Dev mode's witnesses, run in the process (not from the file).
    pub dev: bool,
}

/// Dev mode's built-in upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUpstreamConfig {
    /// Listen address (port 0: the OS picks one).
    pub listen: SocketAddr,
    /// The recipient tenant it stands in for.
    pub tenant: String,
    /// Folder of complete bodies.
    pub received: PathBuf,
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// CA the gateway trusts for it.
    pub ca: PathBuf,
}

/// Timeouts and sizes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head, bytes.
    pub max_header_bytes: usize,
    /// Time to send the request head.
    pub header_timeout: Duration,
    /// Longest stall while reading a body.
    pub body_idle_timeout: Duration,
    /// Time to connect to an upstream.
    pub upstream_connect_timeout: Duration,
    /// Time for an upstream to answer.
    pub upstream_timeout: Duration,
    /// Time transfers in flight get after SIGTERM.
    pub drain_timeout: Duration,
    /// Connections: caps, the handshake and idle timeouts, keep-alive pings, the stop bound.
    pub connections: Connections,
    /// How long an idempotency key is remembered (`idempotency_retention_hours`).
    pub idempotency_retention: Duration,
    /// Each principal's request quota: the token bucket's rate (requests per second).
    pub requests_per_second: u32,
    /// ... and its size (requests at once after a pause).
    pub request_burst: u32,
    /// Most audit exports being sent at once (`max_exports`).
    pub max_exports: usize,
    /// ... and of one principal (`max_exports_per_principal`).
    pub max_exports_per_principal: usize,
}

/// The API and ops listeners' connections (see `server::conns`).
#[derive(Debug, Clone)]
pub struct Connections {
    /// Most API connections open at once, as configured (the descriptor limit may lower it).
    pub max: usize,
    /// Most established API connections of one principal.
    pub per_principal: usize,
    /// Most API connections in the TLS handshake at once.
    pub handshakes: usize,
    /// Time to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time without a request in flight before a connection is closed.
    pub idle_timeout: Duration,
    /// HTTP/2 keep-alive PING interval (and the wait for each acknowledgement).
    pub keepalive_interval: Duration,
    /// Most HTTP/2 streams in flight at once on one API connection (`max_concurrent_streams`).
    pub max_streams: u32,
    /// Time the lanes' stop and the log's flush may take after the drain.
    pub stop_timeout: Duration,
}

/// What happens to the rest of a body after an answer sent before it was read (`[limits]
/// lingering_*`, see `api::linger`): read and discarded, never forwarded, within these bounds.
#[derive(Debug, Clone, Copy)]
pub struct Lingering {
    /// Most bytes read and discarded.
    pub bytes: u64,
    /// Longest time spent reading and discarding.
    pub time: Duration,
    /// Longest wait for the next bytes.
    pub timeout: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// API listener address.
    pub listen: SocketAddr,
    /// Ops listener address.
    pub ops_listen: SocketAddr,
    /// Connection lanes: threads that serve API connections, each with its own single-threaded
    /// runtime (`[server] worker_threads`).
    pub worker_threads: usize,
    /// SPIFFE trust domain.
    pub trust_domain: String,
    /// TLS material of the API listener.
    pub tls: ServerTlsFiles,
    /// Log folder.
    pub log_dir: PathBuf,
    /// Log signing key file.
    pub log_key: PathBuf,
    /// sled's page cache, bytes (`[log] cache_mb`).
    pub log_cache_bytes: u64,
    /// Checkpoint origin line.
    pub origin: String,
    /// Policy bundle file.
    pub policy_bundle: PathBuf,
    /// Upstreams by recipient tenant id.
    pub upstreams: BTreeMap<String, Upstream>,
    /// The witnesses (none: checkpoints are not cosigned).
    pub witnesses: Witnesses,
    /// Dev mode's demo upstream, if configured.
    pub demo_upstream: Option<DemoUpstreamConfig>,
    /// Timeouts and sizes.
    pub limits: Limits,
    /// Reading and discarding the rest of a body answered early.
    pub lingering: Lingering,
    /// Diagnostics format.
    pub log_format: LogFormat,
    /// `[clock] offset_days`: days added to the system clock (rehearsals and tests only).
    pub clock_offset_days: i64,
}

impl Config {
    /// Reads and validates a config file (stage one and two; no certificate or key is loaded).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &read(path)?)
    }

    /// Validates config text as if read from `path` (relative paths resolve against its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = from_toml(path, text)?;
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        let mut problems = Vec::new();
        let config = validate(&raw, path, &base, &mut problems);
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            }),
        }
    }
}

/// The text of the config file `path`.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The config file `path`'s `text` as TOML of the shape `T` (stage one: syntax, types and
/// unknown keys), its error on one line.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: one_line(text, &e),
    })
}

/// toml's multi-line error (with a source excerpt) as one line: `LINE:COLUMN: message`.
pub(crate) fn one_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{line}:{column}: {message}")
        }
        None => message,
    }
}

impl Config {
    /// What is allowed but unwise (`check-config` prints each as a `warning:` line and still
    /// exits 0): an ops listener off loopback (`/metrics` and `/readyz` have no authentication),
    /// and a TLS private key (the API's, the demo upstream's) that the file's group or others may
    /// read. (A log key others may read is an error: `SigningKey::load` refuses it.)
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.ops_listen.ip().is_loopback() {
            warnings.push(format!(
                "[server] ops_listen {} is not a loopback address: /metrics and /readyz have no authentication; keep it on 127.0.0.1 or ::1 (or firewall it)",
                self.ops_listen
            ));
        }
        let mut keys = vec![("[tls] key", &self.tls.key)];
        if let Some(demo) = &self.demo_upstream {
            keys.push(("[demo_upstream] key", &demo.key));
        }
        for (key, path) in keys {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    warnings.push(format!(
                        "{key} {} has mode {mode:04o}: its group or others may read it; chmod 600 it",
                        path.display()
                    ));
                }
            }
        }
        warnings
    }

    /// Loads everything the config points at, as `serve` would, and reports every file that
    /// cannot be used: TLS material, upstream CAs, the policy bundle, the log key.
    pub fn check_files(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = crate::tls::server_config(&self.tls) {
            problems.push(format!("[tls]: {e}"));
        }
        for (tenant, upstream) in &self.upstreams {
            if let Err(e) = crate::tls::upstream_client_config(&upstream.ca) {
                problems.push(format!("[[upstream]] for tenant {tenant:?}: {e}"));
            }
        }
        if let Some(demo) = &self.demo_upstream {
            if let Err(e) = crate::tls::plain_server_config(&demo.cert, &demo.key)
                .and_then(|_| crate::tls::upstream_client_config(&demo.ca))
            {
                problems.push(format!("[demo_upstream]: {e}"));
            }
        }
        for w in &self.witnesses.targets {
            if let Some(ca) = &w.ca {
                if let Err(e) = crate::tls::upstream_client_config(ca) {
                    problems.push(format!("[[witness]] {:?}: {e}", w.name));
                }
            }
        }
        let bundle = &self.policy_bundle;
        match std::fs::read_to_string(bundle) {
            Err(e) => problems.push(format!("[policy] bundle {}: {e}", bundle.display())),
            Ok(text) => {
                // A path to the wrong file: one line, not one per table or line of that file.
                if let Some(why) = loopgate_policy::not_a_bundle(&text) {
                    problems.push(format!(
                        "[policy] bundle {}: {why}; is [policy] bundle the right file?",
                        bundle.display()
                    ));
                } else if let Err(loopgate_policy::PolicyError::InvalidBundle { problems: found }) =
                    loopgate_policy::parse_bundle(&text)
                {
                    problems.extend(
                        found
                            .iter()
                            .filter(|p| p.severity == loopgate_policy::Severity::Error)
                            .map(|p| format!("[policy] bundle {}:{p}", bundle.display())),
                    );
                } else if let Err(e) =
                    crate::registry::check_loggable(&bundle.display().to_string(), &text)
                {
                    // What `serve` would refuse beyond validation (e.g. a record it cannot log).
                    problems.push(format!(
                        "[policy] bundle {}: serve cannot put it in force: {e}",
                        bundle.display()
                    ));
                }
            }
        }
        if let Err(e) = loopgate_audit::SigningKey::load(&self.log_key) {
            problems.push(format!(
                "[log] key {}: {e}; make one with `loopgate keygen --out FILE --name ORIGIN`",
                self.log_key.display()
            ));
        }
        problems
    }
}

/// Most `[server] worker_threads` accepted.
const MAX_WORKER_THREADS: usize = 1024;

/// The default number of threads serving connections (lanes): one per CPU.
///
/// Fewer can pay on a small machine whose CPUs the audit log's own threads (fdatasync,
/// signing, the index, sled's IO) share with the lanes, but one lane bounds a large body's TLS
/// and SHA-256 to one CPU: with a single work-stealing worker on 2 CPUs (2026-11-25) 1 KiB
/// transfers went from 0.35-0.40x to 0.43x nginx's rate while 64 MiB transfers fell from
/// 0.97-1.01x to 0.77x nginx's MB/s. So the default keeps a lane per CPU, and
/// `[server] worker_threads` lets an operator choose.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
}

fn validate(
    raw: &raw::RawConfig,
    path: &Path,
    base: &Path,
    problems: &mut Vec<String>,
) -> Option<Config> {
    let resolve = |file: &str| base.join(file);
    let listen = address(&raw.server.listen, "[server] listen", problems);
    let ops_listen = address(&raw.server.ops_listen, "[server] ops_listen", problems);
    let worker_threads = worker_threads(raw.server.worker_threads, problems);
    let trust_domain = trust_domain(&raw.server.trust_domain, problems);
    let origin = origin(&raw.log.origin, problems);
    let upstreams = upstreams(&raw.upstream, base, problems);
    let demo_upstream = raw
        .demo_upstream
        .as_ref()
        .and_then(|demo| demo_upstream(demo, &upstreams, base, problems));
    let limits = limits(&raw.limits, problems);
    let lingering = lingering(&raw.limits, problems);
    let log_format = log_format(raw.logging.format.as_deref(), problems);
    let clock_offset_days = clock_offset_days(raw.clock.offset_days, problems);
    let log_cache_bytes = log_cache_bytes(raw.log.cache_mb, problems);
    let witnesses = witnesses(raw, base, problems);
    Some(Config {
        path: path.to_owned(),
        listen: listen?,
        ops_listen: ops_listen?,
        worker_threads: worker_threads?,
        trust_domain,
        tls: ServerTlsFiles {
            client_ca: resolve(&raw.tls.client_ca),
            crls: raw.tls.crls.iter().map(|crl| resolve(crl)).collect(),
            cert: resolve(&raw.tls.cert),
            key: resolve(&raw.tls.key),
            allow_tls12: raw.tls.allow_tls12,
        },
        log_dir: resolve(&raw.log.dir),
        log_key: resolve(&raw.log.key),
        log_cache_bytes: log_cache_bytes?,
        origin,
        policy_bundle: resolve(&raw.policy.bundle),
        upstreams,
        witnesses: witnesses?,
        demo_upstream,
        limits: limits?,
        lingering: lingering?,
        log_format: log_format?,
        clock_offset_days,
    })
}

/// `[[witness]]` and `[log] witness_quorum`, `witness_timeout_ms`.
fn witnesses(raw: &raw::RawConfig, base: &Path, problems: &mut Vec<String>) -> Option<Witnesses> {
    let before = problems.len();
    let mut targets: Vec<WitnessTarget> = Vec::new();
    for (i, w) in raw.witness.iter().enumerate() {
        let at = format!("[[witness]] {} ({:?})", i + 1, w.name);
        if w.name.trim().is_empty() || w.name.trim() != w.name || w.name.contains('\n') {
            problems.push(format!(
                "{at}: name must be one non-empty line, e.g. \"witness.pcpd.hk.example\""
            ));
        } else if targets.iter().any(|t| t.name == w.name) {
            problems.push(format!(
                "{at}: the name is used twice; give each witness its own"
            ));
        }
        let key = loopgate_audit::WitnessVerifierKey::parse(&w.key)
            .map_err(|e| problems.push(format!("{at}: key: {e}; paste the witness's verifier key")))
            .ok();
        let url = witness_url(&w.url, w.ca.is_some(), &at, problems);
        if let (Some(key), Some(url)) = (key, url) {
            targets.push(WitnessTarget {
                name: w.name.clone(),
                url,
                key,
                ca: w.ca.as_ref().map(|ca| base.join(ca)),
            });
        }
    }
    let count = raw.witness.len();
    let quorum = match raw.log.witness_quorum {
        None => count,
        Some(q) if count == 0 && q != 0 => {
            problems.push(format!(
                "[log] witness_quorum is {q} but there is no [[witness]]; add witnesses or use 0"
            ));
            0
        }
        Some(q) => match usize::try_from(q) {
            Ok(q) if (count == 0 && q == 0) || (1..=count).contains(&q) => q,
            _ => {
                problems.push(format!(
                    "[log] witness_quorum is {q}; use 1 to {count} (how many of the [[witness]] must cosign)"
                ));
                0
            }
        },
    };
    let ms = raw.log.witness_timeout_ms;
    if !(1..=60_000).contains(&ms) {
        problems.push(format!(
            "[log] witness_timeout_ms is {ms}; use 1 to 60000 (how long a receipt waits for the witnesses)"
        ));
    }
    (problems.len() == before).then(|| Witnesses {
        targets,
        quorum,
        timeout: Duration::from_millis(ms),
        dev: false,
    })
}

/// A witness's submission prefix: `https://` (with `ca`), or `http://` on a loopback address.
fn witness_url(text: &str, has_ca: bool, at: &str, problems: &mut Vec<String>) -> Option<Uri> {
    let trimmed = text.trim_end_matches('/');
    let Ok(url) = trimmed.parse::<Uri>() else {
        problems.push(format!(
            "{at}: url {text:?} is not a URL; use e.g. \"https://witness.example/witness\""
        ));
        return None;
    };
    let host = url.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let ok = match url.scheme_str() {
        Some("https") if has_ca => true,
        Some("https") => {
            problems.push(format!("{at}: url {text:?} is https: add ca, the PEM bundle that signed the witness's certificate"));
            false
        }
        Some("http") if loopback => true,
        Some("http") => {
            problems.push(format!(
                "{at}: url {text:?}: plain http only to a loopback address; use https with ca"
            ));
            false
        }
        _ => {
            problems.push(format!(
                "{at}: url {text:?} must start with https:// (or http:// on loopback)"
            ));
            false
        }
    };
    if ok && (host.is_empty() || url.query().is_some()) {
        problems.push(format!("{at}: url {text:?} needs a host and no query"));
        return None;
    }
    ok.then_some(url)
}

/// `[limits] lingering_bytes`, `lingering_time_secs`, `lingering_timeout_secs`. Zero bytes is
/// allowed (nothing is read after an early answer: the connection or stream is closed at once).
fn lingering(raw: &raw::RawLimits, problems: &mut Vec<String>) -> Option<Lingering> {
    let mut secs = |value: u64, key: &str| limit_secs(value, key, 3_600, problems);
    let time = secs(raw.lingering_time_secs, "lingering_time_secs");
    let timeout = secs(raw.lingering_timeout_secs, "lingering_timeout_secs");
    const MAX_BYTES: u64 = 1 << 40;
    if raw.lingering_bytes > MAX_BYTES {
        problems.push(format!(
            "[limits] lingering_bytes is {}; use 0 to {MAX_BYTES}",
            raw.lingering_bytes
        ));
        return None;
    }
    Some(Lingering {
        bytes: raw.lingering_bytes,
        time: time?,
        timeout: timeout?,
    })
}

/// `[log] cache_mb`: sled's page cache, 8 MiB to 64 GiB. Below 8 MiB sled reads its own pages
/// back from disk for every append.
fn log_cache_bytes(mb: u64, problems: &mut Vec<String>) -> Option<u64> {
    if (8..=65_536).contains(&mb) {
        Some(mb << 20)
    } else {
        problems.push(format!(
            "[log] cache_mb is {mb}; use a number of MiB from 8 to 65536"
        ));
        None
    }
}

/// `[server] worker_threads`: 0 (or absent) for one per CPU, else 1 to 1024.
fn worker_threads(asked: Option<i64>, problems: &mut Vec<String>) -> Option<usize> {
    match asked.unwrap_or(0) {
        0 => Some(default_worker_threads()),
        n => match usize::try_from(n) {
            Ok(n @ 1..=MAX_WORKER_THREADS) => Some(n),
            _ => {
                problems.push(format!(
                    "[server] worker_threads is {n}; use 1 to {MAX_WORKER_THREADS}, or 0 for one per CPU"
                ));
                None
            }
        },
    }
}

/// `[server] trust_domain`, trimmed: lower-case letters, digits, `.`, `-` and `_`.
fn trust_domain(text: &str, problems: &mut Vec<String>) -> String {
    let trust_domain = text.trim().to_owned();
    let domain_ok = !trust_domain.is_empty()
        && trust_domain.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if !domain_ok {
        problems.push(format!(
            "[server] trust_domain {text:?} is not a SPIFFE trust domain; use lower-case letters, digits, '.', '-' and '_' (e.g. \"loop.example\")"
        ));
    }
    trust_domain
}

/// `[log] origin`, trimmed: one non-empty line that cannot be read as a signature line.
fn origin(text: &str, problems: &mut Vec<String>) -> String {
    let origin = text.trim().to_owned();
    if origin.is_empty() || origin.contains(['\n', '\r']) || origin.starts_with('—') {
        problems.push(format!(
            "[log] origin {text:?} must be one non-empty line, e.g. \"loop.example/loopgate\""
        ));
    }
    origin
}

/// The `[[upstream]]` entries by tenant: each an https:// URL, one per tenant.
fn upstreams(
    raw: &[raw::RawUpstream],
    base: &Path,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Upstream> {
    let mut upstreams = BTreeMap::new();
    for upstream in raw {
        let label = format!("[[upstream]] for tenant {:?}", upstream.tenant);
        let url = upstream_url(&upstream.url, &label, problems);
        if upstreams.contains_key(&upstream.tenant) {
            problems.push(format!("{label} is defined twice; keep one"));
        } else if let Some(url) = url {
            upstreams.insert(
                upstream.tenant.clone(),
                Upstream {
                    url,
                    ca: base.join(&upstream.ca),
                },
            );
        }
    }
    upstreams
}

/// `[demo_upstream]`, standing in for a tenant without an `[[upstream]]`.
fn demo_upstream(
    demo: &raw::RawDemoUpstream,
    upstreams: &BTreeMap<String, Upstream>,
    base: &Path,
    problems: &mut Vec<String>,
) -> Option<DemoUpstreamConfig> {
    if upstreams.contains_key(&demo.tenant) {
        problems.push(format!(
            "[demo_upstream] stands in for tenant {:?}, which also has an [[upstream]]; keep one",
            demo.tenant
        ));
    }
    Some(DemoUpstreamConfig {
        listen: address(&demo.listen, "[demo_upstream] listen", problems)?,
        tenant: demo.tenant.clone(),
        received: base.join(&demo.received),
        cert: base.join(&demo.cert),
        key: base.join(&demo.key),
        ca: base.join(&demo.ca),
    })
}

/// `[logging] format`: `text` (the default) or `json`.
fn log_format(format: Option<&str>, problems: &mut Vec<String>) -> Option<LogFormat> {
    match format {
        None | Some("text") => Some(LogFormat::Text),
        Some("json") => Some(LogFormat::Json),
        Some(other) => {
            problems.push(format!("[logging] format {other:?} is not text or json"));
            None
        }
    }
}

/// `[clock] offset_days`, within about a century either way.
fn clock_offset_days(days: i64, problems: &mut Vec<String>) -> i64 {
    if days.abs() > MAX_CLOCK_OFFSET_DAYS {
        problems.push(format!(
            "[clock] offset_days is {days}; use -{MAX_CLOCK_OFFSET_DAYS} to {MAX_CLOCK_OFFSET_DAYS} (0 in production)"
        ));
    }
    days
}

/// The largest `[clock] offset_days` either way (about a century).
const MAX_CLOCK_OFFSET_DAYS: i64 = 36_500;

fn address(text: &str, key: &str, problems: &mut Vec<String>) -> Option<SocketAddr> {
    let parsed = text.parse::<SocketAddr>().ok();
    if parsed.is_none() {
        problems.push(format!(
            "{key} {text:?} is not an IP address and port such as \"127.0.0.1:8443\""
        ));
    }
    parsed
}

fn upstream_url(text: &str, label: &str, problems: &mut Vec<String>) -> Option<Uri> {
    let uri = text.parse::<Uri>().ok().filter(|uri| {
        uri.scheme_str() == Some("https") && uri.host().is_some_and(|host| !host.is_empty())
    });
    if uri.is_none() {
        problems.push(format!(
            "{label}: url {text:?} must be an https:// URL with a host, e.g. \"https://10.0.0.5:9443/ingest\""
        ));
    }
    uri
}

impl Default for Connections {
    /// The defaults of the `[limits]` keys (`raw::RawLimits`, the one place they are written).
    fn default() -> Self {
        let raw = raw::RawLimits::default();
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Self {
            max: count(raw.max_connections),
            per_principal: count(raw.max_connections_per_principal),
            handshakes: count(raw.max_handshakes),
            handshake_timeout: Duration::from_secs(raw.handshake_timeout_secs),
            idle_timeout: Duration::from_secs(raw.idle_timeout_secs),
            keepalive_interval: Duration::from_secs(raw.keepalive_interval_secs),
            max_streams: u32::try_from(raw.max_concurrent_streams).unwrap_or(u32::MAX),
            stop_timeout: Duration::from_secs(raw.stop_timeout_secs),
        }
    }
}

/// The connection keys of `[limits]`.
fn connections(raw: &raw::RawLimits, problems: &mut Vec<String>) -> Option<Connections> {
    let mut count = |value: u64, key: &str, most: u64| {
        if (1..=most).contains(&value) {
            usize::try_from(value).ok()
        } else {
            problems.push(format!("[limits] {key} is {value}; use 1 to {most}"));
            None
        }
    };
    let max = count(raw.max_connections, "max_connections", 1_000_000);
    let per_principal = count(
        raw.max_connections_per_principal,
        "max_connections_per_principal",
        1_000_000,
    );
    let handshakes = count(raw.max_handshakes, "max_handshakes", 1_000_000);
    let max_streams = count(raw.max_concurrent_streams, "max_concurrent_streams", 10_000)
        .and_then(|n| u32::try_from(n).ok());
    let mut secs = |value: u64, key: &str| limit_secs(value, key, 86_400, problems);
    let handshake_timeout = secs(raw.handshake_timeout_secs, "handshake_timeout_secs");
    let idle_timeout = secs(raw.idle_timeout_secs, "idle_timeout_secs");
    let keepalive_interval = secs(raw.keepalive_interval_secs, "keepalive_interval_secs");
    let stop_timeout = secs(raw.stop_timeout_secs, "stop_timeout_secs");
    Some(Connections {
        max: max?,
        per_principal: per_principal?,
        handshakes: handshakes?,
        handshake_timeout: handshake_timeout?,
        idle_timeout: idle_timeout?,
        keepalive_interval: keepalive_interval?,
        max_streams: max_streams?,
        stop_timeout: stop_timeout?,
    })
}

/// A `[limits]` key in seconds, from 1 to `most`.
fn limit_secs(value: u64, key: &str, most: u64, problems: &mut Vec<String>) -> Option<Duration> {
    if (1..=most).contains(&value) {
        Some(Duration::from_secs(value))
    } else {
        problems.push(format!(
            "[limits] {key} is {value}; use a number of seconds from 1 to {most}"
        ));
        None
    }
}

fn limits(raw: &raw::RawLimits, problems: &mut Vec<String>) -> Option<Limits> {
    let mut secs = |value: u64, key: &str| limit_secs(value, key, 86_400, problems);
    let header_timeout = secs(raw.header_timeout_secs, "header_timeout_secs");
    let body_idle_timeout = secs(raw.body_idle_timeout_secs, "body_idle_timeout_secs");
    let upstream_connect_timeout = secs(
        raw.upstream_connect_timeout_secs,
        "upstream_connect_timeout_secs",
    );
    let upstream_timeout = secs(raw.upstream_timeout_secs, "upstream_timeout_secs");
    let drain_timeout = secs(raw.drain_timeout_secs, "drain_timeout_secs");
    let mut quota = |value: u64, key: &str| {
        let valid = u32::try_from(value)
            .ok()
            .filter(|n| (1..=1_000_000).contains(n));
        if valid.is_none() {
            problems.push(format!(
                "[limits] {key} is {value}; use 1 to 1000000 (the default leaves every legitimate tenant well below it)"
            ));
        }
        valid
    };
    let requests_per_second = quota(
        raw.requests_per_second_per_principal,
        "requests_per_second_per_principal",
    );
    let request_burst = quota(raw.request_burst, "request_burst");
    let max_header_bytes = usize::try_from(raw.max_header_bytes)
        .ok()
        .filter(|n| (1024..=1024 * 1024).contains(n));
    if max_header_bytes.is_none() {
        problems.push(format!(
            "[limits] max_header_bytes is {}; use 1024 to 1048576",
            raw.max_header_bytes
        ));
    }
    let connections = connections(raw, problems);
    let mut exports = |value: u64, key: &str| {
        let valid = usize::try_from(value)
            .ok()
            .filter(|n| (1..=100_000).contains(n));
        if valid.is_none() {
            problems.push(format!("[limits] {key} is {value}; use 1 to 100000"));
        }
        valid
    };
    let max_exports = exports(raw.max_exports, "max_exports");
    let max_exports_per_principal =
        exports(raw.max_exports_per_principal, "max_exports_per_principal");
    let hours = raw.idempotency_retention_hours;
    let idempotency_retention = if (1..=8_784).contains(&hours) {
        Some(Duration::from_secs(hours * 3600))
    } else {
        problems.push(format!(
            "[limits] idempotency_retention_hours is {hours}; use a number of hours from 1 to 8784 (a year)"
        ));
        None
    };
    Some(Limits {
        connections: connections?,
        max_header_bytes: max_header_bytes?,
        header_timeout: header_timeout?,
        body_idle_timeout: body_idle_timeout?,
        upstream_connect_timeout: upstream_connect_timeout?,
        upstream_timeout: upstream_timeout?,
        drain_timeout: drain_timeout?,
        idempotency_retention: idempotency_retention?,
        requests_per_second: requests_per_second?,
        request_burst: request_burst?,
        max_exports: max_exports?,
        max_exports_per_principal: max_exports_per_principal?,
    })
}
