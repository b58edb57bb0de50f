//! The API listener's accept loop: each connection takes the TLS acceptor in force when it
//! arrives (a reload does not touch connections already accepted), is handed to a connection
//! lane, handshakes, names its principal from the client certificate and is served by hyper
//! (HTTP/1.1 or HTTP/2, as ALPN says) with `api::handle`. The loop ends on SIGTERM or SIGINT,
//! or when the log needs reopening.

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
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::Signal;
use tokio_rustls::TlsAcceptor;

use super::lanes::Lanes;
use super::reload::Acceptor;
use crate::config::Limits;
use crate::identity::{IdentityError, principal_from_cert};
use crate::state::AppState;

/// hyper's HTTP/1 read buffer (its default): large body chunks, few wake-ups per megabyte.
const READ_BUFFER_BYTES: usize = 400 * 1024;

/// How often the accept loop beats for the watchdog while no connection arrives.
pub(super) const HEARTBEAT: Duration = Duration::from_millis(100);

/// Why the accept loop ended.
pub(super) enum Stop {
    /// SIGTERM or SIGINT.
    Signal,
}

/// Accepts API connections until SIGTERM or SIGINT. (A log whose index failed reopens it by
/// itself once its disk takes writes: no restart.)
pub(super) async fn accept(
    api: &TcpListener,
    acceptor: &Acceptor,
    state: &Arc<AppState>,
    graceful: &GracefulShutdown,
    terminate: &mut Signal,
    lanes: &Lanes,
) -> Stop {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        state.liveness.beat_accept(Instant::now());
        let accepted = tokio::select! {
            accepted = api.accept() => accepted,
            _ = heartbeat.tick() => continue,
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
        // Handed over as a std socket: the lane registers it with its own runtime.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand over an accepted connection");
                continue;
            }
        };
        let connection = serve(tcp, peer, acceptor.current(), state.clone(), graceful);
        lanes.spawn(connection);
    }
}

/// Serves one accepted connection on the lane it was handed to.
fn serve(
    tcp: std::net::TcpStream,
    peer: SocketAddr,
    tls: TlsAcceptor,
    state: Arc<AppState>,
    graceful: &GracefulShutdown,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let watcher = graceful.watcher();
    async move {
        let config = state.config();
        let tcp = match TcpStream::from_std(tcp) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(peer = %peer, error = %e, "cannot register a connection");
                return;
            }
        };
        let handshake = tokio::time::timeout(config.limits.header_timeout, tls.accept(tcp)).await;
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
        let builder = http(&config.limits);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        if let Err(e) = watcher.watch(connection.into_owned()).await {
            tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
        }
    }
}

/// hyper's server for one connection, HTTP/1.1 or HTTP/2.
fn http(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper's read buffer also carries the body: capping it at the header limit made every
        // body chunk 16 KiB. The head's size is checked against max_header_bytes per request
        // instead (api::handle).
        .max_buf_size(limits.max_header_bytes.max(READ_BUFFER_BYTES));
    // Like HTTP/1's read buffer, h2's header-list cap is the library's outer bound, not
    // `max_header_bytes`: at exactly that limit h2 itself answered 431 with an empty body (or
    // GOAWAY), and the JSON error of SPEC.md section 2 (api::handle) never came.
    let h2_list = limits.max_header_bytes.max(READ_BUFFER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(h2_list).unwrap_or(u32::MAX));
    builder
}
