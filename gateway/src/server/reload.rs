//! SIGHUP: re-reads the config file, the API listener's certificate, key, CA bundle and CRLs,
//! the upstreams' CAs and the policy bundle, and puts them in force all at once, without
//! dropping a connection:
//!
//! - everything is loaded and validated first; if anything is wrong, one error line names it
//!   and nothing changes (the running config, certificates and policy keep serving);
//! - a policy bundle file whose bytes differ from the file last put in force gets a
//!   `policy_change` record first (its log index is the new policy version), then the snapshot
//!   is swapped; transfers in flight finish under the snapshot they started with. An unchanged
//!   file leaves the bundle in force alone, including one an admin applied through the API
//!   (see [`crate::registry`]);
//! - connections already accepted keep their TLS session; the next handshake uses the new
//!   certificate; but an open API connection whose client certificate the new CRLs list is
//!   closed once its requests in flight are answered, and a request that still reaches it is
//!   refused with `401 auth.bad_identity` (see `conns` and `accept`);
//! - listener addresses, the log (folder, key, origin), the demo upstream and the logging
//!   format cannot change while running: a changed value is logged as needing a restart and
//!   the running one stays.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use tokio::signal::unix::Signal;
use tokio_rustls::TlsAcceptor;

use super::conns::{CertId, Conns};
use super::start::{FileBundle, load_bundle, upstream_targets};
use super::{ServeError, systemd};
use crate::config::{Config, ConfigError, Upstream};
use crate::registry;
use crate::state::{AppState, TransferUpstreams};
use crate::transfer::upstream::Upstreams;

/// Why a reload was refused; the running configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReloadError {
    /// The config file does not validate.
    #[error("{}", .0.lines().join("; "))]
    Config(ConfigError),
    /// A file it names cannot be used (TLS material, the policy bundle), or the log refused
    /// the `policy_change` record.
    #[error("{}", .0.to_string().replace(":\n", ": ").replace('\n', "; "))]
    Load(#[from] ServeError),
    /// An upstream's CA bundle cannot be used.
    #[error("upstream clients: {0}")]
    Upstream(crate::tls::TlsError),
    /// The loading task did not finish.
    #[error("the reload task failed: {0}; send SIGHUP again")]
    Task(String),
}

/// The API listener's TLS acceptor; each accepted connection takes the one in force.
pub(super) struct Acceptor(RwLock<TlsAcceptor>);

impl Acceptor {
    pub(super) fn new(acceptor: TlsAcceptor) -> Self {
        Self(RwLock::new(acceptor))
    }

    pub(super) fn current(&self) -> TlsAcceptor {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, acceptor: TlsAcceptor) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = acceptor;
    }
}

/// Reloads on every SIGHUP until the task is aborted.
pub(super) async fn on_hangup(
    mut hangup: Signal,
    state: Arc<AppState>,
    acceptor: Arc<Acceptor>,
    conns: Arc<Conns>,
    demo: Option<(String, Upstream)>,
) {
    while hangup.recv().await.is_some() {
        systemd::reloading();
        match reload(&state, &acceptor, &conns, demo.as_ref()).await {
            Ok(policy_version) => {
                tracing::info!(
                    policy_version = state.policy().version,
                    policy_changed = policy_version.is_some(),
                    "reloaded the config, certificates and policy"
                );
                state.metrics.reload(true);
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "reload refused; the running config, certificates and policy stay in force; fix the file and send SIGHUP again"
                );
                state.metrics.reload(false);
            }
        }
        systemd::ready();
    }
}

/// Everything a reload puts in force, loaded and validated.
struct Prepared {
    config: Config,
    tls: Arc<ServerConfig>,
    upstreams: TransferUpstreams,
    /// The configured bundle, when its bytes differ from the file last put in force.
    bundle: Option<FileBundle>,
    /// The certificates the configured CRLs list.
    revoked: HashSet<CertId>,
}

/// One reload; the new policy version when the bundle changed.
async fn reload(
    state: &AppState,
    acceptor: &Acceptor,
    conns: &Conns,
    demo: Option<&(String, Upstream)>,
) -> Result<Option<u64>, ReloadError> {
    let running = state.config();
    let current = state.policy().file_sha256;
    let demo = demo.cloned();
    let prepared = tokio::task::spawn_blocking(move || prepare(&running, current, demo))
        .await
        .map_err(|e| ReloadError::Task(e.to_string()))??;
    // The bundle goes first: if its record cannot be logged, nothing else changes either.
    let version = match prepared.bundle {
        Some(file) => {
            let path = prepared.config.policy_bundle.display().to_string();
            let source = registry::Source::File(&path);
            let applied = registry::apply(state, file.text, source, Some(file.sha256))
                .await
                .map_err(ServeError::from)?;
            Some(applied.version)
        }
        None => None,
    };
    acceptor.set(TlsAcceptor::from(prepared.tls));
    state.swap(prepared.config, prepared.upstreams);
    certificate_metrics(state);
    let closed = conns.revoke(&prepared.revoked);
    if closed > 0 {
        tracing::warn!(
            connections = closed,
            "closing open API connections whose client certificate the reloaded CRLs revoke (after their requests in flight)"
        );
    }
    Ok(version)
}

/// Loads and validates everything the config file names (blocking file I/O).
fn prepare(
    running: &Config,
    file_in_force: [u8; 32],
    demo: Option<(String, Upstream)>,
) -> Result<Prepared, ReloadError> {
    let mut config = Config::load(&running.path).map_err(ReloadError::Config)?;
    keep_fixed(running, &mut config);
    let tls = crate::tls::server_config(&config.tls).map_err(ServeError::from)?;
    let revoked = crate::tls::revoked(&config.tls.crls).map_err(ServeError::from)?;
    let demo = demo
        .as_ref()
        .map(|(tenant, entry)| (tenant.as_str(), entry));
    let targets = upstream_targets(&config, demo);
    let upstreams = Upstreams::new(&targets, &config.limits, config.worker_threads)
        .map_err(ReloadError::Upstream)?;
    let file = load_bundle(&config.policy_bundle)?;
    let bundle = (file.sha256 != file_in_force).then_some(file);
    Ok(Prepared {
        config,
        tls,
        upstreams,
        bundle,
        revoked,
    })
}

/// Puts back the running values of what cannot change without a restart, logging each one
/// the file changed.
fn keep_fixed(running: &Config, new: &mut Config) {
    let restart = |key: &'static str, changed: bool| {
        if changed {
            tracing::warn!(
                key,
                "changed in the config file but takes effect only after a restart; the running value stays"
            );
        }
    };
    restart("[server] listen", new.listen != running.listen);
    restart("[server] ops_listen", new.ops_listen != running.ops_listen);
    restart(
        "[server] worker_threads",
        new.worker_threads != running.worker_threads,
    );
    restart("[log] dir", new.log_dir != running.log_dir);
    restart("[log] key", new.log_key != running.log_key);
    restart("[log] origin", new.origin != running.origin);
    restart(
        "[log] cache_mb",
        new.log_cache_bytes != running.log_cache_bytes,
    );
    restart(
        "[demo_upstream]",
        new.demo_upstream != running.demo_upstream,
    );
    restart("[logging] format", new.log_format != running.log_format);
    // The witnesses are asked by a task started with the gateway. Dev mode's run in the
    // process and are not in the file: nothing to warn about.
    restart(
        "[[witness]], [log] witness_quorum, witness_timeout_ms",
        !running.witnesses.dev && new.witnesses != running.witnesses,
    );
    new.witnesses.clone_from(&running.witnesses);
    new.listen = running.listen;
    new.ops_listen = running.ops_listen;
    new.worker_threads = running.worker_threads;
    new.log_dir.clone_from(&running.log_dir);
    new.log_key.clone_from(&running.log_key);
    new.log_cache_bytes = running.log_cache_bytes;
    new.origin.clone_from(&running.origin);
    new.demo_upstream.clone_from(&running.demo_upstream);
    new.log_format = running.log_format;
}

/// Sets the certificate expiry gauges from the files in force (a file that cannot be read is
/// logged and left out: the TLS config loaded it, so this only happens if it changed since).
pub(super) fn certificate_metrics(state: &AppState) {
    let config = state.config();
    let mut found = Vec::new();
    for (kind, path) in [
        ("server", &config.tls.cert),
        ("client_ca", &config.tls.client_ca),
    ] {
        match crate::metrics::certificate_expiry(path) {
            Ok(not_after) => found.push((kind, not_after, path.as_path())),
            Err(e) => tracing::warn!(error = %e, "certificate expiry not exported"),
        }
    }
    state.metrics.certificates(&found);
}
