//! The plain-HTTP ops listener: `/healthz` (the process is up), `/readyz` (the log accepts
//! writes and a policy is loaded) and `/metrics` (Prometheus text).
//!
//! It serves at most [`OPS_MAX_CONNECTIONS`] connections at once (a new one over that is
//! closed at once), and a connection that does not send a request head within the smaller of
//! `[limits] header_timeout_secs` and `idle_timeout_secs` (its first, or the next on a kept-alive
//! connection) is closed: hyper's header timer runs while it waits for a head. A failed
//! `accept` backs off like the API listener's.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::accept::{LOG_EVERY, next_backoff};
use super::conns::{OPS_MAX_CONNECTIONS, Refused, Throttled};
use crate::metrics::{CONTENT_TYPE, LogGauges, WitnessGauges};
use crate::state::AppState;

/// Serves the ops listener until `stopped` changes.
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut stopped: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut backoff: Option<Duration> = None;
    let mut errors = Throttled::new(LOG_EVERY, 1);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => {
                backoff = None;
                tcp
            }
            Err(e) => {
                let pause = next_backoff(backoff);
                backoff = Some(pause);
                if let Some(suppressed) = errors.hit(Instant::now()) {
                    tracing::warn!(error = %e, suppressed, pause_ms = pause.as_millis() as u64, "ops listener: accept failed; pausing before the next accept (suppressed: like lines since the last)");
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.changed() => return,
                }
                continue;
            }
        };
        let metrics = state.metrics.connections().clone();
        if open.load(Ordering::Acquire) >= OPS_MAX_CONNECTIONS {
            metrics.refused(Refused::OpsLimit.as_str());
            continue;
        }
        let count = open.fetch_add(1, Ordering::AcqRel) + 1;
        metrics.open("ops", count);
        let head_timeout = {
            let config = state.config();
            let limits = &config.limits;
            limits.header_timeout.min(limits.connections.idle_timeout)
        };
        let state = state.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(reply(&state, request.uri().path())) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(head_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .await;
            let count = open.fetch_sub(1, Ordering::AcqRel) - 1;
            metrics.open("ops", count);
        });
    }
}

fn reply(state: &AppState, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/healthz" => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n".to_owned(),
        ),
        "/readyz" => readiness(state),
        "/metrics" => (StatusCode::OK, CONTENT_TYPE, metrics(state)),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; the ops listener serves /healthz, /readyz and /metrics\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// 200 only while the log accepts writes and a policy is in force. The listener is bound only
/// after the first policy is loaded, and a reload swaps the policy but never removes it, so
/// the policy half holds by construction; the body names the version in force.
fn readiness(state: &AppState) -> (StatusCode, &'static str, String) {
    let text = "text/plain; charset=utf-8";
    let health = state.log.health();
    let policy = state.policy();
    if !health.available {
        let why = health.last_error.unwrap_or_default();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            text,
            format!("not ready: the audit log cannot be written ({why})\n"),
        );
    }
    let mut body = format!("ready: policy version {}\n", policy.version);
    body.push_str(&witness_lines(state));
    (StatusCode::OK, text, body)
}

/// One line per `[[witness]]` (witness trouble never makes the gateway unready: transfers go
/// on, and their receipts say `"cosigned": false`), after the quorum's line.
fn witness_lines(state: &AppState) -> String {
    let cosigning = &state.cosigning;
    if !cosigning.enabled() {
        return String::new();
    }
    let mut lines = match cosigning.latest() {
        Some(c) => format!(
            "witnesses: checkpoint {} cosigned by {} (quorum {})\n",
            c.checkpoint.size(),
            c.count,
            cosigning.quorum()
        ),
        None => format!(
            "witnesses: no checkpoint cosigned by the quorum ({}) yet\n",
            cosigning.quorum()
        ),
    };
    for w in cosigning.status() {
        let cosigned = match (w.cosigned_size, w.cosigned_at) {
            (Some(size), Some(at)) => {
                format!("cosigned size {size} {}s ago", at.elapsed().as_secs())
            }
            (Some(size), None) => {
                format!("size {size} as remembered from before the start; nothing cosigned since")
            }
            (None, _) => "nothing cosigned since the start".to_owned(),
        };
        let trouble = match (&w.refused, &w.unreachable) {
            (Some(why), _) => format!("; REFUSED {why}"),
            (None, Some(why)) => format!("; unreachable: {why}"),
            (None, None) => String::new(),
        };
        lines.push_str(&format!("witness {}: {cosigned}{trouble}\n", w.name));
    }
    lines
}

fn metrics(state: &AppState) -> String {
    let health = state.log.health();
    let age = Instant::now().saturating_duration_since(state.liveness.last_appended());
    if state.cosigning.enabled() {
        let gauges: Vec<WitnessGauges> = state
            .cosigning
            .status()
            .into_iter()
            .map(|w| WitnessGauges {
                cosigned_size: w.cosigned_size.unwrap_or(0),
                cosigned_age_secs: w.cosigned_at.map(|at| at.elapsed().as_secs_f64()),
                refusals: w.refusals,
                failures: w.failures,
                name: w.name,
            })
            .collect();
        let quorum = state.cosigning.latest().map_or(0, |c| c.checkpoint.size());
        state.metrics.witnesses(&gauges, quorum);
    }
    state.metrics.render(LogGauges {
        records: health.size,
        queued: health.queued,
        available: health.available,
        checkpoint_age_secs: age.as_secs_f64(),
        policy_version: state.policy().version,
    })
}
