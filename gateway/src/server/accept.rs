//! The API listener's accept loop: each connection is admitted by the connection registry
//! (`conns`: caps, the pool of pending handshakes), takes the TLS acceptor in force when it
//! arrives (a reload does not touch connections already accepted), is handed to a connection
//! lane, handshakes, names its principal from the client certificate and is served by hyper
//! (HTTP/1.1 or HTTP/2, as ALPN says) with `api::handle`. The loop ends on SIGTERM or SIGINT
//! (a log whose disk filled up heals by itself and never ends it).
//!
//! A failed `accept` (EMFILE, ENFILE, ...) backs off, 10 ms doubling to 1 s, instead of
//! retrying at once: the connection stays in the backlog, so the listener is readable again
//! immediately and the loop spun at full CPU, writing a line per turn. The line is rate-limited
//! too ([`Throttled`]).
//!
//! A served connection ends when its peer closes it, when it had no request in flight for
//! `[limits] idle_timeout_secs` (HTTP/2: GOAWAY; HTTP/1.1: closed between requests), when an
//! HTTP/2 keep-alive PING goes unanswered, when the gateway drains, and after its one answer
//! when its certificate names no valid identity, when its principal is over its connection cap,
//! or when a reload revoked its certificate.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use loopgate_policy::ReasonCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::Signal;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::conns::{CertId, Conn, Conns, Pending, Refused, Throttled};
use super::lanes::Lanes;
use super::reload::Acceptor;
use crate::api::{ApiBody, BodyError};
use crate::config::Limits;
use crate::identity::{IdentityError, principal_from_cert};
use crate::reply::ApiError;
use crate::state::AppState;

/// hyper's HTTP/1 read buffer (its default): large body chunks, few wake-ups per megabyte.
const READ_BUFFER_BYTES: usize = 400 * 1024;

/// How often the accept loop beats for the watchdog while no connection arrives.
pub(super) const HEARTBEAT: Duration = Duration::from_millis(100);

/// The first pause after a failed `accept`; each further failure doubles it up to
/// [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause after a failed `accept`.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one line per this period for a repeated condition (failed accepts, a full cap).
pub(super) const LOG_EVERY: Duration = Duration::from_secs(5);

/// Why the accept loop ended.
pub(super) enum Stop {
    /// SIGTERM or SIGINT.
    Signal,
}

/// The pause after a failed `accept`: doubles from [`ACCEPT_BACKOFF_MIN`] up to
/// [`ACCEPT_BACKOFF_MAX`].
pub(super) fn next_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(ACCEPT_BACKOFF_MIN, |d| (d * 2).min(ACCEPT_BACKOFF_MAX))
}

/// Accepts API connections until SIGTERM or SIGINT. (A log whose index failed reopens it by
/// itself once its disk takes writes: no restart.)
pub(super) async fn accept(
    api: &TcpListener,
    acceptor: &Acceptor,
    state: &Arc<AppState>,
    conns: &Arc<Conns>,
    terminate: &mut Signal,
    lanes: &Lanes,
) -> Stop {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut backoff = None;
    let mut accept_errors = Throttled::new(LOG_EVERY, 1);
    let mut full = Throttled::new(LOG_EVERY, 1);
    loop {
        state.liveness.beat_accept(Instant::now());
        let accepted = tokio::select! {
            accepted = api.accept() => accepted,
            _ = heartbeat.tick() => continue,
            _ = terminate.recv() => return Stop::Signal,
            _ = tokio::signal::ctrl_c() => return Stop::Signal,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff = None;
                accepted
            }
            Err(e) => {
                let pause = next_backoff(backoff);
                backoff = Some(pause);
                if let Some(suppressed) = accept_errors.hit(Instant::now()) {
                    tracing::warn!(error = %e, suppressed, pause_ms = pause.as_millis() as u64, "accept failed; pausing before the next accept (suppressed: like lines since the last)");
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = terminate.recv() => return Stop::Signal,
                    _ = tokio::signal::ctrl_c() => return Stop::Signal,
                }
                continue;
            }
        };
        let Some(pending) = conns.admit() else {
            if let Some(suppressed) = full.hit(Instant::now()) {
                tracing::warn!(
                    max_connections = conns.caps().max,
                    suppressed,
                    "every API connection slot is taken by established connections; closing new ones (suppressed: like lines since the last)"
                );
            }
            continue;
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
        let connection = serve(
            tcp,
            peer,
            acceptor.current(),
            state.clone(),
            pending,
            conns.draining(),
        );
        lanes.spawn(connection);
    }
}

/// Serves one accepted connection on the lane it was handed to.
async fn serve(
    tcp: std::net::TcpStream,
    peer: SocketAddr,
    tls: TlsAcceptor,
    state: Arc<AppState>,
    mut pending: Pending,
    mut draining: watch::Receiver<bool>,
) {
    {
        let config = state.config();
        let limits = &config.limits;
        let tcp = match TcpStream::from_std(tcp) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(peer = %peer, error = %e, "cannot register a connection");
                return;
            }
        };
        // A flood of connections that never speak TLS must not write a line each: evictions
        // and timeouts are counted (and logged at debug), refusals logged at a bounded rate.
        let handshake = tokio::select! {
            handshake = tokio::time::timeout(limits.connections.handshake_timeout, tls.accept(tcp)) => handshake,
            () = pending.evicted() => {
                tracing::debug!(peer = %peer, "pending TLS handshake closed for a newer connection");
                return;
            }
            _ = draining.wait_for(|d| *d) => return,
        };
        let stream = match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                // `suppressed`: refusals not logged since the last line (they are counted).
                match pending.log_refusal() {
                    Some(suppressed) => {
                        tracing::info!(peer = %peer, error = %e, suppressed, "TLS handshake refused");
                    }
                    None => tracing::debug!(peer = %peer, error = %e, "TLS handshake refused"),
                }
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %peer, "TLS handshake timed out");
                state
                    .metrics
                    .connections()
                    .refused(Refused::HandshakeTimeout.as_str());
                return;
            }
        };
        let leaf = match stream.get_ref().1.peer_certificates() {
            Some([leaf, ..]) => Some(leaf.clone()),
            _ => None,
        };
        let principal = match &leaf {
            Some(leaf) => principal_from_cert(leaf, &config.trust_domain),
            None => Err(IdentityError::Missing),
        };
        let cert = leaf.as_deref().and_then(cert_id);
        let Some(established) =
            pending.establish(principal.as_ref().ok().map(ToString::to_string), cert)
        else {
            // Evicted for a newer connection while its handshake completed: its slot is gone.
            tracing::debug!(peer = %peer, "TLS handshake completed after its slot went to a newer connection; closed");
            return;
        };
        let verdict = if principal.is_err() {
            state
                .metrics
                .connections()
                .refused(Refused::BadIdentity.as_str());
            Some(Refused::BadIdentity)
        } else if established.over_cap() {
            state
                .metrics
                .connections()
                .refused(Refused::PerPrincipal.as_str());
            Some(Refused::PerPrincipal)
        } else {
            None
        };
        let conn = established.conn().clone();
        let activity = Arc::new(Activity::new());
        let service = {
            let conn = conn.clone();
            let activity = activity.clone();
            service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                let principal = principal.clone();
                let conn = conn.clone();
                let active = activity.start();
                async move {
                    // Counted until its answer is ready: the witnesses' rounds start early
                    // when every request in flight is a receipt waiting for one.
                    let in_flight = state.cosigning.request();
                    let response = answer(state, principal, &conn, verdict, request).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response.map(|body| Tracked {
                        body,
                        _active: active,
                    }))
                }
            })
        };
        // One whose only answer is a refusal gets no longer than a request head takes.
        let idle = if verdict.is_some() {
            limits.connections.idle_timeout.min(limits.header_timeout)
        } else {
            limits.connections.idle_timeout
        };
        let builder = http(limits);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        let mut closing = false;
        let check = tokio::time::sleep(idle);
        let mut check = std::pin::pin!(check);
        // Once a close starts (revoked, over its cap, idle), the requests in flight get
        // `lingering_time_secs` to finish; then the connection is dropped, so a stream the
        // client stalls cannot keep it open. (The drain has its own bounds.)
        let grace = config.lingering.time;
        let mut lingering = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = conn.closing(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                    lingering = true;
                    check.as_mut().reset(tokio::time::Instant::now() + grace);
                }
                _ = draining.wait_for(|d| *d), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = check.as_mut(), if !closing || lingering => {
                    if lingering {
                        tracing::debug!(peer = %peer, grace_secs = grace.as_secs(), "closing connection still had requests in flight after the grace; dropped");
                        break;
                    }
                    match activity.idle_for(Instant::now()) {
                        Some(quiet) if quiet >= idle => {
                            tracing::debug!(peer = %peer, "idle connection closed");
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                            lingering = true;
                            check.as_mut().reset(tokio::time::Instant::now() + grace);
                        }
                        quiet => {
                            let left = idle.saturating_sub(quiet.unwrap_or_default());
                            check.as_mut().reset(tokio::time::Instant::now() + left);
                        }
                    }
                }
            }
        }
        drop(established);
    }
}

/// The answer to one request on a connection: the API's, or a refusal of the connection's
/// own (its certificate revoked since it was opened, its principal over the connection cap).
/// When the connection must close after it, HTTP/1.1 says so (`Connection: close`) and the
/// connection is closed gracefully (HTTP/2: GOAWAY).
async fn answer(
    state: Arc<AppState>,
    principal: Result<crate::identity::Principal, IdentityError>,
    conn: &Conn,
    verdict: Option<Refused>,
    request: Request<Incoming>,
) -> Response<ApiBody> {
    let version = request.version();
    let refusal = if conn.revoked() {
        Some(ApiError::new(ReasonCode::AuthBadIdentity).message(
            "the client certificate was revoked (it is on a CRL the gateway reloaded); connect again with a valid certificate",
        ))
    } else if verdict == Some(Refused::PerPrincipal) {
        let cap = state.config().limits.connections.per_principal;
        Some(ApiError::new(ReasonCode::QuotaExceeded).message(format!(
            "this principal already has {cap} open connections ([limits] max_connections_per_principal); reuse one of them"
        )))
    } else {
        None
    };
    let close = refusal.is_some() || verdict.is_some();
    let mut response = match refusal {
        Some(error) => {
            let response = refuse(&state, &principal, &request, &error);
            // Dropped unread, the body is drained within the lingering bounds (`api::linger`),
            // so the refusal reaches a client that sends its whole body before reading.
            let (_, body) = request.into_parts();
            drop(crate::api::RequestBody::new(body, state.clone()));
            response
        }
        None => crate::api::handle(state, principal, request).await,
    };
    if close {
        if version < Version::HTTP_2 {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        conn.close();
    }
    response
}

/// A refusal answered here, counted and logged like the API's.
fn refuse(
    state: &AppState,
    principal: &Result<crate::identity::Principal, IdentityError>,
    request: &Request<Incoming>,
    error: &ApiError,
) -> Response<ApiBody> {
    let (status, body) = error.reply();
    let response = crate::api::json_response((status, body));
    let label = crate::api::routes::label(request.uri().path());
    state.metrics.request(label, status.as_u16());
    let who = principal
        .as_ref()
        .map_or_else(|_| "unauthenticated".to_owned(), ToString::to_string);
    tracing::info!(
        principal = %who,
        method = %request.method(),
        route = label,
        path = %request.uri().path(),
        decision = "-",
        reason = error.code.as_str(),
        status = status.as_u16(),
        bytes_in = 0,
        bytes_out = response.body().size_hint().exact(),
        replay = false,
        duration_ms = 0,
        "request"
    );
    debug_assert_ne!(status, StatusCode::OK);
    response
}

/// A certificate's issuer and serial, as CRLs name it.
fn cert_id(der: &[u8]) -> Option<CertId> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some((cert.issuer().as_raw().to_vec(), cert.raw_serial().to_vec()))
}

/// Requests in flight on a connection, and since when it has had none.
#[derive(Debug)]
struct Activity {
    active: AtomicUsize,
    quiet_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            active: AtomicUsize::new(0),
            quiet_since: Mutex::new(Instant::now()),
        }
    }

    /// A request starts; it ends when the guard (held by its response body) is dropped.
    fn start(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
    }

    /// How long the connection has had no request in flight; `None` while one is.
    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self
            .quiet_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(now.saturating_duration_since(since))
    }
}

/// One request in flight (see [`Activity::start`]).
#[derive(Debug)]
struct Active(Arc<Activity>);

impl Drop for Active {
    fn drop(&mut self) {
        *self
            .0
            .quiet_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it is sent (dropped).
struct Tracked {
    body: ApiBody,
    _active: Active,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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
    let ping = limits.connections.keepalive_interval;
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(h2_list).unwrap_or(u32::MAX))
        // A peer that does not acknowledge a PING within the interval is gone: closed.
        .keep_alive_interval(Some(ping))
        .keep_alive_timeout(ping)
        // Each stream may hold a response chunk and a blocking read at a time (an export):
        // bounded per connection, as connections are bounded by the descriptor budget.
        .max_concurrent_streams(limits.connections.max_streams);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_accept_backs_off_doubling_up_to_a_second() {
        let mut pauses = Vec::new();
        let mut backoff = None;
        for _ in 0..10 {
            let pause = next_backoff(backoff);
            pauses.push(pause.as_millis());
            backoff = Some(pause);
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    }

    #[test]
    fn the_idle_clock_runs_only_while_no_request_is_in_flight() {
        let activity = Arc::new(Activity::new());
        let later = Instant::now() + Duration::from_secs(5);
        assert!(activity.idle_for(later).unwrap() >= Duration::from_secs(5));
        let one = activity.start();
        let two = activity.start();
        assert_eq!(activity.idle_for(later), None);
        drop(one);
        assert_eq!(activity.idle_for(later), None, "one still in flight");
        drop(two);
        let quiet = activity.idle_for(Instant::now()).unwrap();
        assert!(
            quiet < Duration::from_secs(1),
            "restarted when the last ended"
        );
    }
}
