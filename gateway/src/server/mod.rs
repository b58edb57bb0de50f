//! Running the gateway, in three phases:
//!
//! 1. **start** (`start`): open and recover the log, put the policy in force, bind the
//!    listeners, rebuild the views, close what the last stop cut off, start the connection
//!    lanes; then tell the caller and systemd it is ready;
//! 2. **serve**: accept API connections (`accept`) onto the lanes (`lanes`), the ops listener
//!    (`ops`), SIGHUP reloads (`reload`) and the watchdog (`systemd`), until SIGTERM or SIGINT;
//! 3. **drain**: stop accepting, let connections (and the transfers on them) finish up to the
//!    drain timeout (a second SIGTERM or SIGINT ends it at once), stop the lanes, and flush the
//!    log. Stopping the lanes and flushing the log are bounded by `[limits] stop_timeout_secs`:
//!    a flush that hangs (a disk that stopped answering) must not keep the process alive with
//!    its listeners closed, so past the bound the gateway exits with status 75 (EX_TEMPFAIL)
//!    and the service manager restarts it; recovery reads the segments at the next start.

mod accept;
mod conns;
pub(crate) use conns::Throttled;
pub(crate) mod lanes;
mod ops;
mod reload;
mod start;
mod systemd;

use std::net::SocketAddr;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::devmode::demo::DemoError;
use crate::registry;
use accept::Stop;
use conns::{Caps, Conns};
use start::Started;

/// Why the gateway cannot start. Each message names the file or address at fault.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file the config names cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log signing key, the log itself, or its first records.
    #[error("audit log: {0}")]
    Log(#[from] loopgate_audit::Error),
    /// The policy bundle does not validate.
    #[error("{}: the policy bundle is invalid:\n{}", path.display(), problems.join("\n"))]
    Bundle {
        /// The bundle file.
        path: std::path::PathBuf,
        /// Its problems, `LINE:COLUMN: message`.
        problems: Vec<String>,
    },
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Dev mode's demo upstream.
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// The policy bundle cannot be put in force.
    #[error(transparent)]
    Policy(#[from] registry::ChangeError),
    /// Stopping the lanes or flushing the log took longer than `[limits] stop_timeout_secs`.
    #[error(
        "stopping took longer than {0:?} ([limits] stop_timeout_secs): the audit log's flush or the connection threads did not finish; exiting with status 75 so the service manager restarts loopgate, and recovery reads the log's segments"
    )]
    StopTimedOut(std::time::Duration),
    /// The threads that serve connections cannot be started.
    #[error("cannot start the {count} connection threads ([server] worker_threads): {source}")]
    Lanes {
        /// How many were asked for.
        count: usize,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A signal handler cannot be installed.
    #[error("cannot watch {name}: {source}")]
    Signal {
        /// The signal.
        name: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A listener cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Addresses the gateway ended up listening on (ports may have been chosen by the OS).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The API listener.
    pub api: SocketAddr,
    /// The ops listener.
    pub ops: SocketAddr,
    /// The demo upstream, in dev mode.
    pub demo: Option<SocketAddr>,
}

/// The signals the gateway acts on, watched from the very start: the default action of each
/// kills the process, so they are registered before anything can fail or be served.
struct Signals {
    /// A file-size limit (RLIMIT_FSIZE) must fail a log write with EFBIG, so the log fails
    /// closed, instead of killing the process: with a handler registered (kept for the whole
    /// run) the kernel returns the error instead.
    _file_size_limit: Option<Signal>,
    /// SIGHUP: reload. One that arrives while starting is served once the gateway is ready.
    hangup: Signal,
    /// SIGTERM: drain and stop (SIGINT too, through `tokio::signal::ctrl_c`).
    terminate: Signal,
}

impl Signals {
    fn watch() -> Result<Self, ServeError> {
        let file_size_limit = signal(SignalKind::from_raw(libc::SIGXFSZ))
            .inspect_err(|e| tracing::warn!(error = %e, "cannot catch SIGXFSZ"))
            .ok();
        let watch = |kind, name| signal(kind).map_err(|source| ServeError::Signal { name, source });
        Ok(Self {
            _file_size_limit: file_size_limit,
            hangup: watch(SignalKind::hangup(), "SIGHUP")?,
            terminate: watch(SignalKind::terminate(), "SIGTERM")?,
        })
    }
}

/// Starts everything, calls `ready` with the bound addresses (then tells systemd), serves until
/// SIGTERM or SIGINT, and drains.
pub async fn run(
    config: Config,
    clock: Clock,
    ready: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let signals = Signals::watch()?;
    let started = start::start(config, clock).await?;
    ready(started.bound);
    // Listeners bound, log recovered, policy loaded.
    systemd::ready();
    serve(started, signals).await
}

/// Serves until a stop, then drains.
async fn serve(started: Started, signals: Signals) -> Result<(), ServeError> {
    let Signals {
        _file_size_limit,
        hangup,
        mut terminate,
    } = signals;
    let state = started.state.clone();
    let conns = connections(&state);
    let watchdog = systemd::watchdog(state.clone());
    let demo = started
        .demo
        .as_ref()
        .map(|demo| (demo.tenant.clone(), demo.entry.clone()));
    let reloader = tokio::spawn(reload::on_hangup(
        hangup,
        state.clone(),
        started.acceptor.clone(),
        conns.clone(),
        demo,
    ));
    let (stop, stopped) = watch::channel(false);
    let ops = tokio::spawn(ops::serve(started.ops, state.clone(), stopped));
    let Stop::Signal = accept::accept(
        &started.api,
        &started.acceptor,
        &state,
        &conns,
        &mut terminate,
        &started.lanes,
    )
    .await;
    systemd::stopping();
    state.liveness.stopping();
    reloader.abort();
    drop(started.api);
    drain(&state, &conns, &mut terminate).await;
    let _ = stop.send(true);
    let _ = ops.await;
    let bound = state.config().limits.connections.stop_timeout;
    // Connections still open after the drain timeout end with their lanes, before the log is
    // flushed; a transfer cut off there gets `interrupted` at the next start.
    let lanes = started.lanes;
    let demo = started.demo;
    let stopping = async {
        tokio::task::spawn_blocking(move || drop(lanes)).await.ok();
        drop(demo);
        // A log that failed and came back: its admissions without an outcome are concluded
        // now rather than by the next start.
        state.conclude_before_stop().await;
        state.views_before_stop().await;
        state.log.shutdown().await
    };
    let shutdown = bounded(bound, stopping).await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    let shutdown = match shutdown {
        Some(shutdown) => shutdown,
        None => {
            tracing::error!(
                stop_timeout_secs = bound.as_secs(),
                "the audit log's flush or the connection threads did not finish in time; exiting with status 75"
            );
            // Its log may be stuck in a flush: dropping it would wait for that flush too.
            std::mem::forget(state);
            return Err(ServeError::StopTimedOut(bound));
        }
    };
    shutdown?;
    tracing::info!("stopped");
    Ok(())
}

/// `stopping`'s result, or `None` when it takes longer than `bound`.
async fn bounded<T>(bound: std::time::Duration, stopping: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(bound, stopping).await.ok()
}

/// The API connections' registry, with caps that fit the descriptor limit.
fn connections(state: &crate::state::AppState) -> std::sync::Arc<Conns> {
    let config = state.config();
    let wanted = &config.limits.connections;
    let nofile = conns::descriptor_limit();
    let caps = Caps::new(wanted, nofile);
    if caps.max < wanted.max {
        tracing::warn!(
            max_connections = wanted.max,
            open_files_limit = nofile,
            reserved = conns::RESERVED_DESCRIPTORS,
            capped_at = caps.max,
            "[limits] max_connections is more than the descriptor limit (RLIMIT_NOFILE, e.g. systemd's LimitNOFILE) leaves, two per connection after the reserve; API connections are capped lower"
        );
    }
    tracing::info!(
        max_connections = caps.max,
        max_handshakes = caps.handshakes,
        max_connections_per_principal = caps.per_principal,
        open_files_limit = nofile,
        "connection caps"
    );
    Conns::new(caps, state.metrics.connections().clone())
}

/// Lets connections finish, up to `[limits] drain_timeout_secs` (a second SIGTERM or SIGINT
/// ends the wait at once).
async fn drain(state: &crate::state::AppState, conns: &Conns, terminate: &mut Signal) {
    let drain = state.config().limits.drain_timeout;
    tracing::info!(
        drain_secs = drain.as_secs(),
        "stopping: draining connections"
    );
    let drained = tokio::select! {
        drained = conns.drain(drain) => drained,
        _ = terminate.recv() => false,
        _ = tokio::signal::ctrl_c() => false,
    };
    if !drained {
        tracing::warn!(
            open = conns.open(),
            "drain ended before every connection closed; closing the remaining connections"
        );
    }
}
