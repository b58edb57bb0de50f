//! Running the gateway: opens the log, loads the policy, binds the listeners, tells systemd it
//! is ready (and keeps its watchdog fed), serves until SIGTERM or SIGINT, reloading on SIGHUP,
//! then stops accepting, lets connections (and the transfers on them) finish up to the drain
//! timeout, and flushes the log. API connections are served on the connection lanes (see
//! `lanes`); the accept loop, the ops listener and reloads run on the control runtime.

pub(crate) mod lanes;
mod ops;
mod reload;
mod systemd;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use loopgate_audit::{Log, LogConfig, SigningKey};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::clock::Clock;
use crate::config::{Config, Upstream};
use crate::demo_upstream::DemoUpstream;
use crate::identity::{IdentityError, principal_from_cert};
use crate::records;
use crate::registry::{self, Source};
use crate::stamp::Stamper;
use crate::state::{AppState, PolicySnapshot};
use crate::upstream::Upstreams;
use lanes::Lanes;

/// hyper's HTTP/1 read buffer (its default): large body chunks, few wake-ups per megabyte.
const READ_BUFFER_BYTES: usize = 400 * 1024;

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
    /// The policy bundle cannot be put in force.
    #[error(transparent)]
    Policy(#[from] registry::ChangeError),
    /// The log's index failed on a full disk and space is back: a restart reopens the log.
    #[error(
        "the audit log needs reopening ({0}); restart loopgate (systemd does: Restart=on-failure) and recovery rebuilds the index from the segments"
    )]
    NeedsRestart(String),
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

fn read(path: &std::path::Path) -> Result<String, ServeError> {
    std::fs::read_to_string(path).map_err(|source| ServeError::Read {
        path: path.to_owned(),
        source,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// The configured bundle file: its text, validated, and the SHA-256 of its bytes.
#[derive(Debug)]
pub(crate) struct FileBundle {
    pub(crate) text: String,
    pub(crate) sha256: [u8; 32],
}

/// Reads and validates the bundle at `path`.
pub(crate) fn load_bundle(path: &std::path::Path) -> Result<FileBundle, ServeError> {
    let text = read(path)?;
    loopgate_policy::parse_bundle(&text).map_err(
        |loopgate_policy::PolicyError::InvalidBundle { problems }| ServeError::Bundle {
            path: path.to_owned(),
            problems: problems.iter().map(ToString::to_string).collect(),
        },
    )?;
    let sha256 = registry::sha256(text.as_bytes());
    Ok(FileBundle { text, sha256 })
}

/// The snapshot to start with: the last logged bundle, unless the configured file changed since
/// it was last put in force (then the file's bundle, logged first). See [`crate::registry`].
async fn starting_policy(
    config: &Config,
    stamper: &Stamper,
    log: &Log,
) -> Result<PolicySnapshot, ServeError> {
    let file = load_bundle(&config.policy_bundle)?;
    let previous = registry::last_logged(log)?;
    if let Some(logged) = previous.as_ref().filter(|l| l.file_sha256 == file.sha256) {
        match registry::snapshot(logged) {
            Ok(snapshot) => return Ok(snapshot),
            Err(e) => {
                tracing::warn!(policy_version = logged.version, error = %e, "the logged bundle in force no longer validates; putting the configured file in force");
            }
        }
    }
    let path = config.policy_bundle.display().to_string();
    let snapshot = registry::log_bundle(
        stamper,
        log,
        file.text,
        Source::File(&path),
        previous.as_ref(),
        file.sha256,
    )
    .await?;
    Ok(snapshot)
}

/// Starts everything, calls `ready` with the bound addresses (then tells systemd), and serves
/// until SIGTERM or SIGINT; SIGHUP reloads (see the `reload` module).
pub async fn run(
    config: Config,
    clock: Clock,
    ready: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    // A file-size limit (RLIMIT_FSIZE) must fail a log write with EFBIG, so the log fails
    // closed, instead of killing the process: SIGXFSZ's default action is to terminate it. With
    // a handler registered (kept for the whole run) the kernel returns the error instead.
    let _file_size_limit = signal(SignalKind::from_raw(libc::SIGXFSZ))
        .inspect_err(|e| tracing::warn!(error = %e, "cannot catch SIGXFSZ"));
    // Registered first for the same reason: SIGHUP's and SIGTERM's default actions kill the
    // process. A SIGHUP that arrives while starting is served once the gateway is ready.
    let hangup = watch_signal(SignalKind::hangup(), "SIGHUP")?;
    let mut terminate = watch_signal(SignalKind::terminate(), "SIGTERM")?;
    let key = SigningKey::load(&config.log_key)?;
    let log_config = LogConfig::new(config.log_dir.clone(), config.origin.clone(), key);
    let log = tokio::task::spawn_blocking(move || Log::open(log_config))
        .await
        .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))??;

    let stamper = Stamper::new(clock, &log)?;
    let policy = starting_policy(&config, &stamper, &log).await?;
    let version = policy.version;

    let mut upstream_config: BTreeMap<String, Upstream> = config.upstreams.clone();
    let mut demo = None;
    let mut demo_entry = None;
    if let Some(settings) = &config.demo_upstream {
        let listener = bind(settings.listen).await?;
        let tls = crate::tls::plain_server_config(&settings.cert, &settings.key)?;
        let started = DemoUpstream::start(listener, tls, settings.received.clone())
            .await
            .map_err(|source| ServeError::Bind {
                addr: settings.listen,
                source,
            })?;
        let entry = Upstream {
            url: format!("https://localhost:{}/ingest", started.addr().port())
                .parse()
                .map_err(|_| ServeError::Bind {
                    addr: started.addr(),
                    source: std::io::Error::other("no URL for the demo upstream"),
                })?,
            ca: settings.ca.clone(),
        };
        upstream_config.insert(settings.tenant.clone(), entry.clone());
        demo_entry = Some((settings.tenant.clone(), entry));
        demo = Some(started);
    }
    let upstreams = Upstreams::new(&upstream_config, &config.limits, config.worker_threads)?;
    let acceptor = Arc::new(reload::Acceptor::new(TlsAcceptor::from(
        crate::tls::server_config(&config.tls)?,
    )));
    let api = bind(config.listen).await?;
    let ops = bind(config.ops_listen).await?;
    let state = Arc::new(AppState::new(config, stamper, log, policy, upstreams));
    reload::certificate_metrics(&state);
    let (scanned, unfinished) = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.scan())
            .await
            .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))??
    };
    // Every start is in the log, so a regulator sees each restart; recovery follows it.
    let policy_version = state.policy().version;
    state
        .append_record(|at| records::started(policy_version, unfinished.len(), at))
        .await?;
    // Recovery: every admitted transfer ends with one outcome; those cut off by the last stop
    // (drain timeout, kill, crash) get `interrupted` before anything new is admitted.
    for decision in &unfinished {
        let (appended, _) = state
            .append_record(|at| records::interrupted(decision, at))
            .await?;
        let index = appended.index;
        tracing::warn!(
            transfer_id = decision.transfer_id.as_deref().unwrap_or("-"),
            log_index = index,
            "transfer interrupted by the last stop; outcome recorded"
        );
    }
    let bound = Bound {
        api: local(&api)?,
        ops: local(&ops)?,
        demo: demo.as_ref().map(DemoUpstream::addr),
    };
    // Started last, so no failure above leaves their threads to be joined on this runtime.
    let count = state.config().worker_threads;
    let lanes = Lanes::start(count).map_err(|source| ServeError::Lanes { count, source })?;
    let workers = lanes.len();
    tracing::info!(api = %bound.api, ops = %bound.ops, workers, records = scanned, policy_version = version, "loopgate ready");
    ready(bound);
    // Listeners bound, log recovered, policy loaded.
    systemd::ready();
    let watchdog = systemd::watchdog(state.clone());
    let reloader = tokio::spawn(reload::on_hangup(
        hangup,
        state.clone(),
        acceptor.clone(),
        demo_entry,
    ));

    let (stop, stopped) = watch::channel(false);
    let ops_task = tokio::spawn(ops::serve(ops, state.clone(), stopped));
    let graceful = GracefulShutdown::new();
    let stop_reason = accept(&api, &acceptor, &state, &graceful, &mut terminate, &lanes).await;
    systemd::stopping();
    state.liveness.stopping();
    reloader.abort();
    drop(api);
    let drain = state.config().limits.drain_timeout;
    tracing::info!(
        drain_secs = drain.as_secs(),
        "stopping: draining connections"
    );
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout reached; closing the remaining connections");
    }
    let _ = stop.send(true);
    let _ = ops_task.await;
    // Connections still open after the drain timeout end with their lanes, before the log is
    // flushed; a transfer cut off there gets `interrupted` at the next start.
    tokio::task::spawn_blocking(move || drop(lanes)).await.ok();
    drop(demo);
    let shutdown = state.log.shutdown().await;
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    if let Stop::Reopen(why) = stop_reason {
        // The index cannot be flushed either; the segments are whole and recovery reads them.
        return Err(ServeError::NeedsRestart(why));
    }
    shutdown?;
    tracing::info!("stopped");
    Ok(())
}

fn watch_signal(kind: SignalKind, name: &'static str) -> Result<Signal, ServeError> {
    signal(kind).map_err(|source| ServeError::Signal { name, source })
}

fn local(listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}

/// How often the accept loop beats for the watchdog while no connection arrives.
pub(super) const HEARTBEAT: Duration = Duration::from_millis(100);

/// Accepts API connections until SIGTERM or SIGINT. Each connection takes the TLS acceptor in
/// force when it arrives; a reload does not touch connections already accepted.
/// Why the accept loop ended.
enum Stop {
    /// SIGTERM or SIGINT.
    Signal,
    /// The log's index could not follow a durable batch (its disk filled up) and the disk takes
    /// writes again: only reopening the log (a restart) brings it back.
    Reopen(String),
}

/// How often a log that needs reopening probes its disk for space.
const SPACE_PROBE_EVERY: Duration = Duration::from_secs(2);

/// Whether the log needs reopening and its disk takes writes again (then: why it needs it).
async fn ready_to_reopen(
    state: &Arc<AppState>,
    last_probe: &mut Option<Instant>,
) -> Option<String> {
    let health = state.log.health();
    if !health.needs_reopen || last_probe.is_some_and(|at| at.elapsed() < SPACE_PROBE_EVERY) {
        return None;
    }
    *last_probe = Some(Instant::now());
    let probing = state.clone();
    let probed = tokio::task::spawn_blocking(move || probing.log.probe_space()).await;
    match probed {
        Ok(Ok(())) => Some(health.last_error.unwrap_or_default()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "the log's disk still refuses writes");
            None
        }
        Err(_) => None,
    }
}

async fn accept(
    api: &TcpListener,
    acceptor: &reload::Acceptor,
    state: &Arc<AppState>,
    graceful: &GracefulShutdown,
    terminate: &mut Signal,
    lanes: &Lanes,
) -> Stop {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_probe = None;
    loop {
        state.liveness.beat_accept(Instant::now());
        let accepted = tokio::select! {
            accepted = api.accept() => accepted,
            _ = heartbeat.tick() => {
                if let Some(why) = ready_to_reopen(state, &mut last_probe).await {
                    tracing::error!(
                        error = %why,
                        "the audit log's index failed (its disk filled up) and the disk takes writes again; stopping with exit status 75 so the service manager restarts loopgate and recovery rebuilds the index from the segments"
                    );
                    return Stop::Reopen(why);
                }
                continue;
            }
            _ = terminate.recv() => return Stop::Signal,
            _ = tokio::signal::ctrl_c() => return Stop::Signal,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand over an accepted connection");
                continue;
            }
        };
        let tls = acceptor.current();
        let state = state.clone();
        let config = state.config();
        let limits = config.limits.clone();
        let watcher = graceful.watcher();
        let connection = async move {
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::warn!(peer = %peer, error = %e, "cannot register a connection");
                    return;
                }
            };
            let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(tcp)).await;
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::info!(peer = %peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let principal = match stream.get_ref().1.peer_certificates() {
                Some([leaf, ..]) => principal_from_cert(leaf, &config.trust_domain),
                _ => Err(IdentityError::Missing),
            };
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                let principal = principal.clone();
                async move { Ok::<_, Infallible>(crate::api::handle(state, principal, request).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                // hyper's read buffer also carries the body: capping it at the header limit made
                // every body chunk 16 KiB. The head's size is checked against max_header_bytes
                // per request instead (api::handle).
                .max_buf_size(limits.max_header_bytes.max(READ_BUFFER_BYTES));
            // Like HTTP/1's read buffer, h2's header-list cap is the library's outer bound, not
            // `max_header_bytes`: at exactly that limit h2 itself answered 431 with an empty body
            // (or GOAWAY), and the JSON error of SPEC.md section 2 (api::handle) never came.
            let h2_list = limits.max_header_bytes.max(READ_BUFFER_BYTES);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(h2_list).unwrap_or(u32::MAX));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        };
        lanes.spawn(connection);
    }
}
