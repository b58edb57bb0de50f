//! The plain-HTTP ops listener: `/healthz` (the process is up), `/readyz` (the log accepts
//! writes and a policy is loaded) and `/metrics` (Prometheus text).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::{CONTENT_TYPE, LogGauges};
use crate::state::AppState;

/// Serves the ops listener until `stopped` changes.
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(reply(&state, request.uri().path())) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
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
    (
        StatusCode::OK,
        text,
        format!("ready: policy version {}\n", policy.version),
    )
}

fn metrics(state: &AppState) -> String {
    let health = state.log.health();
    let age = Instant::now().saturating_duration_since(state.liveness.last_appended());
    state.metrics.render(LogGauges {
        records: health.size,
        queued: health.queued,
        available: health.available,
        checkpoint_age_secs: age.as_secs_f64(),
        policy_version: state.policy().version,
    })
}
